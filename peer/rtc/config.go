package rtc

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"

	"fusioncast/tracker/wire"
)

// Errors.
var (
	// ErrBadConfig is returned by [Run] for a configuration it cannot run
	// with.
	ErrBadConfig = errors.New("rtc: bad configuration")
	// ErrClosed is returned by [Conn.Send] and by [Conn.Close] after the
	// connection has closed.
	ErrClosed = errors.New("rtc: connection closed")
)

// Defaults.
const (
	// DefaultMaxPeers is Config.MaxPeers when zero.
	DefaultMaxPeers = 20
	// DefaultRelayMaxPeers is Config.MaxPeers when zero for a relay,
	// which seeds every viewer of its site directly (docs/benchmarks.md,
	// "Relay: WebRTC viewers seeded per core").
	DefaultRelayMaxPeers = 1000
	// DefaultRelaySocketBuffer is ICEConfig.SocketBuffer when zero for a
	// relay.
	DefaultRelaySocketBuffer = 4 << 20
	// DefaultOffers is Config.Offers when zero: what a WebTorrent client
	// sends per announce.
	DefaultOffers = 5
)

// Config configures [Run]. The zero value of each field means the stated
// default; TrackerURL and InfoHash are required.
type Config struct {
	// TrackerURL is the tracker's websocket address,
	// ws://host:port/announce or wss://….
	TrackerURL string
	// InfoHash names the swarm (the stream).
	InfoHash wire.ID
	// PeerID is this peer's ID in the swarm. If zero, a random one
	// ("-FC0001-" and 12 random letters and digits).
	PeerID wire.ID
	// Role is sent in the "fusioncast" extension (v=1) of every announce.
	// If zero, wire.RoleViewer.
	Role wire.Role
	// Site is the site a relay serves (fusioncast.site). Only relays may
	// set it: at most wire.MaxSiteBytes of printable ASCII.
	Site string
	// MaxPeers caps the peer connections, open or being set up, together
	// with this peer's unanswered offers (sent as fusioncast.max_peers).
	// Offers relayed beyond it are ignored. If zero, 20, and 1000 for a
	// relay (the tracker caps the offers it relays to a relay per
	// interval: tracker.Config.RelayMaxPeers).
	MaxPeers int
	// UploadKbps is the upload this peer offers, in kbit/s
	// (fusioncast.upload_kbps). If zero, unsaid.
	UploadKbps int
	// Offers is the most WebRTC offers made per announce, at most
	// wire.MaxOffers. No more than Offers wait for an answer at once, and
	// no more than half the places left below MaxPeers (at least one), so
	// that fewer are made near MaxPeers. If zero, 5.
	Offers int
	// TrackerRate and TrackerBurst pace the announces to the tracker (a
	// token bucket). If zero, 3 per second with bursts of 12, below the
	// tracker's default limit per connection (4 and 16); raise them only
	// with a tracker that accepts more (tracker.Config AnnounceRate and
	// AnnounceBurst). Answers to relayed offers are not paced: the tracker
	// charges each to the offer it relayed, so a relay answers 1,000
	// viewers joining at once as fast as their offers come.
	TrackerRate  float64
	TrackerBurst int
	// Stats, if set, is called before each announce; its counters go into
	// fusioncast.stats.
	Stats func() wire.Stats
	// OnEdge, if set, is called when the tracker names this peer an edge
	// fetcher (edge true, rank 0 for the primary, 1, 2, … for backups) or
	// changes its rank or stops naming it, in an announce response or an
	// unsolicited one, and with (false, 0) when the connection to the
	// tracker is lost (the tracker forgets the peer then). A peer starts
	// as no edge fetcher. It is called from Run's goroutine and must not
	// block.
	OnEdge func(edge bool, rank int)
	// OnConn, if set, is called when a peer connection's data channel
	// (labelled proto.Label) is open, on either side, from a goroutine of
	// pion's; calls for different connections may run at once. Set the
	// [Conn]'s handlers before returning: its messages, and its OnClose,
	// wait until OnConn returns, so it must not block for long. Without
	// OnConn, connections are closed as they open.
	OnConn func(c *Conn)
	// ICE restricts the network side of the peer connections.
	ICE ICEConfig
	// Logger receives logs. If nil, logs are discarded.
	Logger *slog.Logger
}

// ICEConfig restricts where peer connections gather candidates. Only host
// candidates over UDP/IPv4 are gathered: there are no STUN or TURN
// servers and mDNS is off, so peers exchange plain IP candidates through
// the tracker. docs/peer-connections.md, section "ICE".
type ICEConfig struct {
	// Interfaces, if set, are the only network interfaces candidates are
	// gathered on (tests: {"lo"}; namespace tests: the veth).
	Interfaces []string
	// Loopback includes loopback addresses as candidates (needed on lo).
	Loopback bool
	// ListenUDP, if set, is the address, IP:port, of one UDP socket that
	// every peer connection shares (pion's ICE UDP mux) instead of a
	// socket each: one port to open in a firewall, one descriptor and one
	// reading goroutine for hundreds of connections, which is what a relay
	// wants. The IP must be one of this host's addresses, not 0.0.0.0:
	// it is the only candidate (Interfaces is not used then). Port 0 picks
	// a free port. On Linux the socket's system calls are batched: the
	// packets written to one peer in a row go in one sendmsg (UDP GSO),
	// and reads take up to 64 datagrams per recvmmsg.
	ListenUDP string
	// NoBatch reads and sends datagrams one system call each, as pion
	// does (to compare). Otherwise, on Linux, the ListenUDP socket is
	// batched as above, and without ListenUDP each connection's own socket
	// reads up to 16 datagrams per recvmmsg (a relay's burst of packets to
	// a viewer arrives together) and writes one datagram per call.
	NoBatch bool
	// SocketBuffer is the size in bytes of the kernel's receive and send
	// buffers (SO_RCVBUF, SO_SNDBUF) of the peer connections' UDP sockets.
	// If zero, the system default (usually 208 KiB), and 4 MiB for a
	// relay: one socket that sends bursts to hundreds of peers, or takes
	// their acknowledgements, overflows the default, and each lost packet
	// costs SCTP a retransmission timeout of at least a second. The kernel
	// caps the size at net.core.rmem_max and wmem_max unless the process
	// has CAP_NET_ADMIN.
	SocketBuffer int
}

// withDefaults checks c and fills in defaults.
func (c Config) withDefaults() (Config, error) {
	u, err := url.Parse(c.TrackerURL)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return c, fmt.Errorf("%w: tracker URL %q is not ws:// or wss://", ErrBadConfig, c.TrackerURL)
	}
	if c.InfoHash == (wire.ID{}) {
		return c, fmt.Errorf("%w: no info hash", ErrBadConfig)
	}
	if c.Role != wire.RoleViewer && c.Role != wire.RoleRelay {
		return c, fmt.Errorf("%w: unknown role %d", ErrBadConfig, c.Role)
	}
	if c.Site != "" {
		if c.Role != wire.RoleRelay {
			return c, fmt.Errorf("%w: only relays name a site", ErrBadConfig)
		}
		if len(c.Site) > wire.MaxSiteBytes {
			return c, fmt.Errorf("%w: site has %d > %d bytes", ErrBadConfig, len(c.Site), wire.MaxSiteBytes)
		}
		for _, b := range []byte(c.Site) {
			if b < 0x20 || b > 0x7e {
				return c, fmt.Errorf("%w: site is not printable ASCII", ErrBadConfig)
			}
		}
	}
	if c.MaxPeers < 0 || c.UploadKbps < 0 || c.Offers < 0 || c.TrackerRate < 0 || c.TrackerBurst < 0 || c.ICE.SocketBuffer < 0 {
		return c, fmt.Errorf("%w: negative MaxPeers, UploadKbps, Offers, TrackerRate, TrackerBurst or SocketBuffer", ErrBadConfig)
	}
	if c.ICE.ListenUDP != "" {
		ap, err := netip.ParseAddrPort(c.ICE.ListenUDP)
		if err != nil || !ap.Addr().Is4() || ap.Addr().IsUnspecified() {
			return c, fmt.Errorf("%w: ICE.ListenUDP %q is not a specific IPv4 address and port", ErrBadConfig, c.ICE.ListenUDP)
		}
	}
	if c.Offers > wire.MaxOffers {
		return c, fmt.Errorf("%w: offers %d > %d", ErrBadConfig, c.Offers, wire.MaxOffers)
	}
	for _, name := range c.ICE.Interfaces {
		if _, err := net.InterfaceByName(name); err != nil {
			return c, fmt.Errorf("%w: interface %q: %v", ErrBadConfig, name, err)
		}
	}
	if c.MaxPeers == 0 {
		c.MaxPeers = DefaultMaxPeers
		if c.Role == wire.RoleRelay {
			c.MaxPeers = DefaultRelayMaxPeers
		}
	}
	if c.ICE.SocketBuffer == 0 && c.Role == wire.RoleRelay {
		c.ICE.SocketBuffer = DefaultRelaySocketBuffer
	}
	if c.TrackerRate == 0 {
		c.TrackerRate = sendRate
	}
	if c.TrackerBurst == 0 {
		c.TrackerBurst = sendBurst
	}
	if c.Offers == 0 {
		c.Offers = DefaultOffers
	}
	if c.PeerID == (wire.ID{}) {
		c.PeerID = randomPeerID()
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.Logger = c.Logger.With("component", "rtc", "peer_id", c.PeerID.String())
	return c, nil
}

// randomPeerID returns "-FC0001-" followed by 12 random letters and
// digits, in the style of WebTorrent's "-WW0208-…".
func randomPeerID() wire.ID {
	const alnum = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	var id wire.ID
	n := copy(id[:], "-FC0001-")
	_, _ = rand.Read(id[n:]) // never fails (crypto/rand)
	for i := n; i < len(id); i++ {
		id[i] = alnum[int(id[i])%len(alnum)]
	}
	return id
}

// randomID returns a random 20-byte ID (offer IDs).
func randomID() wire.ID {
	var id wire.ID
	_, _ = rand.Read(id[:]) // never fails (crypto/rand)
	return id
}
