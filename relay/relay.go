package relay

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"fusioncast/internal/hls"
	"fusioncast/internal/httpget"
	"fusioncast/multicast"
	"fusioncast/peer"
)

// Seeder is what the relay hands its segments to: a peer engine in relay
// mode (peer.Config.NoDownload), which serves them to the swarm.
type Seeder interface {
	// SetPlaylist gives the playlist's window, oldest first.
	SetPlaylist(window []peer.SegmentInfo)
	// Put adds a verified segment.
	Put(info peer.SegmentInfo, data []byte) error
}

// Defaults of [Config].
const (
	DefaultWindow  = 12
	DefaultSilence = 6 * time.Second
)

// Config configures a [Relay].
type Config struct {
	// Stream is the stream's name. Required.
	Stream string
	// Origin is the origin's base URL (http://host:port): repairs of
	// multicast losses, the HTTP fallback, and redirects for what the
	// relay does not hold. Required.
	Origin string
	// Group, Interface and Source are the multicast group (GROUP:PORT),
	// the interface to join it on (required) and, for SSM, the origin's
	// source address.
	Group, Interface, Source string
	// PublicKey verifies the origin's signatures. Required.
	PublicKey ed25519.PublicKey
	// Window is how many segments the relay keeps and serves. If zero,
	// DefaultWindow.
	Window int
	// Silence: when no object has come by multicast for this long, the
	// relay fetches the stream from the origin over HTTP (one copy for the
	// whole LAN) and joins the group again, until multicast returns. If
	// zero, DefaultSilence.
	Silence time.Duration
	// Seeder, if set, gets every segment and playlist window.
	Seeder Seeder
	// Client makes the HTTP requests. If nil, a client with a 10 s timeout.
	Client *http.Client
	Logger *slog.Logger
}

// Stats are a relay's counters.
type Stats struct {
	Mode             string `json:"mode"` // "multicast", or "http" while multicast is silent
	SegmentsMcast    int64  `json:"segments_multicast"`
	SegmentsHTTP     int64  `json:"segments_http"`
	Playlists        int64  `json:"playlists"`
	Fallbacks        int64  `json:"fallbacks"`        // times multicast went silent
	Rejoins          int64  `json:"rejoins"`          // the group joined again
	HTTPErrors       int64  `json:"http_errors"`      // failed fallback fetches
	VerifyFailures   int64  `json:"verify_failures"`  // fallback segments that did not match the playlist
	SeedErrors       int64  `json:"seed_errors"`      // segments the seeder refused
	ServedBytes      int64  `json:"served_bytes"`     // segment bytes served to the LAN over HTTP
	ServedPlaylists  int64  `json:"served_playlists"` // playlists served to the LAN
	Redirects        int64  `json:"redirects"`        // requests sent to the origin
	Segments         int    `json:"segments"`         // held now
	LastSeq          uint64 `json:"last_seq"`
	SinceMulticastMS int64  `json:"since_multicast_ms"` // since the last multicast object (-1: none yet)
}

// Relay receives a stream by multicast, keeps a window of verified
// segments and the playlist, serves them on the LAN over HTTP with the
// origin's URLs, hands them to a [Seeder], and falls back to HTTP from the
// origin while multicast is silent.
type Relay struct {
	cfg    Config
	logger *slog.Logger

	mu        sync.Mutex
	segs      map[string]*segment // by name
	bySeq     map[uint64]*segment
	playlist  []byte
	plTarget  time.Duration
	plID      uint32 // object id of the playlist, when it came by multicast
	plViaMc   bool
	lastMcast time.Time
	stats     Stats
	recv      *multicast.Receiver
}

type segment struct {
	name string
	seq  uint64
	data []byte
	sum  [32]byte
}

// New returns a relay; Run starts it.
func New(cfg Config) (*Relay, error) {
	switch {
	case cfg.Stream == "":
		return nil, errors.New("relay: a stream name is required")
	case cfg.Interface == "":
		return nil, errors.New("relay: the multicast interface is required")
	case len(cfg.PublicKey) != ed25519.PublicKeySize:
		return nil, errors.New("relay: the origin's public key is required")
	case cfg.Window < 0 || cfg.Silence < 0:
		return nil, fmt.Errorf("relay: window %d, silence %v", cfg.Window, cfg.Silence)
	}
	u, err := url.Parse(cfg.Origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("relay: origin %q is not an http(s) URL", cfg.Origin)
	}
	cfg.Origin = strings.TrimSuffix(cfg.Origin, "/")
	if cfg.Window == 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.Silence == 0 {
		cfg.Silence = DefaultSilence
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Relay{cfg: cfg, logger: cfg.Logger.With("component", "relay"),
		segs: map[string]*segment{}, bySeq: map[uint64]*segment{}}
	r.stats.Mode = "multicast"
	return r, nil
}

// Run receives and serves until ctx ends: the multicast receiver, joined
// again after each silence (an interface that flapped loses its group
// membership), and the HTTP fallback while multicast is silent.
func (r *Relay) Run(ctx context.Context) error {
	start := time.Now()
	tick := time.NewTicker(min(r.cfg.Silence/4, time.Second))
	defer tick.Stop()
	var (
		rctx    context.Context
		rcancel context.CancelFunc = func() {}
		rdone   chan error
		joined  time.Time
		lastGet time.Time
	)
	join := func() error {
		rcancel()
		if rdone != nil {
			<-rdone
		}
		recv, err := multicast.NewReceiver(multicast.ReceiverConfig{
			Group: r.cfg.Group, Interface: r.cfg.Interface, Source: r.cfg.Source, Stream: r.cfg.Stream,
			PublicKey: r.cfg.PublicKey, Deliver: r.deliver, Logger: r.logger,
			Repair: multicast.HTTPRepair(r.cfg.Client, r.cfg.Origin+"/mcast/"+r.cfg.Stream+"/objects/", 64<<20),
		})
		if err != nil {
			return err
		}
		r.mu.Lock()
		r.recv = recv
		r.mu.Unlock()
		rctx, rcancel = context.WithCancel(ctx)
		rdone = make(chan error, 1)
		go func(c context.Context) { rdone <- recv.Run(c) }(rctx)
		joined = time.Now()
		return nil
	}
	if err := join(); err != nil {
		return err
	}
	defer func() {
		rcancel()
		<-rdone
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-rdone:
			rdone = nil
			if err != nil {
				r.logger.Warn("multicast receiver stopped; joining again", "err", err)
			}
			if err := join(); err != nil {
				return err
			}
			r.count(func(s *Stats) { s.Rejoins++ })
		case <-tick.C:
		}
		now := time.Now()
		r.mu.Lock()
		last := r.lastMcast
		if last.IsZero() {
			last = start
		}
		silent := now.Sub(last) >= r.cfg.Silence
		switch {
		case silent && r.stats.Mode == "multicast":
			r.stats.Mode = "http"
			r.stats.Fallbacks++
			r.logger.Warn("multicast silent; fetching from the origin over HTTP", "silent_for", now.Sub(last).Round(time.Millisecond))
		case !silent && r.stats.Mode == "http":
			r.stats.Mode = "multicast"
			r.logger.Info("multicast is back")
		}
		mode, target := r.stats.Mode, r.plTarget
		r.mu.Unlock()
		if mode != "http" {
			continue
		}
		// Join again now and then while silent: after an interface flap the
		// kernel has forgotten the membership.
		if now.Sub(joined) >= r.cfg.Silence {
			if err := join(); err != nil {
				r.logger.Warn("joining the group again failed", "err", err)
			} else {
				r.count(func(s *Stats) { s.Rejoins++ })
			}
		}
		if poll := max(target/2, 500*time.Millisecond); now.Sub(lastGet) >= poll {
			lastGet = now
			r.fetchHTTP(ctx)
		}
	}
}

func (r *Relay) count(f func(*Stats)) {
	r.mu.Lock()
	f(&r.stats)
	r.mu.Unlock()
}

// deliver takes a verified object from the multicast receiver.
func (r *Relay) deliver(obj multicast.Received) {
	r.mu.Lock()
	r.lastMcast = time.Now()
	r.mu.Unlock()
	switch obj.Info.Kind {
	case multicast.KindSegment:
		seq, ok := seqOf(obj.Info.Name)
		if !ok {
			r.logger.Warn("multicast segment with an unexpected name", "name", obj.Info.Name)
			return
		}
		if r.addSegment(obj.Info.Name, seq, obj.Data, obj.Info.SHA256) {
			r.count(func(s *Stats) { s.SegmentsMcast++ })
		}
	case multicast.KindPlaylist:
		r.mu.Lock()
		// Objects arrive in completion order: keep the newest playlist.
		stale := r.plViaMc && int32(obj.Info.ID-r.plID) <= 0
		r.mu.Unlock()
		if stale {
			return
		}
		if r.setPlaylist(obj.Data) == nil {
			r.mu.Lock()
			r.plID, r.plViaMc = obj.Info.ID, true
			r.mu.Unlock()
		}
	}
}

// seqOf returns the media sequence number of a segment named
// {seq}-{hash16}.ts.
func seqOf(name string) (uint64, bool) {
	s, _, ok := strings.Cut(name, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

// addSegment stores a verified segment, drops the oldest beyond the window,
// and hands it to the seeder. It reports whether the segment was new.
func (r *Relay) addSegment(name string, seq uint64, data []byte, sum [32]byte) bool {
	r.mu.Lock()
	if _, ok := r.segs[name]; ok {
		r.mu.Unlock()
		return false
	}
	sg := &segment{name: name, seq: seq, data: data, sum: sum}
	r.segs[name] = sg
	r.bySeq[seq] = sg
	if seq > r.stats.LastSeq {
		r.stats.LastSeq = seq
	}
	for s, old := range r.bySeq {
		if s+uint64(r.cfg.Window) <= r.stats.LastSeq {
			delete(r.bySeq, s)
			delete(r.segs, old.name)
		}
	}
	r.mu.Unlock()
	if r.cfg.Seeder != nil && seq < 1<<32 {
		info := peer.SegmentInfo{Seq: uint32(seq), Size: uint32(len(data)), SHA256: sum, URL: r.cfg.Origin + "/live/" + r.cfg.Stream + "/" + name}
		if err := r.cfg.Seeder.Put(info, data); err != nil {
			r.count(func(s *Stats) { s.SeedErrors++ })
			r.logger.Warn("the seeder refused a segment", "name", name, "err", err)
		}
	}
	return true
}

// setPlaylist takes a new playlist (from multicast, verified, or from the
// origin over HTTP) and gives its window to the seeder.
func (r *Relay) setPlaylist(body []byte) error {
	pl, err := hls.ParseMedia(body)
	if err != nil {
		r.logger.Warn("unusable playlist", "err", err)
		return err
	}
	r.mu.Lock()
	r.playlist, r.plTarget = body, pl.TargetDuration
	r.stats.Playlists++
	r.mu.Unlock()
	if r.cfg.Seeder != nil {
		base, _ := url.Parse(r.cfg.Origin + "/live/" + r.cfg.Stream + "/")
		r.cfg.Seeder.SetPlaylist(peer.WindowOf(base, pl))
	}
	return nil
}

// fetchHTTP is one round of the fallback: the origin's playlist, then the
// segments it lists that the relay lacks, each checked against the
// playlist's digest.
func (r *Relay) fetchHTTP(ctx context.Context) {
	base := r.cfg.Origin + "/live/" + r.cfg.Stream + "/"
	body, err := r.get(ctx, base+"index.m3u8", hls.MaxPlaylistBytes)
	if err != nil {
		r.count(func(s *Stats) { s.HTTPErrors++ })
		r.logger.Warn("fallback: playlist", "err", err)
		return
	}
	pl, err := hls.ParseMedia(body)
	if err != nil {
		r.count(func(s *Stats) { s.HTTPErrors++ })
		return
	}
	for _, sg := range pl.Segments {
		name := sg.URI
		seq, ok := seqOf(name)
		if !ok || !sg.HasDigest || strings.ContainsAny(name, "/?#") {
			continue
		}
		r.mu.Lock()
		_, have := r.segs[name]
		old := seq+uint64(r.cfg.Window) <= r.stats.LastSeq
		r.mu.Unlock()
		if have || old {
			continue
		}
		data, err := r.get(ctx, base+name, sg.Size)
		if err != nil {
			r.count(func(s *Stats) { s.HTTPErrors++ })
			r.logger.Warn("fallback: segment", "name", name, "err", err)
			continue
		}
		if int64(len(data)) != sg.Size || sha256.Sum256(data) != sg.SHA256 {
			r.count(func(s *Stats) { s.VerifyFailures++ })
			continue
		}
		if r.addSegment(name, seq, data, sg.SHA256) {
			r.count(func(s *Stats) { s.SegmentsHTTP++ })
		}
	}
	r.mu.Lock()
	fresh := !r.plViaMc || time.Since(r.lastMcast) >= r.cfg.Silence
	if fresh {
		r.plViaMc = false
	}
	r.mu.Unlock()
	if fresh {
		_ = r.setPlaylist(body)
	}
}

// get fetches url, at most limit bytes.
func (r *Relay) get(ctx context.Context, u string, limit int64) ([]byte, error) {
	return httpget.Get(ctx, r.cfg.Client, u, limit)
}

// Stats returns the relay's counters.
func (r *Relay) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.stats
	s.Segments = len(r.segs)
	s.SinceMulticastMS = -1
	if !r.lastMcast.IsZero() {
		s.SinceMulticastMS = time.Since(r.lastMcast).Milliseconds()
	}
	return s
}

// ReceiverStats returns the multicast receiver's counters.
func (r *Relay) ReceiverStats() multicast.ReceiverStats {
	r.mu.Lock()
	recv := r.recv
	r.mu.Unlock()
	if recv == nil {
		return multicast.ReceiverStats{}
	}
	return recv.Stats()
}

// segmentBytes returns a held segment by name.
func (r *Relay) segmentBytes(name string) ([]byte, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	sg, ok := r.segs[name]
	if !ok {
		return nil, false
	}
	return sg.data, true
}

// currentPlaylist returns the playlist the relay serves, if any.
func (r *Relay) currentPlaylist() ([]byte, time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.playlist, r.plTarget
}
