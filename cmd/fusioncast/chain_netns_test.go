//go:build linux

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"fusioncast/internal/browser"
	"fusioncast/internal/httpget"
	"fusioncast/internal/netns"
	"fusioncast/internal/testenv"
	"fusioncast/internal/viewer"
	"fusioncast/relay"
)

// The relay chain's namespaces: one bridge joins a "core" namespace (the
// origin and the tracker), a "campus" namespace (the relay, the Go viewers
// and Chromium: the test itself runs there) and a forger's.
const (
	chainNet    = "10.213.62."
	chainCore   = chainNet + "1"
	chainCampus = chainNet + "2"
	chainForger = chainNet + "3"
	chainGroup  = "239.255.62.1:5004"
	chainPort   = 5004
	chainIface  = "mc0"
	// chainKeyEnv passes the inner run the origin's public key file.
	chainKeyEnv = "FUSIONCAST_CHAIN_KEY"

	chainOrigin    = "http://" + chainCore + ":8080"
	chainTracker   = "ws://" + chainCore + ":8081/announce"
	chainRelayAddr = chainCampus + ":8090"

	chainViewers = 20
	chainTabs    = 2
	chainLoss    = 5 // percent of the campus's multicast packets dropped

	chainWarm   = 25 * time.Second // from the first viewer to the first reading
	chainSteady = 30 * time.Second // measured with the relay up
	chainDown   = 20 * time.Second // the relay killed
	chainBack   = 30 * time.Second // after the restarted relay rejoined
	chainRejoin = 10 * time.Second // of which its peers' reconnecting
	// chainBrief is the longest stall allowed when the relay dies: the
	// time for its peers to notice and fetch from someone else.
	chainBrief = 4 * time.Second
)

// TestRelayChainNamespaces runs the whole chain across network namespaces.
// The core namespace holds the origin, multicasting over its bridge port,
// and the tracker; the campus namespace holds the relay (`fusioncast
// relay`, joined any-source), 20 Go viewers and two Chromium tabs, which
// all take playlists from the origin and segments from the swarm; a third
// namespace forges objects into the group all along. nftables drops 5% of
// the multicast packets entering the campus.
//
//   - steady (30 s, relay up): no viewer stalls, and the origin sends
//     almost no segment by unicast (repairs go to /mcast/ and playlists are
//     not segments);
//   - down (20 s, the relay killed with SIGKILL): the viewers play on from
//     each other and over HTTP, with at most a brief stall each;
//   - back (30 s, the relay started again): it rejoins the group and seeds
//     the swarm again, and 10 s later the origin again sends almost no
//     segment by unicast.
//
// Throughout, every forged object is rejected: the relay counts them,
// and no viewer sees a segment fail verification.
func TestRelayChainNamespaces(t *testing.T) {
	if err := netns.Available(); err != nil {
		testenv.SkipOrFail(t, "network namespaces: "+err.Error())
	}
	nft := findNft(t)
	if _, err := browser.Find(); err != nil {
		testenv.SkipOrFail(t, err.Error())
	}
	var (
		setup func(*netns.NS) error
		env   []string
	)
	if netns.Current() == "" {
		key := filepath.Join(t.TempDir(), "origin.key")
		env = []string{chainKeyEnv + "=" + key + ".pub"}
		setup = func(campus *netns.NS) error { return startChainCore(t, campus, key) }
	}
	if !netns.InNamespace(t, setup, env...) {
		return
	}
	runChainCampus(t, nft, os.Getenv(chainKeyEnv))
}

// findNft returns the path of nft, or skips (fails in CI) without it.
func findNft(t *testing.T) string {
	t.Helper()
	nft, err := exec.LookPath("nft")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/nft"); serr != nil {
			testenv.SkipOrFail(t, "nftables (nft) for packet loss: "+err.Error())
		}
		nft = "/usr/sbin/nft"
	}
	return nft
}

// startChainCore runs in the outer process: it builds the bridge, the core
// and forger namespaces, attaches them and campus, and starts the origin,
// the tracker and the forger, which run until the test ends.
func startChainCore(t *testing.T, campus *netns.NS, key string) error {
	br, err := netns.NewBridge("fcchbr")
	if err != nil {
		return err
	}
	t.Cleanup(func() { br.Close() })
	core, err := netns.New("fcch-core")
	if err != nil {
		return err
	}
	t.Cleanup(func() { core.Close() })
	forgerNS, err := netns.New("fcch-forger")
	if err != nil {
		return err
	}
	t.Cleanup(func() { forgerNS.Close() })
	ctx := context.Background()
	for _, a := range []struct {
		ns *netns.NS
		ip string
	}{{core, chainCore}, {campus, chainCampus}, {forgerNS, chainForger}} {
		if err := br.Attach(a.ns, chainIface, a.ip+"/24"); err != nil {
			return err
		}
		// Loss per packet, not per GSO buffer (see newMcastLab).
		if _, err := a.ns.IP(ctx, "link", "set", "dev", chainIface, "gso_max_segs", "1"); err != nil {
			return err
		}
	}
	// Chromium gathers WebRTC candidates only on the interface of the
	// default route. The core namespace forwards nothing and has no
	// route beyond the bridge.
	if _, err := campus.IP(ctx, "route", "add", "default", "via", chainCore, "dev", chainIface); err != nil {
		return err
	}
	startChainProc(t, "origin", core, "origin", "--addr", chainCore+":8080", "--multicast", chainGroup,
		"--mcast-iface", chainIface, "--mcast-key", key, "--log-level", "warn")
	startChainProc(t, "tracker", core, "tracker", "--addr", chainCore+":8081",
		"--site", "campus="+chainNet+"0/24", "--log-level", "warn")
	f, err := startLabForger(forgerNS, chainGroup, netip.MustParseAddr(chainCore))
	if err != nil {
		return err
	}
	t.Cleanup(func() { t.Logf("forger: sent %d forged objects into the group", f.stop()) })
	return nil
}

// chainProc is `fusioncast ARGS...` run from this test binary (see
// runMainEnv), its output logged.
type chainProc struct {
	cmd    *exec.Cmd
	out    *lineWatch
	exited chan struct{}
}

// startChainProc starts it inside ns, or here if ns is nil. It is killed
// when the test ends.
func startChainProc(t *testing.T, name string, ns *netns.NS, args ...string) *chainProc {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := &chainProc{out: newLineWatch(t, name), exited: make(chan struct{})}
	if ns != nil {
		p.cmd = ns.Exec(context.Background(), exe, args...)
	} else {
		p.cmd = exec.Command(exe, args...)
	}
	p.cmd.Env = append(os.Environ(), runMainEnv+"=1")
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(p.kill)
	return p
}

// kill kills the process (SIGKILL: no goodbye to its peers or the
// tracker) and waits for it.
func (p *chainProc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// chainStall is one stall of one Go viewer.
type chainStall struct {
	viewer int
	start  time.Time
	d      time.Duration
}

// chainTabStats is what the test reads of a tab's window.fusioncastStats.
type chainTabStats struct {
	Bytes struct {
		HTTP  float64 `json:"http"`
		P2P   float64 `json:"p2p"`
		Relay float64 `json:"relay"`
	} `json:"bytes"`
	CurrentTime    float64 `json:"currentTime"`
	Stalls         int     `json:"stalls"`
	Playing        bool    `json:"playing"`
	Verified       int     `json:"verified"`
	VerifyFailures int     `json:"verifyFailures"`
	FatalErrors    int     `json:"fatalErrors"`
	MediaErrors    int     `json:"mediaErrors"`
	Peers          int     `json:"peers"`
	P2P            struct {
		State    string `json:"state"`
		BadPeers int    `json:"badPeers"`
	} `json:"p2p"`
}

// chainReading is the state of the run at one moment.
type chainReading struct {
	at        time.Time
	segEgress float64 // the origin's segment bytes sent over HTTP
	published float64 // segment bytes the origin published
	httpBytes float64 // everything the origin sent over HTTP
	tabs      []chainTabStats
}

// copies is the origin's unicast copies of each segment published between
// two readings.
func copiesBetween(a, b chainReading) float64 {
	if b.published <= a.published {
		return 0
	}
	return (b.segEgress - a.segEgress) / (b.published - a.published)
}

func runChainCampus(t *testing.T, nft, pubKey string) {
	ctx, cancel := context.WithTimeout(t.Context(), 6*time.Minute)
	defer cancel()
	client := &http.Client{Timeout: 5 * time.Second}
	if err := waitChain(ctx, func() error {
		if _, err := os.Stat(pubKey); err != nil {
			return err
		}
		_, err := httpget.Get(ctx, client, chainOrigin+"/live/demo/index.m3u8", 1<<20)
		return err
	}); err != nil {
		t.Fatalf("the origin in the core namespace: %v", err)
	}
	if err := setChainLoss(ctx, nft, chainLoss); err != nil {
		t.Fatal(err)
	}
	relayArgs := []string{"relay", "--iface", chainIface, "--key", pubKey, "--group", chainGroup,
		"--origin", chainOrigin, "--addr", chainRelayAddr, "--tracker", chainTracker, "--site", "campus",
		"--log-level", "warn"}
	rl := startChainProc(t, "relay", nil, relayArgs...)
	if err := waitRelayUp(ctx, client); err != nil {
		t.Fatalf("relay: %v", err)
	}

	// The Go viewers, a fifth of a second apart.
	var (
		stallMu sync.Mutex
		stalls  []chainStall
	)
	vctx, vcancel := context.WithCancel(ctx)
	defer vcancel()
	peerOf, err := peerFor(viewersFlags{tracker: chainTracker, stream: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	vstats := make([]viewer.Stats, chainViewers)
	var vwg sync.WaitGroup
	t0 := time.Now()
	for i := range chainViewers {
		vwg.Go(func() {
			select {
			case <-vctx.Done():
				return
			case <-time.After(time.Duration(i) * 200 * time.Millisecond):
			}
			e, err := peerOf(vctx, i)
			if err != nil {
				t.Errorf("viewer %d: %v", i, err)
				return
			}
			defer e.Close()
			vstats[i], _ = viewer.Run(vctx, viewer.Config{
				PlaylistURL: chainOrigin + "/live/demo/index.m3u8",
				Client:      client,
				Peer:        e,
				OnStall: func(start time.Time, d time.Duration) {
					stallMu.Lock()
					stalls = append(stalls, chainStall{i, start, d})
					stallMu.Unlock()
				},
			})
		})
	}
	stopViewers := sync.OnceValue(func() viewer.Summary {
		vcancel()
		vwg.Wait()
		return viewer.Summarize(vstats, time.Since(t0))
	})
	defer stopViewers()

	// The tabs: the page from the origin, treated as a secure context (as
	// it would be over HTTPS) so that it verifies every segment.
	bctx, bcancel, err := browser.Start(ctx, browser.Options{Logf: t.Logf,
		ExtraFlags: []string{"--unsafely-treat-insecure-origin-as-secure=" + chainOrigin}})
	if err != nil {
		t.Fatal(err)
	}
	defer bcancel()
	page := chainOrigin + "/?tracker=" + chainTracker
	tabs := make([]context.Context, chainTabs)
	for i := range tabs {
		tabs[i] = bctx
		if i > 0 {
			var tcancel context.CancelFunc
			tabs[i], tcancel = browser.NewIsolatedTab(bctx)
			defer tcancel()
			sleepCtx(ctx, 3*time.Second)
		}
		if err := chromedp.Do(tabs[i], chromedp.Navigate(page)); err != nil {
			t.Fatalf("tab %d: %v", i+1, err)
		}
	}

	read := func(phase string) chainReading {
		t.Helper()
		r := chainReading{at: time.Now()}
		m, err := fetchMetrics(ctx, client, chainOrigin+"/metrics")
		if err != nil {
			t.Fatalf("%s: origin metrics: %v", phase, err)
		}
		r.segEgress = m[`fusioncast_origin_segment_egress_bytes_total{stream="demo"}`]
		r.published = m[`fusioncast_origin_published_bytes_total{stream="demo"}`]
		r.httpBytes = m[`fusioncast_origin_egress_bytes_total{stream="demo",transport="http"}`]
		for i, tc := range tabs {
			raw, err := chromedp.Run(tc, chromedp.Evaluate[string](`JSON.stringify(window.fusioncastStats || null)`))
			var s chainTabStats
			if err == nil {
				err = json.Unmarshal([]byte(raw), &s)
			}
			if err != nil {
				t.Fatalf("%s: tab %d: %v", phase, i+1, err)
			}
			if s.FatalErrors > 0 {
				t.Fatalf("%s: tab %d: the player failed: %+v", phase, i+1, s)
			}
			r.tabs = append(r.tabs, s)
		}
		return r
	}

	sleepCtx(ctx, time.Until(t0.Add(chainWarm)))
	a := read("warm-up")
	sleepCtx(ctx, chainSteady)
	b := read("steady")
	up1, err := relaySwarmUpload(ctx, client)
	if err != nil {
		t.Fatalf("relay metrics: %v", err)
	}
	rl.kill()
	killed := time.Now()
	t.Logf("relay killed after seeding %d KiB", int(up1)>>10)
	sleepCtx(ctx, chainDown)
	c := read("down")
	startChainProc(t, "relay", nil, relayArgs...) // killed when the test ends
	if err := waitRelayUp(ctx, client); err != nil {
		t.Fatalf("restarted relay: %v", err)
	}
	back := time.Now()
	t.Logf("relay back after %.1f s", back.Sub(killed).Seconds())
	sleepCtx(ctx, chainRejoin)
	c2 := read("rejoined")
	sleepCtx(ctx, chainBack-chainRejoin)
	d := read("back")
	up2, err := relaySwarmUpload(ctx, client)
	if err != nil {
		t.Fatalf("restarted relay metrics: %v", err)
	}
	rm, err := fetchMetrics(ctx, client, "http://"+chainRelayAddr+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	st, err := relayStatus(ctx, client)
	if err != nil {
		t.Fatal(err)
	}
	dropped, err := chainDropped(ctx, nft)
	if err != nil {
		t.Fatal(err)
	}
	sum := stopViewers()

	t.Logf("nftables dropped %d multicast packets entering the campus; the restarted relay: %+v", dropped, st)
	t.Logf("origin unicast copies per segment: steady %.2f, relay down %.2f, relay rejoining %.2f, relay back %.2f; all its HTTP bytes in steady: %d KiB",
		copiesBetween(a, b), copiesBetween(b, c), copiesBetween(c, c2), copiesBetween(c2, d), int(b.httpBytes-a.httpBytes)>>10)
	t.Logf("Go viewers: %d started, %d segments played, bytes %+v, %d stalls (%d ms), %d verify failures, %d errors",
		sum.Started, sum.SegmentsPlayed, sum.Bytes, sum.Stalls, sum.StallMs, sum.VerifyFailures, sum.Errors)
	for i := range tabs {
		s := d.tabs[i]
		t.Logf("tab %d: played %.1f s, stalls %d, peers %d, bytes http %d KiB p2p %d KiB relay %d KiB, verified %d",
			i+1, s.CurrentTime, s.Stalls, s.Peers, int(s.Bytes.HTTP)>>10, int(s.Bytes.P2P)>>10, int(s.Bytes.Relay)>>10, s.Verified)
	}
	for _, s := range stalls {
		t.Logf("viewer %d stalled %.1f s at %+.1f s (relay killed at %+.1f s, back at %+.1f s)", s.viewer, s.d.Seconds(),
			s.start.Sub(t0).Seconds(), killed.Sub(t0).Seconds(), back.Sub(t0).Seconds())
	}

	t.Run("steady", func(t *testing.T) {
		if cp := copiesBetween(a, b); cp > 0.25 {
			t.Errorf("the origin sent %.2f unicast copies of each segment with the relay up, want near 0", cp)
		}
		for _, s := range stalls {
			if !s.start.Before(a.at) && s.start.Before(b.at) {
				t.Errorf("viewer %d stalled %v with the relay up", s.viewer, s.d)
			}
		}
		checkTabs(t, a, b, 0)
		if up1 == 0 {
			t.Error("the relay seeded nothing")
		}
	})
	t.Run("down", func(t *testing.T) {
		for _, s := range stalls {
			if s.d > chainBrief && !s.start.Before(killed) {
				t.Errorf("viewer %d stalled %v after the relay died, want at most %v", s.viewer, s.d, chainBrief)
			}
		}
		checkTabs(t, b, c, 1)
	})
	t.Run("back", func(t *testing.T) {
		if st.Mode != "multicast" || st.SegmentsMcast == 0 {
			t.Errorf("the restarted relay: %+v", st)
		}
		if up2 == 0 {
			t.Error("the restarted relay seeded nothing")
		}
		// Its offers went to the edge fetchers first (docs/tracker.md,
		// "Pairing and locality"), who then take new segments from it
		// rather than from the origin.
		if cp := copiesBetween(c2, d); cp > 0.25 {
			t.Errorf("the origin sent %.2f unicast copies of each segment %v after the relay came back, want near 0", cp, chainRejoin)
		}
		checkTabs(t, c, d, 1)
	})
	t.Run("whole", func(t *testing.T) {
		if dropped == 0 {
			t.Error("nftables dropped nothing")
		}
		if forged := rm[`fusioncast_mcast_dropped_packets_total{reason="forged",stream="demo"}`]; forged == 0 {
			t.Error("the relay counted no forged packet")
		}
		if sum.Started != chainViewers || sum.VerifyFailures != 0 || sum.Bytes.Relay == 0 {
			t.Errorf("Go viewers: %d of %d started, %d verify failures, %d bytes from the relay", sum.Started, chainViewers,
				sum.VerifyFailures, sum.Bytes.Relay)
		}
		for i, s := range d.tabs {
			if s.VerifyFailures != 0 || s.MediaErrors != 0 || s.P2P.BadPeers != 0 || s.Verified == 0 {
				t.Errorf("tab %d: %d verify failures, %d media errors, %d bad peers, %d verified", i+1, s.VerifyFailures,
					s.MediaErrors, s.P2P.BadPeers, s.Verified)
			}
		}
		// The relay seeds browsers too, not only Go peers (a tab may
		// still take everything from other peers: they hold the same
		// segments).
		var fromRelay float64
		for _, s := range d.tabs {
			fromRelay += s.Bytes.Relay
		}
		if fromRelay == 0 {
			t.Error("no tab took anything from the relay")
		}
	})
}

// checkTabs checks that every tab played through from a to b with at most
// maxStalls stalls.
func checkTabs(t *testing.T, a, b chainReading, maxStalls int) {
	t.Helper()
	wall := b.at.Sub(a.at).Seconds()
	for i := range a.tabs {
		sa, sb := a.tabs[i], b.tabs[i]
		if played := sb.CurrentTime - sa.CurrentTime; played < wall-float64(maxStalls)*chainBrief.Seconds()-2 {
			t.Errorf("tab %d played %.1f s in %.1f s", i+1, played, wall)
		}
		if n := sb.Stalls - sa.Stalls; n > maxStalls {
			t.Errorf("tab %d stalled %d times, want at most %d", i+1, n, maxStalls)
		}
	}
}

// waitRelayUp waits until the relay in this namespace has segments from
// multicast.
func waitRelayUp(ctx context.Context, client *http.Client) error {
	return waitChain(ctx, func() error {
		st, err := relayStatus(ctx, client)
		if err != nil {
			return err
		}
		if st.Mode != "multicast" || st.SegmentsMcast < 2 {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
}

func relayStatus(ctx context.Context, client *http.Client) (relay.Stats, error) {
	var st relay.Stats
	b, err := httpget.Get(ctx, client, "http://"+chainRelayAddr+"/status.json", 1<<20)
	if err == nil {
		err = json.Unmarshal(b, &st)
	}
	return st, err
}

// relaySwarmUpload is what the relay has sent its peers over WebRTC.
func relaySwarmUpload(ctx context.Context, client *http.Client) (float64, error) {
	m, err := fetchMetrics(ctx, client, "http://"+chainRelayAddr+"/metrics")
	return m[`fusioncast_relay_swarm_upload_bytes_total{stream="demo"}`], err
}

// fetchMetrics GETs url, a /metrics page, and returns its lines "series
// value" as a map.
func fetchMetrics(ctx context.Context, client *http.Client, url string) (map[string]float64, error) {
	b, err := httpget.Get(ctx, client, url, 16<<20)
	if err != nil {
		return nil, err
	}
	m := map[string]float64{}
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		i := strings.LastIndexByte(line, ' ')
		if i < 0 || strings.HasPrefix(line, "#") {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			m[line[:i]] = v
		}
	}
	return m, nil
}

// waitChain retries f every 200 ms until it succeeds, for at most 30 s.
func waitChain(ctx context.Context, f func() error) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		err := f()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// setChainLoss makes nftables in this namespace drop pct% of the
// multicast packets that enter it.
func setChainLoss(ctx context.Context, nft string, pct int) error {
	for _, c := range [][]string{
		{"add", "table", "inet", "fcloss"},
		{"add", "chain", "inet", "fcloss", "pre", "{ type filter hook prerouting priority -300 ; policy accept ; }"},
		{"add", "rule", "inet", "fcloss", "pre", "ip", "daddr", strings.Split(chainGroup, ":")[0], "udp", "dport",
			strconv.Itoa(chainPort), "numgen", "random", "mod", "100", "<", strconv.Itoa(pct), "counter", "drop"},
	} {
		if out, err := exec.CommandContext(ctx, nft, c...).CombinedOutput(); err != nil {
			return fmt.Errorf("nft %s: %v: %s", strings.Join(c, " "), err, out)
		}
	}
	return nil
}

// chainDropped returns the packets the loss rule dropped.
func chainDropped(ctx context.Context, nft string) (int, error) {
	out, err := exec.CommandContext(ctx, nft, "list", "chain", "inet", "fcloss", "pre").Output()
	if err != nil {
		return 0, fmt.Errorf("nft list: %w", err)
	}
	_, rest, ok := strings.Cut(string(out), "counter packets ")
	if !ok {
		return 0, fmt.Errorf("no counter in %s", out)
	}
	return strconv.Atoi(strings.Fields(rest)[0])
}
