package main

import (
	"bufio"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"fusioncast/internal/hls"
)

// serveResult is one server's figures in `fusioncast benchserve`: the
// median round, by Gbit per CPU-second.
type serveResult struct {
	Server       string  `json:"server"`
	Requests     int64   `json:"requests"`
	Seconds      float64 `json:"seconds"`
	Bytes        int64   `json:"bytes"`
	CPUSeconds   float64 `json:"cpu_seconds"`
	RequestsPerS float64 `json:"requests_per_s"`
	Gbps         float64 `json:"gbit_per_s"`
	// GbpsPerCPU is the server's throughput per CPU-second it used: it
	// still compares when the load generator saturates first.
	GbpsPerCPU float64 `json:"gbit_per_cpu_second"`
}

type benchServeFlags struct {
	duration          time.Duration
	conns, size, segs int
	rounds            int
	serverCPU         string
	loadCPU           string
	jsonOut           bool
	nginx, wrk        string
}

// benchTarget is a server under test.
type benchTarget struct {
	name string
	cmd  *exec.Cmd
	url  string // the segment wrk fetches
}

func runBenchServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f benchServeFlags
	fs := newFlags("benchserve", "[--duration D] [--rounds R] [--conns C] [--json]", stderr)
	fs.DurationVar(&f.duration, "duration", 5*time.Second, "load duration per server and round")
	fs.IntVar(&f.rounds, "rounds", 5, "rounds; each round loads each server once, alternating")
	fs.IntVar(&f.conns, "conns", 32, "wrk connections")
	fs.IntVar(&f.size, "size", 160_000, "segment size in bytes")
	fs.IntVar(&f.segs, "segments", 3, "segments in the served playlist (wrk fetches one of them)")
	fs.StringVar(&f.serverCPU, "server-cpu", "0", "CPU list the servers are pinned to (taskset -c)")
	fs.StringVar(&f.loadCPU, "load-cpu", "1", "CPU list wrk is pinned to")
	fs.StringVar(&f.nginx, "nginx", "nginx", "nginx binary")
	fs.StringVar(&f.wrk, "wrk", "wrk", "wrk binary")
	fs.BoolVar(&f.jsonOut, "json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if f.rounds < 1 || f.duration < time.Second {
		return fmt.Errorf("--rounds must be at least 1 and --duration at least 1s")
	}
	for _, bin := range []string{f.nginx, f.wrk, "taskset"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("benchserve needs %s (Debian: apt-get install nginx-light wrk util-linux): %w", bin, err)
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "fusioncast-benchserve-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	media := filepath.Join(dir, "media")
	if err := writeBenchMedia(media, f.segs, f.size); err != nil {
		return err
	}

	// The origin, ingesting the folder as a live stream named "bench".
	port, err := freePort()
	if err != nil {
		return err
	}
	origin := exec.CommandContext(ctx, "taskset", "-c", f.serverCPU, self, "origin",
		"--addr", "127.0.0.1:"+port, "--source", "hls-dir:"+media, "--stream", "bench", "--window", strconv.Itoa(f.segs),
		"--log-level", "warn")
	origin.Env = append(os.Environ(), "GOMAXPROCS=1")
	origin.Stderr = stderr
	ot := &benchTarget{name: "fusioncast origin", cmd: origin}
	stop, err := startTarget(ctx, ot, f, func() (string, error) {
		urls, err := originURLs(ctx, "http://127.0.0.1:"+port+"/live/bench/index.m3u8", f.segs)
		if err != nil {
			return "", err
		}
		return urls[len(urls)-1], nil
	})
	if err != nil {
		return err
	}
	defer stop()

	// nginx, one worker, sendfile, serving the same files.
	port, err = freePort()
	if err != nil {
		return err
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(nginxConf(dir, media, port)), 0o644); err != nil {
		return err
	}
	nginx := exec.CommandContext(ctx, "taskset", "-c", f.serverCPU, f.nginx, "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log"))
	nginx.Stderr = stderr
	nt := &benchTarget{name: "nginx", cmd: nginx}
	stopNginx, err := startTarget(ctx, nt, f, func() (string, error) {
		return fmt.Sprintf("http://127.0.0.1:%s/seg%03d.ts", port, f.segs-1), nil
	})
	if err != nil {
		return err
	}
	defer stopNginx()

	targets := []*benchTarget{ot, nt}
	rounds := make([][]serveResult, len(targets))
	var ratios []float64
	for round := range f.rounds {
		for i, t := range targets {
			r, err := loadTarget(ctx, t, f)
			if err != nil {
				return err
			}
			rounds[i] = append(rounds[i], r)
		}
		ratios = append(ratios, rounds[0][round].GbpsPerCPU/rounds[1][round].GbpsPerCPU)
		if !f.jsonOut {
			fmt.Fprintf(stderr, "round %d: origin %.2f, nginx %.2f Gbit/CPU-second, ratio %.2f\n",
				round+1, rounds[0][round].GbpsPerCPU, rounds[1][round].GbpsPerCPU, ratios[round])
		}
	}
	results := []serveResult{median(rounds[0]), median(rounds[1])}
	ratio := medianFloat(ratios)

	if f.jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{
			"segment_bytes": f.size, "connections": f.conns, "rounds": f.rounds, "results": results,
			"ratio_gbit_per_cpu_second_median": ratio, "ratios": ratios,
		})
	}
	fmt.Fprintf(stdout, "%d-byte segments, wrk %d connections, %d rounds of %v per server, servers on CPU %s, wrk on CPU %s\n\n",
		f.size, f.conns, f.rounds, f.duration, f.serverCPU, f.loadCPU)
	fmt.Fprintf(stdout, "%-18s %12s %10s %10s %16s   (median round)\n", "server", "requests/s", "Gbit/s", "CPU s", "Gbit/CPU-second")
	for _, r := range results {
		fmt.Fprintf(stdout, "%-18s %12.0f %10.2f %10.2f %16.2f\n", r.Server, r.RequestsPerS, r.Gbps, r.CPUSeconds, r.GbpsPerCPU)
	}
	fmt.Fprintf(stdout, "\norigin / nginx, Gbit per CPU-second: %.2f× (median of %d rounds; each round: %s)\n", ratio, f.rounds, fmtRatios(ratios))
	return nil
}

func fmtRatios(r []float64) string {
	s := make([]string, len(r))
	for i, v := range r {
		s[i] = strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strings.Join(s, " ")
}

func median(rs []serveResult) serveResult {
	s := slices.Clone(rs)
	slices.SortFunc(s, func(a, b serveResult) int { return cmp.Compare(a.GbpsPerCPU, b.GbpsPerCPU) })
	return s[len(s)/2]
}

func medianFloat(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// startTarget starts t.cmd, waits until the URL that urlOf returns serves
// the segment, and returns a function that stops the server.
func startTarget(ctx context.Context, t *benchTarget, f benchServeFlags, urlOf func() (string, error)) (func(), error) {
	if err := t.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", t.name, err)
	}
	stop := func() {
		_ = t.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = t.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = t.cmd.Process.Kill()
			<-done
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		u, err := urlOf()
		if err == nil {
			if err = checkGet(ctx, u, int64(f.size)); err == nil {
				t.url = u
				return stop, nil
			}
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("%s did not come up: %w", t.name, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// loadTarget runs wrk against t once and reads t's CPU time around it.
func loadTarget(ctx context.Context, t *benchTarget, f benchServeFlags) (serveResult, error) {
	res := serveResult{Server: t.name}
	pid := t.cmd.Process.Pid
	cpu0, err := cpuSeconds(pid)
	if err != nil {
		return res, err
	}
	wrk := exec.CommandContext(ctx, "taskset", "-c", f.loadCPU, f.wrk, "-t1", "-c"+strconv.Itoa(f.conns),
		"-d"+strconv.Itoa(int(f.duration.Seconds()))+"s", t.url)
	out, err := wrk.CombinedOutput()
	if err != nil {
		return res, fmt.Errorf("wrk: %v\n%s", err, out)
	}
	cpu1, err := cpuSeconds(pid)
	if err != nil {
		return res, err
	}
	m := regexp.MustCompile(`(\d+) requests in ([\d.]+)(m?s)`).FindSubmatch(out)
	if m == nil {
		return res, fmt.Errorf("cannot read wrk's output:\n%s", out)
	}
	if strings.Contains(string(out), "Non-2xx") || strings.Contains(string(out), "Socket errors") {
		return res, fmt.Errorf("%s: wrk saw errors:\n%s", t.name, out)
	}
	res.Requests, _ = strconv.ParseInt(string(m[1]), 10, 64)
	res.Seconds, _ = strconv.ParseFloat(string(m[2]), 64)
	if string(m[3]) == "ms" {
		res.Seconds /= 1000
	}
	res.Bytes = res.Requests * int64(f.size)
	res.CPUSeconds = cpu1 - cpu0
	res.RequestsPerS = float64(res.Requests) / res.Seconds
	res.Gbps = float64(res.Bytes) * 8 / res.Seconds / 1e9
	if res.CPUSeconds > 0 {
		res.GbpsPerCPU = float64(res.Bytes) * 8 / res.CPUSeconds / 1e9
	}
	return res, nil
}

// cpuSeconds reads a process's user+system CPU time from /proc.
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, errors.New("bad /proc stat")
	}
	fields := strings.Fields(string(b[i+1:]))
	if len(fields) < 13 {
		return 0, errors.New("short /proc stat")
	}
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	const clkTck = 100 // USER_HZ on Linux
	return (utime + stime) / clkTck, nil
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port, nil
}

func writeBenchMedia(dir string, n, size int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var pl strings.Builder
	pl.WriteString("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n")
	buf := make([]byte, size)
	for i := range n {
		_, _ = rand.Read(buf)
		for j := 0; j < len(buf); j += 188 {
			buf[j] = 0x47
		}
		name := fmt.Sprintf("seg%03d.ts", i)
		if err := os.WriteFile(filepath.Join(dir, name), buf, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(&pl, "#EXTINF:2.000,\n%s\n", name)
	}
	pl.WriteString("#EXT-X-ENDLIST\n")
	return os.WriteFile(filepath.Join(dir, "index.m3u8"), []byte(pl.String()), 0o644)
}

// originURLs reads the origin's playlist until it lists n segments.
func originURLs(ctx context.Context, playlist string, n int) ([]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, playlist, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, hls.MaxPlaylistBytes))
	if err != nil {
		return nil, err
	}
	p, err := hls.ParseMedia(b)
	if err != nil {
		return nil, err
	}
	if len(p.Segments) < n {
		return nil, fmt.Errorf("origin lists %d of %d segments", len(p.Segments), n)
	}
	base := playlist[:strings.LastIndexByte(playlist, '/')+1]
	var urls []string
	for _, s := range p.Segments {
		urls = append(urls, base+s.URI)
	}
	return urls, nil
}

func checkGet(ctx context.Context, url string, size int64) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 || n != size {
		return fmt.Errorf("GET %s: %s, %d bytes", url, resp.Status, n)
	}
	return nil
}

func nginxConf(dir, root, port string) string {
	var b strings.Builder
	w := bufio.NewWriter(&b)
	fmt.Fprintf(w, `worker_processes 1;
master_process off;
daemon off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    types { video/mp2t ts; application/vnd.apple.mpegurl m3u8; }
    server {
        listen 127.0.0.1:%[3]s;
        root %[2]s;
        location / { add_header Cache-Control "public, max-age=86400, immutable"; }
    }
}
`, dir, root, port)
	w.Flush()
	return b.String()
}
