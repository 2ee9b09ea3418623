package sim

import (
	"math"
	"slices"
	"time"

	"fusioncast/peer"
)

// metrics are collected during the run.
type metrics struct {
	joins, leaves     int
	stalls            int
	stallTime         int64
	watch             int64 // playing or stalled, after the start of playback
	skipped           int
	latency           []float64 // seconds, at the start of each segment's playback
	startup           []float64 // seconds, joins after the warm-up
	arrivals          []float32 // seconds from publication to each viewer's copy, measured segments
	hops              [16]int64 // copies of measured segments by hops from the origin (0: HTTP)
	uploadBytes       int64     // DATA payload transmitted in the measured part, modelled
	originBytesWindow int64     // HTTP bytes fetched in the measured part, modelled
}

// stall counts a stall from a to b (the part within [lo, hi]; its start
// if that is within).
func (m *metrics) stall(a, b, lo, hi int64) {
	if a >= lo && a <= hi {
		m.stalls++
	}
	m.stallTime += overlap(a, b, lo, hi)
}

func (s *Sim) countUpload(b int64) {
	if s.loop.now >= s.warm {
		s.m.uploadBytes += b
	}
}

// Result is what a run measured. Byte counts are modelled bytes
// (Config.SegmentBytes per segment). Figures about segments are over the
// segments published after the warm-up and long enough before the end to
// reach every player ("segments"); figures about playback are over the
// virtual time after the warm-up.
type Result struct {
	Viewers    int     `json:"viewers"`
	Joins      int     `json:"joins"`
	Leaves     int     `json:"leaves"`
	SimulatedS float64 `json:"simulated_s"`
	WarmupS    float64 `json:"warmup_s"`
	Uplink     string  `json:"uplink"`
	HTTPOnly   bool    `json:"http_only"`

	Segments     int `json:"segments"`
	SegmentBytes int `json:"segment_bytes"`
	// OriginBytes is what the origin sent of the measured segments;
	// OriginCopiesPerSegment is OriginBytes / SegmentBytes / Segments.
	OriginBytes            int64   `json:"origin_bytes"`
	OriginCopiesPerSegment float64 `json:"origin_copies_per_segment"`
	// OriginMbps is the origin's mean egress after the warm-up.
	OriginMbps float64 `json:"origin_mbit_per_s"`
	// HTTP is why the origin's copies were fetched.
	HTTP HTTPFetches `json:"http_fetches"`
	// P2PBytes is what viewers got from peers of the measured segments;
	// OffloadRatio is P2PBytes / (P2PBytes + OriginBytes).
	P2PBytes     int64   `json:"p2p_bytes"`
	OffloadRatio float64 `json:"offload_ratio"`
	// UploadBytes is the DATA payload viewers sent after the warm-up,
	// including copies cancelled or beaten by another source.
	UploadBytes int64 `json:"p2p_upload_bytes"`

	// NotStarted counts the viewers present at the end whose playback
	// had not started (joined within the last moments, or stuck).
	NotStarted          int     `json:"not_started"`
	ViewerHours         float64 `json:"viewer_hours"`
	Stalls              int     `json:"stalls"`
	StallS              float64 `json:"stall_s"`
	StallRatio          float64 `json:"stall_ratio"`
	StallsPerViewerHour float64 `json:"stalls_per_viewer_hour"`
	Skipped             int     `json:"skipped"`
	LatencyMeanS        float64 `json:"latency_mean_s"`
	LatencyP95S         float64 `json:"latency_p95_s"`
	StartupMeanS        float64 `json:"startup_mean_s"`
	StartupP95S         float64 `json:"startup_p95_s"`

	// Delivery of the measured segments: time from publication to a
	// viewer's verified copy, and hops from the origin (0: HTTP).
	ArrivalP50S float64 `json:"arrival_p50_s"`
	ArrivalP95S float64 `json:"arrival_p95_s"`
	ArrivalP99S float64 `json:"arrival_p99_s"`
	HopsMean    float64 `json:"hops_mean"`
	HopsMax     int     `json:"hops_max"`
	Hops        []int64 `json:"hops"`

	// EdgeUpMbps are the uploads of the edge fetchers at the end, by rank.
	EdgeUpMbps []float64 `json:"edge_up_mbps"`

	// From the engines' counters: all should be 0.
	BadData       int64 `json:"bad_data"`
	ProtocolDrops int64 `json:"protocol_drops"`
	HTTPErrors    int64 `json:"http_errors"`

	Seed       uint64  `json:"seed"`
	WallS      float64 `json:"wall_s"`
	Events     uint64  `json:"events"`
	EventsPerS float64 `json:"events_per_s"`
}

// HTTPFetches counts the origin's copies of the measured segments by
// why the viewer fetched them. Wasted counts those that arrived after the
// viewer already had the segment from a peer (included in the others).
type HTTPFetches struct {
	Edge       int64 `json:"edge"`
	Backup     int64 `json:"backup_edge"`
	Startup    int64 `json:"startup"`
	Deadline   int64 `json:"deadline"`
	NoDeadline int64 `json:"no_deadline"`
	Wasted     int64 `json:"wasted"`
}

func (s *Sim) result(wall time.Duration) Result {
	cfg := &s.cfg
	end := s.loop.now
	notStarted := 0
	for _, v := range s.present {
		v.finish(end)
		if !v.pl.started {
			notStarted++
		}
	}
	r := Result{
		Viewers: cfg.Viewers, Joins: s.m.joins, Leaves: s.m.leaves,
		SimulatedS: time.Duration(end).Seconds(), WarmupS: cfg.Warmup.Seconds(),
		Uplink: cfg.Uplink.String(), HTTPOnly: cfg.HTTPOnly,
		SegmentBytes: cfg.SegmentBytes, Seed: cfg.Seed,
		WallS: wall.Seconds(), Events: s.loop.ran, NotStarted: notStarted,
	}
	if wall > 0 {
		r.EventsPerS = float64(r.Events) / wall.Seconds()
	}
	var p2p int64
	for _, seg := range s.origin.segs {
		if !seg.measured {
			continue
		}
		r.Segments++
		for _, n := range seg.fetches {
			r.OriginBytes += n * int64(cfg.SegmentBytes)
		}
		r.HTTP.Edge += seg.fetches[reasonEdge]
		r.HTTP.Backup += seg.fetches[reasonBackup]
		r.HTTP.Startup += seg.fetches[reasonStartup]
		r.HTTP.Deadline += seg.fetches[reasonDeadline]
		r.HTTP.NoDeadline += seg.fetches[reasonNoDeadline]
		r.HTTP.Wasted += seg.wasted
		p2p += seg.got[peer.SourcePeer]
	}
	r.P2PBytes = p2p * int64(cfg.SegmentBytes)
	if r.Segments > 0 {
		r.OriginCopiesPerSegment = float64(r.OriginBytes) / float64(cfg.SegmentBytes) / float64(r.Segments)
	}
	if all := r.P2PBytes + r.OriginBytes; all > 0 {
		r.OffloadRatio = float64(r.P2PBytes) / float64(all)
	}
	if t := end - s.warm; t > 0 {
		r.OriginMbps = float64(s.m.originBytesWindow) * 8 / time.Duration(t).Seconds() / 1e6
	}
	r.UploadBytes = s.m.uploadBytes

	r.ViewerHours = time.Duration(s.m.watch).Hours()
	r.Stalls, r.StallS, r.Skipped = s.m.stalls, time.Duration(s.m.stallTime).Seconds(), s.m.skipped
	if s.m.watch > 0 {
		r.StallRatio = float64(s.m.stallTime) / float64(s.m.watch)
		r.StallsPerViewerHour = float64(s.m.stalls) / r.ViewerHours
	}
	r.LatencyMeanS, r.LatencyP95S = mean(s.m.latency), quantile(s.m.latency, 0.95)
	r.StartupMeanS, r.StartupP95S = mean(s.m.startup), quantile(s.m.startup, 0.95)
	arr := make([]float64, len(s.m.arrivals))
	for i, a := range s.m.arrivals {
		arr[i] = float64(a)
	}
	slices.Sort(arr)
	r.ArrivalP50S, r.ArrivalP95S, r.ArrivalP99S = quantileSorted(arr, 0.5), quantileSorted(arr, 0.95), quantileSorted(arr, 0.99)
	var copies, hopSum int64
	for h, n := range s.m.hops {
		if n > 0 {
			r.HopsMax = h
		}
		copies += n
		hopSum += int64(h) * n
	}
	r.Hops = slices.Clone(s.m.hops[:r.HopsMax+1])
	if copies > 0 {
		r.HopsMean = float64(hopSum) / float64(copies)
	}
	for _, v := range s.tracker.order[s.tracker.head:] {
		if !v.gone && v.rankSet >= 0 {
			r.EdgeUpMbps = append(r.EdgeUpMbps, round(v.upMbps))
		}
	}
	for _, v := range s.viewers {
		st := v.final
		if !v.gone {
			st = v.e.Stats()
		}
		r.BadData += st.BadData
		r.ProtocolDrops += st.ProtocolDrops
		r.HTTPErrors += st.HTTPErrors
	}
	for _, f := range []*float64{&r.OriginCopiesPerSegment, &r.OffloadRatio, &r.OriginMbps, &r.StallRatio,
		&r.StallsPerViewerHour, &r.LatencyMeanS, &r.LatencyP95S, &r.StartupMeanS, &r.StartupP95S,
		&r.ArrivalP50S, &r.ArrivalP95S, &r.ArrivalP99S, &r.HopsMean, &r.ViewerHours, &r.StallS} {
		*f = round(*f)
	}
	return r
}

// round keeps 6 significant digits, so that JSON stays readable.
func round(x float64) float64 {
	if x == 0 || math.IsNaN(x) || math.IsInf(x, 0) {
		return x
	}
	p := math.Pow(10, 5-math.Floor(math.Log10(math.Abs(x))))
	return math.Round(x*p) / p
}

func mean(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	sum := 0.0
	for _, x := range v {
		sum += x
	}
	return sum / float64(len(v))
}

func quantile(v []float64, q float64) float64 {
	w := slices.Clone(v)
	slices.Sort(w)
	return quantileSorted(w, q)
}

func quantileSorted(v []float64, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	return v[min(int(q*float64(len(v))), len(v)-1)]
}
