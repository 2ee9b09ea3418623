package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func runCmd(t *testing.T, ctx context.Context, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(ctx, args, &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestUsage(t *testing.T) {
	out, _, err := runCmd(t, context.Background(), "help")
	if err != nil || !strings.Contains(out, "demo") || !strings.Contains(out, "viewers") {
		t.Fatalf("help: %v\n%s", err, out)
	}
	if _, errOut, err := runCmd(t, context.Background(), "nope"); !errors.Is(err, errUsage) || !strings.Contains(errOut, `unknown command "nope"`) {
		t.Fatalf("unknown command: %v %q", err, errOut)
	}
}

func TestBadFlagsAreClearErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"origin", "--source", "rtmp://x"}, `unknown --source "rtmp://x"`},
		{[]string{"origin", "--source", "hls-dir:"}, "needs a folder"},
		{[]string{"origin", "--source", "hls-dir:/nonexistent/fusioncast"}, "/nonexistent/fusioncast"},
		{[]string{"origin", "--source", "hls-url:ftp://x/y.m3u8"}, "ftp://x/y.m3u8"},
		{[]string{"origin", "--window", "0"}, "--window 0 out of range"},
		{[]string{"origin", "--stream", "a/b"}, "bad stream name"},
		{[]string{"origin", "--log-level", "loud"}, `bad log level "loud"`},
		{[]string{"origin", "extra"}, `unexpected argument "extra"`},
		{[]string{"viewers", "-n", "0"}, "-n 0 out of range"},
		{[]string{"viewers", "--duration", "-1s"}, "--duration must be positive"},
		{[]string{"viewers", "--origin", "ftp://x", "-n", "1", "--duration", "1s", "--http-only"}, "bad playlist URL"},
		{[]string{"viewers", "-n", "1", "--tracker", "http://x", "--duration", "1s"}, "not a ws:// or wss:// URL"},
		{[]string{"viewers", "-n", "1", "--duration", "1s", "--warmup", "2s"}, "must be shorter than --duration"},
		{[]string{"benchpeers", "--n", "0"}, "bad viewer count"},
		{[]string{"benchegress", "--n", "1,x"}, `bad viewer count "x"`},
	} {
		out, errOut, err := runCmd(t, context.Background(), c.args...)
		if err == nil {
			t.Errorf("%v: no error", c.args)
			continue
		}
		if msg := err.Error() + errOut; !strings.Contains(msg, c.want) {
			t.Errorf("%v: error %q, stderr %q, want %q (stdout %q)", c.args, err, errOut, c.want, out)
		}
	}
}

// The demo command serves the stream and the viewers command plays it.
func TestDemoAndViewers(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	base, done := startTestDemo(ctx, t)
	out, _, err := runCmd(t, ctx, "viewers", "-n", "3", "--origin", base, "--http-only", "--duration", "3s", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var res viewersResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if res.Viewers != 3 || res.Started != 3 || res.VerifyFailures != 0 || res.Bytes.HTTP == 0 {
		t.Fatalf("summary: %s", out)
	}
	// Every viewer fetched every segment from the origin itself.
	if res.OriginEgressBytes < res.Bytes.HTTP || res.OriginCopiesPerSegment < 2.5 {
		t.Fatalf("origin egress %d for %d viewer bytes (%.2f copies)", res.OriginEgressBytes, res.Bytes.HTTP, res.OriginCopiesPerSegment)
	}
	for _, k := range []string{`"segments_played"`, `"bytes"`, `"http"`, `"p2p"`, `"relay"`, `"stalls"`, `"verify_failures"`, `"startup_ms_p50"`} {
		if !strings.Contains(out, k) {
			t.Errorf("JSON lacks %s", k)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("origin did not stop")
	}
}

// Viewers as peers through a tracker: the origin sends each segment about
// once after the warm-up, and the viewers get bytes from each other.
// Three, then ten Go peers (pion data channels on loopback, through a
// tracker) watch the demo: every segment verifies, the peers take bytes
// from each other, and after the warm-up the origin sends each segment
// about once.
func TestViewersAsPeers(t *testing.T) {
	for _, n := range []int{3, 10} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			base, done := startTestDemo(ctx, t)
			turl, tdone, err := startBenchTracker(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			out, _, err := runCmd(t, ctx, "viewers", "-n", fmt.Sprint(n), "--origin", base, "--tracker", turl,
				"--duration", "16s", "--warmup", "8s", "--json")
			if err != nil {
				t.Fatal(err)
			}
			var res viewersResult
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if res.Started != n || res.VerifyFailures != 0 || res.Bytes.P2P == 0 {
				t.Fatalf("summary: %s", out)
			}
			// One copy for the primary edge fetcher; more would mean the
			// peers fall back to HTTP (n copies for n HTTP viewers).
			if res.SteadyCopiesPerSegment < 0.5 || res.SteadyCopiesPerSegment > 2 {
				t.Errorf("%.2f origin copies per segment after the warm-up with %d peers", res.SteadyCopiesPerSegment, n)
			}
			t.Logf("%d peers: %.2f origin copies per segment after the warm-up, %d stalls, p2p %d bytes, http %d bytes",
				n, res.SteadyCopiesPerSegment, res.Stalls, res.Bytes.P2P, res.Bytes.HTTP)
			cancel()
			<-done
			<-tdone
		})
	}
}

// startTestDemo serves the demo stream on loopback until ctx ends.
func startTestDemo(ctx context.Context, t *testing.T) (string, <-chan error) {
	t.Helper()
	f := originFlags{addr: "127.0.0.1:0", stream: "demo", source: "demo", window: 6, maxConns: 100}
	base, done, err := startOrigin(ctx, &f, nil)
	if err != nil {
		t.Fatal(err)
	}
	return base, done
}
