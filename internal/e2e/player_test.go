package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"fusioncast/internal/browser"
	"fusioncast/internal/netns"
	"fusioncast/internal/testenv"
)

// playerStats is the part of the page's window.fusioncastStats we check.
type playerStats struct {
	Bytes struct {
		HTTP  float64 `json:"http"`
		P2P   float64 `json:"p2p"`
		Relay float64 `json:"relay"`
	} `json:"bytes"`
	CurrentTime    float64  `json:"currentTime"`
	Stalls         int      `json:"stalls"`
	Playing        bool     `json:"playing"`
	Segments       int      `json:"segments"`
	Verified       int      `json:"verified"`
	VerifyFailures int      `json:"verifyFailures"`
	LatencySec     *float64 `json:"latencySec"`
	FatalErrors    int      `json:"fatalErrors"`
	MediaErrors    int      `json:"mediaErrors"`
}

// startDemoOrigin serves the demo stream and the page on loopback. 127.0.0.1
// is a secure context for the page, so WebCrypto verifies every segment.
func startDemoOrigin(t testing.TB) string {
	t.Helper()
	return startOrigin(t, "demo")
}

func readStats(ctx context.Context) (playerStats, error) {
	var s playerStats
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(window.fusioncastStats || null)`))
	if err != nil {
		return s, err
	}
	err = json.Unmarshal([]byte(raw), &s)
	return s, err
}

// TestPlayerPlaysLiveDemo: the page plays at least 10 s of the live demo
// without a stall, every segment verifies, and the overlay shows the HTTP
// bytes.
func TestPlayerPlaysLiveDemo(t *testing.T) {
	if _, err := browser.Find(); err != nil {
		testenv.SkipOrFail(t, err.Error())
	}
	if !netns.InNamespace(t, func(ns *netns.NS) error {
		return ns.AddSelfVeth("10.213.20.1", "10.213.20.2")
	}) {
		return
	}
	base := startDemoOrigin(t)
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	bctx, bcancel, err := browser.Start(ctx, browser.Options{Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	defer bcancel()
	if err := chromedp.Do(bctx, chromedp.Navigate(base+"/")); err != nil {
		t.Fatal(err)
	}

	// Wait for playback to start, then watch 12 s of wall time.
	var first playerStats
	var startedAt time.Time
	for {
		s, err := readStats(bctx)
		if err != nil {
			t.Fatalf("reading stats: %v", err)
		}
		if s.FatalErrors > 0 {
			t.Fatalf("player failed: %+v", s)
		}
		if startedAt.IsZero() && s.Playing && s.CurrentTime > 0 {
			first, startedAt = s, time.Now()
			t.Logf("playing after warm-up: %+v", s)
		}
		if !startedAt.IsZero() && time.Since(startedAt) >= 12*time.Second {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("playback did not start or last: %+v", s)
		case <-time.After(500 * time.Millisecond):
		}
	}
	last, err := readStats(bctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("after 12 s: %+v", last)
	if played := last.CurrentTime - first.CurrentTime; played < 10 {
		t.Errorf("currentTime advanced %.1f s in 12 s of wall time, want at least 10", played)
	}
	if last.Stalls != 0 {
		t.Errorf("%d stalls", last.Stalls)
	}
	if last.Bytes.HTTP <= 0 || last.Bytes.P2P != 0 || last.Bytes.Relay != 0 {
		t.Errorf("bytes by source: %+v", last.Bytes)
	}
	if last.VerifyFailures != 0 || last.Verified < 5 {
		t.Errorf("verified %d segments, %d failures", last.Verified, last.VerifyFailures)
	}
	overlay, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelector('td[data-stat="http"]').textContent`))
	if err != nil {
		t.Fatal(err)
	}
	if overlay == "" || overlay == "0 B" {
		t.Errorf("the overlay shows HTTP bytes %q", overlay)
	}
	t.Logf("overlay HTTP: %s", overlay)
}

// corruptOnce is a reverse proxy in front of the origin that replaces the
// bytes of every segment the first time it is asked for (same length): a
// flaky intermediary, or (later) a malicious peer.
func corruptOnce(t *testing.T, originURL string) string {
	t.Helper()
	target, err := url.Parse(originURL)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := make(map[string]bool)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(r *http.Response) error {
		if !strings.HasSuffix(r.Request.URL.Path, ".ts") || r.StatusCode != http.StatusOK {
			return nil
		}
		mu.Lock()
		first := !seen[r.Request.URL.Path]
		seen[r.Request.URL.Path] = true
		mu.Unlock()
		if !first {
			return nil
		}
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return err
		}
		r.Body.Close()
		for i := range b {
			b[i] ^= 0x5a
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
		// A flaky intermediary, not a poisoned cache: the browser must not
		// keep the bad copy (segment URLs are immutable, so a browser that
		// kept it would be served it again from its own cache).
		r.Header.Set("Cache-Control", "no-store")
		r.Header.Del("ETag")
		r.Header.Del("Last-Modified")
		return nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: proxy, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

// TestPlayerRejectsCorruptSegments: every segment arrives corrupted once;
// the page detects each by its SHA-256, never hands it to the decoder, and
// plays on with the good copy fetched again.
func TestPlayerRejectsCorruptSegments(t *testing.T) {
	if _, err := browser.Find(); err != nil {
		testenv.SkipOrFail(t, err.Error())
	}
	if !netns.InNamespace(t, func(ns *netns.NS) error {
		return ns.AddSelfVeth("10.213.21.1", "10.213.21.2")
	}) {
		return
	}
	base := corruptOnce(t, startDemoOrigin(t))
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	bctx, bcancel, err := browser.Start(ctx, browser.Options{Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	defer bcancel()
	if err := chromedp.Do(bctx, chromedp.Navigate(base+"/")); err != nil {
		t.Fatal(err)
	}
	var first, last playerStats
	var startedAt time.Time
	for {
		s, err := readStats(bctx)
		if err != nil {
			t.Fatalf("reading stats: %v", err)
		}
		if startedAt.IsZero() && s.Playing && s.CurrentTime > 0 {
			first, startedAt = s, time.Now()
		}
		if !startedAt.IsZero() && time.Since(startedAt) >= 12*time.Second {
			last = s
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("playback did not start or last: %+v", s)
		case <-time.After(500 * time.Millisecond):
		}
	}
	t.Logf("after 12 s: %+v", last)
	if last.VerifyFailures < 3 || last.Verified < 3 {
		t.Errorf("%d corrupt segments detected, %d verified; want at least 3 of each", last.VerifyFailures, last.Verified)
	}
	if last.MediaErrors != 0 || last.FatalErrors != 0 {
		t.Errorf("corrupt bytes reached the decoder: %d media errors, %d fatal", last.MediaErrors, last.FatalErrors)
	}
	if played := last.CurrentTime - first.CurrentTime; played < 8 {
		t.Errorf("currentTime advanced %.1f s in 12 s", played)
	}
}
