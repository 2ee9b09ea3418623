package netns

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"fusioncast/internal/testenv"
)

const (
	// defaultChildTimeout is the child's -test.timeout when the parent test
	// has no deadline.
	defaultChildTimeout = 5 * time.Minute
	// childGrace is how long after the child's own timeout the parent kills it.
	childGrace = 15 * time.Second
)

// InNamespace runs the calling test again inside a new network namespace and
// reports whether the caller is that inner run. Use it at the top of a test:
//
//	func TestX(t *testing.T) {
//		// Checks that may skip go here: they run in both processes.
//		if !netns.InNamespace(t, func(ns *netns.NS) error {
//			return ns.AddSelfVeth("10.213.1.1", "10.213.1.2")
//		}) {
//			return // outer run: the inner run's result is already ours
//		}
//		// The body runs only inside the namespace.
//	}
//
// In the outer run (no [InsideEnv] in the environment) InNamespace skips the
// test through [testenv.SkipOrFail] if [Available] fails; otherwise it creates
// a namespace (closed by t.Cleanup), calls setup with it (if setup is not
// nil), and runs this test binary inside it as
//
//	ip netns exec NAME <test binary> -test.run '^TestX$' -test.v -test.count=1 -test.timeout=...
//
// with InsideEnv=NAME and env added to the environment. Each line of the
// inner run's output is logged with t.Log. The outer test fails if the inner
// run fails, skips, or does not run the test at all; so put every skip check
// before InNamespace. Then InNamespace returns false.
//
// setup runs only in the outer process, so it is the place to build more of
// the network (attach the namespace to a [Bridge] it creates, and register
// that bridge's Close with t.Cleanup).
//
// In the inner run InNamespace checks, with `ip netns identify`, that the
// process really is inside the namespace InsideEnv names (so a stray variable
// never runs a test on the host's network), and returns true.
//
// A benchmark (t a *testing.B) works the same way, run inside as
//
//	ip netns exec NAME <test binary> -test.run '^$' -test.bench '^BenchmarkX$' -test.benchtime 1x -test.v ...
//
// The inner run calls the benchmark once: one that needs a namespace of its
// own is a long run that reports its figures with b.ReportMetric, not a loop
// over b.N. The outer benchmark then reports every metric of the inner
// result line again on t (ns/op included, or 0 ns/op if the inner line has
// none, so that the outer line does not show the outer process's time), and
// fails if the inner run fails, skips or prints no result line.
func InNamespace(t testing.TB, setup func(ns *NS) error, env ...string) (inside bool) {
	t.Helper()
	if name := Current(); name != "" {
		names, err := identify()
		if err != nil {
			t.Fatalf("%s=%s but the namespace cannot be checked: %v", InsideEnv, name, err)
		}
		if !slices.Contains(names, name) {
			t.Fatalf("%s=%s but this process is in namespaces %q: refusing to run outside it", InsideEnv, name, names)
		}
		return true
	}
	if err := Available(); err != nil {
		testenv.SkipOrFail(t, err.Error())
		return false
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("netns: cannot find the test binary: %v", err)
	}
	ns, err := New("fctest")
	if err != nil {
		t.Fatalf("netns: %v", err)
	}
	t.Cleanup(func() {
		if err := ns.Close(); err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("netns: %v", err)
		}
	})
	if setup != nil {
		if err := setup(ns); err != nil {
			t.Fatalf("netns: setup of %s: %v", ns.Name, err)
		}
	}

	timeout := childTimeout(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout+childGrace)
	defer cancel()
	b, isBench := t.(*testing.B)
	args := []string{
		"-test.run=" + runPattern(t.Name()),
		"-test.v",
		"-test.count=1",
		"-test.timeout=" + timeout.String(),
	}
	if isBench {
		args[0] = "-test.run=^$"
		args = append(args, "-test.bench="+runPattern(t.Name()), "-test.benchtime=1x")
	}
	if testing.Short() {
		args = append(args, "-test.short")
	}
	cmd := ns.Exec(ctx, exe, args...)
	cmd.Env = append(append(os.Environ(), InsideEnv+"="+ns.Name), env...)
	w := &logWriter{t: t, prefix: "[" + ns.Name + "] "}
	cmd.Stdout, cmd.Stderr = w, w
	runErr := cmd.Run()
	out := w.finish()

	switch {
	case runErr != nil:
		t.Fatalf("test failed inside namespace %s: %v", ns.Name, runErr)
	case isBench:
		// A benchmark's skip line has no duration after the name.
		if strings.Contains(out+"\n", "--- SKIP: "+t.Name()+"\n") {
			t.Fatalf("benchmark skipped inside namespace %s: move the skip checks before netns.InNamespace", ns.Name)
		}
		metrics, ok := benchMetrics(out, t.Name())
		if !ok {
			t.Fatalf("benchmark did not run inside namespace %s (no result line)", ns.Name)
		}
		b.ReportMetric(0, "ns/op")
		for _, m := range metrics {
			b.ReportMetric(m.value, m.unit)
		}
	case strings.Contains(out, "--- SKIP: "+t.Name()+" ("):
		t.Fatalf("test skipped inside namespace %s: move the skip checks before netns.InNamespace", ns.Name)
	case !strings.Contains(out, "--- PASS: "+t.Name()+" ("):
		t.Fatalf("test did not run inside namespace %s (no --- PASS line)", ns.Name)
	}
	return false
}

// benchMetric is one value and unit of a benchmark's result line.
type benchMetric struct {
	value float64
	unit  string
}

// benchMetrics finds the result line of the benchmark called name in the
// output of a benchmark run, "name[-P] N value unit value unit ...", and
// returns its metrics in order.
func benchMetrics(out, name string) ([]benchMetric, bool) {
lines:
	for line := range strings.SplitSeq(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || len(f)%2 != 0 || !isBenchName(f[0], name) {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue
		}
		var ms []benchMetric
		for i := 2; i < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue lines
			}
			ms = append(ms, benchMetric{v, f[i+1]})
		}
		return ms, true
	}
	return nil, false
}

// isBenchName reports whether field is the benchmark name as its result
// line shows it: name itself, or name-P where P is GOMAXPROCS.
func isBenchName(field, name string) bool {
	rest, ok := strings.CutPrefix(field, name)
	if !ok {
		return false
	}
	if rest == "" {
		return true
	}
	procs, ok := strings.CutPrefix(rest, "-")
	_, err := strconv.Atoi(procs)
	return ok && err == nil
}

// runPattern returns the -test.run pattern that matches exactly the test or
// subtest called name.
func runPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

// childTimeout returns the inner run's -test.timeout: most of what is left
// of the outer test's deadline, or defaultChildTimeout without one.
func childTimeout(t testing.TB) time.Duration {
	deadline, ok := deadlineOf(t)
	if !ok {
		return defaultChildTimeout
	}
	d := time.Until(deadline)*9/10 - childGrace
	return max(d, time.Second)
}

// processStart is about when the test binary started, and with it the
// -test.timeout alarm.
var processStart = time.Now()

// deadlineOf returns t's deadline: a test's own, or for a benchmark, which
// has no Deadline method, the end of the binary's -test.timeout counted
// from the start of the process (a little early, never late).
func deadlineOf(t testing.TB) (time.Time, bool) {
	if d, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		return d.Deadline()
	}
	f := flag.Lookup("test.timeout")
	if f == nil {
		return time.Time{}, false
	}
	g, ok := f.Value.(flag.Getter)
	if !ok {
		return time.Time{}, false
	}
	if timeout, ok := g.Get().(time.Duration); ok && timeout > 0 {
		return processStart.Add(timeout), true
	}
	return time.Time{}, false
}

// logWriter passes complete lines to t.Log and keeps the whole output.
type logWriter struct {
	t      testing.TB
	prefix string

	mu      sync.Mutex
	partial []byte
	all     bytes.Buffer
	done    bool
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return len(p), nil
	}
	w.all.Write(p)
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		w.t.Log(w.prefix + string(w.partial[:i]))
		w.partial = w.partial[i+1:]
	}
	return len(p), nil
}

// finish logs the last partial line, stops logging and returns the output.
func (w *logWriter) finish() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.partial) > 0 {
		w.t.Log(w.prefix + string(w.partial))
		w.partial = nil
	}
	w.done = true
	return w.all.String()
}
