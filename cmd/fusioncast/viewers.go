package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"fusioncast/internal/viewer"
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
}

type viewersFlags struct {
	n                int
	origin, stream   string
	playlist         string
	duration, ramp   time.Duration
	jsonOut          bool
	liveSyncSegments int
}

func runViewers(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f viewersFlags
	fs := newFlags("viewers", "-n N [--origin URL] [--duration D] [--json]", stderr)
	fs.IntVar(&f.n, "n", 10, "number of viewers (1 to 100000)")
	fs.StringVar(&f.origin, "origin", "http://127.0.0.1:8080", "origin base URL")
	fs.StringVar(&f.stream, "stream", "demo", "stream name")
	fs.StringVar(&f.playlist, "playlist", "", "playlist URL (default: ORIGIN/live/STREAM/index.m3u8)")
	fs.DurationVar(&f.duration, "duration", 30*time.Second, "how long the viewers watch")
	fs.DurationVar(&f.ramp, "ramp", 0, "spread the joins over this time")
	fs.IntVar(&f.liveSyncSegments, "live-sync", 3, "start this many segments behind the live edge")
	fs.BoolVar(&f.jsonOut, "json", false, "print one JSON summary")
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
	rctx, cancel := context.WithTimeout(ctx, f.duration)
	defer cancel()
	s, err := viewer.RunLoad(rctx, viewer.LoadConfig{
		N:      f.n,
		Ramp:   f.ramp,
		Viewer: viewer.Config{PlaylistURL: f.playlist, LiveSyncSegments: f.liveSyncSegments},
	})
	if err != nil {
		return viewersResult{}, err
	}
	res := viewersResult{Summary: s, OriginEgressBytes: -1}
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
