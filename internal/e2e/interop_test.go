package e2e

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"fusioncast/internal/browser"
	"fusioncast/internal/netns"
	"fusioncast/internal/testenv"
	"fusioncast/internal/viewer"
	"fusioncast/peer"
	"fusioncast/peer/join"
	"fusioncast/peer/rtc"
	"fusioncast/tracker"
)

// goViewer plays stream for d as a Go peer (package peer, peer/rtc through
// peer/join) and sends its stats when done.
func goViewer(ctx context.Context, base, trackerURL, stream string, d time.Duration) <-chan viewer.Stats {
	out := make(chan viewer.Stats, 1)
	go func() {
		ctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		client := &http.Client{Timeout: 10 * time.Second}
		e, joined, err := join.Start(ctx, join.Config{
			TrackerURL: trackerURL,
			Stream:     stream,
			Engine:     peer.Config{Fetch: viewer.Fetcher(ctx, client)},
			// The browser's candidates are on the veth (the default route).
			ICE: rtc.ICEConfig{Interfaces: []string{netns.SelfVethA}},
		})
		if err != nil {
			out <- viewer.Stats{Errors: -1}
			return
		}
		st, _ := viewer.Run(ctx, viewer.Config{PlaylistURL: base + "/live/" + stream + "/index.m3u8", Client: client, Peer: e})
		<-joined
		e.Close()
		out <- st
	}()
	return out
}

// TestBrowserAndGoPeers: browsers and Go peers share one swarm. Two streams,
// one tracker naming one edge fetcher per swarm: in "go-first" a Go peer
// joins first and is the edge fetcher, and the browser tab that joins after
// it must get its segments from the Go peer; in "tab-first" it is the
// other way round. Both directions of fusioncast/1 between the JavaScript
// and the Go engine, over Chromium's and pion's data channels.
func TestBrowserAndGoPeers(t *testing.T) {
	if _, err := browser.Find(); err != nil {
		testenv.SkipOrFail(t, err.Error())
	}
	if !netns.InNamespace(t, func(ns *netns.NS) error {
		return ns.AddSelfVeth("10.213.23.1", "10.213.23.2")
	}) {
		return
	}
	base := startOrigin(t, "go-first", "tab-first")
	trackerURL := startTrackerWith(t, tracker.Config{EdgeFetchers: 1})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	bctx, bcancel, err := browser.Start(ctx, browser.Options{Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	defer bcancel()
	tab2, cancelTab2 := browser.NewTab(bctx)
	defer cancelTab2()
	page := func(stream string) string { return base + "/?stream=" + stream + "&tracker=" + trackerURL }

	const (
		first   = 6 * time.Second  // the first peer of each swarm alone
		warmUp  = 10 * time.Second // before measuring the second
		measure = 40 * time.Second
	)
	// The first of each swarm: a Go peer in go-first, a tab in tab-first.
	goEdge := goViewer(ctx, base, trackerURL, "go-first", first+warmUp+measure+5*time.Second)
	if err := chromedp.Do(bctx, chromedp.Navigate(page("tab-first"))); err != nil {
		t.Fatal(err)
	}
	time.Sleep(first)
	// The second: a tab in go-first, a Go peer in tab-first.
	if err := chromedp.Do(tab2, chromedp.Navigate(page("go-first"))); err != nil {
		t.Fatal(err)
	}
	goSecond := goViewer(ctx, base, trackerURL, "tab-first", warmUp+measure)
	time.Sleep(warmUp)
	warm, err := readP2PStats(tab2)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(measure)
	tab2Stats, err := readP2PStats(tab2)
	if err != nil {
		t.Fatal(err)
	}
	tab1Stats, err := readP2PStats(bctx)
	if err != nil {
		t.Fatal(err)
	}
	g2 := <-goSecond
	g1 := <-goEdge

	// Go → browser: the tab in go-first took its segments from the Go edge fetcher.
	share, httpB, p2pB := p2pShare(warm, tab2Stats)
	t.Logf("go-first: tab (second): %.0f%% of %d KiB from peers after warm-up, edge %v, peers %d, stalls %d, verified %d; Go edge fetcher: http %d KiB, p2p %d KiB, errors %d",
		100*share, int(httpB+p2pB)>>10, tab2Stats.Edge, tab2Stats.Peers, tab2Stats.Stalls, tab2Stats.Verified, g1.Bytes.HTTP>>10, g1.Bytes.P2P>>10, g1.Errors)
	if share <= 0.5 || tab2Stats.VerifyFailures != 0 || tab2Stats.P2P.BadPeers != 0 || tab2Stats.MediaErrors != 0 {
		t.Errorf("go-first: the tab took %.0f%% of its bytes from the Go peer; %d verification failures, %d bad peers, %d media errors",
			100*share, tab2Stats.VerifyFailures, tab2Stats.P2P.BadPeers, tab2Stats.MediaErrors)
	}

	// Browser → Go: the Go peer in tab-first took its segments from the tab
	// (counted from its start: the Go viewer's stats are for its whole run).
	goShare := 0.0
	if all := g2.Bytes.HTTP + g2.Bytes.P2P; all > 0 {
		goShare = float64(g2.Bytes.P2P) / float64(all)
	}
	t.Logf("tab-first: Go peer (second): %.0f%% of %d KiB from peers, %d segments played, %d stalls, %d verification failures; tab (edge %v): uploaded %d KiB, peers %d",
		100*goShare, (g2.Bytes.HTTP+g2.Bytes.P2P)>>10, g2.SegmentsPlayed, g2.Stalls, g2.VerifyFailures, tab1Stats.Edge, int(tab1Stats.Uploaded)>>10, tab1Stats.Peers)
	if goShare <= 0.5 || g2.VerifyFailures != 0 || tab1Stats.Uploaded <= 0 {
		t.Errorf("tab-first: the Go peer took %.0f%% of its bytes from peers, %d verification failures; the tab uploaded %.0f bytes",
			100*goShare, g2.VerifyFailures, tab1Stats.Uploaded)
	}
}
