package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"fusioncast/tracker/load"
)

func runTrackerLoad(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg load.Config
	var jsonOut bool
	fs := newFlags("trackerload", "--url ws://HOST:PORT [--connections C] [--swarms S] [--offers 10] [--duration D] [--json]", stderr)
	fs.StringVar(&cfg.URL, "url", "", "tracker websocket URL (any WebTorrent tracker)")
	fs.IntVar(&cfg.Connections, "connections", 1000, "websocket connections (one peer each)")
	fs.IntVar(&cfg.Swarms, "swarms", 100, "swarms the peers spread over")
	fs.IntVar(&cfg.Offers, "offers", 10, "offers per announce")
	fs.IntVar(&cfg.SDPBytes, "sdp-bytes", 1300, "size of each offer's SDP")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "measured duration (after a 1 s warm-up)")
	fs.BoolVar(&jsonOut, "json", false, "print one JSON summary")
	if err := parse(fs, args); err != nil {
		return err
	}
	if cfg.URL == "" {
		fs.Usage()
		return fmt.Errorf("--url is required")
	}
	if cfg.Connections < 1 || cfg.Connections > 1_000_000 || cfg.Swarms < 1 || cfg.Offers < 0 {
		return fmt.Errorf("--connections must be in [1, 1000000], --swarms at least 1, --offers not negative")
	}
	r, err := load.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	fmt.Fprintf(stdout, "%s: %d/%d connections, %d swarms, %d offers per announce, %.1f s\n", r.URL, r.Connected, r.Connections, r.Swarms, r.Offers, r.DurationS)
	fmt.Fprintf(stdout, "responses %.0f/s (announce responses %d, offers %d, answers %d, failures %d)\n",
		r.ResponsesPerS, r.AnnounceResponses, r.OffersReceived, r.AnswersReceived, r.Failures)
	fmt.Fprintf(stdout, "sent: announces %d, answers %d; errors %d\n", r.AnnouncesSent, r.AnswersSent, r.Errors)
	fmt.Fprintf(stdout, "announce latency p50 %.1f ms, p90 %.1f ms, p99 %.1f ms\n", r.LatencyMsP50, r.LatencyMsP90, r.LatencyMsP99)
	if r.LastFailure != "" {
		fmt.Fprintf(stdout, "last failure reason: %s\n", r.LastFailure)
	}
	return nil
}
