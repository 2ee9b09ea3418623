package tracker

import (
	"net/netip"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"fusioncast/tracker/wire"
)

// conn is one websocket connection. Its reader goroutine owns the reading
// side and peers; writes go through a bounded queue drained by a writer
// goroutine that exists only while there is something to write, so an idle
// connection costs one parked goroutine.
type conn struct {
	s    *Server
	ws   *websocket.Conn
	addr netip.Addr
	site string // derived from addr

	mu      sync.Mutex
	queue   [][]byte
	writing bool
	closed  bool
	why     string // first reason the connection was closed

	// Owned by the reader goroutine.
	peers     map[wire.ID]*peer // by info_hash
	tokens    float64
	lastToken time.Time
	strikes   int // announces refused for rate; the connection closes at 8
}

// send queues msg for the connection and reports whether it was queued. A
// connection whose queue is full is closed (a peer that does not read is
// dropped, never buffered without bound); its reader goroutine then removes
// its peers. send never blocks and takes no swarm lock, so it may be called
// with one held.
func (c *conn) send(msg []byte) bool {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return false
	}
	if len(c.queue) >= c.s.cfg.SendQueue {
		c.mu.Unlock()
		c.s.metrics.slowDropped.Inc()
		c.close("send queue full")
		return false
	}
	c.queue = append(c.queue, msg)
	start := !c.writing
	c.writing = true
	c.mu.Unlock()
	if start {
		go c.flush()
	}
	return true
}

// flush writes queued messages until the queue is empty.
func (c *conn) flush() {
	var batch [][]byte
	for {
		c.mu.Lock()
		if len(c.queue) == 0 || c.closed {
			c.writing = false
			c.queue = nil
			c.mu.Unlock()
			return
		}
		batch, c.queue = c.queue, batch[:0]
		c.mu.Unlock()
		for i, m := range batch {
			_ = c.ws.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteTimeout))
			if err := c.ws.WriteMessage(websocket.TextMessage, m); err != nil {
				c.close("write: " + err.Error())
				clear(batch)
				return
			}
			c.s.metrics.sent.Inc()
			batch[i] = nil
		}
	}
}

// close closes the connection once; the reader goroutine notices and
// cleans up.
func (c *conn) close(why string) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed, c.why = true, why
	c.mu.Unlock()
	_ = c.ws.Close()
}

// allow takes a token from the connection's announce bucket.
func (c *conn) allow(now time.Time) bool {
	cfg := &c.s.cfg
	if c.lastToken.IsZero() {
		c.tokens = float64(cfg.AnnounceBurst)
	} else {
		c.tokens = min(float64(cfg.AnnounceBurst), c.tokens+now.Sub(c.lastToken).Seconds()*cfg.AnnounceRate)
	}
	c.lastToken = now
	if c.tokens < 1 {
		return false
	}
	c.tokens--
	return true
}
