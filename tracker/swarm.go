package tracker

import (
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"fusioncast/tracker/wire"
)

// peer is one peer_id in one swarm, on one connection.
type peer struct {
	id       wire.ID
	ih       wire.ID // the swarm
	c        *conn
	role     wire.Role
	site     string
	ext      bool // speaks the fusioncast extension
	complete bool
	maxPeers int
	stats    wire.Stats
	joined   time.Time

	all  int // index in swarm.all
	tier int // index in swarm.tiers[tierKey{site, role}]
	// edge is the peer's rank among the swarm's edge fetchers, or -1.
	edge int
	// received counts offers relayed to the peer since budgetFrom; the
	// tracker stops offering it to others at maxPeers per interval.
	received   int
	budgetFrom time.Time
}

type tierKey struct {
	site string
	role wire.Role
}

// swarm is the peers of one info_hash. Its mutex guards everything in it,
// including the fields of its peers; critical sections are short and never
// block (sending only queues).
type swarm struct {
	ih wire.ID
	mu sync.Mutex

	peers    map[wire.ID]*peer
	all      []*peer
	tiers    map[tierKey][]*peer
	complete int
	edges    []*peer // edge fetchers, rank order
	// candidates counts the peers that could become edge fetchers and are
	// not: fillEdges looks for one only when there is one.
	candidates int
	departed   wire.Stats // stats of peers that left
}

func newSwarm(ih wire.ID) *swarm {
	return &swarm{ih: ih, peers: make(map[wire.ID]*peer), tiers: make(map[tierKey][]*peer)}
}

// add inserts p. s.mu must be held.
func (s *swarm) add(p *peer) {
	s.peers[p.id] = p
	p.all = len(s.all)
	s.all = append(s.all, p)
	k := tierKey{p.site, p.role}
	t := s.tiers[k]
	p.tier = len(t)
	s.tiers[k] = append(t, p)
	if p.complete {
		s.complete++
	}
	if p.canEdge() {
		s.candidates++
	}
}

// canEdge reports whether p may be made an edge fetcher: a viewer that
// speaks the fusioncast extension.
func (p *peer) canEdge() bool { return p.ext && p.role == wire.RoleViewer }

// remove deletes p and keeps the indexes dense. s.mu must be held. It
// returns the peers whose edge rank changed, to be told: the edge fetchers
// after p, whose ranks close up, and the peers newly made edge fetchers.
func (s *swarm) remove(p *peer, edgeTarget int) []*peer {
	if s.peers[p.id] != p {
		return nil
	}
	delete(s.peers, p.id)
	last := s.all[len(s.all)-1]
	s.all[p.all] = last
	last.all = p.all
	s.all[len(s.all)-1] = nil
	s.all = s.all[:len(s.all)-1]

	k := tierKey{p.site, p.role}
	t := s.tiers[k]
	lt := t[len(t)-1]
	t[p.tier] = lt
	lt.tier = p.tier
	t[len(t)-1] = nil
	if t = t[:len(t)-1]; len(t) == 0 {
		delete(s.tiers, k)
	} else {
		s.tiers[k] = t
	}
	if p.complete {
		s.complete--
	}
	if p.canEdge() && p.edge < 0 {
		s.candidates--
	}
	s.departed.HTTP += p.stats.HTTP
	s.departed.P2P += p.stats.P2P
	s.departed.Relay += p.stats.Relay
	s.departed.Stalls += p.stats.Stalls
	s.departed.Errors += p.stats.Errors
	if p.edge >= 0 {
		// The edge fetchers after p move up a rank, and each is told now
		// rather than at its next announce, up to an interval later: a
		// backup waits rank × 1 s before fetching, so until it hears, the
		// swarm would have no primary fetching each segment at once.
		from := p.edge
		s.edges = slices.Delete(s.edges, from, from+1) // clears the vacated slot
		var changed []*peer
		for i, e := range s.edges[from:] {
			e.edge = from + i
			changed = append(changed, e)
		}
		p.edge = -1
		return append(changed, s.fillEdges(edgeTarget)...)
	}
	return nil
}

// fillEdges makes fusioncast viewers edge fetchers until there are target
// of them, oldest first, and returns the ones it added. s.mu must be held.
//
// Edge fetchers fetch each new segment from the origin as soon as it is
// published and announce it, so that the other peers can take it from them
// well before their playback deadline instead of racing to the origin.
func (s *swarm) fillEdges(target int) []*peer {
	var added []*peer
	for len(s.edges) < target && s.candidates > 0 {
		var best *peer
		for _, p := range s.all {
			if p.canEdge() && p.edge < 0 && (best == nil || p.joined.Before(best.joined)) {
				best = p
			}
		}
		if best == nil {
			break
		}
		best.edge = len(s.edges)
		s.edges = append(s.edges, best)
		s.candidates--
		added = append(added, best)
	}
	return added
}

// targets picks up to n peers to send p's offers to: relays of p's site
// first, then viewers of p's site, then anyone, each tier in random order,
// skipping p itself and peers whose offer budget for this interval is
// spent. A relay's offers go to no other relay (neither downloads), and
// first to the edge fetchers of its site in rank order: they fetch each new
// segment from the origin until they have a relay peer, so a relay that
// joins, or comes back after a restart, takes that load off the origin at
// once rather than when the edge fetchers next announce. s.mu must be held.
func (s *swarm) targets(p *peer, n int, now time.Time, interval time.Duration, dst []*peer) []*peer {
	if n <= 0 || len(s.all) <= 1 {
		return dst
	}
	ok := func(q *peer) bool {
		if q == p || p.role == wire.RoleRelay && q.role == wire.RoleRelay {
			return false
		}
		if now.Sub(q.budgetFrom) >= interval {
			q.budgetFrom, q.received = now, 0
		}
		if q.received >= q.maxPeers {
			return false
		}
		for _, d := range dst {
			if d == q {
				return false
			}
		}
		return true
	}
	pick := func(list []*peer, skipSite bool) {
		if len(list) == 0 {
			return
		}
		start := rand.IntN(len(list))
		for i := 0; i < len(list) && len(dst) < n; i++ {
			q := list[(start+i)%len(list)]
			if skipSite && q.site == p.site {
				continue // already considered in its tier
			}
			if ok(q) {
				q.received++
				dst = append(dst, q)
			}
		}
	}
	if p.role == wire.RoleRelay {
		for _, q := range s.edges {
			if len(dst) < n && q.site == p.site && ok(q) {
				q.received++
				dst = append(dst, q)
			}
		}
	} else {
		pick(s.tiers[tierKey{p.site, wire.RoleRelay}], false)
	}
	pick(s.tiers[tierKey{p.site, wire.RoleViewer}], false)
	pick(s.all, true)
	return dst
}

// swarmStats aggregates the stats its peers reported. s.mu must be held.
func (s *swarm) totals() wire.Stats {
	t := s.departed
	for _, p := range s.all {
		t.HTTP += p.stats.HTTP
		t.P2P += p.stats.P2P
		t.Relay += p.stats.Relay
		t.Stalls += p.stats.Stalls
		t.Errors += p.stats.Errors
	}
	return t
}

// offload is the share of bytes that did not come from the origin by HTTP.
func offload(t wire.Stats) float64 {
	all := t.HTTP + t.P2P + t.Relay
	if all <= 0 {
		return 0
	}
	return float64(t.P2P+t.Relay) / float64(all)
}
