// Package load is a closed-loop load generator for WebTorrent websocket
// trackers, ours or any other (the npm bittorrent-tracker, aquatic_ws…):
// the engine of `fusioncast trackerload`.
//
// # The loop
//
// Every connection is one peer in one of Config.Swarms swarms. It announces
// with Config.Offers offers, each carrying a realistic SDP and a fresh
// random offer_id, and then:
//
//   - it has at most one announce outstanding: the next announce goes out
//     when the tracker's response to the previous one arrives, or after a
//     failure response and a 100 ms pause, or when the previous one has
//     waited Config.AnnounceTimeout (counted as a timeout error; that
//     announce is given up, and a response to it arriving later is a late
//     response; a tracker that never answers an announce at all leaves
//     that connection one reply behind for good: its later responses count
//     as late and timeouts recur, which the errors show);
//   - it answers every relayed offer as it arrives (in the same write as
//     anything else the same read brought about), without waiting;
//   - it counts relayed answers.
//
// # Which message answers an announce
//
// An announce's response is a message with "action":"announce", no "offer",
// no "answer" and no "failure reason", for the connection's own info_hash.
// Trackers send the replies to one connection's requests in order, so the
// connection matches them to its requests first in, first out. Some
// trackers also reply to every answer with such a message, others
// (bittorrent-tracker) do not; before the run, two extra connections find
// out which by a probe (an answer followed by an announce: one or two
// replies), reported as tracker_acks_answers. When the tracker acknowledges
// answers, each answer waits in the queue too and its reply is counted as
// an answer acknowledgement, never as an announce response. Relayed offers
// and answers are recognized by their structure (their SDP is passed on,
// not validated); every other message goes through the wire package's
// parser.
//
// # Definitions
//
// Announce latency is the time from just before the write system call that
// sends an announce to just after the read system call that returns its own
// response (as matched above), on the load tool's monotonic clock. Failure
// responses are not latency samples. A late response (after the timeout)
// is a sample with its true latency. Percentiles are nearest-rank over the
// samples whose response arrived in the measured window.
//
// The measured window starts Config.Warmup (one second) after every
// connection is up and lasts Config.Duration. Messages are counted when
// they arrive in the window, requests when they are sent in it. Responses
// are the announce responses, relayed offers and relayed answers received:
// the protocol's work, comparable between trackers. Answer
// acknowledgements, failures and anything else are counted apart.
//
// Errors are counted by kind from the first dial until the run's orderly end
// (which closes every connection and is never an error):
//
//	dial      a connection could not be opened (TCP, TLS or handshake)
//	write     sending failed; the connection is lost
//	read      receiving failed or the tracker closed the connection; lost
//	timeout   an announce had no response within Config.AnnounceTimeout
//	protocol  a message that is not a valid tracker message (unparseable
//	          JSON, a binary message, a reply with nothing outstanding, an
//	          announce response for another info_hash), or a broken
//	          websocket frame (the connection is then lost)
package load

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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
	// Duration of the measured window. If zero, 10 s.
	Duration time.Duration
	// Warmup is the time between every connection being up and the
	// window. If zero, 1 s.
	Warmup time.Duration
	// AnnounceTimeout is how long a connection waits for an announce's
	// response before it counts a timeout and announces again. If zero,
	// 5 s.
	AnnounceTimeout time.Duration
	// DialConcurrency bounds connections being opened at once. If zero, 64.
	DialConcurrency int
	// Header is sent with every handshake (e.g. X-Forwarded-For).
	Header http.Header
	// SourceAddrs are local addresses to spread the connections over (a
	// 127.0.0.x address has about 28,000 ephemeral ports). If empty, the
	// system chooses.
	SourceAddrs []netip.Addr
	// TrackerPID, if not zero, is the process ID of the tracker (on this
	// machine, Linux): its CPU time in the window is reported.
	TrackerPID int
	// Idle, instead of the closed loop, announces once per connection
	// (without offers) and holds the connections open until ctx ends: the
	// memory benchmark. Ready is called when every announce is answered.
	Idle  bool
	Ready func(connected int)
}

// ErrorCounts are errors by kind; see the package documentation.
type ErrorCounts struct {
	Dial     int64 `json:"dial"`
	Write    int64 `json:"write"`
	Read     int64 `json:"read"`
	Timeout  int64 `json:"timeout"`
	Protocol int64 `json:"protocol"`
}

// Total is the sum over kinds.
func (e ErrorCounts) Total() int64 { return e.Dial + e.Write + e.Read + e.Timeout + e.Protocol }

func (e *ErrorCounts) add(o *ErrorCounts) {
	e.Dial += o.Dial
	e.Write += o.Write
	e.Read += o.Read
	e.Timeout += o.Timeout
	e.Protocol += o.Protocol
}

// Result is what a run measured. Counts are over the measured window and
// rates per second of it, except the errors (the whole run) and the
// connection counts. The package documentation defines the terms.
type Result struct {
	URL         string  `json:"url"`
	Connections int     `json:"connections"`
	Connected   int     `json:"connected"` // connections opened
	Swarms      int     `json:"swarms"`
	Offers      int     `json:"offers_per_announce"`
	DurationS   float64 `json:"duration_s"` // of the measured window
	// Responses = AnnounceResponses + OffersReceived + AnswersReceived.
	Responses     int64   `json:"responses"`
	ResponsesPerS float64 `json:"responses_per_s"`
	// AnnounceResponses are responses to this run's announces, late ones
	// included (in the idle mode: connections whose announce was answered).
	AnnounceResponses     int64 `json:"announce_responses"`
	LateAnnounceResponses int64 `json:"late_announce_responses"`
	OffersReceived        int64 `json:"offers_received"`
	AnswersReceived       int64 `json:"answers_received"`
	// AnswerAcks are the replies of a tracker that acknowledges answers.
	AnswerAcks int64 `json:"answer_acks"`
	Failures   int64 `json:"failures"` // messages with a "failure reason"
	// OtherMessages are the messages counted as protocol errors.
	OtherMessages int64 `json:"other_messages"`
	// MessagesReceived counts every message: Responses + AnswerAcks +
	// Failures + OtherMessages.
	MessagesReceived int64 `json:"messages_received"`
	AnnouncesSent    int64 `json:"announces_sent"`
	AnswersSent      int64 `json:"answers_sent"`
	// Errors is ErrorsByKind.Total(), from the first dial to the orderly
	// end of the run.
	Errors       int64       `json:"errors"`
	ErrorsByKind ErrorCounts `json:"errors_by_kind"`
	// ConnectionsLost are connections that ended on an error before the
	// orderly end.
	ConnectionsLost int `json:"connections_lost"`
	// TrackerAcksAnswers is what the probe found (false if it could not
	// tell: ProbeError says why).
	TrackerAcksAnswers bool   `json:"tracker_acks_answers"`
	ProbeError         string `json:"probe_error,omitempty"`
	// Announce latency, in milliseconds, and the number of samples.
	LatencyMsP50   float64 `json:"announce_latency_ms_p50"`
	LatencyMsP90   float64 `json:"announce_latency_ms_p90"`
	LatencyMsP99   float64 `json:"announce_latency_ms_p99"`
	LatencyMsMax   float64 `json:"announce_latency_ms_max"`
	LatencySamples int64   `json:"announce_latency_samples"`
	// LoadCPUSeconds is the CPU time (user + system) of the load tool's
	// whole process during the window, 0 where it cannot be read, and
	// LoadCPUPer100k that per 100,000 responses.
	LoadCPUSeconds float64 `json:"load_cpu_s"`
	LoadCPUPer100k float64 `json:"load_cpu_s_per_100k_responses"`
	// TrackerCPUSeconds is the CPU time of the process Config.TrackerPID
	// during the window, and ResponsesPerTrackerCPUS Responses per second
	// of it (0 without a TrackerPID).
	TrackerCPUSeconds       float64 `json:"tracker_cpu_s,omitempty"`
	ResponsesPerTrackerCPUS float64 `json:"responses_per_tracker_cpu_s,omitempty"`
	LastFailure             string  `json:"last_failure,omitempty"`
	// LastError is an example of the errors, "kind: message".
	LastError string `json:"last_error,omitempty"`
}

// Phases of a run, seen by every connection.
const (
	phaseWarmup = iota
	phaseMeasure
	phaseStop // the orderly end: nothing is an error any more
)

// retryPause is how long a connection waits to announce again after a
// failure response (a tracker's rate limit, say).
const retryPause = 100 * time.Millisecond

// maxSamples bounds the latency samples kept per connection.
const maxSamples = 1 << 20

// runner is what the connections of a run share. Only phase changes while
// they run.
type runner struct {
	phase   atomic.Int32
	base    time.Time // the origin of the connections' clocks
	timeout int64     // Config.AnnounceTimeout, in ns
	acks    bool      // the tracker replies to answers
}

// now is the time on the run's monotonic clock, in ns.
func (r *runner) now() int64 { return int64(time.Since(r.base)) }

func (r *runner) at(ns int64) time.Time { return r.base.Add(time.Duration(ns)) }

// stats are one connection's counters, read after it ends.
type stats struct {
	announceResp, late, offers, answers, acks, failures, other, messages int64
	announcesSent, answersSent                                           int64
	errs                                                                 ErrorCounts
	lost                                                                 bool
	lat                                                                  []int64
	lastFailure, lastError                                               string
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
	if cfg.Warmup <= 0 {
		cfg.Warmup = time.Second
	}
	if cfg.AnnounceTimeout <= 0 {
		cfg.AnnounceTimeout = 5 * time.Second
	}
	if cfg.Offers > wire.MaxOffers {
		return Result{}, fmt.Errorf("%w: %d offers per announce > %d", ErrBadConfig, cfg.Offers, wire.MaxOffers)
	}

	swarms := make([]wire.ID, cfg.Swarms)
	for i := range swarms {
		_, _ = rand.Read(swarms[i][:])
	}
	var dialers []*dialer
	for _, a := range cfg.SourceAddrs {
		dialers = append(dialers, newDialer(u, cfg.Header, &net.TCPAddr{IP: a.AsSlice()}))
	}
	if len(dialers) == 0 {
		dialers = append(dialers, newDialer(u, cfg.Header, nil))
	}
	res := Result{URL: cfg.URL, Connections: cfg.Connections, Swarms: cfg.Swarms, Offers: cfg.Offers}
	r := &runner{base: time.Now(), timeout: int64(cfg.AnnounceTimeout)}

	if !cfg.Idle {
		// Before the load, so that the probe's replies come at once.
		r.acks, err = probeAnswerAcks(ctx, dialers[0])
		if err != nil {
			res.ProbeError = err.Error()
		}
		res.TrackerAcksAnswers = r.acks
	}

	// Open every connection first, so that the measurement does not include
	// handshakes.
	conns := make([]*wsConn, cfg.Connections)
	var (
		dialErrs    atomic.Int64
		dialErrText atomic.Value
		wg          sync.WaitGroup
	)
	sem := make(chan struct{}, cfg.DialConcurrency)
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := dialers[i%len(dialers)].dial(ctx)
			if err != nil {
				dialErrs.Add(1)
				dialErrText.Store(err.Error())
				return
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	for _, c := range conns {
		if c != nil {
			res.Connected++
		}
	}
	res.ErrorsByKind.Dial = dialErrs.Load()
	if s, ok := dialErrText.Load().(string); ok {
		res.LastError = "dial: " + s
	}
	if res.Connected == 0 {
		return Result{}, fmt.Errorf("load: no connection to %s: %s", cfg.URL, res.LastError)
	}
	if cfg.Idle {
		return idle(ctx, conns, swarms, cfg, res), nil
	}

	peers := make([]*peer, len(conns))
	for i, c := range conns {
		if c == nil {
			continue
		}
		p := newPeer(c, swarms[i%len(swarms)], cfg)
		peers[i] = p
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.run(r)
		}()
	}
	wait := func(d time.Duration) {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
	wait(cfg.Warmup)
	tracker := strconv.Itoa(cfg.TrackerPID)
	cpu0, tcpu0 := cpuSeconds("self"), cpuSeconds(tracker)
	start := time.Now()
	r.phase.Store(phaseMeasure)
	wait(cfg.Duration)
	r.phase.Store(phaseStop)
	res.DurationS = time.Since(start).Seconds()
	cpu1, tcpu1 := cpuSeconds("self"), cpuSeconds(tracker)
	// Wake every connection; each one sees phaseStop and closes.
	for _, c := range conns {
		if c != nil {
			c.wake()
		}
	}
	wg.Wait()

	var all []int64
	for _, p := range peers {
		if p == nil {
			continue
		}
		s := &p.st
		res.AnnounceResponses += s.announceResp
		res.LateAnnounceResponses += s.late
		res.OffersReceived += s.offers
		res.AnswersReceived += s.answers
		res.AnswerAcks += s.acks
		res.Failures += s.failures
		res.OtherMessages += s.other
		res.MessagesReceived += s.messages
		res.AnnouncesSent += s.announcesSent
		res.AnswersSent += s.answersSent
		res.ErrorsByKind.add(&s.errs)
		if s.lost {
			res.ConnectionsLost++
		}
		if s.lastFailure != "" {
			res.LastFailure = s.lastFailure
		}
		if s.lastError != "" {
			res.LastError = s.lastError
		}
		all = append(all, s.lat...)
	}
	res.Errors = res.ErrorsByKind.Total()
	res.Responses = res.AnnounceResponses + res.OffersReceived + res.AnswersReceived
	res.ResponsesPerS = float64(res.Responses) / res.DurationS
	if cpu0 >= 0 && cpu1 >= 0 {
		res.LoadCPUSeconds = cpu1 - cpu0
		if res.Responses > 0 {
			res.LoadCPUPer100k = res.LoadCPUSeconds / float64(res.Responses) * 1e5
		}
	}
	if cfg.TrackerPID > 0 && tcpu0 >= 0 && tcpu1 > tcpu0 {
		res.TrackerCPUSeconds = tcpu1 - tcpu0
		res.ResponsesPerTrackerCPUS = float64(res.Responses) / res.TrackerCPUSeconds
	}
	slices.Sort(all)
	res.LatencySamples = int64(len(all))
	res.LatencyMsP50, res.LatencyMsP90, res.LatencyMsP99 = percentileMs(all, 50), percentileMs(all, 90), percentileMs(all, 99)
	res.LatencyMsMax = percentileMs(all, 100)
	return res, nil
}

// percentileMs is the nearest-rank p-th percentile of sorted ns samples, in
// ms (0 without samples).
func percentileMs(sorted []int64, p int) float64 {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	i := (p*n + 99) / 100 // ⌈p·n/100⌉, the rank
	return float64(sorted[min(max(i, 1), n)-1]) / 1e6
}

// cpuSeconds is the user + system CPU time of a process ("self" or a
// process ID), or -1 where /proc/PID/stat cannot be read (not Linux, no
// such process). Its unit is the clock tick, 1/100 s on Linux.
func cpuSeconds(pid string) float64 {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return -1
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(string(b[i+1:]))
	// After the command: state is field 3; utime and stime are 14 and 15.
	if len(f) < 13 {
		return -1
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return float64(ut+st) / 100
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

// pending is a request waiting for its reply: an announce (seq > 0, its
// number on the connection) or, when the tracker acknowledges answers, an
// answer (seq 0).
type pending struct {
	seq    uint64
	sentAt int64 // run clock, ns; set when the write starts
}

// peer is one connection of the closed loop, run by one goroutine.
type peer struct {
	c   *wsConn
	ih  wire.ID
	req wire.Request // the announce; its offer IDs change every time
	ans wire.Request // the answer; its addressee changes every time
	// The answer message around its to_peer_id and offer_id, which are
	// copied from the offer as they are written there (nil if the encoder
	// did not allow the split: then ans is encoded each time).
	ansHead, ansMid, ansTail []byte
	// The announce (without "event") around its offer IDs: annSegs[i]
	// comes before offer i's offer_id and the last one after the last (nil
	// if the encoder did not allow the split).
	annSegs [][]byte
	parts   [][]byte // annSegs and IDs in order, for one announce
	msg     []byte   // the message being built
	resp    wire.Response
	rel     relay

	// Requests in the order sent; q[qh:] wait for replies, of which the
	// last unsent are not written yet.
	q      []pending
	qh     int
	unsent int

	seq      uint64 // number of the latest announce
	out      bool   // it waits for its response and has not timed out
	deadline int64  // when it times out (run clock)
	retryAt  int64  // when to announce after a failure, 0 if not due

	readDL, writeDL int64 // deadlines set on the connection (run clock)
	measuring       bool  // the current batch is in the window
	done            bool  // the connection ends
	r               *runner
	st              stats
}

func newPeer(c *wsConn, ih wire.ID, cfg Config) *peer {
	p := &peer{c: c, ih: ih}
	var peerID wire.ID
	_, _ = rand.Read(peerID[:])
	offer := sessionJSON("offer", fakeSDP("offer", cfg.SDPBytes))
	answer := sessionJSON("answer", fakeSDP("answer", cfg.SDPBytes))
	p.req = wire.Request{Action: wire.ActionAnnounce, InfoHash: ih, PeerID: peerID, NumWant: cfg.Offers, Left: -1, Event: wire.EventStarted}
	p.req.Offers = make([]wire.Offer, cfg.Offers)
	for i := range p.req.Offers {
		p.req.Offers[i].SDP = offer
	}
	p.ans = wire.Request{Action: wire.ActionAnnounce, InfoHash: ih, PeerID: peerID, NumWant: -1, Left: -1, Answer: answer}
	p.ansHead, p.ansMid, p.ansTail = splitAnswer(p.ans)
	p.annSegs = splitAnnounce(p.req)
	p.msg = make([]byte, 0, cfg.Offers*(len(offer)+160)+512)
	return p
}

// placeholder is a placeholder ID: 20 times the byte.
func placeholder(c byte) (id wire.ID) {
	for i := range id {
		id[i] = c
	}
	return id
}

// splitAnnounce encodes req without its event and with placeholder offer
// IDs and cuts it around them.
func splitAnnounce(req wire.Request) [][]byte {
	req.Event = wire.EventNone
	req.Offers = slices.Clone(req.Offers)
	for i := range req.Offers {
		req.Offers[i].ID = placeholder('A' + byte(i))
	}
	b := wire.AppendRequest(nil, &req)
	segs := make([][]byte, 0, len(req.Offers)+1)
	at := 0
	for i := range req.Offers {
		ph := req.Offers[i].ID
		q := append(append([]byte{'"'}, ph[:]...), '"')
		j := bytes.Index(b[at:], q)
		if j < 0 || bytes.Count(b, ph[:]) != 1 {
			return nil
		}
		segs = append(segs, b[at:at+j])
		at += j + len(q)
	}
	return append(segs, b[at:])
}

// appendID appends id as a JSON string the way the wire package writes IDs:
// printable ASCII other than '"' and '\' as itself, any other byte as
// \u00XX.
func appendID(dst []byte, id *wire.ID) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for _, c := range id {
		if c >= 0x20 && c <= 0x7e && c != '"' && c != '\\' {
			dst = append(dst, c)
		} else {
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
	}
	return append(dst, '"')
}

// splitAnswer encodes ans with placeholder IDs and cuts it around them.
func splitAnswer(ans wire.Request) (head, mid, tail []byte) {
	for i := range ans.ToPeerID {
		ans.ToPeerID[i], ans.OfferID[i] = 'T', 'O'
	}
	b := wire.AppendRequest(nil, &ans)
	to := bytes.Index(b, []byte(`"TTTTTTTTTTTTTTTTTTTT"`))
	oid := bytes.Index(b, []byte(`"OOOOOOOOOOOOOOOOOOOO"`))
	if to < 0 || oid < to+22 || bytes.Count(b, []byte("TTTTTTTTTTTTTTTTTTTT")) != 1 || bytes.Count(b, []byte("OOOOOOOOOOOOOOOOOOOO")) != 1 {
		return nil, nil, nil
	}
	return b[:to], b[to+22 : oid], b[oid+22:]
}

// errTimeout is the error text of an announce without a response.
var errTimeout = errors.New("announce response not received in time")

// fail counts an error of a kind; fatal ones end the connection.
func (p *peer) fail(kind *int64, name string, err error, fatal bool) {
	*kind++
	p.st.lastError = name + ": " + err.Error()
	p.st.lost = p.st.lost || fatal
}

// run is the loop: read whatever arrived, handle every message, fire the
// timers, write everything that brought about in one go, repeat.
func (p *peer) run(r *runner) {
	defer p.c.close()
	p.r = r
	p.announce()
	onData := p.onData
	for {
		if err := p.flush(r); err != nil {
			if r.phase.Load() != phaseStop {
				p.fail(&p.st.errs.Write, "write", err, true)
			}
			return
		}
		if !p.arm() {
			return
		}
		err := p.c.readLoop(onData)
		if p.done || r.phase.Load() == phaseStop {
			return
		}
		if err != nil {
			// A deadline is only a timer; anything else ends the
			// connection.
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				p.fail(&p.st.errs.Read, "read", err, true)
				return
			}
		}
		p.timers(r.now())
	}
}

// arm sets the read deadline to when the loop must wake without a message
// and reports whether the run goes on. A deadline later than needed only
// wakes the loop for nothing once, so it is moved only when that is not
// enough. The phase is checked after the deadline is set: the stop sets
// its own deadline after the phase, so one of the two ends the wait.
func (p *peer) arm() bool {
	r := p.r
	if dl := p.wakeAt(); p.readDL == 0 || dl < p.readDL || r.now() >= p.readDL {
		p.readDL = dl
		_ = p.c.nc.SetReadDeadline(r.at(dl))
	}
	return r.phase.Load() != phaseStop
}

// onData handles what a read brought: every complete message, the timers,
// the writes. It returns false when the connection is done.
func (p *peer) onData() bool {
	r := p.r
	now := r.now()
	phase := r.phase.Load()
	if phase == phaseStop {
		p.done = true
		return false
	}
	p.measuring = phase == phaseMeasure
	for {
		op, msg, ok, err := p.c.next()
		if err != nil {
			var ce *closedError
			if errors.As(err, &ce) {
				p.fail(&p.st.errs.Read, "read", err, true)
			} else {
				p.fail(&p.st.errs.Protocol, "protocol", err, true)
			}
			p.done = true
			return false
		}
		if !ok {
			break
		}
		p.handle(r, op, msg, now)
	}
	p.timers(now)
	if err := p.flush(r); err != nil {
		if r.phase.Load() != phaseStop {
			p.fail(&p.st.errs.Write, "write", err, true)
		}
		p.done = true
		return false
	}
	if !p.arm() {
		p.done = true
		return false
	}
	return true
}

// wakeAt is when the loop must wake without a message (run clock): when
// the outstanding announce times out or the next one is due. (There is
// always one or the other.)
func (p *peer) wakeAt() int64 {
	t := p.deadline
	if !p.out || p.retryAt != 0 && p.retryAt < t {
		t = p.retryAt
	}
	if t == 0 {
		t = p.r.now() + p.r.timeout
	}
	return t
}

func (p *peer) timers(now int64) {
	if p.out && now >= p.deadline {
		p.fail(&p.st.errs.Timeout, "timeout", errTimeout, false)
		p.out = false
		p.announce()
	}
	if p.retryAt != 0 && now >= p.retryAt {
		p.retryAt = 0
		p.announce()
	}
}

// announce queues the next announce.
func (p *peer) announce() {
	for i := range p.req.Offers {
		id := &p.req.Offers[i].ID
		a, b, c := p.c.rng.Uint64(), p.c.rng.Uint64(), p.c.rng.Uint64()
		for j := range 8 {
			id[j], id[8+j] = byte(a>>(8*j)), byte(b>>(8*j))
		}
		for j := range 4 {
			id[16+j] = byte(c >> (8 * j))
		}
	}
	if p.annSegs == nil || p.req.Event != wire.EventNone {
		p.msg = wire.AppendRequest(p.msg[:0], &p.req)
		p.c.send(p.msg)
	} else {
		// The common case: the template with fresh IDs, masked straight
		// into the frame.
		p.msg = p.msg[:0]
		for i := range p.req.Offers {
			p.msg = appendID(p.msg, &p.req.Offers[i].ID)
		}
		parts, ids := p.parts[:0], p.msg
		for _, seg := range p.annSegs[:len(p.annSegs)-1] {
			n := bytes.IndexByte(ids[1:], '"') + 2 // the closing quote: IDs escape '"'
			parts = append(parts, seg, ids[:n])
			ids = ids[n:]
		}
		parts = append(parts, p.annSegs[len(p.annSegs)-1])
		p.c.sendJoin(parts...)
		p.parts = parts
	}
	p.req.Event = wire.EventNone
	p.seq++
	p.push(p.seq)
	p.out = true
	if p.measuring {
		p.st.announcesSent++
	}
}

func (p *peer) push(seq uint64) {
	p.q = append(p.q, pending{seq: seq})
	p.unsent++
}

// pop takes the oldest request waiting for a reply (not one still unsent).
func (p *peer) pop() (pending, bool) {
	if len(p.q)-p.qh <= p.unsent {
		return pending{}, false
	}
	e := p.q[p.qh]
	p.qh++
	if p.qh == len(p.q) {
		p.q, p.qh = p.q[:0], 0
	} else if p.qh >= 64 && p.qh*2 >= len(p.q) {
		p.q = p.q[:copy(p.q, p.q[p.qh:])]
		p.qh = 0
	}
	return e, true
}

// flush stamps the requests about to go out and writes them.
func (p *peer) flush(r *runner) error {
	if len(p.c.out) == 0 {
		return nil
	}
	now := r.now()
	if p.writeDL-now < r.timeout/2 {
		// Bounds a write to a tracker that stopped reading. Renewed
		// rarely: setting a deadline has a cost.
		p.writeDL = now + r.timeout
		_ = p.c.nc.SetWriteDeadline(r.at(p.writeDL))
		if r.phase.Load() == phaseStop {
			return errors.New("stopping")
		}
	}
	for i := len(p.q) - p.unsent; i < len(p.q); i++ {
		p.q[i].sentAt = now
		if p.q[i].seq == p.seq {
			p.deadline = now + r.timeout
		}
	}
	p.unsent = 0
	return p.c.flush()
}

// handle processes one message received at now.
func (p *peer) handle(r *runner, op byte, msg []byte, now int64) {
	m := p.measuring
	if m {
		p.st.messages++
	}
	other := func(err error) {
		if m {
			p.st.other++
		}
		p.fail(&p.st.errs.Protocol, "protocol", err, false)
	}
	if op != opText {
		other(errors.New("binary message"))
		return
	}
	if p.ansHead != nil && scanRelay(msg, &p.rel) {
		// The common case, without decoding: a relayed offer or answer.
		if p.rel.answer {
			if m {
				p.st.answers++
			}
			return
		}
		p.c.sendJoin(p.ansHead, p.rel.peerID, p.ansMid, p.rel.offerID, p.ansTail)
		p.answered(r, m)
		return
	}
	resp := &p.resp
	if err := wire.ParseResponse(msg, resp); err != nil {
		other(err)
		return
	}
	switch {
	case resp.FailureReason != "":
		if m {
			p.st.failures++
		}
		p.st.lastFailure = resp.FailureReason
		if e, ok := p.pop(); ok && e.seq == p.seq && p.out {
			p.out = false
			p.retryAt = now + int64(retryPause)
		}
	case resp.Offer != nil:
		p.ans.ToPeerID, p.ans.OfferID = resp.PeerID, resp.OfferID
		p.msg = wire.AppendRequest(p.msg[:0], &p.ans)
		p.c.send(p.msg)
		p.answered(r, m)
	case resp.Answer != nil:
		if m {
			p.st.answers++
		}
	case resp.Action == wire.ActionAnnounce && resp.InfoHash == p.ih:
		e, ok := p.pop()
		switch {
		case !ok:
			other(errors.New("announce response with no request outstanding"))
		case e.seq == 0:
			if m {
				p.st.acks++
			}
		default:
			onTime := e.seq == p.seq && p.out
			if m {
				p.st.announceResp++
				if !onTime {
					p.st.late++
				}
				if len(p.st.lat) < maxSamples {
					p.st.lat = append(p.st.lat, now-e.sentAt)
				}
			}
			if onTime {
				p.out = false
				p.announce()
			}
		}
	case resp.Action == wire.ActionAnnounce:
		other(fmt.Errorf("announce response for another info_hash %s", resp.InfoHash))
	default:
		other(fmt.Errorf("unexpected %s message", resp.Action))
	}
}

// answered accounts for an offer received and answered.
func (p *peer) answered(r *runner, measuring bool) {
	if r.acks {
		p.push(0)
	}
	if measuring {
		p.st.offers++
		p.st.answersSent++
	}
}

// relay is what scanRelay finds in a relayed offer or answer.
type relay struct {
	answer bool // an answer, else an offer
	// The offer's "peer_id" and "offer_id" as written (JSON strings,
	// quotes included), aliasing the message.
	peerID, offerID []byte
}

// scanRelay recognizes a relayed offer or answer by a quick look at the
// members of the message, without decoding or validating their values
// beyond the JSON structure: an object with an object "offer" (and string
// "peer_id" and "offer_id") or an object "answer", and no "failure reason".
// For anything else, including anything unusual (escaped member names,
// null values, syntax errors), it returns false: the full parser decides.
func scanRelay(b []byte, q *relay) bool {
	*q = relay{}
	var offer, answer bool
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	for i++; ; i++ {
		i = skipWS(b, i)
		if i >= len(b) || b[i] != '"' {
			return false
		}
		ke := bytes.IndexByte(b[i+1:], '"')
		if ke < 0 {
			return false
		}
		key := b[i+1 : i+1+ke]
		if bytes.IndexByte(key, '\\') >= 0 {
			return false
		}
		i = skipWS(b, i+2+ke)
		if i >= len(b) || b[i] != ':' {
			return false
		}
		vs := skipWS(b, i+1)
		if i = skipValue(b, vs); i < 0 {
			return false
		}
		v := b[vs:i]
		switch string(key) {
		case "offer":
			offer = v[0] == '{'
		case "answer":
			answer = v[0] == '{'
		case "peer_id":
			q.peerID = v
		case "offer_id":
			q.offerID = v
		case "failure reason":
			return false
		}
		i = skipWS(b, i)
		if i >= len(b) {
			return false
		}
		if b[i] == '}' {
			break
		}
		if b[i] != ',' {
			return false
		}
	}
	if skipWS(b, i+1) != len(b) || offer == answer {
		return false
	}
	q.answer = answer
	return len(q.peerID) > 0 && q.peerID[0] == '"' && len(q.offerID) > 0 && q.offerID[0] == '"'
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
		i++
	}
	return i
}

// skipValue returns the end of the JSON value at b[i:], or -1. It only
// follows the structure: strings, and brackets outside them.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				if i = skipString(b, i); i < 0 {
					return -1
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return -1
	}
	s := i
	for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] > ' ' {
		i++
	}
	if i == s {
		return -1
	}
	return i
}

// skipString returns the end of the JSON string whose opening quote is at
// b[i], or -1: the first quote after it preceded by an even number of
// backslashes.
func skipString(b []byte, i int) int {
	for j := i + 1; ; {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			return -1
		}
		k += j
		n := 0
		for m := k - 1; m > i && b[m] == '\\'; m-- {
			n++
		}
		if n%2 == 0 {
			return k + 1
		}
		j = k + 1
	}
}

// probeAnswerAcks finds out whether the tracker replies to an answer, with
// two connections in a swarm of their own: B joins, A announces with one
// offer (which can only go to B), B answers it and announces. A tracker
// that acknowledges answers sends B two announce responses, one that does
// not sends one; the second is awaited for half a second.
func probeAnswerAcks(ctx context.Context, d *dialer) (bool, error) {
	a, err := d.dial(ctx)
	if err != nil {
		return false, fmt.Errorf("probe: %w", err)
	}
	defer a.close()
	b, err := d.dial(ctx)
	if err != nil {
		return false, fmt.Errorf("probe: %w", err)
	}
	defer b.close()
	var ih, pa, pb, oid wire.ID
	for _, id := range []*wire.ID{&ih, &pa, &pb, &oid} {
		_, _ = rand.Read(id[:])
	}
	dl := time.Now().Add(5 * time.Second)
	if d, ok := ctx.Deadline(); ok && d.Before(dl) {
		dl = d
	}
	_ = a.nc.SetDeadline(dl)
	_ = b.nc.SetDeadline(dl)
	var resp wire.Response
	await := func(c *wsConn, what string, match func() bool) error {
		for {
			op, msg, err := c.recv()
			if err != nil {
				return fmt.Errorf("probe: waiting for %s: %w", what, err)
			}
			if op != opText {
				continue
			}
			if err := wire.ParseResponse(msg, &resp); err != nil {
				return fmt.Errorf("probe: %w", err)
			}
			if resp.FailureReason != "" {
				return fmt.Errorf("probe: failure: %s", resp.FailureReason)
			}
			if match() {
				return nil
			}
		}
	}
	isAnnounceResp := func() bool {
		return resp.Action == wire.ActionAnnounce && resp.Offer == nil && resp.Answer == nil && resp.InfoHash == ih
	}
	send := func(c *wsConn, reqs ...*wire.Request) error {
		for _, q := range reqs {
			c.send(wire.AppendRequest(nil, q))
		}
		return c.flush()
	}
	offer := sessionJSON("offer", fakeSDP("offer", 400))
	answer := sessionJSON("answer", fakeSDP("answer", 400))
	if err := send(b, &wire.Request{Action: wire.ActionAnnounce, InfoHash: ih, PeerID: pb, NumWant: 0, Left: -1, Event: wire.EventStarted}); err != nil {
		return false, err
	}
	if err := await(b, "B's announce response", isAnnounceResp); err != nil {
		return false, err
	}
	if err := send(a, &wire.Request{Action: wire.ActionAnnounce, InfoHash: ih, PeerID: pa, NumWant: 1, Left: -1,
		Event: wire.EventStarted, Offers: []wire.Offer{{ID: oid, SDP: offer}}}); err != nil {
		return false, err
	}
	if err := await(b, "the relayed offer", func() bool { return resp.Offer != nil && resp.OfferID == oid }); err != nil {
		return false, err
	}
	err = send(b,
		&wire.Request{Action: wire.ActionAnnounce, InfoHash: ih, PeerID: pb, NumWant: -1, Left: -1, Answer: answer, ToPeerID: pa, OfferID: oid},
		&wire.Request{Action: wire.ActionAnnounce, InfoHash: ih, PeerID: pb, NumWant: 0, Left: -1})
	if err != nil {
		return false, err
	}
	if err := await(b, "the reply to the answer or announce", isAnnounceResp); err != nil {
		return false, err
	}
	_ = b.nc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	err = await(b, "a second reply", isAnnounceResp)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false, nil
	}
	return err == nil, err
}

// idle announces once on every connection, waits for the answers, calls
// cfg.Ready and holds the connections until ctx ends.
func idle(ctx context.Context, conns []*wsConn, swarms []wire.ID, cfg Config, res Result) Result {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		answered int64
	)
	sem := make(chan struct{}, cfg.DialConcurrency)
	for i, c := range conns {
		if c == nil {
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
			c.send(wire.AppendRequest(nil, &req))
			kind, err := &res.ErrorsByKind.Write, c.flush()
			if err == nil {
				_ = c.nc.SetReadDeadline(time.Now().Add(30 * time.Second))
				kind = &res.ErrorsByKind.Read
				_, _, err = c.recv()
				_ = c.nc.SetReadDeadline(time.Time{})
			}
			c.release()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				*kind++
				res.LastError = "idle announce: " + err.Error()
				return
			}
			answered++
		}()
	}
	wg.Wait()
	if cfg.Ready != nil {
		cfg.Ready(int(answered))
	}
	<-ctx.Done()
	for _, c := range conns {
		if c != nil {
			_ = c.nc.Close()
		}
	}
	res.AnnounceResponses = answered
	res.Errors = res.ErrorsByKind.Total()
	return res
}
