package trackercompat

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"fusioncast/internal/browser"
	"fusioncast/internal/netns"
	"fusioncast/internal/testenv"
)

// refDir is the reference tooling's directory, from this package's.
const refDir = "../../scripts/trackercompat"

// testTimeout bounds TestReferenceTracker's inner run.
const testTimeout = 60 * time.Second

func TestVendoredVersion(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(refDir, "package.json"))
	if err != nil {
		t.Fatal(err)
	}
	var pkg struct {
		DevDependencies map[string]string `json:"devDependencies"`
	}
	if err := json.Unmarshal(b, &pkg); err != nil {
		t.Fatal(err)
	}
	pinned := pkg.DevDependencies["bittorrent-tracker"]
	v, err := static.ReadFile("static/VERSION")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(v)); got != pinned {
		t.Errorf("static/VERSION is %q, package.json pins bittorrent-tracker %q: run scripts/trackercompat/build.sh", got, pinned)
	}
	bundle, err := static.ReadFile("static/bittorrent-tracker-client.js")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(bundle, []byte("/*! bittorrent-tracker "+pinned+" client")) {
		t.Errorf("the bundle's header does not name bittorrent-tracker %s", pinned)
	}
	for _, name := range []string{"static/bittorrent-tracker-LICENSE", "static/THIRD-PARTY-NOTICES"} {
		if b, err := static.ReadFile(name); err != nil || !bytes.Contains(b, []byte("Permission is hereby granted")) {
			t.Errorf("%s: missing or without the MIT licence text (%v)", name, err)
		}
	}
}

func TestHandler(t *testing.T) {
	srv := httptest.NewServer(http.StripPrefix("/compat", Handler()))
	defer srv.Close()
	for _, tc := range []struct {
		path, contentType, contains string
	}{
		{"/compat/", "text/html", `import './compat.js'`},
		{"/compat/compat.js", "text/javascript", "window.runCompat = runCompat"},
		{"/compat/bittorrent-tracker-client.js?client=1", "text/javascript", "/*! bittorrent-tracker "},
		{"/compat/VERSION", "text/plain", "."},
		{"/compat/bittorrent-tracker-LICENSE", "text/plain", "MIT"},
	} {
		resp, err := http.Get(srv.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: status %d", tc.path, resp.StatusCode)
			continue
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, tc.contentType) {
			t.Errorf("%s: Content-Type %q, want %s", tc.path, ct, tc.contentType)
		}
		if !strings.Contains(string(body), tc.contains) {
			t.Errorf("%s: body does not contain %q", tc.path, tc.contains)
		}
	}
}

func TestRunBadArguments(t *testing.T) {
	ctx := t.Context()
	for _, tc := range []struct {
		page, tracker string
		clients       int
	}{
		{"http://127.0.0.1:1/", "ws://127.0.0.1:2", 1},
		{"http://127.0.0.1:1/", "ws://127.0.0.1:2", 7},
		{"http://127.0.0.1:1/", "http://127.0.0.1:2", 2},
		{"http://127.0.0.1:1/", "ws://", 2},
		{"file:///tmp/x.html", "ws://127.0.0.1:2", 2},
	} {
		// The arguments are checked before the browser context is used.
		if _, err := Run(ctx, ctx, tc.page, tc.tracker, tc.clients); !errors.Is(err, ErrBadArgument) {
			t.Errorf("Run(%q, %q, %d): %v, want ErrBadArgument", tc.page, tc.tracker, tc.clients, err)
		}
	}
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := Run(short, ctx, "http://127.0.0.1:1/", "ws://127.0.0.1:2", 2); !errors.Is(err, ErrBadArgument) {
		t.Errorf("Run with 2 s left: %v, want ErrBadArgument", err)
	}
}

func TestNewInfoHash(t *testing.T) {
	a, b := newInfoHash(), newInfoHash()
	if len(a) != 40 || a == b || !strings.HasPrefix(a, "ff8000225c") {
		t.Errorf("info hashes %s, %s", a, b)
	}
}

// goodResult is what a compatible tracker gives with n clients.
func goodResult(n int) Result {
	r := Result{TrackerURL: "ws://127.0.0.1:1", InfoHash: strings.Repeat("ab", 20)}
	for i := range n {
		c := Client{Index: i, PeerID: fmt.Sprintf("%040x", i), Updates: []Update{
			{Phase: PhaseStarted, Complete: 0, Incomplete: i + 1},
			{Phase: PhaseUpdate, Complete: 1, Incomplete: n - 1},
		}}
		if i == 0 {
			c.Updates = append(c.Updates,
				Update{Phase: PhaseCompleted, Complete: 1, Incomplete: n - 1},
				Update{Phase: PhaseFinal, Complete: 1, Incomplete: 0})
		}
		r.Clients = append(r.Clients, c)
		for j := i + 1; j < n; j++ {
			r.Pairs = append(r.Pairs, Pair{A: i, B: j, Connections: 1, AToB: true, BToA: true, Connected: true})
		}
	}
	r.Scrape = &Scrape{Complete: 1, Incomplete: n - 1, Downloaded: -1}
	return r
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(r *Result)
		want   string // in the error; "" for none
	}{
		{"good", func(r *Result) {}, ""},
		{"run error", func(r *Result) { r.Errors = []string{"boom"} }, "run: boom"},
		{"not connected", func(r *Result) { r.Pairs[1].Connected, r.Pairs[1].BToA = false, false }, "clients 0 and 2: no data channel"},
		{"pair missing", func(r *Result) { r.Pairs = r.Pairs[:2] }, "2 pairs in the result, want 3"},
		{"altered", func(r *Result) { r.Clients[1].Wire.OffersAltered = 1 }, "client 1: the tracker altered 1 offers"},
		{"misrouted", func(r *Result) { r.Clients[2].Wire.Misrouted = 2 }, "misrouted 2"},
		{"warning", func(r *Result) { r.Clients[0].Warnings = []string{"x"} }, "client 0: warning: x"},
		{"started count", func(r *Result) { r.Clients[2].Updates[0].Incomplete = 2 }, "client 2: started update says complete 0, incomplete 2; want 0, 3"},
		{"no completed", func(r *Result) { r.Clients[0].Updates = r.Clients[0].Updates[:2] }, "client 0: no update in phase completed"},
		{"final count", func(r *Result) { r.Clients[0].Updates[3].Incomplete = 2 }, "final update says complete 1, incomplete 2"},
		{"no scrape", func(r *Result) { r.Scrape = nil }, "no scrape response"},
		{"scrape count", func(r *Result) { r.Scrape.Complete = 0 }, "scrape says complete 0"},
	} {
		r := goodResult(3)
		tc.mutate(&r)
		err := r.Check()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (!errors.Is(err, ErrIncompatible) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want ErrIncompatible with %q", tc.name, err, tc.want)
		}
	}
}

// lockStamp compares the sha256 of package-lock.json with the stamp that
// install.sh leaves in node_modules; it returns "" if they match, else why
// not.
func lockStamp() string {
	lock, err := os.ReadFile(filepath.Join(refDir, "package-lock.json"))
	if err != nil {
		return err.Error()
	}
	sum := sha256.Sum256(lock)
	stamp, err := os.ReadFile(filepath.Join(refDir, "node_modules", ".fusioncast-lock-sha256"))
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "scripts/trackercompat/node_modules is not installed"
	case err != nil:
		return err.Error()
	case strings.TrimSpace(string(stamp)) != hex.EncodeToString(sum[:]):
		return "scripts/trackercompat/node_modules is stale (installed from another package-lock.json)"
	}
	return ""
}

// requireReference makes sure the reference server's npm packages are
// installed: without them the test skips, unless the suite is required
// (FUSIONCAST_REQUIRE_ALL=1); then it installs them with install.sh (npm ci
// --ignore-scripts, from the registry) rather than fail. It runs before
// netns.InNamespace, on the host's network.
func requireReference(t *testing.T) {
	t.Helper()
	why := lockStamp()
	if why == "" {
		return
	}
	if !testenv.Required() || netns.Current() != "" {
		testenv.SkipOrFail(t, "reference tracker: "+why+": run scripts/trackercompat/install.sh (or build.sh)")
	}
	t.Logf("reference tracker: %s: running scripts/trackercompat/install.sh", why)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "bash", filepath.Join(refDir, "install.sh")).CombinedOutput()
	t.Logf("install.sh: %s", out)
	if err != nil {
		t.Fatalf("installing the reference tracker: %v", err)
	}
	if why := lockStamp(); why != "" {
		t.Fatalf("after install.sh: %s", why)
	}
}

// lineWriter calls line for every complete line written to it.
type lineWriter struct {
	mu      sync.Mutex
	partial []byte
	line    func(string)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		w.line(string(w.partial[:i]))
		w.partial = w.partial[i+1:]
	}
}

// startTracker runs `node scripts/trackercompat/SCRIPT 0 ARGS...`, a tracker
// on 127.0.0.1 and a free port, and returns its ws:// URL; t.Cleanup stops
// it (SIGTERM, then kill after 5 s) and waits for it.
func startTracker(t *testing.T, ctx context.Context, script string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	cmd := exec.CommandContext(ctx, "node", append([]string{filepath.Join(refDir, script), "0"}, args...)...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	port := make(chan int, 1)
	var done sync.WaitGroup // no t.Log after the test: Wait returns after the writers
	cmd.Stdout = &lineWriter{line: func(s string) {
		t.Logf("%s stdout: %s", script, s)
		if p, ok := strings.CutPrefix(s, "listening "); ok {
			if n, err := strconv.Atoi(p); err == nil {
				select {
				case port <- n:
				default:
				}
			}
		}
	}}
	cmd.Stderr = &lineWriter{line: func(s string) { t.Logf("%s stderr: %s", script, s) }}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting %s: %v", script, err)
	}
	exited := make(chan error, 1)
	done.Add(1)
	go func() {
		defer done.Done()
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cancel()
		done.Wait()
		if st := cmd.ProcessState; st != nil && !st.Success() {
			t.Logf("%s: %v", script, st)
		}
	})
	select {
	case p := <-port:
		return "ws://127.0.0.1:" + strconv.Itoa(p)
	case err := <-exited:
		exited <- err
		t.Fatalf("%s exited before listening: %v", script, err)
	case <-time.After(15 * time.Second):
		t.Fatalf("%s did not print \"listening PORT\" within 15 s", script)
	}
	return ""
}

// servePage serves Handler on 127.0.0.1 and returns the page's URL.
func servePage(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(Handler()) // on 127.0.0.1
	t.Cleanup(srv.Close)
	return srv.URL + "/"
}

// startBrowser starts Chromium; t.Cleanup closes it. Its temporary files
// go to a directory of the test's: Chromium leaves a
// /tmp/org.chromium.Chromium.* directory behind otherwise.
func startBrowser(t *testing.T, ctx context.Context) context.Context {
	t.Helper()
	t.Setenv("TMPDIR", t.TempDir())
	bctx, cancel, err := browser.Start(ctx, browser.Options{Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cancel)
	return bctx
}

// requireAll skips (or, in CI, fails) the test unless Chromium, node and
// the reference tracker's packages are there; call it before
// netns.InNamespace.
func requireAll(t *testing.T) {
	t.Helper()
	if _, err := browser.Find(); err != nil {
		testenv.SkipOrFail(t, err.Error())
	}
	if _, err := exec.LookPath("node"); err != nil {
		testenv.SkipOrFail(t, "node (Node.js) not found: the reference tracker needs it")
	}
	requireReference(t)
}

// TestReferenceTracker proves the harness with the reference WebTorrent
// tracker (the bittorrent-tracker server): two clients in one page find
// each other through it and talk over a data channel, and every phase's
// counts are right; then six clients, every pair connected. It runs again inside a network namespace with a
// self-veth (WebRTC host candidates need a default route), where the
// tracker, the page and the browser all run.
func TestReferenceTracker(t *testing.T) {
	requireAll(t)
	if !netns.InNamespace(t, func(ns *netns.NS) error {
		return ns.AddSelfVeth("10.213.30.1", "10.213.30.2")
	}) {
		return
	}
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()

	trackerURL := startTracker(t, ctx, "server.js")
	pageURL := servePage(t)
	bctx := startBrowser(t, ctx)

	// Two clients; then six, the most Run takes, every pair connected.
	for _, n := range []int{2, MaxClients} {
		t.Run(fmt.Sprintf("clients=%d", n), func(t *testing.T) {
			res, err := Run(ctx, bctx, pageURL, trackerURL, n)
			if err != nil {
				t.Fatal(err)
			}
			logResult(t, res)

			// The plain assertions first, then the full check.
			if got, want := res.ConnectedPairs(), n*(n-1)/2; got != want {
				t.Errorf("%d connected pairs, want %d", got, want)
			}
			for _, c := range res.Clients {
				if len(c.Updates) == 0 {
					t.Errorf("client %d: no update event", c.Index)
				}
				if u, ok := c.Update(PhaseUpdate); !ok || u.Complete+u.Incomplete != n {
					t.Errorf("client %d: update phase: %+v (found %v), want complete+incomplete = %d", c.Index, u, ok, n)
				}
				if c.Wire.OffersIntact+c.Wire.AnswersIntact == 0 {
					t.Errorf("client %d: received no intact offer or answer: %+v", c.Index, c.Wire)
				}
			}
			if err := res.Check(); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestHarnessCatchesFaults proves that the harness fails a broken
// tracker: the reference tracker with one deliberate fault each
// (scripts/trackercompat/faulty-server.js) must fail Result.Check, for the
// reason the fault should cause.
func TestHarnessCatchesFaults(t *testing.T) {
	requireAll(t)
	if !netns.InNamespace(t, func(ns *netns.NS) error {
		return ns.AddSelfVeth("10.213.31.1", "10.213.31.2")
	}) {
		return
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*testTimeout)
	defer cancel()
	pageURL := servePage(t)
	bctx := startBrowser(t, ctx)
	for _, tc := range []struct {
		fault string
		want  []string // each in Check's error
	}{
		// The answer's ICE password no longer matches: no connection.
		{"alter-answer", []string{"altered 0 offers and 1 answers", "clients 0 and 1: no data channel"}},
		// The offer goes back to its sender, who ignores it: no connection.
		{"misroute-offer", []string{"misrouted 1", "clients 0 and 1: no data channel"}},
		// Connections work, the counts are wrong.
		{"miscount", []string{"client 0: started update says complete 0, incomplete 2; want 0, 1"}},
	} {
		t.Run(tc.fault, func(t *testing.T) {
			// 10 s for the page: a connection that never comes waits that long.
			rctx, rcancel := context.WithTimeout(ctx, 10*time.Second+margin)
			defer rcancel()
			trackerURL := startTracker(t, ctx, "faulty-server.js", tc.fault)
			res, err := Run(rctx, bctx, pageURL, trackerURL, 2)
			if err != nil {
				t.Fatal(err)
			}
			logResult(t, res)
			err = res.Check()
			if !errors.Is(err, ErrIncompatible) {
				t.Fatalf("Check: %v, want ErrIncompatible", err)
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Check's error does not say %q: %v", want, err)
				}
			}
		})
	}
}

// logResult logs a summary of the result, and all of it with the frames if
// the test fails.
func logResult(t *testing.T, res Result) {
	t.Helper()
	t.Logf("bittorrent-tracker %s, %s, info hash %s, %v", res.BundleVersion, res.TrackerURL, res.InfoHash, res.Elapsed)
	for _, c := range res.Clients {
		var ups []string
		for _, u := range c.Updates {
			ups = append(ups, fmt.Sprintf("%s %d/%d", u.Phase, u.Complete, u.Incomplete))
		}
		w := c.Wire
		t.Logf("client %d %s: updates (complete/incomplete) [%s]; sent %+v; received %+v; intact offers %d answers %d, altered %d %d, misrouted %d; %d warnings, %d errors",
			c.Index, c.PeerID, strings.Join(ups, ", "), w.Sent, w.Received,
			w.OffersIntact, w.AnswersIntact, w.OffersAltered, w.AnswersAltered, w.Misrouted, len(c.Warnings), len(c.Errors))
	}
	for _, p := range res.Pairs {
		t.Logf("pair %d-%d: connected %v after %d ms (%d connections, errors %q)", p.A, p.B, p.Connected, p.ConnectMs, p.Connections, p.Errors)
	}
	t.Logf("scrape %+v; run errors %q", res.Scrape, res.Errors)
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := json.MarshalIndent(res, "", "  ")
			t.Logf("full result:\n%s", b)
		}
	})
}
