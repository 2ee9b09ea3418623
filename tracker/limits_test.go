package tracker

import (
	"fmt"
	"net"
	"runtime"
	"strings"
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
