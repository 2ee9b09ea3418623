package join

import (
	"context"
	"log/slog"
	"sync"

	"fusioncast/peer"
	"fusioncast/peer/proto"
	"fusioncast/peer/rtc"
	"fusioncast/tracker/wire"
)

// Config configures [Start].
type Config struct {
	// TrackerURL is the tracker's websocket address (required).
	TrackerURL string
	// Stream is the stream's name; its swarm is peer.SwarmFor(Stream).
	Stream string
	// Engine configures the engine; Swarm is set from Stream, and Fetch is
	// required unless NoDownload is set (a relay agent, which Puts its
	// segments).
	Engine peer.Config
	// Role, Site, MaxPeers, UploadKbps, TrackerRate, TrackerBurst and ICE
	// are passed to rtc.Config (a relay: Role wire.RoleRelay, and
	// ICE.ListenUDP for one port).
	Role         wire.Role
	Site         string
	MaxPeers     int
	UploadKbps   int
	TrackerRate  float64
	TrackerBurst int
	ICE          rtc.ICEConfig
	Logger       *slog.Logger
}

// Start creates the engine and joins the swarm in the background; when ctx
// ends the tracker client stops and every connection closes. The caller
// closes the engine after that (wait on the returned channel).
func Start(ctx context.Context, cfg Config) (*peer.Engine, <-chan struct{}, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ec := cfg.Engine
	ec.Swarm = peer.SwarmFor(cfg.Stream)
	if ec.Logger == nil {
		ec.Logger = cfg.Logger
	}
	if cfg.Role == wire.RoleRelay {
		ec.Role = proto.RoleRelay
	}
	ec.UploadKbps = uint32(max(cfg.UploadKbps, 0))
	e, err := peer.New(ec)
	if err != nil {
		return nil, nil, err
	}
	rc := rtc.Config{
		TrackerURL:   cfg.TrackerURL,
		InfoHash:     wire.ID(ec.Swarm),
		Role:         cfg.Role,
		Site:         cfg.Site,
		MaxPeers:     cfg.MaxPeers,
		UploadKbps:   cfg.UploadKbps,
		TrackerRate:  cfg.TrackerRate,
		TrackerBurst: cfg.TrackerBurst,
		ICE:          cfg.ICE,
		Logger:       cfg.Logger,
		Stats: func() wire.Stats {
			st := e.Stats()
			// The tracker counts bytes from relays apart from other peers'
			// (its offload is (p2p + relay) / all).
			return wire.Stats{HTTP: st.BytesHTTP, P2P: st.BytesP2P - st.BytesRelay, Relay: st.BytesRelay,
				Errors: st.BadData + st.HTTPErrors + st.ProtocolDrops}
		},
		OnEdge: e.SetEdge,
		OnConn: func(c *rtc.Conn) { attach(e, c) },
	}
	done := make(chan struct{})
	var once sync.Once
	go func() {
		defer once.Do(func() { close(done) })
		if err := rtc.Run(ctx, rc); err != nil {
			cfg.Logger.Error("joining the swarm failed", "err", err)
		}
	}()
	return e, done, nil
}

// attach hands an open data channel to the engine.
func attach(e *peer.Engine, c *rtc.Conn) {
	id := c.RemoteID()
	p := e.AddLink(wire.ID(id).String(), c)
	c.OnMessage(func(b []byte) { e.Receive(p, b) })
	c.SetBufferedAmountLowThreshold(e.LowWater())
	c.OnBufferedAmountLow(func() { e.Pump(p) })
	c.OnClose(func() { e.RemoveLink(p) })
}
