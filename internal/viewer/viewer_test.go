package viewer

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"fusioncast/origin"
	"fusioncast/peer"
)

func TestPlayerModel(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	type stall struct {
		start time.Time
		d     time.Duration
	}
	var told []stall
	p := player{onStall: func(start time.Time, d time.Duration) { told = append(told, stall{start, d}) }}
	p.add(at(0), 2*time.Second) // playback starts, buffer [0,2)
	p.add(at(1), 2*time.Second) // buffer [0,4)
	if ph, dry := p.playhead(at(3)); ph != 3*time.Second || dry {
		t.Fatalf("playhead at 3s: %v %v", ph, dry)
	}
	p.add(at(5), 2*time.Second) // ran dry at 4 s, stalled 1 s
	if p.stalls != 1 || p.stallTime != time.Second {
		t.Fatalf("stalls %d for %v, want 1 for 1s", p.stalls, p.stallTime)
	}
	if ph, _ := p.playhead(at(6)); ph != 5*time.Second {
		t.Fatalf("playhead after the stall: %v, want 5s", ph)
	}
	// Ends playing normally: no stall.
	if ph := p.finish(at(6.5)); ph != 5500*time.Millisecond || p.stalls != 1 {
		t.Fatalf("finish: %v, %d stalls", ph, p.stalls)
	}
	// A stall in progress at the end counts.
	if p.finish(at(10)); p.stalls != 2 {
		t.Fatalf("a stall in progress was not counted: %d", p.stalls)
	}
	// OnStall heard of both, with when each began and how long it lasted.
	want := []stall{{at(4), time.Second}, {at(7), 3 * time.Second}}
	if len(told) != len(want) || told[0] != want[0] || told[1] != want[1] {
		t.Fatalf("OnStall told %v, want %v", told, want)
	}
}

// startDemo serves a demo of 4 clips of d each on loopback.
func startDemo(t *testing.T, d time.Duration, wrap func(http.Handler) http.Handler) string {
	t.Helper()
	clips := make([]origin.Clip, 4)
	for i := range clips {
		clips[i] = origin.Clip{Duration: d, Data: []byte(strings.Repeat(string(rune('a'+i)), 10000))}
	}
	demo, err := origin.NewDemo(clips, nil)
	if err != nil {
		t.Fatal(err)
	}
	o := origin.New(origin.Config{})
	if _, err := o.AddStream("demo", demo); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	if wrap == nil {
		return "http://" + ln.Addr().String() + "/live/demo/index.m3u8"
	}
	// Put a proxy in front that may change responses.
	pln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := "http://" + ln.Addr().String()
	srv := &http.Server{Handler: wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, err := http.Get(target + r.URL.Path)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		buf := make([]byte, 32<<10)
		for {
			n, err := resp.Body.Read(buf)
			w.Write(buf[:n])
			if err != nil {
				return
			}
		}
	}))}
	go srv.Serve(pln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + pln.Addr().String() + "/live/demo/index.m3u8"
}

func TestViewersPlayLiveDemo(t *testing.T) {
	url := startDemo(t, 250*time.Millisecond, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	s, err := RunLoad(ctx, LoadConfig{N: 5, Viewer: Config{PlaylistURL: url}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", s)
	if s.Viewers != 5 || s.Started != 5 {
		t.Fatalf("%d of %d viewers started", s.Started, s.Viewers)
	}
	// About 3 s of 0.25 s segments, less startup: each viewer plays many.
	if s.SegmentsPlayed < 5*6 {
		t.Errorf("only %d segments played", s.SegmentsPlayed)
	}
	if s.VerifyFailures != 0 || s.Errors != 0 {
		t.Errorf("%d verify failures, %d errors", s.VerifyFailures, s.Errors)
	}
	if s.Bytes.HTTP < s.DistinctBytes || s.Bytes.HTTP > 5*s.DistinctBytes {
		t.Errorf("http bytes %d, distinct %d", s.Bytes.HTTP, s.DistinctBytes)
	}
	if s.Bytes.P2P != 0 || s.Bytes.Relay != 0 {
		t.Errorf("bytes from peers in an HTTP-only run: %+v", s.Bytes)
	}
	if s.LatencyMsP50 <= 0 || s.LatencyMsP50 > 10_000 {
		t.Errorf("latency %d ms", s.LatencyMsP50)
	}
}

// A cache or proxy that corrupts segments is caught by the digests.
func TestViewerCatchesCorruption(t *testing.T) {
	corrupt := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, ".ts") {
				w.WriteHeader(200)
				w.Write([]byte(strings.Repeat("x", 10000)))
				return
			}
			h.ServeHTTP(w, r)
		})
	}
	url := startDemo(t, 250*time.Millisecond, corrupt)
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	s, err := Run(ctx, Config{PlaylistURL: url})
	if err != nil {
		t.Fatal(err)
	}
	if s.VerifyFailures == 0 || s.Started || s.SegmentsPlayed != 0 {
		t.Fatalf("corrupted segments were played: %+v", s)
	}
}

func TestViewerBadURL(t *testing.T) {
	for _, u := range []string{"", "ftp://x/y.m3u8", "/live/demo/index.m3u8", "http://"} {
		if _, err := Run(context.Background(), Config{PlaylistURL: u}); !errors.Is(err, ErrBadURL) {
			t.Errorf("%q: %v", u, err)
		}
	}
}

// Viewers with peer engines linked to each other: the edge fetcher takes
// segments from the origin, the others mostly from it, all verified and
// played.
func TestViewersWithPeerEngines(t *testing.T) {
	url := startDemo(t, time.Second, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 9*time.Second)
	defer cancel()
	const n = 3
	engines := make([]*peer.Engine, n)
	for i := range engines {
		e, err := peer.New(peer.Config{Swarm: peer.SwarmFor("demo"), Fetch: Fetcher(ctx, nil), HTTPMargin: 700 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		engines[i] = e
	}
	engines[0].SetEdge(true, 0)
	peer.Pipe(engines[0], engines[1], 0)
	peer.Pipe(engines[1], engines[2], 0)
	peer.Pipe(engines[0], engines[2], 0)
	stats := make([]Stats, n)
	var wg sync.WaitGroup
	for i := range engines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := Run(ctx, Config{PlaylistURL: url, Peer: engines[i]})
			if err != nil {
				t.Error(err)
			}
			stats[i] = s
		}()
	}
	wg.Wait()
	for i, s := range stats {
		t.Logf("viewer %d: %d played, bytes %+v, stalls %d, errors %d", i, s.SegmentsPlayed, s.Bytes, s.Stalls, s.Errors)
		if !s.Started || s.SegmentsPlayed < 3 || s.VerifyFailures != 0 {
			t.Errorf("viewer %d: %+v", i, s)
		}
		if i > 0 && s.Bytes.P2P < 2*s.Bytes.HTTP {
			t.Errorf("viewer %d got %d bytes from peers and %d over HTTP; want mostly peers", i, s.Bytes.P2P, s.Bytes.HTTP)
		}
	}
	if e := engines[0].Stats(); e.BytesUp == 0 {
		t.Errorf("the edge fetcher served nothing: %+v", e)
	}
}

func TestOriginCounters(t *testing.T) {
	u := startDemo(t, 250*time.Millisecond, nil)
	base := strings.TrimSuffix(u, "/live/demo/index.m3u8")
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	s, err := Run(ctx, Config{PlaylistURL: u})
	if err != nil {
		t.Fatal(err)
	}
	seg, pub, err := OriginCounters(context.Background(), http.DefaultClient, base, "demo")
	if err != nil {
		t.Fatal(err)
	}
	if seg != float64(s.Bytes.HTTP) || pub < 20000 {
		t.Fatalf("segment egress %v for %d bytes fetched, published %v", seg, s.Bytes.HTTP, pub)
	}
	if _, _, err := OriginCounters(context.Background(), http.DefaultClient, base, "nope"); err == nil {
		t.Fatal("no error for an unknown stream")
	}
}

// OriginEgress reads the origin's counter, says 0 for an origin that has
// served nothing yet, and refuses a page that is not an origin's (a relay's
// /metrics), rather than calling its egress 0.
func TestOriginEgress(t *testing.T) {
	for _, c := range []struct {
		page    string
		want    float64
		wantErr bool
	}{
		{"fusioncast_origin_egress_bytes_total{stream=\"demo\",transport=\"http\"} 1234\n", 1234, false},
		{"fusioncast_origin_segments_published_total{stream=\"demo\"} 3\n", 0, false},
		{"fusioncast_relay_served_bytes_total{stream=\"demo\"} 99\n", 0, true},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(c.page))
		}))
		got, err := OriginEgress(t.Context(), srv.Client(), srv.URL, "demo")
		srv.Close()
		if got != c.want || (err != nil) != c.wantErr {
			t.Errorf("page %q: %v, %v; want %v, error %v", c.page, got, err, c.want, c.wantErr)
		}
	}
}
