package rtc

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"fusioncast/peer/proto"
	"fusioncast/tracker"
	"fusioncast/tracker/wire"
)

// Two peers in one swarm connect; messages go each way unchanged, a 16 KiB
// one included; each side names the other.
func TestTwoPeers(t *testing.T) {
	base := runtime.NumGoroutine()
	t.Cleanup(func() { checkGoroutines(t, base) })
	url := startTracker(t, tracker.Config{Interval: 2 * time.Second})
	a := startPeer(t, "a", url, Config{})
	eventually(t, 30*time.Second, "a joined", func() bool { return a.snapshot().joined })
	// Alone in the swarm, a's offers went nowhere: it has dropped them.
	eventually(t, 30*time.Second, "a's offers dropped", func() bool {
		st := a.snapshot()
		return st.pending == 0 && st.live == 0
	})
	b := startPeer(t, "b", url, Config{})

	ca := a.nextConn(60 * time.Second)
	cb := b.nextConn(60 * time.Second)
	if got := ca.RemoteID(); got != b.s.cfg.PeerID {
		t.Errorf("a's remote %s, want %s", got, b.s.cfg.PeerID)
	}
	if got := cb.RemoteID(); got != a.s.cfg.PeerID {
		t.Errorf("b's remote %s, want %s", got, a.s.cfg.PeerID)
	}
	if ca.Offerer() == cb.Offerer() {
		t.Errorf("both sides offerer=%v", ca.Offerer())
	}
	// Every candidate either side sent or received is a host candidate
	// over UDP on loopback.
	for _, c := range []*Conn{ca, cb} {
		for _, d := range []*webrtc.SessionDescription{c.pc.LocalDescription(), c.pc.RemoteDescription()} {
			n := 0
			for line := range strings.Lines(d.SDP) {
				if !strings.HasPrefix(line, "a=candidate:") {
					continue
				}
				n++
				f := strings.Fields(line)
				if len(f) < 8 || !strings.EqualFold(f[2], "udp") || f[4] != "127.0.0.1" || f[7] != "host" {
					t.Errorf("candidate %q", strings.TrimSpace(line))
				}
			}
			if n == 0 {
				t.Errorf("no candidates in %s", d.Type)
			}
		}
	}

	big := make([]byte, 16<<10)
	_, _ = rand.Read(big)
	for _, tc := range []struct {
		from, to *peer
		c        *Conn
	}{{a, b, ca}, {b, a, cb}} {
		for _, msg := range [][]byte{[]byte("hello from " + tc.from.name), big, {0}} {
			if err := tc.c.Send(msg); err != nil {
				t.Fatalf("%s: send: %v", tc.from.name, err)
			}
			select {
			case m := <-tc.to.messages:
				if !bytes.Equal(m.b, msg) {
					t.Errorf("%s got %d bytes, want %d bytes from %s", tc.to.name, len(m.b), len(msg), tc.from.name)
				}
				if m.c.RemoteID() != tc.from.s.cfg.PeerID {
					t.Errorf("message on the wrong connection")
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("%s: no message from %s", tc.to.name, tc.from.name)
			}
		}
	}
}

// Messages sent as soon as the channel opens are held back until the
// receiver's OnConn has returned, not lost.
func TestEarlyMessages(t *testing.T) {
	url := startTracker(t, tracker.Config{})
	hook := func(c *Conn) {
		// Both sides send at once, and take their time to set OnMessage.
		for i := range 20 {
			if err := c.Send([]byte{byte(i)}); err != nil {
				t.Errorf("send: %v", err)
			}
		}
		time.Sleep(300 * time.Millisecond)
	}
	a := startPeer(t, "a", url, Config{OnConn: hook})
	b := startPeer(t, "b", url, Config{OnConn: hook})
	for _, p := range []*peer{a, b} {
		for i := range 20 {
			select {
			case m := <-p.messages:
				if !bytes.Equal(m.b, []byte{byte(i)}) {
					t.Fatalf("%s: message %d is %x", p.name, i, m.b)
				}
			case <-time.After(60 * time.Second):
				t.Fatalf("%s: message %d missing", p.name, i)
			}
		}
	}
}

// The tracker sees each peer's extension: role, site, max_peers, stats.
func TestAnnounceExtension(t *testing.T) {
	lab := tracker.Site{Name: "lab-3", Prefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	url := startTracker(t, tracker.Config{Sites: []tracker.Site{lab}})
	r := startPeer(t, "relay", url, Config{Role: wire.RoleRelay, Site: "lab-3", MaxPeers: 40, UploadKbps: 100000,
		Stats: func() wire.Stats { return wire.Stats{HTTP: 1000, P2P: 2000, Stalls: 1} }})
	v := startPeer(t, "viewer", url, Config{})
	eventually(t, 30*time.Second, "both joined", func() bool { return r.snapshot().joined && v.snapshot().joined })

	var got struct {
		Peers []struct {
			PeerID string `json:"peer_id"`
			Role   string `json:"role"`
			Site   string `json:"site"`
			Edge   int    `json:"edge_rank"`
			Stats  struct {
				HTTP   int64 `json:"http"`
				P2P    int64 `json:"p2p"`
				Stalls int64 `json:"stalls"`
			} `json:"stats"`
		} `json:"peers"`
	}
	adminSwarm(t, url, &got)
	roles := map[string]string{}
	for _, p := range got.Peers {
		roles[p.PeerID] = p.Role
		if p.PeerID == r.s.cfg.PeerID.String() {
			if p.Site != "lab-3" || p.Edge != -1 || p.Stats.HTTP != 1000 || p.Stats.P2P != 2000 || p.Stats.Stalls != 1 {
				t.Errorf("relay as the tracker sees it: %+v", p)
			}
		}
	}
	if roles[r.s.cfg.PeerID.String()] != "relay" || roles[v.s.cfg.PeerID.String()] != "viewer" {
		t.Errorf("roles %v", roles)
	}
}

// Ten peers that start at once, with MaxPeers 3: nobody has more than 3
// connections (nor more than 3 connections and unanswered offers in its
// tables), and every peer ends up with at least one.
func TestMaxPeers(t *testing.T) {
	base := runtime.NumGoroutine()
	t.Cleanup(func() { checkGoroutines(t, base) })
	url := startTracker(t, tracker.Config{Interval: time.Second})
	const n, maxPeers = 10, 3
	var peers []*peer
	for i := range n {
		peers = append(peers, startPeer(t, fmt.Sprintf("p%d", i), url, Config{MaxPeers: maxPeers}))
	}
	var maxLive int64
	check := func() bool {
		all := true
		for _, p := range peers {
			st := p.snapshot()
			if st.peers+st.pending > maxPeers {
				t.Fatalf("%s: %d connections and %d offers in its tables, MaxPeers %d", p.name, st.peers, st.pending, maxPeers)
			}
			maxLive = max(maxLive, st.live)
			if open := p.openCount(); open > maxPeers {
				t.Fatalf("%s: %d open connections, MaxPeers %d", p.name, open, maxPeers)
			} else if open == 0 {
				all = false
			}
		}
		return all
	}
	eventually(t, 120*time.Second, "every peer connected", check)
	// Keep announcing a while: the caps hold.
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		check()
	}
	degrees := make([]int, n)
	for i, p := range peers {
		degrees[i] = p.openCount()
		p.mu.Lock()
		if p.maxOpen > maxPeers {
			t.Errorf("%s had %d open connections at once", p.name, p.maxOpen)
		}
		p.mu.Unlock()
	}
	t.Logf("open connections per peer: %v; most peer connections alive at once in one peer: %d", degrees, maxLive)
	// Torn-down connections count until pion has let go of them.
	if maxLive > maxPeers+DefaultOffers {
		t.Errorf("%d peer connections alive at once in one peer", maxLive)
	}
}

// The first two fusioncast viewers are named edge fetchers (ranks 0 and 1)
// in their announce responses; when the first leaves, the second moves up
// to rank 0 and the third is promoted to rank 1, both by unsolicited
// responses, long before their next announce (the interval is 120 s).
func TestEdge(t *testing.T) {
	url := startTracker(t, tracker.Config{}) // 2 edge fetchers, 120 s interval
	a := startPeer(t, "a", url, Config{})
	eventually(t, 30*time.Second, "a named edge fetcher", func() bool { return len(a.edgeEvents()) > 0 })
	b := startPeer(t, "b", url, Config{})
	eventually(t, 30*time.Second, "b named edge fetcher", func() bool { return len(b.edgeEvents()) > 0 })
	c := startPeer(t, "c", url, Config{})
	eventually(t, 30*time.Second, "c joined", func() bool { return c.snapshot().joined })
	if got := a.edgeEvents(); !slices.Equal(got, []string{"true/0"}) {
		t.Errorf("a: OnEdge %v, want [true/0]", got)
	}
	if got := b.edgeEvents(); !slices.Equal(got, []string{"true/1"}) {
		t.Errorf("b: OnEdge %v, want [true/1]", got)
	}
	if got := c.edgeEvents(); len(got) != 0 {
		t.Errorf("c: OnEdge %v, want none", got)
	}
	a.stop()
	eventually(t, 30*time.Second, "c promoted", func() bool { return len(c.edgeEvents()) > 0 })
	eventually(t, 10*time.Second, "b moved up", func() bool { return len(b.edgeEvents()) > 1 })
	if got := c.edgeEvents(); !slices.Equal(got, []string{"true/1"}) {
		t.Errorf("c: OnEdge %v, want [true/1]", got)
	}
	if got := b.edgeEvents(); !slices.Equal(got, []string{"true/1", "true/0"}) {
		t.Errorf("b: OnEdge %v, want [true/1 true/0]", got)
	}
}

// A peer whose tracker connection is lost stops being an edge fetcher at
// once (OnEdge false/0): the tracker has forgotten it and promoted another.
// After reconnecting it takes what the tracker says.
func TestEdgeEndsWithTrackerConnection(t *testing.T) {
	url, stop := runTracker(t, tracker.Config{}, "127.0.0.1:0") // 2 edge fetchers, 120 s interval
	a := startPeer(t, "a", url, Config{})
	eventually(t, 30*time.Second, "a named edge fetcher", func() bool { return len(a.edgeEvents()) > 0 })
	b := startPeer(t, "b", url, Config{})
	eventually(t, 30*time.Second, "b named edge fetcher", func() bool { return len(b.edgeEvents()) > 0 })

	// The tracker closes a's connection: a gives up the role before it
	// dials again, b moves up to primary, and a comes back as the backup.
	kick(t, url, a)
	eventually(t, 10*time.Second, "a lost the role", func() bool { return len(a.edgeEvents()) > 1 })
	if got := a.edgeEvents(); !slices.Equal(got[:2], []string{"true/0", "false/0"}) {
		t.Errorf("a: OnEdge %v, want [true/0 false/0 …]", got)
	}
	eventually(t, 30*time.Second, "a rejoined", func() bool { return len(a.edgeEvents()) > 2 })
	if got := a.edgeEvents(); !slices.Equal(got, []string{"true/0", "false/0", "true/1"}) {
		t.Errorf("a: OnEdge %v, want [true/0 false/0 true/1]", got)
	}
	if got := b.edgeEvents(); !slices.Equal(got, []string{"true/1", "true/0"}) {
		t.Errorf("b: OnEdge %v, want [true/1 true/0]", got)
	}

	// The tracker goes away: both give up the role, and keep out of it
	// while there is no tracker. (A shutting-down tracker closes one
	// connection after the other, so the peer closed last may first hear
	// that it moved up.)
	stop()
	notEdge := func(p *peer) bool { e := p.edgeEvents(); return e[len(e)-1] == "false/0" }
	eventually(t, 10*time.Second, "both lost the role", func() bool { return notEdge(a) && notEdge(b) })
	na, nb := len(a.edgeEvents()), len(b.edgeEvents())
	time.Sleep(2 * time.Second) // a redial or two fail meanwhile
	if got := a.edgeEvents(); len(got) != na {
		t.Errorf("a: OnEdge %v without a tracker", got)
	}
	if got := b.edgeEvents(); len(got) != nb {
		t.Errorf("b: OnEdge %v without a tracker", got)
	}
}

// A relay is never an edge fetcher; OnEdge is not called.
func TestRelayNotEdge(t *testing.T) {
	url := startTracker(t, tracker.Config{})
	r := startPeer(t, "relay", url, Config{Role: wire.RoleRelay})
	eventually(t, 30*time.Second, "relay joined", func() bool { return r.snapshot().joined })
	v := startPeer(t, "viewer", url, Config{})
	eventually(t, 30*time.Second, "viewer named edge fetcher", func() bool { return len(v.edgeEvents()) > 0 })
	if got := v.edgeEvents(); !slices.Equal(got, []string{"true/0"}) {
		t.Errorf("viewer: OnEdge %v, want [true/0]", got)
	}
	if got := r.edgeEvents(); len(got) != 0 {
		t.Errorf("relay: OnEdge %v, want none", got)
	}
}

// A peer that leaves: the other side's OnClose fires, its tables empty, and
// once every Run has returned the goroutines are back to the baseline.
func TestLeave(t *testing.T) {
	base := runtime.NumGoroutine()
	t.Cleanup(func() { checkGoroutines(t, base) })
	url := startTracker(t, tracker.Config{}) // 120 s: no announce after the first
	a := startPeer(t, "a", url, Config{})
	b := startPeer(t, "b", url, Config{})
	ca := a.nextConn(60 * time.Second)
	cb := b.nextConn(60 * time.Second)

	start := time.Now()
	a.stop()
	// a's own connection was closed, and its OnClose called, before Run
	// returned.
	select {
	case c := <-a.closes:
		if c != ca {
			t.Error("a: OnClose for another connection")
		}
	default:
		t.Error("a: OnClose not called before Run returned")
	}
	if err := ca.Send([]byte("late")); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after close: %v, want ErrClosed", err)
	}
	if err := ca.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("Close after close: %v, want ErrClosed", err)
	}
	if live := a.s.livePCs.Load(); live != 0 {
		t.Errorf("a: %d peer connections left after Run", live)
	}
	select {
	case c := <-b.closes:
		if c != cb {
			t.Error("b: OnClose for another connection")
		}
		t.Logf("b saw the close after %v", time.Since(start).Round(time.Millisecond))
	case <-time.After(40 * time.Second):
		t.Fatal("b: OnClose not called")
	}
	eventually(t, 30*time.Second, "b's tables empty", func() bool {
		st := b.snapshot()
		return st.peers == 0 && st.pending == 0 && st.live == 0
	})
	b.stop()
	b.mu.Lock()
	if b.opened != 1 || b.closed != 1 {
		t.Errorf("b: %d opened, %d closed", b.opened, b.closed)
	}
	b.mu.Unlock()
}

// An offer whose data channel has another label (a plain WebTorrent client)
// is refused: the peer closes the connection and never calls OnConn. The
// same client with the right label is taken.
func TestForeignLabel(t *testing.T) {
	base := runtime.NumGoroutine()
	t.Cleanup(func() { checkGoroutines(t, base) })
	url := startTracker(t, tracker.Config{})
	p := startPeer(t, "p", url, Config{})
	eventually(t, 30*time.Second, "p joined", func() bool { return p.snapshot().joined })

	f := offerFrom(t, url, "other", id("-WW0208-foreign00001"))
	select {
	case <-f.dcClosed:
	case <-f.pcDone:
	case <-time.After(60 * time.Second):
		t.Fatal("the foreign connection was not closed")
	}
	eventually(t, 30*time.Second, "p's tables empty", func() bool {
		st := p.snapshot()
		return st.peers == 0 && st.live == 0
	})
	p.mu.Lock()
	if p.opened != 0 {
		t.Errorf("OnConn called %d times for a foreign channel", p.opened)
	}
	p.mu.Unlock()

	// f leaves, so that the tracker relays g's one offer to p.
	_ = f.ws.Close()
	eventually(t, 30*time.Second, "f left the swarm", func() bool { return swarmPeers(t, url) == 1 })
	g := offerFrom(t, url, proto.Label, id("-WW0208-foreign00002"))
	c := p.nextConn(60 * time.Second)
	if c.RemoteID() != g.peerID {
		t.Errorf("remote %s, want %s", c.RemoteID(), g.peerID)
	}
	select {
	case <-g.dcOpen:
	case <-time.After(30 * time.Second):
		t.Fatal("channel not open on the offerer")
	}
	got := make(chan []byte, 1)
	g.dc.OnMessage(func(m webrtc.DataChannelMessage) { got <- m.Data })
	if err := c.Send([]byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-got:
		if !bytes.Equal(b, []byte{1, 2, 3}) {
			t.Errorf("got %x", b)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no message")
	}
	_ = g.pc.GracefulClose()
	_ = f.pc.GracefulClose()
	p.stop()
}

// When the tracker goes away, open connections stay open and the peers
// reconnect (with backoff) once it is back.
func TestTrackerRestart(t *testing.T) {
	base := runtime.NumGoroutine()
	t.Cleanup(func() { checkGoroutines(t, base) })
	url, stop := runTracker(t, tracker.Config{}, "127.0.0.1:0")
	a := startPeer(t, "a", url, Config{})
	b := startPeer(t, "b", url, Config{})
	ca := a.nextConn(60 * time.Second)
	b.nextConn(60 * time.Second)

	stop()
	eventually(t, 30*time.Second, "tracker connection lost", func() bool { return !a.snapshot().joined && !b.snapshot().joined })
	addr := strings.TrimSuffix(strings.TrimPrefix(url, "ws://"), "/announce")
	runTracker(t, tracker.Config{}, addr)
	eventually(t, 60*time.Second, "rejoined", func() bool { return a.snapshot().joined && b.snapshot().joined })
	if err := ca.Send([]byte("still here")); err != nil {
		t.Fatalf("send after the tracker restart: %v", err)
	}
	select {
	case m := <-b.messages:
		if string(m.b) != "still here" {
			t.Errorf("got %q", m.b)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no message")
	}
}

// Peers do not connect to a tracker that refuses them, and retry.
func TestRefusedRetry(t *testing.T) {
	url := startTracker(t, tracker.Config{MaxPeersPerSwarm: 1})
	a := startPeer(t, "a", url, Config{})
	eventually(t, 30*time.Second, "a joined", func() bool { return a.snapshot().joined })
	b := startPeer(t, "b", url, Config{})
	// b is refused ("swarm full"), backs off and retries; when a leaves, b
	// gets in.
	time.Sleep(2 * time.Second)
	if b.snapshot().joined {
		t.Fatal("b joined a full swarm")
	}
	a.stop()
	eventually(t, 60*time.Second, "b joined after a left", func() bool { return b.snapshot().joined })
	eventually(t, 30*time.Second, "b has no offers left", func() bool { return b.snapshot().live == 0 })
}

func TestBadConfig(t *testing.T) {
	good := Config{TrackerURL: "ws://127.0.0.1:1/announce", InfoHash: testSwarm}
	for name, mod := range map[string]func(*Config){
		"no url":          func(c *Config) { c.TrackerURL = "" },
		"http url":        func(c *Config) { c.TrackerURL = "http://127.0.0.1/announce" },
		"no info hash":    func(c *Config) { c.InfoHash = wire.ID{} },
		"viewer site":     func(c *Config) { c.Site = "lab-3" },
		"long site":       func(c *Config) { c.Role, c.Site = wire.RoleRelay, strings.Repeat("x", 65) },
		"too many offers": func(c *Config) { c.Offers = wire.MaxOffers + 1 },
		"negative":        func(c *Config) { c.MaxPeers = -1 },
		"no interface":    func(c *Config) { c.ICE.Interfaces = []string{"no-such-if0"} },
		"role":            func(c *Config) { c.Role = 7 },
		"listen any":      func(c *Config) { c.ICE.ListenUDP = "0.0.0.0:0" },
		"listen name":     func(c *Config) { c.ICE.ListenUDP = "localhost:5000" },
		"negative rate":   func(c *Config) { c.TrackerRate = -1 },
		"negative buffer": func(c *Config) { c.ICE.SocketBuffer = -1 },
	} {
		cfg := good
		mod(&cfg)
		if err := Run(context.Background(), cfg); !errors.Is(err, ErrBadConfig) {
			t.Errorf("%s: %v, want ErrBadConfig", name, err)
		}
	}
	cfg, err := good.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxPeers != DefaultMaxPeers || cfg.Offers != DefaultOffers || cfg.PeerID == (wire.ID{}) ||
		cfg.ICE.SocketBuffer != 0 || cfg.TrackerRate != sendRate || cfg.TrackerBurst != sendBurst ||
		!bytes.HasPrefix(cfg.PeerID[:], []byte("-FC0001-")) {
		t.Errorf("defaults: %+v", cfg)
	}
}

// Of two connections being set up between the same peers, both sides keep
// the one offered by the smaller peer_id; an open one is always kept.
func TestPrefer(t *testing.T) {
	small, large := id("-FC0001-aaaaaaaaaaaa"), id("-FC0001-bbbbbbbbbbbb")
	for _, tc := range []struct {
		self, remote        wire.ID
		existingOfferer     bool
		existingOpen        bool
		newOfferer, replace bool
	}{
		// self is smaller: keep self's offer.
		{small, large, false, false, true, true},
		{small, large, true, false, false, false},
		// self is larger: keep remote's offer.
		{large, small, true, false, false, true},
		{large, small, false, false, true, false},
		// same offerer: keep the first.
		{small, large, true, false, true, false},
		{large, small, false, false, false, false},
		// open: keep.
		{small, large, false, true, true, false},
		{large, small, true, true, false, false},
	} {
		s := &session{cfg: Config{PeerID: tc.self}}
		c := &Conn{offerer: tc.existingOfferer, opened: tc.existingOpen}
		if got := s.prefer(c, tc.newOfferer, tc.remote); got != tc.replace {
			t.Errorf("%+v: replace %v", tc, got)
		}
	}
}

// A relay with ICE.ListenUDP holds all its connections on one UDP port:
// every candidate it sends is that address, and three viewers connect and
// exchange messages with it through the one socket.
func TestRelayOneUDPPort(t *testing.T) {
	base := runtime.NumGoroutine()
	t.Cleanup(func() { checkGoroutines(t, base) })
	url := startTracker(t, tracker.Config{Interval: 2 * time.Second})
	ice := testICE
	ice.ListenUDP = "127.0.0.1:0"
	r := startPeer(t, "relay", url, Config{Role: wire.RoleRelay, Offers: 1, ICE: ice})
	if r.s.cfg.MaxPeers != DefaultRelayMaxPeers || r.s.cfg.ICE.SocketBuffer != DefaultRelaySocketBuffer {
		t.Errorf("relay defaults: MaxPeers %d, SocketBuffer %d", r.s.cfg.MaxPeers, r.s.cfg.ICE.SocketBuffer)
	}
	eventually(t, 30*time.Second, "relay joined", func() bool { return r.snapshot().joined })
	var viewers []*peer
	for i := range 3 {
		// MaxPeers 1: a viewer's one place goes to the relay, whom the
		// tracker offers first (same site).
		viewers = append(viewers, startPeer(t, fmt.Sprintf("v%d", i), url, Config{MaxPeers: 1, Offers: 1}))
	}
	ports := map[string]bool{}
	for range viewers {
		c := r.nextConn(60 * time.Second)
		for line := range strings.Lines(c.pc.LocalDescription().SDP) {
			if f := strings.Fields(line); strings.HasPrefix(line, "a=candidate:") && len(f) >= 8 {
				ports[f[4]+":"+f[5]] = true
			}
		}
		if err := c.Send([]byte("segment")); err != nil {
			t.Fatal(err)
		}
	}
	if len(ports) != 1 {
		t.Errorf("relay candidates on %v, want one address and port", ports)
	}
	for _, v := range viewers {
		select {
		case m := <-v.messages:
			if string(m.b) != "segment" || m.c.RemoteID() != r.s.cfg.PeerID {
				t.Errorf("%s got %q from %s", v.name, m.b, m.c.RemoteID())
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("%s: nothing from the relay", v.name)
		}
	}
	for _, v := range viewers {
		v.stop()
	}
	r.stop()
}

// Answers are not paced like announces: a relay whose tracker bucket is
// empty for the next thousand seconds still answers every offer relayed
// to it, at once (the tracker charges answers to the offers it relayed).
func TestAnswersNotPaced(t *testing.T) {
	base := runtime.NumGoroutine()
	t.Cleanup(func() { checkGoroutines(t, base) })
	url := startTracker(t, tracker.Config{})
	// The first announce spends the only token.
	r := startPeer(t, "relay", url, Config{Role: wire.RoleRelay, Offers: 1, TrackerRate: 0.001, TrackerBurst: 1})
	eventually(t, 30*time.Second, "relay joined", func() bool { return r.snapshot().joined })
	var fs []*foreign
	for i := range 4 {
		// offerFrom fails unless the relay's answer comes back.
		f := offerFrom(t, url, proto.Label, id(fmt.Sprintf("-WW0208-viewer%06d", i)))
		fs = append(fs, f)
		if c := r.nextConn(60 * time.Second); c.RemoteID() != f.peerID {
			t.Errorf("connection %d from %s, want %s", i, c.RemoteID(), f.peerID)
		}
	}
	for _, f := range fs {
		_ = f.pc.GracefulClose()
	}
	r.stop()
}
