package sim

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func run(t *testing.T, cfg Config) Result {
	t.Helper()
	r, err := Run(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d viewers: %.3f copies/segment (edge %d, backup %d, startup %d, deadline %d, no deadline %d), offload %.4f, "+
		"%d stalls (%.2f s), latency %.2f s, arrival p95 %.2f s, hops %.2f, %d events in %.2f s",
		r.Viewers, r.OriginCopiesPerSegment, r.HTTP.Edge, r.HTTP.Backup, r.HTTP.Startup, r.HTTP.Deadline, r.HTTP.NoDeadline,
		r.OffloadRatio, r.Stalls, r.StallS, r.LatencyMeanS, r.ArrivalP95S, r.HopsMean, r.Events, r.WallS)
	if r.BadData != 0 || r.ProtocolDrops != 0 || r.HTTPErrors != 0 {
		t.Errorf("bad data %d, protocol drops %d, HTTP errors %d", r.BadData, r.ProtocolDrops, r.HTTPErrors)
	}
	return r
}

// small is a swarm of 50 viewers with ample upload, without churn.
func small() Config {
	return Config{Viewers: 50, Duration: 60 * time.Second, Warmup: 20 * time.Second, Ramp: 5 * time.Second,
		Up: Fixed(20), Offers: 5, Seed: 7}
}

// The same seed gives the same run, churn included.
func TestDeterministic(t *testing.T) {
	up, err := ParseDist("20%:1,50%:5,30%:20")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Viewers: 120, Duration: 50 * time.Second, Warmup: 20 * time.Second, Ramp: 5 * time.Second,
		Up: up, Offers: 5, LeaveRate: 0.1, Seed: 3}
	a, b := run(t, cfg), run(t, cfg)
	for _, r := range []*Result{&a, &b} {
		r.WallS, r.EventsPerS = 0, 0
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("two runs of one seed differ:\n%+v\n%+v", a, b)
	}
	if a.Leaves == 0 || a.Joins != cfg.Viewers+a.Leaves {
		t.Errorf("%d joins, %d leaves: no churn", a.Joins, a.Leaves)
	}
	cfg.Seed = 4
	if c := run(t, cfg); c.Events == a.Events && c.OriginBytes == a.OriginBytes {
		t.Error("another seed gave the same run")
	}
}

// In a small swarm with enough upload every viewer plays without a
// stall, and the origin sends each segment about once.
func TestSmallSwarm(t *testing.T) {
	r := run(t, small())
	if r.Stalls != 0 || r.StallS != 0 || r.Skipped != 0 || r.NotStarted != 0 {
		t.Errorf("%d stalls (%.2f s), %d skipped, %d viewers not started", r.Stalls, r.StallS, r.Skipped, r.NotStarted)
	}
	if r.Segments < 10 || r.OriginCopiesPerSegment > 1.5 || r.OffloadRatio < 0.95 {
		t.Errorf("%d segments, %.2f origin copies per segment, offload %.3f", r.Segments, r.OriginCopiesPerSegment, r.OffloadRatio)
	}
	if r.HopsMax < 2 || r.P2PBytes == 0 || r.UploadBytes < r.P2PBytes {
		t.Errorf("hops max %d, p2p %d bytes received, %d sent", r.HopsMax, r.P2PBytes, r.UploadBytes)
	}
	if r.LatencyMeanS < 4 || r.LatencyMeanS > 8 {
		t.Errorf("latency %.2f s behind live, want about 3 segments", r.LatencyMeanS)
	}
}

// Without links every viewer fetches every segment: the origin sends
// each as many times as there are viewers.
func TestHTTPOnly(t *testing.T) {
	cfg := small()
	cfg.HTTPOnly = true
	r := run(t, cfg)
	if r.OriginCopiesPerSegment < 49.5 || r.OriginCopiesPerSegment > 50.5 || r.P2PBytes != 0 || r.OffloadRatio != 0 {
		t.Errorf("%.2f origin copies per segment, %d p2p bytes", r.OriginCopiesPerSegment, r.P2PBytes)
	}
	if r.Stalls != 0 || r.NotStarted != 0 {
		t.Errorf("%d stalls, %d viewers not started", r.Stalls, r.NotStarted)
	}
}

// When uploads are too small to share the stream, the engines fall back
// to HTTP before their players' deadlines: the origin sends more, the
// players barely stall.
func TestTinyUploads(t *testing.T) {
	good := run(t, small())
	cfg := small()
	cfg.Up = Fixed(0.2)
	bad := run(t, cfg)
	if bad.OriginCopiesPerSegment < 2*good.OriginCopiesPerSegment || bad.OffloadRatio >= good.OffloadRatio {
		t.Errorf("tiny uploads: %.2f copies per segment, offload %.3f; ample: %.2f, %.3f",
			bad.OriginCopiesPerSegment, bad.OffloadRatio, good.OriginCopiesPerSegment, good.OffloadRatio)
	}
	if bad.StallRatio > 0.01 || bad.NotStarted != 0 {
		t.Errorf("tiny uploads: stall ratio %.4f, %d viewers not started", bad.StallRatio, bad.NotStarted)
	}
}

func TestBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{Viewers: -1},
		{Duration: time.Second, Warmup: 2 * time.Second},
		{LeaveRate: 2},
		{SegmentBytes: 100, SegmentBytesReal: 1000},
		{LiveSync: 7},
	} {
		if _, err := Run(context.Background(), cfg, nil); !errors.Is(err, ErrBadConfig) {
			t.Errorf("%+v: %v", cfg, err)
		}
	}
}

func TestParseDist(t *testing.T) {
	d, err := ParseDist("20%:1, 50%:5,30%:20")
	if err != nil || len(d.Values) != 3 || d.Mean() != 0.2*1+0.5*5+0.3*20 || d.String() != "20%:1,50%:5,30%:20" {
		t.Fatalf("%v %v", d, err)
	}
	if d, err := ParseDist("2.5"); err != nil || d.Mean() != 2.5 {
		t.Fatalf("%v %v", d, err)
	}
	for _, s := range []string{"", "0", "-1", "x", "50%:1", "50%:1,60%:2", "50:1,50:2", "50%:0,50%:1", "Inf"} {
		if _, err := ParseDist(s); !errors.Is(err, ErrBadConfig) {
			t.Errorf("%q: %v", s, err)
		}
	}
}

// Events run in time order, ties in the order scheduled; stopped timers
// do not run.
func TestLoop(t *testing.T) {
	l := newLoop(time.Unix(0, 0))
	var got []int
	for i, d := range []time.Duration{30, 10, 20, 10, 0} {
		l.AfterFunc(d, func() { got = append(got, i) })
	}
	stopped := l.AfterFunc(15, func() { got = append(got, 99) })
	if !stopped.Stop() || stopped.Stop() {
		t.Fatal("Stop: want true, then false")
	}
	l.AfterFunc(5, func() {
		l.AfterFunc(0, func() { got = append(got, 50) }) // after the others at 5
		got = append(got, 5)
	})
	l.runUntil(100)
	want := []int{4, 5, 50, 1, 3, 2, 0}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	if l.Now() != time.Unix(0, 100) {
		t.Errorf("clock at %v", l.Now())
	}
}

// exact is a swarm with exact, hand-computable timing: no jitter, one
// link latency, uploads of up Mbit/s.
func exact(viewers int, up float64) Config {
	return Config{Viewers: viewers, Duration: 30 * time.Second, Warmup: 10 * time.Second, Up: Fixed(up),
		Down: Fixed(50), CapacityJitter: -1, Latency: 50 * time.Millisecond, PollJitter: time.Nanosecond, Seed: 1}
}

// A segment's trip from the origin to the edge fetcher and on to one
// viewer takes what the model says, computed here by hand.
func TestTransferTime(t *testing.T) {
	r := run(t, exact(2, 1))
	const lat = 0.050
	http := 0.040 + 160_000*8/50e6              // origin RTT, then the segment at 50 Mbit/s
	have := (17+packetOverhead)*8/1e6 + lat     // HAVE through a 1 Mbit/s uplink
	request := (25+packetOverhead)*8/1e6 + lat  // REQUEST back
	chunk := float64(wireBytes(9 + 16_000))     // one DATA message on the wire
	data := 10*chunk*8/1e6 + lat + chunk*8/50e6 // ten of them, the last through the downlink
	want := http + have + request + data
	if r.Hops[0] == 0 || r.Hops[1] != r.Hops[0] || r.ArrivalP95S < want-0.002 || r.ArrivalP95S > want+0.002 {
		t.Errorf("copies by hop %v, arrival at the viewer %.4f s after publication, want %.4f s", r.Hops, r.ArrivalP95S, want)
	}
}

// A holder serves two requesters one after the other, even when its
// uplink is shared fairly between its links: the engine writes the second
// request only once the first one's link has drained to the low-water
// mark, so the first requester gets its copy about twice as soon as the
// second, as in FIFO order. (When the engine wrote every accepted request
// at once, a fair uplink delivered both copies at the end.)
func TestServedInOrderOnFairUplink(t *testing.T) {
	fair := run(t, exact(3, 2))
	cfg := exact(3, 2)
	cfg.Uplink = UplinkFIFO
	fifo := run(t, cfg)
	// Of the three copies of a segment (the edge's, then two), p50 is the
	// first viewer's and p95 the second's.
	for _, r := range []struct {
		name string
		r    Result
	}{{"fair", fair}, {"fifo", fifo}} {
		if r.r.ArrivalP50S > 0.7*r.r.ArrivalP95S {
			t.Errorf("%s: the viewers got their copies %.3f and %.3f s after publication", r.name, r.r.ArrivalP50S, r.r.ArrivalP95S)
		}
	}
	if d := fair.ArrivalP50S - fifo.ArrivalP50S; d > 0.1 || d < -0.1 {
		t.Errorf("first copy: fair %.3f s, fifo %.3f s", fair.ArrivalP50S, fifo.ArrivalP50S)
	}
}

// The trace follows one segment: the primary edge fetcher's HTTP fetch,
// its HAVEs, the requests and the copies, each viewer getting one copy.
func TestTrace(t *testing.T) {
	var buf bytes.Buffer
	cfg := small()
	cfg.Trace, cfg.TraceSegment = &buf, 2
	r := run(t, cfg)
	out := buf.String()
	first, _, _ := strings.Cut(out, "\n")
	// The third segment after the 20 s warm-up, published every 2 s: at 24 s.
	if !strings.Contains(first, "published at 24.000 s") {
		t.Errorf("first line %q", first)
	}
	for _, want := range []string{"HTTP edge", "copy http", ": HAVE", ": REQUEST from byte 0", "copy p2p from v"} {
		if !strings.Contains(out, want) {
			t.Errorf("the trace has no %q", want)
		}
	}
	if n := strings.Count(out, "  copy "); n != r.Viewers {
		t.Errorf("%d copies traced, want one per viewer (%d)", n, r.Viewers)
	}
}
