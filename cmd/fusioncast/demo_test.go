package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"fusioncast/relay"
)

// lockedBuffer is a bytes.Buffer that a running command writes to while
// the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// `fusioncast demo` runs the whole chain: the origin multicasts over lo,
// the relay receives, verifies and serves the stream with the origin's
// URLs; the banner names every part; Ctrl-C (ctx) stops them all.
func TestDemoChain(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut lockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"demo", "--addr", "127.0.0.1:0", "--tracker-addr", "127.0.0.1:0", "--relay-addr", "127.0.0.1:0"}, &out, &errOut)
	}()
	relayRe := regexp.MustCompile(`relay +(http://127\.0\.0\.1:\d+)/`)
	var relayBase string
	deadline := time.Now().Add(20 * time.Second)
	for relayBase == "" {
		if m := relayRe.FindStringSubmatch(out.String()); m != nil {
			relayBase = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("no relay in the banner:\n%s\n%s", out.String(), errOut.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, want := range []string{"open ", "tracker ", "HLS ", "239.255.0.1:"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, out.String())
		}
	}
	var st relay.Stats
	for {
		resp, err := http.Get(relayBase + "/status.json")
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
		}
		if err == nil && st.SegmentsMcast >= 3 && st.Playlists > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("relay status %+v, err %v", st, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if st.Mode != "multicast" || st.SegmentsHTTP != 0 {
		t.Errorf("relay %+v: want multicast only", st)
	}
	resp, err := http.Get(relayBase + "/live/demo/index.m3u8")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("relay playlist: %v %v", err, resp)
	}
	resp.Body.Close()

	// Go viewers in the swarm take their segments from the relay, which
	// seeds them over WebRTC: the origin sends the viewers almost nothing
	// by unicast (the relay's multicast feeds them).
	m := regexp.MustCompile(`open +(http://127\.0\.0\.1:\d+)/\?tracker=(ws://127\.0\.0\.1:\d+/announce)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no page and tracker in the banner:\n%s", out.String())
	}
	vout, _, err := runCmd(t, ctx, "viewers", "-n", "3", "--origin", m[1], "--tracker", m[2], "--duration", "16s", "--warmup", "8s", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var res viewersResult
	if err := json.Unmarshal([]byte(vout), &res); err != nil {
		t.Fatalf("%v\n%s", err, vout)
	}
	t.Logf("3 viewers with the relay: bytes %+v, %.2f origin copies per segment after the warm-up, %d stalls", res.Bytes, res.SteadyCopiesPerSegment, res.Stalls)
	if res.VerifyFailures != 0 || res.Bytes.Relay == 0 {
		t.Errorf("viewers: %d verify failures, %d bytes from the relay", res.VerifyFailures, res.Bytes.Relay)
	}
	if res.SteadyCopiesPerSegment > 0.5 {
		t.Errorf("the origin sent %.2f copies of each segment by unicast with the relay seeding", res.SteadyCopiesPerSegment)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("demo: %v\n%s", err, errOut.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the demo did not stop")
	}
}
