// Package load is a closed-loop load generator for WebTorrent websocket
// trackers, ours or any other (the npm bittorrent-tracker, aquatic_ws…):
// the engine of `fusioncast trackerload`. Each connection announces with a
// number of offers carrying a realistic SDP, answers every offer it receives,
// and announces again as soon as its announce response arrives. It reports
// messages received per second and announce latency.
package load

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"fusioncast/tracker/wire"
)

// ErrBadConfig is returned by [Run] for a configuration it cannot run.
var ErrBadConfig = errors.New("load: bad configuration")

// Config configures a run. The zero value of each field means the stated
// default.
type Config struct {
	// URL is the tracker's websocket URL (ws:// or wss://). Required.
	URL string
	// Connections is the number of websocket connections (each one peer).
	// If zero, 1,000.
	Connections int
	// Swarms is the number of swarms the peers spread over. If zero, 100.
	Swarms int
	// Offers per announce. If zero, 10.
	Offers int
	// SDPBytes is the size of each offer's SDP. If zero, 1,300.
	SDPBytes int
	// Duration of the measured run, after every connection is up. If zero,
	// 10 s.
	Duration time.Duration
	// DialConcurrency bounds connections being opened at once. If zero, 64.
	DialConcurrency int
	// Header is sent with every handshake (e.g. X-Forwarded-For).
	Header http.Header
	// SourceAddrs are local addresses to spread the connections over (a
	// 127.0.0.x address has about 28,000 ephemeral ports). If empty, the
	// system chooses.
	SourceAddrs []netip.Addr
	// Idle, instead of the closed loop, announces once per connection
	// (without offers) and holds the connections open until ctx ends: the
	// memory benchmark. Ready is called when every announce is answered.
	Idle  bool
	Ready func(connected int)
}

// Result is what a run measured. Rates are per second of the measured run.
type Result struct {
	URL               string  `json:"url"`
	Connections       int     `json:"connections"`
	Connected         int     `json:"connected"`
	Swarms            int     `json:"swarms"`
	Offers            int     `json:"offers_per_announce"`
	DurationS         float64 `json:"duration_s"`
	Responses         int64   `json:"responses"`
	ResponsesPerS     float64 `json:"responses_per_s"`
	AnnounceResponses int64   `json:"announce_responses"`
	OffersReceived    int64   `json:"offers_received"`
	AnswersReceived   int64   `json:"answers_received"`
	Failures          int64   `json:"failures"`
	AnnouncesSent     int64   `json:"announces_sent"`
	AnswersSent       int64   `json:"answers_sent"`
	Errors            int64   `json:"errors"`
	LatencyMsP50      float64 `json:"announce_latency_ms_p50"`
	LatencyMsP90      float64 `json:"announce_latency_ms_p90"`
	LatencyMsP99      float64 `json:"announce_latency_ms_p99"`
	LastFailure       string  `json:"last_failure,omitempty"`
}

type counters struct {
	responses, announceResp, offers, answers, failures atomic.Int64
	announcesSent, answersSent, errors                 atomic.Int64
	measuring                                          atomic.Bool
	mu                                                 sync.Mutex
	lastFailure                                        string
}

// Run opens the connections, then loads the tracker for cfg.Duration and
// returns the figures. It returns an error only if the configuration is bad
// or no connection could be opened.
func Run(ctx context.Context, cfg Config) (Result, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return Result{}, fmt.Errorf("%w: URL %q is not ws:// or wss://", ErrBadConfig, cfg.URL)
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&cfg.Connections, 1000)
	def(&cfg.Swarms, 100)
	def(&cfg.Offers, 10)
	def(&cfg.SDPBytes, 1300)
	def(&cfg.DialConcurrency, 64)
	if cfg.Duration <= 0 {
		cfg.Duration = 10 * time.Second
	}
	if cfg.Offers > wire.MaxOffers {
		return Result{}, fmt.Errorf("%w: %d offers per announce > %d", ErrBadConfig, cfg.Offers, wire.MaxOffers)
	}

	swarms := make([]wire.ID, cfg.Swarms)
	for i := range swarms {
		_, _ = rand.Read(swarms[i][:])
	}
	c := &counters{}
	dialer := websocket.Dialer{HandshakeTimeout: 10 * time.Second, ReadBufferSize: 16 << 10, WriteBufferSize: 32 << 10}

	// Open every connection first, so that the measurement does not include
	// handshakes.
	conns := make([]*websocket.Conn, cfg.Connections)
	dialers := []*websocket.Dialer{&dialer}
	for _, a := range cfg.SourceAddrs {
		d := dialer
		nd := &net.Dialer{LocalAddr: &net.TCPAddr{IP: a.AsSlice()}}
		d.NetDialContext = nd.DialContext
		dialers = append(dialers, &d)
	}
	if len(dialers) > 1 {
		dialers = dialers[1:]
	}
	sem := make(chan struct{}, cfg.DialConcurrency)
	var wg sync.WaitGroup
	var dialErr atomic.Value
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ws, _, err := dialers[i%len(dialers)].DialContext(ctx, cfg.URL, cfg.Header)
			if err != nil {
				c.errors.Add(1)
				dialErr.Store(err)
				return
			}
			conns[i] = ws
		}()
	}
	wg.Wait()
	connected := 0
	for _, ws := range conns {
		if ws != nil {
			connected++
		}
	}
	if connected == 0 {
		err, _ := dialErr.Load().(error)
		return Result{}, fmt.Errorf("load: no connection to %s: %v", cfg.URL, err)
	}

	if cfg.Idle {
		return idle(ctx, conns, swarms, cfg, connected, c)
	}
	runCtx, cancel := context.WithCancel(ctx)
	lat := make([][]time.Duration, len(conns))
	for i, ws := range conns {
		if ws == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat[i] = peerLoop(runCtx, ws, swarms[i%len(swarms)], cfg, c)
		}()
	}
	// Warm up one second, then measure.
	select {
	case <-ctx.Done():
	case <-time.After(time.Second):
	}
	base := snapshot(c)
	c.measuring.Store(true)
	start := time.Now()
	select {
	case <-ctx.Done():
	case <-time.After(cfg.Duration):
	}
	c.measuring.Store(false)
	elapsed := time.Since(start)
	end := snapshot(c)
	cancel()
	for _, ws := range conns {
		if ws != nil {
			_ = ws.Close()
		}
	}
	wg.Wait()

	r := Result{
		URL: cfg.URL, Connections: cfg.Connections, Connected: connected, Swarms: cfg.Swarms, Offers: cfg.Offers,
		DurationS:         elapsed.Seconds(),
		Responses:         end[0] - base[0],
		AnnounceResponses: end[1] - base[1],
		OffersReceived:    end[2] - base[2],
		AnswersReceived:   end[3] - base[3],
		Failures:          end[4] - base[4],
		AnnouncesSent:     end[5] - base[5],
		AnswersSent:       end[6] - base[6],
		Errors:            c.errors.Load(),
	}
	r.ResponsesPerS = float64(r.Responses) / r.DurationS
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	pct := func(p int) float64 {
		if len(all) == 0 {
			return 0
		}
		return float64(all[min(len(all)*p/100, len(all)-1)]) / 1e6
	}
	r.LatencyMsP50, r.LatencyMsP90, r.LatencyMsP99 = pct(50), pct(90), pct(99)
	c.mu.Lock()
	r.LastFailure = c.lastFailure
	c.mu.Unlock()
	return r, nil
}

func snapshot(c *counters) [7]int64 {
	return [7]int64{c.responses.Load(), c.announceResp.Load(), c.offers.Load(), c.answers.Load(),
		c.failures.Load(), c.announcesSent.Load(), c.answersSent.Load()}
}

// fakeSDP returns a data-channel-only SDP of about n bytes, in the shape
// Chromium writes.
func fakeSDP(kind string, n int) string {
	var r [8]byte
	_, _ = rand.Read(r[:])
	var b strings.Builder
	fmt.Fprintf(&b, "v=0\r\no=- %d 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\na=extmap-allow-mixed\r\na=msid-semantic: WMS\r\n", uint64(r[0])<<32|uint64(r[1]))
	b.WriteString("m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n")
	fmt.Fprintf(&b, "a=ice-ufrag:%x\r\na=ice-pwd:%x%x\r\na=ice-options:trickle\r\n", r[:2], r[:], r[:])
	b.WriteString("a=fingerprint:sha-256 4F:9A:0B:33:7E:12:C8:AA:51:6D:90:2F:EE:71:04:B3:8C:DD:19:62:A7:3E:F0:55:1B:C4:88:09:6E:2A:D7:31\r\n")
	fmt.Fprintf(&b, "a=setup:%s\r\na=mid:0\r\na=sctp-port:5000\r\na=max-message-size:262144\r\n", map[string]string{"offer": "actpass", "answer": "active"}[kind])
	for i := 0; b.Len() < n-100; i++ {
		fmt.Fprintf(&b, "a=candidate:%d 1 udp 2122260223 10.213.%d.%d %d typ host generation 0 network-id 1\r\n", 1000+i, i%250, 1+i%250, 50000+i)
	}
	return b.String()
}

func sessionJSON(kind, sdp string) []byte {
	b := []byte(`{"type":"` + kind + `","sdp":`)
	b = appendJSONString(b, sdp)
	return append(b, '}')
}

func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\r':
			b = append(b, `\r`...)
		case '\n':
			b = append(b, `\n`...)
		case '"', '\\':
			b = append(b, '\\', c)
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// peerLoop is one peer: announce, answer offers, announce again on each
// announce response. It returns the announce latencies measured.
func peerLoop(ctx context.Context, ws *websocket.Conn, ih wire.ID, cfg Config, c *counters) []time.Duration {
	var peerID wire.ID
	_, _ = rand.Read(peerID[:])
	offer := sessionJSON("offer", fakeSDP("offer", cfg.SDPBytes))
	answer := sessionJSON("answer", fakeSDP("answer", cfg.SDPBytes))
	req := wire.Request{Action: wire.ActionAnnounce, InfoHash: ih, PeerID: peerID, NumWant: cfg.Offers, Left: -1, Event: wire.EventStarted}
	req.Offers = make([]wire.Offer, cfg.Offers)
	for i := range req.Offers {
		req.Offers[i].SDP = offer
	}
	ans := wire.Request{Action: wire.ActionAnnounce, InfoHash: ih, PeerID: peerID, NumWant: -1, Left: -1, Answer: answer}
	var (
		buf     []byte
		resp    wire.Response
		sentAt  time.Time
		lats    []time.Duration
		sending = true
	)
	sendAnnounce := func() bool {
		for i := range req.Offers {
			_, _ = rand.Read(req.Offers[i].ID[:])
		}
		buf = wire.AppendRequest(buf[:0], &req)
		req.Event = wire.EventNone
		sentAt = time.Now()
		if err := ws.WriteMessage(websocket.TextMessage, buf); err != nil {
			return false
		}
		if c.measuring.Load() {
			c.announcesSent.Add(1)
		}
		return true
	}
	if !sendAnnounce() {
		return nil
	}
	for sending && ctx.Err() == nil {
		_, msg, err := ws.ReadMessage()
		if err != nil {
			if ctx.Err() == nil {
				c.errors.Add(1)
			}
			return lats
		}
		measuring := c.measuring.Load()
		c.responses.Add(1)
		if err := wire.ParseResponse(msg, &resp); err != nil {
			c.errors.Add(1)
			continue
		}
		switch {
		case resp.FailureReason != "":
			c.failures.Add(1)
			c.mu.Lock()
			c.lastFailure = resp.FailureReason
			c.mu.Unlock()
			// Back off a little and announce again (rate limits).
			time.Sleep(100 * time.Millisecond)
			sending = sendAnnounce()
		case resp.Offer != nil:
			c.offers.Add(1)
			ans.ToPeerID, ans.OfferID = resp.PeerID, resp.OfferID
			buf = wire.AppendRequest(buf[:0], &ans)
			if ws.WriteMessage(websocket.TextMessage, buf) != nil {
				return lats
			}
			if measuring {
				c.answersSent.Add(1)
			}
		case resp.Answer != nil:
			c.answers.Add(1)
		case resp.Action == wire.ActionAnnounce && resp.Interval >= 0:
			c.announceResp.Add(1)
			if measuring && len(lats) < 100_000 {
				lats = append(lats, time.Since(sentAt))
			}
			sending = sendAnnounce()
		}
	}
	return lats
}

// idle announces once on every connection, waits for the answers, calls
// cfg.Ready and holds the connections until ctx ends.
func idle(ctx context.Context, conns []*websocket.Conn, swarms []wire.ID, cfg Config, connected int, c *counters) (Result, error) {
	var wg sync.WaitGroup
	var answered atomic.Int64
	sem := make(chan struct{}, cfg.DialConcurrency)
	for i, ws := range conns {
		if ws == nil {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			var peerID wire.ID
			_, _ = rand.Read(peerID[:])
			req := wire.Request{Action: wire.ActionAnnounce, InfoHash: swarms[i%len(swarms)], PeerID: peerID, NumWant: 0, Left: -1, Event: wire.EventStarted}
			if ws.WriteMessage(websocket.TextMessage, wire.AppendRequest(nil, &req)) != nil {
				c.errors.Add(1)
				return
			}
			_ = ws.SetReadDeadline(time.Now().Add(30 * time.Second))
			if _, _, err := ws.ReadMessage(); err != nil {
				c.errors.Add(1)
				return
			}
			_ = ws.SetReadDeadline(time.Time{})
			answered.Add(1)
		}()
	}
	wg.Wait()
	if cfg.Ready != nil {
		cfg.Ready(int(answered.Load()))
	}
	<-ctx.Done()
	for _, ws := range conns {
		if ws != nil {
			_ = ws.Close()
		}
	}
	return Result{URL: cfg.URL, Connections: cfg.Connections, Connected: connected, Swarms: cfg.Swarms,
		AnnounceResponses: answered.Load(), Errors: c.errors.Load()}, nil
}
