package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"fusioncast/tracker"
)

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func runTracker(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var (
		cfg             tracker.Config
		addr, logLevel  string
		sites, proxies  listFlag
		adminTokenFile  string
		interval        time.Duration
		maxConns, perIP int
	)
	fs := newFlags("tracker", "[--addr HOST:PORT] [--site NAME=CIDR,...] [--admin-token-file FILE]", stderr)
	fs.StringVar(&addr, "addr", "127.0.0.1:8000", "listen address (ws://ADDR/announce)")
	fs.DurationVar(&interval, "interval", 120*time.Second, "announce interval told to clients")
	fs.IntVar(&maxConns, "max-conns", 100_000, "cap on websocket connections")
	fs.IntVar(&perIP, "max-conns-per-addr", 256, "cap on websocket connections per source address")
	fs.Float64Var(&cfg.AnnounceRate, "announce-rate", 4, "announces per second allowed per connection")
	fs.IntVar(&cfg.AnnounceBurst, "announce-burst", 16, "announce burst allowed per connection")
	fs.IntVar(&cfg.DefaultMaxPeers, "max-peers", 20, "offers a viewer receives per interval at most")
	fs.IntVar(&cfg.EdgeFetchers, "edge-fetchers", 2, "viewers per swarm told to fetch new segments from the origin at once")
	fs.Var(&sites, "site", "a site: NAME=CIDR[,CIDR...] (repeatable); viewers elsewhere are grouped by /24 or /64")
	fs.Var(&proxies, "trusted-proxy", "CIDR of a reverse proxy whose X-Forwarded-For is believed (repeatable)")
	fs.StringVar(&adminTokenFile, "admin-token-file", "", "file holding the admin API bearer token (or set FUSIONCAST_ADMIN_TOKEN)")
	fs.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	if err := parse(fs, args); err != nil {
		return err
	}
	logger, err := newLogger(stderr, logLevel)
	if err != nil {
		return err
	}
	cfg.Logger, cfg.Interval, cfg.MaxConns, cfg.MaxConnsPerAddr = logger, interval, maxConns, perIP
	for _, s := range sites {
		site, err := parseSite(s)
		if err != nil {
			return err
		}
		cfg.Sites = append(cfg.Sites, site)
	}
	for _, p := range proxies {
		pfx, err := netip.ParsePrefix(p)
		if err != nil {
			return fmt.Errorf("--trusted-proxy %q: %v", p, err)
		}
		cfg.TrustedProxies = append(cfg.TrustedProxies, pfx)
	}
	cfg.AdminToken = os.Getenv("FUSIONCAST_ADMIN_TOKEN")
	if adminTokenFile != "" {
		b, err := os.ReadFile(adminTokenFile)
		if err != nil {
			return fmt.Errorf("--admin-token-file: %w", err)
		}
		cfg.AdminToken = strings.TrimSpace(string(b))
		if cfg.AdminToken == "" {
			return fmt.Errorf("--admin-token-file %s is empty", adminTokenFile)
		}
	}
	s, err := tracker.New(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	fmt.Fprintf(stdout, "tracker: ws://%s/announce, metrics http://%s/metrics\n", ln.Addr(), ln.Addr())
	return s.Run(ctx, ln)
}

// parseSite parses NAME=CIDR[,CIDR...].
func parseSite(s string) (tracker.Site, error) {
	name, cidrs, ok := strings.Cut(s, "=")
	if !ok || name == "" || cidrs == "" {
		return tracker.Site{}, fmt.Errorf("--site %q: want NAME=CIDR[,CIDR...]", s)
	}
	site := tracker.Site{Name: name}
	for _, c := range strings.Split(cidrs, ",") {
		p, err := netip.ParsePrefix(strings.TrimSpace(c))
		if err != nil {
			return site, fmt.Errorf("--site %q: %v", s, err)
		}
		site.Prefixes = append(site.Prefixes, p)
	}
	return site, nil
}
