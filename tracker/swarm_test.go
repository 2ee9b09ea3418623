package tracker

import (
	"math/rand/v2"
	"testing"
	"time"

	"fusioncast/tracker/wire"
)

// Random joins and leaves keep the swarm's indexes and edge fetchers
// consistent: edges are the oldest fusioncast viewers, ranks are dense, and
// the candidate count matches the peers. A leave returns exactly the peers
// whose edge rank changed, each once, so that each is told and no other.
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
			gone := live[i]
			live = append(live[:i], live[i+1:]...)
			before := make(map[*peer]int, len(live))
			for _, p := range live {
				before[p] = p.edge
			}
			changed := sw.remove(gone, 2)
			told := make(map[*peer]bool, len(changed))
			for _, p := range changed {
				if told[p] || p == gone {
					t.Fatalf("step %d: peer told twice, or the one that left told", step)
				}
				told[p] = true
			}
			for _, p := range live {
				if moved := p.edge != before[p]; moved != told[p] {
					t.Fatalf("step %d: rank %d -> %d, told %v", step, before[p], p.edge, told[p])
				}
			}
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
