package e2e

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"fusioncast/internal/browser"
	"fusioncast/internal/netns"
	"fusioncast/internal/testenv"
)

// benchWindowEnv sets the measuring window of BenchmarkBrowserTabs, as a Go
// duration (FUSIONCAST_BENCH_WINDOW=20s for a quick trial); without it the
// window is benchWindow.
const benchWindowEnv = "FUSIONCAST_BENCH_WINDOW"

// benchWindow is how long BenchmarkBrowserTabs measures once every tab is
// warm: 30 segments of the demo, so that a segment more or less at either
// end of the window moves copies per segment by about 3%.
const benchWindow = 60 * time.Second

// benchLatencyFor is the end of the window over which BenchmarkBrowserTabs
// averages each tab's latency.
const benchLatencyFor = 10 * time.Second

// Origin series that BenchmarkBrowserTabs reads (see package origin's
// metrics): the segment bytes it sent, and the bytes of the segments it
// published, of the demo stream.
const (
	segmentEgressSeries = `fusioncast_origin_segment_egress_bytes_total{stream="demo"}`
	publishedSeries     = `fusioncast_origin_published_bytes_total{stream="demo"}`
)

// BenchmarkBrowserTabs measures what the page's peer-to-peer sharing saves
// the origin and costs the viewers: 4 and 6 tabs of one headless Chromium
// play the live demo, once as plain HTTP viewers (the page without
// ?tracker=, hls.js's own loader) and once sharing segments over WebRTC
// (?tracker=, as in TestBrowsersShareSegments), in one run so that both
// modes see the same machine. Each sub-benchmark runs in a network
// namespace of its own with a fresh origin, tracker and browser.
//
// The tabs open 6 s apart, each warms up for 12 s, and once the last is
// warm every tab is measured for 60 s (benchWindowEnv). It reports:
//
//   - copies/segment: the origin's segment egress over the window divided
//     by the bytes of the segments it published meanwhile, so 1 means the
//     origin sent each segment once;
//   - stalls: stalls since each tab's warm-up, summed over the tabs;
//   - latency-mean-s, latency-max-s: the mean and the largest over the tabs
//     of their latency behind the live edge at the end (hls.js's latency,
//     each tab's readings over the last 10 s of the window averaged, since
//     one reading moves with where in its 2 s cycle the playlist is);
//   - from-peers-%: the share of the tabs' segment bytes over the window
//     that came from peers (0 over HTTP, by construction).
//
// Every tab but the first has its own browser context
// (browser.NewIsolatedTab), so no tab is served from another's HTTP cache:
// the segments are immutable and cacheable, and with a shared cache the HTTP
// baseline would cost the origin about one copy per segment however many
// tabs watch. The tabs still share two cores with the origin and the
// tracker, which a real audience does not.
//
// A sub-benchmark is one run of two minutes or so, not a loop: b.N is
// ignored. Run it with -benchtime 1x (make bench-browser):
//
//	go test -run '^$' -bench BrowserTabs -benchtime 1x -timeout 30m ./internal/e2e/
//
// and -v to see each tab's line as it comes (without -v the testing package
// keeps only the first 10 lines of a benchmark's log).
//
// It needs root and Chromium, like the tests, and skips without them (fails
// under FUSIONCAST_REQUIRE_ALL=1). docs/benchmarks.md has the figures.
func BenchmarkBrowserTabs(b *testing.B) {
	window, err := benchWindowFromEnv()
	if err != nil {
		b.Fatal(err)
	}
	if err := checkOneCall(); err != nil {
		b.Fatal(err)
	}
	for _, tabs := range []int{4, 6} {
		b.Run(fmt.Sprintf("tabs=%d", tabs), func(b *testing.B) {
			for _, mode := range []string{"http", "p2p"} {
				b.Run("mode="+mode, func(b *testing.B) {
					benchTabs(b, tabs, mode == "p2p", window)
				})
			}
		})
	}
}

func benchWindowFromEnv() (time.Duration, error) {
	v := os.Getenv(benchWindowEnv)
	if v == "" {
		return benchWindow, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s=%q: want a positive duration such as 20s", benchWindowEnv, v)
	}
	return d, nil
}

// checkOneCall refuses a -benchtime that would make the testing package call
// the sub-benchmarks more than once, each call a run of minutes: a count
// above 1x, or a duration longer than the least a call lasts (the fourth tab
// opens 18 s in and warms up for 12 s before the window starts). The
// default, 1s, is fine.
func checkOneCall() error {
	f := flag.Lookup("test.benchtime")
	if f == nil {
		return nil
	}
	v := f.Value.String()
	if n, ok := strings.CutSuffix(v, "x"); ok {
		if n != "1" {
			return fmt.Errorf("-benchtime %s: each call of this benchmark is one run of minutes; use -benchtime 1x", v)
		}
		return nil
	}
	if d, err := time.ParseDuration(v); err == nil && d > 3*p2pStagger+p2pWarmUp {
		return fmt.Errorf("-benchtime %s would call each sub-benchmark again; use -benchtime 1x", v)
	}
	return nil
}

// benchTab is one tab of a BenchmarkBrowserTabs run and its readings.
type benchTab struct {
	ctx    context.Context
	opened time.Time
	warm   *p2pStats // at the end of its warm-up
	from   *p2pStats // at the start of the measuring window
	last   p2pStats

	// The latency readings of the end of the window.
	latSum float64
	latN   int
}

func benchTabs(b *testing.B, n int, p2p bool, window time.Duration) {
	if _, err := browser.Find(); err != nil {
		testenv.SkipOrFail(b, err.Error())
	}
	// The self-veth in both modes, although plain HTTP does not need it, so
	// that the two runs differ only in the page's URL.
	if !netns.InNamespace(b, func(ns *netns.NS) error {
		return ns.AddSelfVeth("10.213.23.1", "10.213.23.2")
	}) {
		return
	}
	base := startDemoOrigin(b)
	page := base + "/"
	if p2p {
		page += "?tracker=" + startTracker(b)
	}
	length := time.Duration(n-1)*p2pStagger + p2pWarmUp + window
	ctx, cancel := context.WithTimeout(b.Context(), length+2*time.Minute)
	defer cancel()
	bctx, bcancel, err := browser.Start(ctx, browser.Options{Logf: b.Logf})
	if err != nil {
		b.Fatal(err)
	}
	defer bcancel()
	b.Logf("page %s, %d tabs, measuring %v", page, n, window)

	tabs := make([]*benchTab, n)
	latFor := min(benchLatencyFor, window)
	var from, to time.Time
	var egressFrom, egressTo, pubFrom, pubTo float64
	start := time.Now()
	for {
		// Open the next tab when its time comes.
		for i, tb := range tabs {
			if tb != nil || time.Since(start) < time.Duration(i)*p2pStagger {
				continue
			}
			tctx := bctx
			if i > 0 {
				var tcancel context.CancelFunc
				tctx, tcancel = browser.NewIsolatedTab(bctx)
				defer tcancel()
			}
			if err := chromedp.Do(tctx, chromedp.Navigate(page)); err != nil {
				b.Fatalf("tab %d: %v", i+1, err)
			}
			tabs[i] = &benchTab{ctx: tctx, opened: time.Now()}
		}
		for i, tb := range tabs {
			if tb == nil {
				continue
			}
			s, err := readP2PStats(tb.ctx)
			if err != nil {
				b.Fatalf("tab %d: reading stats: %v", i+1, err)
			}
			if s.FatalErrors > 0 {
				b.Fatalf("tab %d: player failed: %+v", i+1, s)
			}
			tb.last = s
			if tb.warm == nil && time.Since(tb.opened) >= p2pWarmUp {
				tb.warm = &s
			}
			if !from.IsZero() && time.Since(from) >= window-latFor && s.LatencySec != nil {
				tb.latSum += *s.LatencySec
				tb.latN++
			}
		}
		if from.IsZero() && tabs[n-1] != nil && tabs[n-1].warm != nil {
			from = time.Now()
			if egressFrom, pubFrom, err = segmentCounters(ctx, base); err != nil {
				b.Fatal(err)
			}
			for _, tb := range tabs {
				s := tb.last
				tb.from = &s
			}
		}
		if !from.IsZero() && time.Since(from) >= window {
			to = time.Now()
			if egressTo, pubTo, err = segmentCounters(ctx, base); err != nil {
				b.Fatal(err)
			}
			break
		}
		select {
		case <-ctx.Done():
			b.Fatalf("the run did not finish in %v", length+2*time.Minute)
		case <-time.After(time.Second):
		}
	}

	stalls := 0
	var latSum, latMax, httpBytes, peerBytes float64
	for i, tb := range tabs {
		s := tb.last
		if tb.latN == 0 {
			b.Fatalf("tab %d was not playing live at the end: %+v", i+1, s)
		}
		lat := tb.latSum / float64(tb.latN)
		latSum += lat
		latMax = max(latMax, lat)
		tabStalls := s.Stalls - tb.warm.Stalls
		stalls += tabStalls
		share, h, p := p2pShare(*tb.from, s)
		httpBytes += h
		peerBytes += p
		b.Logf("tab %d: edge %v (rank %s), peers %d; in the window: played %.1f s, %.0f%% of %d KiB from peers (http %d KiB), uploaded %d KiB; since warm-up: %d stalls; latency at the end %.1f s; in all: verified %d, %d failures, %d media errors, %d bad peers",
			i+1, s.Edge, rankText(s.EdgeRank), s.Peers, s.CurrentTime-tb.from.CurrentTime, 100*share, int(h+p)>>10, int(h)>>10,
			int(s.Uploaded-tb.from.Uploaded)>>10, tabStalls, lat, s.Verified, s.VerifyFailures, s.MediaErrors, s.P2P.BadPeers)
	}
	published, sent := pubTo-pubFrom, egressTo-egressFrom
	if published <= 0 {
		b.Fatalf("the origin published nothing in the %v window", to.Sub(from))
	}
	copies := sent / published
	fromPeers := 0.0
	if httpBytes+peerBytes > 0 {
		fromPeers = 100 * peerBytes / (httpBytes + peerBytes)
	}
	b.Logf("origin: %d KiB of segments sent for %d KiB published in %.0f s (%.2f copies per segment, %.2f Mbit/s)",
		int(sent)>>10, int(published)>>10, to.Sub(from).Seconds(), copies, sent*8/to.Sub(from).Seconds()/1e6)

	// The run's wall time says nothing: 0 ns/op leaves it out of the line.
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(copies, "copies/segment")
	b.ReportMetric(float64(stalls), "stalls")
	b.ReportMetric(latSum/float64(n), "latency-mean-s")
	b.ReportMetric(latMax, "latency-max-s")
	b.ReportMetric(fromPeers, "from-peers-%")
}

// segmentCounters reads the origin's segment egress and published bytes of
// the demo stream.
func segmentCounters(ctx context.Context, base string) (egress, published float64, err error) {
	if egress, err = originCounter(ctx, base, segmentEgressSeries); err != nil {
		return 0, 0, err
	}
	if published, err = originCounter(ctx, base, publishedSeries); err != nil {
		return 0, 0, err
	}
	return egress, published, nil
}
