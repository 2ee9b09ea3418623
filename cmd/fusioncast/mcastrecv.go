package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"fusioncast/multicast"
)

// mcastCommands are the subcommands of `fusioncast mcast`.
var mcastCommands = map[string]command{
	"recv": {"join a stream's group, repair from the origin, write verified segments and playlists to a folder", runMcastRecv},
}

func runMcast(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return commandSet{prog: "fusioncast mcast", noun: "subcommand", width: 6, cmds: mcastCommands,
		footer: "Run `fusioncast mcast <subcommand> -h` for its flags; docs/multicast.md explains them."}.run(ctx, args, stdout, stderr)
}

// mcastRecvProgress is how often `mcast recv` prints its counters.
const mcastRecvProgress = 5 * time.Second

// mcastRecvFlags are the flags of `fusioncast mcast recv`.
type mcastRecvFlags struct {
	group, iface, source, origin, key, out, stream string
	metricsAddr, logLevel                          string
	duration                                       time.Duration
	keep                                           int
	jsonOut                                        bool
}

// mcastRecvResult is the summary `fusioncast mcast recv --json` prints.
type mcastRecvResult struct {
	Group     string  `json:"group"`
	Interface string  `json:"interface"`
	Source    string  `json:"source,omitempty"`
	Stream    string  `json:"stream"`
	Out       string  `json:"out"`
	Seconds   float64 `json:"seconds"`
	// ReadBufferBytes is the receive buffer the kernel granted (twice the
	// 8 MiB asked for, as root).
	ReadBufferBytes int                  `json:"read_buffer_bytes"`
	Listener        mcastListenerJSON    `json:"listener"`
	Reassembler     mcastReassemblerJSON `json:"reassembler"`
	Files           mcastFilesJSON       `json:"files"`
}

// mcastListenerJSON is multicast.ListenerStats.
type mcastListenerJSON struct {
	Packets     uint64 `json:"packets"`
	Bytes       uint64 `json:"bytes"`
	Reads       uint64 `json:"reads"`
	Truncated   uint64 `json:"truncated"`
	KernelDrops uint64 `json:"kernel_drops"`
	Errors      uint64 `json:"errors"`
}

// mcastReassemblerJSON is multicast.ReassemblerStats without the gauges;
// Dropped has every reason, zeros included.
type mcastReassemblerJSON struct {
	Packets        uint64            `json:"packets"`
	Bytes          uint64            `json:"bytes"`
	Lost           uint64            `json:"lost"`
	Dropped        map[string]uint64 `json:"dropped"`
	Delivered      uint64            `json:"delivered"`
	Complete       uint64            `json:"complete"`
	FECObjects     uint64            `json:"fec_objects"`
	FECSymbols     uint64            `json:"fec_symbols"`
	Repaired       uint64            `json:"repaired"`
	Repairs        uint64            `json:"repairs"`
	RepairFailures uint64            `json:"repair_failures"`
	Corrupt        uint64            `json:"corrupt"`
	Evicted        uint64            `json:"evicted"`
	Gaps           uint64            `json:"gaps"`
	Resyncs        uint64            `json:"resyncs"`
	Unconfirmed    uint64            `json:"unconfirmed"`
}

// mcastFilesJSON says what became of the verified objects.
type mcastFilesJSON struct {
	Written   uint64 `json:"written"`
	Segments  uint64 `json:"segments"`
	Playlists uint64 `json:"playlists"`
	Old       uint64 `json:"old"`
	Removed   uint64 `json:"removed"`
	Errors    uint64 `json:"errors"`
}

func newMcastRecvResult(f *mcastRecvFlags, st multicast.ReceiverStats, d time.Duration) mcastRecvResult {
	l, r := st.Listener, st.Reassembler
	res := mcastRecvResult{
		Group: f.group, Interface: f.iface, Source: f.source, Stream: f.stream, Out: f.out, Seconds: d.Seconds(),
		ReadBufferBytes: st.ReadBuffer,
		Listener: mcastListenerJSON{Packets: l.Packets, Bytes: l.Bytes, Reads: l.Reads, Truncated: l.Truncated,
			KernelDrops: l.KernelDrops, Errors: l.Errors},
		Reassembler: mcastReassemblerJSON{Packets: r.Packets, Bytes: r.Bytes, Lost: r.Lost, Dropped: map[string]uint64{},
			Delivered: r.Delivered, Complete: r.Complete, FECObjects: r.FECObjects, FECSymbols: r.FECSymbols,
			Repaired: r.Repaired, Repairs: r.Repairs, RepairFailures: r.RepairFailures, Corrupt: r.Corrupt,
			Evicted: r.Evicted, Gaps: r.Gaps, Resyncs: r.Resyncs, Unconfirmed: r.Unconfirmed},
		Files: mcastFilesJSON{Written: st.Written(), Segments: st.Segments, Playlists: st.Playlists, Old: st.Old,
			Removed: st.Removed, Errors: st.WriteErrors},
	}
	for i, n := range r.Dropped {
		res.Reassembler.Dropped[multicast.DropReason(i).String()] = n
	}
	return res
}

// mcastProgress is the one-line account of a receiver's counters, printed
// every few seconds and at the end.
func mcastProgress(st multicast.ReceiverStats) string {
	r := st.Reassembler
	return fmt.Sprintf("%d packets, %d lost, FEC %d objects/%d symbols, %d repaired, %d forged, %d corrupt, %d objects written",
		st.Listener.Packets, r.Lost, r.FECObjects, r.FECSymbols, r.Repaired, r.Dropped[multicast.DropForged], r.Corrupt,
		st.Written())
}

func runMcastRecv(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f mcastRecvFlags
	fs := newFlags("mcast recv", "--group GROUP:PORT --iface IFACE --origin URL --key FILE.pub --out DIR [--source IP] [--stream demo] [--duration D] [--json]", stderr)
	fs.StringVar(&f.group, "group", "", "IPv4 multicast group and port the origin sends to, GROUP:PORT (its --multicast)")
	fs.StringVar(&f.iface, "iface", "", "interface to join the group on (required: lo for a local test)")
	fs.StringVar(&f.source, "source", "", "the origin's source address: join source-specific (SSM) and receive from it only")
	fs.StringVar(&f.origin, "origin", "", "origin base URL, for repairs: http://HOST:PORT (objects from ORIGIN/mcast/STREAM/objects/{id})")
	fs.StringVar(&f.key, "key", "", "the origin's public key, PEM: the FILE.pub that origin --mcast-key FILE writes")
	fs.StringVar(&f.out, "out", "", "existing folder to write verified segments and playlists to")
	fs.StringVar(&f.stream, "stream", "demo", "stream name (it gives the RTP SSRC and the repair path)")
	fs.DurationVar(&f.duration, "duration", 0, "stop after this long (0: until Ctrl-C)")
	fs.IntVar(&f.keep, "keep", multicast.DefaultReceiverKeep, "segment files kept in --out; the oldest are deleted beyond it")
	fs.BoolVar(&f.jsonOut, "json", false, "print the summary as JSON")
	fs.StringVar(&f.metricsAddr, "metrics-addr", "", "also serve Prometheus metrics on http://HOST:PORT/metrics")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	if err := parse(fs, args); err != nil {
		return err
	}
	logger, err := newLogger(stderr, f.logLevel)
	if err != nil {
		return err
	}
	cfg, err := f.config(logger)
	if err != nil {
		return err
	}
	rcv, err := multicast.NewReceiver(cfg)
	if err != nil {
		return fmt.Errorf("mcast recv: %w", err)
	}
	mode := "any source"
	if f.source != "" {
		mode = "source " + f.source
	}
	st := rcv.Stats()
	fmt.Fprintf(stderr, "mcast recv: joined %s on %s (%s), receive buffer %d bytes, writing to %s\n",
		rcv.Group(), f.iface, mode, st.ReadBuffer, f.out)

	if f.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.duration)
		defer cancel()
	}
	var metricsDone <-chan error
	if f.metricsAddr != "" {
		if metricsDone, err = serveMcastMetrics(ctx, f.metricsAddr, rcv, stderr); err != nil {
			_ = rcv.Close()
			return err
		}
	}
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- rcv.Run(ctx) }()
	tick := time.NewTicker(mcastRecvProgress)
	defer tick.Stop()
	for running := true; running; {
		select {
		case <-tick.C:
			fmt.Fprintf(stderr, "mcast recv: %s\n", mcastProgress(rcv.Stats()))
		case err = <-done:
			running = false
		}
	}
	if metricsDone != nil {
		err = errors.Join(err, <-metricsDone)
	}
	if err != nil {
		return err
	}
	st = rcv.Stats()
	if f.jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(newMcastRecvResult(&f, st, time.Since(start)))
	}
	r := st.Reassembler
	fmt.Fprintf(stdout, "mcast recv %s on %s for %.1f s, receive buffer %d bytes\n", rcv.Group(), f.iface,
		time.Since(start).Seconds(), st.ReadBuffer)
	fmt.Fprintf(stdout, "packets %d (%d bytes), lost %d, kernel drops %d, truncated %d\n",
		st.Listener.Packets, st.Listener.Bytes, r.Lost, st.Listener.KernelDrops, st.Listener.Truncated)
	fmt.Fprintf(stdout, "objects %d: %d whole, %d by FEC (%d symbols rebuilt), %d repaired (%d repairs, %d failed)\n",
		r.Delivered, r.Complete, r.FECObjects, r.FECSymbols, r.Repaired, r.Repairs, r.RepairFailures)
	fmt.Fprintf(stdout, "dropped: %s\n", droppedText(r.Dropped))
	fmt.Fprintf(stdout, "corrupt %d, evicted %d, gaps %d, resyncs %d, unconfirmed %d\n",
		r.Corrupt, r.Evicted, r.Gaps, r.Resyncs, r.Unconfirmed)
	fmt.Fprintf(stdout, "files: %d written (%d segments, %d playlists), %d old, %d removed, %d errors\n",
		st.Written(), st.Segments, st.Playlists, st.Old, st.Removed, st.WriteErrors)
	return nil
}

// droppedText lists the drop reasons that counted something.
func droppedText(d [multicast.NumDropReasons]uint64) string {
	var parts []string
	for i, n := range d {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", multicast.DropReason(i), n))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// config checks the flags and builds the receiver's configuration.
func (f *mcastRecvFlags) config(logger *slog.Logger) (multicast.ReceiverConfig, error) {
	var zero multicast.ReceiverConfig
	g, err := netip.ParseAddrPort(f.group)
	switch {
	case f.group == "":
		return zero, errors.New("--group is required: the origin's --multicast GROUP:PORT")
	case err != nil || !g.Addr().Is4() || !g.Addr().IsMulticast() || g.Port() == 0:
		return zero, fmt.Errorf("--group %q is not an IPv4 multicast group with a port, such as 239.255.0.1:5004", f.group)
	case f.iface == "":
		return zero, errors.New("--iface is required: multicast is never received on an interface chosen for it (lo for a local test)")
	case f.source != "" && !validSource(f.source):
		return zero, fmt.Errorf("--source %q is not an IPv4 unicast address", f.source)
	case !validStreamName(f.stream):
		return zero, fmt.Errorf("--stream %q: bad stream name (letters, digits, '-', '_' and '.', as the origin's)", f.stream)
	case f.origin == "":
		return zero, errors.New("--origin is required: the origin's base URL, for repairs")
	case f.key == "":
		return zero, errors.New("--key is required: the origin's public key file (FILE.pub beside its --mcast-key)")
	case f.out == "":
		return zero, errors.New("--out is required: the folder to write segments and playlists to")
	case f.keep < 1:
		return zero, fmt.Errorf("--keep %d must be at least 1", f.keep)
	case f.duration < 0:
		return zero, fmt.Errorf("--duration must not be negative, got %v", f.duration)
	}
	if fi, err := os.Stat(f.out); err != nil {
		return zero, fmt.Errorf("--out: %w", err)
	} else if !fi.IsDir() {
		return zero, fmt.Errorf("--out %s is not a directory", f.out)
	}
	if u, err := url.Parse(f.origin); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return zero, fmt.Errorf("--origin %q is not an http:// or https:// URL", f.origin)
	}
	pub, err := multicast.LoadPublicKey(f.key)
	if err != nil {
		return zero, fmt.Errorf("--key: %w", err)
	}
	// One connection per concurrent repair (multicast.DefaultRepairs);
	// each repair is bounded by the reassembler's RepairTimeout.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = multicast.DefaultRepairs
	base := strings.TrimSuffix(f.origin, "/") + mcastObjectsPath(f.stream)
	return multicast.ReceiverConfig{
		Group: f.group, Interface: f.iface, Source: f.source,
		Stream: f.stream, PublicKey: pub,
		Repair: multicast.HTTPRepair(&http.Client{Transport: tr}, base, multicast.DefaultMaxBytes),
		Out:    f.out, Keep: f.keep, Logger: logger,
	}, nil
}

// validStreamName is the origin's rule for stream names: they are a path
// segment of the repair URL.
func validStreamName(s string) bool {
	if s == "" || len(s) > 64 || s == "." || s == ".." {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

func validSource(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is4() && !a.IsMulticast() && !a.IsUnspecified()
}

// serveMcastMetrics serves the receiver's counters, with the Go runtime's
// and the process's, on addr until ctx ends.
func serveMcastMetrics(ctx context.Context, addr string, rcv *multicast.Receiver, stderr io.Writer) (<-chan error, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(rcv.Collector(), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stderr, "mcast recv: metrics on http://%s/metrics\n", ln.Addr())
	done := make(chan error, 1)
	go func() {
		err := srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		done <- err
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	return done, nil
}
