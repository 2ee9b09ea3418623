package tracker

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"fusioncast/tracker/wire"
)

// conn is one websocket connection after the handshake. It belongs to one
// event loop, which alone reads it, writes it and closes its descriptor;
// other goroutines queue messages (send) or ask for it to close (close),
// and the loop does the rest. An idle connection holds no goroutine and no
// buffer.
type conn struct {
	s  *Server
	l  *loop
	fd int32

	// answerCredits counts offers relayed to the connection that it may
	// still answer without an announce token (Server.handle), at most
	// Server.maxAnswerCredits. Other connections' handlers grant them.
	answerCredits atomic.Int32

	addr netip.Addr
	site string // derived from addr

	// lastSeen is when the last frame arrived (Unix nanoseconds); the
	// janitor closes connections silent for longer than IdleTimeout.
	lastSeen atomic.Int64
	// stalledSince is when the loop last found the socket full with output
	// waiting (Unix nanoseconds), or 0; the janitor closes connections
	// stalled for longer than WriteTimeout.
	stalledSince atomic.Int64

	mu        sync.Mutex
	out       []byte // framed messages queued, not yet taken by the loop
	nout      int    // messages in out
	scheduled bool   // in the loop's dirty list
	waitOut   bool   // the socket is full; the loop waits for EPOLLOUT
	closeReq  string // why another goroutine asked to close, if it did
	closeCode uint16
	closed    bool   // torn down
	why       string // first reason the connection was closed

	// Owned by the loop.
	rbuf    []byte   // bytes of a partial frame
	msg     []byte   // fragments of a message not yet complete
	msgOp   byte     // opcode of the message in msg
	inMsg   bool     // a fragmented message is being received
	pending [][]byte // output taken from out but not yet written

	// Owned by the loop (handlers run on it).
	peers     []*peer // one per swarm the connection announced in
	tokens    float64
	lastToken int64 // Unix nanoseconds
	strikes   int   // announces refused for rate; the connection closes at maxStrikes
}

// send queues a text message and reports whether it was queued. A
// connection whose queue is full is closed (a peer that does not read is
// dropped, never buffered without bound). send never blocks and takes no
// swarm lock, so it may be called with one held.
func (c *conn) send(msg []byte) bool {
	return c.queue(opText, func(dst []byte) []byte { return append(dst, msg...) })
}

// queue frames the message that build appends and queues it; see send.
// Building the message straight into the connection's output saves
// allocating it and copying it again.
func (c *conn) queue(op byte, build func(dst []byte) []byte) bool {
	c.mu.Lock()
	if c.closed || c.closeReq != "" {
		c.mu.Unlock()
		return false
	}
	if c.nout >= c.s.cfg.SendQueue {
		c.closeReq, c.closeCode = "send queue full", closePolicy
		sched := !c.scheduled
		c.scheduled = true
		c.mu.Unlock()
		c.s.metrics.slowDropped.Inc()
		if sched {
			c.l.schedule(c)
		}
		return false
	}
	if c.out == nil {
		c.out = getOutBuf()
	}
	c.out = appendFrame(c.out, op, build)
	c.nout++
	sched := !c.scheduled && !c.waitOut
	if sched {
		c.scheduled = true
	}
	c.mu.Unlock()
	if sched {
		c.l.schedule(c)
	}
	return true
}

// appendFrame appends a server frame whose payload build appends: it
// leaves room for a 4-byte header (payloads of 126 to 65535 bytes) and
// moves the payload if the header turns out shorter or longer.
func appendFrame(dst []byte, op byte, build func([]byte) []byte) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = build(dst)
	n := len(dst) - start - 4
	h := frameHeaderLen(n)
	switch {
	case h < 4:
		copy(dst[start+h:], dst[start+4:])
		dst = dst[:len(dst)-(4-h)]
	case h > 4:
		dst = append(dst, make([]byte, h-4)...)
		copy(dst[start+h:], dst[start+4:start+4+n])
	}
	appendFrameHeader(dst[start:start], op, n)
	return dst
}

// Output buffers are pooled: a connection holds one only while it has
// output waiting.
const (
	outBufBytes    = 4 << 10
	outBufMaxBytes = 64 << 10
)

var outBufs = sync.Pool{New: func() any { b := make([]byte, 0, outBufBytes); return &b }}

func getOutBuf() []byte { return (*outBufs.Get().(*[]byte))[:0] }

func putOutBuf(b []byte) {
	if cap(b) < outBufBytes/2 || cap(b) > outBufMaxBytes {
		return
	}
	b = b[:0]
	outBufs.Put(&b)
}

// close asks the loop to close the connection, with a close frame of code
// if it is not 0. It returns at once.
func (c *conn) close(why string, code uint16) {
	c.mu.Lock()
	if c.closed || c.closeReq != "" {
		c.mu.Unlock()
		return
	}
	c.closeReq, c.closeCode = why, code
	sched := !c.scheduled
	c.scheduled = true
	c.mu.Unlock()
	if sched {
		c.l.schedule(c)
	}
}

// peer returns the connection's peer in the swarm ih, or nil.
func (c *conn) peer(ih wire.ID) *peer {
	for _, p := range c.peers {
		if p.ih == ih {
			return p
		}
	}
	return nil
}

// dropPeer forgets the connection's peer p.
func (c *conn) dropPeer(p *peer) {
	for i, q := range c.peers {
		if q == p {
			last := len(c.peers) - 1
			c.peers[i] = c.peers[last]
			c.peers[last] = nil
			c.peers = c.peers[:last]
			if last == 0 {
				c.peers = nil
			}
			return
		}
	}
}

// allow takes a token from the connection's announce bucket.
func (c *conn) allow(now time.Time) bool {
	cfg := &c.s.cfg
	t := now.UnixNano()
	if c.lastToken == 0 {
		c.tokens = float64(cfg.AnnounceBurst)
	} else {
		c.tokens = min(float64(cfg.AnnounceBurst), c.tokens+float64(t-c.lastToken)/1e9*cfg.AnnounceRate)
	}
	c.lastToken = t
	if c.tokens < 1 {
		return false
	}
	c.tokens--
	return true
}

// grantAnswer gives the connection one answer credit, for an offer just
// relayed to it, unless it holds the most it may. Any goroutine may call it.
func (c *conn) grantAnswer() {
	for limit := c.s.maxAnswerCredits; ; {
		n := c.answerCredits.Load()
		if n >= limit || c.answerCredits.CompareAndSwap(n, n+1) {
			return
		}
	}
}

// spendAnswer takes one answer credit and reports whether there was one.
func (c *conn) spendAnswer() bool {
	for {
		n := c.answerCredits.Load()
		if n <= 0 {
			return false
		}
		if c.answerCredits.CompareAndSwap(n, n-1) {
			return true
		}
	}
}
