package tracker

import (
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"fusioncast/tracker/wire"
)

func TestConnectionsPerAddress(t *testing.T) {
	_, addr := startTracker(t, Config{MaxConnsPerAddr: 2})
	dial(t, addr, nil)
	dial(t, addr, nil)
	c := dial(t, addr, nil)
	r := c.next()
	if r.FailureReason != reasonAddrConns {
		t.Fatalf("third connection: %+v", r)
	}
}

func TestAnnounceRate(t *testing.T) {
	_, addr := startTracker(t, Config{AnnounceRate: 1, AnnounceBurst: 3})
	c := dial(t, addr, nil)
	ih := id("swarm-rate-012345678")
	for range 4 {
		c.sendJSON(announce(ih, id("rate-0123456789abcde"), 0, "r"))
	}
	var reasons []string
	for range 4 {
		reasons = append(reasons, c.next().FailureReason)
	}
	if reasons[3] != reasonRate || reasons[0] != "" {
		t.Fatalf("failure reasons %q", reasons)
	}
}

func TestMalformedAndOversized(t *testing.T) {
	_, addr := startTracker(t, Config{MaxMessageBytes: 4096})
	c := dial(t, addr, nil)
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(`{"action":"announce","info_hash":"short"}`)); err != nil {
		t.Fatal(err)
	}
	if r := c.next(); r.FailureReason == "" {
		t.Fatalf("malformed announce: %+v", r)
	}
	// Still usable after a bad message.
	c.sendJSON(announce(id("swarm-ok-0123456789a"), id("ok-0123456789abcdefg"), 0, "o"))
	if r := c.next(); r.FailureReason != "" {
		t.Fatalf("good announce after a bad one: %+v", r)
	}
	big := `{"action":"announce","x":"` + strings.Repeat("a", 8000) + `"}`
	_ = c.ws.WriteMessage(websocket.TextMessage, []byte(big))
	_ = c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, _, err := c.ws.ReadMessage(); err != nil {
			if !websocket.IsCloseError(err, websocket.CloseMessageTooBig) && !strings.Contains(err.Error(), "reset") && !strings.Contains(err.Error(), "EOF") {
				t.Logf("closed with %v", err)
			}
			break
		}
	}
}

// A peer that never reads is dropped when its queue fills, and the swarm
// goes on.
func TestSlowPeerDropped(t *testing.T) {
	s, addr := startTracker(t, Config{SendQueue: 4, AnnounceRate: 100000, AnnounceBurst: 100000, WriteTimeout: 500 * time.Millisecond, DefaultMaxPeers: 100000})
	ih := id("swarm-slow-012345678")
	slow := dial(t, addr, nil)
	slow.sendJSON(announce(ih, id("slow-0123456789abcde"), 0, "s"))
	slow.next()
	// Stop reading: shrink the receive buffer so the kernel holds little.
	if tc, ok := slow.ws.UnderlyingConn().(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4096)
	}
	fast := dial(t, addr, nil)
	offer := strings.Repeat("x", 15000)
	for i := 0; swarmPeers(s, ih) == 2 || i == 0; i++ {
		if i > 2000 {
			t.Fatal("the slow peer was never dropped")
		}
		m := announce(ih, id("fast-0123456789abcde"), 1, "f")
		m["offers"].([]offerJSON)[0].Offer["sdp"] = offer
		fast.sendJSON(m)
		fast.next()
	}
	if n := swarmPeers(s, ih); n != 1 {
		t.Fatalf("%d peers left", n)
	}
}

// With 5,000 TCP connections that never finish the handshake, a new peer
// still announces, and the tracker holds at most MaxPendingHandshakes of
// them.
func TestHalfOpenFlood(t *testing.T) {
	s, addr := startTracker(t, Config{})
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	conns := make([]net.Conn, 0, 5000)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range 5000 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		if i%2 == 0 {
			fmt.Fprintf(c, "GET /announce HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n")
		}
		conns = append(conns, c)
	}
	start := time.Now()
	d := websocket.Dialer{HandshakeTimeout: time.Second}
	ws, _, err := d.Dial("ws://"+addr+"/announce", nil)
	if err != nil {
		t.Fatalf("a new peer could not connect: %v", err)
	}
	defer ws.Close()
	c := &client{t: t, ws: ws}
	c.sendJSON(announce(id("swarm-flood-01234567"), id("flood-0123456789abcd"), 0, "f"))
	_ = ws.SetReadDeadline(time.Now().Add(time.Second))
	_, b, err := ws.ReadMessage()
	if err != nil {
		t.Fatalf("no announce response within a second of connecting: %v", err)
	}
	var r wire.Response
	if err := wire.ParseResponse(b, &r); err != nil || r.FailureReason != "" {
		t.Fatalf("response %s: %v", b, err)
	}
	t.Logf("announced in %v with 5000 half-open connections", time.Since(start))
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	t.Logf("heap %d -> %d KiB, %d goroutines", before.HeapAlloc>>10, after.HeapAlloc>>10, runtime.NumGoroutine())
	pl := s.pending.Load()
	if n := pl.Pending(); n > 1024 {
		t.Errorf("%d pending handshakes held, cap 1024", n)
	}
	if pl.evicted.Load() == 0 {
		t.Error("no half-open connection was evicted")
	}
	// One goroutine per pending handshake at most, plus a few.
	if g := runtime.NumGoroutine(); g > 1024+200 {
		t.Errorf("%d goroutines", g)
	}
}

// answerJSON is the message that answers the relayed offer off.
func answerJSON(ih, from wire.ID, off *wire.Response, tag string) map[string]any {
	return map[string]any{
		"action": "announce", "info_hash": latin1(ih[:]), "peer_id": latin1(from[:]),
		"to_peer_id": latin1(off.PeerID[:]), "offer_id": latin1(off.OfferID[:]),
		"answer": map[string]string{"type": "answer", "sdp": "v=0\r\no=- " + tag + "\r\n"},
	}
}

// A peer answers every offer relayed to it, all at once, with the default
// announce rate and burst: each offer relayed to a connection lets it send
// one answer beyond its announce bucket. A relay agent takes up to
// RelayMaxPeers offers per interval, and a viewer its max_peers.
func TestAnswerBurst(t *testing.T) {
	const viewers = 60
	for _, role := range []string{"relay", "viewer"} {
		t.Run(role, func(t *testing.T) {
			// Each of 60 viewers announces once, and the answerer gets one
			// offer from each. A relay of the viewers' site is the first
			// target of their offers, so one offer each will do. A viewer
			// is not preferred: the others offer one at a time, with a
			// budget of one offer each per interval, and two offers each,
			// which go to the answerer and the one viewer whose budget is
			// not spent, the one before (the first finds only the
			// answerer).
			cfg, offers := Config{}, 1
			if role == "viewer" {
				cfg, offers = Config{DefaultMaxPeers: 1}, 2
			}
			s, addr := startTracker(t, cfg)
			ih := id("swarm-answers-" + role)
			answerer := id("answerer-" + role + "-0123456789")
			a := dial(t, addr, nil)
			m := fusioncastAnnounce(ih, answerer, 0, "a", role, "")
			if role == "viewer" {
				m["fusioncast"].(map[string]any)["max_peers"] = viewers
			}
			a.sendJSON(m)
			if r := a.next(); r.FailureReason != "" {
				t.Fatalf("first announce: %+v", r)
			}
			vs := make(map[wire.ID]*client, viewers)
			for i := range viewers {
				v, pid := dial(t, addr, nil), id(fmt.Sprintf("view-%02d-0123456789ab", i))
				vs[pid] = v
				v.sendJSON(announce(ih, pid, offers, fmt.Sprintf("v%02d", i)))
				if r := v.next(); r.FailureReason != "" || r.Offer != nil {
					t.Fatalf("viewer %d: %+v", i, r)
				}
			}
			offered := make([]*wire.Response, 0, viewers)
			for len(offered) < viewers {
				o := a.next()
				if o.Offer == nil || vs[o.PeerID] == nil {
					t.Fatalf("%s got %+v, want an offer from a viewer", role, o)
				}
				offered = append(offered, o)
			}

			// Answer them all at once.
			for i, o := range offered {
				if err := a.ws.WriteJSON(answerJSON(ih, answerer, o, fmt.Sprint("answer-", i))); err != nil {
					t.Logf("answer %d: %v", i, err) // the reads below say why
					break
				}
			}
			// Not refused and not disconnected: the next message is the
			// response to this announce (a refusal would come first).
			if err := a.ws.WriteJSON(announce(ih, answerer, 0, "a")); err != nil {
				t.Logf("announce after the answers: %v", err)
			}
			if r := a.next(); r.FailureReason != "" || r.Action != wire.ActionAnnounce || r.Offer != nil {
				t.Fatalf("%s refused after answering %d offers at once: %+v", role, viewers, r)
			}
			// Every answer reached its offerer.
			for i, o := range offered {
				r := vs[o.PeerID].next()
				for r.Offer != nil { // an offer from the next viewer
					r = vs[o.PeerID].next()
				}
				if r.Answer == nil || r.PeerID != answerer || r.OfferID != o.OfferID ||
					!strings.Contains(string(r.Answer), fmt.Sprint("answer-", i, "\\r")) {
					t.Fatalf("answer %d: %+v %s", i, r, r.Answer)
				}
			}
			if n := swarmPeers(s, ih); n != viewers+1 {
				t.Fatalf("%d peers in the swarm, want %d", n, viewers+1)
			}
		})
	}
}

// Answers to no offer the connection received are charged to the announce
// bucket like any announce: after the burst they are refused, none of them
// is relayed, and the 8th refusal closes the connection.
func TestUnaskedAnswersRefused(t *testing.T) {
	const burst = 4
	ih, target, answerer, tc, a := answerPair(t, "swarm-unasked-012345", burst)
	// An answer to an offer target never sent; the answerer received none.
	off := &wire.Response{PeerID: target, OfferID: id("made-up-offer-012345")}
	for i := range burst - 1 {
		a.sendJSON(answerJSON(ih, answerer, off, fmt.Sprint("ok-", i)))
	}
	for i := range burst - 1 {
		if r := tc.next(); r.Answer == nil {
			t.Fatalf("answer %d: %+v", i, r)
		}
	}
	expectRefusals(t, a, func(i int) map[string]any { return answerJSON(ih, answerer, off, fmt.Sprint("flood-", i)) })
	tc.quiet(200 * time.Millisecond) // no refused answer was relayed
}

// answerPair starts a tracker whose announce bucket holds burst tokens and
// refills so slowly that none comes back during a test, and joins two
// peers to swarm: target, and answerer, which has spent one token on
// joining.
func answerPair(t *testing.T, swarm string, burst int) (ih, target, answerer wire.ID, tc, a *client) {
	t.Helper()
	_, addr := startTracker(t, Config{AnnounceRate: 0.001, AnnounceBurst: burst})
	ih = id(swarm)
	target, answerer = id("target-0123456789abc"), id("answerer-0123456789a")
	tc = dial(t, addr, nil)
	tc.sendJSON(announce(ih, target, 0, "t"))
	tc.next()
	a = dial(t, addr, nil)
	a.sendJSON(announce(ih, answerer, 0, "a")) // one token
	a.next()
	return ih, target, answerer, tc, a
}

// expectRefusals sends maxStrikes messages that the announce bucket must
// refuse, and checks that each is refused and that the connection closes.
func expectRefusals(t *testing.T, c *client, msg func(int) map[string]any) {
	t.Helper()
	for i := range maxStrikes {
		c.sendJSON(msg(i))
	}
	for i := range maxStrikes {
		if r := c.next(); r.FailureReason != reasonRate {
			t.Fatalf("message %d after the burst: %+v", i, r)
		}
	}
	_ = c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, b, err := c.ws.ReadMessage(); !websocket.IsCloseError(err, websocket.ClosePolicyViolation) {
		t.Fatalf("after %d refusals: %s %v, want close 1008", maxStrikes, b, err)
	}
}

// A connection that received n offers may answer n times beyond its
// announce bucket, and no more: one credit per offer, whatever the answers
// say.
func TestAnswerCreditsPerOffer(t *testing.T) {
	const burst, offers = 4, 3
	ih, target, answerer, tc, a := answerPair(t, "swarm-credits-012345", burst)
	// target offers to the answerer, the only other peer, three times.
	for i := range offers {
		tc.sendJSON(announce(ih, target, 1, fmt.Sprint("o", i)))
		tc.next()
	}
	var off *wire.Response
	for range offers {
		if off = a.next(); off.Offer == nil {
			t.Fatalf("want an offer, got %+v", off)
		}
	}
	// The credits and the burst-1 tokens left: all relayed, none refused.
	for i := range offers + burst - 1 {
		a.sendJSON(answerJSON(ih, answerer, off, fmt.Sprint("ok-", i)))
	}
	for i := range offers + burst - 1 {
		if r := tc.next(); r.Answer == nil {
			t.Fatalf("answer %d: %+v", i, r)
		}
	}
	expectRefusals(t, a, func(i int) map[string]any { return answerJSON(ih, answerer, off, fmt.Sprint("more-", i)) })
}

// Answer credits stop at 2 × max(RelayMaxPeers, DefaultMaxPeers), however
// many goroutines grant them at once.
func TestAnswerCreditsCapped(t *testing.T) {
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if s.maxAnswerCredits != 2000 {
		t.Fatalf("default cap %d, want 2 × 1000", s.maxAnswerCredits)
	}
	s, err = New(Config{RelayMaxPeers: 10, DefaultMaxPeers: 30})
	if err != nil {
		t.Fatal(err)
	}
	c := &conn{s: s}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				c.grantAnswer()
			}
		})
	}
	wg.Wait()
	n := 0
	for c.spendAnswer() {
		n++
	}
	if n != 60 {
		t.Fatalf("%d credits spent, want the cap, 60", n)
	}
}
