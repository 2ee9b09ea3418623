package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"fusioncast/tracker/load"
)

// trackerRun is one measured load of one tracker.
type trackerRun struct {
	Tracker          string  `json:"tracker"`
	ResponsesPerS    float64 `json:"responses_per_s"`
	CPUSeconds       float64 `json:"cpu_seconds"` // the tracker's, in the measured window
	ResponsesPerCPUS float64 `json:"responses_per_cpu_second"`
	LatencyMsP50     float64 `json:"announce_latency_ms_p50"`
	LatencyMsP99     float64 `json:"announce_latency_ms_p99"`
	Failures         int64   `json:"failures"`
	Errors           int64   `json:"errors"`
	LoadCPUPer100k   float64 `json:"load_cpu_s_per_100k_responses"`
}

// trackerMem is the memory of one tracker holding idle connections.
type trackerMem struct {
	Tracker        string  `json:"tracker"`
	Connections    int     `json:"connections"`
	RSSBeforeKiB   int64   `json:"rss_before_kib"`
	RSSAfterKiB    int64   `json:"rss_after_kib"`
	RSSAfterGCKiB  int64   `json:"rss_after_gc_kib"`
	KiBPerConn     float64 `json:"kib_per_connection"`
	KiBPerConnGC   float64 `json:"kib_per_connection_after_gc"`
	AnnouncesTaken int64   `json:"announces_answered"`
}

type benchTrackerFlags struct {
	conns, swarms, offers, rounds int
	duration                      time.Duration
	idle                          string
	serverCPU, loadCPU            string
	jsonOut                       bool
	compatDir                     string
}

func runBenchTracker(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f benchTrackerFlags
	fs := newFlags("benchtracker", "[--connections 1000] [--swarms 100] [--duration 10s] [--rounds 3] [--idle 10000,50000] [--json]", stderr)
	fs.IntVar(&f.conns, "connections", 1000, "connections of the throughput load")
	fs.IntVar(&f.swarms, "swarms", 100, "swarms of the throughput load")
	fs.IntVar(&f.offers, "offers", 10, "offers per announce")
	fs.IntVar(&f.rounds, "rounds", 3, "throughput rounds per tracker (a fresh server each), alternating (0: skip)")
	fs.DurationVar(&f.duration, "duration", 10*time.Second, "measured time per round")
	fs.StringVar(&f.idle, "idle", "10000,50000", "idle connection counts for the memory benchmark (empty: skip)")
	fs.StringVar(&f.serverCPU, "server-cpu", "0", "CPU the trackers are pinned to")
	fs.StringVar(&f.loadCPU, "load-cpu", "1", "CPU the load tool is pinned to")
	fs.StringVar(&f.compatDir, "reference", "scripts/trackercompat", "folder of the reference bittorrent-tracker server (server.js)")
	fs.BoolVar(&f.jsonOut, "json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	for _, bin := range []string{"node", "taskset"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("benchtracker needs %s: %w", bin, err)
		}
	}
	if _, err := os.Stat(filepath.Join(f.compatDir, "node_modules", "bittorrent-tracker")); err != nil {
		cmd := exec.CommandContext(ctx, filepath.Join(f.compatDir, "install.sh"))
		cmd.Stdout, cmd.Stderr = stderr, stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("installing the reference tracker: %w", err)
		}
	}
	// Idle connections need a descriptor each, in this process (the
	// clients) and in the tracker (which inherits the limit). Raise the
	// limit as far as allowed: to 1<<20 with CAP_SYS_RESOURCE, else to the
	// hard limit.
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	if want := (syscall.Rlimit{Cur: 1 << 20, Max: 1 << 20}); lim.Max < want.Max && syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want) == nil {
		lim = want
	} else {
		lim.Cur = lim.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	trackers := []struct {
		name  string
		start func(port string) *exec.Cmd
	}{
		{"fusioncast tracker", func(port string) *exec.Cmd {
			c := exec.CommandContext(ctx, "taskset", "-c", f.serverCPU, self, "tracker", "--addr", "127.0.0.1:"+port,
				"--announce-rate", "1e9", "--announce-burst", "1000000000", "--max-conns-per-addr", "1000000",
				"--max-peers", "1000000000", "--log-level", "warn")
			c.Env = append(os.Environ(), "GOMAXPROCS=1", "FUSIONCAST_ADMIN_TOKEN=")
			return c
		}},
		{"bittorrent-tracker 11.2.3", func(port string) *exec.Cmd {
			return exec.CommandContext(ctx, "taskset", "-c", f.serverCPU, "node", "--expose-gc",
				filepath.Join(f.compatDir, "server.js"), port)
		}},
	}

	var runs [][]trackerRun
	for range trackers {
		runs = append(runs, nil)
	}
	for round := range f.rounds {
		for i, tr := range trackers {
			r, err := throughputRound(ctx, self, tr.name, tr.start, f, stderr)
			if err != nil {
				return err
			}
			runs[i] = append(runs[i], r)
			if !f.jsonOut {
				fmt.Fprintf(stderr, "round %d %s: %.0f responses/s, %.0f per CPU-second\n", round+1, tr.name, r.ResponsesPerS, r.ResponsesPerCPUS)
			}
		}
	}
	var mems []trackerMem
	if f.idle != "" {
		for _, s := range strings.Split(f.idle, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || n < 1 {
				return fmt.Errorf("bad --idle count %q", s)
			}
			if uint64(n)+256 > lim.Cur {
				fmt.Fprintf(stderr, "benchtracker: skipping %d idle connections: they need %d descriptors per process, the limit here is %d (raise the hard limit of open files, or run as a user with CAP_SYS_RESOURCE)\n", n, n+256, lim.Cur)
				mems = append(mems, trackerMem{Tracker: "skipped: descriptor limit " + strconv.FormatUint(lim.Cur, 10), Connections: n})
				continue
			}
			for i, tr := range trackers {
				m, err := memoryRun(ctx, tr.name, i == 0, tr.start, n, stderr)
				if err != nil { // once more: a loaded machine can drop a few handshakes
					fmt.Fprintf(stderr, "benchtracker: %v; trying again\n", err)
					m, err = memoryRun(ctx, tr.name, i == 0, tr.start, n, stderr)
				}
				if err != nil {
					return err
				}
				mems = append(mems, m)
				if !f.jsonOut {
					fmt.Fprintf(stderr, "%s, %d idle connections: %.2f KiB each, %.2f after GC\n", tr.name, n, m.KiBPerConn, m.KiBPerConnGC)
				}
			}
		}
	}

	med := func(rs []trackerRun) trackerRun {
		sorted := slices.Clone(rs)
		slices.SortFunc(sorted, func(a, b trackerRun) int { return cmp.Compare(a.ResponsesPerCPUS, b.ResponsesPerCPUS) })
		return sorted[len(sorted)/2]
	}
	var ours, ref trackerRun
	var ratio float64
	if f.rounds > 0 {
		ours, ref = med(runs[0]), med(runs[1])
		ratio = ours.ResponsesPerCPUS / ref.ResponsesPerCPUS
	}
	if f.jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"throughput": []trackerRun{ours, ref}, "rounds": runs,
			"ratio_responses_per_cpu_second": ratio, "memory": mems})
	}
	if f.rounds > 0 {
		fmt.Fprintf(stdout, "throughput: %d connections, %d swarms, %d offers of 1.3 KB, %v per round, median of %d rounds; trackers on CPU %s, load on CPU %s\n\n",
			f.conns, f.swarms, f.offers, f.duration, f.rounds, f.serverCPU, f.loadCPU)
		fmt.Fprintf(stdout, "%-26s %12s %7s %16s %8s %8s %7s %14s\n", "tracker", "responses/s", "CPU s", "responses/CPU-s", "p50 ms", "p99 ms", "errors", "load CPU/100k")
		for _, r := range []trackerRun{ours, ref} {
			fmt.Fprintf(stdout, "%-26s %12.0f %7.2f %16.0f %8.1f %8.1f %7d %13.2fs\n", r.Tracker, r.ResponsesPerS, r.CPUSeconds, r.ResponsesPerCPUS, r.LatencyMsP50, r.LatencyMsP99, r.Errors, r.LoadCPUPer100k)
		}
		fmt.Fprintf(stdout, "\nfusioncast / bittorrent-tracker, responses per CPU-second: %.2f×\n", ratio)
	}
	if len(mems) > 0 {
		fmt.Fprintf(stdout, "\nmemory of idle connections (each announced once):\n%-26s %12s %12s %12s %14s %14s\n", "tracker", "connections", "RSS before", "RSS after", "KiB/conn", "KiB/conn (GC)")
		for _, m := range mems {
			if m.RSSAfterKiB == 0 {
				fmt.Fprintf(stdout, "%-26s %12d  (%s)\n", "", m.Connections, m.Tracker)
				continue
			}
			fmt.Fprintf(stdout, "%-26s %12d %11dK %11dK %14.2f %14.2f\n", m.Tracker, m.Connections, m.RSSBeforeKiB, m.RSSAfterKiB, m.KiBPerConn, m.KiBPerConnGC)
		}
	}
	return nil
}

// startServer starts a tracker on a free port and waits for it to accept.
func startServer(ctx context.Context, start func(port string) *exec.Cmd, stderr io.Writer) (*exec.Cmd, string, error) {
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	cmd := start(port)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, time.Second); err == nil {
			c.Close()
			return cmd, port, nil
		}
		if time.Now().After(deadline) {
			stopServer(cmd)
			return nil, "", fmt.Errorf("%s did not start", cmd.Args)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func stopServer(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

func throughputRound(ctx context.Context, self, name string, start func(string) *exec.Cmd, f benchTrackerFlags, stderr io.Writer) (trackerRun, error) {
	res := trackerRun{Tracker: name}
	cmd, port, err := startServer(ctx, start, stderr)
	if err != nil {
		return res, err
	}
	defer stopServer(cmd)
	lc := exec.CommandContext(ctx, "taskset", "-c", f.loadCPU, self, "trackerload", "--url", "ws://127.0.0.1:"+port+"/announce",
		"--connections", strconv.Itoa(f.conns), "--swarms", strconv.Itoa(f.swarms), "--offers", strconv.Itoa(f.offers),
		"--duration", f.duration.String(), "--tracker-pid", strconv.Itoa(cmd.Process.Pid), "--json")
	lc.Stderr = stderr
	out, err := lc.Output()
	if err != nil {
		return res, fmt.Errorf("trackerload against %s: %w", name, err)
	}
	var r load.Result
	if err := json.Unmarshal(out, &r); err != nil {
		return res, fmt.Errorf("trackerload output: %w", err)
	}
	if r.TrackerCPUSeconds <= 0 {
		return res, fmt.Errorf("trackerload measured no CPU time of %s (pid %d)", name, cmd.Process.Pid)
	}
	// The CPU time is the tracker's during the measured window only, the
	// same window the responses are counted in.
	res.ResponsesPerS, res.LatencyMsP50, res.LatencyMsP99, res.Failures = r.ResponsesPerS, r.LatencyMsP50, r.LatencyMsP99, r.Failures
	res.CPUSeconds, res.ResponsesPerCPUS = r.TrackerCPUSeconds, r.ResponsesPerTrackerCPUS
	res.Errors, res.LoadCPUPer100k = r.Errors, r.LoadCPUPer100k
	return res, nil
}

func rssKiB(pid int) (int64, error) {
	fh, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmRSS for %d", pid)
}

func memoryRun(ctx context.Context, name string, ours bool, start func(string) *exec.Cmd, n int, stderr io.Writer) (trackerMem, error) {
	m := trackerMem{Tracker: name, Connections: n}
	cmd, port, err := startServer(ctx, start, stderr)
	if err != nil {
		return m, err
	}
	defer stopServer(cmd)
	pid := cmd.Process.Pid
	time.Sleep(500 * time.Millisecond)
	if m.RSSBeforeKiB, err = rssKiB(pid); err != nil {
		return m, err
	}
	// Spread the connections over 127.0.0.2 and up, 10,000 per address
	// (each has about 28,000 ephemeral ports toward one tracker port).
	var srcs []netip.Addr
	for i := range n/10000 + 1 {
		srcs = append(srcs, netip.AddrFrom4([4]byte{127, 0, 0, byte(2 + i)}))
	}
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var readyErr error
	r, err := load.Run(lctx, load.Config{
		URL: "ws://127.0.0.1:" + port + "/announce", Connections: n, Swarms: 100, Idle: true, SourceAddrs: srcs,
		DialConcurrency: 256,
		Ready: func(int) {
			defer cancel()
			time.Sleep(time.Second)
			if m.RSSAfterKiB, readyErr = rssKiB(pid); readyErr != nil {
				return
			}
			if ours {
				resp, err := http.Post("http://127.0.0.1:"+port+"/admin/gc", "", nil)
				if err != nil {
					readyErr = err
					return
				}
				resp.Body.Close()
			} else {
				_ = cmd.Process.Signal(syscall.SIGUSR2)
			}
			time.Sleep(2 * time.Second)
			m.RSSAfterGCKiB, readyErr = rssKiB(pid)
		},
	})
	if err != nil {
		return m, err
	}
	if readyErr != nil {
		return m, readyErr
	}
	m.AnnouncesTaken = r.AnnounceResponses
	if r.AnnounceResponses < int64(n) {
		return m, fmt.Errorf("%s: only %d of %d idle connections announced (errors %+v, last: %s)", name, r.AnnounceResponses, n, r.ErrorsByKind, r.LastError)
	}
	m.KiBPerConn = float64(m.RSSAfterKiB-m.RSSBeforeKiB) / float64(n)
	m.KiBPerConnGC = float64(m.RSSAfterGCKiB-m.RSSBeforeKiB) / float64(n)
	return m, nil
}
