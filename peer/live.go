package peer

import (
	"slices"
	"time"

	"fusioncast/peer/proto"
)

// tick is how often the engine checks its peers' liveness and its
// requests' progress.
const tick = time.Second

// startTicking schedules maintain if it is not scheduled; it runs while
// the engine has peers. e.mu must be held.
func (e *Engine) startTicking() {
	if e.ticking || e.closed {
		return
	}
	e.ticking = true
	e.cfg.Clock.AfterFunc(tick, func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.ticking = false
		e.maintain()
		if len(e.peers) > 0 {
			e.startTicking()
		}
	})
}

// maintain applies the liveness rules of docs/protocol.md to every peer
// (HELLO within HelloTimeout, a PING every PingIdle or PingBusy, its PONG
// within PongTimeout) and moves requests that stalled to another holder.
// e.mu must be held.
func (e *Engine) maintain() {
	if e.closed {
		return
	}
	now := e.cfg.Clock.Now()
	// In the order the links came, so that a simulation stays
	// deterministic.
	peers := make([]*Peer, 0, len(e.peers))
	for p := range e.peers {
		peers = append(peers, p)
	}
	slices.SortFunc(peers, func(a, b *Peer) int { return int(a.n) - int(b.n) })
	for _, p := range peers {
		switch {
		case p.closed:
		case !p.helloRecv:
			if now.Sub(p.addedAt) >= e.cfg.HelloTimeout {
				e.timeout(p, "no HELLO")
			}
		case p.pingOut:
			if now.Sub(p.pingSentAt) >= e.cfg.PongTimeout {
				e.timeout(p, "no PONG")
			}
		default:
			every := e.cfg.PingIdle
			if len(p.out) > 0 || len(p.in) > 0 {
				every = e.cfg.PingBusy
			}
			if now.Sub(p.lastPing) >= every {
				p.pingNonce++
				p.pingOut, p.pingSentAt, p.lastPing = true, now, now
				p.send(proto.Ping{Nonce: p.pingNonce})
			}
		}
	}
	// A request that has received nothing for max(StallMin, 3 × RTT)
	// moves to another holder, if one is free: the peer may have queued
	// it behind others, or stopped answering.
	var stalled []*segment
	for _, s := range e.segs {
		if p := s.from; p != nil && now.Sub(s.progressAt) >= max(e.cfg.StallMin, 3*p.rtt) {
			stalled = append(stalled, s)
		}
	}
	slices.SortFunc(stalled, func(a, b *segment) int { return int(int32(a.info.Seq - b.info.Seq)) })
	for _, s := range stalled {
		p := s.from
		if other := e.bestHolder(s, p); other != nil {
			e.cfg.Logger.Debug("request stalled; asking another peer", "seq", s.info.Seq, "peer", p.name, "other", other.name)
			p.cancel(s)
			other.request(s)
		}
	}
}

// timeout drops a peer that stopped answering.
func (e *Engine) timeout(p *Peer, why string) {
	e.cfg.Logger.Info("peer timed out; dropped", "peer", p.name, "why", why)
	e.dropLocked(p, proto.ByeTimeout, why)
}
