package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"fusioncast/multicast"
	"fusioncast/peer"
	"fusioncast/relay"
)

func runRelay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var (
		cfg                relay.Config
		keyFile, addr, lvl string
		trackerURL, site   string
		maxPeers           int
		window             int
		silence            time.Duration
	)
	fs := newFlags("relay", "--iface IFACE --key ORIGIN-KEY.pub [--group GROUP:PORT] [--origin URL] [--addr HOST:PORT]", stderr)
	fs.StringVar(&cfg.Stream, "stream", "demo", "stream name")
	fs.StringVar(&cfg.Origin, "origin", "http://127.0.0.1:8080", "the origin's base URL: repairs, the HTTP fallback, redirects")
	fs.StringVar(&cfg.Group, "group", "239.255.0.1:5004", "the origin's multicast group, GROUP:PORT")
	fs.StringVar(&cfg.Interface, "iface", "", "interface to join the group on (required)")
	fs.StringVar(&cfg.Source, "source", "", "the origin's source address: join source-specific (SSM) instead of any-source")
	fs.StringVar(&keyFile, "key", "", "the origin's public key (PEM, the origin's --mcast-key FILE.pub; required)")
	fs.StringVar(&addr, "addr", "127.0.0.1:8090", "listen address for the LAN: /live/{stream}/..., status page, /metrics, /healthz")
	fs.IntVar(&window, "window", relay.DefaultWindow, "segments kept and served")
	fs.DurationVar(&silence, "silence", relay.DefaultSilence, "multicast silent this long: fetch from the origin over HTTP and join the group again")
	fs.StringVar(&trackerURL, "tracker", "", "join the stream's swarm through this tracker (ws://HOST:PORT/announce) and seed the LAN's peers over WebRTC")
	fs.StringVar(&site, "site", "", "the site (LAN) the relay serves, as the tracker's --site names it")
	fs.IntVar(&maxPeers, "max-peers", 0, "WebRTC peers the relay serves at once (default 1000)")
	fs.StringVar(&lvl, "log-level", "info", "debug, info, warn or error")
	if err := parse(fs, args); err != nil {
		return err
	}
	if cfg.Interface == "" {
		return errors.New("relay: --iface is required (the interface the group arrives on)")
	}
	if keyFile == "" {
		return errors.New("relay: --key is required (the origin's public key, its --mcast-key FILE.pub)")
	}
	if window < 1 || window > 1000 {
		return fmt.Errorf("relay: --window %d out of range [1, 1000]", window)
	}
	if silence < 500*time.Millisecond {
		return fmt.Errorf("relay: --silence %v is shorter than 500ms", silence)
	}
	logger, err := newLogger(stderr, lvl)
	if err != nil {
		return err
	}
	pub, err := multicast.LoadPublicKey(keyFile)
	if err != nil {
		return fmt.Errorf("relay: --key: %w", err)
	}
	cfg.PublicKey, cfg.Window, cfg.Silence, cfg.Logger = pub, window, silence, logger
	base, done, err := startRelay(ctx, cfg, addr, trackerURL, site, maxPeers)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "relay: %s from %s on %s; LAN playlist %s/live/%s/index.m3u8, status %s/\n",
		cfg.Stream, cfg.Group, cfg.Interface, base, cfg.Stream, base)
	if trackerURL != "" {
		fmt.Fprintf(stdout, "relay: seeding the swarm through %s\n", trackerURL)
	}
	return <-done
}

// startRelay runs a relay with its LAN side on addr and, with a tracker,
// seeding the swarm (as role relay of site), until ctx ends. It returns the
// LAN side's base URL and a channel that yields once everything stopped.
func startRelay(ctx context.Context, cfg relay.Config, addr, trackerURL, site string, maxPeers int) (string, <-chan error, error) {
	ctx, cancel := context.WithCancel(ctx)
	var (
		extra     []prometheus.Collector
		seeder    *peer.Engine
		swarmDone <-chan struct{}
	)
	stopSwarm := func() {
		cancel()
		if seeder != nil {
			<-swarmDone
			seeder.Close()
		}
	}
	if trackerURL != "" {
		var col prometheus.Collector
		var err error
		if seeder, swarmDone, col, err = joinRelaySwarm(ctx, trackerURL, cfg.Stream, site, maxPeers, cfg.Logger); err != nil {
			cancel()
			return "", nil, err
		}
		cfg.Seeder, extra = seeder, []prometheus.Collector{col}
	}
	r, err := relay.New(cfg)
	if err != nil {
		stopSwarm()
		return "", nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		stopSwarm()
		return "", nil, fmt.Errorf("relay: listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: r.Handler(extra...), ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 60 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	done := make(chan error, 1)
	go func() {
		err := r.Run(ctx)
		shut, cancelShut := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancelShut()
		_ = srv.Shutdown(shut)
		if serr := <-serveErr; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
			err = errors.Join(err, serr)
		}
		stopSwarm()
		done <- err
	}()
	return "http://" + ln.Addr().String(), done, nil
}
