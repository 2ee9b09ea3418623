package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"fusioncast/internal/demomedia"
	"fusioncast/origin"
	"fusioncast/web"
)

// originFlags are the flags shared by `origin` and `demo`.
type originFlags struct {
	addr, stream, source, logLevel string
	copyResponses                  bool
	window, maxConns               int
	poll                           time.Duration
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
	o := origin.New(origin.Config{
		Stream:   origin.StreamConfig{Window: f.window, CopyResponses: f.copyResponses},
		MaxConns: f.maxConns,
		Web:      web.Handler(),
		Logger:   logger,
	})
	if _, err := o.AddStream(f.stream, src); err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return "", nil, fmt.Errorf("listen on %s: %w", f.addr, err)
	}
	done := make(chan error, 1)
	go func() {
		done <- o.Run(ctx, ln)
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
	return <-done
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := originFlags{source: "demo"}
	fs := newFlags("demo", "[--addr HOST:PORT]", stderr)
	f.register(fs, false)
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
	page := base + "/"
	if f.stream != "demo" {
		page += "?stream=" + f.stream
	}
	fmt.Fprintf(stdout, "fusioncast demo is live.\n\n  open   %s\n  HLS    %s/live/%s/index.m3u8\n  stats  %s/metrics\n\nPress Ctrl-C to stop.\n",
		page, base, f.stream, base)
	return <-done
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
