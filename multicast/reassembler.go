package multicast

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of [ReassemblerConfig].
const (
	DefaultMaxObjects     = 64
	DefaultMaxBytes       = 64 << 20
	DefaultMaxAge         = 10 * time.Second
	DefaultLastPacketWait = 200 * time.Millisecond
	DefaultStaleWindow    = 1024
	DefaultRepairs        = 4
	DefaultRepairTimeout  = 10 * time.Second
	DefaultTick           = 100 * time.Millisecond
)

// ReassemblerConfig configures a [Reassembler]. The zero value of each
// field but PublicKey and Deliver means the stated default.
type ReassemblerConfig struct {
	// Stream is the stream's name; the reassembler accepts only its SSRC.
	Stream string
	// SSRC is used instead of the one derived from Stream when Stream is
	// empty.
	SSRC uint32
	// PublicKey verifies INFO signatures. Required.
	PublicKey ed25519.PublicKey
	// Deliver receives each verified object, in completion order (not id
	// order: a repaired object comes after later ones). It is never called
	// concurrently and must not call Add. Required.
	Deliver func(Received)
	// Repair fetches what multicast did not bring (see [RepairFunc]). If
	// nil, objects that need repair are counted as failed repairs.
	Repair RepairFunc

	// MaxObjects bounds the objects being assembled; a new one evicts the
	// oldest. It also bounds how far ahead of the newest verified object
	// id an unverified packet may be. If zero, 64.
	MaxObjects int
	// MaxBytes bounds the bytes held: symbol buffers of the objects being
	// assembled and of timed-out objects waiting for repair. Objects are
	// evicted, oldest first, to stay within it; larger objects are
	// dropped. If zero, 64 MiB.
	MaxBytes int
	// MaxAge is how long after its first packet an incomplete object goes
	// to repair, and how long after the next id arrived a skipped id does.
	// If zero, 10 s.
	MaxAge time.Duration
	// LastPacketWait is how long an incomplete object waits for stragglers
	// after its last packet (the INFO with the RTP marker bit) before it
	// goes to repair, which is usually much earlier than MaxAge. If zero,
	// 200 ms.
	LastPacketWait time.Duration
	// StaleWindow: packets of object ids more than this far behind the
	// newest verified id are dropped as stale (replays). If zero, 1024.
	StaleWindow int
	// MaxGap: when the newest verified id jumps ahead by more than this
	// (an origin restart, a long outage), the skipped ids are not repaired.
	// If zero, MaxObjects.
	MaxGap int
	// Repairs bounds the repairs running at once. If zero, 4.
	Repairs int
	// RepairQueue bounds the repairs waiting to run; when full, the oldest
	// waiting one fails. If zero, MaxObjects.
	RepairQueue int
	// RepairTimeout bounds one call of Repair. If zero, 10 s.
	RepairTimeout time.Duration
	// Clock tells [Reassembler.Run] the time. If nil, time.Now.
	Clock func() time.Time
	// Tick is how often Run calls Expire. If zero, 100 ms.
	Tick time.Duration
	// Logger logs failed repairs. If nil, nothing is logged.
	Logger *slog.Logger
}

// Via says how an object completed.
type Via uint8

// The ways an object completes.
const (
	ViaData   Via = iota + 1 // every data symbol arrived
	ViaFEC                   // Reed-Solomon rebuilt lost data symbols
	ViaRepair                // the repair function supplied bytes
)

func (v Via) String() string {
	switch v {
	case ViaData:
		return "data"
	case ViaFEC:
		return "fec"
	case ViaRepair:
		return "repair"
	}
	return "via(" + itoa(int(v)) + ")"
}

// Received is a verified object: Data hashes to Info.SHA256, and Info's
// signature verified.
type Received struct {
	Info Info
	// Data is the object's bytes. The receiver of the value owns it.
	Data []byte
	// Via says how the object completed.
	Via Via
	// Rebuilt is the number of data symbols Reed-Solomon rebuilt.
	Rebuilt int
	// First is when the object's first packet arrived (or its repair
	// started, for an id never seen).
	First time.Time
}

// ReassemblerStats is a snapshot of a [Reassembler]'s counters (totals
// since it was made) and gauges.
type ReassemblerStats struct {
	// Packets and Bytes count everything given to Add.
	Packets, Bytes uint64
	// Dropped counts dropped packets by reason: malformed ones
	// ([DropReason.Malformed]), other streams' (DropSSRC), forged INFOs
	// (DropForged), replays (DropStale), and so on.
	Dropped [NumDropReasons]uint64
	// Lost counts packets missing from the RTP sequence numbers (late
	// arrivals are taken back).
	Lost uint64

	// Delivered counts objects delivered: Complete with every data symbol
	// received, FECObjects with some rebuilt, Repaired through repair.
	Delivered, Complete, FECObjects, Repaired uint64
	// FECSymbols counts data symbols rebuilt by Reed-Solomon.
	FECSymbols uint64
	// Repairs counts calls of the repair function, RepairFailures the
	// repairs that did not deliver the object (errors, bytes that do not
	// verify, a full queue, no repair function).
	Repairs, RepairFailures uint64
	// Corrupt counts objects whose assembled bytes did not match their
	// INFO's digest (forged or damaged symbols); they go to repair whole.
	Corrupt uint64
	// Evicted counts objects evicted to stay within MaxObjects and
	// MaxBytes, or left behind by the stale window.
	Evicted uint64
	// Gaps counts object ids never seen that were sent to repair.
	Gaps uint64
	// Resyncs counts jumps of the object id beyond MaxGap.
	Resyncs uint64
	// Unconfirmed counts objects without a verified INFO dropped because no
	// later verified id showed that they exist (see docs/multicast.md).
	Unconfirmed uint64

	// InFlight and InFlightBytes are the objects being assembled and the
	// bytes held; RepairsQueued and RepairsActive the repairs waiting and
	// running.
	InFlight, InFlightBytes, RepairsQueued, RepairsActive int
}

// Reassembler turns the packets of one stream back into verified objects
// (docs/multicast.md, "Receiving"). Add and Expire may be called from any
// goroutine; [Reassembler.Run] runs the repairs and calls Expire on a
// timer.
type Reassembler struct {
	cfg  ReassemblerConfig
	ssrc uint32
	log  *slog.Logger

	deliverMu sync.Mutex // serializes Deliver
	running   atomic.Bool
	wake      chan struct{} // a repair was queued or finished

	mu         sync.Mutex
	st         ReassemblerStats
	lost       int64
	seq        seqTracker
	objs       []*object // being assembled, oldest first
	seen       map[uint32]*entry
	haveNewest bool
	newest     uint32 // the newest verified object id
	floor      uint32 // every id up to floor (back to the stale window) was seen
	bytes      int    // bytes held (objects and queued repairs)
	queue      []*job // repairs waiting
	active     int    // repairs running
}

type state uint8

const (
	stAssembling state = iota + 1
	stDecoding         // complete, being decoded and checked
	stRepairing        // waiting for or in repair
	stDone             // delivered
	stFailed           // given up
)

// entry is what the reassembler remembers of an object id.
type entry struct {
	state state
	first time.Time
	obj   *object // while assembling
}

// object is an object being assembled.
type object struct {
	id       uint32
	first    time.Time
	deadline time.Time
	info     *Info // verified
	sized    bool  // size is known (from the INFO or a symbol)
	size     uint32
	laid     bool // lay, blocks and open are set (from a symbol)
	lay      layout
	blocks   []block
	open     int // blocks with fewer than K symbols
	bytes    int // bytes charged for this object
}

// block is one block's symbols: K+M slots of S bytes, allocated on the
// block's first symbol.
type block struct {
	k, m uint16
	n    uint16 // symbols held
	data uint16 // data symbols held
	have [MaxShards / 64]uint64
	buf  []byte
}

// Memory charged besides symbol buffers, so that bounds hold for objects
// made of many tiny blocks.
const (
	objectCost = 512
	blockCost  = 96
)

// NewReassembler checks cfg and returns a reassembler. It starts no
// goroutine; run [Reassembler.Run] to get repairs and timeouts.
func NewReassembler(cfg ReassemblerConfig) (*Reassembler, error) {
	if len(cfg.PublicKey) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: public key of %d bytes", ErrConfig, len(cfg.PublicKey))
	}
	if cfg.Deliver == nil {
		return nil, fmt.Errorf("%w: no Deliver function", ErrConfig)
	}
	for _, v := range []struct {
		p   *int
		def int
	}{
		{&cfg.MaxObjects, DefaultMaxObjects}, {&cfg.MaxBytes, DefaultMaxBytes}, {&cfg.StaleWindow, DefaultStaleWindow},
		{&cfg.MaxGap, cfg.MaxObjects}, {&cfg.Repairs, DefaultRepairs}, {&cfg.RepairQueue, cfg.MaxObjects},
	} {
		if *v.p == 0 {
			*v.p = v.def
		}
		if *v.p == 0 { // MaxGap and RepairQueue when MaxObjects was zero
			*v.p = DefaultMaxObjects
		}
		if *v.p < 0 {
			return nil, fmt.Errorf("%w: negative bound %d", ErrConfig, *v.p)
		}
	}
	if cfg.StaleWindow > 1<<30 || cfg.MaxGap > 1<<30 {
		return nil, fmt.Errorf("%w: id window over 2^30", ErrConfig)
	}
	for _, v := range []struct {
		p   *time.Duration
		def time.Duration
	}{
		{&cfg.MaxAge, DefaultMaxAge}, {&cfg.LastPacketWait, DefaultLastPacketWait},
		{&cfg.RepairTimeout, DefaultRepairTimeout}, {&cfg.Tick, DefaultTick},
	} {
		if *v.p == 0 {
			*v.p = v.def
		}
		if *v.p < 0 {
			return nil, fmt.Errorf("%w: negative duration %v", ErrConfig, *v.p)
		}
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	r := &Reassembler{cfg: cfg, ssrc: cfg.SSRC, log: cfg.Logger, wake: make(chan struct{}, 1), seen: map[uint32]*entry{}}
	if cfg.Stream != "" {
		r.ssrc = SSRC(cfg.Stream)
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	return r, nil
}

// Stats returns a snapshot of the counters.
func (r *Reassembler) Stats() ReassemblerStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.st
	st.Lost = uint64(max(r.lost, 0))
	st.InFlight, st.InFlightBytes = len(r.objs), r.bytes
	st.RepairsQueued, st.RepairsActive = len(r.queue), r.active
	return st
}

// after reports whether object id a comes after b (RFC 1982 arithmetic:
// ids wrap).
func after(a, b uint32) bool { return int32(a-b) > 0 }

// Add files one packet. It never keeps pkt. A packet that completes an
// object makes Add decode and check it and call Deliver before returning
// (or queue a repair if the bytes do not verify).
func (r *Reassembler) Add(pkt []byte, now time.Time) {
	var p Packet
	err := p.Unmarshal(pkt)
	r.mu.Lock()
	r.st.Packets++
	r.st.Bytes += uint64(len(pkt))
	switch {
	case err != nil:
		r.drop(reasonOf(err))
	case p.SSRC != r.ssrc:
		r.drop(DropSSRC)
	default:
		r.lost += r.seq.add(p.Sequence)
		var done *object
		if p.Type == TypeInfo {
			done = r.addInfo(&p, now) // unlocks and locks again around verification
		} else {
			done = r.addSymbol(&p, now)
		}
		if done != nil {
			r.mu.Unlock()
			r.finish(done)
			return
		}
	}
	r.mu.Unlock()
}

func (r *Reassembler) drop(why DropReason) { r.st.Dropped[why]++ }

// admit applies the id windows to a packet: nothing far behind the newest
// verified id (replays), nothing unverified far ahead of it.
func (r *Reassembler) admit(id uint32, verified bool) (*entry, DropReason, bool) {
	if r.haveNewest {
		if d := int64(int32(r.newest - id)); d > int64(r.cfg.StaleWindow) {
			return nil, DropStale, false
		} else if !verified && -d > int64(r.cfg.MaxObjects) {
			return nil, DropAhead, false
		}
	}
	e := r.seen[id]
	if e != nil && e.state != stAssembling {
		return nil, DropLate, false
	}
	return e, 0, true
}

// addInfo files an INFO packet; it returns the object if that completed it.
// The signature is checked without the lock, as it takes about as long as
// filing a hundred symbols.
func (r *Reassembler) addInfo(p *Packet, now time.Time) *object {
	id := p.ObjectID
	e, why, ok := r.admit(id, true)
	if !ok {
		r.drop(why)
		return nil
	}
	if e != nil && e.obj.info != nil && *e.obj.info == p.Info {
		// A copy of the INFO already verified: no need to check it again.
		r.drop(DropDuplicate)
		r.lastPacket(e.obj, p, now)
		return nil
	}
	r.mu.Unlock()
	valid := p.Info.Verify(r.cfg.PublicKey, r.ssrc)
	r.mu.Lock()
	if !valid {
		r.drop(DropForged)
		return nil
	}
	if p.Info.Size > uint32(min(r.cfg.MaxBytes, 1<<32-1)) {
		r.drop(DropTooLarge)
		return nil
	}
	// The state may have changed while the lock was released.
	if e, why, ok = r.admit(id, true); !ok {
		r.drop(why)
		return nil
	}
	if e == nil {
		if e = r.newObject(id, now); e == nil {
			r.drop(DropFull)
			return nil
		}
	}
	r.advance(id)
	o := e.obj
	switch {
	case o.info != nil && *o.info == p.Info:
		r.drop(DropDuplicate)
		r.lastPacket(o, p, now)
		return nil
	case o.info != nil:
		// Two valid INFOs for one id: the origin reused an id. Keep the
		// first.
		r.drop(DropInconsistent)
		return nil
	}
	info := p.Info
	o.info = &info
	if o.sized && o.size != info.Size {
		// The symbols so far claimed another size: they were not this
		// object's. Start again.
		r.st.Dropped[DropInconsistent] += uint64(o.held())
		r.clearBlocks(o)
	}
	o.sized, o.size = true, info.Size
	r.lastPacket(o, p, now)
	return r.completed(o)
}

// lastPacket shortens the wait for an object's stragglers once its last
// packet, an INFO with the marker bit, arrived.
func (r *Reassembler) lastPacket(o *object, p *Packet, now time.Time) {
	if p.Marker {
		if d := now.Add(r.cfg.LastPacketWait); d.Before(o.deadline) {
			o.deadline = d
		}
	}
}

// advance moves the newest verified id forward.
func (r *Reassembler) advance(id uint32) {
	switch {
	case !r.haveNewest:
		r.haveNewest, r.newest, r.floor = true, id, id
	case after(id, r.newest):
		if int64(int32(id-r.newest)) > int64(r.cfg.MaxGap) {
			// An origin restart or a long outage: the ids in between are
			// not worth repairing.
			r.st.Resyncs++
			r.floor = id - 1
		}
		r.newest = id
	}
}

// newObject starts assembling object id, evicting the oldest object if
// there are too many. It returns nil if there is no room for it.
func (r *Reassembler) newObject(id uint32, now time.Time) *entry {
	if len(r.objs) >= r.cfg.MaxObjects {
		r.evict(r.objs[0])
	}
	if !r.makeRoom(objectCost, nil) {
		return nil
	}
	o := &object{id: id, first: now, deadline: now.Add(r.cfg.MaxAge), bytes: objectCost}
	r.bytes += objectCost
	r.objs = append(r.objs, o)
	e := &entry{state: stAssembling, first: now, obj: o}
	r.seen[id] = e
	return e
}

// addSymbol files a SYMBOL packet; it returns the object if that completed
// it.
func (r *Reassembler) addSymbol(p *Packet, now time.Time) *object {
	e, why, ok := r.admit(p.ObjectID, false)
	if !ok {
		r.drop(why)
		return nil
	}
	if int64(p.ObjectSize) > int64(r.cfg.MaxBytes) {
		r.drop(DropTooLarge)
		return nil
	}
	if e == nil {
		if e = r.newObject(p.ObjectID, now); e == nil {
			r.drop(DropFull)
			return nil
		}
	}
	o, s := e.obj, &p.Symbol
	if o.sized && o.size != p.ObjectSize || o.laid && (o.lay.s != int(s.Size) || o.lay.b != int(s.Blocks)) {
		r.drop(DropInconsistent)
		return nil
	}
	if !o.laid {
		cost := int(s.Blocks) * blockCost
		if !r.makeRoom(cost, o) {
			r.drop(DropFull)
			return nil
		}
		o.sized, o.size = true, p.ObjectSize
		o.laid, o.lay = true, newLayout(p.ObjectSize, int(s.Size), int(s.Blocks))
		o.blocks, o.open = make([]block, s.Blocks), int(s.Blocks)
		o.bytes += cost
		r.bytes += cost
	}
	b := &o.blocks[s.Block]
	switch {
	case b.k == 0:
		b.k, b.m = s.K, s.M
	case b.m != s.M:
		r.drop(DropInconsistent)
		return nil
	}
	w, bit := s.Index/64, uint64(1)<<(s.Index%64)
	if b.n >= b.k || b.have[w]&bit != 0 {
		r.drop(DropDuplicate)
		return nil
	}
	S := o.lay.s
	if b.buf == nil {
		n := int(b.k+b.m) * S
		if !r.makeRoom(n, o) {
			r.drop(DropFull)
			return nil
		}
		b.buf = getBuf(n)
		o.bytes += n
		r.bytes += n
	}
	slot := b.buf[int(s.Index)*S : int(s.Index+1)*S]
	clear(slot[copy(slot, p.Data):]) // the last data symbol is zero-padded
	b.have[w] |= bit
	b.n++
	if s.Index < b.k {
		b.data++
	}
	if b.n == b.k {
		o.open--
	}
	return r.completed(o)
}

// completed takes o out of assembly if it is complete: its INFO verified
// and every block decodable.
func (r *Reassembler) completed(o *object) *object {
	if o.info == nil || o.info.Size != 0 && (!o.laid || o.open > 0) {
		return nil
	}
	r.remove(o, stDecoding)
	r.bytes -= o.bytes // its buffers go back to the pool after decoding
	o.bytes = 0
	return o
}

// held returns the symbols o holds.
func (o *object) held() int {
	n := 0
	for i := range o.blocks {
		n += int(o.blocks[i].n)
	}
	return n
}

// clearBlocks forgets o's symbols and layout.
func (r *Reassembler) clearBlocks(o *object) {
	for i := range o.blocks {
		putBuf(o.blocks[i].buf)
	}
	r.bytes -= o.bytes - objectCost
	o.bytes = objectCost
	o.laid, o.lay, o.blocks, o.open = false, layout{}, nil, 0
}

// remove takes o out of assembly and sets its id's state.
func (r *Reassembler) remove(o *object, st state) {
	if i := slices.Index(r.objs, o); i >= 0 {
		r.objs = slices.Delete(r.objs, i, i+1)
	}
	if e := r.seen[o.id]; e != nil && e.obj == o {
		e.state, e.obj = st, nil
	}
}

// release returns o's buffers and uncharges its bytes.
func (r *Reassembler) release(o *object) {
	for i := range o.blocks {
		putBuf(o.blocks[i].buf)
		o.blocks[i].buf = nil
	}
	r.bytes -= o.bytes
	o.bytes = 0
}

// confirmed reports whether object id certainly exists: its INFO verified,
// or a later id's did (ids are consecutive). Only then is it worth a
// repair: a forged packet with an unused id must not make receivers ask
// the origin for anything.
func (r *Reassembler) confirmed(o *object) bool {
	return o.info != nil || r.haveNewest && !after(o.id, r.newest)
}

// evict drops o to make room, and sends it to repair whole if it exists.
func (r *Reassembler) evict(o *object) {
	r.st.Evicted++
	r.release(o)
	if !r.confirmed(o) {
		r.remove(o, stFailed)
		delete(r.seen, o.id) // if it was real, the gap scan will find it
		return
	}
	r.remove(o, stRepairing)
	r.enqueue(&job{id: o.id, info: o.info, reason: RepairEvicted, first: o.first})
}

// makeRoom frees memory until need more bytes fit: first the data of
// queued repairs (they will ask for whole objects), then the oldest objects
// other than keep.
func (r *Reassembler) makeRoom(need int, keep *object) bool {
	for r.bytes+need > r.cfg.MaxBytes {
		if i := slices.IndexFunc(r.queue, func(j *job) bool { return j.obj != nil }); i >= 0 {
			j := r.queue[i]
			r.release(j.obj)
			j.obj = nil
			continue
		}
		i := slices.IndexFunc(r.objs, func(o *object) bool { return o != keep })
		if i < 0 {
			return false
		}
		r.evict(r.objs[i])
	}
	return true
}

// Expire sends objects past their deadline to repair, and the ids never
// seen whose successor arrived more than MaxAge ago. Run calls it every
// Tick; without Run, call it yourself.
func (r *Reassembler) Expire(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, o := range slices.Clone(r.objs) {
		switch {
		case now.Before(o.deadline):
		case o.info != nil:
			// Keep what arrived: the repair asks only for the rest.
			r.remove(o, stRepairing)
			r.enqueue(&job{id: o.id, info: o.info, obj: o, reason: RepairTimeout, first: o.first})
		case r.confirmed(o):
			// Without a verified INFO, none of the symbols can be trusted
			// to belong to the object: ask for all of it.
			r.release(o)
			r.remove(o, stRepairing)
			r.enqueue(&job{id: o.id, reason: RepairTimeout, first: o.first})
		case !now.Before(o.first.Add(3 * r.cfg.MaxAge)):
			r.st.Unconfirmed++
			r.release(o)
			r.remove(o, stFailed)
			delete(r.seen, o.id)
		}
	}
	if !r.haveNewest {
		return
	}
	r.scanGaps(now)
	for id, e := range r.seen {
		if int64(int32(r.newest-id)) > int64(r.cfg.StaleWindow) {
			if e.obj != nil {
				r.st.Evicted++
				r.release(e.obj)
				r.remove(e.obj, stFailed)
			}
			delete(r.seen, id)
		}
	}
	if int64(int32(r.newest-r.floor)) > int64(r.cfg.StaleWindow) {
		r.floor = r.newest - uint32(r.cfg.StaleWindow)
	}
}

// scanGaps sends to repair the ids between floor and newest never seen,
// once the next id seen arrived more than MaxAge ago.
func (r *Reassembler) scanGaps(now time.Time) {
	contiguous := true
	for id := r.floor + 1; !after(id, r.newest); id++ {
		if r.seen[id] != nil {
			if contiguous {
				r.floor = id
			}
			continue
		}
		next := id + 1
		for r.seen[next] == nil && next != r.newest {
			next++
		}
		if e := r.seen[next]; e == nil || now.Before(e.first.Add(r.cfg.MaxAge)) {
			contiguous = false
		} else {
			for g := id; g != next; g++ {
				r.st.Gaps++
				r.seen[g] = &entry{state: stRepairing, first: now}
				r.enqueue(&job{id: g, reason: RepairGap, first: now})
			}
			if contiguous {
				r.floor = next - 1
			}
		}
		id = next - 1
	}
}

// finish decodes a complete object, checks its digest and delivers it, or
// sends it to repair whole. It runs without the lock.
func (r *Reassembler) finish(o *object) {
	data, missing, rebuilt, err := assemble(o)
	putBlocks(o)
	if err == nil && len(missing) > 0 {
		err = fmt.Errorf("multicast: complete object %d misses %v", o.id, missing)
	}
	ok := err == nil && sha256.Sum256(data) == o.info.SHA256
	r.mu.Lock()
	if !ok {
		r.st.Corrupt++
		r.setState(o.id, stRepairing)
		r.enqueue(&job{id: o.id, info: o.info, reason: RepairCorrupt, first: o.first})
		r.mu.Unlock()
		return
	}
	via := ViaData
	r.st.Delivered++
	if rebuilt > 0 {
		via = ViaFEC
		r.st.FECObjects++
		r.st.FECSymbols += uint64(rebuilt)
	} else {
		r.st.Complete++
	}
	r.setState(o.id, stDone)
	r.mu.Unlock()
	r.deliver(Received{Info: *o.info, Data: data, Via: via, Rebuilt: rebuilt, First: o.first})
}

func (r *Reassembler) setState(id uint32, st state) {
	if e := r.seen[id]; e != nil {
		e.state = st
	}
}

func (r *Reassembler) deliver(rcv Received) {
	r.deliverMu.Lock()
	defer r.deliverMu.Unlock()
	r.cfg.Deliver(rcv)
}

// bufPool keeps block buffers: with a steady stream their sizes repeat.
var bufPool sync.Pool

func getBuf(n int) []byte {
	if b, ok := bufPool.Get().(*[]byte); ok && cap(*b) >= n {
		return (*b)[:n]
	}
	return make([]byte, n)
}

func putBuf(b []byte) {
	if b != nil {
		bufPool.Put(&b)
	}
}

func putBlocks(o *object) {
	for i := range o.blocks {
		putBuf(o.blocks[i].buf)
		o.blocks[i].buf = nil
	}
}
