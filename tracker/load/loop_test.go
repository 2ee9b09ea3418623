package load_test

import (
	"context"
	"os"
	"runtime"
	"testing"
	"time"

	"fusioncast/tracker/load"
)

func run(t *testing.T, f *fakeTracker, cfg load.Config) load.Result {
	t.Helper()
	cfg.URL = f.URL
	if cfg.Connections == 0 {
		cfg.Connections = 20
	}
	if cfg.Swarms == 0 {
		cfg.Swarms = 2
	}
	if cfg.Offers == 0 {
		cfg.Offers = 3
	}
	if cfg.Duration == 0 {
		cfg.Duration = time.Second
	}
	if cfg.Warmup == 0 {
		cfg.Warmup = 200 * time.Millisecond
	}
	r, err := load.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", r)
	return r
}

// The announce latency runs from sending an announce to receiving its own
// response: with a tracker that takes 40 ms per announce, no sample is
// shorter, whether or not the tracker also replies at once to answers (the
// replies a careless loop takes for announce responses). The loop is closed:
// never more than one announce per connection outstanding, so at most one
// announce per connection per 40 ms.
func TestLatencyIsOwnResponse(t *testing.T) {
	const delay = 40 * time.Millisecond
	for _, acks := range []bool{false, true} {
		t.Run(map[bool]string{false: "answers not acknowledged", true: "answers acknowledged"}[acks], func(t *testing.T) {
			t.Parallel()
			f := (&fakeTracker{Delay: delay, AckAnswers: acks}).start(t)
			// The fake tracker runs in this process.
			r := run(t, f, load.Config{TrackerPID: os.Getpid()})
			if runtime.GOOS == "linux" && (r.TrackerCPUSeconds <= 0 || r.ResponsesPerTrackerCPUS <= 0) {
				t.Errorf("no tracker CPU time: %+v", r)
			}
			if r.TrackerAcksAnswers != acks || r.ProbeError != "" {
				t.Errorf("probe: acks %v (%q), want %v", r.TrackerAcksAnswers, r.ProbeError, acks)
			}
			if r.Errors != 0 || r.OtherMessages != 0 || r.LateAnnounceResponses != 0 || r.Failures != 0 {
				t.Errorf("errors or odd messages: %+v", r)
			}
			if r.LatencySamples == 0 || r.OffersReceived == 0 || r.AnswersReceived == 0 || r.AnswersSent == 0 {
				t.Fatalf("no traffic: %+v", r)
			}
			if acks != (r.AnswerAcks > 0) {
				t.Errorf("answer acks %d with acks %v", r.AnswerAcks, acks)
			}
			ms := float64(delay) / 1e6
			if r.LatencyMsP50 < ms || r.LatencyMsP90 < ms || r.LatencyMsP99 < ms {
				t.Errorf("latency p50 %.3f p90 %.3f p99 %.3f ms, below the tracker's %.0f ms", r.LatencyMsP50, r.LatencyMsP90, r.LatencyMsP99, ms)
			}
			if n := f.maxOutstanding.Load(); n != 1 {
				t.Errorf("a connection had %d announces outstanding at once", n)
			}
			if bound := int64(float64(r.Connected) * (r.DurationS/delay.Seconds() + 1)); r.AnnouncesSent > bound {
				t.Errorf("%d announces sent, more than a closed loop allows (%d)", r.AnnouncesSent, bound)
			}
			if r.Responses != r.AnnounceResponses+r.OffersReceived+r.AnswersReceived ||
				r.MessagesReceived != r.Responses+r.AnswerAcks+r.Failures+r.OtherMessages {
				t.Errorf("counts do not add up: %+v", r)
			}
		})
	}
}

// An announce without a response in time is a timeout; the loop announces
// again, and the response that comes later is a late response, a sample
// with its true latency, not one attributed to the next announce.
func TestTimeoutAndLateResponse(t *testing.T) {
	t.Parallel()
	f := (&fakeTracker{Delay: 5 * time.Millisecond, SlowEvery: 4, SlowDelay: 400 * time.Millisecond, AckAnswers: true}).start(t)
	r := run(t, f, load.Config{Connections: 10, AnnounceTimeout: 150 * time.Millisecond, Duration: 1500 * time.Millisecond})
	e := r.ErrorsByKind
	if e.Timeout == 0 || r.LateAnnounceResponses == 0 {
		t.Fatalf("no timeouts or late responses: %+v", r)
	}
	if e.Dial+e.Read+e.Write+e.Protocol != 0 || r.ConnectionsLost != 0 || r.OtherMessages != 0 {
		t.Errorf("errors other than timeouts: %+v", r)
	}
	if r.LatencyMsMax < 400 {
		t.Errorf("max latency %.1f ms: the late responses' latency is lost", r.LatencyMsMax)
	}
	if r.LatencyMsP50 < 5 {
		t.Errorf("p50 %.3f ms below the tracker's 5 ms", r.LatencyMsP50)
	}
}

// Messages that are not tracker messages are protocol errors, counted
// without losing the connection.
func TestProtocolErrors(t *testing.T) {
	t.Parallel()
	f := (&fakeTracker{Delay: 5 * time.Millisecond, GarbageEvery: 1}).start(t)
	r := run(t, f, load.Config{})
	e := r.ErrorsByKind
	if e.Protocol == 0 || r.OtherMessages == 0 || r.Errors != e.Protocol {
		t.Errorf("errors: %+v", r)
	}
	if r.ConnectionsLost != 0 || r.AnnounceResponses == 0 {
		t.Errorf("the loop did not go on: %+v", r)
	}
}

// A tracker that closes connections causes read errors, one per lost
// connection; refused handshakes are dial errors.
func TestReadAndDialErrors(t *testing.T) {
	t.Parallel()
	f := (&fakeTracker{Delay: time.Millisecond, CloseAfter: 3, RejectEvery: 5}).start(t)
	r := run(t, f, load.Config{})
	e := r.ErrorsByKind
	if e.Dial == 0 || int64(r.Connected)+e.Dial != int64(r.Connections) {
		t.Errorf("dial errors %d, connected %d of %d", e.Dial, r.Connected, r.Connections)
	}
	// Mostly reads; a write may be first to find the connection closed.
	if e.Read == 0 || e.Read+e.Write != int64(r.Connected) || r.ConnectionsLost != r.Connected {
		t.Errorf("read errors %d, write errors %d, lost %d, connected %d", e.Read, e.Write, r.ConnectionsLost, r.Connected)
	}
	if e.Timeout+e.Protocol != 0 {
		t.Errorf("other errors: %+v", e)
	}
	if r.LastError == "" {
		t.Error("no example error")
	}
}

// The orderly end of a run is no error, and connections close with a close
// frame, normal closure (all of them unless the machine is so slow that
// the closing handshake runs out of time).
func TestOrderlyEnd(t *testing.T) {
	t.Parallel()
	f := (&fakeTracker{}).start(t)
	for range 3 {
		r := run(t, f, load.Config{Connections: 50, Duration: 300 * time.Millisecond})
		if r.Errors != 0 || r.ConnectionsLost != 0 || r.AnnounceResponses == 0 {
			t.Fatalf("%+v", r)
		}
	}
	// The probe's two connections close the same way.
	const want = 3 * (50 + 2)
	deadline := time.Now().Add(5 * time.Second)
	for f.normalCloses.Load() < want && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := f.normalCloses.Load(); n < want*9/10 || n > want {
		t.Errorf("%d normal closures, want %d", n, want)
	}
}
