package trackercompat

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
)

//go:embed static
var static embed.FS

// Limits of [Run].
const (
	// MinClients and MaxClients bound the clients argument of [Run]. Each
	// client sends 5 offers (the client's own cap), so with at most 6 clients
	// every pair of them gets an offer.
	MinClients = 2
	MaxClients = 6

	// Timeout bounds the page's run when ctx has no earlier deadline; the
	// teardown takes at most 2 s more.
	Timeout = 30 * time.Second

	// pageLoadTimeout bounds the wait for compat.js to define runCompat
	// after the page loaded.
	pageLoadTimeout = 10 * time.Second
	// margin is what Run keeps from ctx's deadline for the teardown and the
	// result's way back.
	margin = 5 * time.Second
)

// Errors of this package.
var (
	// ErrBadArgument: an argument of [Run] is out of range.
	ErrBadArgument = errors.New("trackercompat: bad argument")
	// ErrPage: the page did not load or did not return a result.
	ErrPage = errors.New("trackercompat: page failed")
	// ErrIncompatible: [Result.Check] found the tracker does not behave like
	// a WebTorrent tracker.
	ErrIncompatible = errors.New("trackercompat: tracker is not compatible")
)

// The phases of a run, in order; [Update.Phase] names the one in which an
// update arrived. See [Run].
const (
	PhaseStarted   = "started"
	PhaseConnect   = "connect"
	PhaseCompleted = "completed"
	PhaseUpdate    = "update"
	PhaseScrape    = "scrape"
	PhaseStopped   = "stopped"
	PhaseFinal     = "final"
)

// Handler serves the test page (index.html, compat.js) and the vendored
// bittorrent-tracker client bundle with its licence files. Mount it at the
// root or under a prefix with [http.StripPrefix]; pass the URL of its
// index to [Run]. The page needs no secure context: it uses no WebCrypto
// subtle API, so plain http on any address works.
func Handler() http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil { // cannot happen: static is embedded above
		return http.NotFoundHandler()
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	})
}

// Result is what one [Run] saw. A compatible tracker passes [Result.Check].
type Result struct {
	// TrackerURL and InfoHash (40 hex digits) are the swarm's.
	TrackerURL string `json:"trackerURL"`
	InfoHash   string `json:"infoHash"`
	// BundleVersion is the bittorrent-tracker version of the client bundle.
	BundleVersion string `json:"bundleVersion"`
	// Clients has one entry per client, in the order they started.
	Clients []Client `json:"clients"`
	// Pairs has one entry per pair of clients (A < B).
	Pairs []Pair `json:"pairs"`
	// Scrape is client 0's scrape response, nil if none came.
	Scrape *Scrape `json:"scrape"`
	// Errors are the run's own failures: a phase that timed out, a page
	// exception.
	Errors []string `json:"errors"`
	// Elapsed is the page's run time, without the teardown.
	Elapsed time.Duration `json:"-"`
}

// Client is what one bittorrent-tracker client saw.
type Client struct {
	Index int `json:"index"`
	// PeerID is the client's peer id, 40 hex digits: "-FC0001-" and 12
	// random bytes, the last one at least 0x80.
	PeerID string `json:"peerId"`
	// Updates are the client's "update" events: one per announce response
	// that carried complete and incomplete.
	Updates []Update `json:"updates"`
	// Warnings are the client's "warning" events: a tracker's failure
	// reason or warning message, a socket error, a peer's connection error.
	Warnings []string `json:"warnings"`
	// Errors are the client's "error" events, its peers' problems seen
	// before a pair was known, and what the wire checks found wrong.
	Errors []string `json:"errors"`
	// Peers counts the client's "peer" events (each a WebRTC connection
	// attempt set up by an offer or an answer the tracker relayed).
	Peers int `json:"peers"`
	// Wire is the client's websocket traffic with the tracker.
	Wire Wire `json:"wire"`
}

// Update is one "update" event of a client.
type Update struct {
	// Phase is the phase of the run in which the update arrived.
	Phase      string `json:"phase"`
	Complete   int    `json:"complete"`
	Incomplete int    `json:"incomplete"`
	// Interval is the announce interval the tracker asked for, in seconds
	// (0 if none).
	Interval int `json:"interval"`
}

// Wire counts a client's websocket messages and checks the offers and
// answers the tracker relayed to it against what the sending client sent.
type Wire struct {
	// Sockets is how many websockets the client opened (1 unless it
	// reconnected).
	Sockets  int           `json:"sockets"`
	Sent     SentCount     `json:"sent"`
	Received ReceivedCount `json:"received"`
	// OffersIntact and AnswersIntact count relayed offers and answers whose
	// SDP, type and peer_id are exactly what the other client sent;
	// OffersAltered and AnswersAltered the others (or ones with an unknown
	// offer_id). Misrouted counts offers and answers delivered to a client
	// they were not for.
	OffersIntact   int `json:"offersIntact"`
	OffersAltered  int `json:"offersAltered"`
	AnswersIntact  int `json:"answersIntact"`
	AnswersAltered int `json:"answersAltered"`
	Misrouted      int `json:"misrouted"`
	// Frames are the first 60 messages each way, at most 400 characters
	// each, SDPs shortened: for a failing test's log.
	Frames []Frame `json:"frames"`
}

// SentCount counts what a client sent to the tracker.
type SentCount struct {
	// Announces without an answer; Offers in them.
	Announces int `json:"announces"`
	Offers    int `json:"offers"`
	// Answers: announces that carried an answer to a relayed offer.
	Answers int `json:"answers"`
	Scrapes int `json:"scrapes"`
	Other   int `json:"other"`
}

// ReceivedCount counts what a client received from the tracker.
type ReceivedCount struct {
	// Responses: announce responses with complete and incomplete.
	Responses int `json:"responses"`
	// Offers and Answers relayed from other peers.
	Offers  int `json:"offers"`
	Answers int `json:"answers"`
	Scrapes int `json:"scrapes"`
	// Failures and Warnings: messages with a "failure reason" or a
	// "warning message".
	Failures int `json:"failures"`
	Warnings int `json:"warnings"`
	Other    int `json:"other"`
	// Unparsed: messages that are not JSON. BinaryFrames: messages sent as
	// binary websocket frames (the client accepts them; trackers send text).
	Unparsed     int `json:"unparsed"`
	BinaryFrames int `json:"binaryFrames"`
}

// Frame is one logged websocket message.
type Frame struct {
	// Dir is "sent" (to the tracker) or "received".
	Dir string `json:"dir"`
	// Ms is the time since the run started, in milliseconds.
	Ms   int    `json:"ms"`
	Text string `json:"text"`
}

// Pair is what happened between clients A and B.
type Pair struct {
	A int `json:"a"`
	B int `json:"b"`
	// Connections counts the data channels that opened between them.
	Connections int `json:"connections"`
	// AToB and BToA report whether a message sent on open arrived, naming
	// its sender and receiver; Connected is both.
	AToB      bool `json:"aToB"`
	BToA      bool `json:"bToA"`
	Connected bool `json:"connected"`
	// ConnectMs is when Connected became true, in milliseconds since the
	// run started.
	ConnectMs int      `json:"connectMs"`
	Errors    []string `json:"errors"`
}

// Scrape is a scrape response.
type Scrape struct {
	// -1 where the response had no such field.
	Complete   int `json:"complete"`
	Incomplete int `json:"incomplete"`
	Downloaded int `json:"downloaded"`
}

// ConnectedPairs counts the pairs whose data channel carried a message
// each way.
func (r Result) ConnectedPairs() int {
	n := 0
	for _, p := range r.Pairs {
		if p.Connected {
			n++
		}
	}
	return n
}

// Update returns the client's first update in phase.
func (c Client) Update(phase string) (Update, bool) {
	for _, u := range c.Updates {
		if u.Phase == phase {
			return u, true
		}
	}
	return Update{}, false
}

// Check reports whether the run shows a tracker that the WebTorrent client
// works with; the error wraps [ErrIncompatible] and lists every problem.
// With N clients it wants:
//
//   - no run error, and no client error or warning;
//   - every pair connected over a data channel, every relayed offer and
//     answer intact and delivered to the right client, and nothing
//     unparseable from the tracker;
//   - the counts (complete, incomplete) of each phase's update: client i's
//     started (0, i+1); client 0's completed (1, N-1); every client's
//     update (1, N-1); client 0's scrape (1, N-1); client 0's final (1, 0),
//     after the others announced stopped.
//
// Stopped responses are not checked: a tracker need not answer them.
func (r Result) Check() error {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	n := len(r.Clients)
	if n < MinClients {
		add("%d clients in the result", n)
	}
	for _, e := range r.Errors {
		add("run: %s", e)
	}
	for _, p := range r.Pairs {
		if !p.Connected {
			add("clients %d and %d: no data channel carried a message both ways (a→b %v, b→a %v, %d connections)", p.A, p.B, p.AToB, p.BToA, p.Connections)
		}
		for _, e := range p.Errors {
			add("clients %d and %d: %s", p.A, p.B, e)
		}
	}
	if want := n * (n - 1) / 2; len(r.Pairs) != want {
		add("%d pairs in the result, want %d", len(r.Pairs), want)
	}
	wantCounts := func(c Client, phase string, complete, incomplete int) {
		u, ok := c.Update(phase)
		switch {
		case !ok:
			add("client %d: no update in phase %s", c.Index, phase)
		case u.Complete != complete || u.Incomplete != incomplete:
			add("client %d: %s update says complete %d, incomplete %d; want %d, %d", c.Index, phase, u.Complete, u.Incomplete, complete, incomplete)
		}
	}
	for i, c := range r.Clients {
		for _, e := range c.Errors {
			add("client %d: error: %s", i, e)
		}
		for _, w := range c.Warnings {
			add("client %d: warning: %s", i, w)
		}
		w := c.Wire
		if w.OffersAltered+w.AnswersAltered+w.Misrouted > 0 {
			add("client %d: the tracker altered %d offers and %d answers and misrouted %d", i, w.OffersAltered, w.AnswersAltered, w.Misrouted)
		}
		if w.Received.Unparsed > 0 {
			add("client %d: %d tracker messages were not JSON", i, w.Received.Unparsed)
		}
		wantCounts(c, PhaseStarted, 0, i+1)
		wantCounts(c, PhaseUpdate, 1, n-1)
	}
	if n > 0 {
		wantCounts(r.Clients[0], PhaseCompleted, 1, n-1)
		wantCounts(r.Clients[0], PhaseFinal, 1, 0)
	}
	switch s := r.Scrape; {
	case s == nil:
		add("no scrape response")
	case s.Complete != 1 || s.Incomplete != n-1:
		add("scrape says complete %d, incomplete %d; want 1, %d", s.Complete, s.Incomplete, n-1)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrIncompatible, strings.Join(problems, "; "))
	}
	return nil
}

// Run proves that the real WebTorrent tracker client works with the
// websocket tracker at trackerURL (ws:// or wss://): it navigates the
// browser tab browserCtx (a chromedp context, see package
// fusioncast/internal/browser) to pageURL, where [Handler] serves the test
// page, and runs clients bittorrent-tracker clients (2 to 6) in one swarm
// with a fresh random info hash. In order (each wait bounded):
//
//   - started: client i announces "started" with 5 offers, and gets an
//     update; clients start one after the other, so each one's offers go to
//     all the earlier ones;
//   - connect: every pair of clients answers an offer through the tracker
//     and opens a WebRTC data channel; a message goes each way over it;
//   - completed: client 0 announces "completed" (left 0);
//   - update: every client re-announces (no event, numwant 0);
//   - scrape: client 0 scrapes the info hash;
//   - stopped: the other clients announce "stopped";
//   - final: client 0 re-announces.
//
// The page bounds its run by [Timeout], or by ctx's deadline less 5 s if
// that comes first; cancelling ctx abandons the run. Run returns an error
// only when it could not run (a bad argument, the page did not load or
// answer); what the tracker did wrong is in the [Result]: call
// [Result.Check]. The tab stays on the page; the clients and their
// connections are closed.
//
// The browser must be able to reach the tracker, and to connect WebRTC
// host candidates to itself: inside a network namespace, give it a
// default route (fusioncast/internal/netns.NS.AddSelfVeth).
func Run(ctx context.Context, browserCtx context.Context, pageURL, trackerURL string, clients int) (Result, error) {
	if clients < MinClients || clients > MaxClients {
		return Result{}, fmt.Errorf("%w: %d clients, want %d to %d", ErrBadArgument, clients, MinClients, MaxClients)
	}
	if u, err := url.Parse(trackerURL); err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return Result{}, fmt.Errorf("%w: tracker URL %q is not ws:// or wss://", ErrBadArgument, trackerURL)
	}
	if u, err := url.Parse(pageURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return Result{}, fmt.Errorf("%w: page URL %q is not http:// or https://", ErrBadArgument, pageURL)
	}

	timeout := Timeout
	if d, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(d)-margin)
	}
	if timeout < time.Second {
		return Result{}, fmt.Errorf("%w: %v left before ctx's deadline, want at least %v", ErrBadArgument, timeout+margin, time.Second+margin)
	}

	// chromedp needs the tab's context; ctx may end the run earlier.
	cctx, cancel := context.WithTimeout(browserCtx, timeout+margin)
	defer cancel()
	defer context.AfterFunc(ctx, cancel)()

	if err := chromedp.Do(cctx, chromedp.Navigate(pageURL)); err != nil {
		return Result{}, fmt.Errorf("%w: navigating to %s: %w", ErrPage, pageURL, err)
	}
	if _, err := chromedp.Run(cctx, chromedp.Poll[bool](`typeof window.runCompat === "function"`,
		chromedp.WithPollingInterval(50*time.Millisecond),
		chromedp.WithPollingTimeout(pageLoadTimeout))); err != nil {
		return Result{}, fmt.Errorf("%w: %s did not define runCompat within %v: %w", ErrPage, pageURL, pageLoadTimeout, err)
	}

	args, err := json.Marshal(map[string]any{
		"trackerURL":  trackerURL,
		"infoHashHex": newInfoHash(),
		"clients":     clients,
		"timeoutMs":   timeout.Milliseconds(),
	})
	if err != nil {
		return Result{}, err
	}
	raw, err := chromedp.Run(cctx, chromedp.Evaluate[string]("window.runCompat("+string(args)+")", chromedp.EvalAwaitPromise))
	if err != nil {
		return Result{}, fmt.Errorf("%w: runCompat: %w", ErrPage, err)
	}
	var out struct {
		Result
		ElapsedMs int64 `json:"elapsedMs"`
	}
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		return Result{}, fmt.Errorf("%w: runCompat's result: %w", ErrPage, err)
	}
	res := out.Result
	res.Elapsed = time.Duration(out.ElapsedMs) * time.Millisecond
	return res, nil
}

// newInfoHash returns a random info hash as hex. Its first bytes are fixed
// to ones that a tracker must carry as bytes in its JSON strings, not as
// text: 0xff, 0x80, 0x00, '"' and '\\' (a real info hash, a SHA-1 digest,
// has such bytes all the time).
func newInfoHash() string {
	var h [20]byte
	rand.Read(h[:])
	copy(h[:], []byte{0xff, 0x80, 0x00, '"', '\\'})
	return hex.EncodeToString(h[:])
}
