package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"fusioncast/tracker"
)

// peersRow is one N of `fusioncast benchpeers`: the same viewers as plain
// HTTP clients and as peers, one after the other.
type peersRow struct {
	N        int       `json:"n"`
	HTTPOnly peersFigs `json:"http_only"`
	Peers    peersFigs `json:"peers"`
	raw      [2]viewersResult
}

// peersFigs are the figures of one run.
type peersFigs struct {
	SteadyCopiesPerSegment float64 `json:"steady_copies_per_segment"`
	OffloadRatio           float64 `json:"offload_ratio"` // peer bytes / all segment bytes the viewers got
	Stalls                 int     `json:"stalls"`
	StallMs                int64   `json:"stall_ms"`
	LatencyMsP50           int64   `json:"latency_ms_p50"`
	LatencyMsMax           int64   `json:"latency_ms_max"`
	StartupMsP50           int64   `json:"startup_ms_p50"`
	SegmentsPlayed         int     `json:"segments_played"`
	VerifyFailures         int     `json:"verify_failures"`
	Started                int     `json:"started"`
}

func figsOf(r viewersResult) peersFigs {
	f := peersFigs{
		SteadyCopiesPerSegment: r.SteadyCopiesPerSegment, Stalls: r.Stalls, StallMs: r.StallMs,
		LatencyMsP50: r.LatencyMsP50, LatencyMsMax: r.LatencyMsMax, StartupMsP50: r.StartupMsP50,
		SegmentsPlayed: r.SegmentsPlayed, VerifyFailures: r.VerifyFailures, Started: r.Started,
	}
	if all := r.Bytes.HTTP + r.Bytes.P2P + r.Bytes.Relay; all > 0 {
		f.OffloadRatio = float64(r.Bytes.P2P+r.Bytes.Relay) / float64(all)
	}
	return f
}

func runBenchPeers(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("benchpeers", "[--n 5,10,25,50] [--warmup 20s] [--measure 60s] [--plot FILE.png] [--json]", stderr)
	ns := fs.String("n", "5,10,25,50", "comma-separated viewer counts")
	warmup := fs.Duration("warmup", 20*time.Second, "time before the measured window (joins, the first segments)")
	measure := fs.Duration("measure", 60*time.Second, "the measured window")
	ramp := fs.Duration("ramp", 5*time.Second, "spread the joins over this time")
	plot := fs.String("plot", "", "write a PNG plot of origin copies per segment against N to this file")
	jsonOut := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	counts, err := viewerCounts(*ns, 1000)
	if err != nil {
		return err
	}
	if *warmup <= 0 || *measure <= 0 || *ramp < 0 || *ramp >= *warmup {
		return fmt.Errorf("--warmup and --measure must be positive, --ramp shorter than --warmup")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	quiet := slog.New(slog.DiscardHandler)
	f := originFlags{addr: "127.0.0.1:0", stream: "demo", source: "demo", window: 6, maxConns: 10000}
	base, done, err := startOrigin(ctx, &f, quiet)
	if err != nil {
		return err
	}
	defer func() { cancel(); <-done }()
	trackerURL, trackerDone, err := startBenchTracker(ctx, quiet)
	if err != nil {
		return err
	}
	defer func() { cancel(); <-trackerDone }()

	var rows []peersRow
	for _, n := range counts {
		row := peersRow{N: n}
		for i, httpOnly := range []bool{true, false} {
			res, err := viewersRun(ctx, viewersFlags{
				n: n, origin: base, stream: "demo", duration: *warmup + *measure, warmup: *warmup, ramp: *ramp,
				liveSyncSegments: 3, httpOnly: httpOnly, tracker: trackerURL,
			}, stderr)
			if err != nil {
				return err
			}
			row.raw[i] = res
			if !*jsonOut {
				fmt.Fprintf(stderr, "N=%d %s: %.2f copies per segment (steady), offload %.1f%%, %d stalls\n",
					n, map[bool]string{true: "HTTP only", false: "peers"}[httpOnly], res.SteadyCopiesPerSegment,
					100*figsOf(res).OffloadRatio, res.Stalls)
			}
		}
		row.HTTPOnly, row.Peers = figsOf(row.raw[0]), figsOf(row.raw[1])
		rows = append(rows, row)
	}
	if *plot != "" {
		if err := plotPeers(*plot, rows); err != nil {
			return err
		}
	}
	if *jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	fmt.Fprintf(stdout, "Go viewers of the demo on loopback: %v warm-up (joins over %v), then %v measured; HTTP only, then peers\n\n", *warmup, *ramp, *measure)
	fmt.Fprintf(stdout, "%7s | %21s | %21s | %15s | %17s\n", "", "origin copies/segment", "offload", "stalls", "latency p50")
	fmt.Fprintf(stdout, "%7s | %10s %10s | %10s %10s | %7s %7s | %8s %8s\n", "viewers", "HTTP", "peers", "HTTP", "peers", "HTTP", "peers", "HTTP", "peers")
	for _, r := range rows {
		fmt.Fprintf(stdout, "%7d | %10.2f %10.2f | %9.1f%% %9.1f%% | %7d %7d | %7.1fs %7.1fs\n", r.N,
			r.HTTPOnly.SteadyCopiesPerSegment, r.Peers.SteadyCopiesPerSegment,
			100*r.HTTPOnly.OffloadRatio, 100*r.Peers.OffloadRatio, r.HTTPOnly.Stalls, r.Peers.Stalls,
			float64(r.HTTPOnly.LatencyMsP50)/1000, float64(r.Peers.LatencyMsP50)/1000)
	}
	if *plot != "" {
		fmt.Fprintf(stdout, "\nplot: %s\n", *plot)
	}
	return nil
}

// startBenchTracker runs a tracker on loopback for the benchmark, with
// limits that let many viewers of one process announce.
func startBenchTracker(ctx context.Context, logger *slog.Logger) (string, <-chan error, error) {
	t, err := tracker.New(tracker.Config{MaxConnsPerAddr: 100000, AnnounceRate: 1000, AnnounceBurst: 1000, Logger: logger})
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	done := make(chan error, 1)
	go func() { done <- t.Run(ctx, ln) }()
	return "ws://" + ln.Addr().String() + "/announce", done, nil
}
