package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"fusioncast/internal/demomedia"
	"fusioncast/internal/testenv"
	"fusioncast/multicast"
	"fusioncast/origin"
)

// runMainEnv makes the test binary run fusioncast itself instead of the
// tests: the namespace test starts receivers that way inside namespaces,
// with the race detector the tests were built with.
const runMainEnv = "FUSIONCAST_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestMcastUsage(t *testing.T) {
	out, _, err := runCmd(t, context.Background(), "mcast")
	if !errors.Is(err, errUsage) || !strings.Contains(out, "recv") {
		t.Fatalf("mcast: %v\n%s", err, out)
	}
	if out, _, err := runCmd(t, context.Background(), "mcast", "-h"); err != nil || !strings.Contains(out, "recv") {
		t.Fatalf("mcast -h: %v\n%s", err, out)
	}
	if _, errOut, err := runCmd(t, context.Background(), "mcast", "send"); !errors.Is(err, errUsage) ||
		!strings.Contains(errOut, `unknown subcommand "send"`) || !strings.Contains(errOut, "recv") {
		t.Fatalf("mcast send: %v %q", err, errOut)
	}
	if out, _, _ := runCmd(t, context.Background(), "help"); !strings.Contains(out, "mcast") {
		t.Fatalf("help does not list mcast:\n%s", out)
	}
}

func TestMcastRecvBadFlags(t *testing.T) {
	dir := t.TempDir()
	pub := filepath.Join(dir, "k.pub")
	if err := multicast.WritePublicKey(pub, make([]byte, 32)); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ok := map[string]string{"--group": "239.255.9.9:5004", "--iface": "lo", "--origin": "http://127.0.0.1:1",
		"--key": pub, "--out": dir}
	args := func(kv ...string) []string {
		m := map[string]string{}
		for k, v := range ok {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		a := []string{"mcast", "recv"}
		for k, v := range m {
			if v != "-" {
				a = append(a, k, v)
			}
		}
		return a
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{args("--group", "-"), "--group is required"},
		{args("--group", "10.0.0.1:5004"), `--group "10.0.0.1:5004" is not an IPv4 multicast group`},
		{args("--group", "239.255.9.9"), "is not an IPv4 multicast group with a port"},
		{args("--iface", "-"), "--iface is required"},
		{args("--iface", "nosuchif0"), "nosuchif0"},
		{args("--source", "239.1.1.1"), `--source "239.1.1.1" is not an IPv4 unicast address`},
		{args("--origin", "-"), "--origin is required"},
		{args("--origin", "ftp://x"), `--origin "ftp://x" is not an http://`},
		{args("--key", "-"), "--key is required"},
		{args("--key", filepath.Join(dir, "missing.pub")), "missing.pub"},
		{args("--key", file), "--key"},
		{args("--out", "-"), "--out is required"},
		{args("--out", file), "is not a directory"},
		{args("--out", filepath.Join(dir, "nodir")), "nodir"},
		{args("--keep", "0"), "--keep 0 must be at least 1"},
		{args("--stream", "a/b"), "bad stream name"},
		{args("--duration", "-1s"), "--duration must not be negative"},
		{append(args(), "extra"), `unexpected argument "extra"`},
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

// TestMcastRecvLoopback runs an origin that multicasts the demo stream on
// lo and `mcast recv` for about 10 s, any-source and source-specific:
// every segment and playlist the origin sent arrives and verifies, and the
// folder ends with the newest playlist.
func TestMcastRecvLoopback(t *testing.T) {
	requireLoMulticast(t)
	for _, ssm := range []bool{false, true} {
		name := "asm"
		if ssm {
			name = "ssm"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			dir := t.TempDir()
			group := fmt.Sprintf("239.255.%d.%d:%d", 100+rand.IntN(100), 1+rand.IntN(250), freeUDPPort(t))
			o := newMcastTestOrigin(t, "127.0.0.1:0", mcastFlags{group: group, iface: "lo", source: "127.0.0.1",
				key: filepath.Join(dir, "origin.key"), ttl: 1, rateMbps: 100, fec: multicast.DefaultOverhead,
				packet: multicast.DefaultPacketSize}, nil)
			out := filepath.Join(dir, "out")
			if err := os.Mkdir(out, 0o755); err != nil {
				t.Fatal(err)
			}
			args := []string{"mcast", "recv", "--group", group, "--iface", "lo", "--origin", o.base, "--key", o.pubKey,
				"--out", out, "--keep", "1000", "--json"}
			if ssm {
				args = append(args, "--source", "127.0.0.1")
			}
			rctx, rcancel := context.WithCancel(ctx)
			stderr := newLineWatch(t, "recv")
			var (
				stdout bytes.Buffer
				runErr error
			)
			finished := make(chan struct{})
			go func() {
				defer close(finished)
				runErr = run(rctx, args, &stdout, stderr)
			}()
			// The receiver logs to t: it must be gone when the test ends.
			defer func() {
				rcancel()
				<-finished
			}()
			if err := stderr.wait(ctx, "mcast recv: joined", finished); err != nil {
				t.Fatal(err)
			}
			o.start()
			time.Sleep(10 * time.Second)
			o.freeze()
			want := o.published(t)
			if err := waitFolder(ctx, out, want); err != nil {
				t.Fatal(err)
			}
			rcancel()
			<-finished
			if runErr != nil {
				t.Fatal(runErr)
			}
			var res mcastRecvResult
			if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
				t.Fatalf("%v\n%s", err, stdout.String())
			}
			t.Logf("sent %d objects (%d segments); %s", o.objectsSent(t), len(want.segments), resultLine(res))
			checkRecv(t, res, o.objectsSent(t), want, false)
			checkFolder(t, out, want)
			for _, k := range []string{`"read_buffer_bytes"`, `"kernel_drops"`, `"fec_symbols"`, `"repairs"`,
				`"forged"`, `"corrupt"`, `"written"`, `"old"`} {
				if !strings.Contains(stdout.String(), k) {
					t.Errorf("JSON lacks %s", k)
				}
			}
			if res.ReadBufferBytes <= 0 || res.Listener.Packets == 0 {
				t.Errorf("read buffer %d, %d packets", res.ReadBufferBytes, res.Listener.Packets)
			}
		})
	}
}

// A stopped receiver's text summary names the counters.
func TestMcastRecvTextSummary(t *testing.T) {
	requireLoMulticast(t)
	dir := t.TempDir()
	if err := multicast.WritePublicKey(filepath.Join(dir, "k.pub"), make([]byte, 32)); err != nil {
		t.Fatal(err)
	}
	group := fmt.Sprintf("239.255.%d.%d:%d", 100+rand.IntN(100), 1+rand.IntN(250), freeUDPPort(t))
	out, errOut, err := runCmd(t, context.Background(), "mcast", "recv", "--group", group, "--iface", "lo",
		"--origin", "http://127.0.0.1:1", "--key", filepath.Join(dir, "k.pub"), "--out", dir, "--duration", "200ms")
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	for _, k := range []string{"receive buffer", "lost", "kernel drops", "by FEC", "repaired", "dropped: none", "corrupt",
		"files: 0 written"} {
		if !strings.Contains(out, k) {
			t.Errorf("summary lacks %q:\n%s", k, out)
		}
	}
	if !strings.Contains(errOut, "mcast recv: joined "+group+" on lo (any source)") {
		t.Errorf("stderr: %s", errOut)
	}
}

// checkRecv checks a receiver's summary: every object the origin sent was
// delivered, nothing failed, every segment written, and unless forgeries
// were sent, nothing forged or corrupt.
func checkRecv(t *testing.T, res mcastRecvResult, sent int, want published, forgeries bool) {
	t.Helper()
	r, f := res.Reassembler, res.Files
	if r.Delivered != uint64(sent) {
		t.Errorf("delivered %d objects, the origin sent %d", r.Delivered, sent)
	}
	if r.RepairFailures != 0 || f.Errors != 0 {
		t.Errorf("failed repairs %d, write errors %d", r.RepairFailures, f.Errors)
	}
	if !forgeries && (r.Dropped["forged"] != 0 || r.Corrupt != 0) {
		t.Errorf("forged %d, corrupt %d", r.Dropped["forged"], r.Corrupt)
	}
	if f.Segments != uint64(len(want.segments)) || f.Removed != 0 {
		t.Errorf("%d segments written, %d removed; the origin sent %d", f.Segments, f.Removed, len(want.segments))
	}
	if f.Playlists+f.Old != r.Delivered-f.Segments {
		t.Errorf("%d playlists written and %d old of %d delivered playlists", f.Playlists, f.Old, r.Delivered-f.Segments)
	}
}

// resultLine is the figures of a receiver's summary that the tests log.
func resultLine(res mcastRecvResult) string {
	r := res.Reassembler
	return fmt.Sprintf("received %d packets, lost %d, delivered %d: %d whole, %d by FEC (%d symbols), %d repaired "+
		"(%d repairs, %d gaps); forged %d, corrupt %d, inconsistent %d; files: %d segments, %d playlists, %d old",
		res.Listener.Packets, r.Lost, r.Delivered, r.Complete, r.FECObjects, r.FECSymbols, r.Repaired, r.Repairs,
		r.Gaps, r.Dropped["forged"], r.Corrupt, r.Dropped["inconsistent"], res.Files.Segments, res.Files.Playlists,
		res.Files.Old)
}

// mcastTestOrigin is an origin whose demo stream goes to a multicast group
// the way `origin --multicast` sends it (startMulticast), with two changes
// for tests: it keeps every segment it published, and its source can be
// frozen, after which nothing new is sent while the repair endpoint still
// answers. So a test knows exactly what was sent.
type mcastTestOrigin struct {
	base, pubKey string
	o            *origin.Origin
	st           *origin.Stream
	ln           net.Listener
	src          *freezableSource
	ctx          context.Context
	cancel       context.CancelFunc
	mdone        <-chan error
	started      bool
	done         chan error
}

// newMcastTestOrigin builds the origin and its multicast sender, listening
// on addr. do runs the function that opens the sockets (a namespace's Do;
// nil runs it here). Nothing is sent before start.
func newMcastTestOrigin(t *testing.T, addr string, mf mcastFlags, do func(func() error) error) *mcastTestOrigin {
	t.Helper()
	if do == nil {
		do = func(f func() error) error { return f() }
	}
	logger := slog.New(slog.DiscardHandler)
	clips, err := origin.LoadClips(demomedia.FS(), "index.m3u8")
	if err != nil {
		t.Fatal(err)
	}
	demo, err := origin.NewDemo(clips, logger)
	if err != nil {
		t.Fatal(err)
	}
	m := &mcastTestOrigin{src: &freezableSource{src: demo, frozen: make(chan struct{})}, done: make(chan error, 1)}
	mux := http.NewServeMux()
	// Retain every segment, so that the test can check each one received.
	m.o = origin.New(origin.Config{Stream: origin.StreamConfig{Window: 6, Retain: 1000}, Web: mux, Logger: logger})
	if m.st, err = m.o.AddStream("demo", m.src); err != nil {
		t.Fatal(err)
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	err = do(func() (err error) {
		if m.ln, err = net.Listen("tcp", addr); err != nil {
			return err
		}
		m.pubKey, m.mdone, err = startMulticast(m.ctx, &mf, m.o, m.st, mux, logger)
		return err
	})
	if err != nil {
		m.cancel()
		if m.ln != nil {
			m.ln.Close()
		}
		t.Fatal(err)
	}
	m.base = "http://" + m.ln.Addr().String()
	t.Cleanup(m.stop)
	return m
}

// start starts the demo source: segments and playlists flow.
func (m *mcastTestOrigin) start() {
	m.started = true
	go func() { m.done <- m.o.Run(m.ctx, m.ln) }()
}

// freeze stops the source: what was published is all that is sent.
func (m *mcastTestOrigin) freeze() { close(m.src.frozen) }

// stop stops the origin and its multicast sender.
func (m *mcastTestOrigin) stop() {
	select {
	case <-m.ctx.Done():
		return
	default:
	}
	m.cancel()
	<-m.mdone
	if !m.started {
		m.ln.Close()
		return
	}
	select {
	case <-m.done:
	case <-time.After(10 * time.Second):
	}
}

// objectsSent reads the objects the origin multicast from its /metrics.
func (m *mcastTestOrigin) objectsSent(t *testing.T) int {
	t.Helper()
	rec := httptest.NewRecorder()
	m.o.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	sub := regexp.MustCompile(`fusioncast_mcast_objects_sent_total\{stream="demo"\} (\d+)`).FindStringSubmatch(rec.Body.String())
	if sub == nil {
		t.Fatalf("no objects_sent_total in /metrics:\n%s", rec.Body.String())
	}
	n, _ := strconv.Atoi(sub[1])
	return n
}

// published is what a frozen origin sent: its segments by name, and its
// last playlist.
type published struct {
	segments map[string][sha256.Size]byte
	playlist []byte
}

func (m *mcastTestOrigin) published(t *testing.T) published {
	t.Helper()
	p := published{segments: map[string][sha256.Size]byte{}}
	last, ok := m.st.Last()
	if !ok {
		t.Fatal("the origin published no segment")
	}
	for seq := last.Seq; ; seq-- {
		seg, ok := m.st.Segment(seq)
		if !ok {
			break
		}
		p.segments[seg.Name()] = seg.SHA256
	}
	p.playlist, _, _ = m.st.Playlist()
	return p
}

// freezableSource runs a source until it is frozen, then publishes
// nothing more until the origin stops.
type freezableSource struct {
	src    origin.Source
	frozen chan struct{}
}

func (f *freezableSource) Run(ctx context.Context, st *origin.Stream) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-f.frozen:
			cancel()
		case <-sctx.Done():
		}
	}()
	err := f.src.Run(sctx, st)
	if ctx.Err() == nil && sctx.Err() != nil {
		<-ctx.Done() // frozen: the origin must not take it for a failure
		return ctx.Err()
	}
	return err
}

// waitFolder waits until dir holds every segment of want and its last
// playlist.
func waitFolder(ctx context.Context, dir string, want published) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		missing := 0
		for name := range want.segments {
			if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
				missing++
			}
		}
		pl, _ := os.ReadFile(filepath.Join(dir, "index.m3u8"))
		if missing == 0 && bytes.Equal(pl, want.playlist) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %d of %d segments missing, newest playlist there: %v", dir, missing,
				len(want.segments), bytes.Equal(pl, want.playlist))
		case <-tick.C:
		}
	}
}

// checkFolder checks that dir holds exactly the segments of want, each
// with the origin's bytes, and its last playlist: nothing else, nothing
// forged, no temporary file.
func checkFolder(t *testing.T, dir string, want published) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		switch sum, ok := want.segments[e.Name()]; {
		case e.Name() == "index.m3u8":
			if !bytes.Equal(b, want.playlist) {
				t.Errorf("index.m3u8 is not the origin's last playlist:\n%s", b)
			}
		case !ok:
			t.Errorf("%s: not a segment the origin sent", e.Name())
		case sha256.Sum256(b) != sum:
			t.Errorf("%s: SHA-256 differs from the origin's segment", e.Name())
		default:
			n++
		}
	}
	if n != len(want.segments) {
		t.Errorf("%d of the origin's %d segments in %s", n, len(want.segments), dir)
	}
}

// freeUDPPort returns a UDP port that was free a moment ago.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

var (
	loMulticastOnce sync.Once
	loMulticastErr  error
)

// requireLoMulticast skips the test (fails it where every suite is
// required) unless a datagram sent to a group on lo reaches a listener
// joined on lo.
func requireLoMulticast(t *testing.T) {
	t.Helper()
	loMulticastOnce.Do(func() {
		got := make(chan struct{}, 1)
		group := fmt.Sprintf("239.255.%d.%d:0", 100+rand.IntN(100), 1+rand.IntN(250))
		l, err := multicast.Listen(multicast.ListenerConfig{Group: group, Interface: "lo", Handler: func(*multicast.Datagram) {
			select {
			case got <- struct{}{}:
			default:
			}
		}})
		if err != nil {
			loMulticastErr = err
			return
		}
		defer l.Close()
		s, err := multicast.NewSender(multicast.SenderConfig{Group: l.Group().String(), Interface: "lo"})
		if err != nil {
			loMulticastErr = err
			return
		}
		defer s.Close()
		for range 20 {
			if loMulticastErr = s.Send([][]byte{[]byte("probe")}); loMulticastErr != nil {
				return
			}
			select {
			case <-got:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
		loMulticastErr = errors.New("a datagram sent to a group on lo never arrived")
	})
	if loMulticastErr != nil {
		testenv.SkipOrFail(t, "multicast over lo: "+loMulticastErr.Error())
	}
}

// lineWatch is an io.Writer for a command's stderr: it logs each line
// with a prefix and lets a test wait for a line.
type lineWatch struct {
	t      *testing.T
	prefix string
	mu     sync.Mutex
	buf    []byte
	lines  []string
	more   chan struct{}
}

func newLineWatch(t *testing.T, prefix string) *lineWatch {
	return &lineWatch{t: t, prefix: prefix, more: make(chan struct{}, 1)}
}

func (w *lineWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		line := string(w.buf[:i])
		w.buf = w.buf[i+1:]
		w.lines = append(w.lines, line)
		w.t.Logf("%s: %s", w.prefix, line)
	}
	select {
	case w.more <- struct{}{}:
	default:
	}
	return len(p), nil
}

// wait waits for a line that starts with prefix, or for done to be closed
// (the command ended before printing it).
func (w *lineWatch) wait(ctx context.Context, prefix string, done <-chan struct{}) error {
	for {
		w.mu.Lock()
		for _, l := range w.lines {
			if strings.HasPrefix(l, prefix) {
				w.mu.Unlock()
				return nil
			}
		}
		w.mu.Unlock()
		select {
		case <-w.more:
		case <-done:
			return fmt.Errorf("%s ended before %q", w.prefix, prefix)
		case <-ctx.Done():
			return fmt.Errorf("%s: no %q: %w", w.prefix, prefix, ctx.Err())
		}
	}
}
