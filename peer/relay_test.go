package peer

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	"fusioncast/peer/proto"
)

// newSegment returns a random segment of size bytes and its info.
func newSegment(seq uint32, size int) (SegmentInfo, []byte) {
	b := make([]byte, size)
	_, _ = rand.Read(b)
	return SegmentInfo{Seq: seq, Size: uint32(size), SHA256: sha256.Sum256(b), Duration: 2 * time.Second}, b
}

// newRelay returns an engine in relay mode: no downloads, role relay.
func newRelay(t *testing.T, mod func(*Config)) *Engine {
	t.Helper()
	return startEngine(t, Config{Swarm: testSwarm, Role: proto.RoleRelay, NoDownload: true}, mod)
}

// A relay fed by Put serves three viewers linked only to it: each gets
// every segment from the relay, in time, and the origin sends nothing.
// The relay gets each segment before the playlist that lists it, as it
// does from multicast.
func TestRelayServesViewers(t *testing.T) {
	o := newOrigin(20 * time.Millisecond)
	relay := newRelay(t, nil)
	var viewers []*Engine
	var players []*player
	for range 3 {
		v := newEngine(t, o, nil)
		connect(relay, v, 0)
		viewers = append(viewers, v)
		players = append(players, newPlayer(v, o))
	}
	const n, size, dur = 6, 150_000, 400 * time.Millisecond
	var window []SegmentInfo
	for seq := range uint32(n) {
		info, b := newSegment(seq, size)
		o.mu.Lock()
		o.data[seq] = b // the viewers could fetch it, and must not
		o.mu.Unlock()
		if err := relay.Put(info, b); err != nil {
			t.Fatal(err)
		}
		window = append(window, info)
		relay.SetPlaylist(window)
		deadline := time.Now().Add(3 * dur)
		for i, v := range viewers {
			v.SetPlaylist(window)
			players[i].want(info, deadline)
		}
		time.Sleep(dur)
	}
	for _, p := range players {
		p.wg.Wait()
	}
	checkPlayers(t, n, players)
	for seq := range uint32(n) {
		if c := o.count(seq); c != 0 {
			t.Errorf("segment %d: the origin sent it %d times", seq, c)
		}
		for i, p := range players {
			if p.got[seq] != SourceRelay {
				t.Errorf("viewer %d got segment %d by %v", i, seq, p.got[seq])
			}
		}
		if src, ok := relay.Has(seq); !ok || src != SourcePut {
			t.Errorf("relay: segment %d held %v from %v", seq, ok, src)
		}
	}
	if st := relay.Stats(); st.SegmentsPut != n || st.BytesPut != n*size || st.BytesUp != 3*n*size || st.BytesHTTP != 0 || st.SegmentsP2P != 0 {
		t.Errorf("relay stats %+v", st)
	}
	for i, v := range viewers {
		if st := v.Stats(); st.BytesHTTP != 0 || st.BytesP2P != n*size || st.BytesRelay != n*size {
			t.Errorf("viewer %d stats %+v: want every byte from the relay", i, st)
		}
	}
}

// Put checks size and SHA-256 again: a bad segment is refused with a
// clear error, and nothing is stored or announced.
func TestRelayPutRefused(t *testing.T) {
	relay := newRelay(t, func(c *Config) { c.Keep = 2 })
	l := &recLink{}
	relay.Receive(relay.AddLink("viewer", l), hello())
	info, b := newSegment(7, 1000)
	flipped := append([]byte(nil), b...)
	flipped[500] ^= 1
	for _, tc := range []struct {
		name string
		info SegmentInfo
		data []byte
		want string
	}{
		{"short", info, b[:999], "999 bytes, its info says 1000"},
		{"corrupt", info, flipped, "SHA-256 does not match"},
		{"empty", SegmentInfo{Seq: 7}, nil, "size 0"},
	} {
		err := relay.Put(tc.info, tc.data)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Put returned %v, want an error saying %q", tc.name, err, tc.want)
		}
	}
	if _, ok := relay.Has(7); ok {
		t.Error("a refused segment is held")
	}
	if h := l.msgsOf(proto.TypeHave); len(h) != 0 {
		t.Errorf("HAVE sent for a refused segment: %+v", h)
	}
	if st := relay.Stats(); st.SegmentsPut != 0 || st.BytesPut != 0 {
		t.Errorf("stats %+v after refused Puts", st)
	}
	// The good copy goes in; a segment older than the Keep kept outside
	// the playlist window is refused.
	if err := relay.Put(info, b); err != nil {
		t.Fatal(err)
	}
	for seq := uint32(8); seq < 10; seq++ {
		i, d := newSegment(seq, 1000)
		if err := relay.Put(i, d); err != nil {
			t.Fatal(err)
		}
	}
	old, ob := newSegment(3, 1000)
	if err := relay.Put(old, ob); err == nil || !strings.Contains(err.Error(), "older than") {
		t.Errorf("Put of an old segment: %v, want refused as older than the kept ones", err)
	}
	if _, ok := relay.Has(7); ok {
		t.Error("segment 7 still held: Keep is 2, and 8 and 9 are newer")
	}
}

// A relay never downloads: HELLOs and HAVEs of holders, a player's
// deadline, the edge role and the clock running for a minute make it
// send no REQUEST and call Fetch never. It says it is a relay in its
// HELLO, lists what it was given, and serves it.
func TestRelayNeverRequests(t *testing.T) {
	e, c, f, window := ruleSetup(t, 20_000, func(cfg *Config) {
		cfg.NoDownload, cfg.Role = true, proto.RoleRelay
	})
	e.SetPlaylist(window[:1])
	if err := e.Put(window[0], f.data[10]); err != nil {
		t.Fatal(err)
	}
	e.SetEdge(true, 0)
	e.SetPlaylist(window)
	e.Want(11, c.Now().Add(3*time.Second))
	a, b := &recLink{}, &recLink{}
	pa, pb := e.AddLink("a", a), e.AddLink("b", b)
	e.Receive(pa, hello(window...))
	e.Receive(pb, hello())
	e.Receive(pb, proto.Append(nil, proto.Have{Seq: 11, Size: window[1].Size, Hash8: proto.Hash8Of(window[1].SHA256)}))
	for range 60 {
		c.advance(time.Second)
		for _, l := range []*recLink{a, b} {
			for _, m := range l.msgsOf(proto.TypePing) {
				p := pa
				if l == b {
					p = pb
				}
				e.Receive(p, proto.Append(nil, proto.Pong{Nonce: m.(proto.Ping).Nonce}))
			}
			l.drainTo(0)
		}
	}
	for name, l := range map[string]*recLink{"a": a, "b": b} {
		if r := l.msgsOf(proto.TypeRequest); len(r) != 0 {
			t.Errorf("the relay sent %d REQUESTs to %s", len(r), name)
		}
		if s := l.msgsOf(proto.TypeStatus); len(s) != 0 {
			t.Errorf("the relay sent STATUS %+v to %s (the edge role must be ignored)", s, name)
		}
		h := l.msgsOf(proto.TypeHello)
		if len(h) != 1 || h[0].(proto.Hello).Role != proto.RoleRelay || h[0].(proto.Hello).Flags != 0 ||
			len(h[0].(proto.Hello).Segments) != 1 || h[0].(proto.Hello).Segments[0].Seq != 10 {
			t.Errorf("HELLO to %s: %+v, want role relay, no flags, segment 10", name, h)
		}
	}
	if n := len(f.times(10)) + len(f.times(11)); n != 0 {
		t.Errorf("the relay fetched over HTTP %d times", n)
	}
	if _, ok := e.Has(11); ok {
		t.Error("the relay holds segment 11, which nobody Put")
	}
	// It serves what it holds.
	e.Receive(pb, proto.Append(nil, proto.Request{RequestID: 1, Seq: 10, Hash8: proto.Hash8Of(window[0].SHA256), Length: window[0].Size}))
	if n, abs := b.sent(); n != int(window[0].Size) || len(abs) != 0 {
		t.Errorf("served %d bytes and ABSENT %v, want all %d", n, abs, window[0].Size)
	}
	// A Get waits for Put, which wakes it.
	got := make(chan Source, 1)
	go func() {
		_, src, _ := e.Get(context.Background(), 11, time.Time{})
		got <- src
	}()
	time.Sleep(20 * time.Millisecond)
	if err := e.Put(window[1], f.data[11]); err != nil {
		t.Fatal(err)
	}
	select {
	case src := <-got:
		if src != SourcePut {
			t.Errorf("Get returned source %v", src)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Put did not wake the Get")
	}
	if h := b.msgsOf(proto.TypeHave); len(h) != 1 || h[0].(proto.Have).Seq != 11 {
		t.Errorf("HAVEs to b: %+v, want one for 11 (10 was in the HELLO)", h)
	}
}

// A segment Put before the playlist that lists it stays held when an
// older playlist comes (ignored) and when the playlist lists it; Put-only
// engines keep at most Keep segments outside a window; a Put of another
// version of a known sequence number replaces it.
func TestPutOutsideWindow(t *testing.T) {
	relay := newRelay(t, func(c *Config) { c.Keep = 3 })
	var infos []SegmentInfo
	var datas [][]byte
	for seq := range uint32(8) {
		i, d := newSegment(seq, 500)
		infos, datas = append(infos, i), append(datas, d)
	}
	relay.SetPlaylist(infos[:2])
	for seq := range 3 {
		if err := relay.Put(infos[seq], datas[seq]); err != nil {
			t.Fatal(err)
		}
	}
	relay.SetPlaylist(infos[:2]) // does not list 2 yet
	if _, ok := relay.Has(2); !ok {
		t.Fatal("segment 2 dropped by a playlist that does not list it yet")
	}
	relay.SetPlaylist(infos[1:3])
	if _, ok := relay.Has(2); !ok {
		t.Fatal("segment 2 dropped once listed")
	}
	for seq := 3; seq < 8; seq++ {
		if err := relay.Put(infos[seq], datas[seq]); err != nil {
			t.Fatal(err)
		}
	}
	// 1 and 2 are in the window; 0 left it; 3…7 are not listed yet: the
	// three newest outside the window stay.
	for seq, want := range []bool{false, true, true, false, false, true, true, true} {
		if _, ok := relay.Has(uint32(seq)); ok != want {
			t.Errorf("segment %d held: %v, want %v", seq, ok, want)
		}
	}
	other, od := newSegment(6, 700)
	if err := relay.Put(other, od); err != nil {
		t.Fatal(err)
	}
	if b, _, err := relay.Get(context.Background(), 6, time.Time{}); err != nil || len(b) != 700 {
		t.Errorf("after a Put of another version: %d bytes, %v", len(b), err)
	}
}

// copyLink is a recLink whose Send copies b, as a data channel does: it
// is a SendCopier.
type copyLink struct{ recLink }

func (l *copyLink) Send(b []byte) error { return l.recLink.Send(append([]byte(nil), b...)) }
func (l *copyLink) SendCopies()         {}

// An engine encodes the messages to a SendCopier into one reused buffer:
// each link still gets every byte right.
func TestSendCopierGetsRightBytes(t *testing.T) {
	relay := newRelay(t, nil)
	var infos []SegmentInfo
	var datas [][]byte
	for seq := range uint32(2) {
		info, b := newSegment(seq, 70_000)
		if err := relay.Put(info, b); err != nil {
			t.Fatal(err)
		}
		infos, datas = append(infos, info), append(datas, b)
	}
	links := []*copyLink{{}, {}}
	for i, l := range links {
		p := relay.AddLink(string(rune('a'+i)), l)
		relay.Receive(p, hello())
		for j, info := range infos {
			relay.Receive(p, proto.Append(nil, proto.Request{RequestID: uint32(j), Seq: info.Seq, Hash8: proto.Hash8Of(info.SHA256), Length: info.Size}))
		}
	}
	for i, l := range links {
		got := map[uint32][]byte{}
		for _, m := range l.msgsOf(proto.TypeData) {
			d := m.(proto.Data)
			got[d.RequestID] = append(got[d.RequestID], d.Payload...)
		}
		for j, b := range datas {
			if sha256.Sum256(got[uint32(j)]) != sha256.Sum256(b) {
				t.Errorf("link %d, segment %d: %d bytes, not the segment", i, j, len(got[uint32(j)]))
			}
		}
	}
}

// With ServeLinks 2, two links get DATA side by side; a third requester
// waits until one of them has drained to the low-water mark. A relay
// answers none of them busy, however much it has accepted.
func TestServeLinksSideBySide(t *testing.T) {
	const size = 100 << 10
	relay := newRelay(t, func(c *Config) { c.ServeLinks, c.HighWater, c.LowWater = 2, 256<<10, 64<<10 })
	info, b := newSegment(5, size)
	if err := relay.Put(info, b); err != nil {
		t.Fatal(err)
	}
	links := make([]*recLink, 3)
	peers := make([]*Peer, 3)
	for i := range links {
		links[i] = &recLink{}
		peers[i] = relay.AddLink(string(rune('a'+i)), links[i])
		relay.Receive(peers[i], hello())
		relay.Receive(peers[i], proto.Append(nil, proto.Request{RequestID: 1, Seq: 5, Hash8: proto.Hash8Of(info.SHA256), Length: size}))
	}
	for i, want := range []int{size, size, 0} {
		if n, abs := links[i].sent(); n != want || len(abs) != 0 {
			t.Fatalf("requester %d: %d bytes of DATA, ABSENT %v; want %d bytes and no ABSENT", i, n, abs, want)
		}
	}
	links[1].drainTo(64 << 10)
	relay.Pump(peers[1])
	if n, _ := links[2].sent(); n != size {
		t.Fatalf("third requester got %d bytes once a link drained, want %d", n, size)
	}
}

// An edge fetcher with a relay among its peers waits one stagger for the
// relay's copy instead of fetching from the origin at once; without the
// relay's HAVE it fetches after that stagger.
func TestPrimaryWaitsForRelay(t *testing.T) {
	e, c, f, window := ruleSetup(t, 1000, nil)
	e.SetEdge(true, 0)
	l := &recLink{}
	p := e.AddLink("relay", l)
	h := proto.Hello{Version: proto.Version, Role: proto.RoleRelay, Swarm: testSwarm}
	e.Receive(p, proto.Append(nil, h))
	e.SetPlaylist(window[:1])
	c.advance(5 * time.Second)
	start := c.Now()
	e.SetPlaylist(window) // segment 11 is new
	c.advance(500 * time.Millisecond)
	if n := len(f.times(11)); n != 0 {
		t.Fatalf("the primary fetched segment 11 at once (%d) with a relay among its peers", n)
	}
	c.advance(time.Second)
	if calls := f.times(11); len(calls) != 1 || calls[0].Sub(start) != time.Second {
		t.Fatalf("fetches of segment 11 at %v, want one a stagger (1 s) after it appeared", calls)
	}
}
