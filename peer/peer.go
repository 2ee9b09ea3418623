package peer

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"fusioncast/peer/proto"
)

// Peer is one other peer, over one link.
type Peer struct {
	e    *Engine
	link Link
	name string // for logs and reports
	n    uint64 // order of arrival: breaks ties between equal peers

	helloSent, helloRecv bool
	flags                proto.Flags
	role                 proto.Role
	uploadKbps           uint32
	has                  map[uint32]proto.Hash8 // what it announced

	// Our requests to it.
	out    map[uint32]*segment // by request id
	nextID uint32
	// Its requests to us, served in order.
	in        []serving
	busyUntil time.Time // it answered busy: leave it alone until then

	// Liveness.
	addedAt              time.Time
	pingOut              bool // a PING is unanswered
	pingNonce            uint32
	pingSentAt, lastPing time.Time
	rtt                  time.Duration

	closed bool
	// reuse: the link is a SendCopier, so messages to it are encoded in
	// the engine's one send buffer.
	reuse bool
}

// SendCopier is implemented by a [Link] whose Send is done with b when it
// returns (it sent or copied it, as a pion data channel does): the engine
// then encodes the messages it sends on that link into one reused buffer
// instead of a new one each. A relay sending hundreds of megabits a second
// allocates that much less, and collects that much less garbage.
type SendCopier interface {
	Link
	// SendCopies does nothing; it marks the link.
	SendCopies()
}

// serving is a request from the other peer that the engine is answering.
type serving struct {
	id        uint32
	data      []byte
	next, end uint32
	cancelled bool
}

// Name returns the name the link was added with.
func (p *Peer) Name() string { return p.name }

// AddLink starts the protocol on a link that just opened: it sends HELLO.
// The caller passes every message the link receives to [Engine.Receive],
// tells [Engine.RemoveLink] when it closes, and calls [Engine.Pump] when
// its buffered amount falls low.
func (e *Engine) AddLink(name string, l Link) *Peer {
	p := &Peer{e: e, link: l, name: name, has: make(map[uint32]proto.Hash8), out: make(map[uint32]*segment)}
	_, p.reuse = l.(SendCopier)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		p.closed = true
		_ = l.Close()
		return p
	}
	e.nextPeer++
	p.n = e.nextPeer
	p.addedAt = e.cfg.Clock.Now()
	p.lastPing = p.addedAt
	e.peers[p] = struct{}{}
	e.startTicking()
	hello := proto.Hello{Version: proto.Version, Role: e.cfg.Role, Flags: e.flags(), UploadKbps: e.cfg.UploadKbps, Swarm: e.cfg.Swarm}
	for _, seq := range e.heldNewest(proto.MaxHelloSegments) {
		s := e.segs[seq]
		hello.Segments = append(hello.Segments, proto.Segment{Seq: seq, Size: s.info.Size, Hash8: s.hash8})
	}
	p.helloSent = true
	p.send(hello)
	return p
}

// heldNewest returns up to n sequence numbers of held segments, newest
// last.
func (e *Engine) heldNewest(n int) []uint32 {
	var held []uint32
	for seq, s := range e.segs {
		if s.data != nil {
			held = append(held, seq)
		}
	}
	sortSeqs(held)
	if len(held) > n {
		held = held[len(held)-n:]
	}
	return held
}

func sortSeqs(v []uint32) {
	for i := 1; i < len(v); i++ { // short lists
		for j := i; j > 0 && seqAfter(v[j-1], v[j]); j-- {
			v[j-1], v[j] = v[j], v[j-1]
		}
	}
}

// RemoveLink forgets a peer whose link closed: its requests go elsewhere.
func (e *Engine) RemoveLink(p *Peer) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.removeLocked(p)
}

func (e *Engine) removeLocked(p *Peer) {
	if p.closed {
		return
	}
	p.closed = true
	delete(e.peers, p)
	if i := slices.Index(e.serving, p); i >= 0 {
		e.serving = slices.Delete(e.serving, i, i+1)
	}
	if e.lastSent == p {
		e.lastSent = nil
	}
	_ = p.link.Close()
	ids := make([]uint32, 0, len(p.out))
	for id, s := range p.out {
		s.from = nil
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := p.out
	p.out = map[uint32]*segment{}
	p.in = nil
	for _, id := range ids {
		e.want(out[id]) // resume from another peer; the timer still guards the deadline
	}
	e.pump()
}

// dropLocked sends BYE and removes the peer.
func (e *Engine) dropLocked(p *Peer, reason proto.ByeReason, text string) {
	if p.closed {
		return
	}
	if len(text) > proto.MaxByeText {
		text = text[:proto.MaxByeText]
	}
	p.send(proto.Bye{Reason: reason, Text: text})
	e.removeLocked(p)
}

// send encodes and sends one message; a failing link is dropped.
func (p *Peer) send(m proto.Message) {
	if p.closed {
		return
	}
	var b []byte
	if p.reuse {
		// e.mu is held: the buffer is the engine's alone until Send returns.
		p.e.sendBuf = proto.Append(p.e.sendBuf[:0], m)
		b = p.e.sendBuf
	} else {
		b = proto.Append(nil, m)
	}
	if err := p.link.Send(b); err != nil {
		p.e.cfg.Logger.Debug("send failed; dropping the peer", "peer", p.name, "err", err)
		p.e.removeLocked(p)
	}
}

// better reports whether p is a better source than q: fewer requests
// outstanding, then an edge fetcher or relay, then more upload.
func (p *Peer) better(q *Peer) bool {
	if len(p.out) != len(q.out) {
		return len(p.out) < len(q.out)
	}
	pe, qe := p.flags&proto.FlagEdge != 0 || p.role == proto.RoleRelay, q.flags&proto.FlagEdge != 0 || q.role == proto.RoleRelay
	if pe != qe {
		return pe
	}
	if p.uploadKbps != q.uploadKbps {
		return p.uploadKbps > q.uploadKbps
	}
	return p.n < q.n
}

// request asks p for the rest of s.
func (p *Peer) request(s *segment) {
	if s.buf == nil {
		s.buf = make([]byte, s.info.Size)
		s.got, s.contrib = 0, nil
	}
	id := p.nextID
	p.nextID++
	p.out[id] = s
	s.from, s.reqID, s.progressAt = p, id, p.e.cfg.Clock.Now()
	p.send(proto.Request{RequestID: id, Seq: s.info.Seq, Hash8: s.hash8, Offset: s.got, Length: s.info.Size - s.got})
}

// cancel withdraws p's request for s.
func (p *Peer) cancel(s *segment) {
	if s.from != p {
		return
	}
	delete(p.out, s.reqID)
	s.from = nil
	p.send(proto.Cancel{RequestID: s.reqID})
}

var errProtocol = errors.New("protocol error")

// Receive handles one message from p's link.
func (e *Engine) Receive(p *Peer, b []byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if p.closed || e.closed {
		return
	}
	m, err := proto.Parse(b)
	if errors.Is(err, proto.ErrUnknownType) && p.helloRecv {
		return // a later version's message: ignore it
	}
	if err != nil {
		e.protocolError(p, err.Error())
		return
	}
	if !p.helloRecv && m.Type() != proto.TypeHello {
		e.protocolError(p, "first message is "+m.Type().String()+", not HELLO")
		return
	}
	if err := e.handle(p, m); err != nil {
		e.protocolError(p, err.Error())
	}
}

func (e *Engine) protocolError(p *Peer, why string) {
	e.stats.ProtocolDrops++
	e.cfg.Logger.Info("peer broke the protocol; dropped", "peer", p.name, "why", why)
	e.dropLocked(p, proto.ByeProtocolError, why)
	if e.cfg.OnBadPeer != nil {
		e.cfg.OnBadPeer(p, why)
	}
}

func (e *Engine) handle(p *Peer, m proto.Message) error {
	switch m := m.(type) {
	case proto.Hello:
		if p.helloRecv {
			return fmt.Errorf("%w: second HELLO", errProtocol)
		}
		if m.Swarm != e.cfg.Swarm {
			e.dropLocked(p, proto.ByeWrongSwarm, "HELLO names swarm "+m.Swarm.String())
			return nil
		}
		p.helloRecv = true
		p.role, p.flags, p.uploadKbps = m.Role, m.Flags, m.UploadKbps
		for _, sg := range m.Segments {
			p.has[sg.Seq] = sg.Hash8
		}
		p.trimHas()
		for _, sg := range m.Segments {
			if s := e.segs[sg.Seq]; s != nil && s.hash8 == sg.Hash8 {
				e.want(s)
			}
		}
	case proto.Have:
		p.has[m.Seq] = m.Hash8
		p.trimHas()
		if s := e.segs[m.Seq]; s != nil && s.hash8 == m.Hash8 && s.info.Size == m.Size {
			e.want(s)
		}
	case proto.Status:
		p.flags, p.uploadKbps = m.Flags, m.UploadKbps
	case proto.Request:
		return e.serve(p, m)
	case proto.Data:
		return e.data(p, m)
	case proto.Cancel:
		for i := range p.in {
			if p.in[i].id == m.RequestID {
				p.in[i].cancelled = true
			}
		}
		e.pump()
	case proto.Absent:
		s := p.out[m.RequestID]
		if s == nil {
			return nil // cancelled meanwhile
		}
		delete(p.out, m.RequestID)
		s.from = nil
		delete(p.has, s.info.Seq)
		if m.Reason == proto.AbsentBusy {
			p.busyUntil = e.cfg.Clock.Now().Add(time.Second)
		}
		e.want(s)
	case proto.Bye:
		e.removeLocked(p)
	case proto.Ping:
		p.send(proto.Pong(m))
	case proto.Pong:
		if p.pingOut && m.Nonce == p.pingNonce {
			p.pingOut = false
			p.rtt = e.cfg.Clock.Now().Sub(p.pingSentAt)
		}
	}
	return nil
}

// trimHas bounds what the engine remembers of a peer's segments.
func (p *Peer) trimHas() {
	limit := proto.MaxHelloSegments + p.e.cfg.Keep + 16
	if len(p.has) <= limit {
		return
	}
	var seqs []uint32
	for seq := range p.has {
		seqs = append(seqs, seq)
	}
	sortSeqs(seqs)
	for _, seq := range seqs[:len(seqs)-limit] {
		delete(p.has, seq)
	}
}

// serve accepts the other peer's request into the serving order, or
// answers ABSENT.
func (e *Engine) serve(p *Peer, m proto.Request) error {
	for _, r := range p.in {
		if r.id == m.RequestID && !r.cancelled {
			return fmt.Errorf("%w: request %d is outstanding already", errProtocol, m.RequestID)
		}
	}
	s := e.segs[m.Seq]
	switch {
	case e.cfg.NoUpload || len(p.in) >= proto.MaxOutstanding:
		p.send(proto.Absent{RequestID: m.RequestID, Reason: proto.AbsentBusy})
	case s == nil || s.hash8 != m.Hash8 || s.data == nil:
		p.send(proto.Absent{RequestID: m.RequestID, Reason: proto.AbsentNotHere})
	case uint64(m.Offset)+uint64(m.Length) > uint64(len(s.data)):
		p.send(proto.Absent{RequestID: m.RequestID, Reason: proto.AbsentBadRange})
	case e.beyondWindow(uint64(m.Length)):
		p.send(proto.Absent{RequestID: m.RequestID, Reason: proto.AbsentBusy})
	default:
		p.in = append(p.in, serving{id: m.RequestID, data: s.data, next: m.Offset, end: m.Offset + m.Length})
		e.order = append(e.order, serveRef{p, m.RequestID})
		e.pump()
	}
	return nil
}

// beyondWindow reports whether accepting n more bytes would make the
// bytes not yet delivered exceed ServeWindow (one request is always
// accepted).
func (e *Engine) beyondWindow(n uint64) bool {
	if e.cfg.ServeWindow == math.MaxUint64 {
		return false // no window (a relay): skip counting
	}
	q := e.queued()
	return q > 0 && q+n > e.cfg.ServeWindow
}

// queued returns the bytes of accepted requests not yet delivered: not
// yet sent, or still in the buffers of the links being served and of the
// link served last.
func (e *Engine) queued() uint64 {
	var n uint64
	for _, ref := range e.order {
		if r := ref.p.find(ref.id); r != nil && !ref.p.closed {
			n += uint64(r.end - r.next)
		}
	}
	for _, p := range e.serving {
		if !p.closed {
			n += p.link.BufferedAmount()
		}
	}
	if last := e.lastSent; last != nil && !last.closed && !slices.Contains(e.serving, last) {
		n += last.link.BufferedAmount()
	}
	return n
}

// find returns p's request id while it is being served, or nil.
func (p *Peer) find(id uint32) *serving {
	for i := range p.in {
		if r := &p.in[i]; r.id == id && !r.cancelled && r.next < r.end {
			return r
		}
	}
	return nil
}

// dropServed forgets p's finished and cancelled requests.
func (p *Peer) dropServed() {
	j := 0
	for _, r := range p.in {
		if !r.cancelled && r.next < r.end {
			p.in[j] = r
			j++
		}
	}
	clear(p.in[j:])
	p.in = p.in[:j]
	if j == 0 {
		p.in = nil
	}
}

// LowWater is the buffered amount at or below which a link should call
// [Engine.Pump] (Config.LowWater): the threshold of a data channel's
// bufferedamountlow event.
func (e *Engine) LowWater() uint64 { return e.cfg.LowWater }

// Pump resumes sending; links call it when their buffered amount falls
// low.
func (e *Engine) Pump(*Peer) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.pump()
}

// pump sends the DATA of the oldest accepted request, then of the next
// one: one request at a time (ServeLinks 1), so that each requester gets
// its segment as fast as the upload allows instead of all of them sharing
// it. It writes to a link only below the high-water mark, and it starts on
// a request on another link only once the link it wrote to last has
// drained to the low-water mark: bytes parked in several links would be
// sent side by side (each data channel has its own congestion control),
// and every message behind them, HAVEs included, would wait. With
// ServeLinks k, up to k links are served side by side that way, in the
// order of their requests. A timer tries again (links that call Pump when
// they drain resume sooner).
func (e *Engine) pump() {
	e.serving = slices.DeleteFunc(e.serving, func(p *Peer) bool {
		return p.closed || p.link.BufferedAmount() <= e.cfg.LowWater
	})
	for i := 0; i < len(e.order); {
		ref := e.order[i]
		p := ref.p
		r := p.find(ref.id)
		if r == nil || p.closed {
			e.order = slices.Delete(e.order, i, i+1)
			p.dropServed()
			continue
		}
		in := slices.Contains(e.serving, p)
		if !in && len(e.serving) >= e.cfg.ServeLinks {
			break // the requests after it wait too: their order is kept
		}
		if p.link.BufferedAmount() >= e.cfg.HighWater {
			if !in {
				e.serving = append(e.serving, p)
			}
			i++ // its link is full; the next request may be on another
			continue
		}
		n := min(uint32(e.cfg.Chunk), r.end-r.next)
		p.send(proto.Data{RequestID: r.id, Offset: r.next, Payload: r.data[r.next : r.next+n]})
		r.next += n
		e.stats.BytesUp += int64(n)
		if !p.closed {
			e.lastSent = p
			if !in {
				e.serving = append(e.serving, p)
			}
		}
	}
	if len(e.order) == 0 {
		e.order = nil
		return
	}
	e.pumpLater()
}

// pumpLater arranges for pump to run again soon, in case no link calls
// Pump. One timer at a time: Pump calls from links do not add more.
func (e *Engine) pumpLater() {
	if !e.pumpTimer {
		e.pumpTimer = true
		e.cfg.Clock.AfterFunc(20*time.Millisecond, func() {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.pumpTimer = false
			if !e.closed {
				e.pump()
			}
		})
	}
}

// data takes the bytes of one of our requests.
func (e *Engine) data(p *Peer, m proto.Data) error {
	s := p.out[m.RequestID]
	if s == nil || len(m.Payload) == 0 {
		return nil // cancelled meanwhile, or empty
	}
	if m.Offset != s.got || uint64(m.Offset)+uint64(len(m.Payload)) > uint64(s.info.Size) {
		return fmt.Errorf("%w: DATA at %d+%d, expected %d of %d", errProtocol, m.Offset, len(m.Payload), s.got, s.info.Size)
	}
	copy(s.buf[s.got:], m.Payload)
	end := s.got + uint32(len(m.Payload))
	if n := len(s.contrib); n > 0 && s.contrib[n-1].p == p && s.contrib[n-1].end == s.got {
		s.contrib[n-1].end = end
	} else {
		s.contrib = append(s.contrib, contribution{p: p, off: s.got, end: end})
	}
	s.got = end
	s.progressAt = e.cfg.Clock.Now()
	if s.got < s.info.Size {
		return nil
	}
	delete(p.out, m.RequestID)
	s.from = nil
	b, contrib := s.buf, s.contrib
	s.buf, s.got, s.contrib = nil, 0, nil
	if sha256.Sum256(b) != s.info.SHA256 {
		e.stats.BadData++
		why := fmt.Sprintf("segment %d failed verification", s.info.Seq)
		if single := contrib[0].p; !slices.ContainsFunc(contrib, func(c contribution) bool { return c.p != single }) {
			e.badPeer(single, why)
		} else {
			// Several peers sent parts of it: once a good copy is here,
			// each one's bytes are compared with it (complete).
			s.suspect = &suspectCopy{buf: b, contrib: contrib}
			e.cfg.Logger.Warn("segment failed verification; its bytes came from several peers", "seq", s.info.Seq, "peers", len(contrib))
		}
		e.want(s)
		return nil
	}
	e.stats.BytesP2P += int64(len(b))
	src := SourceRelay
	for _, c := range contrib {
		if c.p.role == proto.RoleRelay {
			e.stats.BytesRelay += int64(c.end - c.off)
		} else {
			src = SourcePeer
		}
	}
	e.stats.SegmentsP2P++
	e.complete(s, b, src)
	return nil
}

// contribution is the byte range of a segment one peer sent.
type contribution struct {
	p        *Peer
	off, end uint32
}

// suspectCopy is a copy that failed verification, made of several peers'
// bytes: kept until a good copy shows whose bytes were wrong.
type suspectCopy struct {
	buf     []byte
	contrib []contribution
}

// judge compares each peer's part of a bad copy with the good one and
// drops the peers whose bytes differ.
func (e *Engine) judge(s *segment, good []byte) {
	sc := s.suspect
	s.suspect = nil
	why := fmt.Sprintf("segment %d failed verification", s.info.Seq)
	for _, c := range sc.contrib {
		if !c.p.closed && !bytes.Equal(sc.buf[c.off:c.end], good[c.off:c.end]) {
			e.badPeer(c.p, why)
		}
	}
}

// badPeer drops a peer that sent bytes failing verification, with BYE
// bad-data, and reports it.
func (e *Engine) badPeer(p *Peer, why string) {
	if p.closed {
		return
	}
	e.cfg.Logger.Warn("peer sent bad data; dropped", "peer", p.name, "why", why)
	e.dropLocked(p, proto.ByeBadData, why)
	if e.cfg.OnBadPeer != nil {
		e.cfg.OnBadPeer(p, why)
	}
}
