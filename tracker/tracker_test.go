package tracker

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"fusioncast/tracker/wire"
)

// latin1 turns bytes into the JSON string form of a WebTorrent ID.
func latin1(b []byte) string {
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}

func id(s string) wire.ID {
	var v wire.ID
	copy(v[:], s)
	return v
}

// startTracker runs a tracker on loopback until the test ends.
func startTracker(t *testing.T, cfg Config) (*Server, string) {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return")
		}
	})
	return s, ln.Addr().String()
}

// client is a test peer speaking the WebTorrent tracker protocol.
type client struct {
	t  *testing.T
	ws *websocket.Conn
}

func dial(t *testing.T, addr string, hdr http.Header) *client {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	ws, _, err := d.Dial("ws://"+addr+"/announce", hdr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	return &client{t: t, ws: ws}
}

func (c *client) sendJSON(v any) {
	c.t.Helper()
	if err := c.ws.WriteJSON(v); err != nil {
		c.t.Fatal(err)
	}
}

// next reads the next message within 5 s.
func (c *client) next() *wire.Response {
	c.t.Helper()
	_ = c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, b, err := c.ws.ReadMessage()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	var r wire.Response
	if err := wire.ParseResponse(b, &r); err != nil {
		c.t.Fatalf("parse %s: %v", b, err)
	}
	// The response aliases b, which we keep.
	return &r
}

// quiet checks that nothing arrives for a while.
func (c *client) quiet(d time.Duration) {
	c.t.Helper()
	_ = c.ws.SetReadDeadline(time.Now().Add(d))
	if _, b, err := c.ws.ReadMessage(); err == nil {
		c.t.Fatalf("unexpected message %s", b)
	}
}

type offerJSON struct {
	Offer   map[string]string `json:"offer"`
	OfferID string            `json:"offer_id"`
}

func announce(ih, peer wire.ID, offers int, tag string) map[string]any {
	m := map[string]any{
		"action": "announce", "info_hash": latin1(ih[:]), "peer_id": latin1(peer[:]),
		"numwant": offers, "uploaded": 0, "downloaded": 0, "left": nil, "event": "started",
	}
	var os []offerJSON
	for i := range offers {
		oid := id(fmt.Sprintf("%s-offer-%02d-xxxxxxxxx", tag, i))
		os = append(os, offerJSON{Offer: map[string]string{"type": "offer", "sdp": "v=0\r\no=- " + tag + fmt.Sprint(i) + "\r\n"}, OfferID: latin1(oid[:])})
	}
	if offers > 0 {
		m["offers"] = os
	}
	return m
}

// Two peers in one swarm: an offer reaches the other peer unchanged and the
// answer comes back to the offerer unchanged; IDs with every kind of byte
// survive.
func TestOfferAnswerRelay(t *testing.T) {
	_, addr := startTracker(t, Config{})
	ih := wire.ID{0x00, 0x22, 0x5c, 0x7f, 0x80, 0xff, 'i', 'h', 0xe9, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}
	pa := wire.ID{'A', 0xff, 0x00, '"', '\\', 0xc3, 0xa9, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13}
	pb := id("peer-B-0123456789ab")

	a := dial(t, addr, nil)
	a.sendJSON(announce(ih, pa, 0, "a"))
	r := a.next()
	if r.InfoHash != ih || r.Complete != 0 || r.Incomplete != 1 || r.Interval != 120 {
		t.Fatalf("first response: %+v", r)
	}

	b := dial(t, addr, nil)
	b.sendJSON(announce(ih, pb, 3, "b"))
	// A gets one of B's offers (only one other peer); B gets its response.
	off := a.next()
	if off.Offer == nil || off.PeerID != pb || off.InfoHash != ih {
		t.Fatalf("relayed offer: %+v", off)
	}
	var sdp map[string]string
	if err := json.Unmarshal(off.Offer, &sdp); err != nil || sdp["type"] != "offer" || !strings.HasPrefix(sdp["sdp"], "v=0\r\no=- b") {
		t.Fatalf("offer changed: %s (%v)", off.Offer, err)
	}
	if rb := b.next(); rb.Incomplete != 2 {
		t.Fatalf("B's response: %+v", rb)
	}

	answer := map[string]any{
		"action": "announce", "info_hash": latin1(ih[:]), "peer_id": latin1(pa[:]),
		"to_peer_id": latin1(pb[:]), "offer_id": latin1(off.OfferID[:]),
		"answer": map[string]string{"type": "answer", "sdp": "v=0\r\no=- answer\r\n"},
	}
	a.sendJSON(answer)
	ans := b.next()
	for ans.Answer == nil { // A's announce response may come first to A, not B
		ans = b.next()
	}
	if ans.PeerID != pa || ans.OfferID != off.OfferID || !strings.Contains(string(ans.Answer), `o=- answer`) {
		t.Fatalf("relayed answer: %+v %s", ans, ans.Answer)
	}
	// The answerer gets no announce response for its answer.
	a.quiet(200 * time.Millisecond)
}

// A closed socket counts as "stopped"; "stopped" leaves the swarm.
func TestLeaving(t *testing.T) {
	s, addr := startTracker(t, Config{})
	ih := id("swarm-leaving-012345")
	a, b := dial(t, addr, nil), dial(t, addr, nil)
	a.sendJSON(announce(ih, id("peer-a-0123456789ab"), 0, "a"))
	a.next()
	b.sendJSON(announce(ih, id("peer-b-0123456789ab"), 0, "b"))
	if r := b.next(); r.Incomplete != 2 {
		t.Fatalf("%+v", r)
	}
	a.ws.Close()
	waitFor(t, func() bool { return swarmPeers(s, ih) == 1 })
	stop := announce(ih, id("peer-b-0123456789ab"), 0, "b")
	stop["event"] = "stopped"
	b.sendJSON(stop)
	b.next()
	waitFor(t, func() bool { return swarmPeers(s, ih) == 0 })
	s.mu.RLock()
	n := len(s.swarms)
	s.mu.RUnlock()
	if n != 0 {
		t.Fatalf("%d swarms left", n)
	}
}

func swarmPeers(s *Server, ih wire.ID) int {
	sw, _ := s.swarm(ih, false)
	if sw == nil {
		return 0
	}
	sw.mu.Lock()
	defer sw.mu.Unlock()
	return len(sw.all)
}

func waitFor(t *testing.T, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 5 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func fusioncastAnnounce(ih, peer wire.ID, offers int, tag, role, site string) map[string]any {
	m := announce(ih, peer, offers, tag)
	ext := map[string]any{"v": 1, "role": role}
	if site != "" {
		ext["site"] = site
	}
	m["fusioncast"] = ext
	return m
}

// Offers go to relays of the peer's site first, then its site's viewers,
// then anyone. Addresses come from X-Forwarded-For, trusted from loopback.
func TestLocality(t *testing.T) {
	campus := Site{Name: "campus", Prefixes: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}}
	_, addr := startTracker(t, Config{
		Sites:          []Site{campus},
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		EdgeFetchers:   1,
	})
	from := func(ip string) http.Header { return http.Header{"X-Forwarded-For": {ip}} }
	ih := id("swarm-locality-01234")

	far := make([]*client, 3)
	for i := range far {
		far[i] = dial(t, addr, from(fmt.Sprintf("192.0.2.%d", 10+i)))
		far[i].sendJSON(announce(ih, id(fmt.Sprintf("far-%d-0123456789abc", i)), 0, "f"))
		far[i].next()
	}
	relay := dial(t, addr, from("10.1.9.9"))
	relay.sendJSON(fusioncastAnnounce(ih, id("relay-0123456789abcd"), 0, "r", "relay", "campus"))
	if r := relay.next(); !r.HasExt || r.Ext.Site != "campus" || r.Ext.Edge {
		t.Fatalf("relay response: %+v", r)
	}
	local := dial(t, addr, from("10.1.3.4"))
	local.sendJSON(announce(ih, id("local-0123456789abcd"), 0, "l"))
	local.next()

	// A new campus viewer with one offer: the relay gets it.
	v := dial(t, addr, from("10.1.200.1"))
	v.sendJSON(announce(ih, id("new-01234567890abcde"), 1, "n"))
	if o := relay.next(); o.Offer == nil {
		t.Fatalf("relay got %+v", o)
	}
	v.next()
	// Another with two offers: the relay again, then the campus viewer(s).
	v2 := dial(t, addr, from("10.1.200.2"))
	v2.sendJSON(announce(ih, id("new2-1234567890abcde"), 2, "m"))
	if o := relay.next(); o.Offer == nil {
		t.Fatalf("relay got %+v", o)
	}
	got := 0
	for _, c := range []*client{local, v} {
		_ = c.ws.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if _, _, err := c.ws.ReadMessage(); err == nil {
			got++
		}
	}
	if got != 1 {
		t.Fatalf("%d campus viewers got the second offer, want 1", got)
	}
	for _, f := range far {
		f.quiet(200 * time.Millisecond)
	}
	// A relay outside the campus cannot claim it.
	impostor := dial(t, addr, from("192.0.2.50"))
	impostor.sendJSON(fusioncastAnnounce(ih, id("fake-relay-012345678"), 0, "i", "relay", "campus"))
	if r := impostor.next(); !r.HasExt || r.Ext.Site == "campus" {
		t.Fatalf("relay from outside the campus: %+v", r)
	}
}

// A relay's offers go to its site's edge fetchers first, never to another
// relay: the edge fetchers are the viewers that fetch from the origin until
// they have a relay peer.
func TestRelayOffersEdgesFirst(t *testing.T) {
	campus := Site{Name: "campus", Prefixes: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}}
	_, addr := startTracker(t, Config{
		Sites:          []Site{campus},
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		EdgeFetchers:   2,
	})
	from := func(ip string) http.Header { return http.Header{"X-Forwarded-For": {ip}} }
	ih := id("swarm-relay-edges-01")
	viewers := make([]*client, 8)
	for i := range viewers {
		viewers[i] = dial(t, addr, from(fmt.Sprintf("10.1.0.%d", 10+i)))
		viewers[i].sendJSON(fusioncastAnnounce(ih, id(fmt.Sprintf("viewer-%d-0123456789a", i)), 0, "v", "viewer", ""))
		if r := viewers[i].next(); r.Ext.Edge != (i < 2) {
			t.Fatalf("viewer %d: edge %v", i, r.Ext.Edge)
		}
	}
	var relays []*client
	for k := range 2 {
		relay := dial(t, addr, from(fmt.Sprintf("10.1.9.%d", k)))
		relays = append(relays, relay)
		rid := id(fmt.Sprintf("relay-%d-01234567890", k))
		relay.sendJSON(fusioncastAnnounce(ih, rid, 2, "r", "relay", "campus"))
		relay.next()
		// Both offers reach the two edge fetchers, among eight viewers.
		for i, v := range viewers[:2] {
			if o := v.next(); o.Offer == nil || o.PeerID != rid {
				t.Fatalf("relay %d: edge fetcher %d got %+v", k, i, o)
			}
		}
		for _, v := range viewers[2:] {
			v.quiet(50 * time.Millisecond)
		}
	}
	// The second relay's offers went to no relay.
	relays[0].quiet(100 * time.Millisecond)
}

// The first fusioncast viewers become edge fetchers; when one leaves the
// next is promoted and told.
func TestEdgeFetchers(t *testing.T) {
	_, addr := startTracker(t, Config{EdgeFetchers: 2})
	ih := id("swarm-edges-01234567")
	var cs []*client
	for i := range 3 {
		c := dial(t, addr, nil)
		c.sendJSON(fusioncastAnnounce(ih, id(fmt.Sprintf("edge-%d-0123456789ab", i)), 0, "e", "viewer", ""))
		r := c.next()
		if !r.HasExt {
			t.Fatalf("no extension in the response to a fusioncast peer: %+v", r)
		}
		if wantEdge := i < 2; r.Ext.Edge != wantEdge || (wantEdge && r.Ext.EdgeRank != i) {
			t.Fatalf("peer %d: edge %v rank %d", i, r.Ext.Edge, r.Ext.EdgeRank)
		}
		cs = append(cs, c)
	}
	// A plain WebTorrent client never becomes an edge fetcher and sees no
	// extension.
	plain := dial(t, addr, nil)
	plain.sendJSON(announce(ih, id("plain-0123456789abcd"), 0, "p"))
	if r := plain.next(); r.HasExt {
		t.Fatalf("plain client got an extension: %+v", r)
	}
	cs[0].ws.Close()
	r := cs[2].next()
	if !r.HasExt || !r.Ext.Edge || r.Ext.EdgeRank != 1 {
		t.Fatalf("promotion message: %+v", r)
	}
}

// Stats reported by peers add up per swarm in the admin API, which wants
// its token.
func TestStatsAndAdmin(t *testing.T) {
	_, addr := startTracker(t, Config{AdminToken: "s3cret"})
	ih := id("swarm-stats-01234567")
	for i, st := range []map[string]int{{"http": 100, "p2p": 300}, {"http": 0, "p2p": 500, "relay": 100, "stalls": 1}} {
		c := dial(t, addr, nil)
		m := fusioncastAnnounce(ih, id(fmt.Sprintf("stats-%d-0123456789a", i)), 0, "s", "viewer", "")
		m["fusioncast"].(map[string]any)["stats"] = st
		c.sendJSON(m)
		c.next()
	}
	get := func(path, token string) (int, map[string]any) {
		req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v map[string]any
		b, _ := io.ReadAll(resp.Body)
		_ = json.Unmarshal(b, &v)
		return resp.StatusCode, v
	}
	if code, _ := get("/admin/swarms", ""); code != http.StatusUnauthorized {
		t.Fatalf("no token: %d", code)
	}
	if code, _ := get("/admin/swarms", "wrong"); code != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d", code)
	}
	code, v := get("/admin/swarms", "s3cret")
	if code != 200 {
		t.Fatalf("admin: %d %v", code, v)
	}
	sws := v["swarms"].([]any)
	st := sws[0].(map[string]any)["stats"].(map[string]any)
	if st["http"].(float64) != 100 || st["p2p"].(float64) != 800 || st["relay"].(float64) != 100 || st["stalls"].(float64) != 1 {
		t.Fatalf("stats: %v", st)
	}
	if off := st["offload"].(float64); off < 0.899 || off > 0.901 {
		t.Fatalf("offload %v, want 0.9", off)
	}
	code, v = get("/admin/swarms/"+hex.EncodeToString(ih[:]), "s3cret")
	if code != 200 || len(v["peers"].([]any)) != 2 {
		t.Fatalf("swarm detail: %d %v", code, v)
	}
	if code, _ := get("/admin/server", "s3cret"); code != 200 {
		t.Fatalf("server: %d", code)
	}
}

// Every edge fetcher whose rank changes is told at once with an unsolicited
// announce response, not at its next announce (the interval is 120 s): when
// the primary leaves, each backup moves up a rank and the next viewer is
// promoted. Peers whose rank did not change are told nothing.
func TestEdgeRanksCloseUp(t *testing.T) {
	_, addr := startTracker(t, Config{EdgeFetchers: 3})
	ih := id("swarm-ranks-01234567")
	// Six fusioncast viewers, oldest first: 0, 1 and 2 are edge fetchers
	// of ranks 0, 1 and 2; 3, 4 and 5 wait. A plain WebTorrent client is
	// never an edge fetcher.
	var cs []*client
	for i := range 6 {
		c := dial(t, addr, nil)
		c.sendJSON(fusioncastAnnounce(ih, id(fmt.Sprintf("rank-%d-0123456789ab", i)), 0, "k", "viewer", ""))
		r := c.next()
		if wantEdge := i < 3; r.Ext.Edge != wantEdge || (wantEdge && r.Ext.EdgeRank != i) {
			t.Fatalf("peer %d: edge %v rank %d", i, r.Ext.Edge, r.Ext.EdgeRank)
		}
		cs = append(cs, c)
	}
	plain := dial(t, addr, nil)
	plain.sendJSON(announce(ih, id("plain-rank-012345678"), 0, "p"))
	plain.next()

	// expect reads the next message of viewer number who and checks that
	// it came at once and is an announce response, shaped like the reply
	// to an announce, that makes the viewer an edge fetcher of rank.
	expect := func(who, rank, incomplete int) {
		t.Helper()
		start := time.Now()
		r := cs[who].next()
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("viewer %d told after %v", who, d)
		}
		if r.Action != wire.ActionAnnounce || r.InfoHash != ih || r.Interval != 120 || r.Complete != 0 ||
			r.Incomplete != incomplete || r.Offer != nil || !r.HasExt || !r.Ext.Edge || r.Ext.EdgeRank != rank {
			t.Fatalf("viewer %d: want rank %d among %d peers, got %+v", who, rank, incomplete, r)
		}
	}

	// The last backup leaves: viewer 3 is promoted to rank 2, and the
	// ranks before it stay as they were.
	cs[2].ws.Close()
	expect(3, 2, 6)

	// The primary leaves: 1 and 3 move up to ranks 0 and 1, and viewer 4 is
	// promoted to rank 2. Had viewer 1 been told anything when 2 left, that
	// message would come first.
	cs[0].ws.Close()
	expect(1, 0, 5)
	expect(3, 1, 5)
	expect(4, 2, 5)

	// One message each, and nothing for viewer 5, still waiting, or the
	// plain client.
	for _, c := range []*client{cs[1], cs[3], cs[4], cs[5], plain} {
		c.quiet(300 * time.Millisecond)
	}
}
