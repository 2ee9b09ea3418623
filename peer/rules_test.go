package peer

import (
	"crypto/rand"
	"crypto/sha256"
	"slices"
	"sync"
	"testing"
	"time"

	"fusioncast/peer/proto"
)

// manualClock is a Clock that moves only when the test says: timers due
// run, in order, on the test's goroutine.
type manualClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*manualTimer
}

type manualTimer struct {
	c       *manualClock
	at      time.Time
	f       func()
	stopped bool
}

func newManualClock() *manualClock { return &manualClock{now: time.Unix(1_700_000_000, 0)} }

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &manualTimer{c: c, at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return t
}

func (t *manualTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := !t.stopped
	t.stopped = true
	return was
}

// advance moves the clock by d, running every timer that falls due.
func (c *manualClock) advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		var next *manualTimer
		for _, t := range c.timers {
			if !t.stopped && !t.at.After(end) && (next == nil || t.at.Before(next.at)) {
				next = t
			}
		}
		if next == nil {
			c.now = end
			c.mu.Unlock()
			return
		}
		next.stopped = true
		c.now = next.at
		c.mu.Unlock()
		next.f()
	}
}

// recLink records what an engine sends; the test drains its buffer.
type recLink struct {
	mu       sync.Mutex
	msgs     []proto.Message
	buffered uint64
}

func (l *recLink) Send(b []byte) error {
	m, err := proto.Parse(b)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, m)
	l.buffered += uint64(len(b))
	return nil
}

func (l *recLink) BufferedAmount() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buffered
}

func (l *recLink) Close() error { return nil }

func (l *recLink) drainTo(n uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buffered = min(l.buffered, n)
}

// dataBytes returns the DATA payload bytes sent, and the ABSENT reasons.
func (l *recLink) sent() (data int, absent []proto.AbsentReason) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range l.msgs {
		switch m := m.(type) {
		case proto.Data:
			data += len(m.Payload)
		case proto.Absent:
			absent = append(absent, m.Reason)
		}
	}
	return data, absent
}

// fetchLog is a Fetcher that records when it was called and answers at
// once with the origin's bytes.
type fetchLog struct {
	c     *manualClock
	data  map[uint32][]byte
	mu    sync.Mutex
	calls map[uint32][]time.Time
}

func (f *fetchLog) fetch(seg SegmentInfo, done func([]byte, error)) {
	f.mu.Lock()
	f.calls[seg.Seq] = append(f.calls[seg.Seq], f.c.Now())
	b := f.data[seg.Seq]
	f.mu.Unlock()
	done(b, nil)
}

func (f *fetchLog) times(seq uint32) []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls[seq])
}

// ruleSetup is one engine on a manual clock with a playlist of two
// segments of size bytes.
func ruleSetup(t *testing.T, size int, mod func(*Config)) (*Engine, *manualClock, *fetchLog, []SegmentInfo) {
	t.Helper()
	c := newManualClock()
	f := &fetchLog{c: c, data: map[uint32][]byte{}, calls: map[uint32][]time.Time{}}
	var window []SegmentInfo
	for seq := uint32(10); seq < 12; seq++ {
		b := make([]byte, size)
		_, _ = rand.Read(b)
		f.data[seq] = b
		window = append(window, SegmentInfo{Seq: seq, Size: uint32(size), SHA256: sha256.Sum256(b), Duration: 2 * time.Second})
	}
	cfg := Config{Swarm: testSwarm, Fetch: f.fetch, Clock: c, PeerWait: time.Second, HTTPMargin: 500 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e, c, f, window
}

// A viewer's wait for peers (PeerWait) stands in for a deadline it does
// not know: once the player says when it needs the segment, the engine
// waits for peers until the margin before that deadline, later or earlier
// than PeerWait. A backup edge fetcher's stagger, on the other hand, is
// kept when the deadline is later.
func TestDeadlineReplacesPeerWait(t *testing.T) {
	for _, tc := range []struct {
		name     string
		edgeRank int // -1: a viewer
		deadline time.Duration
		fetchAt  time.Duration
	}{
		{"viewer, deadline after PeerWait", -1, 5 * time.Second, 4500 * time.Millisecond},
		{"viewer, deadline before PeerWait", -1, 1200 * time.Millisecond, 700 * time.Millisecond},
		{"backup edge, deadline after its stagger", 1, 5 * time.Second, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, c, f, window := ruleSetup(t, 1000, nil)
			if tc.edgeRank >= 0 {
				e.SetEdge(true, tc.edgeRank)
			}
			e.SetPlaylist(window[:1])
			start := c.Now()
			e.SetPlaylist(window) // segment 11 is new: the engine waits for peers
			e.Want(11, start.Add(tc.deadline))
			c.advance(10 * time.Second)
			calls := f.times(11)
			if len(calls) != 1 || calls[0].Sub(start) != tc.fetchAt {
				var at []time.Duration
				for _, x := range calls {
					at = append(at, x.Sub(start))
				}
				t.Fatalf("HTTP fetches at %v, want one at %v", at, tc.fetchAt)
			}
		})
	}
}

// A holder serves one request at a time across its links: the second
// requester's DATA starts only once the first one's link has drained to
// the low-water mark, and a request beyond the serve window, counting the
// bytes still in that link, is answered busy.
func TestServesOneLinkAtATime(t *testing.T) {
	const size = 100 << 10
	e, c, _, window := ruleSetup(t, size, func(cfg *Config) {
		cfg.HighWater, cfg.LowWater, cfg.ServeWindow = 256<<10, 64<<10, 250<<10
	})
	e.SetEdge(true, 0)
	e.SetPlaylist(window)
	c.advance(0) // the primary's HTTP fetch of segment 11
	if _, ok := e.Has(11); !ok {
		t.Fatal("the primary did not fetch the newest segment")
	}
	hash8 := proto.Hash8Of(window[1].SHA256)
	links := make([]*recLink, 3)
	peers := make([]*Peer, 3)
	for i := range links {
		links[i] = &recLink{}
		peers[i] = e.AddLink("p"+string(rune('a'+i)), links[i])
		e.Receive(peers[i], proto.Append(nil, proto.Hello{Version: proto.Version, Swarm: testSwarm}))
		e.Receive(peers[i], proto.Append(nil, proto.Request{RequestID: 1, Seq: 11, Hash8: hash8, Length: size}))
	}
	a, b, third := links[0], links[1], links[2]
	if n, _ := a.sent(); n != size {
		t.Fatalf("first requester got %d bytes of DATA, want %d", n, size)
	}
	if n, abs := b.sent(); n != 0 || len(abs) != 0 {
		t.Fatalf("second requester got %d bytes of DATA and ABSENT %v before the first link drained", n, abs)
	}
	// 100 KiB in a's link and 100 KiB accepted for b: a third request
	// would make 300 KiB, beyond the 250 KiB window.
	if _, abs := third.sent(); len(abs) != 1 || abs[0] != proto.AbsentBusy {
		t.Fatalf("third requester: ABSENT %v, want busy", abs)
	}
	a.drainTo(70 << 10)
	e.Pump(peers[0])
	if n, _ := b.sent(); n != 0 {
		t.Fatalf("second requester got %d bytes while the first link held 70 KiB", n)
	}
	a.drainTo(64 << 10)
	e.Pump(peers[0])
	if n, _ := b.sent(); n != size {
		t.Fatalf("second requester got %d bytes once the first link drained, want %d", n, size)
	}
}

// msgs returns what the engine sent on the link, by type.
func (l *recLink) msgsOf(t proto.Type) []proto.Message {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []proto.Message
	for _, m := range l.msgs {
		if m.Type() == t {
			out = append(out, m)
		}
	}
	return out
}

// hello is the HELLO of a remote peer holding segs.
func hello(segs ...SegmentInfo) []byte {
	h := proto.Hello{Version: proto.Version, Swarm: testSwarm}
	for _, s := range segs {
		h.Segments = append(h.Segments, proto.Segment{Seq: s.Seq, Size: s.Size, Hash8: proto.Hash8Of(s.SHA256)})
	}
	return proto.Append(nil, h)
}

// A peer that sends no HELLO within 10 s, or leaves a PING unanswered for
// 30 s, is dropped with BYE timeout; one that answers its PINGs stays.
func TestLiveness(t *testing.T) {
	e, c, _, _ := ruleSetup(t, 1000, nil)
	mute, good, silent := &recLink{}, &recLink{}, &recLink{}
	e.AddLink("mute", mute)
	pg := e.AddLink("good", good)
	ps := e.AddLink("silent", silent)
	e.Receive(pg, hello())
	e.Receive(ps, hello())
	bye := func(l *recLink) string {
		if m := l.msgsOf(proto.TypeBye); len(m) == 1 {
			b := m[0].(proto.Bye)
			return b.Reason.String() + ": " + b.Text
		}
		return ""
	}
	c.advance(9 * time.Second)
	if e.Stats().Peers != 3 {
		t.Fatalf("%d peers after 9 s", e.Stats().Peers)
	}
	c.advance(time.Second)
	if got := bye(mute); got != "timeout: no HELLO" {
		t.Fatalf("peer without HELLO after 10 s: BYE %q", got)
	}
	// Answer every PING on the good link for a minute; the silent link
	// answers none.
	for range 60 {
		c.advance(time.Second)
		for _, m := range good.msgsOf(proto.TypePing) {
			e.Receive(pg, proto.Append(nil, proto.Pong{Nonce: m.(proto.Ping).Nonce}))
		}
	}
	if n := len(good.msgsOf(proto.TypePing)); n < 10 || n > 14 {
		t.Errorf("%d PINGs in 70 s on an idle link, want one every 5 s", n)
	}
	if got := bye(good); got != "" {
		t.Errorf("a peer that answers its PINGs was dropped: %s", got)
	}
	if got := bye(silent); got != "timeout: no PONG" {
		t.Errorf("a peer that answers no PING: BYE %q", got)
	}
	if e.Stats().Peers != 1 {
		t.Errorf("%d peers left, want 1", e.Stats().Peers)
	}
}

// A request that receives nothing for a second moves to another holder;
// the first is sent CANCEL.
func TestStalledRequestMoves(t *testing.T) {
	e, c, f, window := ruleSetup(t, 50_000, nil)
	e.SetPlaylist(window[:1])
	e.SetPlaylist(window)
	e.Want(11, c.Now().Add(6*time.Second))
	a, b := &recLink{}, &recLink{}
	pa, pb := e.AddLink("a", a), e.AddLink("b", b)
	e.Receive(pa, hello(window[1]))
	e.Receive(pb, hello(window[1]))
	first, second, pfirst := a, b, pa
	if len(a.msgsOf(proto.TypeRequest)) == 0 {
		first, second, pfirst = b, a, pb
	}
	if len(first.msgsOf(proto.TypeRequest)) != 1 || len(second.msgsOf(proto.TypeRequest)) != 0 {
		t.Fatal("want one REQUEST, to one holder")
	}
	// Some bytes come, then nothing.
	req := first.msgsOf(proto.TypeRequest)[0].(proto.Request)
	payload := f.data[11][:16<<10]
	e.Receive(pfirst, proto.Append(nil, proto.Data{RequestID: req.RequestID, Payload: payload}))
	c.advance(900 * time.Millisecond)
	if len(second.msgsOf(proto.TypeRequest)) != 0 {
		t.Fatal("the request moved before it stalled for a second")
	}
	c.advance(1200 * time.Millisecond)
	if len(first.msgsOf(proto.TypeCancel)) != 1 {
		t.Fatal("the stalled request was not cancelled")
	}
	moved := second.msgsOf(proto.TypeRequest)
	if len(moved) != 1 || moved[0].(proto.Request).Offset != 16<<10 {
		t.Fatalf("requests to the other holder: %+v, want one from byte %d", moved, 16<<10)
	}
	if calls := f.times(11); len(calls) != 0 {
		t.Errorf("fetched over HTTP %d times while a peer could serve", len(calls))
	}
}

// A playlist older than one already seen (a second source, a cache) is
// ignored: the segments it does not list stay wanted.
func TestOlderPlaylistIgnored(t *testing.T) {
	e, _, _, window := ruleSetup(t, 1000, nil)
	e.SetPlaylist(window)
	e.SetPlaylist(window[:1]) // older: segment 11 is not in it
	l := &recLink{}
	e.Receive(e.AddLink("holder", l), hello(window[1]))
	reqs := l.msgsOf(proto.TypeRequest)
	if len(reqs) != 1 || reqs[0].(proto.Request).Seq != 11 {
		t.Fatalf("requests %+v, want segment 11 from the holder", reqs)
	}
}

// A copy that fails verification with bytes from two peers (a request
// moved after a stall) drops neither at once; once a good copy is here,
// the peer whose bytes differ from it is dropped with BYE bad-data and
// reported, and the honest one stays.
func TestBadCopyFromTwoPeers(t *testing.T) {
	var reported []string
	e, c, f, window := ruleSetup(t, 48<<10, func(cfg *Config) {
		cfg.OnBadPeer = func(p *Peer, why string) { reported = append(reported, p.Name()) }
	})
	e.SetPlaylist(window[:1])
	e.SetPlaylist(window)
	e.Want(11, c.Now().Add(6*time.Second))
	good := f.data[11]
	links := map[string]*recLink{"honest": {}, "liar": {}}
	peers := map[string]*Peer{}
	for _, name := range []string{"honest", "liar"} {
		peers[name] = e.AddLink(name, links[name])
	}
	send := func(name string, off int, b []byte) {
		reqs := links[name].msgsOf(proto.TypeRequest)
		id := reqs[len(reqs)-1].(proto.Request).RequestID
		e.Receive(peers[name], proto.Append(nil, proto.Data{RequestID: id, Offset: uint32(off), Payload: b}))
	}
	// Only "honest" holds it at first: it sends 16 KiB, then stalls.
	e.Receive(peers["honest"], hello(window[1]))
	send("honest", 0, good[:16<<10])
	e.Receive(peers["liar"], hello(window[1]))
	c.advance(1500 * time.Millisecond) // the request moves to "liar" at the 1 s tick
	bad := append([]byte(nil), good[16<<10:]...)
	bad[100] ^= 1
	before := map[string]int{"honest": len(links["honest"].msgsOf(proto.TypeRequest)), "liar": len(links["liar"].msgsOf(proto.TypeRequest))}
	send("liar", 16<<10, bad)
	if s := e.Stats(); s.BadData != 1 || s.Peers != 2 || len(reported) != 0 {
		t.Fatalf("after the bad copy: %+v, reported %v; want both senders kept until a good copy", s, reported)
	}
	// The engine asks again, from byte 0; the peer asked sends a good
	// copy.
	var again string
	for name, n := range before {
		if reqs := links[name].msgsOf(proto.TypeRequest); len(reqs) > n && reqs[n].(proto.Request).Offset == 0 {
			again = name
		}
	}
	if again == "" {
		t.Fatal("the segment was not requested again from byte 0")
	}
	send(again, 0, good[:32<<10])
	send(again, 32<<10, good[32<<10:])
	if src, ok := e.Has(11); !ok || src != SourcePeer {
		t.Fatal("the good copy was not accepted")
	}
	if len(reported) != 1 || reported[0] != "liar" || len(links["liar"].msgsOf(proto.TypeBye)) != 1 || len(links["honest"].msgsOf(proto.TypeBye)) != 0 {
		t.Fatalf("reported %v; want the liar dropped and the honest peer kept", reported)
	}
}
