package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"fusioncast/internal/viewer"
	"fusioncast/peer"
	"fusioncast/peer/join"
	"fusioncast/peer/rtc"
)

// viewersResult is the JSON that `fusioncast viewers --json` prints: the
// viewers' summary plus the origin's egress during the run when its
// /metrics could be read.
type viewersResult struct {
	viewer.Summary
	// OriginEgressBytes is the origin's HTTP egress for the stream during
	// the run, or -1 if it could not be read.
	OriginEgressBytes int64 `json:"origin_egress_bytes"`
	// OriginCopiesPerSegment is OriginEgressBytes / DistinctBytes: how many
	// times the origin sent each segment (N for N plain HTTP viewers).
	OriginCopiesPerSegment float64 `json:"origin_copies_per_segment"`
	// SteadyCopiesPerSegment is the same after --warmup (-1 without one
	// or when the origin's counters could not be read): the origin's
	// segment egress over the segment bytes it published meanwhile.
	SteadyCopiesPerSegment float64 `json:"steady_copies_per_segment"`
}

type viewersFlags struct {
	n                int
	origin, stream   string
	playlist         string
	duration, ramp   time.Duration
	jsonOut          bool
	liveSyncSegments int
	httpOnly         bool
	tracker          string
	maxPeers         int
	warmup           time.Duration
}

func runViewers(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f viewersFlags
	fs := newFlags("viewers", "-n N [--origin URL] [--tracker URL | --http-only] [--duration D] [--json]", stderr)
	fs.IntVar(&f.n, "n", 10, "number of viewers (1 to 100000)")
	fs.StringVar(&f.origin, "origin", "http://127.0.0.1:8080", "origin base URL")
	fs.StringVar(&f.stream, "stream", "demo", "stream name")
	fs.StringVar(&f.playlist, "playlist", "", "playlist URL (default: ORIGIN/live/STREAM/index.m3u8)")
	fs.DurationVar(&f.duration, "duration", 30*time.Second, "how long the viewers watch")
	fs.DurationVar(&f.ramp, "ramp", 0, "spread the joins over this time")
	fs.IntVar(&f.liveSyncSegments, "live-sync", 3, "start this many segments behind the live edge")
	fs.BoolVar(&f.jsonOut, "json", false, "print one JSON summary")
	fs.BoolVar(&f.httpOnly, "http-only", false, "plain HTTP viewers, no peers (the baseline)")
	fs.StringVar(&f.tracker, "tracker", "", "tracker URL (default: ws://ORIGIN-HOST:ORIGIN-PORT+1/announce)")
	fs.IntVar(&f.maxPeers, "max-peers", 0, "peer connections per viewer (default 20)")
	fs.DurationVar(&f.warmup, "warmup", 0, "also report origin copies per segment from this long after the start (steady state)")
	if err := parse(fs, args); err != nil {
		return err
	}
	res, err := viewersRun(ctx, f, stderr)
	if err != nil {
		return err
	}
	if f.jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	s := res.Summary
	fmt.Fprintf(stdout, "viewers %d (started %d) for %.1f s\n", s.Viewers, s.Started, s.DurationS)
	fmt.Fprintf(stdout, "segments played %d, bytes http %d p2p %d relay %d\n", s.SegmentsPlayed, s.Bytes.HTTP, s.Bytes.P2P, s.Bytes.Relay)
	fmt.Fprintf(stdout, "stalls %d (%d ms), verify failures %d, skipped %d, errors %d\n", s.Stalls, s.StallMs, s.VerifyFailures, s.Skipped, s.Errors)
	fmt.Fprintf(stdout, "startup p50 %d ms p95 %d ms, latency p50 %d ms max %d ms\n", s.StartupMsP50, s.StartupMsP95, s.LatencyMsP50, s.LatencyMsMax)
	if res.OriginEgressBytes >= 0 {
		fmt.Fprintf(stdout, "origin egress %d bytes = %.2f copies per segment\n", res.OriginEgressBytes, res.OriginCopiesPerSegment)
	}
	if res.SteadyCopiesPerSegment >= 0 {
		fmt.Fprintf(stdout, "after the %v warm-up: %.2f copies per segment\n", f.warmup, res.SteadyCopiesPerSegment)
	}
	return nil
}

func viewersRun(ctx context.Context, f viewersFlags, stderr io.Writer) (viewersResult, error) {
	if f.n < 1 || f.n > 100000 {
		return viewersResult{}, fmt.Errorf("-n %d out of range [1, 100000]", f.n)
	}
	if f.duration <= 0 {
		return viewersResult{}, fmt.Errorf("--duration must be positive, got %v", f.duration)
	}
	if f.playlist == "" {
		f.playlist = strings.TrimSuffix(f.origin, "/") + "/live/" + f.stream + "/index.m3u8"
	}
	client := &http.Client{Timeout: 5 * time.Second}
	before, err := viewer.OriginEgress(ctx, client, f.origin, f.stream)
	if err != nil {
		fmt.Fprintf(stderr, "fusioncast viewers: origin egress unknown: %v\n", err)
		before = -1
	}
	lc := viewer.LoadConfig{
		N:      f.n,
		Ramp:   f.ramp,
		Viewer: viewer.Config{PlaylistURL: f.playlist, LiveSyncSegments: f.liveSyncSegments},
	}
	if !f.httpOnly {
		if f.tracker == "" {
			if f.tracker, err = defaultTrackerURL(f.origin); err != nil {
				return viewersResult{}, err
			}
		}
		if lc.PeerFor, err = peerFor(f); err != nil {
			return viewersResult{}, err
		}
	}
	if f.warmup < 0 || f.warmup >= f.duration {
		return viewersResult{}, fmt.Errorf("--warmup %v must be shorter than --duration %v", f.warmup, f.duration)
	}
	rctx, cancel := context.WithTimeout(ctx, f.duration)
	defer cancel()
	type counters struct{ seg, pub float64 }
	steady := make(chan counters, 1)
	if f.warmup > 0 {
		go func() {
			select {
			case <-rctx.Done():
			case <-time.After(f.warmup):
				if seg, pub, err := viewer.OriginCounters(ctx, client, f.origin, f.stream); err == nil {
					steady <- counters{seg, pub}
				}
			}
			close(steady)
		}()
	} else {
		close(steady)
	}
	s, err := viewer.RunLoad(rctx, lc)
	if err != nil {
		return viewersResult{}, err
	}
	res := viewersResult{Summary: s, OriginEgressBytes: -1, SteadyCopiesPerSegment: -1}
	if c0, ok := <-steady; ok {
		if seg, pub, err := viewer.OriginCounters(ctx, client, f.origin, f.stream); err == nil && pub > c0.pub {
			res.SteadyCopiesPerSegment = (seg - c0.seg) / (pub - c0.pub)
		}
	}
	if before >= 0 {
		if after, err := viewer.OriginEgress(ctx, client, f.origin, f.stream); err == nil {
			res.OriginEgressBytes = int64(after - before)
			if s.DistinctBytes > 0 {
				res.OriginCopiesPerSegment = float64(res.OriginEgressBytes) / float64(s.DistinctBytes)
			}
		}
	}
	return res, nil
}

// defaultTrackerURL is where `fusioncast demo` runs its tracker for an
// origin: the same host, the next port.
func defaultTrackerURL(origin string) (string, error) {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("--origin %q is not a URL", origin)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		port = 80
		if u.Scheme == "https" {
			port = 443
		}
	}
	return "ws://" + net.JoinHostPort(u.Hostname(), strconv.Itoa(port+1)) + "/announce", nil
}

// peerFor returns the engine factory of peer viewers: each joins the
// stream's swarm through the tracker with its own WebRTC connections.
// Against a loopback tracker they gather candidates on lo only.
func peerFor(f viewersFlags) (func(context.Context, int) (*peer.Engine, error), error) {
	tu, err := url.Parse(f.tracker)
	if err != nil || (tu.Scheme != "ws" && tu.Scheme != "wss") || tu.Host == "" {
		return nil, fmt.Errorf("--tracker %q is not a ws:// or wss:// URL", f.tracker)
	}
	var ice rtc.ICEConfig
	if ip := net.ParseIP(tu.Hostname()); ip != nil && ip.IsLoopback() || tu.Hostname() == "localhost" {
		ice = rtc.ICEConfig{Interfaces: []string{"lo"}, Loopback: true}
	}
	client := &http.Client{Timeout: 10 * time.Second}
	return func(ctx context.Context, i int) (*peer.Engine, error) {
		e, _, err := join.Start(ctx, join.Config{
			TrackerURL: f.tracker,
			Stream:     f.stream,
			Engine:     peer.Config{Fetch: viewer.Fetcher(ctx, client)},
			MaxPeers:   f.maxPeers,
			ICE:        ice,
		})
		return e, err
	}, nil
}
