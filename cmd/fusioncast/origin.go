package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"fusioncast/internal/demomedia"
	"fusioncast/multicast"
	"fusioncast/origin"
	"fusioncast/relay"
	"fusioncast/tracker"
	"fusioncast/web"
)

// originFlags are the flags shared by `origin` and `demo`.
type originFlags struct {
	addr, stream, source, logLevel string
	copyResponses                  bool
	window, maxConns               int
	poll                           time.Duration
	mcast                          mcastFlags
	mcastPubKey                    string // set by startOrigin when multicast is on
}

func (f *originFlags) register(fs *flag.FlagSet, withSource bool) {
	fs.StringVar(&f.addr, "addr", "127.0.0.1:8080", "HTTP listen address")
	fs.StringVar(&f.stream, "stream", "demo", "stream name in URLs: /live/{stream}/index.m3u8")
	if withSource {
		fs.StringVar(&f.source, "source", "demo", "where segments come from: demo, hls-dir:PATH or hls-url:URL")
		fs.DurationVar(&f.poll, "poll", 0, "playlist poll interval of hls-dir/hls-url sources (0: half the target duration)")
	}
	fs.BoolVar(&f.copyResponses, "copy-responses", false, "copy responses from memory instead of sendfile(2) from memory files")
	fs.IntVar(&f.window, "window", 6, "segments listed in the live playlist")
	fs.IntVar(&f.maxConns, "max-conns", 10000, "cap on open HTTP connections (idle ones are evicted first)")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	f.mcast.register(fs)
}

// newSource builds the source a --source flag names.
func newSource(spec string, poll time.Duration, logger *slog.Logger) (origin.Source, error) {
	kind, arg, _ := strings.Cut(spec, ":")
	switch kind {
	case "demo":
		if arg != "" {
			return nil, fmt.Errorf("--source demo takes no argument, got %q", spec)
		}
		clips, err := origin.LoadClips(demomedia.FS(), "index.m3u8")
		if err != nil {
			return nil, err
		}
		return origin.NewDemo(clips, logger)
	case "hls-dir":
		if arg == "" {
			return nil, fmt.Errorf("--source hls-dir needs a folder: hls-dir:PATH")
		}
		return origin.NewDirSource(arg, origin.IngestConfig{Poll: poll}, logger)
	case "hls-url":
		if arg == "" {
			return nil, fmt.Errorf("--source hls-url needs a playlist URL: hls-url:URL")
		}
		return origin.NewURLSource(arg, origin.IngestConfig{Poll: poll}, logger)
	default:
		return nil, fmt.Errorf("unknown --source %q (want demo, hls-dir:PATH or hls-url:URL)", spec)
	}
}

// startOrigin builds an origin from f and starts it on its address. It
// returns the origin's base URL and a channel that yields Run's result.
func startOrigin(ctx context.Context, f *originFlags, logger *slog.Logger) (string, <-chan error, error) {
	src, err := newSource(f.source, f.poll, logger)
	if err != nil {
		return "", nil, err
	}
	if f.window < 1 || f.window > 1000 {
		return "", nil, fmt.Errorf("--window %d out of range [1, 1000]", f.window)
	}
	if f.maxConns < 1 {
		return "", nil, fmt.Errorf("--max-conns must be positive, got %d", f.maxConns)
	}
	tuneGC()
	// The page, and the multicast repair endpoint when multicast is on.
	mux := http.NewServeMux()
	mux.Handle("/", web.Handler())
	o := origin.New(origin.Config{
		Stream:   origin.StreamConfig{Window: f.window, CopyResponses: f.copyResponses},
		MaxConns: f.maxConns,
		Web:      mux,
		Logger:   logger,
	})
	st, err := o.AddStream(f.stream, src)
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return "", nil, fmt.Errorf("listen on %s: %w", f.addr, err)
	}
	mctx, mcancel := context.WithCancel(ctx)
	var mdone <-chan error
	if f.mcast.group != "" {
		if f.mcastPubKey, mdone, err = startMulticast(mctx, &f.mcast, o, st, mux, logger); err != nil {
			mcancel()
			_ = ln.Close()
			return "", nil, err
		}
	}
	done := make(chan error, 1)
	go func() {
		err := o.Run(ctx, ln)
		mcancel() // the multicast loop ends with the origin
		if mdone != nil {
			err = errors.Join(err, <-mdone)
		}
		done <- err
	}()
	return "http://" + ln.Addr().String(), done, nil
}

func runOrigin(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f originFlags
	fs := newFlags("origin", "[--addr HOST:PORT] [--source demo|hls-dir:PATH|hls-url:URL] [--stream NAME]", stderr)
	f.register(fs, true)
	if err := parse(fs, args); err != nil {
		return err
	}
	logger, err := newLogger(stderr, f.logLevel)
	if err != nil {
		return err
	}
	base, done, err := startOrigin(ctx, &f, logger)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "origin: playlist %s/live/%s/index.m3u8, player %s/?stream=%s\n", base, f.stream, base, f.stream)
	if f.mcastPubKey != "" {
		fmt.Fprintf(stdout, "multicast: %s via %s, repair %s%s{id}, public key %s\n", f.mcast.group, f.mcast.iface,
			base, mcastObjectsPath(f.stream), f.mcastPubKey)
	}
	return <-done
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := originFlags{source: "demo"}
	var trackerAddr, relayAddr string
	fs := newFlags("demo", "[--addr HOST:PORT] [--tracker-addr HOST:PORT|off] [--relay-addr HOST:PORT|off]", stderr)
	f.register(fs, false)
	fs.StringVar(&trackerAddr, "tracker-addr", "", `tracker listen address (default: the host of --addr, its port + 1); "off": no tracker, HTTP only`)
	fs.StringVar(&relayAddr, "relay-addr", "", `relay listen address (default: the host of --addr, its port + 10); the origin multicasts over lo to the relay; "off": no multicast, no relay`)
	if err := parse(fs, args); err != nil {
		return err
	}
	logger, err := newLogger(stderr, f.logLevel)
	if err != nil {
		return err
	}
	if trackerAddr == "" {
		if trackerAddr, err = nextPort(f.addr); err != nil {
			return err
		}
	}
	if relayAddr == "" {
		if relayAddr, err = addPort(f.addr, 10); err != nil {
			return err
		}
	}
	withRelay := relayAddr != "off"
	if withRelay && f.mcast.group == "" {
		// Multicast over lo only, from 127.0.0.1, with a key of this run.
		dir, err := os.MkdirTemp("", "fusioncast-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		port := 5004
		if _, p, _ := net.SplitHostPort(f.addr); p == "0" {
			port = 20000 + rand.IntN(20000) // tests run several demos at once
		}
		f.mcast.group = fmt.Sprintf("239.255.0.1:%d", port)
		f.mcast.iface, f.mcast.source, f.mcast.key = "lo", "127.0.0.1", filepath.Join(dir, "mcast.key")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	base, done, err := startOrigin(ctx, &f, logger)
	if err != nil {
		return err
	}
	waits := []<-chan error{done}
	stop := func(err error) error {
		cancel()
		errs := []error{err}
		for _, w := range waits {
			errs = append(errs, <-w)
		}
		return errors.Join(errs...)
	}
	var trackerURL string
	if trackerAddr != "off" {
		var tdone <-chan error
		if trackerURL, tdone, err = startDemoTracker(ctx, trackerAddr, logger); err != nil {
			return stop(err)
		}
		waits = append(waits, tdone)
	}
	var relayBase string
	if withRelay && f.mcastPubKey != "" {
		var rdone <-chan error
		if relayBase, rdone, err = startDemoRelay(ctx, relayAddr, base, trackerURL, &f, logger); err != nil {
			return stop(err)
		}
		waits = append(waits, rdone)
	}
	fmt.Fprint(stdout, demoBanner(base, f.stream, trackerURL, relayBase, f.mcast.group))
	if relayBase == "" && f.mcastPubKey != "" {
		fmt.Fprintf(stdout, "  multicast %s via %s, public key %s\n", f.mcast.group, f.mcast.iface, f.mcastPubKey)
	}

	// Run until ctx ends or any part stops; then stop them all.
	cases := make([]reflect.SelectCase, len(waits))
	for i, w := range waits {
		cases[i] = reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(w)}
	}
	i, v, _ := reflect.Select(append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())}))
	var first error
	if i < len(waits) {
		if e, ok := v.Interface().(error); ok {
			first = e
		}
		waits = append(waits[:i], waits[i+1:]...)
	}
	return stop(first)
}

// startDemoRelay runs a relay for the demo's stream on addr: multicast
// from the origin over lo, the LAN side on addr, and, with a tracker,
// seeding the tabs over WebRTC.
func startDemoRelay(ctx context.Context, addr, origin, trackerURL string, f *originFlags, logger *slog.Logger) (string, <-chan error, error) {
	pub, err := multicast.LoadPublicKey(f.mcastPubKey)
	if err != nil {
		return "", nil, err
	}
	cfg := relay.Config{Stream: f.stream, Origin: origin, Group: f.mcast.group, Interface: f.mcast.iface,
		Source: f.mcast.source, PublicKey: pub, Logger: logger}
	return startRelay(ctx, cfg, addr, trackerURL, "", 0)
}

// demoBanner is what `fusioncast demo` prints: the page to open (with the
// tracker, so that tabs share segments), the playlist, the tracker and the
// metrics.
func demoBanner(base, stream, trackerURL, relayBase, group string) string {
	q := url.Values{}
	if stream != "demo" {
		q.Set("stream", stream)
	}
	page := base + "/"
	if enc := q.Encode(); enc != "" {
		page += "?" + enc
	}
	var b strings.Builder
	b.WriteString("fusioncast demo is live.\n\n")
	if trackerURL != "" {
		// The tracker URL is left unescaped (":" and "/" are allowed in a
		// query), so that it reads as what it is.
		sep := "?"
		if strings.Contains(page, "?") {
			sep = "&"
		}
		page += sep + "tracker=" + trackerURL
		fmt.Fprintf(&b, "  open     %s\n           (open it in several tabs: they share segments peer to peer)\n", page)
	} else {
		fmt.Fprintf(&b, "  open     %s\n", page)
	}
	fmt.Fprintf(&b, "  HLS      %s/live/%s/index.m3u8\n", base, stream)
	if trackerURL != "" {
		fmt.Fprintf(&b, "  tracker  %s\n", trackerURL)
	}
	if relayBase != "" {
		fmt.Fprintf(&b, "  relay    %s/  (the origin multicasts to %s over lo; the relay's copy: %s/live/%s/index.m3u8)\n",
			relayBase, group, relayBase, stream)
	}
	fmt.Fprintf(&b, "  stats    %s/metrics\n\nPress Ctrl-C to stop.\n", base)
	return b.String()
}

// nextPort returns addr with its port plus one (port 0 stays 0): where the
// demo's tracker listens by default.
func nextPort(addr string) (string, error) { return addPort(addr, 1) }

// addPort returns addr with its port plus d (port 0 stays 0).
func addPort(addr string, d int) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("--addr %q: %v", addr, err)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n+d > 65535 {
		return "", fmt.Errorf("--addr %q: no port %d above it for the tracker or the relay; set --tracker-addr or --relay-addr", addr, d)
	}
	if n > 0 {
		n += d
	}
	return net.JoinHostPort(host, strconv.Itoa(n)), nil
}

// startDemoTracker starts a tracker with the default configuration on addr
// and returns its websocket URL and a channel that yields Run's result.
func startDemoTracker(ctx context.Context, addr string, logger *slog.Logger) (string, <-chan error, error) {
	s, err := tracker.New(tracker.Config{Logger: logger})
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("tracker: listen on %s: %w", addr, err)
	}
	done := make(chan error, 1)
	go func() {
		done <- s.Run(ctx, ln)
	}()
	return "ws://" + ln.Addr().String() + "/announce", done, nil
}

// tuneGC makes garbage collection rarer than Go's default unless GOGC is
// set: an origin's live heap is small (a window of segments) while every
// request allocates a few kilobytes, so at GOGC=100 it collects very often.
// 400 trades tens of megabytes for about a tenth less CPU per request
// (docs/benchmarks.md).
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
}
