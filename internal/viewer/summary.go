package viewer

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"fusioncast/peer"
)

// LoadConfig configures [RunLoad]: N viewers of one stream in one process.
type LoadConfig struct {
	Viewer Config
	// N is the number of viewers. If zero, 1.
	N int
	// Ramp spreads the viewers' joins evenly over this time. If zero, all
	// join at once.
	Ramp time.Duration
	// PeerFor, if set, gives viewer i its peer engine (see Config.Peer) when
	// it joins; the engine is closed when the viewer leaves. An error keeps
	// that viewer out of the run (counted as not started).
	PeerFor func(ctx context.Context, i int) (*peer.Engine, error)
}

// Summary aggregates the viewers of a run. Its JSON form is the output of
// `fusioncast viewers --json` (docs/viewers.md).
type Summary struct {
	Viewers        int     `json:"viewers"`
	Started        int     `json:"started"`
	DurationS      float64 `json:"duration_s"`
	SegmentsPlayed int     `json:"segments_played"`
	Bytes          Bytes   `json:"bytes"`
	PlaylistBytes  int64   `json:"playlist_bytes"`
	Stalls         int     `json:"stalls"`
	StallMs        int64   `json:"stall_ms"`
	VerifyFailures int     `json:"verify_failures"`
	Skipped        int     `json:"skipped"`
	Errors         int     `json:"errors"`
	StartupMsP50   int64   `json:"startup_ms_p50"`
	StartupMsP95   int64   `json:"startup_ms_p95"`
	LatencyMsP50   int64   `json:"latency_ms_p50"`
	LatencyMsMax   int64   `json:"latency_ms_max"`
	// DistinctSegments is how many different segments the viewers fetched
	// and DistinctBytes their total size: the bytes one viewer alone would
	// need. Origin copies per segment = origin egress / DistinctBytes.
	DistinctSegments int   `json:"distinct_segments"`
	DistinctBytes    int64 `json:"distinct_bytes"`
}

// RunLoad runs cfg.N viewers until ctx ends and summarises them. Viewers
// share cfg.Viewer.Client; if it is nil, they share one with enough idle
// connections per host for all of them.
func RunLoad(ctx context.Context, cfg LoadConfig) (Summary, error) {
	n := max(cfg.N, 1)
	if cfg.Viewer.Client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = n
		tr.MaxIdleConns = 2 * n
		cfg.Viewer.Client = &http.Client{Transport: tr, Timeout: 30 * time.Second}
		defer tr.CloseIdleConnections()
	}
	if cfg.Viewer.Logger == nil {
		cfg.Viewer.Logger = slog.New(slog.DiscardHandler)
	}
	// Check the configuration once rather than N times.
	if _, err := Run(canceled(), cfg.Viewer); err != nil {
		return Summary{}, err
	}
	start := time.Now()
	stats := make([]Stats, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if cfg.Ramp > 0 && n > 1 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(cfg.Ramp * time.Duration(i) / time.Duration(n)):
				}
			}
			vc := cfg.Viewer
			if cfg.PeerFor != nil {
				e, err := cfg.PeerFor(ctx, i)
				if err != nil {
					vc.Logger.Warn("viewer without a peer engine", "viewer", i, "err", err)
					return
				}
				defer e.Close()
				vc.Peer = e
			}
			stats[i], _ = Run(ctx, vc)
		}()
	}
	wg.Wait()
	return Summarize(stats, time.Since(start)), nil
}

func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// Summarize aggregates the stats of several viewers.
func Summarize(stats []Stats, d time.Duration) Summary {
	s := Summary{Viewers: len(stats), DurationS: d.Seconds()}
	var startup, latency []int64
	distinct := make(map[uint64]int64)
	for _, v := range stats {
		s.SegmentsPlayed += v.SegmentsPlayed
		s.Bytes.HTTP += v.Bytes.HTTP
		s.Bytes.P2P += v.Bytes.P2P
		s.Bytes.Relay += v.Bytes.Relay
		s.PlaylistBytes += v.PlaylistBytes
		s.Stalls += v.Stalls
		s.StallMs += v.StallTime.Milliseconds()
		s.VerifyFailures += v.VerifyFailures
		s.Skipped += v.Skipped
		s.Errors += v.Errors
		if v.Started {
			s.Started++
			startup = append(startup, v.Startup.Milliseconds())
			latency = append(latency, v.Latency.Milliseconds())
		}
		for seq, size := range v.Fetched {
			distinct[seq] = size
		}
	}
	s.StartupMsP50, s.StartupMsP95 = percentile(startup, 50), percentile(startup, 95)
	s.LatencyMsP50 = percentile(latency, 50)
	if len(latency) > 0 {
		s.LatencyMsMax = slices.Max(latency)
	}
	s.DistinctSegments = len(distinct)
	for _, size := range distinct {
		s.DistinctBytes += size
	}
	return s
}

func percentile(v []int64, p int) int64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	i := (len(v)*p + 99) / 100
	return v[min(max(i-1, 0), len(v)-1)]
}
