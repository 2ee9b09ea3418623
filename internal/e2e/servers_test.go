package e2e

import (
	"context"
	"net"
	"testing"

	"fusioncast/internal/demomedia"
	"fusioncast/origin"
	"fusioncast/tracker"
	"fusioncast/web"
)

// startOrigin serves the demo clip as each of the named streams, and the
// page, on loopback.
func startOrigin(t testing.TB, streams ...string) string {
	t.Helper()
	clips, err := origin.LoadClips(demomedia.FS(), "index.m3u8")
	if err != nil {
		t.Fatal(err)
	}
	o := origin.New(origin.Config{Web: web.Handler()})
	for _, name := range streams {
		demo, err := origin.NewDemo(clips, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := o.AddStream(name, demo); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("origin: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

// startTrackerWith runs a tracker with cfg on loopback and returns its
// websocket URL.
func startTrackerWith(t testing.TB, cfg tracker.Config) string {
	t.Helper()
	s, err := tracker.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("tracker: %v", err)
		}
	})
	return "ws://" + ln.Addr().String() + "/announce"
}

// startTracker runs a tracker with its defaults on loopback and returns
// its websocket URL.
func startTracker(t testing.TB) string {
	t.Helper()
	return startTrackerWith(t, tracker.Config{})
}
