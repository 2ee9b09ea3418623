package tracker

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"
)

// ErrBadConfig is returned by [New] for a configuration it cannot run with.
var ErrBadConfig = errors.New("tracker: bad configuration")

// Site is a named group of networks, such as one campus LAN. Peers whose
// address falls in one of its prefixes belong to it, and relay agents that
// name it serve it.
type Site struct {
	Name     string
	Prefixes []netip.Prefix
}

// Config configures a [Server]. The zero value of each field means the
// stated default.
type Config struct {
	// Interval is the announce interval told to clients. If zero, 120 s.
	Interval time.Duration
	// MaxMessageBytes bounds one websocket message. If zero, 64 KiB.
	MaxMessageBytes int
	// MaxConns caps open websocket connections. If zero, 100,000.
	MaxConns int
	// MaxConnsPerAddr caps websocket connections from one source address.
	// If zero, 256.
	MaxConnsPerAddr int
	// MaxPendingHandshakes caps TCP connections that have not finished the
	// websocket handshake; at the cap the oldest is closed. If zero, 1,024.
	MaxPendingHandshakes int
	// HandshakeTimeout bounds the time from connecting to a finished
	// websocket handshake. If zero, 5 s.
	HandshakeTimeout time.Duration
	// PingInterval is how often idle connections are pinged. If zero, 30 s.
	PingInterval time.Duration
	// IdleTimeout closes a connection that sent nothing (not even a pong)
	// for this long. If zero, 2.5 × PingInterval.
	IdleTimeout time.Duration
	// AnnounceRate and AnnounceBurst bound announces per second per
	// connection (a token bucket). If zero, 4 per second with bursts of 16.
	// An answer (an announce with an answer and no offers) is not charged
	// when it can spend an answer credit instead: each offer relayed to a
	// connection gives it one, up to 2 × max(RelayMaxPeers,
	// DefaultMaxPeers).
	AnnounceRate  float64
	AnnounceBurst int
	// SendQueue bounds the messages waiting to be written to one
	// connection; a peer whose queue overflows is disconnected. If zero, 256.
	SendQueue int
	// WriteTimeout bounds writing one message. If zero, 10 s.
	WriteTimeout time.Duration
	// MaxPeersPerSwarm caps a swarm. If zero, 50,000.
	MaxPeersPerSwarm int
	// MaxSwarms caps the swarms. If zero, 100,000.
	MaxSwarms int
	// MaxSwarmsPerConn caps the swarms one connection takes part in. If
	// zero, 16.
	MaxSwarmsPerConn int
	// DefaultMaxPeers is the number of peers the tracker sends a peer's
	// offers to, and relays offers to it from, per interval, when the peer
	// gives no max_peers of its own. If zero, 20. RelayMaxPeers is the same
	// for relays. If zero, 1,000, the WebRTC peers a relay serves at once
	// by default (peer/rtc DefaultRelayMaxPeers). The larger of the two
	// also caps the max_peers a peer may ask for.
	DefaultMaxPeers int
	RelayMaxPeers   int
	// EdgeFetchers is how many viewers per site and swarm are told to fetch
	// new segments from the origin at once. If zero, 2.
	EdgeFetchers int
	// Sites names groups of networks. Viewers outside every site are grouped
	// by their /24 (IPv4) or /64 (IPv6).
	Sites []Site
	// TrustedProxies are the addresses of reverse proxies whose ProxyHeader
	// gives the client's address. If empty, the header is ignored.
	TrustedProxies []netip.Prefix
	// ProxyHeader is the header a trusted proxy puts the client address in.
	// If zero, "X-Forwarded-For".
	ProxyHeader string
	// AdminToken is the bearer token of the admin API. If empty, the admin
	// API answers only requests from loopback addresses.
	AdminToken string
	// Logger receives the tracker's logs. If nil, logs are discarded.
	Logger *slog.Logger
}

func (c Config) withDefaults() (Config, error) {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur(&c.Interval, 120*time.Second)
	def(&c.MaxMessageBytes, 64<<10)
	def(&c.MaxConns, 100_000)
	def(&c.MaxConnsPerAddr, 256)
	def(&c.MaxPendingHandshakes, 1024)
	defDur(&c.HandshakeTimeout, 5*time.Second)
	defDur(&c.PingInterval, 30*time.Second)
	defDur(&c.IdleTimeout, c.PingInterval*5/2)
	if c.AnnounceRate <= 0 {
		c.AnnounceRate = 4
	}
	def(&c.AnnounceBurst, 16)
	def(&c.SendQueue, 256)
	defDur(&c.WriteTimeout, 10*time.Second)
	def(&c.MaxPeersPerSwarm, 50_000)
	def(&c.MaxSwarms, 100_000)
	def(&c.MaxSwarmsPerConn, 16)
	def(&c.DefaultMaxPeers, 20)
	def(&c.RelayMaxPeers, 1000)
	def(&c.EdgeFetchers, 2)
	if c.ProxyHeader == "" {
		c.ProxyHeader = "X-Forwarded-For"
	}
	if c.IdleTimeout <= c.PingInterval {
		return c, fmt.Errorf("%w: idle timeout %v must exceed the ping interval %v", ErrBadConfig, c.IdleTimeout, c.PingInterval)
	}
	for _, s := range c.Sites {
		if s.Name == "" || len(s.Name) > 64 {
			return c, fmt.Errorf("%w: site name %q must have 1 to 64 bytes", ErrBadConfig, s.Name)
		}
		for _, p := range s.Prefixes {
			if !p.IsValid() {
				return c, fmt.Errorf("%w: site %s has an invalid prefix", ErrBadConfig, s.Name)
			}
		}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.Logger = c.Logger.With("component", "tracker")
	return c, nil
}
