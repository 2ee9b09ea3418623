package peer

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"time"

	"fusioncast/peer/proto"
)

// Source says where a segment's bytes came from.
type Source uint8

// Sources.
const (
	SourceNone Source = iota
	SourceHTTP        // the origin (or a cache in front of it)
	SourcePeer        // another peer, over a data channel
	// SourcePut: handed to [Engine.Put] by the caller, who got and verified
	// it elsewhere (a relay agent's multicast receiver). Neither HTTP nor
	// peer: counting it as either would report origin egress or peer
	// traffic that never happened.
	SourcePut
	// SourceRelay: from relay agents (HELLO role relay) over data channels,
	// every byte; a segment partly from other peers is SourcePeer.
	SourceRelay
)

func (s Source) String() string {
	switch s {
	case SourceHTTP:
		return "http"
	case SourcePeer:
		return "p2p"
	case SourcePut:
		return "put"
	case SourceRelay:
		return "relay"
	}
	return "none"
}

// SegmentInfo is what the playlist says of one segment: the engine shares
// and accepts only bytes whose size and SHA-256 match it.
type SegmentInfo struct {
	Seq      uint32
	Size     uint32
	SHA256   [sha256.Size]byte
	URL      string // where to fetch it over HTTP
	Duration time.Duration
}

// Link is an open data channel to another peer (peer/rtc in players, a
// simulated one in tests and `fusioncast simulate`). Send must not block on
// the network; the engine keeps BufferedAmount under Config.HighWater.
type Link interface {
	Send(b []byte) error
	BufferedAmount() uint64
	Close() error
}

// Fetcher fetches a segment over HTTP. It calls done exactly once, from any
// goroutine (it may block: the engine calls it through the Clock), with the
// body or an error.
type Fetcher func(seg SegmentInfo, done func(b []byte, err error))

// Config configures an [Engine]. Zero fields take the stated defaults.
type Config struct {
	Swarm      proto.SwarmID
	Role       proto.Role
	UploadKbps uint32
	// NoUpload makes the engine serve nothing (it still receives).
	NoUpload bool
	// NoDownload makes the engine a pure seed, as a relay agent is: it
	// never requests segments from peers (HELLOs and HAVEs only tell it
	// who has what), never fetches over HTTP and is never an edge fetcher
	// (SetEdge is ignored); its segments come from [Engine.Put]. Fetch may
	// then be nil. Unless ServeWindow is set, it accepts every request (16
	// per peer): its viewers have no better holder to turn to, and one
	// sent away busy would end up at the origin, which the relay is there
	// to spare.
	NoDownload bool
	Fetch      Fetcher
	// Clock is the engine's time. If nil, the wall clock.
	Clock Clock
	// Keep is how many segments older than the playlist window stay
	// servable after they leave it. If zero, 12.
	Keep int
	// Chunk is the payload of each DATA message. If zero, 16 KiB.
	Chunk int
	// HighWater bounds a link's buffered bytes: the engine sends DATA
	// only below it. If zero, 256 KiB.
	HighWater uint64
	// LowWater: the engine starts sending DATA on another link only once
	// the link it sent DATA on last holds at most this, so that one
	// request is served at a time. Links should call [Engine.Pump] when
	// their buffered amount falls to it. If zero, HighWater / 4.
	LowWater uint64
	// ServeLinks is how many links the engine sends DATA to at once. If
	// zero, 1: one request at a time (see [Engine.Pump]), so that each
	// requester gets its copy as early as the upload allows and shares it
	// in turn; and 16 with NoDownload, for a relay, whose viewers take
	// their copies from it directly: one association at a time leaves
	// the relay waiting on each one's congestion window, several keep its
	// upload busy (docs/benchmarks.md, "Relay: WebRTC viewers seeded per
	// core").
	ServeLinks int
	// ServeWindow bounds the bytes of accepted requests not yet sent: a
	// request beyond it is answered ABSENT busy (one is always accepted),
	// so requesters go to holders with time to spare instead of sharing a
	// slow one. If zero, half a second of UploadKbps, or 1 MiB when the
	// upload is unknown.
	ServeWindow uint64
	// EdgeStagger: an edge fetcher of rank r (r ≥ 1, a backup) fetches a
	// new segment over HTTP only if no peer has announced it r × EdgeStagger
	// after it appeared. If zero, 1 s.
	EdgeStagger time.Duration
	// PeerWait is how long a viewer that is not an edge fetcher waits for
	// a new segment from peers before fetching it over HTTP, when no
	// player has said when it needs it. If zero, one segment duration.
	PeerWait time.Duration
	// HTTPMargin is how long before a player's deadline the engine gives
	// up on peers and fetches over HTTP: at least this, and at least three
	// times the HTTP fetches' recent average. If zero, 0.5 s.
	HTTPMargin time.Duration
	// HelloTimeout: a peer that sends no HELLO this long after its link
	// was added is dropped (BYE timeout). If zero, 10 s.
	HelloTimeout time.Duration
	// PingIdle and PingBusy: a PING goes to each peer this long after the
	// last one, PingBusy while requests are outstanding either way. The
	// PONG gives the peer's round-trip time. If zero, 5 s and 1 s.
	PingIdle, PingBusy time.Duration
	// PongTimeout: a peer that leaves a PING unanswered this long is
	// dropped (BYE timeout). If zero, 30 s.
	PongTimeout time.Duration
	// StallMin: a request that has received nothing for max(StallMin,
	// 3 × the peer's round-trip time) moves to another holder, if one is
	// free. If zero, 1 s.
	StallMin time.Duration
	// OnSegment, if set, is told of every segment the engine completes
	// (verified), and where from; it runs on a goroutine of the Clock.
	OnSegment func(seq uint32, src Source)
	// OnBadPeer is told of a peer that sent bytes failing verification
	// (or broke the protocol); the engine has dropped it. May be nil.
	OnBadPeer func(p *Peer, why string)
	Logger    *slog.Logger
}

func (c *Config) defaults() error {
	if c.Fetch == nil && !c.NoDownload {
		return errors.New("peer: Config.Fetch is required")
	}
	if c.Clock == nil {
		c.Clock = RealClock{}
	}
	if c.Keep <= 0 {
		c.Keep = 12
	}
	if c.Chunk <= 0 || c.Chunk > proto.MaxPayload {
		c.Chunk = 16 << 10
	}
	if c.HighWater == 0 {
		c.HighWater = 256 << 10
	}
	if c.LowWater == 0 || c.LowWater > c.HighWater {
		c.LowWater = c.HighWater / 4
	}
	if c.ServeLinks <= 0 {
		c.ServeLinks = 1
		if c.NoDownload {
			c.ServeLinks = 16
		}
	}
	if c.ServeWindow == 0 && c.NoDownload {
		c.ServeWindow = math.MaxUint64
	}
	if c.ServeWindow == 0 {
		c.ServeWindow = 1 << 20
		if c.UploadKbps > 0 {
			c.ServeWindow = max(uint64(c.UploadKbps)*1000/8/2, 64<<10)
		}
	}
	if c.EdgeStagger <= 0 {
		c.EdgeStagger = time.Second
	}
	if c.HTTPMargin <= 0 {
		c.HTTPMargin = 500 * time.Millisecond
	}
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{{&c.HelloTimeout, 10 * time.Second}, {&c.PingIdle, 5 * time.Second}, {&c.PingBusy, time.Second},
		{&c.PongTimeout, 30 * time.Second}, {&c.StallMin, time.Second}} {
		if *d.v <= 0 {
			*d.v = d.def
		}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Stats are an engine's counters since it started.
type Stats struct {
	BytesHTTP     int64 // segment bytes fetched over HTTP (including copies a peer beat)
	BytesP2P      int64 // verified segment bytes received from peers
	BytesRelay    int64 // the part of BytesP2P that came from relay agents (HELLO role relay)
	BytesPut      int64 // segment bytes added with Put
	BytesUp       int64 // DATA payload bytes sent to peers
	SegmentsHTTP  int64
	SegmentsP2P   int64
	SegmentsPut   int64
	BadData       int64 // segments from peers that failed verification
	HTTPErrors    int64
	ProtocolDrops int64 // peers dropped for breaking the protocol
	Peers         int   // open links now
}

// Engine shares the segments of one stream with other peers: it learns
// what they have, fetches what the player will need from them, falls back
// to HTTP in time for the player's deadline, verifies every segment
// against the playlist before using or sharing it, and serves what it has.
// All methods are safe for concurrent use.
type Engine struct {
	cfg Config

	mu     sync.Mutex
	segs   map[uint32]*segment
	window []uint32 // the playlist's sequence numbers, oldest first
	newest uint32
	hasAny bool
	peers  map[*Peer]struct{}
	edge   bool
	rank   int
	stats  Stats
	closed bool

	order     []serveRef    // accepted requests, served one after another
	pumpTimer bool          // a retry of pump is scheduled
	ticking   bool          // maintain is scheduled
	serving   []*Peer       // links that got DATA and have not drained to LowWater (at most ServeLinks)
	lastSent  *Peer         // the link that got DATA last
	httpAvg   time.Duration // moving average of HTTP fetch times
	sendBuf   []byte        // messages to SendCopier links are encoded here
	nextPeer  uint64
}

// serveRef names an accepted request in the engine's serving order.
type serveRef struct {
	p  *Peer
	id uint32
}

// segment is one segment the engine knows of.
type segment struct {
	info  SegmentInfo
	hash8 proto.Hash8
	seen  time.Time // when it first appeared in the playlist
	inPL  bool      // in the current playlist window

	data   []byte // verified bytes
	source Source

	// Fetching from a peer: a whole-segment request, resumed elsewhere
	// from got when the peer goes.
	buf        []byte
	got        uint32
	from       *Peer
	reqID      uint32
	progressAt time.Time // when the request went, or its last DATA came
	contrib    []contribution
	suspect    *suspectCopy // a bad copy from several peers, to judge

	httpBusy bool
	deadline time.Time // when a player needs it; zero if not asked
	timer    Timer     // the next decision: HTTP fallback or backup edge fetch
	timerAt  time.Time
	peerWait bool // the timer is a wait for peers that a player's deadline replaces
	waiters  []chan struct{}
}

// New returns an engine; it does nothing until it gets a playlist and
// links.
func New(cfg Config) (*Engine, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	return &Engine{cfg: cfg, segs: make(map[uint32]*segment), peers: make(map[*Peer]struct{})}, nil
}

// Close stops every timer, closes every link and fails pending Gets.
func (e *Engine) Close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return
	}
	e.closed = true
	for p := range e.peers {
		e.dropLocked(p, proto.ByeClosing, "engine closed")
	}
	for _, s := range e.segs {
		if s.timer != nil {
			s.timer.Stop()
		}
		s.wake()
	}
}

// Stats returns the engine's counters.
func (e *Engine) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := e.stats
	st.Peers = len(e.peers)
	return st
}

// SetEdge makes the engine an edge fetcher of the given rank (0 is the
// primary), or not. The tracker decides (peer/rtc Config.OnEdge). An
// engine with Config.NoDownload fetches nothing and ignores it (the
// tracker never names a relay anyway).
func (e *Engine) SetEdge(edge bool, rank int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cfg.NoDownload {
		if edge {
			e.cfg.Logger.Debug("edge role ignored: the engine does not download")
		}
		return
	}
	if e.edge == edge && e.rank == rank {
		return
	}
	e.edge, e.rank = edge, rank
	st := proto.Status{Flags: e.flags(), UploadKbps: e.cfg.UploadKbps}
	for p := range e.peers {
		if p.helloSent {
			p.send(st)
		}
	}
	// A new primary fetches what nobody has yet at once (unless a relay
	// brings it: see schedule).
	if edge && rank == 0 && !e.hasRelay() {
		for _, seq := range e.window {
			if s := e.segs[seq]; s.data == nil && s.from == nil && !s.httpBusy && seq == e.newest {
				e.startHTTP(s)
			}
		}
	}
}

func (e *Engine) flags() proto.Flags {
	var f proto.Flags
	if e.edge {
		f |= proto.FlagEdge
	}
	if e.cfg.NoUpload {
		f |= proto.FlagNoUpload
	}
	return f
}

// staleSegments: a playlist whose newest segment is fewer than this many
// behind the newest the engine has seen is an older copy and ignored;
// further behind, the stream restarted with other numbers.
const staleSegments = 64

// SetPlaylist gives the engine the playlist's current window, oldest
// first. A window older than one seen already is ignored. New segments are scheduled: an edge fetcher fetches the newest at
// once, the others wait for peers (PeerWait, or until a player's deadline
// nears) and then fetch over HTTP.
func (e *Engine) SetPlaylist(window []SegmentInfo) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return
	}
	if len(window) == 0 {
		return
	}
	if last := window[len(window)-1].Seq; e.hasAny && seqAfter(e.newest, last) {
		if e.newest-last < staleSegments {
			return // an older copy of the playlist (two sources, or a cache)
		}
		e.hasAny = false // far behind: the stream restarted with other numbers
	}
	now := e.cfg.Clock.Now()
	inPL := make(map[uint32]bool, len(window))
	e.window = e.window[:0]
	for _, info := range window {
		inPL[info.Seq] = true
		e.window = append(e.window, info.Seq)
		s := e.segs[info.Seq]
		if s != nil && (s.info.SHA256 != info.SHA256 || s.info.Size != info.Size) {
			// Another version of this sequence number: forget ours.
			e.forget(s)
			s = nil
		}
		if s != nil {
			s.inPL = true
			continue
		}
		s = &segment{info: info, hash8: proto.Hash8Of(info.SHA256), seen: now, inPL: true}
		e.segs[info.Seq] = s
		isNew := !e.hasAny || seqAfter(info.Seq, e.newest)
		if isNew {
			e.newest, e.hasAny = info.Seq, true
		}
		e.schedule(s, isNew && info.Seq == window[len(window)-1].Seq)
	}
	for seq, s := range e.segs {
		if !inPL[seq] {
			s.inPL = false
		}
	}
	e.trimOld()
}

// trimOld keeps the Keep newest of the segments outside the playlist
// window (those that left it, and those Put before a playlist lists them)
// and forgets the others: they stay servable for a while after they leave.
func (e *Engine) trimOld() {
	var old []uint32
	for seq, s := range e.segs {
		if !s.inPL {
			old = append(old, seq)
		}
	}
	slices.SortFunc(old, func(a, b uint32) int { return int(int32(a - b)) })
	for len(old) > e.cfg.Keep {
		e.forget(e.segs[old[0]])
		old = old[1:]
	}
}

// Put adds a segment that the caller got and verified elsewhere (a relay
// agent's multicast receiver). The engine checks its size and SHA-256
// against info again and refuses it, storing nothing, when they differ.
// Otherwise it holds the segment as if it had downloaded it (source
// [SourcePut]): pending Gets return, every peer gets a HAVE, requests for
// it are served. The engine keeps data: the caller must not change it.
//
// The segment need not be in the playlist window the engine was given: a
// relay may receive a segment before the playlist that lists it. Until a
// playlist lists it, it counts with the segments that left the window, of
// which the engine keeps the Keep newest; Put refuses a segment older
// than all of those. A Put for a sequence number the engine knows with
// another size or hash replaces that version, as a playlist naming
// another version does: the latest word wins. A segment the engine holds
// already is left as it is.
func (e *Engine) Put(info SegmentInfo, data []byte) error {
	switch {
	case info.Size == 0:
		return fmt.Errorf("peer: Put of segment %d: size 0", info.Seq)
	case len(data) != int(info.Size):
		return fmt.Errorf("peer: Put of segment %d: %d bytes, its info says %d", info.Seq, len(data), info.Size)
	case sha256.Sum256(data) != info.SHA256:
		return fmt.Errorf("peer: Put of segment %d: SHA-256 does not match its info", info.Seq)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return errors.New("peer: Put on a closed engine")
	}
	s := e.segs[info.Seq]
	if s != nil && (s.info.SHA256 != info.SHA256 || s.info.Size != info.Size) {
		e.forget(s)
		s = nil
	}
	if s == nil {
		s = &segment{info: info, hash8: proto.Hash8Of(info.SHA256), seen: e.cfg.Clock.Now()}
		e.segs[info.Seq] = s
		e.trimOld()
		if e.segs[info.Seq] != s {
			return fmt.Errorf("peer: Put of segment %d: older than the %d segments kept outside the playlist window", info.Seq, e.cfg.Keep)
		}
		// A later playlist that does not list it yet is an older copy
		// (SetPlaylist ignores those).
		if !e.hasAny || seqAfter(info.Seq, e.newest) {
			e.newest, e.hasAny = info.Seq, true
		}
	}
	if s.data != nil {
		return nil
	}
	e.stats.BytesPut += int64(len(data))
	e.stats.SegmentsPut++
	e.complete(s, data, SourcePut)
	return nil
}

// schedule decides how a segment new to the engine will be fetched. The
// newest segment of a running stream follows the edge rules; older ones
// (the window an engine sees when it joins) are only asked of peers that
// have them, and fetched over HTTP only once a player wants them.
func (e *Engine) schedule(s *segment, newest bool) {
	if e.cfg.NoDownload {
		return // its segments come from Put
	}
	// A relay agent among the peers brings each segment by multicast: an
	// edge fetcher then waits for it like a backup one rank further back,
	// so that the origin sends nothing by unicast to the relay's LAN while
	// the relay delivers.
	rank := e.rank
	if e.hasRelay() {
		rank++
	}
	switch {
	case !newest:
	case e.edge && rank == 0:
		e.startHTTP(s)
		return
	case e.edge:
		e.setTimer(s, time.Duration(rank)*e.cfg.EdgeStagger)
	default:
		wait := e.cfg.PeerWait
		if wait <= 0 {
			wait = max(s.info.Duration, time.Second)
		}
		e.setTimer(s, wait)
		s.peerWait = true
	}
	e.want(s)
}

// hasRelay reports whether a relay agent is among the peers.
func (e *Engine) hasRelay() bool {
	for p := range e.peers {
		if p.helloRecv && p.role == proto.RoleRelay {
			return true
		}
	}
	return false
}

// setTimer arranges for decide(s) after d, replacing an earlier timer.
func (e *Engine) setTimer(s *segment, d time.Duration) {
	if s.timer != nil {
		s.timer.Stop()
	}
	s.timerAt, s.peerWait = e.cfg.Clock.Now().Add(max(d, 0)), false
	s.timer = e.cfg.Clock.AfterFunc(max(d, 0), func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.segs[s.info.Seq] == s && !e.closed {
			s.timer = nil
			e.decide(s)
		}
	})
}

// decide runs when a segment's wait is over: if no peer is delivering it,
// fetch it over HTTP.
func (e *Engine) decide(s *segment) {
	if s.data != nil || s.httpBusy {
		return
	}
	if at := s.deadline.Add(-e.margin()); s.from != nil && !s.deadline.IsZero() && e.cfg.Clock.Now().Before(at) {
		e.setTimer(s, at.Sub(e.cfg.Clock.Now())) // a peer is on it and there is time
		return
	}
	if s.from != nil && s.deadline.IsZero() {
		// A peer is on it and no player waits yet: give it until the
		// margin of a deadline one duration away.
		e.setTimer(s, max(s.info.Duration, time.Second))
		s.peerWait = true
		return
	}
	e.startHTTP(s)
}

// forget drops a segment entirely.
func (e *Engine) forget(s *segment) {
	if s.timer != nil {
		s.timer.Stop()
	}
	if s.from != nil {
		s.from.cancel(s)
	}
	delete(e.segs, s.info.Seq)
	s.wake()
}

func (s *segment) wake() {
	for _, w := range s.waiters {
		close(w)
	}
	s.waiters = nil
}

// Get returns the segment's bytes once it has them, verified, fetching
// them from peers or over HTTP in time for deadline (when the player will
// need them; zero: no deadline known). It fails if the segment leaves the
// engine, the engine closes or ctx ends.
func (e *Engine) Get(ctx context.Context, seq uint32, deadline time.Time) ([]byte, Source, error) {
	e.mu.Lock()
	s := e.segs[seq]
	if s == nil {
		e.mu.Unlock()
		return nil, SourceNone, fmt.Errorf("peer: segment %d is not in the playlist", seq)
	}
	if s.data != nil {
		e.mu.Unlock()
		return s.data, s.source, nil
	}
	e.wantBy(s, deadline)
	w := make(chan struct{})
	s.waiters = append(s.waiters, w)
	e.mu.Unlock()
	select {
	case <-w:
	case <-ctx.Done():
		return nil, SourceNone, ctx.Err()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if s.data == nil {
		return nil, SourceNone, fmt.Errorf("peer: segment %d dropped before it arrived", seq)
	}
	return s.data, s.source, nil
}

// Want tells the engine that a player needs segment seq by deadline,
// without waiting for it (see [Engine.Get]; Config.OnSegment tells when it
// arrives). It reports whether the segment is in the engine.
func (e *Engine) Want(seq uint32, deadline time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.segs[seq]
	if s == nil {
		return false
	}
	e.wantBy(s, deadline)
	return true
}

// Has returns where the segment came from, if the engine has it.
func (e *Engine) Has(seq uint32) (Source, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if s := e.segs[seq]; s != nil && s.data != nil {
		return s.source, true
	}
	return SourceNone, false
}

// wantBy moves s's HTTP fallback before deadline if it is earlier than the
// one known.
func (e *Engine) wantBy(s *segment, deadline time.Time) {
	if e.cfg.NoDownload || s.data != nil || deadline.IsZero() || (!s.deadline.IsZero() && !deadline.Before(s.deadline)) {
		return
	}
	s.deadline = deadline
	at := deadline.Add(-e.margin())
	// The deadline replaces a wait for peers, which only stands in for
	// it, but keeps an earlier decision (a backup edge fetcher's stagger).
	if !s.httpBusy && (s.timer == nil || s.peerWait || at.Before(s.timerAt)) {
		e.setTimer(s, at.Sub(e.cfg.Clock.Now()))
	}
}

// margin is how long before a deadline to fall back to HTTP.
func (e *Engine) margin() time.Duration {
	return max(e.cfg.HTTPMargin, 3*e.httpAvg)
}

// startHTTP fetches s over HTTP.
func (e *Engine) startHTTP(s *segment) {
	if e.cfg.NoDownload || s.httpBusy || s.data != nil {
		return
	}
	s.httpBusy = true
	info := s.info
	// Through the clock, not a goroutine of ours: a simulation then runs
	// the fetch as one of its events.
	start := e.cfg.Clock.Now()
	e.cfg.Clock.AfterFunc(0, func() { e.cfg.Fetch(info, e.fetched(s, info, start)) })
}

// fetched returns the completion of an HTTP fetch of s.
func (e *Engine) fetched(s *segment, info SegmentInfo, start time.Time) func([]byte, error) {
	return func(b []byte, err error) {
		e.mu.Lock()
		defer e.mu.Unlock()
		s.httpBusy = false
		if err == nil {
			if d := e.cfg.Clock.Now().Sub(start); e.httpAvg == 0 {
				e.httpAvg = d
			} else {
				e.httpAvg = (3*e.httpAvg + d) / 4
			}
			e.stats.BytesHTTP += int64(len(b)) // origin egress, even if a peer was faster
		}
		if e.closed || e.segs[info.Seq] != s || s.data != nil {
			return
		}
		if err == nil && (len(b) != int(info.Size) || sha256.Sum256(b) != info.SHA256) {
			err = fmt.Errorf("segment %d from HTTP does not match the playlist", info.Seq)
		}
		if err != nil {
			e.stats.HTTPErrors++
			e.cfg.Logger.Warn("HTTP fetch failed", "seq", info.Seq, "err", err)
			e.setTimer(s, 500*time.Millisecond) // try again (or a peer has it by then)
			return
		}
		e.stats.SegmentsHTTP++
		e.complete(s, b, SourceHTTP)
	}
}

// complete stores verified bytes, tells the peers and wakes the waiters.
func (e *Engine) complete(s *segment, b []byte, src Source) {
	s.data, s.source, s.buf, s.contrib = b, src, nil, nil
	if s.suspect != nil {
		e.judge(s, b)
	}
	if s.from != nil {
		s.from.cancel(s)
	}
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	have := proto.Have{Seq: s.info.Seq, Size: s.info.Size, Hash8: s.hash8}
	for p := range e.peers {
		if p.helloSent {
			p.send(have)
		}
	}
	s.wake()
	if f := e.cfg.OnSegment; f != nil {
		seq := s.info.Seq
		e.cfg.Clock.AfterFunc(0, func() { f(seq, src) })
	}
}

// want asks a peer for s if one has it and the engine needs it.
func (e *Engine) want(s *segment) {
	if e.cfg.NoDownload || s.data != nil || s.from != nil || s.httpBusy || !s.inPL {
		return
	}
	if best := e.bestHolder(s, nil); best != nil {
		best.request(s)
	}
}

// bestHolder returns the best peer to ask for s other than not: one that
// announced it, has room for a request and did not answer busy lately.
func (e *Engine) bestHolder(s *segment, not *Peer) *Peer {
	var best *Peer
	now := e.cfg.Clock.Now()
	for p := range e.peers {
		if p == not || !p.helloRecv || p.has[s.info.Seq] != s.hash8 || len(p.out) >= proto.MaxOutstanding || p.busyUntil.After(now) {
			continue
		}
		if best == nil || p.better(best) {
			best = p
		}
	}
	return best
}

// seqAfter reports whether a comes after b in sequence-number order
// (modulo 2³²).
func seqAfter(a, b uint32) bool { return int32(a-b) > 0 }

// SwarmFor returns the swarm (the tracker's info_hash) of a stream: the
// first 20 bytes of SHA-256("fusioncast:" + stream name). Browser and Go
// peers of one stream compute the same one (docs/protocol.md, "Swarms").
func SwarmFor(stream string) proto.SwarmID {
	sum := sha256.Sum256([]byte("fusioncast:" + stream))
	return proto.SwarmID(sum[:20])
}
