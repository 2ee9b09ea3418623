package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// egressRow is one N of `fusioncast benchegress`.
type egressRow struct {
	N                      int     `json:"n"`
	OriginEgressBytes      int64   `json:"origin_egress_bytes"`
	DistinctBytes          int64   `json:"distinct_bytes"`
	OriginCopiesPerSegment float64 `json:"origin_copies_per_segment"`
	EgressMbps             float64 `json:"origin_egress_mbit_per_s"`
	SegmentsPlayed         int     `json:"segments_played"`
	Stalls                 int     `json:"stalls"`
	VerifyFailures         int     `json:"verify_failures"`
	StartupMsP50           int64   `json:"startup_ms_p50"`
	LatencyMsP50           int64   `json:"latency_ms_p50"`
}

func runBenchEgress(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("benchegress", "[--n 1,10,100] [--duration D] [--json]", stderr)
	ns := fs.String("n", "1,10,100", "comma-separated viewer counts")
	duration := fs.Duration("duration", 20*time.Second, "how long each N watches")
	jsonOut := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	counts, err := viewerCounts(*ns, 100000)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	f := originFlags{addr: "127.0.0.1:0", stream: "demo", source: "demo", window: 6, maxConns: 10000}
	base, done, err := startOrigin(ctx, &f, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer func() { cancel(); <-done }()

	var rows []egressRow
	for _, n := range counts {
		res, err := viewersRun(ctx, viewersFlags{n: n, origin: base, stream: "demo", duration: *duration, liveSyncSegments: 3, httpOnly: true}, stderr)
		if err != nil {
			return err
		}
		rows = append(rows, egressRow{
			N: n, OriginEgressBytes: res.OriginEgressBytes, DistinctBytes: res.DistinctBytes,
			OriginCopiesPerSegment: res.OriginCopiesPerSegment,
			EgressMbps:             float64(res.OriginEgressBytes) * 8 / res.DurationS / 1e6,
			SegmentsPlayed:         res.SegmentsPlayed, Stalls: res.Stalls, VerifyFailures: res.VerifyFailures,
			StartupMsP50: res.StartupMsP50, LatencyMsP50: res.LatencyMsP50,
		})
		if !*jsonOut {
			fmt.Fprintf(stderr, "N=%d done\n", n)
		}
	}
	if *jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	fmt.Fprintf(stdout, "HTTP-only viewers of the demo, %v each\n\n", *duration)
	fmt.Fprintf(stdout, "%7s %16s %14s %12s %9s %8s\n", "viewers", "origin bytes", "copies/segment", "origin Mbit/s", "stalls", "latency")
	for _, r := range rows {
		fmt.Fprintf(stdout, "%7d %16d %14.2f %12.2f %9d %7.1fs\n", r.N, r.OriginEgressBytes, r.OriginCopiesPerSegment, r.EgressMbps, r.Stalls, float64(r.LatencyMsP50)/1000)
	}
	return nil
}

// viewerCounts parses the comma-separated viewer counts of --n.
func viewerCounts(list string, most int) ([]int, error) {
	var counts []int
	for _, s := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > most {
			return nil, fmt.Errorf("bad viewer count %q in --n (1 to %d)", s, most)
		}
		counts = append(counts, n)
	}
	return counts, nil
}
