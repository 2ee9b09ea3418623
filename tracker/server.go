package tracker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"fusioncast/tracker/wire"
)

// ErrClosed is returned by [Server.Run] when the server was already run.
var ErrClosed = errors.New("tracker: closed")

// Failure reasons sent to clients (docs/tracker.md, "Limits").
const (
	reasonTooManySwarms  = "tracker full: too many swarms"
	reasonSwarmFull      = "swarm full: too many peers"
	reasonConnSwarms     = "too many swarms on one connection"
	reasonRate           = "too many announces: slow down"
	reasonAddrConns      = "too many connections from your address"
	reasonTooManyConns   = "tracker full: too many connections"
	reasonUnsupported    = "unsupported action"
	reasonPeerIDConflict = "peer_id in use on another connection"
	maxStrikes           = 8
)

// answerCreditsPerPeer is how many answer credits a connection may hold,
// in units of the most offers the tracker relays to one peer per interval
// (max(RelayMaxPeers, DefaultMaxPeers), the cap on max_peers). A peer's
// budget starts afresh each interval, so it can be sent a whole budget of
// offers at the end of one interval and another at the start of the next,
// before it has answered the first: two budgets is the most it can owe
// answers for at once, in one swarm.
const answerCreditsPerPeer = 2

// Server is a WebTorrent-compatible websocket tracker with fusioncast's
// extensions: roles, locality-aware pairing, edge fetchers and stats.
type Server struct {
	cfg      Config
	metrics  *metrics
	upgrader websocket.Upgrader
	handler  http.Handler
	started  atomic.Bool
	start    time.Time
	adminOn  atomic.Bool
	pending  atomic.Pointer[pendingLimiter]
	// maxAnswerCredits caps conn.answerCredits.
	maxAnswerCredits int32

	mu     sync.RWMutex
	swarms map[wire.ID]*swarm

	connMu  sync.Mutex
	conns   map[*conn]struct{}
	perAddr map[netip.Addr]int

	loops    []*loop // set by Run before serving
	nextLoop atomic.Uint32
}

// New returns a tracker. It serves nothing until [Server.Run] or until its
// [Server.Handler] is mounted.
func New(cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:     cfg,
		start:   time.Now(),
		swarms:  make(map[wire.ID]*swarm),
		conns:   make(map[*conn]struct{}),
		perAddr: make(map[netip.Addr]int),
	}
	s.maxAnswerCredits = int32(min(answerCreditsPerPeer*int64(max(cfg.RelayMaxPeers, cfg.DefaultMaxPeers)), math.MaxInt32))
	s.adminOn.Store(true)
	s.metrics = newMetrics(s)
	s.upgrader = websocket.Upgrader{
		HandshakeTimeout: cfg.HandshakeTimeout,
		// The handshake reuses the HTTP server's buffers; the tracker reads
		// and writes frames itself after it (frame.go).
		WriteBufferPool: &sync.Pool{},
		// Browsers on any site may use the tracker, as with any public
		// WebTorrent tracker.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	s.handler = s.routes()
	return s, nil
}

// Handler returns the tracker's HTTP handler: websocket upgrades on any
// path but the admin and operations ones. Websocket connections are served
// only while [Server.Run] runs (its event loops own them), and only over
// plain TCP: put TLS in a reverse proxy in front.
func (s *Server) Handler() http.Handler { return s.handler }

// Run serves on ln until ctx ends, then closes every connection and
// returns nil. The admin API is off when ln is not a loopback address and
// no AdminToken is set. Run may be called once.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	if !s.started.CompareAndSwap(false, true) {
		return ErrClosed
	}
	if s.cfg.AdminToken == "" && !isLoopbackAddr(ln.Addr()) {
		s.adminOn.Store(false)
		s.cfg.Logger.Warn("admin API disabled: listening beyond loopback without an admin token", "addr", ln.Addr().String())
	}
	loops := make([]*loop, max(1, runtime.GOMAXPROCS(0)))
	for i := range loops {
		l, err := newLoop(s)
		if err != nil {
			for _, l := range loops[:i] {
				l.closeFDs()
			}
			return err
		}
		loops[i] = l
	}
	s.connMu.Lock()
	s.loops = loops
	s.connMu.Unlock()
	pl := newPendingLimiter(ln, s.cfg.MaxPendingHandshakes)
	s.pending.Store(pl)
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: s.cfg.HandshakeTimeout,
		IdleTimeout:       s.cfg.HandshakeTimeout,
		MaxHeaderBytes:    16 << 10,
		ConnState:         pl.connState,
		ErrorLog:          nil,
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1 + len(loops))
	go func() {
		defer wg.Done()
		s.janitor(ctx)
	}()
	for _, l := range loops {
		go func() {
			defer wg.Done()
			l.run()
		}()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(pl) }()
	s.cfg.Logger.Info("tracker serving", "addr", ln.Addr().String(), "admin", s.adminOn.Load())
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
	}
	cancel()
	_ = srv.Close()
	for _, l := range loops {
		l.stop()
	}
	wg.Wait()
	return err
}

func isLoopbackAddr(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

// janitor pings connections every PingInterval, and closes those silent
// for IdleTimeout and those whose output has been stuck for WriteTimeout.
func (s *Server) janitor(ctx context.Context) {
	tick := min(time.Second, s.cfg.PingInterval/2, s.cfg.WriteTimeout/2)
	t := time.NewTicker(tick)
	defer t.Stop()
	lastPing := time.Now()
	var conns []*conn
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		ping := now.Sub(lastPing) >= s.cfg.PingInterval
		if ping {
			lastPing = now
		}
		s.connMu.Lock()
		conns = conns[:0]
		for c := range s.conns {
			conns = append(conns, c)
		}
		s.connMu.Unlock()
		idleBefore := now.Add(-s.cfg.IdleTimeout).UnixNano()
		stuckBefore := now.Add(-s.cfg.WriteTimeout).UnixNano()
		for _, c := range conns {
			switch st := c.stalledSince.Load(); {
			case c.lastSeen.Load() < idleBefore:
				c.close("idle timeout", closeGoingAway)
			case st != 0 && st < stuckBefore:
				s.metrics.slowDropped.Inc()
				c.close("write timeout", closePolicy)
			case ping:
				c.queue(opPing, func(dst []byte) []byte { return dst })
			}
		}
		clear(conns)
	}
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.Handle("GET /metrics", s.metrics.handler())
	s.adminRoutes(mux)
	mux.HandleFunc("GET /", s.serveWS)
	return mux
}

// clientAddr returns the client's address: the connection's, or the one a
// trusted proxy put in its header.
func (s *Server) clientAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	a := ap.Addr().Unmap()
	if !s.trusted(a) {
		return a
	}
	// The rightmost address that is not a trusted proxy is the client.
	hops := strings.Split(r.Header.Get(s.cfg.ProxyHeader), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		h, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		h = h.Unmap()
		if !s.trusted(h) {
			return h
		}
	}
	return a
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// siteOf returns the site of a viewer at a: a configured site containing
// it, or its /24 (IPv4) or /64 (IPv6).
func (s *Server) siteOf(a netip.Addr) string {
	for _, site := range s.cfg.Sites {
		for _, p := range site.Prefixes {
			if p.Contains(a) {
				return site.Name
			}
		}
	}
	bits := 24
	if a.Is6() {
		bits = 64
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return "unknown"
	}
	return p.String()
}

// relaySite returns the site a relay serves: the configured site it names
// if its address is in that site, or else the site of its address (a relay
// cannot draw a site's viewers from outside it).
func (s *Server) relaySite(named string, a netip.Addr) string {
	for _, site := range s.cfg.Sites {
		if site.Name != named {
			continue
		}
		for _, p := range site.Prefixes {
			if p.Contains(a) {
				return named
			}
		}
	}
	return s.siteOf(a)
}

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	if !websocket.IsWebSocketUpgrade(r) {
		http.Error(w, "fusioncast tracker: connect with a websocket (WebTorrent tracker protocol)", http.StatusBadRequest)
		return
	}
	s.connMu.Lock()
	loops := s.loops
	s.connMu.Unlock()
	if len(loops) == 0 {
		http.Error(w, "fusioncast tracker: not running", http.StatusServiceUnavailable)
		return
	}
	addr := s.clientAddr(r)
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader answered with the reason
	}
	l := loops[s.nextLoop.Add(1)%uint32(len(loops))]
	c := &conn{s: s, l: l, fd: -1, addr: addr, site: s.siteOf(addr)}
	c.lastSeen.Store(time.Now().UnixNano())
	if reason := s.register(c); reason != "" {
		s.metrics.refused.WithLabelValues(reason).Inc()
		_ = ws.SetWriteDeadline(time.Now().Add(time.Second))
		_ = ws.WriteMessage(websocket.TextMessage, wire.AppendFailure(nil, wire.ActionAnnounce, nil, reason))
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.ClosePolicyViolation, reason), time.Now().Add(time.Second))
		_ = ws.Close()
		return
	}
	nc := ws.NetConn()
	if pc, ok := nc.(*pendingConn); ok {
		nc = pc.Conn
	}
	if err := l.adopt(c, nc); err != nil {
		s.cfg.Logger.Warn("websocket connection dropped", "addr", addr.String(), "err", err)
		_ = ws.Close()
		s.forget(c)
	}
}

// register counts c against the connection limits, or says why not.
func (s *Server) register(c *conn) string {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if len(s.conns) >= s.cfg.MaxConns {
		return reasonTooManyConns
	}
	if s.perAddr[c.addr] >= s.cfg.MaxConnsPerAddr {
		return reasonAddrConns
	}
	s.conns[c] = struct{}{}
	s.perAddr[c.addr]++
	s.metrics.conns.Inc()
	return ""
}

// unregister removes a closed connection's peers from their swarms and
// the connection from the counts. The connection's loop calls it.
func (s *Server) unregister(c *conn) {
	for _, p := range c.peers {
		s.leave(p.ih, p)
	}
	c.peers = nil
	s.forget(c)
}

func (s *Server) forget(c *conn) {
	s.connMu.Lock()
	delete(s.conns, c)
	if s.perAddr[c.addr]--; s.perAddr[c.addr] <= 0 {
		delete(s.perAddr, c.addr)
	}
	s.connMu.Unlock()
	s.metrics.conns.Dec()
}

func (s *Server) handle(c *conn, req *wire.Request) {
	switch req.Action {
	case wire.ActionAnnounce:
		now := time.Now()
		// An answer spends one of the credits that the offers relayed to
		// this connection gave it (one each), so that a peer may answer
		// every offer it was sent, however many came at once (a relay may
		// get a thousand). Anything else, including answers beyond the
		// offers received, takes a token from the announce bucket.
		answer := req.Answer != nil && len(req.Offers) == 0
		if !(answer && c.spendAnswer()) && !c.allow(now) {
			s.metrics.refused.WithLabelValues("rate").Inc()
			c.send(wire.AppendFailure(nil, wire.ActionAnnounce, &req.InfoHash, reasonRate))
			if c.strikes++; c.strikes >= maxStrikes {
				c.close("announce rate", closePolicy)
			}
			return
		}
		s.announce(c, req, now)
	case wire.ActionScrape:
		s.scrape(c, req)
	default:
		c.send(wire.AppendFailure(nil, req.Action, nil, reasonUnsupported))
	}
}

// swarm returns the swarm of ih, creating it if create is set.
func (s *Server) swarm(ih wire.ID, create bool) (*swarm, string) {
	s.mu.RLock()
	sw := s.swarms[ih]
	s.mu.RUnlock()
	if sw != nil || !create {
		return sw, ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if sw = s.swarms[ih]; sw != nil {
		return sw, ""
	}
	if len(s.swarms) >= s.cfg.MaxSwarms {
		return nil, reasonTooManySwarms
	}
	sw = newSwarm(ih)
	s.swarms[ih] = sw
	s.metrics.swarms.Inc()
	return sw, ""
}

func (s *Server) announce(c *conn, req *wire.Request, now time.Time) {
	s.metrics.announces.Inc()
	ih := req.InfoHash
	if req.Event == wire.EventStopped {
		if p := c.peer(ih); p != nil {
			c.dropPeer(p)
			s.leave(ih, p)
		}
		sw, _ := s.swarm(ih, false)
		complete, incomplete := 0, 0
		if sw != nil {
			sw.mu.Lock()
			complete, incomplete = sw.complete, len(sw.all)-sw.complete
			sw.mu.Unlock()
		}
		c.send(wire.AppendAnnounceResponse(nil, ih, s.intervalSeconds(), complete, incomplete, nil))
		return
	}
	p := c.peer(ih)
	if p == nil && len(c.peers) >= s.cfg.MaxSwarmsPerConn {
		s.refuse(c, ih, reasonConnSwarms)
		return
	}
	sw, reason := s.swarm(ih, true)
	if sw == nil {
		s.refuse(c, ih, reason)
		return
	}

	var (
		targets []*peer
		changed []*peer
		resp    *wire.RespExt
	)
	sw.mu.Lock()
	if p == nil {
		if other := sw.peers[req.PeerID]; other != nil {
			sw.mu.Unlock()
			s.refuse(c, ih, reasonPeerIDConflict)
			return
		}
		if len(sw.all) >= s.cfg.MaxPeersPerSwarm {
			sw.mu.Unlock()
			s.refuse(c, ih, reasonSwarmFull)
			return
		}
		p = &peer{id: req.PeerID, ih: ih, c: c, joined: now, edge: -1, site: c.site, maxPeers: s.cfg.DefaultMaxPeers}
		if req.Ext.Present {
			p.ext = true
			p.role = req.Ext.Role
			if p.role == wire.RoleRelay {
				p.site = s.relaySite(req.Ext.Site, c.addr)
				p.maxPeers = s.cfg.RelayMaxPeers
			}
			if req.Ext.MaxPeers > 0 {
				p.maxPeers = min(req.Ext.MaxPeers, max(s.cfg.RelayMaxPeers, s.cfg.DefaultMaxPeers))
			}
		}
		p.complete = req.Left == 0 || req.Event == wire.EventCompleted
		sw.add(p)
		c.peers = append(c.peers, p)
		s.metrics.peers.Inc()
		changed = sw.fillEdges(s.cfg.EdgeFetchers)
	} else if (req.Event == wire.EventCompleted || req.Left == 0) && !p.complete {
		p.complete = true
		sw.complete++
	}
	if req.Ext.Stats != nil {
		p.stats = *req.Ext.Stats
	}
	if n := min(len(req.Offers), numWant(req.NumWant, len(req.Offers))); n > 0 {
		targets = sw.targets(p, n, now, s.cfg.Interval, nil)
		for i, t := range targets {
			o := &req.Offers[i]
			if t.c.queue(opText, func(dst []byte) []byte { return wire.AppendOffer(dst, ih, p.id, o.ID, o.SDP) }) {
				t.c.grantAnswer()
			}
		}
		s.metrics.offers.Add(float64(len(targets)))
	}
	if req.Answer != nil {
		if to := sw.peers[req.ToPeerID]; to != nil && to != p {
			to.c.queue(opText, func(dst []byte) []byte { return wire.AppendAnswer(dst, ih, p.id, req.OfferID, req.Answer) })
			s.metrics.answers.Inc()
		}
	}
	complete, incomplete := sw.complete, len(sw.all)-sw.complete
	if p.ext {
		resp = &wire.RespExt{Version: 1, Edge: p.edge >= 0, EdgeRank: max(p.edge, 0), Site: p.site}
	}
	notes := s.edgeNotes(sw, changed, p)
	sw.mu.Unlock()

	// An answer gets no announce response of its own: the offerer learns
	// of it, and the answerer needs nothing (as with other WebTorrent
	// trackers, whose clients expect none).
	if req.Answer == nil {
		c.queue(opText, func(dst []byte) []byte {
			return wire.AppendAnnounceResponse(dst, ih, s.intervalSeconds(), complete, incomplete, resp)
		})
	}
	for _, n := range notes {
		n.c.send(n.msg)
	}
}

// edgeNote tells a peer its new edge status and rank.
type edgeNote struct {
	c   *conn
	msg []byte
}

// edgeNotes makes the unsolicited announce responses that tell peers whose
// edge status or rank changed, except skip (which learns it from its own
// announce response). sw.mu must be held. Each is one message in the
// peer's bounded send queue, like any other.
func (s *Server) edgeNotes(sw *swarm, changed []*peer, skip *peer) []edgeNote {
	var notes []edgeNote
	for _, q := range changed {
		if q == skip {
			continue
		}
		ext := &wire.RespExt{Version: 1, Edge: q.edge >= 0, EdgeRank: max(q.edge, 0), Site: q.site}
		msg := wire.AppendAnnounceResponse(nil, sw.ih, s.intervalSeconds(), sw.complete, len(sw.all)-sw.complete, ext)
		notes = append(notes, edgeNote{q.c, msg})
	}
	return notes
}

func numWant(n, offers int) int {
	if n < 0 {
		return offers
	}
	return n
}

func (s *Server) intervalSeconds() int { return int(s.cfg.Interval / time.Second) }

func (s *Server) refuse(c *conn, ih wire.ID, reason string) {
	s.metrics.refused.WithLabelValues(reason).Inc()
	c.send(wire.AppendFailure(nil, wire.ActionAnnounce, &ih, reason))
}

// leave removes p from the swarm of ih and deletes the swarm when empty.
func (s *Server) leave(ih wire.ID, p *peer) {
	sw, _ := s.swarm(ih, false)
	if sw == nil {
		return
	}
	sw.mu.Lock()
	changed := sw.remove(p, s.cfg.EdgeFetchers)
	notes := s.edgeNotes(sw, changed, nil)
	empty := len(sw.all) == 0
	sw.mu.Unlock()
	s.metrics.peers.Dec()
	for _, n := range notes {
		n.c.send(n.msg)
	}
	if empty {
		s.mu.Lock()
		sw.mu.Lock()
		if len(sw.all) == 0 && s.swarms[ih] == sw {
			delete(s.swarms, ih)
			s.metrics.swarms.Dec()
		}
		sw.mu.Unlock()
		s.mu.Unlock()
	}
}

func (s *Server) scrape(c *conn, req *wire.Request) {
	var files []wire.ScrapeFile
	add := func(sw *swarm) {
		sw.mu.Lock()
		files = append(files, wire.ScrapeFile{InfoHash: sw.ih, Complete: sw.complete, Incomplete: len(sw.all) - sw.complete})
		sw.mu.Unlock()
	}
	if len(req.InfoHashes) == 0 {
		s.mu.RLock()
		n := 0
		for _, sw := range s.swarms {
			if n++; n > 1000 {
				break
			}
			add(sw)
		}
		s.mu.RUnlock()
	} else {
		for _, ih := range req.InfoHashes {
			if sw, _ := s.swarm(ih, false); sw != nil {
				add(sw)
			} else {
				files = append(files, wire.ScrapeFile{InfoHash: ih})
			}
		}
	}
	c.send(wire.AppendScrapeResponse(nil, files))
}

// String describes the server for logs.
func (s *Server) String() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return fmt.Sprintf("tracker with %d swarms", len(s.swarms))
}
