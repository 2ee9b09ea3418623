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
	fs.DurationVar(&cfg.AnnounceTimeout, "announce-timeout", 5*time.Second, "wait this long for an announce's response, then count a timeout and announce again")
	fs.IntVar(&cfg.TrackerPID, "tracker-pid", 0, "process ID of the tracker on this machine: report its CPU time in the measured window (Linux)")
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
	if cfg.Duration <= 0 || cfg.AnnounceTimeout <= 0 || cfg.TrackerPID < 0 {
		return fmt.Errorf("--duration and --announce-timeout must be positive, --tracker-pid not negative")
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
	fmt.Fprintf(stdout, "responses %.0f/s (announce responses %d of which late %d, offers %d, answers %d)\n",
		r.ResponsesPerS, r.AnnounceResponses, r.LateAnnounceResponses, r.OffersReceived, r.AnswersReceived)
	fmt.Fprintf(stdout, "also received: answer acknowledgements %d (tracker acknowledges answers: %v), failures %d, other %d\n",
		r.AnswerAcks, r.TrackerAcksAnswers, r.Failures, r.OtherMessages)
	fmt.Fprintf(stdout, "sent: announces %d, answers %d\n", r.AnnouncesSent, r.AnswersSent)
	e := r.ErrorsByKind
	fmt.Fprintf(stdout, "errors %d (dial %d, write %d, read %d, timeout %d, protocol %d), connections lost %d\n",
		r.Errors, e.Dial, e.Write, e.Read, e.Timeout, e.Protocol, r.ConnectionsLost)
	fmt.Fprintf(stdout, "announce latency p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms (%d samples)\n",
		r.LatencyMsP50, r.LatencyMsP90, r.LatencyMsP99, r.LatencyMsMax, r.LatencySamples)
	fmt.Fprintf(stdout, "load tool CPU %.2f s (%.3f s per 100k responses)\n", r.LoadCPUSeconds, r.LoadCPUPer100k)
	if r.TrackerCPUSeconds > 0 {
		fmt.Fprintf(stdout, "tracker CPU %.2f s (%.0f responses per CPU second)\n", r.TrackerCPUSeconds, r.ResponsesPerTrackerCPUS)
	}
	if r.LastFailure != "" {
		fmt.Fprintf(stdout, "last failure reason: %s\n", r.LastFailure)
	}
	if r.LastError != "" {
		fmt.Fprintf(stdout, "last error: %s\n", r.LastError)
	}
	if r.ProbeError != "" {
		fmt.Fprintf(stdout, "answer acknowledgement probe: %s\n", r.ProbeError)
	}
	return nil
}
