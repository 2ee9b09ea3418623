package load_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"fusioncast/tracker"
	"fusioncast/tracker/load"
)

// The load tool drives a real tracker: announces come back, offers are
// relayed and answered, and answers come back to the offerers.
func TestLoadAgainstTracker(t *testing.T) {
	s, err := tracker.New(tracker.Config{AnnounceRate: 1e6, AnnounceBurst: 1e6, DefaultMaxPeers: 1e6,
		// The test shares the CPUs with the tracker (and whatever else runs):
		// a connection whose reader is held up must not be dropped.
		SendQueue: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, ln) }()
	defer func() { cancel(); <-done }()

	r, err := load.Run(context.Background(), load.Config{
		URL: "ws://" + ln.Addr().String() + "/announce", Connections: 20, Swarms: 2, Offers: 5, Duration: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", r)
	if r.Connected != 20 || r.AnnounceResponses == 0 || r.OffersReceived == 0 || r.AnswersReceived == 0 || r.Failures != 0 {
		t.Fatalf("result: %+v", r)
	}
	// Whether or not the tracker acknowledges answers, the probe found out
	// and every reply was matched.
	if r.Errors != 0 || r.OtherMessages != 0 || r.ProbeError != "" || r.TrackerAcksAnswers != (r.AnswerAcks > 0) {
		t.Fatalf("errors or unmatched replies: %+v", r)
	}
	if r.ResponsesPerS <= 0 || r.Responses != r.AnnounceResponses+r.OffersReceived+r.AnswersReceived {
		t.Fatalf("responses do not add up: %+v", r)
	}
}

func TestLoadBadURL(t *testing.T) {
	for _, u := range []string{"", "http://x/announce", "ws://"} {
		if _, err := load.Run(context.Background(), load.Config{URL: u}); !errors.Is(err, load.ErrBadConfig) {
			t.Errorf("%q: %v", u, err)
		}
	}
}
