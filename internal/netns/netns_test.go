package netns

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"fusioncast/internal/testenv"
)

// requireNetns skips (or, in CI, fails) the test when namespaces are
// unavailable.
func requireNetns(t *testing.T) {
	t.Helper()
	if err := Available(); err != nil {
		testenv.SkipOrFail(t, err.Error())
	}
}

// newNS creates a namespace that t.Cleanup closes.
func newNS(t *testing.T) *NS {
	t.Helper()
	ns, err := New("fctn")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ns.Close(); err != nil && !errors.Is(err, ErrClosed) {
			t.Error(err)
		}
	})
	return ns
}

// listed reports whether `ip netns list` shows name.
func listed(t *testing.T, name string) bool {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v: %s", err, out)
	}
	for line := range strings.SplitSeq(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == name {
			return true
		}
	}
	return false
}

// hostHasTestAddr reports whether the test process's own namespace has an
// address in 10.213.0.0/16, which the tests must never add there.
func hostHasTestAddr(t *testing.T) bool {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if strings.HasPrefix(a.String(), "10.213.") {
			return true
		}
	}
	return false
}

// echoOnce accepts one connection on l and echoes one line back.
func echoOnce(l net.Listener) <-chan error {
	done := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		line, err := bufio.NewReader(c).ReadString('\n')
		if err == nil {
			_, err = io.WriteString(c, "echo "+line)
		}
		done <- err
	}()
	return done
}

// roundTrip sends msg over c and checks the echo.
func roundTrip(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, msg+"\n"); err != nil {
		t.Fatal(err)
	}
	got, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	if want := "echo " + msg + "\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestAvailable(t *testing.T) {
	requireNetns(t)
	if err := Available(); err != nil {
		t.Fatal(err)
	}
}

func TestNewAndClose(t *testing.T) {
	requireNetns(t)
	ns, err := New("fctn")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^fctn-[0-9a-f]{8}$`).MatchString(ns.Name) {
		t.Errorf("name %q, want fctn-<8 hex>", ns.Name)
	}
	if !listed(t, ns.Name) {
		t.Errorf("ip netns list does not show %s", ns.Name)
	}
	out, err := ns.IP(t.Context(), "link", "show", "lo")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, ",UP") {
		t.Errorf("lo is not up: %s", out)
	}

	// A process left inside is killed by Close.
	sleep := ns.Exec(t.Context(), "sleep", "60")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- sleep.Wait() }()

	if err := ns.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-waited:
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) {
			t.Errorf("sleep ended with %v, want killed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close left the process inside running")
	}
	if listed(t, ns.Name) {
		t.Errorf("ip netns list still shows %s after Close", ns.Name)
	}
	if err := ns.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close = %v, want ErrClosed", err)
	}
	if err := ns.Run(t.Context(), "true"); !errors.Is(err, ErrClosed) {
		t.Errorf("Run after Close = %v, want ErrClosed", err)
	}
}

func TestNewBadPrefix(t *testing.T) {
	for _, p := range []string{"", "UPPER", "a/b", strings.Repeat("x", 33)} {
		if _, err := New(p); !errors.Is(err, ErrBadArgument) {
			t.Errorf("New(%q) = %v, want ErrBadArgument", p, err)
		}
	}
}

func TestRunPattern(t *testing.T) {
	for name, want := range map[string]string{
		"TestX":         "^TestX$",
		"TestX/sub_one": "^TestX$/^sub_one$",
		"TestX/a.b":     `^TestX$/^a\.b$`,
	} {
		if got := runPattern(name); got != want {
			t.Errorf("runPattern(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestSelfVeth(t *testing.T) {
	requireNetns(t)
	ns := newNS(t)
	if err := ns.AddSelfVeth("10.213.1.1", "10.213.1.2"); err != nil {
		t.Fatal(err)
	}
	if hostHasTestAddr(t) {
		t.Fatal("a 10.213.x.y address appeared outside the namespace")
	}
	out, err := ns.IP(t.Context(), "route", "show", "default")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "default via 10.213.1.2 dev "+SelfVethA) {
		t.Errorf("default route: %q, want via 10.213.1.2 dev %s", out, SelfVethA)
	}
	// What Chromium effectively asks: which source address leads "out"?
	out, err = ns.IP(t.Context(), "route", "get", "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "src 10.213.1.1") {
		t.Errorf("route get: %q, want src 10.213.1.1", out)
	}

	// The test process can listen and dial inside the namespace with Do.
	var l net.Listener
	if err := ns.Do(func() (err error) {
		l, err = net.Listen("tcp", "10.213.1.1:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := echoOnce(l)
	var c net.Conn
	if err := ns.Do(func() (err error) {
		c, err = net.DialTimeout("tcp", l.Addr().String(), 5*time.Second)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	roundTrip(t, c, "self")
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// The same address does not exist outside.
	if _, err := net.DialTimeout("tcp", l.Addr().String(), 200*time.Millisecond); err == nil {
		t.Error("the namespace's listener is reachable from the host's namespace")
	}
}

func TestBridge(t *testing.T) {
	requireNetns(t)
	b, err := NewBridge("fctn-br")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	a, c := newNS(t), newNS(t)
	if err := b.Attach(a, "eth0", "10.213.2.1/24"); err != nil {
		t.Fatal(err)
	}
	if err := b.Attach(c, "eth0", "10.213.2.2/24"); err != nil {
		t.Fatal(err)
	}
	if err := b.Attach(c, "bad/name", "10.213.2.3/24"); !errors.Is(err, ErrBadArgument) {
		t.Errorf("Attach with a bad name = %v, want ErrBadArgument", err)
	}
	if hostHasTestAddr(t) {
		t.Fatal("a 10.213.x.y address appeared outside the namespaces")
	}

	// A listener in a, a client in c: the bytes cross the bridge.
	var l net.Listener
	if err := a.Do(func() (err error) {
		l, err = net.Listen("tcp", "10.213.2.1:7000")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := echoOnce(l)
	var conn net.Conn
	if err := c.Do(func() (err error) {
		conn, err = net.DialTimeout("tcp", "10.213.2.1:7000", 5*time.Second)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if got := conn.LocalAddr().(*net.TCPAddr).IP.String(); got != "10.213.2.2" {
		t.Errorf("client address %s, want 10.213.2.2", got)
	}
	roundTrip(t, conn, "across the bridge")
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// Both bridge ends are ports of the bridge.
	out, err := b.NS.IP(t.Context(), "link", "show", "master", BridgeName)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(out, "fcp") < 2 {
		t.Errorf("bridge ports: %s", out)
	}

	names := []string{b.NS.Name, a.Name, c.Name}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	// Closing the bridge removed the veth pairs from a and c.
	out, err = a.IP(t.Context(), "link", "show")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "eth0") {
		t.Errorf("eth0 still in %s after the bridge closed: %s", a.Name, out)
	}
	a.Close()
	c.Close()
	for _, n := range names {
		if listed(t, n) {
			t.Errorf("ip netns list still shows %s", n)
		}
	}
}

func TestInNamespace(t *testing.T) {
	if !InNamespace(t, func(ns *NS) error {
		return ns.AddSelfVeth("10.213.3.1", "10.213.3.2")
	}, "FUSIONCAST_TEST_MARK=42") {
		return
	}
	// From here on we are the copy of the test binary inside the namespace.
	if Current() == "" {
		t.Fatal("Current() is empty inside")
	}
	if got := os.Getenv("FUSIONCAST_TEST_MARK"); got != "42" {
		t.Errorf("extra env: FUSIONCAST_TEST_MARK=%q, want 42", got)
	}
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, i := range ifs {
		names = append(names, i.Name)
	}
	if strings.Join(names, ",") != "lo,"+SelfVethB+","+SelfVethA &&
		strings.Join(names, ",") != "lo,"+SelfVethA+","+SelfVethB {
		t.Errorf("interfaces inside: %v, want lo and the self-veth only", names)
	}
	l, err := net.Listen("tcp", "10.213.3.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := echoOnce(l)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	c, err := (&net.Dialer{}).DialContext(ctx, "tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	roundTrip(t, c, "inside")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// helperEnv makes TestInNamespaceHelper misbehave inside its namespace, for
// TestInNamespaceReports.
const helperEnv = "FUSIONCAST_NETNS_HELPER"

// TestInNamespaceHelper does nothing unless TestInNamespaceReports runs it
// with helperEnv set.
func TestInNamespaceHelper(t *testing.T) {
	mode := os.Getenv(helperEnv)
	if mode == "" {
		return
	}
	if !InNamespace(t, nil) {
		return
	}
	switch mode {
	case "fail":
		t.Error("failing on purpose")
	case "skip":
		t.Skip("skipping on purpose")
	}
}

// TestInNamespaceReports checks that the outer test fails when the inner run
// fails or skips.
func TestInNamespaceReports(t *testing.T) {
	requireNetns(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for mode, want := range map[string]string{
		"fail": "test failed inside namespace",
		"skip": "test skipped inside namespace",
		"pass": "--- PASS: TestInNamespaceHelper",
	} {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		cmd := exec.CommandContext(ctx, exe, "-test.run=^TestInNamespaceHelper$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), helperEnv+"="+mode)
		out, err := cmd.CombinedOutput()
		cancel()
		if wantErr := mode != "pass"; (err != nil) != wantErr {
			t.Errorf("mode %s: exit error %v, want error: %v\n%s", mode, err, wantErr, out)
		}
		if !strings.Contains(string(out), want) {
			t.Errorf("mode %s: output lacks %q:\n%s", mode, want, out)
		}
	}
}

// BenchmarkInNamespaceHelper does nothing unless
// TestInNamespaceReportsBenchmark runs it with helperEnv set.
func BenchmarkInNamespaceHelper(b *testing.B) {
	mode := os.Getenv(helperEnv)
	if mode == "" {
		b.Skip("only run by TestInNamespaceReportsBenchmark")
	}
	if !InNamespace(b, nil) {
		return
	}
	switch mode {
	case "fail":
		b.Error("failing on purpose")
	case "skip":
		b.Skip("skipping on purpose")
	}
	if Current() == "" {
		b.Error("Current() is empty inside")
	}
	b.ReportMetric(42, "answers")
	b.ReportMetric(7, "ns/op")
}

// TestInNamespaceReportsBenchmark checks that a benchmark run inside a
// namespace reports the inner run's metrics as its own, and fails when the
// inner run fails or skips.
func TestInNamespaceReportsBenchmark(t *testing.T) {
	requireNetns(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for mode, want := range map[string]*regexp.Regexp{
		"fail": regexp.MustCompile(`test failed inside namespace`),
		"skip": regexp.MustCompile(`benchmark skipped inside namespace`),
		// The outer line, without -test.v: 7 ns/op and 42 answers from
		// the inner run, not the outer process's time.
		"pass": regexp.MustCompile(`(?m)^BenchmarkInNamespaceHelper(-\d+)?\s+1\s+7\.000 ns/op\s+42\.00 answers$`),
	} {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		cmd := exec.CommandContext(ctx, exe, "-test.run=^$", "-test.bench=^BenchmarkInNamespaceHelper$", "-test.benchtime=1x", "-test.count=1")
		cmd.Env = append(os.Environ(), helperEnv+"="+mode)
		out, err := cmd.CombinedOutput()
		cancel()
		if wantErr := mode != "pass"; (err != nil) != wantErr {
			t.Errorf("mode %s: exit error %v, want error: %v\n%s", mode, err, wantErr, out)
		}
		if !want.Match(out) {
			t.Errorf("mode %s: output does not match %q:\n%s", mode, want, out)
		}
	}
}

func TestBenchMetrics(t *testing.T) {
	out := `goos: linux
BenchmarkB/tabs=4
BenchmarkB/tabs=4/mode=http
    bench_test.go:1: tab 1: 12 s
BenchmarkB/tabs=4/mode=http-2   	       1	         4.020 copies/segment	  0 stalls	         6.100 latency-mean-s
BenchmarkB/tabs=4/mode=http2-2  	       1	         9.000 copies/segment
PASS
`
	got, ok := benchMetrics(out, "BenchmarkB/tabs=4/mode=http")
	want := []benchMetric{{4.02, "copies/segment"}, {0, "stalls"}, {6.1, "latency-mean-s"}}
	if !ok || !slices.Equal(got, want) {
		t.Errorf("benchMetrics = %v, %v; want %v", got, ok, want)
	}
	if got, ok := benchMetrics(out, "BenchmarkB/tabs=4"); ok {
		t.Errorf("benchMetrics of the parent = %v, want none", got)
	}
	if got, ok := benchMetrics("BenchmarkC-2\t1\tx ns/op\n", "BenchmarkC"); ok {
		t.Errorf("benchMetrics of a malformed line = %v, want none", got)
	}
}
