package rtc

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/webrtc/v4"

	"fusioncast/tracker"
	"fusioncast/tracker/wire"
)

// Every test sends traffic to loopback only: peers gather candidates on lo,
// the tracker listens on 127.0.0.1.
var testICE = ICEConfig{Interfaces: []string{"lo"}, Loopback: true}

func id(s string) wire.ID {
	var v wire.ID
	copy(v[:], s)
	return v
}

var testSwarm = id("rtc-test-swarm-00001")

// testLogger logs to the test at the level in FUSIONCAST_TEST_LOG
// ("debug", "info"; default: warnings and errors).
func testLogger(t *testing.T, name string) *slog.Logger {
	level := slog.LevelWarn
	switch strings.ToLower(os.Getenv("FUSIONCAST_TEST_LOG")) {
	case "debug":
		level = slog.LevelDebug
	case "info":
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: level})).With("peer", name)
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// startTracker runs a tracker on loopback until the test ends and returns
// its announce URL.
func startTracker(t *testing.T, cfg tracker.Config) string {
	t.Helper()
	url, _ := runTracker(t, cfg, "127.0.0.1:0")
	return url
}

// runTracker runs a tracker listening on addr until stop is called or the
// test ends.
func runTracker(t *testing.T, cfg tracker.Config, addr string) (url string, stop func()) {
	t.Helper()
	s, err := tracker.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, ln) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("tracker: %v", err)
				}
			case <-time.After(20 * time.Second):
				t.Error("tracker did not stop")
			}
		})
	}
	t.Cleanup(stop)
	return "ws://" + ln.Addr().String() + "/announce", stop
}

// peer is one Run under test, recording what it sees.
type peer struct {
	t      *testing.T
	name   string
	s      *session
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	open     map[*Conn]bool
	maxOpen  int
	opened   int
	closed   int
	edges    []string
	conns    chan *Conn   // every opened connection
	closes   chan *Conn   // every closed connection
	messages chan message // every message received
}

type message struct {
	c *Conn
	b []byte
}

// startPeer runs a peer until the test ends (or p.stop). cfg's tracker,
// swarm, peer ID, ICE and logger are filled in when unset; cfg.OnConn, if
// set, runs at the start of the peer's own.
func startPeer(t *testing.T, name, url string, cfg Config) *peer {
	t.Helper()
	p := &peer{
		t: t, name: name, done: make(chan struct{}), open: make(map[*Conn]bool),
		conns: make(chan *Conn, 100), closes: make(chan *Conn, 100), messages: make(chan message, 1000),
	}
	if cfg.TrackerURL == "" {
		cfg.TrackerURL = url
	}
	if cfg.InfoHash == (wire.ID{}) {
		cfg.InfoHash = testSwarm
	}
	if cfg.PeerID == (wire.ID{}) {
		cfg.PeerID = id(fmt.Sprintf("-FC0001-%-12s", name))
	}
	if cfg.ICE.Interfaces == nil {
		cfg.ICE = testICE
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t, name)
	}
	cfg.OnEdge = func(edge bool, rank int) {
		p.mu.Lock()
		p.edges = append(p.edges, fmt.Sprintf("%v/%d", edge, rank))
		p.mu.Unlock()
	}
	hook := cfg.OnConn // runs first, before the handlers are set
	cfg.OnConn = func(c *Conn) {
		if hook != nil {
			hook(c)
		}
		p.mu.Lock()
		p.open[c] = true
		p.opened++
		p.maxOpen = max(p.maxOpen, len(p.open))
		p.mu.Unlock()
		c.OnMessage(func(b []byte) { p.messages <- message{c, append([]byte(nil), b...)} })
		c.OnClose(func() {
			p.mu.Lock()
			delete(p.open, c)
			p.closed++
			p.mu.Unlock()
			p.closes <- c
		})
		p.conns <- c
	}
	s, err := newSession(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p.s = s
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go func() {
		defer close(p.done)
		s.run(ctx)
	}()
	t.Cleanup(func() { p.stop() })
	return p
}

// stop ends the peer's Run and waits for it.
func (p *peer) stop() {
	p.t.Helper()
	p.cancel()
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.t.Errorf("%s: Run did not return", p.name)
	}
}

// snap is a peer's session state, read in its loop.
type snap struct {
	joined         bool // announced on the current tracker connection
	peers, pending int
	live           int64
}

func (p *peer) snapshot() snap {
	p.t.Helper()
	ch := make(chan snap, 1)
	ok := p.s.post(func() {
		ch <- snap{joined: p.s.tc != nil && p.s.tc.joined, peers: len(p.s.peers), pending: len(p.s.pending), live: p.s.livePCs.Load()}
	})
	if !ok {
		return snap{live: p.s.livePCs.Load()}
	}
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		p.t.Fatalf("%s: loop does not answer", p.name)
		return snap{}
	}
}

func (p *peer) openCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.open)
}

// nextConn waits for the next opened connection.
func (p *peer) nextConn(d time.Duration) *Conn {
	p.t.Helper()
	select {
	case c := <-p.conns:
		return c
	case <-time.After(d):
		p.t.Fatalf("%s: no connection opened in %v", p.name, d)
		return nil
	}
}

// eventually polls cond until it holds, failing the test after d.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkGoroutines waits for the goroutine count to come back to the
// baseline (pion's timers and the tracker wind down in the background); a
// few more than the baseline after 20 s are logged, more fail the test.
func checkGoroutines(t *testing.T, baseline int) {
	t.Helper()
	const slack = 2
	deadline := time.Now().Add(20 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= baseline {
			t.Logf("goroutines: %d (baseline %d)", n, baseline)
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			if n <= baseline+slack {
				t.Logf("goroutines: %d, baseline %d\n%s", n, baseline, buf)
				return
			}
			t.Fatalf("goroutines: %d, baseline %d\n%s", n, baseline, buf)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (p *peer) edgeEvents() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.edges)
}

// foreign is a client that is not a fusioncast peer: a raw pion peer
// connection whose offer goes through the tracker as a plain WebTorrent
// client sends it (no fusioncast extension).
type foreign struct {
	ws       *websocket.Conn
	pc       *webrtc.PeerConnection
	dc       *webrtc.DataChannel
	peerID   wire.ID
	dcOpen   chan struct{}
	dcClosed chan struct{}
	pcDone   chan struct{} // the peer connection failed or closed
}

// offerFrom announces one offer with a data channel labelled label and
// completes it with the answer the tracker relays back.
func offerFrom(t *testing.T, url, label string, peerID wire.ID) *foreign {
	t.Helper()
	api, _, err := newAPI(testICE, pionLogs{testLogger(t, "foreign")})
	if err != nil {
		t.Fatal(err)
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	f := &foreign{pc: pc, peerID: peerID, dcOpen: make(chan struct{}), dcClosed: make(chan struct{}), pcDone: make(chan struct{})}
	var pcOnce, openOnce, closeOnce sync.Once
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		if st == webrtc.PeerConnectionStateFailed || st == webrtc.PeerConnectionStateClosed {
			pcOnce.Do(func() { close(f.pcDone) })
		}
	})
	t.Cleanup(func() { _ = pc.GracefulClose() })
	if f.dc, err = pc.CreateDataChannel(label, nil); err != nil {
		t.Fatal(err)
	}
	f.dc.OnOpen(func() { openOnce.Do(func() { close(f.dcOpen) }) })
	f.dc.OnClose(func() { closeOnce.Do(func() { close(f.dcClosed) }) })
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	select {
	case <-gathered:
	case <-time.After(10 * time.Second):
		t.Fatal("gathering did not complete")
	}
	sdp, err := json.Marshal(pc.LocalDescription())
	if err != nil {
		t.Fatal(err)
	}

	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	if f.ws, _, err = d.Dial(url, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.ws.Close() })
	offerID := id("foreign-offer-" + label)
	req := wire.Request{
		Action: wire.ActionAnnounce, InfoHash: testSwarm, PeerID: peerID, Event: wire.EventStarted,
		NumWant: 1, Left: -1, Offers: []wire.Offer{{ID: offerID, SDP: sdp}},
	}
	if err := f.ws.WriteMessage(websocket.TextMessage, wire.AppendRequest(nil, &req)); err != nil {
		t.Fatal(err)
	}
	_ = f.ws.SetReadDeadline(time.Now().Add(60 * time.Second))
	for {
		_, b, err := f.ws.ReadMessage()
		if err != nil {
			t.Fatalf("no answer: %v", err)
		}
		var r wire.Response
		if err := wire.ParseResponse(b, &r); err != nil {
			t.Fatal(err)
		}
		if r.FailureReason != "" {
			t.Fatalf("tracker: %s", r.FailureReason)
		}
		if r.Answer == nil || r.OfferID != offerID {
			continue
		}
		var answer webrtc.SessionDescription
		if err := json.Unmarshal(r.Answer, &answer); err != nil {
			t.Fatal(err)
		}
		if err := pc.SetRemoteDescription(answer); err != nil {
			t.Fatal(err)
		}
		return f
	}
}

// adminSwarm reads the tracker's admin view of the test swarm into v.
func adminSwarm(t *testing.T, url string, v any) {
	t.Helper()
	u := strings.Replace(strings.Replace(url, "ws://", "http://", 1), "/announce", "/admin/swarms/"+hex.EncodeToString(testSwarm[:]), 1)
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// swarmPeers returns the number of peers the tracker has in the test
// swarm.
func swarmPeers(t *testing.T, url string) int {
	t.Helper()
	var v struct {
		Peers []json.RawMessage `json:"peers"`
	}
	adminSwarm(t, url, &v)
	return len(v.Peers)
}

// kick has the tracker close p's connection through the admin API, as an
// operator would.
func kick(t *testing.T, url string, p *peer) {
	t.Helper()
	u := strings.Replace(strings.Replace(url, "ws://", "http://", 1), "/announce",
		"/admin/swarms/"+hex.EncodeToString(testSwarm[:])+"/peers/"+hex.EncodeToString(p.s.cfg.PeerID[:])+"/kick", 1)
	resp, err := http.Post(u, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("kick %s: %s", p.name, resp.Status)
	}
}
