package sim

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"fusioncast/peer"
	"fusioncast/peer/proto"
)

// engineHighWater is the engine's default Config.HighWater: the network
// tells an engine to Pump when a link it stopped on drains to a quarter
// of it.
const engineHighWater = 256 << 10

// firstSeq is the sequence number of the first segment of the stream.
const firstSeq = 1000

// Sim is one run.
type Sim struct {
	cfg     Config
	loop    *loop
	net     *network
	rng     *rand.Rand
	tracker tracker
	origin  origin
	swarm   proto.SwarmID

	viewers []*viewer // every viewer that joined, in order
	present []*viewer // the viewers watching now

	warm, end int64 // the measured part of the run
	m         metrics
	trace     tracer
	err       error // stops the run
	progress  func(time.Duration)
}

// Run simulates cfg and returns what it measured. It stops early, with
// ctx's error, if ctx ends. progress, if set, is called every 10 s of
// virtual time.
func Run(ctx context.Context, cfg Config, progress func(simulated time.Duration)) (Result, error) {
	if err := cfg.defaults(); err != nil {
		return Result{}, err
	}
	wall := time.Now()
	s := newSim(cfg)
	s.progress = progress
	// Check ctx between slices of virtual time.
	for t := int64(0); t < s.end; {
		t = min(t+int64(time.Second), s.end)
		s.loop.runUntil(t)
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
		if s.err != nil {
			return Result{}, s.err
		}
	}
	return s.result(time.Since(wall)), nil
}

func newSim(cfg Config) *Sim {
	s := &Sim{
		cfg:   cfg,
		loop:  newLoop(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
		rng:   rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		swarm: peer.SwarmFor("sim"),
		warm:  int64(cfg.Warmup),
		end:   int64(cfg.Duration),
	}
	hw := int64(cfg.HighWater)
	if hw == 0 {
		hw = engineHighWater
	}
	s.net = &network{s: s, loop: s.loop, mode: cfg.Uplink, highWater: hw,
		scale: [2]int64{int64(cfg.SegmentBytes), int64(cfg.SegmentBytesReal)}}
	s.loop.after = s.net.flush
	s.tracker = tracker{s: s}
	s.trace = tracer{s: s, left: cfg.TraceSegment}
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], cfg.Seed)
	s.origin = origin{segs: make(map[uint32]*oseg), next: firstSeq, data: rand.NewChaCha8(seed)}

	// The stream has been running: a full window at the start.
	dur := int64(cfg.Segment)
	for i := range cfg.Window {
		s.publish(int64(i-(cfg.Window-1)) * dur)
	}
	s.loop.at(dur, fn(s.tick))
	// Joins, evenly over the ramp; churn after it.
	for i := range cfg.Viewers {
		s.loop.at(int64(cfg.Ramp)*int64(i)/int64(cfg.Viewers), fn(s.join))
	}
	if cfg.LeaveRate > 0 {
		s.loop.at(int64(cfg.Ramp), fn(s.scheduleLeave))
	}
	s.loop.at(int64(10*time.Second), fn(s.report))
	return s
}

// fail stops the run with err.
func (s *Sim) fail(err error) {
	if s.err == nil {
		s.err = err
	}
	s.loop.halted = true
}

func (s *Sim) report() {
	if s.progress != nil {
		s.progress(time.Duration(s.loop.now))
	}
	s.loop.at(s.loop.now+int64(10*time.Second), fn(s.report))
}

// tick publishes the next segment and tells every viewer, each at its own
// poll offset.
func (s *Sim) tick() {
	s.publish(s.loop.now)
	w := s.origin.window
	for _, v := range s.present {
		s.loop.at(s.loop.now+v.poll, &playlistUpdate{v: v, w: w})
	}
	s.loop.at(s.loop.now+int64(s.cfg.Segment), fn(s.tick))
}

type playlistUpdate struct {
	v *viewer
	w []peer.SegmentInfo
}

func (p *playlistUpdate) run() { p.v.onPlaylist(p.w) }

// origin holds the stream's segments: small random payloads whose
// modelled size is Config.SegmentBytes.
type origin struct {
	segs   map[uint32]*oseg
	window []peer.SegmentInfo // the live playlist (a new slice per segment)
	next   uint32
	data   *rand.ChaCha8
}

// oseg is one segment of the stream and what happened to it.
type oseg struct {
	info     peer.SegmentInfo
	data     []byte
	at       int64 // published
	measured bool
	fetches  [nReasons]int64
	wasted   int64 // HTTP copies that arrived after a peer's
	got      [3]int64
}

// Why a viewer fetched a segment over HTTP.
const (
	reasonEdge       = iota // the primary edge fetcher, a new segment
	reasonBackup            // a backup edge fetcher, a new segment
	reasonStartup           // a joining viewer's first segment
	reasonDeadline          // the player's deadline was near
	reasonNoDeadline        // no peer delivered it in PeerWait, before the player asked
	nReasons
)

var reasonNames = [nReasons]string{"edge", "backup-edge", "startup", "deadline", "no-deadline"}

func (s *Sim) publish(at int64) {
	o := &s.origin
	b := make([]byte, s.cfg.SegmentBytesReal)
	_, _ = o.data.Read(b)
	seq := o.next
	o.next++
	seg := &oseg{data: b, at: at, measured: at >= s.warm && at <= s.end-s.drain()}
	seg.info = peer.SegmentInfo{Seq: seq, Size: uint32(len(b)), SHA256: sha256.Sum256(b),
		URL: fmt.Sprintf("/live/sim/%d.ts", seq), Duration: s.cfg.Segment}
	o.segs[seq] = seg
	s.trace.published(seg)
	w := make([]peer.SegmentInfo, 0, s.cfg.Window)
	if n := len(o.window); n >= s.cfg.Window {
		w = append(w, o.window[n-s.cfg.Window+1:]...)
	} else {
		w = append(w, o.window...)
	}
	o.window = append(w, seg.info)
	// Drop the bytes of segments no engine can ask for any more (the
	// window, the engine's Keep of 12, and margin); keep their counts.
	if old := o.segs[seq-uint32(s.cfg.Window)-40]; old != nil {
		old.data = nil
	}
}

// drain is the end of the run not counted in origin copies: the segments
// published then are not delivered to every player before the end.
func (s *Sim) drain() int64 {
	return int64(s.cfg.LiveSync+2) * int64(s.cfg.Segment)
}

// join adds a viewer: it reads the playlist, the tracker pairs it with
// others and maybe names it an edge fetcher.
func (s *Sim) join() {
	cfg := &s.cfg
	v := &viewer{s: s, id: len(s.viewers), joined: s.loop.now, rank: -1, rankSet: -1, avail: -1}
	j := func() float64 { return 1 + cfg.CapacityJitter*(2*s.rng.Float64()-1) }
	up, down := cfg.Up.sample(s.rng)*j(), cfg.Down.sample(s.rng)*j()
	v.up, v.upMbps = uplink{v: v, bps: up * 1e6}, up
	v.downBps, v.downMbps = down*1e6, down
	if cfg.LatencyJitter > 0 {
		v.jit = s.rng.Int64N(int64(cfg.LatencyJitter))
	}
	v.poll = s.rng.Int64N(int64(cfg.PollJitter))
	e, err := peer.New(peer.Config{
		Swarm:      s.swarm,
		UploadKbps: uint32(min(up*1000, 1<<31)),
		// Half a second of upload, in the real bytes the engine counts.
		ServeWindow: uint64(max(up*1e6/8/2*float64(cfg.SegmentBytesReal)/float64(cfg.SegmentBytes), 1)),
		NoUpload:    up < cfg.NoUploadBelow,
		Fetch:       v.fetch,
		Clock:       s.loop,
		Chunk:       max(cfg.SegmentBytesReal/10, 1),
		// The high-water mark in the engine's real bytes, as links report
		// them (network.real).
		HighWater:   uint64(s.net.real(s.net.highWater)),
		EdgeStagger: cfg.EdgeStagger,
		PeerWait:    cfg.PeerWait,
		HTTPMargin:  cfg.HTTPMargin,
		OnSegment:   v.onSegment,
	})
	if err != nil {
		s.fail(err)
		return
	}
	v.e = e
	s.viewers = append(s.viewers, v)
	v.pidx = len(s.present)
	s.present = append(s.present, v)
	s.m.joins++
	if !cfg.HTTPOnly {
		s.tracker.add(v)
	}
	v.onPlaylist(s.origin.window)
	if !cfg.HTTPOnly {
		s.tracker.pair(v, cfg.Offers)
		s.loop.at(s.loop.now+int64(cfg.AnnounceInterval), &announce{v})
	}
}

type announce struct{ v *viewer }

func (a *announce) run() {
	v := a.v
	if v.gone {
		return
	}
	v.s.tracker.pair(v, min(v.s.cfg.Offers, v.s.cfg.MaxPeers-v.links))
	v.s.loop.at(v.s.loop.now+int64(v.s.cfg.AnnounceInterval), a)
}

// scheduleLeave draws the next departure (a Poisson process) and replaces
// the leaver with a new viewer.
func (s *Sim) scheduleLeave() {
	perS := s.cfg.LeaveRate * float64(s.cfg.Viewers) / 60
	t := s.loop.now + int64(s.rng.ExpFloat64()/perS*1e9)
	if t >= s.end {
		return
	}
	s.loop.at(t, fn(func() {
		s.leave(s.present[s.rng.IntN(len(s.present))])
		s.join()
		s.scheduleLeave()
	}))
}

func (s *Sim) leave(v *viewer) {
	now := s.loop.now
	v.finish(now)
	v.final = v.e.Stats()
	v.gone = true
	last := s.present[len(s.present)-1]
	s.present[v.pidx], last.pidx = last, v.pidx
	s.present = s.present[:len(s.present)-1]
	s.m.leaves++
	v.e.Close()
	if !s.cfg.HTTPOnly {
		s.tracker.remove(v)
	}
}

// latency returns the one-way latency between two viewers.
func (s *Sim) latency(a, b *viewer) int64 {
	return int64(s.cfg.Latency) + (a.jit+b.jit)/2
}

// viewer is one player with its engine.
type viewer struct {
	s        *Sim
	id       int
	e        *peer.Engine
	up       uplink
	upMbps   float64
	downBps  float64
	downMbps float64
	downFree int64 // when the downlink has taken what is on its way
	jit      int64 // latency jitter
	poll     int64 // playlist poll offset
	joined   int64
	gone     bool
	final    peer.Stats // at leaving

	// The tracker's view.
	rank    int // edge rank the engine was told; -1 none
	rankSet int // edge rank the tracker assigned; -1 none
	links   int // open or opening
	nbrs    []*viewer
	avail   int // index in tracker.avail, -1 if not there
	pidx    int // index in Sim.present

	oldest, newest uint32 // what its playlist lists
	recs           [64]segRec
	pl             player
}

// segRec is what a viewer knows of one segment: who sent it the last
// DATA, and at which hop from the origin it got it.
type segRec struct {
	seq  uint32
	set  bool
	got  bool
	hop  int16
	at   int64 // when the engine had it
	from *viewer
}

func (v *viewer) rec(seq uint32) *segRec {
	r := &v.recs[seq%uint32(len(v.recs))]
	if !r.set || r.seq != seq {
		*r = segRec{seq: seq, set: true}
	}
	return r
}

func (v *viewer) name() string { return "v" + strconv.Itoa(v.id) }

// timeAt returns virtual time t as the engines' clock reads it.
func (v *viewer) timeAt(t int64) time.Time { return v.s.loop.base.Add(time.Duration(t)) }

// fetch is the engine's HTTP fetch: the origin answers after its RTT and
// the transfer.
func (v *viewer) fetch(info peer.SegmentInfo, done func([]byte, error)) {
	s := v.s
	seg := s.origin.segs[info.Seq]
	if seg == nil || seg.data == nil {
		s.loop.at(s.loop.now+int64(s.cfg.OriginRTT), fn(func() { done(nil, fmt.Errorf("404 segment %d", info.Seq)) }))
		return
	}
	reason := v.httpReason(info.Seq)
	seg.fetches[reason]++
	s.trace.viewer(v, info.Seq, "HTTP "+reasonNames[reason])
	if seg.at >= s.warm && s.loop.now <= s.end {
		s.m.originBytesWindow += int64(s.cfg.SegmentBytes)
	}
	d := int64(s.cfg.OriginRTT) + txTime(int64(s.cfg.SegmentBytes), min(s.cfg.OriginMbps, v.downMbps)*1e6)
	s.loop.at(s.loop.now+d, fn(func() {
		if !v.gone {
			if _, ok := v.e.Has(info.Seq); ok {
				seg.wasted++
			}
		}
		done(seg.data, nil)
	}))
}

func (v *viewer) httpReason(seq uint32) int {
	p := &v.pl
	switch {
	case v.rank == 0 && seq == v.newest:
		return reasonEdge
	case v.rank > 0 && seq == v.newest:
		return reasonBackup
	case !p.started && seq == p.start:
		return reasonStartup
	case p.haveStart && seq >= p.cur && seq < p.nextWant:
		return reasonDeadline
	}
	return reasonNoDeadline
}

// onPlaylist gives the engine the playlist and the player's deadlines for
// the segments it has not asked for yet.
func (v *viewer) onPlaylist(w []peer.SegmentInfo) {
	if v.gone || len(w) == 0 {
		return
	}
	v.e.SetPlaylist(w)
	v.oldest, v.newest = w[0].Seq, w[len(w)-1].Seq
	p := &v.pl
	if !p.haveStart {
		back := uint32(v.s.cfg.LiveSync - 1)
		p.start = max(v.newest-back, v.oldest)
		p.cur, p.nextWant, p.haveStart = p.start, p.start, true
		p.firstDeadline = v.s.loop.now + int64(v.s.cfg.StartupBudget)
	}
	for seq := max(p.nextWant, p.cur); seq <= v.newest; seq++ {
		v.e.Want(seq, v.timeAt(v.deadline(seq)))
	}
	p.nextWant = max(p.nextWant, v.newest+1)
}

// deadline is when the playhead will reach the start of segment seq.
func (v *viewer) deadline(seq uint32) int64 {
	p := &v.pl
	dur := int64(v.s.cfg.Segment)
	switch {
	case !p.started:
		return p.firstDeadline + int64(seq-p.start)*dur
	case p.stalled:
		return v.s.loop.now + int64(seq-p.cur)*dur
	}
	return p.curAt + int64(seq-p.cur)*dur
}

// onSegment is the engine telling that it has a segment, verified.
func (v *viewer) onSegment(seq uint32, src peer.Source) {
	s := v.s
	r := v.rec(seq)
	r.got, r.at = true, s.loop.now
	if s.trace.on && seq == s.trace.seq {
		what := "copy http"
		if src == peer.SourcePeer {
			what = "copy p2p"
			if r.from != nil {
				what += " from " + r.from.name()
			}
		}
		s.trace.viewer(v, seq, what)
	}
	if src == peer.SourcePeer {
		r.hop = 1
		if f := r.from; f != nil {
			if fr := &f.recs[seq%uint32(len(f.recs))]; fr.set && fr.seq == seq && fr.got {
				r.hop = fr.hop + 1
			}
		}
	}
	if seg := s.origin.segs[seq]; seg != nil && seg.measured {
		seg.got[src]++
		s.m.arrivals = append(s.m.arrivals, float32(time.Duration(s.loop.now-seg.at).Seconds()))
		s.m.hops[min(int(r.hop), len(s.m.hops)-1)]++
	}
	if v.gone {
		return
	}
	p := &v.pl
	switch {
	case !p.started && p.haveStart && seq == p.start:
		p.started, p.startedAt = true, s.loop.now
		if v.joined >= s.warm {
			s.m.startup = append(s.m.startup, time.Duration(s.loop.now-v.joined).Seconds())
		}
		v.play(seq)
		v.rewant()
	case p.started && p.stalled && seq == p.cur:
		s.m.stall(p.stallStart, s.loop.now, s.warm, s.end)
		p.stalled = false
		v.play(seq)
		v.rewant()
	}
}

// rewant tells the engine the deadlines of the segments already asked
// for again, after playback started or resumed: they are earlier than
// the estimates it had if playback started sooner than its budget.
func (v *viewer) rewant() {
	p := &v.pl
	for seq := p.cur; seqBefore(seq, p.nextWant); seq++ {
		v.e.Want(seq, v.timeAt(v.deadline(seq)))
	}
}

// player models playback: it starts LiveSync segments behind the live
// edge when its first segment arrives, then plays in real time; a segment
// missing when the playhead reaches it is a stall until it arrives.
type player struct {
	haveStart     bool
	start         uint32 // the first segment played
	nextWant      uint32 // the next segment to tell the engine about
	firstDeadline int64

	started    bool
	startedAt  int64
	cur        uint32 // the next segment to play
	curAt      int64  // when the playhead reaches it
	stalled    bool
	stallStart int64
}

// play starts segment seq now.
func (v *viewer) play(seq uint32) {
	s := v.s
	now := s.loop.now
	if seg := s.origin.segs[seq]; seg != nil && now >= s.warm && now <= s.end {
		s.m.latency = append(s.m.latency, time.Duration(now-seg.at).Seconds())
	}
	p := &v.pl
	p.cur, p.curAt = seq+1, now+int64(s.cfg.Segment)
	s.loop.at(p.curAt, &playCheck{v: v, seq: p.cur})
}

// playCheck is the playhead reaching the start of a segment.
type playCheck struct {
	v   *viewer
	seq uint32
}

func (c *playCheck) run() {
	v := c.v
	p := &v.pl
	if v.gone || p.stalled || p.cur != c.seq {
		return
	}
	if _, ok := v.e.Has(c.seq); ok {
		v.play(c.seq)
		return
	}
	if seqBefore(c.seq, v.oldest) {
		// It left the playlist unseen: skip it, as players do.
		v.s.m.skipped++
		p.cur++
		c.seq++
		c.run()
		return
	}
	p.stalled, p.stallStart = true, v.s.loop.now
}

func seqBefore(a, b uint32) bool { return int32(a-b) < 0 }

// finish closes the viewer's accounts at now (it leaves, or the run ends).
func (v *viewer) finish(now int64) {
	s := v.s
	p := &v.pl
	if p.stalled {
		s.m.stall(p.stallStart, now, s.warm, s.end)
		p.stalled = false
	}
	if p.started {
		s.m.watch += overlap(p.startedAt, now, s.warm, s.end)
	}
}

func overlap(a, b, lo, hi int64) int64 { return max(min(b, hi)-max(a, lo), 0) }

// tracker pairs viewers and names edge fetchers, as docs/tracker.md
// describes ("Pairing and locality", "Edge fetchers"), without sites.
type tracker struct {
	s     *Sim
	order []*viewer // by join time
	head  int       // order[:head] have all left
	avail []*viewer // present viewers with fewer than MaxPeers links
}

func (t *tracker) add(v *viewer) {
	t.order = append(t.order, v)
	t.setAvail(v)
	t.edges(v)
}

func (t *tracker) remove(v *viewer) {
	t.setAvail(v)
	if v.rankSet >= 0 {
		t.edges(nil)
	}
}

// edges names the oldest viewers edge fetchers, in order of age. The
// joiner learns its rank in its announce response, the others in an
// unsolicited one, TrackerDelay later.
func (t *tracker) edges(joiner *viewer) {
	rank := 0
	for i := t.head; i < len(t.order) && rank < t.s.cfg.EdgeFetchers; i++ {
		v := t.order[i]
		if v.gone {
			if i == t.head {
				t.head++
			}
			continue
		}
		if v.rankSet != rank {
			v.rankSet = rank
			if v == joiner {
				v.applyRank()
			} else {
				t.s.loop.at(t.s.loop.now+int64(t.s.cfg.TrackerDelay), fn(v.applyRank))
			}
		}
		rank++
	}
}

func (v *viewer) applyRank() {
	if v.gone || v.rank == v.rankSet {
		return
	}
	v.rank = v.rankSet
	v.e.SetEdge(true, v.rank)
}

// setAvail puts v in or out of the viewers offered to others.
func (t *tracker) setAvail(v *viewer) {
	in := !v.gone && v.links < t.s.cfg.MaxPeers
	switch {
	case in && v.avail < 0:
		v.avail = len(t.avail)
		t.avail = append(t.avail, v)
	case !in && v.avail >= 0:
		last := t.avail[len(t.avail)-1]
		t.avail[v.avail], last.avail = last, v.avail
		t.avail = t.avail[:len(t.avail)-1]
		v.avail = -1
	}
}

// pair finds v up to want new peers at random among those with room.
func (t *tracker) pair(v *viewer, want int) {
	s := t.s
	for tries := 0; want > 0 && tries < 4*want+8 && len(t.avail) > 0 && v.links < s.cfg.MaxPeers; tries++ {
		c := t.avail[s.rng.IntN(len(t.avail))]
		if c == v || slices.Contains(v.nbrs, c) {
			continue
		}
		want--
		t.linkUp(v, c)
		lat := s.latency(v, c)
		s.loop.at(s.loop.now+int64(s.cfg.ConnectDelay)+4*lat, fn(func() {
			if v.gone || c.gone {
				t.linkDown(v, c)
				return
			}
			s.net.connect(v, c, lat)
		}))
	}
}

func (t *tracker) linkUp(a, b *viewer) {
	a.links++
	b.links++
	a.nbrs = append(a.nbrs, b)
	b.nbrs = append(b.nbrs, a)
	t.setAvail(a)
	t.setAvail(b)
}

// linkDown forgets a link between a and b (closed, or never opened).
func (t *tracker) linkDown(a, b *viewer) {
	for _, x := range [2][2]*viewer{{a, b}, {b, a}} {
		v, o := x[0], x[1]
		if i := slices.Index(v.nbrs, o); i >= 0 {
			v.nbrs = slices.Delete(v.nbrs, i, i+1)
			v.links--
			t.setAvail(v)
		}
	}
}
