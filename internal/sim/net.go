package sim

import (
	"cmp"
	"encoding/binary"
	"math"
	"slices"

	"fusioncast/peer"
	"fusioncast/peer/proto"
)

// Packets on a data channel: SCTP puts about 1,172 bytes of messages in a
// packet and adds 85 bytes of headers (SCTP 28, DTLS 29, UDP 8, IPv4 20).
const (
	packetPayload  = 1172
	packetOverhead = 85
)

// UplinkMode is how a viewer's upload is shared between its links.
type UplinkMode uint8

const (
	// UplinkFair serves the links that have something to send in turn, one
	// message each (round robin): what separate WebRTC connections, each
	// with its own congestion control, do to a shared uplink.
	UplinkFair UplinkMode = iota
	// UplinkFIFO sends the messages of all links in the order they were
	// written: an uplink that serves one requester after another.
	UplinkFIFO
)

func (m UplinkMode) String() string {
	if m == UplinkFIFO {
		return "fifo"
	}
	return "fair"
}

// fifo is a queue with a moving head.
type fifo[T any] struct {
	s []T
	h int
}

func (f *fifo[T]) push(v T)    { f.s = append(f.s, v) }
func (f *fifo[T]) front() *T   { return &f.s[f.h] }
func (f *fifo[T]) back() *T    { return &f.s[len(f.s)-1] }
func (f *fifo[T]) reset()      { clear(f.s); f.s, f.h = f.s[:0], 0 }
func (f *fifo[T]) empty() bool { return f.h == len(f.s) }

func (f *fifo[T]) pop() T {
	v := f.s[f.h]
	var zero T
	f.s[f.h] = zero
	f.h++
	switch {
	case f.h == len(f.s):
		f.s, f.h = f.s[:0], 0
	case f.h >= 32 && 2*f.h >= len(f.s):
		n := copy(f.s, f.s[f.h:])
		clear(f.s[n:])
		f.s, f.h = f.s[:n], 0
	}
	return v
}

// msg is a message waiting in a link's send buffer.
type msg struct {
	b     []byte
	bytes int64 // modelled size: DATA payloads scaled, other messages as they are
}

// arrival is a transmitted message on its way to the far end; b nil
// means the link closed.
type arrival struct {
	at int64
	b  []byte
}

// link is one direction of a data channel between two viewers, the
// [peer.Link] its sender's engine writes to. Messages wait in the link's
// buffer (BufferedAmount) until the sender's uplink transmits them, then
// arrive after the one-way latency and the receiver's downlink.
type link struct {
	n        *network
	id       uint64 // the order links are created in: ties are broken by it
	from, to *viewer
	pair     *link      // the other direction
	p        *peer.Peer // the sender's engine's handle for this link
	lat      int64

	q        fifo[msg]
	buffered int64 // modelled bytes in q and on the uplink
	inRing   bool  // in the sender's round robin, or staged for it
	closed   bool
	blocked  bool // the engine saw BufferedAmount at its high-water mark

	flight fifo[arrival]
	// reqs maps the request ids of REQUESTs sent over pair to their
	// segments: DATA for them comes over this link (for hop counting).
	reqs map[uint32]uint32
	ends *linkEnds
}

// linkEnds is shared by the two directions of a data channel.
type linkEnds struct{ down bool }

var _ peer.Link = (*link)(nil)

// Send queues b behind what the link holds. It never blocks and never
// fails: a link whose far end has gone swallows what it is sent until the
// engine hears of the close.
func (l *link) Send(b []byte) error {
	if l.closed {
		return nil
	}
	m := msg{b: b, bytes: l.n.size(b)}
	if len(b) == 25 && b[0] == byte(proto.TypeRequest) {
		if l.pair.reqs == nil {
			l.pair.reqs = make(map[uint32]uint32)
		}
		if len(l.pair.reqs) >= 256 {
			clear(l.pair.reqs)
		}
		l.pair.reqs[binary.BigEndian.Uint32(b[1:5])] = binary.BigEndian.Uint32(b[5:9])
	}
	l.q.push(m)
	l.buffered += m.bytes
	switch {
	case l.n.mode == UplinkFIFO:
		l.n.staged = append(l.n.staged, l)
	case !l.inRing:
		l.inRing = true
		l.n.staged = append(l.n.staged, l)
	}
	return nil
}

// BufferedAmount returns the bytes not yet transmitted, in the engines'
// real bytes (the modelled bytes scaled down), so that the engine compares
// them with its high-water mark and with the requests it accepted in one
// unit. Once it was seen above a quarter of the high-water mark (the
// engine's low-water mark), the link calls Pump when it falls to it, as a
// data channel's bufferedamountlow event does.
func (l *link) BufferedAmount() uint64 {
	if l.buffered > l.n.highWater/4 {
		l.blocked = true
	}
	return uint64(max(l.n.real(l.buffered), 0))
}

// Close drops what is not transmitted yet; the far end's engine hears of
// the close after what is in flight has arrived. Calling it again does
// nothing.
func (l *link) Close() error {
	if l.closed {
		return nil
	}
	l.closed = true
	l.q.reset()
	l.buffered = 0
	l.n.closing = append(l.n.closing, l)
	return nil
}

// run delivers the message at the head of the flight.
func (l *link) run() {
	a := l.flight.pop()
	if !l.flight.empty() {
		l.n.loop.at(l.flight.front().at, l)
	}
	to := l.to
	if to.gone {
		return
	}
	if a.b == nil {
		to.e.RemoveLink(l.pair.p)
		return
	}
	if len(a.b) > proto.DataHeaderLen && a.b[0] == byte(proto.TypeData) && l.reqs != nil {
		if seq, ok := l.reqs[binary.BigEndian.Uint32(a.b[1:5])]; ok {
			to.rec(seq).from = l.from
		}
	}
	l.n.s.trace.message(l, a.b)
	to.e.Receive(l.pair.p, a.b)
}

// uplink is a viewer's upload: it transmits one message at a time.
type uplink struct {
	v     *viewer
	bps   float64
	ring  fifo[*link] // fair: links with something to send; fifo: one entry per message
	busy  bool
	cur   *link
	msg   msg
	kicks bool // staged to start
}

// run ends the transmission of the current message.
func (u *uplink) run() {
	l, m := u.cur, u.msg
	u.busy, u.cur, u.msg = false, nil, msg{}
	n := l.n
	if !l.closed {
		l.buffered -= m.bytes
		now := n.loop.now
		to := l.to
		at := max(now+l.lat, to.downFree) + txTime(wireBytes(m.bytes), to.downBps)
		to.downFree = at
		if l.flight.empty() {
			n.loop.at(at, l)
		}
		l.flight.push(arrival{at: at, b: m.b})
		if m.b[0] == byte(proto.TypeData) {
			n.s.countUpload(m.bytes - proto.DataHeaderLen)
		}
		if l.blocked && l.buffered <= n.highWater/4 && !l.from.gone {
			l.blocked = false
			l.from.e.Pump(l.p)
		}
	}
	n.kick(u)
}

// start transmits the next message, if any.
func (u *uplink) start() {
	for !u.ring.empty() {
		l := u.ring.pop()
		if l.closed || l.q.empty() {
			l.inRing = false
			continue
		}
		m := l.q.pop()
		if u.v.s.net.mode == UplinkFair {
			if l.q.empty() {
				l.inRing = false
			} else {
				u.ring.push(l)
			}
		}
		u.busy, u.cur, u.msg = true, l, m
		n := l.n
		n.loop.at(n.loop.now+txTime(wireBytes(m.bytes), u.bps), u)
		return
	}
}

// network holds the links and what engine calls staged on them.
//
// An engine iterates over its peers in Go's map order, which changes from
// run to run. So that a run depends only on its seed, what links are told
// during an event (messages to send, closes) only takes effect after the
// event, in the order of link ids: flush runs after every event.
type network struct {
	s         *Sim
	loop      *loop
	mode      UplinkMode
	nextID    uint64
	scale     [2]int64 // modelled bytes = real × scale[0] / scale[1]
	highWater int64

	staged  []*link // fair: links to put in their sender's ring; fifo: one per message sent
	closing []*link
	kicks   []*uplink
}

// real converts modelled bytes to the engines' real bytes, rounding up.
func (n *network) real(b int64) int64 {
	return (b*n.scale[1] + n.scale[0] - 1) / n.scale[0]
}

// size returns a message's modelled size.
func (n *network) size(b []byte) int64 {
	if len(b) >= proto.DataHeaderLen && b[0] == byte(proto.TypeData) {
		return proto.DataHeaderLen + int64(len(b)-proto.DataHeaderLen)*n.scale[0]/n.scale[1]
	}
	return int64(len(b))
}

func (n *network) kick(u *uplink) {
	if !u.kicks {
		u.kicks = true
		n.kicks = append(n.kicks, u)
	}
}

func byID(a, b *link) int { return cmp.Compare(a.id, b.id) }

// flush applies what the last event staged, in a deterministic order.
func (n *network) flush() {
	if len(n.staged) > 0 {
		slices.SortStableFunc(n.staged, byID)
		for _, l := range n.staged {
			if l.closed {
				l.inRing = false
				continue
			}
			l.from.up.ring.push(l)
			n.kick(&l.from.up)
		}
		clear(n.staged)
		n.staged = n.staged[:0]
	}
	if len(n.closing) > 0 {
		slices.SortFunc(n.closing, byID)
		for _, l := range n.closing {
			at := n.loop.now + l.lat
			if !l.flight.empty() {
				at = max(at, l.flight.back().at)
			} else {
				n.loop.at(at, l)
			}
			l.flight.push(arrival{at: at})
			if !l.ends.down {
				l.ends.down = true
				n.s.tracker.linkDown(l.from, l.to)
			}
		}
		clear(n.closing)
		n.closing = n.closing[:0]
	}
	if len(n.kicks) > 0 {
		slices.SortFunc(n.kicks, func(a, b *uplink) int { return cmp.Compare(a.v.id, b.v.id) })
		for _, u := range n.kicks {
			u.kicks = false
			if !u.busy {
				u.start()
			}
		}
		clear(n.kicks)
		n.kicks = n.kicks[:0]
	}
}

// connect opens a data channel between a and b: both engines get a link.
func (n *network) connect(a, b *viewer, lat int64) {
	ends := &linkEnds{}
	ab := &link{n: n, id: n.nextID, from: a, to: b, lat: lat, ends: ends}
	ba := &link{n: n, id: n.nextID + 1, from: b, to: a, lat: lat, ends: ends}
	n.nextID += 2
	ab.pair, ba.pair = ba, ab
	ab.p = a.e.AddLink(b.name(), ab)
	ba.p = b.e.AddLink(a.name(), ba)
}

// wireBytes adds the packet headers to a message's bytes.
func wireBytes(b int64) int64 {
	return b + packetOverhead*((b+packetPayload-1)/packetPayload)
}

// txTime is how long bytes take at bps bits per second (at least 1 ns).
func txTime(bytes int64, bps float64) int64 {
	return max(int64(math.Ceil(float64(bytes)*8e9/bps)), 1)
}
