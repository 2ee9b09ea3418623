package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"fusioncast/peer"
	"fusioncast/peer/join"
	"fusioncast/peer/proto"
	"fusioncast/peer/rtc"
	"fusioncast/tracker"
	"fusioncast/tracker/wire"
)

// `fusioncast benchrelay` measures how many WebRTC viewers one relay core
// seeds directly: a relay process (GOMAXPROCS=1, pinned to one CPU, first
// in line for it: nice -19) with a peer engine in relay mode, fed by Put
// with a synthetic segment every period, and N light viewers in other
// processes (nice 19: they take what the relay leaves, on both CPUs) that
// connect to it through a tracker in this process, on loopback, and only
// receive, verify and count. The relay's CPU is its own process's time
// (/proc/PID/stat), whatever runs beside it. For each N it measures, over a
// window after every viewer has connected, the share of (viewer, segment)
// deliveries completed within one period of the Put, the 95th percentile
// delivery time, and the CPU of the relay, of the viewers and of the rest
// of the machine. With --relay-quota Q the relay runs in a cgroup capped at
// Q of a core (cpuQuota): N viewers on time there is N/Q per core, for
// when the machine cannot also run a whole core's worth of viewers.
// docs/benchmarks.md, "Relay: WebRTC viewers seeded per core".

// benchRelayStream names the benchmark's swarm.
const benchRelayStream = "benchrelay"

type benchRelayFlags struct {
	ns                  string
	measure, settle     time.Duration
	period              time.Duration
	size                int
	ramp                float64
	relayCPU, viewerCPU string
	relayNice           int
	viewerNice          int
	viewerProcs         int
	mux, batch          bool
	sockbuf             int
	viewerSockbuf       int
	serveLinks          int
	gogc, viewerGOGC    string
	cpuprofile          string
	jsonOut             bool
	verbose             bool
	noisy               float64
	retries             int
	quota               float64

	// The children's own flags.
	role    string
	tracker string
	n       int
	first   int
}

// benchRelayRow is one N.
type benchRelayRow struct {
	N         int `json:"n"`
	Connected int `json:"connected"`
	// Segments counts the segments Put in the window, each owed to every
	// viewer asked for: Deliveries = N × Segments.
	Segments   int     `json:"segments"`
	Deliveries int     `json:"deliveries"`
	OnTime     float64 `json:"on_time"` // share delivered within one period of the Put
	Delivered  float64 `json:"delivered"`
	P50Ms      float64 `json:"p50_ms"`
	P95Ms      float64 `json:"p95_ms"` // +Inf (null in JSON) when more than 5% never arrived
	MaxMs      float64 `json:"max_ms"`
	RelayCPU   float64 `json:"relay_cpu"`  // cores
	ViewerCPU  float64 `json:"viewer_cpu"` // cores, all viewer processes
	OtherCPU   float64 `json:"other_cpu"`  // cores used by everything else on the machine
	Seconds    float64 `json:"seconds"`
	Mbps       float64 `json:"relay_mbps"`    // DATA payload the relay sent, in the window
	RelayRSS   int64   `json:"relay_rss_mib"` // resident memory at the end of the window
	UDPDrops   int64   `json:"udp_drops"`     // datagrams the kernel dropped for a full receive buffer, in the window
	BadData    int     `json:"bad_data"`
	Absent     int     `json:"absent"`
	Byes       int     `json:"byes"`
	ConnectS   float64 `json:"connect_s"` // time for every viewer to connect
	Attempts   int     `json:"attempts"`  // rounds run: more than one when others disturbed the first
	// Quota is the relay's CPU quota in cores (--relay-quota; 0: none), and
	// Throttled the share of the window's quota periods in which the relay
	// used all of it and waited.
	Quota     float64 `json:"relay_quota"`
	Throttled float64 `json:"throttled"`
	Pass      bool    `json:"pass"`
}

func (r benchRelayRow) MarshalJSON() ([]byte, error) {
	type plain benchRelayRow
	p := plain(r)
	for _, v := range []*float64{&p.P50Ms, &p.P95Ms, &p.MaxMs} {
		if math.IsInf(*v, 0) {
			*v = -1 // never arrived
		}
	}
	return json.Marshal(p)
}

func runBenchRelay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f benchRelayFlags
	fs := newFlags("benchrelay", "[--n 200,400,600,800,1000] [--measure 30s] [--json]", stderr)
	fs.StringVar(&f.ns, "n", "200,400,600,800,1000", "comma-separated viewer counts")
	fs.DurationVar(&f.measure, "measure", 30*time.Second, "the measured window, after every viewer has connected")
	fs.DurationVar(&f.settle, "settle", 6*time.Second, "wait between the last connection and the window")
	fs.DurationVar(&f.period, "period", 2*time.Second, "segment duration: a segment is Put every period, and is on time if it arrives within one")
	fs.IntVar(&f.size, "size", 160_000, "segment size in bytes (160,000 bytes every 2 s is 640 kbit/s)")
	fs.Float64Var(&f.ramp, "ramp", 100, "viewers started per second")
	fs.StringVar(&f.relayCPU, "relay-cpu", "0", "CPU list the relay is pinned to (taskset -c; empty: not pinned)")
	fs.StringVar(&f.viewerCPU, "viewer-cpu", "0,1", "CPU list the viewers are pinned to (empty: not pinned)")
	fs.IntVar(&f.relayNice, "relay-nice", -19, "niceness of the relay: it takes its CPU before the viewers on a CPU they share, and before other processes (below 0 needs root)")
	fs.IntVar(&f.viewerNice, "viewer-nice", 19, "niceness of the viewers: they take what the relay leaves")
	fs.IntVar(&f.viewerProcs, "viewer-procs", 2, "viewer processes (GOMAXPROCS=1 each), the viewers split between them")
	fs.BoolVar(&f.mux, "mux", true, "the relay holds every connection on one UDP port (rtc ICEConfig.ListenUDP)")
	fs.BoolVar(&f.batch, "batch", true, "batch the relay socket's system calls (UDP GSO, recvmmsg; rtc ICEConfig.NoBatch)")
	fs.IntVar(&f.sockbuf, "sockbuf", 0, "the relay's UDP socket buffers in bytes (0: rtc's default for relays)")
	fs.IntVar(&f.viewerSockbuf, "viewer-sockbuf", 4<<20, "the viewers' UDP socket buffers in bytes (0: the system default, which drops bursts from 500 viewers on)")
	fs.IntVar(&f.serveLinks, "serve-links", 0, "links the relay sends DATA to at once (peer Config.ServeLinks; 0: the relay default)")
	fs.StringVar(&f.gogc, "relay-gogc", "400", "GOGC of the relay process (empty: Go's default, 100); 400 spends about a third of the CPU that 100 does on collection")
	fs.StringVar(&f.viewerGOGC, "viewer-gogc", "400", "GOGC of the viewer processes (fewer collections: more of their core for receiving)")
	fs.StringVar(&f.cpuprofile, "cpuprofile", "", "write the relay's CPU profile of each window to FILE-N.pprof")
	fs.Float64Var(&f.noisy, "noisy", 0.15, "a round in which the rest of the machine used more than this many cores is disturbed and run again")
	fs.IntVar(&f.retries, "retries", 2, "how many times a disturbed round is run again (the last one counts)")
	fs.Float64Var(&f.quota, "relay-quota", 0, "cap the relay at this share of one core (a cgroup CPU quota; root), to measure a core's worth of viewers with fewer: N passing at 0.5 is 2N per core (0: no cap)")
	fs.BoolVar(&f.jsonOut, "json", false, "print JSON")
	fs.BoolVar(&f.verbose, "v", false, "pass the children's logs through")
	// The children's flags: the parent starts itself with these.
	fs.StringVar(&f.role, "role", "", "internal: relay or viewers")
	fs.StringVar(&f.tracker, "tracker", "", "internal: the tracker's URL")
	fs.IntVar(&f.n, "count", 0, "internal: viewers in this process")
	fs.IntVar(&f.first, "first", 0, "internal: index of this process's first viewer")
	if err := parse(fs, args); err != nil {
		return err
	}
	switch f.role {
	case "relay":
		return benchRelayServe(ctx, f, os.Stdin, stdout, stderr)
	case "viewers":
		return benchRelayViewers(ctx, f, os.Stdin, stdout, stderr)
	case "":
	default:
		return fmt.Errorf("unknown --role %q", f.role)
	}
	counts, err := viewerCounts(f.ns, 10_000)
	if err != nil {
		return err
	}
	if f.measure < 2*f.period || f.period <= 0 || f.size < 1 || f.ramp <= 0 || f.viewerProcs < 1 {
		return errors.New("--measure must be at least two periods; --period, --size, --ramp and --viewer-procs positive")
	}
	var quota *cpuQuota
	if f.quota != 0 {
		if quota, err = newCPUQuota(f.quota); err != nil {
			return fmt.Errorf("--relay-quota: %w", err)
		}
		defer func() {
			if err := quota.remove(); err != nil {
				fmt.Fprintf(stderr, "benchrelay: %v\n", err)
			}
		}()
	}
	if f.relayCPU != "" || f.viewerCPU != "" {
		if _, err := exec.LookPath("taskset"); err != nil {
			return fmt.Errorf("pinning needs taskset (or pass --relay-cpu '' --viewer-cpu ''): %w", err)
		}
	}
	raiseFileLimit()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The tracker lets one address hold every viewer's connection, a relay
	// answer as fast as offers come, and receive them all.
	t, err := tracker.New(tracker.Config{
		MaxConnsPerAddr: 1_000_000, AnnounceRate: 10_000, AnnounceBurst: 10_000, RelayMaxPeers: 1_000_000,
		Interval: 30 * time.Second, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	trackerDone := make(chan error, 1)
	go func() { trackerDone <- t.Run(ctx, ln) }()
	defer func() { cancel(); <-trackerDone }()
	url := "ws://" + ln.Addr().String() + "/announce"

	var rows []benchRelayRow
	for _, n := range counts {
		var row benchRelayRow
		for attempt := 1; ; attempt++ {
			row, err = benchRelayRound(ctx, self, url, n, f, quota, stderr)
			if err != nil {
				return err
			}
			row.Attempts = attempt
			if row.OtherCPU <= f.noisy || attempt > f.retries {
				break
			}
			// Other processes took CPU the relay or the viewers needed:
			// the round says nothing about the relay.
			fmt.Fprintf(stderr, "benchrelay: N=%d disturbed (the rest of the machine used %.0f%% of a core); again\n", n, 100*row.OtherCPU)
		}
		rows = append(rows, row)
		if !f.jsonOut {
			fmt.Fprintf(stderr, "N=%d: %d connected, %.2f%% on time, p95 %s, relay %.0f%% of a core, viewers %.0f%%, others %.0f%%\n",
				n, row.Connected, 100*row.OnTime, fmtMs(row.P95Ms), 100*row.RelayCPU, 100*row.ViewerCPU, 100*row.OtherCPU)
		}
	}
	best := 0
	for _, r := range rows {
		if r.Pass {
			best = max(best, r.N)
		}
	}
	if f.jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			SegmentBytes int             `json:"segment_bytes"`
			PeriodS      float64         `json:"period_s"`
			Rows         []benchRelayRow `json:"rows"`
			Best         int             `json:"best"`
		}{f.size, f.period.Seconds(), rows, best})
	}
	fmt.Fprintf(stdout, "Relay seeding %d-byte segments every %v (%.0f kbit/s) to N WebRTC viewers on loopback; %v measured after all connected\n",
		f.size, f.period, float64(f.size)*8/f.period.Seconds()/1000, f.measure)
	fmt.Fprintf(stdout, "relay: GOMAXPROCS=1, GOGC %q, CPU %q, nice %d, one UDP port %v, batched %v, links served at once %d (0: default); viewers: %d process(es), GOMAXPROCS=1, GOGC %q, CPU %q, nice %d\n",
		f.gogc, f.relayCPU, f.relayNice, f.mux, f.mux && f.batch, f.serveLinks, f.viewerProcs, f.viewerGOGC, f.viewerCPU, f.viewerNice)
	if quota != nil {
		fmt.Fprintf(stdout, "relay CPU quota: %.0f%% of a core (cgroup, %v periods); throttled: the share of periods in which the relay used all of it\n", 100*f.quota, quotaPeriod)
	}
	fmt.Fprintln(stdout)
	fmt.Fprintf(stdout, "%7s %9s %9s %10s %9s %9s %9s %10s %10s %9s %8s %9s %9s %9s  %s\n", "viewers", "connected", "segments",
		"on time", "p50", "p95", "max", "relay CPU", "throttled", "viewers", "others", "Mbit/s", "UDP drops", "relay RSS", "")
	for _, r := range rows {
		verdict := "fail"
		if r.Pass {
			verdict = "pass"
		}
		throttled := "-"
		if r.Quota > 0 {
			throttled = fmt.Sprintf("%.0f%%", 100*r.Throttled)
		}
		fmt.Fprintf(stdout, "%7d %9d %9d %9.2f%% %9s %9s %9s %9.0f%% %10s %9.0f%% %8.0f%% %8.0f %9d %5d MiB  %s\n", r.N, r.Connected, r.Segments,
			100*r.OnTime, fmtMs(r.P50Ms), fmtMs(r.P95Ms), fmtMs(r.MaxMs), 100*r.RelayCPU, throttled, 100*r.ViewerCPU, 100*r.OtherCPU, r.Mbps, r.UDPDrops, r.RelayRSS, verdict)
	}
	fmt.Fprintf(stdout, "\nothers: CPU used by the rest of the machine in the window (a round above %.0f%% was run again, up to %d times).\n", 100*f.noisy, f.retries)
	fmt.Fprintf(stdout, "pass: all connected, ≥ 99%% of deliveries within %v, relay below 100%% of a core. Largest N that passed: %d\n", f.period, best)
	if quota != nil && best > 0 {
		fmt.Fprintf(stdout, "per core: %.0f viewers (%d at a quota of %.2f of a core)\n", float64(best)/f.quota, best, f.quota)
	}
	return nil
}

func fmtMs(ms float64) string {
	if math.IsInf(ms, 0) {
		return "never"
	}
	return fmt.Sprintf("%.0f ms", ms)
}

// raiseFileLimit lifts the soft limit of open files to the hard one: the
// viewers hold a socket and a tracker connection each, and the children
// inherit the limit.
func raiseFileLimit() {
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil && lim.Cur < lim.Max {
		lim.Cur = lim.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
}

// benchChild is a started child process and its reports.
type benchChild struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan map[string]json.RawMessage
	done  chan error
	// openSeen is the last count of connected viewers it reported.
	openSeen int
}

func startBenchChild(ctx context.Context, cpu string, nice int, env []string, stderr io.Writer, self string, args ...string) (*benchChild, error) {
	// taskset and nice exec what follows: the process ID stays the child's.
	name, argv := self, args
	if nice != 0 {
		name, argv = "nice", append([]string{"-n", strconv.Itoa(nice), name}, argv...)
	}
	if cpu != "" {
		name, argv = "taskset", append([]string{"-c", cpu, name}, argv...)
	}
	cmd := exec.CommandContext(ctx, name, argv...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = stderr
	cmd.WaitDelay = 5 * time.Second
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &benchChild{cmd: cmd, stdin: in, lines: make(chan map[string]json.RawMessage, 64), done: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 256<<20)
		for sc.Scan() {
			var m map[string]json.RawMessage
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				c.lines <- m
			}
		}
		close(c.lines)
		c.done <- cmd.Wait()
	}()
	return c, nil
}

func (c *benchChild) say(cmd string) { _, _ = io.WriteString(c.stdin, cmd+"\n") }

// await returns the next report that has key, or fails after d.
func (c *benchChild) await(key string, d time.Duration) (json.RawMessage, error) {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case m, ok := <-c.lines:
			if !ok {
				return nil, fmt.Errorf("child %d exited before reporting %q", c.cmd.Process.Pid, key)
			}
			if v, ok := m[key]; ok {
				return v, nil
			}
		case <-t.C:
			return nil, fmt.Errorf("child %d: no %q within %v", c.cmd.Process.Pid, key, d)
		}
	}
}

// latest drains the reports waiting and returns the last value of key.
func (c *benchChild) latest(key string) (json.RawMessage, bool) {
	var v json.RawMessage
	found := false
	for {
		select {
		case m, ok := <-c.lines:
			if !ok {
				return v, found
			}
			if x, ok := m[key]; ok {
				v, found = x, true
			}
		default:
			return v, found
		}
	}
}

func (c *benchChild) stop() {
	_ = c.stdin.Close()
	select {
	case <-c.done:
	case <-time.After(15 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// benchRelayRound runs one N: a relay, the viewers, the window.
func benchRelayRound(ctx context.Context, self, url string, n int, f benchRelayFlags, quota *cpuQuota, stderr io.Writer) (benchRelayRow, error) {
	row := benchRelayRow{N: n, Quota: f.quota}
	childErr := io.Discard
	if f.verbose {
		childErr = stderr
	}
	common := []string{"benchrelay", "--tracker", url, "--period", f.period.String(), "--size", strconv.Itoa(f.size)}
	env := []string{"GOMAXPROCS=1"}
	if f.gogc != "" {
		env = append(env, "GOGC="+f.gogc)
	}
	relay, err := startBenchChild(ctx, f.relayCPU, f.relayNice, env, childErr, self, append(common, "--role", "relay", "--count", strconv.Itoa(n),
		"--mux="+strconv.FormatBool(f.mux), "--batch="+strconv.FormatBool(f.batch), "--sockbuf", strconv.Itoa(f.sockbuf), "--serve-links", strconv.Itoa(f.serveLinks))...)
	if err != nil {
		return row, err
	}
	defer relay.stop()
	if quota != nil {
		if err := quota.add(relay.cmd.Process.Pid); err != nil {
			return row, err
		}
	}
	if _, err := relay.await("ready", 30*time.Second); err != nil {
		return row, err
	}
	var viewers []*benchChild
	defer func() {
		for _, v := range viewers {
			v.stop()
		}
	}()
	for i := range f.viewerProcs {
		lo, hi := n*i/f.viewerProcs, n*(i+1)/f.viewerProcs
		venv := []string{"GOMAXPROCS=1"}
		if f.viewerGOGC != "" {
			venv = append(venv, "GOGC="+f.viewerGOGC)
		}
		v, err := startBenchChild(ctx, f.viewerCPU, f.viewerNice, venv, childErr, self, append(common, "--role", "viewers",
			"--count", strconv.Itoa(hi-lo), "--first", strconv.Itoa(lo), "--viewer-sockbuf", strconv.Itoa(f.viewerSockbuf), "--ramp", strconv.FormatFloat(f.ramp/float64(f.viewerProcs), 'f', -1, 64))...)
		if err != nil {
			return row, err
		}
		viewers = append(viewers, v)
	}
	// Wait until every viewer has the relay's HELLO, or until connections
	// stop coming.
	start := time.Now()
	limit := start.Add(time.Duration(float64(n)/f.ramp*float64(time.Second)) + 60*time.Second)
	last, lastAt := 0, time.Now()
	for {
		open := 0
		for _, v := range viewers {
			if x, ok := v.latest("open"); ok {
				var k int
				_ = json.Unmarshal(x, &k)
				v.openSeen = k
			}
			open += v.openSeen
		}
		if open != last {
			last, lastAt = open, time.Now()
		}
		row.Connected = open
		if open >= n || time.Now().After(limit) || time.Since(lastAt) > 30*time.Second {
			break
		}
		select {
		case <-ctx.Done():
			return row, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	row.ConnectS = time.Since(start).Seconds()
	if row.Connected < n {
		fmt.Fprintf(stderr, "benchrelay: N=%d: only %d viewers connected after %.0f s; measuring them\n", n, row.Connected, row.ConnectS)
	}
	time.Sleep(f.settle)

	pids := []int{relay.cmd.Process.Pid}
	for _, v := range viewers {
		pids = append(pids, v.cmd.Process.Pid)
	}
	cpu0, err := cpuOf(pids)
	if err != nil {
		return row, err
	}
	all0, err := machineCPU()
	if err != nil {
		return row, err
	}
	drops0 := udpRcvbufErrors()
	var thr0, periods0 int64
	if quota != nil {
		thr0, periods0 = quota.throttled()
	}
	if f.cpuprofile != "" {
		relay.say("profile " + fmt.Sprintf("%s-%d.pprof", f.cpuprofile, n))
		viewers[0].say("profile " + fmt.Sprintf("%s-%d.viewers.pprof", f.cpuprofile, n))
	}
	relay.say("bytes")
	up0raw, err := relay.await("bytes_up", 10*time.Second)
	if err != nil {
		return row, err
	}
	t0 := time.Now()
	select {
	case <-ctx.Done():
		return row, ctx.Err()
	case <-time.After(f.measure):
	}
	t1 := time.Now()
	cpu1, err := cpuOf(pids)
	if err != nil {
		return row, err
	}
	all1, err := machineCPU()
	if err != nil {
		return row, err
	}
	row.UDPDrops = udpRcvbufErrors() - drops0
	if quota != nil {
		thr1, periods1 := quota.throttled()
		if periods1 > periods0 {
			row.Throttled = float64(thr1-thr0) / float64(periods1-periods0)
		}
	}
	if kib, err := rssKiB(pids[0]); err == nil {
		row.RelayRSS = kib >> 10
	}
	relay.say("bytes")
	up1raw, err := relay.await("bytes_up", 10*time.Second)
	if err != nil {
		return row, err
	}
	if f.cpuprofile != "" {
		relay.say("unprofile")
		viewers[0].say("unprofile")
	}
	row.Seconds = t1.Sub(t0).Seconds()
	row.RelayCPU = (cpu1[0] - cpu0[0]) / row.Seconds
	var viewersCPU float64
	for i := 1; i < len(pids); i++ {
		viewersCPU += cpu1[i] - cpu0[i]
	}
	row.ViewerCPU = viewersCPU / row.Seconds
	self0, self1 := all0.self, all1.self
	row.OtherCPU = max((all1.busy-all0.busy)-(cpu1[0]-cpu0[0])-viewersCPU-(self1-self0), 0) / row.Seconds
	var up0, up1 int64
	_ = json.Unmarshal(up0raw, &up0)
	_ = json.Unmarshal(up1raw, &up1)
	row.Mbps = float64(up1-up0) * 8 / row.Seconds / 1e6

	// Give the last segments of the window their period, then collect.
	time.Sleep(f.period + time.Second)
	relay.say("report")
	putsRaw, err := relay.await("puts", 30*time.Second)
	if err != nil {
		return row, err
	}
	var puts map[uint32]int64
	if err := json.Unmarshal(putsRaw, &puts); err != nil {
		return row, err
	}
	// The segments Put in the window that had their full period before it
	// closed.
	var window []uint32
	for seq, at := range puts {
		if at >= t0.UnixNano() && at+f.period.Nanoseconds() <= t1.UnixNano() {
			window = append(window, seq)
		}
	}
	slices.Sort(window)
	row.Segments = len(window)
	row.Deliveries = n * len(window)
	var delays []float64
	for _, v := range viewers {
		v.say("report")
		raw, err := v.await("report", 60*time.Second)
		if err != nil {
			return row, err
		}
		var rep benchViewersReport
		if err := json.Unmarshal(raw, &rep); err != nil {
			return row, err
		}
		row.BadData += rep.Bad
		row.Absent += rep.Absent
		row.Byes += rep.Byes
		for _, got := range rep.Done {
			for _, seq := range window {
				if at, ok := got[strconv.FormatUint(uint64(seq), 10)]; ok {
					delays = append(delays, float64(at-puts[seq])/1e6)
				}
			}
		}
	}
	slices.Sort(delays)
	onTime := 0
	for _, d := range delays {
		if d <= float64(f.period.Milliseconds()) {
			onTime++
		}
	}
	if row.Deliveries > 0 {
		row.OnTime = float64(onTime) / float64(row.Deliveries)
		row.Delivered = float64(len(delays)) / float64(row.Deliveries)
		row.P50Ms = quantile(delays, row.Deliveries, 0.50)
		row.P95Ms = quantile(delays, row.Deliveries, 0.95)
		row.MaxMs = quantile(delays, row.Deliveries, 1)
	}
	row.Pass = row.Connected >= n && row.Deliveries > 0 && row.OnTime >= 0.99 && row.RelayCPU < 1
	return row, nil
}

// quantile returns the q-quantile of total deliveries, of which the sorted
// delays arrived and the others never did (+Inf).
func quantile(sorted []float64, total int, q float64) float64 {
	i := int(math.Ceil(q*float64(total))) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(sorted) {
		return math.Inf(1)
	}
	return sorted[i]
}

// cpuOf returns the CPU seconds of each process.
func cpuOf(pids []int) ([]float64, error) {
	out := make([]float64, len(pids))
	for i, pid := range pids {
		s, err := cpuSeconds(pid)
		if err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}

// machineTimes are the machine's busy CPU seconds (all CPUs, from
// /proc/stat) and this process's.
type machineTimes struct{ busy, self float64 }

func machineCPU() (machineTimes, error) {
	var m machineTimes
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return m, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return m, errors.New("bad /proc/stat")
	}
	// user nice system idle iowait irq softirq steal: busy is all but idle
	// and iowait.
	for i, s := range f[1:min(len(f), 9)] {
		v, _ := strconv.ParseFloat(s, 64)
		if i != 3 && i != 4 {
			m.busy += v / 100 // USER_HZ
		}
	}
	m.self, err = cpuSeconds(os.Getpid())
	return m, err
}

// udpRcvbufErrors returns the datagrams this network namespace dropped
// because a socket's receive buffer was full (/proc/net/snmp): each one
// costs SCTP a retransmission.
func udpRcvbufErrors() int64 {
	b, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return 0
	}
	var names []string
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "Udp:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i, name := range names {
			if name == "RcvbufErrors" && i < len(f) {
				v, _ := strconv.ParseInt(f[i], 10, 64)
				return v
			}
		}
	}
	return 0
}

// benchSegment returns the synthetic segment seq: its bytes are drawn from
// a generator seeded with seq, so that the viewers know what to expect.
func benchSegment(seq uint32, size int, period time.Duration) (peer.SegmentInfo, []byte) {
	var seed [32]byte
	binary.BigEndian.PutUint32(seed[:], seq)
	r := rand.NewChaCha8(seed)
	b := make([]byte, size)
	_, _ = r.Read(b)
	return peer.SegmentInfo{Seq: seq, Size: uint32(size), SHA256: sha256.Sum256(b), Duration: period}, b
}

// benchRelayServe is the relay child: a relay engine joined to the swarm,
// fed by Put. It answers commands on stdin: "bytes" (report DATA bytes
// sent), "profile FILE" and "unprofile" (CPU profile), "report" (the Put
// times); end of input stops it.
func benchRelayServe(ctx context.Context, f benchRelayFlags, stdin io.Reader, stdout, stderr io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ice := rtc.ICEConfig{Interfaces: []string{"lo"}, Loopback: true, SocketBuffer: f.sockbuf, NoBatch: !f.batch}
	if f.mux {
		ice.ListenUDP = "127.0.0.1:0"
	}
	e, joined, err := join.Start(ctx, join.Config{
		TrackerURL: f.tracker, Stream: benchRelayStream,
		Engine: peer.Config{NoDownload: true, ServeLinks: f.serveLinks},
		Role:   wire.RoleRelay, MaxPeers: f.n + 50, ICE: ice,
		// The benchmark's tracker takes answers as fast as they come.
		TrackerRate: 1000, TrackerBurst: 1000,
		Logger: logger,
	})
	if err != nil {
		return err
	}
	out := json.NewEncoder(stdout)
	var outMu sync.Mutex
	say := func(v any) {
		outMu.Lock()
		defer outMu.Unlock()
		_ = out.Encode(v)
	}
	var putMu sync.Mutex
	puts := map[uint32]int64{}
	go func() {
		tick := time.NewTicker(f.period)
		defer tick.Stop()
		var window []peer.SegmentInfo
		for seq := uint32(1); ; seq++ {
			info, b := benchSegment(seq, f.size, f.period)
			at := time.Now()
			if err := e.Put(info, b); err != nil {
				logger.Error("Put", "err", err)
			}
			putMu.Lock()
			puts[seq] = at.UnixNano()
			putMu.Unlock()
			window = append(window, info)
			if len(window) > 6 {
				window = window[1:]
			}
			e.SetPlaylist(slices.Clone(window))
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	say(map[string]bool{"ready": true})
	prof := benchProfiler{logger: logger, allocs: true}
	sc := bufio.NewScanner(stdin)
	for sc.Scan() {
		cmd, arg, _ := strings.Cut(sc.Text(), " ")
		prof.command(cmd, arg)
		switch cmd {
		case "bytes":
			st := e.Stats()
			say(map[string]int64{"bytes_up": st.BytesUp, "peers": int64(st.Peers)})
		case "report":
			putMu.Lock()
			say(map[string]any{"puts": puts})
			putMu.Unlock()
		}
	}
	cancel()
	<-joined
	e.Close()
	return nil
}

// benchViewersReport is what a viewers child reports: for each viewer, the
// completion time (Unix ns) of each segment it received and verified.
type benchViewersReport struct {
	Done   []map[string]int64 `json:"done"`
	Bad    int                `json:"bad"`
	Absent int                `json:"absent"`
	Byes   int                `json:"byes"`
}

// benchViewersState is shared by a child's viewers.
type benchViewersState struct {
	swarm  proto.SwarmID
	size   int
	period time.Duration
	open   atomic.Int64
	bad    atomic.Int64
	absent atomic.Int64
	byes   atomic.Int64

	mu     sync.Mutex
	hashes map[uint32][32]byte
}

// expected returns the SHA-256 of segment seq, computed once per process.
func (st *benchViewersState) expected(seq uint32) [32]byte {
	st.mu.Lock()
	defer st.mu.Unlock()
	h, ok := st.hashes[seq]
	if !ok {
		info, _ := benchSegment(seq, st.size, st.period)
		h = info.SHA256
		st.hashes[seq] = h
	}
	return h
}

// benchViewer is one light viewer: it speaks just enough fusioncast/1 to
// take every segment from the relay (HELLO, REQUEST on each HAVE, PONG),
// verifies each and records when it completed.
type benchViewer struct {
	st *benchViewersState
	c  *rtc.Conn

	mu     sync.Mutex
	relay  bool
	nextID uint32
	reqs   map[uint32]*benchReq
	done   map[uint32]int64
}

type benchReq struct {
	seq uint32
	buf []byte
	got int
}

func (v *benchViewer) attach(c *rtc.Conn) {
	v.mu.Lock()
	if v.c != nil {
		v.mu.Unlock()
		_ = c.Close() // one connection, to the relay
		return
	}
	v.c = c
	v.mu.Unlock()
	c.OnMessage(v.receive)
	c.OnClose(func() {
		v.mu.Lock()
		if v.c == c {
			v.c = nil
			if v.relay {
				v.st.open.Add(-1)
			}
			v.relay = false
			clear(v.reqs)
		}
		v.mu.Unlock()
	})
	_ = c.Send(proto.Append(nil, proto.Hello{Version: proto.Version, Role: proto.RoleViewer, Flags: proto.FlagNoUpload, Swarm: v.st.swarm}))
}

func (v *benchViewer) receive(b []byte) {
	m, err := proto.Parse(b)
	if err != nil {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	c := v.c
	if c == nil {
		return
	}
	switch m := m.(type) {
	case proto.Hello:
		if m.Role != proto.RoleRelay {
			_ = c.Close() // another viewer: this one wants the relay
			return
		}
		v.relay = true
		v.st.open.Add(1)
	case proto.Have:
		if _, ok := v.done[m.Seq]; ok || !v.relay {
			return
		}
		for _, r := range v.reqs {
			if r.seq == m.Seq {
				return
			}
		}
		id := v.nextID
		v.nextID++
		v.reqs[id] = &benchReq{seq: m.Seq, buf: make([]byte, m.Size)}
		_ = c.Send(proto.Append(nil, proto.Request{RequestID: id, Seq: m.Seq, Hash8: m.Hash8, Length: m.Size}))
	case proto.Data:
		r := v.reqs[m.RequestID]
		if r == nil || int(m.Offset) != r.got || r.got+len(m.Payload) > len(r.buf) {
			return
		}
		r.got += copy(r.buf[r.got:], m.Payload)
		if r.got < len(r.buf) {
			return
		}
		delete(v.reqs, m.RequestID)
		if sha256.Sum256(r.buf) != v.st.expected(r.seq) {
			v.st.bad.Add(1)
			return
		}
		v.done[r.seq] = time.Now().UnixNano()
	case proto.Absent:
		delete(v.reqs, m.RequestID)
		v.st.absent.Add(1)
	case proto.Ping:
		_ = c.Send(proto.Append(nil, proto.Pong(m)))
	case proto.Bye:
		v.st.byes.Add(1)
	}
}

// benchRelayViewers is a viewers child: it starts its viewers at the ramp
// rate, reports how many have the relay every second, and on "report"
// what each received.
func benchRelayViewers(ctx context.Context, f benchRelayFlags, stdin io.Reader, stdout, stderr io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st := &benchViewersState{swarm: peer.SwarmFor(benchRelayStream), size: f.size, period: f.period, hashes: map[uint32][32]byte{}}
	out := json.NewEncoder(stdout)
	var outMu sync.Mutex
	say := func(v any) {
		outMu.Lock()
		defer outMu.Unlock()
		_ = out.Encode(v)
	}
	viewers := make([]*benchViewer, f.n)
	var wg sync.WaitGroup
	go func() {
		every := time.Duration(float64(time.Second) / f.ramp)
		for i := range viewers {
			v := &benchViewer{st: st, reqs: map[uint32]*benchReq{}, done: map[uint32]int64{}}
			viewers[i] = v
			var pid wire.ID
			copy(pid[:], fmt.Sprintf("-FC0001-v%011d", f.first+i))
			wg.Go(func() {
				if err := rtc.Run(ctx, rtc.Config{
					TrackerURL: f.tracker, InfoHash: wire.ID(st.swarm), PeerID: pid,
					MaxPeers: 1, Offers: 1,
					ICE:    rtc.ICEConfig{Interfaces: []string{"lo"}, Loopback: true, SocketBuffer: f.viewerSockbuf},
					OnConn: v.attach, Logger: logger,
				}); err != nil {
					logger.Error("viewer", "err", err)
				}
			})
			select {
			case <-ctx.Done():
				return
			case <-time.After(every):
			}
		}
	}()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
				say(map[string]int64{"open": st.open.Load()})
			}
		}
	}()
	sc := bufio.NewScanner(stdin)
	prof := benchProfiler{logger: logger}
	for sc.Scan() {
		cmd, arg, _ := strings.Cut(sc.Text(), " ")
		prof.command(cmd, arg)
		if cmd == "report" {
			rep := benchViewersReport{Bad: int(st.bad.Load()), Absent: int(st.absent.Load()), Byes: int(st.byes.Load())}
			for _, v := range viewers {
				if v == nil {
					continue
				}
				got := map[string]int64{}
				v.mu.Lock()
				for seq, at := range v.done {
					got[strconv.FormatUint(uint64(seq), 10)] = at
				}
				v.mu.Unlock()
				rep.Done = append(rep.Done, got)
			}
			say(map[string]any{"report": rep})
		}
	}
	cancel()
	wg.Wait()
	return nil
}

// benchProfiler serves a benchrelay child's "profile FILE" and "unprofile"
// commands: a CPU profile of the window into FILE and, with allocs, the
// allocations since the start beside it (FILE minus .pprof plus
// .allocs.pprof).
type benchProfiler struct {
	logger *slog.Logger
	allocs bool
	f      *os.File
}

// command runs cmd if it is one of the profiler's and ignores it if not.
func (p *benchProfiler) command(cmd, arg string) {
	switch cmd {
	case "profile":
		var err error
		if p.f, err = os.Create(arg); err == nil {
			err = pprof.StartCPUProfile(p.f)
		}
		if err != nil {
			p.logger.Error("CPU profile", "err", err)
		}
	case "unprofile":
		pprof.StopCPUProfile()
		if p.f == nil {
			return
		}
		_ = p.f.Close()
		if p.allocs {
			if a, err := os.Create(strings.TrimSuffix(p.f.Name(), ".pprof") + ".allocs.pprof"); err == nil {
				_ = pprof.Lookup("allocs").WriteTo(a, 0)
				_ = a.Close()
			}
		}
	}
}
