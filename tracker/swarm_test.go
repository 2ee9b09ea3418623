package tracker

import (
	"math/rand/v2"
	"testing"
	"time"

	"fusioncast/tracker/wire"
)

// Random joins and leaves keep the swarm's indexes and edge fetchers
// consistent: edges are the oldest fusioncast viewers, ranks are dense, and
// the candidate count matches the peers.
func TestSwarmInvariants(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	sw := newSwarm(id("swarm-invariants-000"))
	var live []*peer
	now := time.Unix(1e9, 0)
	for step := range 5000 {
		if len(live) == 0 || r.IntN(3) > 0 {
			p := &peer{edge: -1, joined: now.Add(time.Duration(step) * time.Millisecond)}
			p.id[0], p.id[1] = byte(step), byte(step>>8)
			p.ext = r.IntN(2) == 0
			if p.ext && r.IntN(4) == 0 {
				p.role = wire.RoleRelay
			}
			p.site = []string{"a", "b"}[r.IntN(2)]
			sw.add(p)
			sw.fillEdges(2)
			live = append(live, p)
		} else {
			i := r.IntN(len(live))
			sw.remove(live[i], 2)
			live = append(live[:i], live[i+1:]...)
		}
		cand, eligible := 0, 0
		for _, p := range sw.all {
			if p.canEdge() {
				eligible++
				if p.edge < 0 {
					cand++
				}
			}
		}
		if cand != sw.candidates {
			t.Fatalf("step %d: candidates %d, counted %d", step, sw.candidates, cand)
		}
		if want := min(2, eligible); len(sw.edges) != want {
			t.Fatalf("step %d: %d edge fetchers of %d eligible", step, len(sw.edges), eligible)
		}
		for rank, e := range sw.edges {
			if e.edge != rank || !e.canEdge() {
				t.Fatalf("step %d: edge %d has rank %d", step, rank, e.edge)
			}
			for _, p := range sw.all {
				if p.canEdge() && p.edge < 0 && p.joined.Before(e.joined) {
					t.Fatalf("step %d: an older viewer is not an edge fetcher", step)
				}
			}
		}
		if len(sw.all) != len(live) || len(sw.peers) != len(live) {
			t.Fatalf("step %d: %d peers indexed, %d live", step, len(sw.all), len(live))
		}
	}
}
