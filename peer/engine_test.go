package peer

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"fusioncast/peer/proto"
)

func contextUntil(t time.Time) (context.Context, context.CancelFunc) {
	return context.WithDeadline(context.Background(), t)
}

// run publishes n segments every dur to the engines, with a player on each
// viewer asking for each with a deadline 3 segments after publication.
func run(t *testing.T, st *stream, n int, engines []*Engine, players []*player) {
	t.Helper()
	for range n {
		info := st.publish(engines...)
		deadline := time.Now().Add(3 * st.dur)
		for _, p := range players {
			p.want(info, deadline)
		}
		time.Sleep(st.dur)
	}
	for _, p := range players {
		p.wg.Wait()
	}
}

func checkPlayers(t *testing.T, n int, players []*player) {
	t.Helper()
	for i, p := range players {
		p.mu.Lock()
		if len(p.errs) > 0 || p.corrupt > 0 || len(p.got) != n || p.late > 0 {
			t.Errorf("player %d: got %d of %d segments, %d late, %d corrupt, errors %v", i, len(p.got), n, p.late, p.corrupt, p.errs)
		}
		p.mu.Unlock()
	}
}

// Two peers: the edge fetcher takes each segment from the origin, the
// other peer takes every segment from it; the origin sends each once.
func TestTwoPeers(t *testing.T) {
	o := newOrigin(20 * time.Millisecond)
	st := &stream{o: o, size: 100_000, dur: 400 * time.Millisecond}
	a := newEngine(t, o, nil)
	a.SetEdge(true, 0)
	b := newEngine(t, o, nil)
	connect(a, b, 0)
	pb := newPlayer(b, o)
	const n = 8
	run(t, st, n, []*Engine{a, b}, []*player{pb})
	checkPlayers(t, n, []*player{pb})
	for seq := range uint32(n) {
		if c := o.count(seq); c != 1 {
			t.Errorf("segment %d: the origin sent it %d times", seq, c)
		}
		if pb.got[seq] != SourcePeer {
			t.Errorf("segment %d reached the viewer by %v", seq, pb.got[seq])
		}
	}
	sa, sb := a.Stats(), b.Stats()
	if sb.BytesP2P != int64(n*st.size) || sa.BytesUp != int64(n*st.size) || sb.BytesHTTP != 0 {
		t.Errorf("stats: edge %+v, viewer %+v", sa, sb)
	}
}

// Ten peers, each linked to three others: every segment reaches everyone
// through the swarm, and the origin still sends each segment once.
func TestTenPeers(t *testing.T) {
	o := newOrigin(20 * time.Millisecond)
	st := &stream{o: o, size: 200_000, dur: 400 * time.Millisecond}
	var engines []*Engine
	var players []*player
	for i := range 10 {
		e := newEngine(t, o, nil)
		if i == 0 {
			e.SetEdge(true, 0)
		} else {
			players = append(players, newPlayer(e, o))
		}
		engines = append(engines, e)
	}
	// A ring (connected) plus one random chord each.
	r := rand.New(rand.NewPCG(3, 4))
	linked := map[[2]int]bool{}
	link := func(i, j int) {
		if i == j || linked[[2]int{i, j}] || linked[[2]int{j, i}] {
			return
		}
		linked[[2]int{i, j}] = true
		connect(engines[i], engines[j], 0)
	}
	for i := range engines {
		link(i, (i+1)%len(engines))
		link(i, r.IntN(len(engines)))
	}
	const n = 8
	run(t, st, n, engines, players)
	checkPlayers(t, n, players)
	for seq := range uint32(n) {
		if c := o.count(seq); c != 1 {
			t.Errorf("segment %d: the origin sent it %d times", seq, c)
		}
	}
	var p2p int64
	for _, e := range engines[1:] {
		p2p += e.Stats().SegmentsP2P
	}
	if p2p != 9*n {
		t.Errorf("%d segments went peer to peer, want %d", p2p, 9*n)
	}
}

// maliciousPeer speaks the protocol on a link and answers every request
// with bytes that do not match the segment.
type maliciousPeer struct {
	out     *memLink // toward the victim
	mu      sync.Mutex
	dropped bool
}

func (m *maliciousPeer) receive(b []byte) {
	msg, err := proto.Parse(b)
	if err != nil {
		return
	}
	switch msg := msg.(type) {
	case proto.Request:
		junk := make([]byte, msg.Length)
		for off := uint32(0); off < msg.Length; off += 16 << 10 {
			end := min(off+16<<10, msg.Length)
			_ = m.out.Send(proto.Append(nil, proto.Data{RequestID: msg.RequestID, Offset: msg.Offset + off, Payload: junk[off:end]}))
		}
	case proto.Bye:
		m.mu.Lock()
		m.dropped = msg.Reason == proto.ByeBadData
		m.mu.Unlock()
	}
}

// A peer that serves corrupted bytes is detected, dropped and reported,
// and the viewer still gets every segment, intact and in time.
func TestMaliciousPeer(t *testing.T) {
	o := newOrigin(20 * time.Millisecond)
	st := &stream{o: o, size: 100_000, dur: 400 * time.Millisecond}
	edge := newEngine(t, o, nil)
	edge.SetEdge(true, 0)
	var reported []string
	var repMu sync.Mutex
	victim := newEngine(t, o, func(c *Config) {
		c.OnBadPeer = func(p *Peer, why string) {
			repMu.Lock()
			reported = append(reported, p.Name()+": "+why)
			repMu.Unlock()
		}
	})
	connect(edge, victim, 5*time.Millisecond) // the honest peer is slower

	// The malicious peer claims to be an edge fetcher with every segment.
	toVictim, fromVictim := newMemLink(0), newMemLink(0)
	toVictim.peerOf, fromVictim.peerOf = fromVictim, toVictim
	m := &maliciousPeer{out: toVictim}
	vp := victim.AddLink("mallory", fromVictim)
	fromVictim.deliver = m.receive
	toVictim.deliver = func(b []byte) { victim.Receive(vp, b) }
	fromVictim.onDown = func() { victim.RemoveLink(vp) }
	close(toVictim.ready)
	close(fromVictim.ready)
	_ = toVictim.Send(proto.Append(nil, proto.Hello{Version: 1, Flags: proto.FlagEdge, UploadKbps: 1 << 30, Swarm: testSwarm}))

	p := newPlayer(victim, o)
	const n = 4
	for range n {
		info := st.publish(edge, victim)
		// Mallory announces each segment at once, before the edge has it.
		_ = toVictim.Send(proto.Append(nil, proto.Have{Seq: info.Seq, Size: info.Size, Hash8: proto.Hash8Of(info.SHA256)}))
		p.want(info, time.Now().Add(3*st.dur))
		time.Sleep(st.dur)
	}
	p.wg.Wait()
	checkPlayers(t, n, []*player{p})
	s := victim.Stats()
	if s.BadData != 1 {
		t.Errorf("%d bad segments detected, want 1 (the peer is dropped after the first)", s.BadData)
	}
	m.mu.Lock()
	dropped := m.dropped
	m.mu.Unlock()
	if !dropped {
		t.Error("the malicious peer was not sent BYE bad-data")
	}
	repMu.Lock()
	defer repMu.Unlock()
	if len(reported) != 1 {
		t.Errorf("reports: %q", reported)
	}
	if s.Peers != 1 {
		t.Errorf("%d peers left, want 1 (the honest one)", s.Peers)
	}
}

// A peer that leaves in the middle of a transfer costs no stall: the
// request resumes from another peer at the byte it had reached.
func TestPeerLeavesMidTransfer(t *testing.T) {
	o := newOrigin(20 * time.Millisecond)
	st := &stream{o: o, size: 1 << 20, dur: time.Second}
	edge := newEngine(t, o, nil)
	edge.SetEdge(true, 0)
	relay := newEngine(t, o, nil)
	viewer := newEngine(t, o, nil)
	connect(edge, relay, 0)
	// The viewer's link to the edge is slow, so a transfer takes a while.
	_, viewersEdge, edgeViewer := connect(edge, viewer, 2*time.Millisecond)
	p := newPlayer(viewer, o)

	// The relay gets the segment first; only then the viewer joins in, and
	// asks the edge (fewest requests, and an edge fetcher).
	info := st.publish(edge, relay)
	if _, _, err := relay.Get(context.Background(), info.Seq, time.Now().Add(3*time.Second)); err != nil {
		t.Fatal(err)
	}
	// Wait until the viewer has heard the edge's HAVE (its link is slow).
	for {
		viewer.mu.Lock()
		_, heard := viewersEdge.has[info.Seq]
		viewer.mu.Unlock()
		if heard {
			break
		}
		time.Sleep(time.Millisecond)
	}
	viewer.SetPlaylist(append([]SegmentInfo(nil), st.window...))
	connect(relay, viewer, 0)
	p.want(info, time.Now().Add(3*st.dur))
	// Cut the edge's link when the transfer is part way.
	deadline := time.Now().Add(5 * time.Second)
	for {
		viewer.mu.Lock()
		s := viewer.segs[info.Seq]
		got, from := s.got, s.from
		viewer.mu.Unlock()
		if got > 0 && got < info.Size && from == viewersEdge {
			break
		}
		if s.data != nil || time.Now().After(deadline) {
			t.Fatalf("the transfer from the edge was not caught in the middle (got %d bytes)", got)
		}
		time.Sleep(time.Millisecond)
	}
	_ = edgeViewer.Close()
	p.wg.Wait()
	checkPlayers(t, 1, []*player{p})
	if p.got[info.Seq] != SourcePeer {
		t.Errorf("the segment came by %v after the peer left, want p2p from the other peer", p.got[info.Seq])
	}
	if c := o.count(info.Seq); c != 1 {
		t.Errorf("the origin sent the segment %d times", c)
	}
}

// Alone, a viewer falls back to HTTP in time for its player's deadline.
func TestFallbackToHTTP(t *testing.T) {
	o := newOrigin(20 * time.Millisecond)
	st := &stream{o: o, size: 50_000, dur: 300 * time.Millisecond}
	alone := newEngine(t, o, func(c *Config) { c.HTTPMargin = 500 * time.Millisecond })
	p := newPlayer(alone, o)
	run(t, st, 3, []*Engine{alone}, []*player{p})
	checkPlayers(t, 3, []*player{p})
	for seq, src := range p.got {
		if src != SourceHTTP || o.count(seq) != 1 {
			t.Errorf("segment %d: %v, origin sent it %d times", seq, src, o.count(seq))
		}
	}
}

// A backup edge fetcher fetches from the origin only when the primary has
// announced nothing by its stagger; with the primary present, it takes
// each segment from it.
func TestBackupEdge(t *testing.T) {
	o := newOrigin(20 * time.Millisecond)
	st := &stream{o: o, size: 50_000, dur: 400 * time.Millisecond}
	primary := newEngine(t, o, nil)
	primary.SetEdge(true, 0)
	backup := newEngine(t, o, func(c *Config) { c.EdgeStagger = 300 * time.Millisecond })
	backup.SetEdge(true, 1)
	_, _, l := connect(primary, backup, 0)
	run(t, st, 2, []*Engine{primary, backup}, nil)
	if s := backup.Stats(); s.SegmentsP2P != 2 || s.BytesHTTP != 0 {
		t.Fatalf("backup with a primary: %+v", s)
	}
	_ = l.Close() // the primary is gone for the backup
	time.Sleep(50 * time.Millisecond)
	info := st.publish(primary, backup)
	if _, src, err := backup.Get(context.Background(), info.Seq, time.Time{}); err != nil || src != SourceHTTP {
		t.Fatalf("backup without a primary: %v %v", src, err)
	}
}

// The first message must be a HELLO of the same swarm.
func TestHelloRules(t *testing.T) {
	o := newOrigin(0)
	for _, tc := range []struct {
		name  string
		first proto.Message
		bye   proto.ByeReason
	}{
		{"not hello first", proto.Have{Seq: 1, Size: 1}, proto.ByeProtocolError},
		{"wrong swarm", proto.Hello{Version: 1, Swarm: proto.SwarmID{'x'}}, proto.ByeWrongSwarm},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t, o, nil)
			got := make(chan proto.Message, 8)
			out := newMemLink(0)
			out.deliver = func(b []byte) {
				if m, err := proto.Parse(b); err == nil {
					got <- m
				}
			}
			close(out.ready)
			p := e.AddLink("x", out)
			e.Receive(p, proto.Append(nil, tc.first))
			deadline := time.After(5 * time.Second)
			for {
				select {
				case m := <-got:
					if bye, ok := m.(proto.Bye); ok {
						if bye.Reason != tc.bye {
							t.Fatalf("BYE %v (%s), want %v", bye.Reason, bye.Text, tc.bye)
						}
						if e.Stats().Peers != 0 {
							t.Fatal("the peer was not dropped")
						}
						return
					}
				case <-deadline:
					t.Fatal("no BYE")
				}
			}
		})
	}
}

// The swarm of a stream is fixed by docs/protocol.md; the browser computes
// the same bytes.
func TestSwarmFor(t *testing.T) {
	// printf 'fusioncast:demo' | sha256sum | cut -c1-40
	if got := SwarmFor("demo").String(); got != "116adb59cb65023987f145d0d6f5194eb3f2a9fd" {
		t.Errorf("SwarmFor(demo) = %s", got)
	}
}

// An engine that joins a running stream fetches over HTTP only what its
// player asks for, not the whole window it sees at first.
func TestLateJoinerFetchesOnlyWhatIsWanted(t *testing.T) {
	o := newOrigin(10 * time.Millisecond)
	st := &stream{o: o, size: 10_000, dur: 300 * time.Millisecond}
	for range 6 {
		st.publish()
	}
	e := newEngine(t, o, func(c *Config) { c.HTTPMargin = 200 * time.Millisecond })
	e.SetPlaylist(append([]SegmentInfo(nil), st.window...))
	newest := st.window[len(st.window)-1]
	if _, src, err := e.Get(context.Background(), newest.Seq, time.Now().Add(500*time.Millisecond)); err != nil || src != SourceHTTP {
		t.Fatalf("newest segment: %v %v", src, err)
	}
	time.Sleep(4 * time.Second) // past PeerWait (3 s in tests)
	total := 0
	for _, info := range st.window {
		total += o.count(info.Seq)
	}
	if total != 1 {
		t.Fatalf("the origin sent %d segments, want 1 (only the one the player asked for)", total)
	}
}
