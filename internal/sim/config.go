package sim

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// ErrBadConfig is returned by [Run] and [ParseDist] for a configuration
// the simulation cannot run.
var ErrBadConfig = errors.New("sim: bad configuration")

// Config describes one simulated run. The zero value of each field means
// the stated default.
type Config struct {
	// Viewers is how many viewers watch at once (joins ramp up to it; each
	// leaver is replaced). If zero, 1,000.
	Viewers int
	// Duration is the virtual time simulated. If zero, 120 s.
	Duration time.Duration
	// Warmup is the start of the measured part of the run: stalls, latency
	// and bytes are counted after it, and origin copies for the segments
	// published after it. Zero: from the start.
	Warmup time.Duration
	// Ramp spreads the first joins evenly over this time. Zero: all at
	// once.
	Ramp time.Duration
	// LeaveRate is the fraction of viewers leaving per minute after the
	// ramp, each replaced at once by a new viewer. Zero: no churn.
	LeaveRate float64

	// Segment is the segment duration. If zero, 2 s.
	Segment time.Duration
	// Window is how many segments the live playlist lists. If zero, 6.
	Window int
	// SegmentBytes is the modelled size of a segment: what the network
	// model and the origin count. If zero, 160,000.
	SegmentBytes int
	// SegmentBytesReal is the size of the segments the engines really
	// exchange, hash and verify; the network charges each DATA payload
	// byte SegmentBytes / SegmentBytesReal times. If zero, 2,000.
	SegmentBytesReal int

	// Up and Down are the viewers' upload and download capacities in
	// Mbit/s. If zero, 5 and 50.
	Up, Down Dist
	// CapacityJitter spreads capacities: each viewer's is the value drawn
	// from Up or Down times a factor uniform in [1-j, 1+j]. If zero, 0.1;
	// negative: none.
	CapacityJitter float64
	// Latency is the smallest one-way latency between two viewers; each
	// viewer draws a jitter in [0, LatencyJitter), and a link's latency is
	// Latency plus the mean of its ends' jitters. If zero, 20 ms; a zero
	// jitter is none.
	Latency, LatencyJitter time.Duration
	// OriginRTT and OriginMbps: an HTTP fetch takes OriginRTT plus the
	// segment's modelled size at the smaller of OriginMbps and the
	// viewer's download. If zero, 40 ms and 50 Mbit/s.
	OriginRTT  time.Duration
	OriginMbps float64
	// Uplink is how an upload is shared between links. Default fair.
	Uplink UplinkMode

	// MaxPeers is the most links a viewer has (its own offers and those
	// it accepts). If zero, 20.
	MaxPeers int
	// Offers is how many new links a viewer asks the tracker for when it
	// joins and at each later announce (fewer near MaxPeers). If zero,
	// MaxPeers.
	Offers int
	// EdgeFetchers is how many of the oldest viewers the tracker names
	// edge fetchers. If zero, 2; negative: none.
	EdgeFetchers int
	// ConnectDelay is how long a link takes to open after the tracker
	// paired its ends (offer, answer, ICE, DTLS, SCTP), plus four times
	// its one-way latency. If zero, 1 s.
	ConnectDelay time.Duration
	// AnnounceInterval is how often a viewer with fewer than MaxPeers
	// links announces again for more. If zero, 120 s.
	AnnounceInterval time.Duration
	// TrackerDelay is how long the tracker's word (a promotion to edge
	// fetcher) takes to reach a viewer. If zero, 50 ms.
	TrackerDelay time.Duration
	// HTTPOnly runs the engines without links or edge fetchers: every
	// viewer fetches every segment from the origin (the baseline).
	HTTPOnly bool

	// PollJitter: each viewer reads the playlist at a fixed offset in
	// [0, PollJitter) after each new segment appears. If zero, 1 s.
	PollJitter time.Duration
	// LiveSync is how many segments behind the live edge playback starts.
	// If zero, 3.
	LiveSync int
	// StartupBudget is the deadline of a viewer's first segment after it
	// joins, as internal/viewer gives it. If zero, 2 s.
	StartupBudget time.Duration

	// NoUploadBelow sets peer.Config.NoUpload for viewers whose upload
	// is below this many Mbit/s: they take from peers but serve nobody.
	NoUploadBelow float64

	// Engine settings (peer.Config); zero: the engine's defaults.
	PeerWait, HTTPMargin, EdgeStagger time.Duration
	HighWater                         uint64

	// Seed makes the run: the same seed gives the same result.
	Seed uint64

	// Trace, if set, receives one line per event of the TraceSegment-th
	// segment published after the warm-up (0 is the first): HTTP fetches
	// and their completion, HAVE, REQUEST and ABSENT on every link, each
	// copy completed and from where, with times since its publication.
	Trace        io.Writer
	TraceSegment int
}

func (c *Config) defaults() error {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.Viewers == 0 {
		c.Viewers = 1000
	}
	def(&c.Duration, 120*time.Second)
	def(&c.Segment, 2*time.Second)
	def(&c.Latency, 20*time.Millisecond)
	def(&c.OriginRTT, 40*time.Millisecond)
	def(&c.ConnectDelay, time.Second)
	def(&c.AnnounceInterval, 120*time.Second)
	def(&c.TrackerDelay, 50*time.Millisecond)
	def(&c.PollJitter, time.Second)
	def(&c.StartupBudget, 2*time.Second)
	if c.Window == 0 {
		c.Window = 6
	}
	if c.SegmentBytes == 0 {
		c.SegmentBytes = 160_000
	}
	if c.SegmentBytesReal == 0 {
		c.SegmentBytesReal = 2_000
	}
	if c.Up.empty() {
		c.Up = Fixed(5)
	}
	if c.Down.empty() {
		c.Down = Fixed(50)
	}
	if c.OriginMbps == 0 {
		c.OriginMbps = 50
	}
	if c.MaxPeers == 0 {
		c.MaxPeers = 20
	}
	if c.Offers == 0 {
		c.Offers = c.MaxPeers
	}
	switch {
	case c.CapacityJitter == 0:
		c.CapacityJitter = 0.1
	case c.CapacityJitter < 0:
		c.CapacityJitter = 0
	}
	switch {
	case c.EdgeFetchers == 0:
		c.EdgeFetchers = 2
	case c.EdgeFetchers < 0:
		c.EdgeFetchers = 0
	}
	if c.LiveSync == 0 {
		c.LiveSync = 3
	}
	switch {
	case c.Viewers < 1 || c.Viewers > 100_000:
		return fmt.Errorf("%w: %d viewers (1 to 100,000)", ErrBadConfig, c.Viewers)
	case c.Duration < 0 || c.Warmup < 0 || c.Ramp < 0 || c.Warmup >= c.Duration:
		return fmt.Errorf("%w: duration %v, warm-up %v, ramp %v", ErrBadConfig, c.Duration, c.Warmup, c.Ramp)
	case c.Segment < 100*time.Millisecond:
		return fmt.Errorf("%w: segment duration %v under 100 ms", ErrBadConfig, c.Segment)
	case c.Window < 2 || c.Window > 64:
		return fmt.Errorf("%w: window %d (2 to 64)", ErrBadConfig, c.Window)
	case c.SegmentBytesReal < 10 || c.SegmentBytes < c.SegmentBytesReal || c.SegmentBytes > 1<<28:
		return fmt.Errorf("%w: segment of %d bytes modelled by %d real bytes", ErrBadConfig, c.SegmentBytes, c.SegmentBytesReal)
	case c.LeaveRate < 0 || c.LeaveRate > 1:
		return fmt.Errorf("%w: leave rate %g per minute (0 to 1)", ErrBadConfig, c.LeaveRate)
	case c.Latency < 0 || c.LatencyJitter < 0 || c.OriginRTT < 0 || c.OriginMbps <= 0:
		return fmt.Errorf("%w: negative latency or origin bandwidth", ErrBadConfig)
	case c.CapacityJitter >= 1 || c.Offers < 0:
		return fmt.Errorf("%w: capacity jitter %g, offers %d", ErrBadConfig, c.CapacityJitter, c.Offers)
	case c.MaxPeers < 1 || c.LiveSync < 1 || c.LiveSync > c.Window:
		return fmt.Errorf("%w: max peers %d, edge fetchers %d, live sync %d", ErrBadConfig, c.MaxPeers, c.EdgeFetchers, c.LiveSync)
	case c.PeerWait < 0 || c.HTTPMargin < 0 || c.EdgeStagger < 0 || c.ConnectDelay < 0 || c.AnnounceInterval < 0:
		return fmt.Errorf("%w: negative duration", ErrBadConfig)
	case c.Uplink > UplinkFIFO:
		return fmt.Errorf("%w: uplink mode %d", ErrBadConfig, c.Uplink)
	}
	return nil
}

// Dist is a distribution of capacities in Mbit/s: values with their
// shares.
type Dist struct {
	Values []float64
	Shares []float64 // fractions summing to 1
}

// Fixed returns the distribution of one value.
func Fixed(mbps float64) Dist { return Dist{Values: []float64{mbps}, Shares: []float64{1}} }

func (d Dist) empty() bool { return len(d.Values) == 0 }

// ParseDist parses "5" (everyone 5 Mbit/s) or a mix "20%:1,50%:5,30%:20"
// whose shares add up to 100%.
func ParseDist(s string) (Dist, error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, ":") {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || !(v > 0) || math.IsInf(v, 0) {
			return Dist{}, fmt.Errorf("%w: capacity %q is not a positive number of Mbit/s", ErrBadConfig, s)
		}
		return Fixed(v), nil
	}
	var d Dist
	total := 0.0
	for part := range strings.SplitSeq(s, ",") {
		share, val, ok := strings.Cut(strings.TrimSpace(part), ":")
		p, err1 := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(share), "%"), 64)
		v, err2 := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if !ok || !strings.HasSuffix(strings.TrimSpace(share), "%") || err1 != nil || err2 != nil || !(p > 0) || !(v > 0) || math.IsInf(v, 0) {
			return Dist{}, fmt.Errorf("%w: %q is not SHARE%%:MBPS", ErrBadConfig, part)
		}
		d.Values = append(d.Values, v)
		d.Shares = append(d.Shares, p/100)
		total += p
	}
	if math.Abs(total-100) > 0.01 {
		return Dist{}, fmt.Errorf("%w: shares of %q add up to %g%%, not 100%%", ErrBadConfig, s, total)
	}
	return d, nil
}

// String is the form ParseDist reads.
func (d Dist) String() string {
	if len(d.Values) == 1 {
		return strconv.FormatFloat(d.Values[0], 'g', -1, 64)
	}
	var parts []string
	for i, v := range d.Values {
		parts = append(parts, strconv.FormatFloat(d.Shares[i]*100, 'g', 4, 64)+"%:"+strconv.FormatFloat(v, 'g', -1, 64))
	}
	return strings.Join(parts, ",")
}

// Mean is the distribution's mean in Mbit/s.
func (d Dist) Mean() float64 {
	m := 0.0
	for i, v := range d.Values {
		m += v * d.Shares[i]
	}
	return m
}

func (d Dist) sample(r *rand.Rand) float64 {
	x := r.Float64()
	for i, s := range d.Shares {
		if x < s {
			return d.Values[i]
		}
		x -= s
	}
	return d.Values[len(d.Values)-1]
}
