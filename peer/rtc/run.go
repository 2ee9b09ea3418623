package rtc

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/webrtc/v4"

	"fusioncast/tracker/wire"
)

// Tracker timing. docs/peer-connections.md, section "The tracker".
const (
	defaultInterval = 120 * time.Second // until the tracker names one
	minInterval     = 1 * time.Second
	maxInterval     = time.Hour
	dialTimeout     = 10 * time.Second
	writeTimeout    = 10 * time.Second
	stopTimeout     = 2 * time.Second // for the "stopped" announce
	// backoffMin and backoffMax bound the wait before redialling the
	// tracker or announcing again after a refusal; it doubles with each
	// failure in a row and is drawn from [d/2, d].
	backoffMin = 1 * time.Second
	backoffMax = 60 * time.Second
	// sendRate and sendBurst pace the announces to the tracker, below its
	// default limit of 4 announces per second with bursts of 16
	// (docs/tracker.md, "Limits"), unless Config.TrackerRate and
	// TrackerBurst say otherwise. Answers are not paced (see flush).
	sendRate  = 3
	sendBurst = 12
	// minReadTimeout bounds the silence of the tracker connection: our
	// tracker pings every 30 s, and any tracker answers every announce.
	minReadTimeout = 90 * time.Second
)

// Run joins the swarm cfg.InfoHash through the tracker at cfg.TrackerURL
// and keeps peer connections until ctx ends:
//
//   - it connects to the tracker, and reconnects after a failure with a
//     backoff (1 s doubling to 60 s, with jitter);
//   - it announces with event "started" and up to cfg.Offers offers, then
//     again every interval the tracker names, with new offers while below
//     cfg.MaxPeers;
//   - it answers the offers the tracker relays (up to cfg.MaxPeers
//     connections) and completes its own offers with the relayed answers;
//   - it hands every connection whose data channel opens to cfg.OnConn;
//   - when ctx ends it sends event "stopped", closes every connection
//     (calling their OnClose), waits for its goroutines and returns nil.
//
// Run returns an error only for a bad Config (wrapping [ErrBadConfig]) or
// when it cannot open the socket of ICEConfig.ListenUDP.
// docs/peer-connections.md describes the signalling.
func Run(ctx context.Context, cfg Config) error {
	s, err := newSession(cfg)
	if err != nil {
		return err
	}
	s.run(ctx)
	return nil
}

// session is one Run. Its loop goroutine owns the tracker connection and
// the tables of connections; other goroutines (the tracker reader, ICE
// gathering waits, connection teardowns) hand it work with post.
type session struct {
	cfg Config
	log *slog.Logger
	api *webrtc.API
	// closeNet closes what the API's connections share (the socket of
	// ICEConfig.ListenUDP) once every connection is closed.
	closeNet func()

	events chan func()
	quit   chan struct{} // closed when the loop stops taking events
	// wg counts the goroutines the session starts (spawn); spawnMu orders
	// every start before the final Wait, also those started from pion's
	// callbacks (a closing connection's teardown).
	wg      sync.WaitGroup
	spawnMu sync.Mutex
	waited  bool         // under spawnMu: stop is waiting
	livePCs atomic.Int64 // peer connections not yet torn down
	// intervalNS is the announce interval, for the reader's timeout.
	intervalNS atomic.Int64

	// Owned by the loop.
	tc            *trackerConn // nil while disconnected
	dialing       bool
	stopping      bool
	failures      int               // failed dials or refused announces in a row
	pending       map[wire.ID]*Conn // our unanswered offers, by offer_id
	peers         map[wire.ID]*Conn // connections with a known peer, by peer_id
	edge          bool
	edgeRank      int
	outq          []outMsg // messages waiting for the bucket
	bucket        bucket
	announceTimer *time.Timer
	dialTimer     *time.Timer
	sendTimer     *time.Timer
	buf           []byte
}

// trackerConn is one websocket connection to the tracker.
type trackerConn struct {
	ws        *websocket.Conn
	joined    bool    // an announce was answered on this connection
	gathering bool    // an announce is waiting for its offers' candidates
	awaiting  bool    // an announce was sent and its response not yet read
	batch     []*Conn // that announce's offers, in order
}

func newSession(cfg Config) (*session, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &session{
		cfg:     cfg,
		log:     cfg.Logger,
		events:  make(chan func(), 256),
		quit:    make(chan struct{}),
		pending: make(map[wire.ID]*Conn),
		peers:   make(map[wire.ID]*Conn),
	}
	s.bucket = bucket{rate: cfg.TrackerRate, burst: float64(cfg.TrackerBurst)}
	s.api, s.closeNet, err = newAPI(cfg.ICE, pionLogs{cfg.Logger})
	if err != nil {
		return nil, err
	}
	s.intervalNS.Store(int64(defaultInterval))
	return s, nil
}

// post hands f to the loop. It reports false, without running f, once the
// loop has stopped.
func (s *session) post(f func()) bool {
	select {
	case s.events <- f:
		return true
	case <-s.quit:
		return false
	}
}

func (s *session) run(ctx context.Context) {
	s.announceTimer = time.NewTimer(time.Hour)
	s.announceTimer.Stop()
	s.dialTimer = time.NewTimer(time.Hour)
	s.dialTimer.Stop()
	s.sendTimer = time.NewTimer(time.Hour)
	s.sendTimer.Stop()
	s.log.Info("joining swarm", "tracker", s.cfg.TrackerURL, "info_hash", s.cfg.InfoHash.String())
	s.dial(ctx)
	for {
		select {
		case <-ctx.Done():
			s.stop()
			return
		case f := <-s.events:
			f()
		case <-s.announceTimer.C:
			s.announce()
		case <-s.dialTimer.C:
			s.dial(ctx)
		case <-s.sendTimer.C:
			s.flush()
		}
	}
}

// stop leaves the swarm, closes everything and waits for the session's
// goroutines.
func (s *session) stop() {
	close(s.quit)
	s.announceTimer.Stop()
	s.dialTimer.Stop()
	s.sendTimer.Stop()
	s.outq = nil
	if tc := s.tc; tc != nil {
		s.tc = nil
		deadline := time.Now().Add(stopTimeout)
		_ = tc.ws.SetWriteDeadline(deadline)
		if err := tc.ws.WriteMessage(websocket.TextMessage, s.encode(s.request(wire.EventStopped))); err == nil {
			_ = tc.ws.WriteControl(websocket.CloseMessage,
				websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), deadline)
		}
		_ = tc.ws.Close()
	}
	for _, c := range s.pending {
		c.shutdown("leaving")
	}
	for _, c := range s.peers {
		c.shutdown("leaving")
	}
	s.waitAll()
	s.closeNet()
	// Run what was posted while the loop was stopping: only a finished
	// dial holds something (a websocket) that must be closed.
	s.stopping = true
	for {
		select {
		case f := <-s.events:
			f()
		default:
			s.log.Info("left swarm")
			return
		}
	}
}

// spawn runs f in a goroutine that stop waits for.
func (s *session) spawn(f func()) {
	s.spawnMu.Lock()
	defer s.spawnMu.Unlock()
	if s.waited {
		// Not reached: stop closes every connection before it waits, and
		// a connection is torn down once.
		go f()
		return
	}
	s.wg.Go(f)
}

// waitAll waits for the goroutines started by spawn.
func (s *session) waitAll() {
	s.spawnMu.Lock()
	s.waited = true
	s.spawnMu.Unlock()
	s.wg.Wait()
}

// backoff returns the wait after n failures in a row.
func backoff(n int) time.Duration {
	d := min(backoffMin<<min(n, 10), backoffMax)
	return d/2 + rand.N(d/2+1)
}

// dial connects to the tracker in the background.
func (s *session) dial(ctx context.Context) {
	if s.dialing || s.tc != nil || s.stopping {
		return
	}
	s.dialing = true
	s.spawn(func() {
		d := websocket.Dialer{HandshakeTimeout: dialTimeout}
		ws, _, err := d.DialContext(ctx, s.cfg.TrackerURL, nil)
		if !s.post(func() { s.dialed(ctx, ws, err) }) && ws != nil {
			_ = ws.Close()
		}
	})
}

func (s *session) dialed(ctx context.Context, ws *websocket.Conn, err error) {
	s.dialing = false
	if s.stopping || ctx.Err() != nil {
		if ws != nil {
			_ = ws.Close()
		}
		return
	}
	if err != nil {
		d := backoff(s.failures)
		s.failures++
		s.log.Warn("cannot reach tracker", "err", err, "retry_in", d.Round(time.Millisecond))
		s.dialTimer.Reset(d)
		return
	}
	s.log.Debug("tracker connected")
	tc := &trackerConn{ws: ws}
	s.tc = tc
	ws.SetReadLimit(wire.MaxMessageBytes)
	s.spawn(func() { s.read(tc) })
	s.announce()
}

// read reads the tracker's messages and posts them to the loop.
func (s *session) read(tc *trackerConn) {
	ws := tc.ws
	extend := func() {
		_ = ws.SetReadDeadline(time.Now().Add(max(minReadTimeout, 2*time.Duration(s.intervalNS.Load())+30*time.Second)))
	}
	ws.SetPingHandler(func(data string) error {
		extend()
		err := ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(writeTimeout))
		var ne net.Error
		if errors.Is(err, websocket.ErrCloseSent) || errors.As(err, &ne) && ne.Timeout() {
			return nil
		}
		return err
	})
	for {
		extend()
		typ, b, err := ws.ReadMessage()
		if err != nil {
			s.post(func() { s.lost(tc, err) })
			return
		}
		if typ != websocket.TextMessage {
			continue
		}
		r := new(wire.Response) // r aliases b, which is not reused
		if err := wire.ParseResponse(b, r); err != nil {
			s.log.Warn("bad message from tracker", "err", err)
			continue
		}
		if !s.post(func() { s.handle(tc, r) }) {
			return
		}
	}
}

// lost drops the tracker connection tc and schedules a redial. Offers made
// through it can no longer be answered; connections being set up go on.
// The edge role ends with the connection (see below).
func (s *session) lost(tc *trackerConn, err error) {
	if s.tc != tc {
		return
	}
	s.tc = nil
	_ = tc.ws.Close()
	// The tracker forgets a peer whose connection closed and promotes
	// another viewer in its place: a peer that went on fetching every
	// segment from the origin at once would add to the origin load that
	// edge fetchers exist to bound. The first announce response after
	// reconnecting says what this peer is then.
	s.setEdge(false, 0)
	for _, m := range s.outq {
		s.abandon(m)
	}
	s.outq = s.outq[:0]
	s.sendTimer.Stop()
	for id, c := range s.pending {
		delete(s.pending, id)
		c.shutdown("tracker connection lost")
	}
	s.announceTimer.Stop()
	d := backoff(s.failures)
	s.failures++
	s.log.Warn("tracker connection lost", "err", err, "retry_in", d.Round(time.Millisecond))
	s.dialTimer.Reset(d)
}

// outMsg is a message waiting for its turn to go to the tracker.
type outMsg struct {
	tc  *trackerConn
	msg []byte
	c   *Conn // the connection an answer is for, or nil
}

// send queues req for tc; c is the connection an answer is for (nil for an
// announce). flush says when it goes.
func (s *session) send(tc *trackerConn, req *wire.Request, c *Conn) {
	s.outq = append(s.outq, outMsg{tc: tc, msg: wire.AppendRequest(nil, req), c: c})
	s.flush()
}

// flush writes the queued answers, and the announces the bucket allows, and
// arms s.sendTimer for the rest. Answers are not paced: the tracker charges
// each to an offer it relayed to us, not to the announce rate
// (docs/tracker.md, "Limits"), and we answer only offers we can take, so
// they go at once, past an announce that waits for a token. Announces keep
// their order.
func (s *session) flush() {
	waiting := false
	for i := 0; i < len(s.outq); {
		m := s.outq[i]
		if m.tc != s.tc || m.c != nil && m.c.isClosed() {
			s.outq = slices.Delete(s.outq, i, i+1)
			s.abandon(m)
			continue
		}
		if m.c == nil && (waiting || !s.bucket.take(time.Now())) {
			waiting = true
			i++
			continue
		}
		s.outq = slices.Delete(s.outq, i, i+1)
		_ = m.tc.ws.SetWriteDeadline(time.Now().Add(writeTimeout))
		if err := m.tc.ws.WriteMessage(websocket.TextMessage, m.msg); err != nil {
			s.abandon(m)
			s.lost(m.tc, err)
			return
		}
		if m.c != nil {
			m.c.setTimeout(connectTimeout, "channel did not open")
		}
	}
	if waiting {
		s.sendTimer.Reset(max(time.Duration(float64(time.Second)/s.bucket.rate), time.Millisecond))
	}
}

// abandon drops a message that cannot be sent: an answer's connection
// cannot come.
func (s *session) abandon(m outMsg) {
	if m.c != nil {
		if s.peers[m.c.remote] == m.c {
			delete(s.peers, m.c.remote)
		}
		m.c.shutdown("answer not sent")
	}
}

// bucket is a token bucket.
type bucket struct {
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func (b *bucket) take(now time.Time) bool {
	if b.last.IsZero() {
		b.tokens = b.burst
	} else {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// request returns an announce of this peer with the fusioncast extension.
func (s *session) request(ev wire.Event) *wire.Request {
	r := &wire.Request{
		Action: wire.ActionAnnounce, InfoHash: s.cfg.InfoHash, PeerID: s.cfg.PeerID,
		Event: ev, NumWant: -1, Left: -1,
		Ext: wire.Ext{
			Present: true, Version: 1, Role: s.cfg.Role, Site: s.cfg.Site,
			MaxPeers: s.cfg.MaxPeers, UploadKbps: s.cfg.UploadKbps,
		},
	}
	if s.cfg.Stats != nil {
		st := s.cfg.Stats()
		r.Ext.Stats = &st
		r.Downloaded = max(st.HTTP+st.P2P+st.Relay, 0)
	}
	return r
}

// announce makes offers and, once their candidates are gathered, sends an
// announce carrying them. Unanswered offers are kept to at most cfg.Offers
// and to at most half the room left below cfg.MaxPeers (see offerRoom);
// offers older than staleOffer are withdrawn first.
func (s *session) announce() {
	tc := s.tc
	if tc == nil || tc.gathering {
		return
	}
	s.announceTimer.Reset(time.Duration(s.intervalNS.Load())) // the next one, unless the response names another
	ev := wire.EventNone
	if !tc.joined {
		ev = wire.EventStarted
	}
	// Offers still unanswered after staleOffer most likely went to peers
	// that ignored them: fresh ones stand a better chance.
	for c := s.oldestOffer(); c != nil && time.Since(c.created) >= staleOffer; c = s.oldestOffer() {
		s.dropOffer(c, "offer not answered")
	}
	n := min(s.cfg.Offers, offerRoom(s.cfg.MaxPeers-len(s.peers))) - len(s.pending)
	var batch []*Conn
	var gathered []<-chan struct{}
	for range n {
		c, g, err := s.makeOffer()
		if err != nil {
			s.log.Warn("cannot make an offer", "err", err)
			break
		}
		s.pending[c.offerID] = c
		batch = append(batch, c)
		gathered = append(gathered, g)
	}
	if len(batch) == 0 {
		s.sendAnnounce(tc, ev, nil)
		return
	}
	tc.gathering = true
	s.spawn(func() {
		waitGathered(gathered, s.quit)
		s.post(func() {
			tc.gathering = false
			s.sendAnnounce(tc, ev, batch)
		})
	})
}

// offerRoom returns how many of free places below MaxPeers our own offers
// may hold: half, and at least one. The other half stays for answering the
// offers of others, so that peers that all offer at once (every one
// reserving places for its offers' answers) still accept each other's.
func offerRoom(free int) int {
	return max(free/2, min(free, 1))
}

func (s *session) sendAnnounce(tc *trackerConn, ev wire.Event, batch []*Conn) {
	if s.tc != tc {
		return // lost closed the offers
	}
	req := s.request(ev)
	var sent []*Conn
	for _, c := range batch {
		if s.pending[c.offerID] != c {
			continue // closed meanwhile
		}
		sdp, err := localSDP(c)
		if err != nil {
			s.log.Warn("cannot send an offer", "err", err)
			s.dropOffer(c, "offer not sent")
			continue
		}
		req.Offers = append(req.Offers, wire.Offer{ID: c.offerID, SDP: sdp})
		sent = append(sent, c)
	}
	// The whole message must fit the tracker's limit.
	for len(req.Offers) > 0 && len(s.encode(req)) > wire.MaxMessageBytes {
		s.dropOffer(sent[len(sent)-1], "announce too large")
		sent = sent[:len(sent)-1]
		req.Offers = req.Offers[:len(sent)]
	}
	req.NumWant = len(req.Offers)
	tc.awaiting, tc.batch = true, sent
	s.log.Debug("announce", "event", ev.String(), "offers", len(req.Offers), "conns", len(s.peers), "pending", len(s.pending))
	s.send(tc, req, nil)
}

func (s *session) dropOffer(c *Conn, reason string) {
	if s.pending[c.offerID] == c {
		delete(s.pending, c.offerID)
	}
	c.shutdown(reason)
}

// handle acts on one message of the tracker.
func (s *session) handle(tc *trackerConn, r *wire.Response) {
	if s.tc != tc {
		return
	}
	if r.FailureReason != "" {
		s.refused(tc, r)
		return
	}
	if r.WarningMessage != "" {
		s.log.Warn("tracker warning", "warning", r.WarningMessage)
	}
	if r.Action != wire.ActionAnnounce || r.InfoHash != s.cfg.InfoHash {
		return // a scrape response, or another swarm
	}
	switch {
	case r.Offer != nil:
		s.offered(tc, r)
	case r.Answer != nil:
		s.answered(r)
	default:
		s.announced(tc, r)
	}
}

// refused handles a failure: on an announce of ours, the announce had no
// effect, so its offers are dropped and it is tried again after a backoff.
func (s *session) refused(tc *trackerConn, r *wire.Response) {
	if r.InfoHash != (wire.ID{}) && r.InfoHash != s.cfg.InfoHash {
		s.log.Warn("tracker failure for another swarm", "reason", r.FailureReason)
		return
	}
	d := backoff(s.failures)
	s.failures++
	s.log.Warn("tracker refused", "reason", r.FailureReason, "retry_in", d.Round(time.Millisecond))
	if tc.awaiting {
		for _, c := range tc.batch {
			s.dropOffer(c, "announce refused")
		}
		tc.awaiting, tc.batch = false, nil
	}
	if !tc.gathering {
		s.announceTimer.Reset(d)
	}
}

// announced handles an announce response: the reply to our announce, or an
// unsolicited one that changes this peer's edge status or rank.
func (s *session) announced(tc *trackerConn, r *wire.Response) {
	if r.HasExt {
		s.setEdge(r.Ext.Edge, r.Ext.EdgeRank)
	}
	if !tc.awaiting {
		return
	}
	tc.awaiting = false
	tc.joined = true
	s.failures = 0
	if r.Interval > 0 {
		d := min(max(time.Duration(r.Interval)*time.Second, minInterval), maxInterval)
		s.intervalNS.Store(int64(d))
		if !tc.gathering {
			s.announceTimer.Reset(d)
		}
	}
	// The tracker relays offer i to a different peer for i < the peers it
	// found, in order; with n peers in the swarm (this one included), the
	// offers from n-1 on went nowhere.
	if r.Complete >= 0 && r.Incomplete >= 0 {
		for i, c := range tc.batch {
			if i >= r.Complete+r.Incomplete-1 {
				s.dropOffer(c, "no peer to relay the offer to")
			}
		}
	}
	tc.batch = nil
}

// setEdge records this peer's edge status and rank, and calls cfg.OnEdge
// if they changed. A peer that is no edge fetcher has rank 0, whatever the
// tracker wrote, so that only a real change is reported.
func (s *session) setEdge(edge bool, rank int) {
	if !edge {
		rank = 0
	}
	if edge == s.edge && rank == s.edgeRank {
		return
	}
	s.edge, s.edgeRank = edge, rank
	s.log.Info("edge fetcher", "edge", edge, "rank", rank)
	if s.cfg.OnEdge != nil {
		s.cfg.OnEdge(edge, rank)
	}
}

// prefer reports whether a new connection with remote should replace the
// existing one. An open connection is kept. Of two connections being set
// up, both sides keep the one whose offerer has the smaller peer_id.
func (s *session) prefer(existing *Conn, newOfferer bool, remote wire.ID) bool {
	if existing.isOpen() || existing.offerer == newOfferer {
		return false
	}
	weAreSmaller := bytes.Compare(s.cfg.PeerID[:], remote[:]) < 0
	return newOfferer == weAreSmaller
}

// offered answers an offer relayed from another peer, if there is room.
func (s *session) offered(tc *trackerConn, r *wire.Response) {
	from := r.PeerID
	log := s.log.With("remote", from.String())
	if from == s.cfg.PeerID {
		return
	}
	if old := s.peers[from]; old != nil {
		if !s.prefer(old, false, from) {
			log.Debug("offer ignored: already connected")
			return
		}
		delete(s.peers, from)
		old.shutdown("replaced by the other side's offer")
	}
	if !s.makeRoom() {
		log.Debug("offer ignored: at MaxPeers", "max_peers", s.cfg.MaxPeers, "conns", len(s.peers), "offers", len(s.pending))
		return
	}
	c, gathered, err := s.makeAnswer(from, r.OfferID, r.Offer)
	if err != nil {
		log.Info("cannot answer offer", "err", err)
		return
	}
	s.peers[from] = c
	s.spawn(func() {
		waitGathered([]<-chan struct{}{gathered}, s.quit)
		s.post(func() { s.sendAnswer(tc, c) })
	})
}

func (s *session) sendAnswer(tc *trackerConn, c *Conn) {
	if s.peers[c.remote] != c {
		return // closed or replaced meanwhile
	}
	if s.tc != tc {
		delete(s.peers, c.remote)
		c.shutdown("tracker connection lost")
		return
	}
	sdp, err := localSDP(c)
	if err != nil {
		s.log.Warn("cannot send an answer", "err", err)
		delete(s.peers, c.remote)
		c.shutdown("answer not sent")
		return
	}
	s.send(tc, &wire.Request{
		Action: wire.ActionAnnounce, InfoHash: s.cfg.InfoHash, PeerID: s.cfg.PeerID,
		NumWant: -1, Left: -1, ToPeerID: c.remote, OfferID: c.offerID, Answer: sdp,
	}, c)
}

// answered completes one of our offers with a relayed answer.
func (s *session) answered(r *wire.Response) {
	c := s.pending[r.OfferID]
	from := r.PeerID
	if c == nil || from == s.cfg.PeerID {
		return // expired, dropped, or not ours
	}
	delete(s.pending, r.OfferID)
	log := s.log.With("remote", from.String())
	if old := s.peers[from]; old != nil {
		if !s.prefer(old, true, from) {
			log.Debug("answer dropped: already connected")
			c.shutdown("already connected")
			return
		}
		delete(s.peers, from)
		old.shutdown("replaced by our offer")
	}
	if len(s.peers) >= s.cfg.MaxPeers {
		log.Debug("answer dropped: at MaxPeers", "max_peers", s.cfg.MaxPeers)
		c.shutdown("at MaxPeers")
		return
	}
	answer, err := parseSDP(r.Answer, webrtc.SDPTypeAnswer)
	if err != nil {
		log.Info("bad answer", "err", err)
		c.shutdown("bad answer")
		return
	}
	c.setRemote(from)
	if err := c.pc.SetRemoteDescription(answer); err != nil {
		log.Info("bad answer", "err", err)
		c.shutdown("bad answer")
		return
	}
	s.peers[from] = c
	c.setTimeout(connectTimeout, "channel did not open")
}

// makeRoom reports whether a connection answering an offer fits in
// cfg.MaxPeers. Our unanswered offers count against it too, so that an
// answer to one of them always fits and is never dropped (which would leave
// the answering peer waiting for a connection that cannot come). Only
// offers older than staleOffer, which their peers most likely ignored, are
// withdrawn to make room.
func (s *session) makeRoom() bool {
	if len(s.peers) >= s.cfg.MaxPeers {
		return false
	}
	for len(s.peers)+len(s.pending) >= s.cfg.MaxPeers {
		c := s.oldestOffer()
		if time.Since(c.created) < staleOffer {
			return false
		}
		s.dropOffer(c, "withdrawn for an incoming offer")
	}
	return true
}

func (s *session) oldestOffer() *Conn {
	var oldest *Conn
	for _, c := range s.pending {
		if oldest == nil || c.created.Before(oldest.created) {
			oldest = c
		}
	}
	return oldest
}

// forget removes a closed connection from the tables.
func (s *session) forget(c *Conn) {
	if s.pending[c.offerID] == c {
		delete(s.pending, c.offerID)
	}
	if s.peers[c.remote] == c {
		delete(s.peers, c.remote)
	}
}

// encode writes req into s.buf.
func (s *session) encode(req *wire.Request) []byte {
	s.buf = wire.AppendRequest(s.buf[:0], req)
	return s.buf
}
