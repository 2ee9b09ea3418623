package tracker

import (
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"testing"
	"time"

	"fusioncast/internal/browser"
	"fusioncast/internal/netns"
	"fusioncast/internal/testenv"
	"fusioncast/internal/trackercompat"
)

// TestWebTorrentClientCompat: the real WebTorrent tracker client
// (bittorrent-tracker 11.2.3, bundled, in headless Chromium) works with our
// tracker: clients announce in one swarm, offers and answers reach the right
// peers unchanged (their WebRTC data channels connect), counts and scrape are
// right, no warnings.
func TestWebTorrentClientCompat(t *testing.T) {
	if _, err := browser.Find(); err != nil {
		testenv.SkipOrFail(t, err.Error())
	}
	if !netns.InNamespace(t, func(ns *netns.NS) error {
		return ns.AddSelfVeth("10.213.32.1", "10.213.32.2")
	}) {
		return
	}
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()

	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(rctx, ln) }()
	t.Cleanup(func() { rcancel(); <-done })

	page := httptest.NewServer(trackercompat.Handler())
	t.Cleanup(page.Close)

	t.Setenv("TMPDIR", t.TempDir())
	bctx, bcancel, err := browser.Start(ctx, browser.Options{Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bcancel)

	for _, n := range []int{2, trackercompat.MaxClients} {
		t.Run(fmt.Sprintf("clients=%d", n), func(t *testing.T) {
			res, err := trackercompat.Run(ctx, bctx, page.URL+"/", "ws://"+ln.Addr().String(), n)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := res.ConnectedPairs(), n*(n-1)/2; got != want {
				t.Errorf("%d connected pairs, want %d", got, want)
			}
			if err := res.Check(); err != nil {
				t.Error(err)
			}
			for _, c := range res.Clients {
				t.Logf("client %d: received %+v, intact offers %d answers %d", c.Index, c.Wire.Received, c.Wire.OffersIntact, c.Wire.AnswersIntact)
			}
		})
	}
}
