//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"fusioncast/multicast"
	"fusioncast/relay"
)

// A relay that seeds only some of its LAN's viewers directly (--max-peers
// 3 for 12 viewers): the rest take their segments from each other, and the
// origin still sends the LAN almost nothing by unicast, since the relay's
// first peers are the tracker's edge fetchers (their offers reach the
// site's relay first).
func TestRelaySeedsSomeViewers(t *testing.T) {
	requireLoMulticast(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logger := slog.New(slog.DiscardHandler)
	f := originFlags{addr: "127.0.0.1:0", stream: "demo", source: "demo", window: 6, maxConns: 100,
		mcast: mcastFlags{group: fmt.Sprintf("239.255.0.4:%d", freeUDPPort(t)), iface: "lo", source: "127.0.0.1",
			key: filepath.Join(t.TempDir(), "k.key"), ttl: 1, rateMbps: 100, fec: multicast.DefaultOverhead,
			packet: multicast.DefaultPacketSize}}
	var waits []<-chan error
	defer func() {
		cancel()
		for _, w := range waits {
			<-w
		}
	}()
	base, done, err := startOrigin(ctx, &f, logger)
	if err != nil {
		t.Fatal(err)
	}
	waits = append(waits, done)
	trackerURL, tdone, err := startDemoTracker(ctx, "127.0.0.1:0", logger)
	if err != nil {
		t.Fatal(err)
	}
	waits = append(waits, tdone)
	pub, err := multicast.LoadPublicKey(f.mcastPubKey)
	if err != nil {
		t.Fatal(err)
	}
	const directly, viewers = 3, 12
	relayBase, rdone, err := startRelay(ctx, relay.Config{Stream: "demo", Origin: base, Group: f.mcast.group,
		Interface: "lo", Source: "127.0.0.1", PublicKey: pub, Logger: logger}, "127.0.0.1:0", trackerURL, "", directly)
	if err != nil {
		t.Fatal(err)
	}
	waits = append(waits, rdone)
	client := &http.Client{Timeout: 5 * time.Second}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		var st relay.Stats
		resp, err := client.Get(relayBase + "/status.json")
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
		}
		if err == nil && st.SegmentsMcast >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("relay status %+v, %v", st, err)
		}
	}

	// The relay's peers, read while the viewers play.
	var (
		mu       sync.Mutex
		maxPeers float64
	)
	watch, stopWatch := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			if m, err := fetchMetrics(watch, client, relayBase+"/metrics"); err == nil {
				mu.Lock()
				maxPeers = max(maxPeers, m[`fusioncast_relay_swarm_peers{stream="demo"}`])
				mu.Unlock()
			}
			select {
			case <-watch.Done():
				return
			case <-time.After(250 * time.Millisecond):
			}
		}
	})
	vout, _, err := runCmd(t, ctx, "viewers", "-n", fmt.Sprint(viewers), "--origin", base, "--tracker", trackerURL,
		"--duration", "24s", "--warmup", "12s", "--json")
	stopWatch()
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	var res viewersResult
	if err := json.Unmarshal([]byte(vout), &res); err != nil {
		t.Fatalf("%v\n%s", err, vout)
	}
	t.Logf("%d viewers, the relay serving at most %.0f at once: bytes %+v, %.2f origin copies per segment after the warm-up, %d stalls",
		viewers, maxPeers, res.Bytes, res.SteadyCopiesPerSegment, res.Stalls)
	if maxPeers < 1 || maxPeers > directly {
		t.Errorf("the relay had up to %.0f peers, want 1 to %d", maxPeers, directly)
	}
	if res.Started != viewers || res.VerifyFailures != 0 || res.Bytes.Relay == 0 || res.Bytes.P2P == 0 {
		t.Errorf("viewers: %d of %d started, %d verify failures, bytes %+v: want some from the relay and some from peers",
			res.Started, viewers, res.VerifyFailures, res.Bytes)
	}
	if res.SteadyCopiesPerSegment > 0.25 {
		t.Errorf("the origin sent %.2f unicast copies of each segment after the warm-up, want near 0", res.SteadyCopiesPerSegment)
	}
}
