package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"fusioncast/internal/browser"
	"fusioncast/internal/netns"
	"fusioncast/internal/testenv"
)

// p2pStats is the peer-to-peer part of window.fusioncastStats.
type p2pStats struct {
	playerStats
	Peers    int     `json:"peers"`
	Uploaded float64 `json:"uploaded"`
	Edge     bool    `json:"edge"`
	EdgeRank *int    `json:"edgeRank"`
	P2P      struct {
		State        string `json:"state"`
		SegmentsHTTP int    `json:"segmentsHTTP"`
		SegmentsP2P  int    `json:"segmentsP2P"`
		BadPeers     int    `json:"badPeers"`
	} `json:"p2p"`
}

func readP2PStats(ctx context.Context) (p2pStats, error) {
	var s p2pStats
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(window.fusioncastStats || null)`))
	if err != nil {
		return s, err
	}
	err = json.Unmarshal([]byte(raw), &s)
	return s, err
}

// originCounter reads one counter of the origin's /metrics (0 if absent).
func originCounter(ctx context.Context, base, series string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, sc.Err()
}

// p2pShare is the share of segment bytes that came from peers between two
// readings.
func p2pShare(from, to p2pStats) (share, http, p2p float64) {
	http = to.Bytes.HTTP - from.Bytes.HTTP
	p2p = (to.Bytes.P2P + to.Bytes.Relay) - (from.Bytes.P2P + from.Bytes.Relay)
	if http+p2p == 0 {
		return 0, 0, 0
	}
	return p2p / (http + p2p), http, p2p
}

const (
	p2pTabs      = 4
	p2pStagger   = 6 * time.Second  // between opening two tabs
	p2pWarmUp    = 12 * time.Second // after opening, before measuring a tab
	p2pPlayFor   = 45 * time.Second // every tab is watched this long after its warm-up
	p2pMaxLength = 4 * time.Minute
)

// TestBrowsersShareSegments: four tabs of one Chromium play the live demo
// with a tracker (?tracker=), opened a few seconds apart. Every tab plays,
// nothing fails verification, the tracker makes two of them edge fetchers,
// and every tab but the first (the primary edge fetcher, which fetches each
// new segment over HTTP) takes most of its segment bytes from the other
// tabs over WebRTC data channels once warmed up, so that the origin sends
// each segment about once however many tabs watch. docs/browser-peer.md
// has the figures.
func TestBrowsersShareSegments(t *testing.T) {
	if _, err := browser.Find(); err != nil {
		testenv.SkipOrFail(t, err.Error())
	}
	if !netns.InNamespace(t, func(ns *netns.NS) error {
		return ns.AddSelfVeth("10.213.22.1", "10.213.22.2")
	}) {
		return
	}
	base := startDemoOrigin(t)
	trackerURL := startTracker(t)
	ctx, cancel := context.WithTimeout(t.Context(), p2pMaxLength)
	defer cancel()
	bctx, bcancel, err := browser.Start(ctx, browser.Options{Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	defer bcancel()
	page := base + "/?tracker=" + trackerURL
	t.Logf("page %s", page)

	type tab struct {
		ctx    context.Context
		opened time.Time
		warm   *p2pStats // the reading at the end of the warm-up
		last   p2pStats
	}
	tabs := make([]*tab, p2pTabs)
	segsBefore, err := originCounter(ctx, base, `fusioncast_origin_http_requests_total{code="200",kind="segment"}`)
	if err != nil {
		t.Fatal(err)
	}
	var measureFrom, measureTo time.Time
	var segsFrom, segsTo float64
	start := time.Now()
	for {
		now := time.Now()
		// Open the next tab when its time comes.
		for i, tb := range tabs {
			if tb == nil && now.Sub(start) >= time.Duration(i)*p2pStagger {
				tctx := bctx
				if i > 0 {
					var tcancel context.CancelFunc
					// A browser context each: tabs that shared
					// one would share its HTTP cache, and the
					// origin would send each segment once
					// without any peer-to-peer.
					tctx, tcancel = browser.NewIsolatedTab(bctx)
					defer tcancel()
				}
				if err := chromedp.Do(tctx, chromedp.Navigate(page)); err != nil {
					t.Fatalf("tab %d: %v", i+1, err)
				}
				tabs[i] = &tab{ctx: tctx, opened: time.Now()}
				t.Logf("tab %d opened", i+1)
			}
		}
		all := true
		for i, tb := range tabs {
			if tb == nil {
				all = false
				continue
			}
			s, err := readP2PStats(tb.ctx)
			if err != nil {
				t.Fatalf("tab %d: reading stats: %v", i+1, err)
			}
			if s.FatalErrors > 0 {
				t.Fatalf("tab %d: player failed: %+v", i+1, s)
			}
			tb.last = s
			if tb.warm == nil && time.Since(tb.opened) >= p2pWarmUp {
				w := s
				tb.warm = &w
				t.Logf("tab %d warmed up: playing %v, peers %d, edge %v, http %.0f, p2p %.0f", i+1, s.Playing, s.Peers, s.Edge, s.Bytes.HTTP, s.Bytes.P2P)
			}
			if tb.warm == nil || time.Since(tb.opened) < p2pWarmUp+p2pPlayFor {
				all = false
			}
		}
		// The origin's segment count over the time every tab is warm.
		if measureFrom.IsZero() && tabs[p2pTabs-1] != nil && tabs[p2pTabs-1].warm != nil {
			measureFrom = time.Now()
			if segsFrom, err = originCounter(ctx, base, `fusioncast_origin_http_requests_total{code="200",kind="segment"}`); err != nil {
				t.Fatal(err)
			}
		}
		if all {
			measureTo = time.Now()
			if segsTo, err = originCounter(ctx, base, `fusioncast_origin_http_requests_total{code="200",kind="segment"}`); err != nil {
				t.Fatal(err)
			}
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the run did not finish in %v", p2pMaxLength)
		case <-time.After(time.Second):
		}
	}

	for i, tb := range tabs {
		s, w := tb.last, *tb.warm
		share, httpBytes, p2pBytes := p2pShare(w, s)
		played := s.CurrentTime - w.CurrentTime
		t.Logf("tab %d: edge %v (rank %v), peers %d, after warm-up: %.0f%% of %d KiB from peers (http %d KiB, p2p %d KiB), played %.1f s, stalls %d, latency %s, uploaded %d KiB, verified %d, segments from the engine: %d http, %d p2p",
			i+1, s.Edge, rankText(s.EdgeRank), s.Peers, 100*share, int(httpBytes+p2pBytes)>>10, int(httpBytes)>>10, int(p2pBytes)>>10,
			played, s.Stalls, secText(s.LatencySec), int(s.Uploaded)>>10, s.Verified, s.P2P.SegmentsHTTP, s.P2P.SegmentsP2P)
		if s.VerifyFailures != 0 || s.MediaErrors != 0 || s.FatalErrors != 0 || s.P2P.BadPeers != 0 {
			t.Errorf("tab %d: %d verification failures, %d media errors, %d fatal errors, %d bad peers",
				i+1, s.VerifyFailures, s.MediaErrors, s.FatalErrors, s.P2P.BadPeers)
		}
		if wall := p2pPlayFor.Seconds(); played < wall*0.8 {
			t.Errorf("tab %d: played %.1f s in %.0f s after its warm-up", i+1, played, wall)
		}
		// A stall on a shared 2-core machine is possible even over HTTP;
		// more than one in 45 s is not.
		if stalls := s.Stalls - w.Stalls; stalls > 1 {
			t.Errorf("tab %d: %d stalls after warm-up", i+1, stalls)
		}
		if !s.Playing || s.Verified < 10 {
			t.Errorf("tab %d: playing %v, %d segments verified", i+1, s.Playing, s.Verified)
		}
		if s.Peers < 1 || s.P2P.State != "connected" {
			t.Errorf("tab %d: %d peers, tracker %q", i+1, s.Peers, s.P2P.State)
		}
		// The first tab is the primary edge fetcher: it fetches every new
		// segment over HTTP and serves it. The others take theirs from
		// the swarm.
		if i > 0 && share <= 0.5 {
			t.Errorf("tab %d: %.0f%% of its segment bytes came from peers after warm-up, want most", i+1, 100*share)
		}
	}
	edges := 0
	for _, tb := range tabs {
		if tb.last.Edge {
			edges++
		}
	}
	if edges != 2 {
		t.Errorf("%d tabs are edge fetchers, want 2 (the tracker's default)", edges)
	}
	// The demo publishes a segment every 2 s.
	if published := measureTo.Sub(measureFrom).Seconds() / 2; published > 0 {
		copies := (segsTo - segsFrom) / published
		t.Logf("origin: %.0f segment responses in all, %.2f per segment published while all %d tabs played (%.0f s)",
			segsTo-segsBefore, copies, p2pTabs, measureTo.Sub(measureFrom).Seconds())
		// The primary edge fetcher's copy, and at most about one more
		// (a backup's, a fallback) now and then: HTTP-only tabs cost 4.
		if copies > 2 {
			t.Errorf("the origin sent each segment %.2f times to %d tabs", copies, p2pTabs)
		}
	}
}

func secText(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.1f s", *v)
}

func rankText(r *int) string {
	if r == nil {
		return "-"
	}
	return fmt.Sprint(*r)
}
