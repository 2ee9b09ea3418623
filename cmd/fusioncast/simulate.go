package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"fusioncast/internal/sim"
)

func runSimulate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var (
		cfg               sim.Config
		up, down, uplink  string
		jsonOut, progress bool
		segBytes, segReal int
		highWater         uint64
		capJitter         float64
	)
	fs := newFlags("simulate", "[--viewers 1000] [--duration 120s] [--up-mbps 20%:1,50%:5,30%:20] [--leave-rate 0.01] [--seed 1] [--json]", stderr)
	fs.IntVar(&cfg.Viewers, "viewers", 1000, "viewers watching at once (1 to 100000)")
	fs.DurationVar(&cfg.Duration, "duration", 120*time.Second, "virtual time simulated")
	fs.DurationVar(&cfg.Warmup, "warmup", 40*time.Second, "measure after this (stalls, latency, bytes; segments published after it)")
	fs.DurationVar(&cfg.Ramp, "ramp", 20*time.Second, "spread the first joins over this time")
	fs.Float64Var(&cfg.LeaveRate, "leave-rate", 0.01, "fraction of viewers leaving per minute after the ramp, each replaced by a new one")
	fs.DurationVar(&cfg.Segment, "segment", 2*time.Second, "segment duration")
	fs.IntVar(&cfg.Window, "window", 6, "segments in the live playlist")
	fs.IntVar(&segBytes, "seg-bytes", 160_000, "modelled segment size: what the network and the origin count")
	fs.IntVar(&segReal, "seg-bytes-real", 2_000, "size of the segments the engines really exchange and verify")
	fs.StringVar(&up, "up-mbps", "20%:1,50%:5,30%:20", "viewers' upload capacity, Mbit/s: a value or a mix SHARE%:MBPS,...")
	fs.StringVar(&down, "down-mbps", "50", "viewers' download capacity, Mbit/s: a value or a mix")
	fs.Float64Var(&capJitter, "capacity-jitter", 0.1, "each viewer's capacities are the drawn value times 1±this (0: exact)")
	fs.DurationVar(&cfg.Latency, "latency", 20*time.Millisecond, "smallest one-way latency between two viewers")
	fs.DurationVar(&cfg.LatencyJitter, "latency-jitter", 60*time.Millisecond, "per-viewer latency jitter: a link adds the mean of its ends' draws in [0, this)")
	fs.DurationVar(&cfg.OriginRTT, "origin-rtt", 40*time.Millisecond, "round trip of an HTTP fetch from the origin")
	fs.Float64Var(&cfg.OriginMbps, "origin-mbps", 50, "bandwidth of one HTTP fetch, Mbit/s (also capped by the viewer's download)")
	fs.StringVar(&uplink, "uplink", "fair", "how an upload is shared by a viewer's links: fair (round robin) or fifo")
	fs.IntVar(&cfg.MaxPeers, "max-peers", 20, "most links per viewer")
	fs.IntVar(&cfg.Offers, "offers", 5, "links a viewer asks the tracker for when it joins and at each announce")
	fs.DurationVar(&cfg.AnnounceInterval, "announce-interval", 120*time.Second, "how often a viewer below --max-peers asks for more links")
	fs.IntVar(&cfg.EdgeFetchers, "edge-fetchers", 2, "edge fetchers the tracker names (the oldest viewers)")
	fs.DurationVar(&cfg.ConnectDelay, "connect-delay", time.Second, "time to open a link once paired (plus 4 one-way latencies)")
	fs.BoolVar(&cfg.HTTPOnly, "http-only", false, "no links and no edge fetchers: every viewer fetches from the origin (the baseline)")
	fs.DurationVar(&cfg.PollJitter, "poll-jitter", time.Second, "each viewer reads the playlist at an offset in [0, this) after a segment appears")
	fs.IntVar(&cfg.LiveSync, "live-sync", 3, "start this many segments behind the live edge")
	fs.DurationVar(&cfg.StartupBudget, "startup-budget", 2*time.Second, "deadline of a joining viewer's first segment")
	fs.Float64Var(&cfg.NoUploadBelow, "no-upload-below", 0, "viewers with less upload (Mbit/s) serve nobody (engine NoUpload)")
	fs.DurationVar(&cfg.PeerWait, "peer-wait", 0, "engine PeerWait (0: the engine's default)")
	fs.DurationVar(&cfg.HTTPMargin, "http-margin", 0, "engine HTTPMargin (0: the engine's default)")
	fs.DurationVar(&cfg.EdgeStagger, "edge-stagger", 0, "engine EdgeStagger (0: the engine's default)")
	fs.Uint64Var(&highWater, "high-water", 0, "engine HighWater in modelled bytes (0: the engine's default)")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "the run's seed: the same seed gives the same figures")
	fs.BoolVar(&jsonOut, "json", false, "print JSON")
	fs.IntVar(&cfg.TraceSegment, "trace", -1, "print the events of the Nth segment published after the warm-up (0: the first) to stderr: HTTP fetches, HAVE, REQUEST, ABSENT, copies")
	fs.BoolVar(&progress, "progress", false, "print the virtual time reached to stderr every 10 s of it")
	if err := parse(fs, args); err != nil {
		return err
	}
	var err error
	if cfg.Up, err = sim.ParseDist(up); err != nil {
		return fmt.Errorf("--up-mbps: %w", err)
	}
	if cfg.Down, err = sim.ParseDist(down); err != nil {
		return fmt.Errorf("--down-mbps: %w", err)
	}
	switch uplink {
	case "fair":
		cfg.Uplink = sim.UplinkFair
	case "fifo":
		cfg.Uplink = sim.UplinkFIFO
	default:
		return fmt.Errorf("--uplink %q: want fair or fifo", uplink)
	}
	// Zero means "the default" in sim.Config; on the command line it
	// means zero.
	cfg.SegmentBytes, cfg.SegmentBytesReal, cfg.HighWater = segBytes, segReal, highWater
	cfg.CapacityJitter = capJitter
	if capJitter == 0 {
		cfg.CapacityJitter = -1
	}
	if cfg.EdgeFetchers == 0 {
		cfg.EdgeFetchers = -1
	}
	if cfg.TraceSegment >= 0 {
		cfg.Trace = stderr
	}
	for name, v := range map[string]int{"--viewers": cfg.Viewers, "--window": cfg.Window, "--seg-bytes": segBytes,
		"--seg-bytes-real": segReal, "--max-peers": cfg.MaxPeers, "--offers": cfg.Offers, "--live-sync": cfg.LiveSync} {
		if v <= 0 {
			return fmt.Errorf("%s %d out of range", name, v)
		}
	}
	if !(cfg.OriginMbps > 0) {
		return fmt.Errorf("--origin-mbps must be positive")
	}
	for name, d := range map[string]time.Duration{"--duration": cfg.Duration, "--segment": cfg.Segment,
		"--poll-jitter": cfg.PollJitter, "--startup-budget": cfg.StartupBudget, "--latency": cfg.Latency,
		"--origin-rtt": cfg.OriginRTT, "--connect-delay": cfg.ConnectDelay, "--announce-interval": cfg.AnnounceInterval} {
		if d <= 0 {
			return fmt.Errorf("%s must be positive", name)
		}
	}
	var onProgress func(time.Duration)
	if progress {
		onProgress = func(t time.Duration) { fmt.Fprintf(stderr, "simulated %v of %v\n", t, cfg.Duration) }
	}
	res, err := sim.Run(ctx, cfg, onProgress)
	if err != nil {
		return err
	}
	if jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	printSimulation(stdout, cfg, up, down, res)
	return nil
}

func printSimulation(w io.Writer, cfg sim.Config, up, down string, r sim.Result) {
	mode := "peer to peer"
	if r.HTTPOnly {
		mode = "HTTP only"
	}
	fmt.Fprintf(w, "fusioncast simulate: %d viewers, %s, %.0f s simulated (warm-up %.0f s), seed %d\n",
		r.Viewers, mode, r.SimulatedS, r.WarmupS, r.Seed)
	fmt.Fprintf(w, "upload %s Mbit/s, download %s, latency %v + up to %v, uplink %s, max peers %d, offers %d, churn %g/min (%d joins, %d leaves)\n\n",
		up, down, cfg.Latency, cfg.LatencyJitter, r.Uplink, cfg.MaxPeers, cfg.Offers, cfg.LeaveRate, r.Joins, r.Leaves)
	row := func(name, format string, a ...any) {
		fmt.Fprintf(w, "%-28s %s\n", name, fmt.Sprintf(format, a...))
	}
	row("segments measured", "%d of %d bytes", r.Segments, r.SegmentBytes)
	row("origin copies per segment", "%.3f  (origin %.2f Mbit/s)", r.OriginCopiesPerSegment, r.OriginMbps)
	h := r.HTTP
	row("  copies by reason", "edge %d, backup edge %d, startup %d, deadline %d, no deadline %d; %d beaten by a peer",
		h.Edge, h.Backup, h.Startup, h.Deadline, h.NoDeadline, h.Wasted)
	row("offload ratio", "%.3f%%", 100*r.OffloadRatio)
	row("peer-to-peer bytes", "%s received, %s sent", bytesIEC(r.P2PBytes), bytesIEC(r.UploadBytes))
	row("stall ratio", "%.4f%%  (%d stalls, %.1f s; %.2f per viewer-hour over %.1f viewer-hours)",
		100*r.StallRatio, r.Stalls, r.StallS, r.StallsPerViewerHour, r.ViewerHours)
	if r.Skipped > 0 {
		row("segments skipped", "%d", r.Skipped)
	}
	row("latency behind live", "mean %.2f s, p95 %.2f s", r.LatencyMeanS, r.LatencyP95S)
	row("startup (joins measured)", "mean %.2f s, p95 %.2f s", r.StartupMeanS, r.StartupP95S)
	row("segment arrival", "p50 %.2f s, p95 %.2f s, p99 %.2f s after publication", r.ArrivalP50S, r.ArrivalP95S, r.ArrivalP99S)
	var hops []string
	for i, n := range r.Hops {
		hops = append(hops, fmt.Sprintf("%d:%d", i, n))
	}
	row("hops from the origin", "mean %.2f, max %d  (copies by hop %s)", r.HopsMean, r.HopsMax, strings.Join(hops, " "))
	if len(r.EdgeUpMbps) > 0 {
		row("edge fetchers' upload", "%v Mbit/s (by rank, at the end)", r.EdgeUpMbps)
	}
	row("bad data", "%d  (protocol drops %d, HTTP errors %d)", r.BadData, r.ProtocolDrops, r.HTTPErrors)
	row("wall time", "%.2f s, %d events, %.2f M events/s", r.WallS, r.Events, r.EventsPerS/1e6)
}

// bytesIEC formats a byte count for people.
func bytesIEC(b int64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%d B", b)
	}
	div, exp := int64(unit), 0
	for n := b / unit; n >= unit; n /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(b)/float64(div), "KMGTPE"[exp])
}
