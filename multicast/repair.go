package multicast

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// RepairFunc fetches what multicast did not bring, usually from the origin
// over HTTP (docs/multicast.md, "Repair"). The reassembler checks
// everything it returns: nothing unverified is delivered.
type RepairFunc func(ctx context.Context, req RepairRequest) (RepairReply, error)

// RepairReason says why an object went to repair.
type RepairReason uint8

// The reasons for a repair.
const (
	RepairTimeout RepairReason = iota + 1 // incomplete at its deadline
	RepairEvicted                         // evicted to stay within the bounds
	RepairGap                             // its id was never seen
	RepairCorrupt                         // its assembled bytes did not match the INFO's digest
)

func (r RepairReason) String() string {
	switch r {
	case RepairTimeout:
		return "timeout"
	case RepairEvicted:
		return "evicted"
	case RepairGap:
		return "gap"
	case RepairCorrupt:
		return "corrupt"
	}
	return "reason(" + itoa(int(r)) + ")"
}

// Range is the byte range [Start, End) of an object.
type Range struct{ Start, End int }

// RepairRequest asks for an object, or for some of its bytes.
type RepairRequest struct {
	// ID is the object id.
	ID uint32
	// Info is the object's verified INFO, or nil if none arrived; then
	// the name, size and digest are unknown, and the repair must fetch
	// them by id, signature included.
	Info *Info
	// Ranges are the missing bytes, ascending and disjoint: the whole
	// object when nothing that arrived is usable. Nil when Info is nil.
	Ranges []Range
	// Reason says why the object needs repair.
	Reason RepairReason
}

// RepairReply is what a repair returns.
type RepairReply struct {
	// Info is the object's INFO with its signature, required when the
	// request's Info is nil (the INFO payload the origin keeps can be read
	// with [Info.UnmarshalBinary]), and ignored otherwise. Its signature
	// must verify with the reassembler's key and stream, and its ID match.
	Info *Info
	// Data is either the bytes of the request's Ranges, concatenated in
	// order, or the whole object. The reassembler keeps it.
	Data []byte
}

// Errors of a repair reply, logged and counted as failed repairs.
var (
	errRepairNoInfo = errors.New("multicast: repair reply without the INFO")
	errRepairInfo   = errors.New("multicast: repair reply INFO does not verify or is for another id")
	errRepairLength = errors.New("multicast: repair reply length fits neither the ranges nor the object")
	errRepairHash   = errors.New("multicast: repaired object does not match its digest")
)

// job is a queued or running repair.
type job struct {
	id     uint32
	info   *Info   // verified, or nil
	obj    *object // what arrived, kept to ask only for the rest; or nil
	reason RepairReason
	first  time.Time
}

// enqueue queues a repair; the id's state is already stRepairing.
func (r *Reassembler) enqueue(j *job) {
	if r.cfg.Repair == nil {
		r.failed(j)
		return
	}
	if len(r.queue) >= r.cfg.RepairQueue {
		r.log.Warn("repair queue full", "id", r.queue[0].id)
		r.failed(r.queue[0])
		r.queue = slices.Delete(r.queue, 0, 1)
	}
	r.queue = append(r.queue, j)
	r.signal()
}

// failed gives up on a repair.
func (r *Reassembler) failed(j *job) {
	r.st.RepairFailures++
	if j.obj != nil {
		r.release(j.obj)
		j.obj = nil
	}
	r.setState(j.id, stFailed)
}

func (r *Reassembler) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run calls Expire every Tick and runs the queued repairs, at most Repairs
// at once, until ctx ends; then it waits for the running repairs (whose
// contexts end with ctx) and returns ctx's error. Repairs queued meanwhile
// wait for the next Run.
func (r *Reassembler) Run(ctx context.Context) error {
	if !r.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer r.running.Store(false)
	tick := time.NewTicker(r.cfg.Tick)
	defer tick.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		r.mu.Lock()
		for r.active < r.cfg.Repairs && len(r.queue) > 0 {
			j := r.queue[0]
			r.queue = slices.Delete(r.queue, 0, 1)
			r.active++
			wg.Go(func() { r.repair(ctx, j) })
		}
		r.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			r.Expire(r.cfg.Clock())
		case <-r.wake:
		}
	}
}

// repair runs one job without the lock.
func (r *Reassembler) repair(ctx context.Context, j *job) {
	req := RepairRequest{ID: j.id, Info: j.info, Reason: j.reason}
	var (
		have    []byte
		rebuilt int
		err     error
	)
	switch {
	case j.info != nil && j.obj != nil:
		have, req.Ranges, rebuilt, err = assemble(j.obj)
		putBlocks(j.obj)
		if err != nil || len(req.Ranges) == 0 {
			// Decoding failed, or everything arrived and still the object
			// went to repair: its symbols are suspect.
			have, rebuilt, err = nil, 0, nil
			req.Ranges = []Range{{0, int(j.info.Size)}}
		}
	case j.info != nil:
		req.Ranges = []Range{{0, int(j.info.Size)}}
	}
	var rcv Received
	calls := 0
	for {
		calls++
		rctx, cancel := context.WithTimeout(ctx, r.cfg.RepairTimeout)
		var reply RepairReply
		reply, err = r.cfg.Repair(rctx, req)
		cancel()
		if err == nil {
			rcv, err = r.check(req, have, reply)
		}
		if err != errRepairHash || have == nil || len(req.Ranges) == 1 && req.Ranges[0] == (Range{0, len(have)}) {
			break
		}
		// The symbols kept were bad (forged or damaged), or the repair
		// was: ask once more, for the whole object.
		have, rebuilt = nil, 0
		req.Ranges, req.Reason = []Range{{0, int(j.info.Size)}}, RepairCorrupt
	}
	rcv.Rebuilt, rcv.First = rebuilt, j.first

	r.mu.Lock()
	r.st.Repairs += uint64(calls)
	r.active--
	if j.obj != nil {
		r.bytes -= j.obj.bytes
		j.obj.bytes = 0
	}
	if err != nil {
		r.st.RepairFailures++
		r.setState(j.id, stFailed)
		r.mu.Unlock()
		r.log.Info("repair failed", "id", j.id, "reason", j.reason.String(), "err", err)
		r.signal()
		return
	}
	r.st.Delivered++
	r.st.Repaired++
	if j.info == nil {
		r.advance(rcv.Info.ID)
	}
	r.setState(j.id, stDone)
	r.mu.Unlock()
	r.signal()
	r.deliver(rcv)
}

// check verifies a repair reply against the request and what arrived.
func (r *Reassembler) check(req RepairRequest, have []byte, reply RepairReply) (Received, error) {
	info := req.Info
	data := reply.Data
	if info == nil {
		switch {
		case reply.Info == nil:
			return Received{}, errRepairNoInfo
		case reply.Info.ID != req.ID || !reply.Info.Verify(r.cfg.PublicKey, r.ssrc):
			return Received{}, errRepairInfo
		}
		info = reply.Info
	} else if len(data) != int(info.Size) {
		n := 0
		for _, g := range req.Ranges {
			n += g.End - g.Start
		}
		if len(data) != n || len(have) != int(info.Size) {
			return Received{}, fmt.Errorf("%w: %d bytes for %d in ranges of a %d-byte object", errRepairLength, len(data), n, info.Size)
		}
		for _, g := range req.Ranges {
			data = data[copy(have[g.Start:g.End], data):]
		}
		data = have
	}
	if len(data) != int(info.Size) {
		return Received{}, fmt.Errorf("%w: %d bytes for %d", errRepairLength, len(data), info.Size)
	}
	if sha256.Sum256(data) != info.SHA256 {
		return Received{}, errRepairHash
	}
	if data == nil {
		data = []byte{}
	}
	return Received{Info: *info, Data: data, Via: ViaRepair}, nil
}

// assemble copies what o holds into a new buffer of the object's size,
// decoding every block that has K of its symbols, and returns the byte
// ranges it could not fill and the number of data symbols rebuilt. o must
// have a size (o.sized). The caller owns o.
func assemble(o *object) (data []byte, missing []Range, rebuilt int, err error) {
	data = make([]byte, o.size)
	miss := func(start, end int) {
		if n := len(missing); n > 0 && missing[n-1].End == start {
			missing[n-1].End = end
		} else {
			missing = append(missing, Range{start, end})
		}
	}
	if !o.laid {
		if o.size > 0 {
			miss(0, int(o.size))
		}
		return data, missing, 0, nil
	}
	l := o.lay
	var shards [][]byte
	for i := range o.blocks {
		b := &o.blocks[i]
		k := l.k(i)
		start := l.first(i) * l.s
		end := min(start+k*l.s, l.size)
		switch {
		case b.buf == nil:
			miss(start, end)
			continue
		case int(b.n) < k:
			for j := range k {
				from := start + j*l.s
				to := min(from+l.s, end)
				if b.have[j/64]&(1<<(j%64)) != 0 {
					copy(data[from:to], b.buf[j*l.s:])
				} else {
					miss(from, to)
				}
			}
			continue
		case int(b.data) < k:
			n := k + int(b.m)
			shards = slices.Grow(shards[:0], n)[:n]
			for j := range n {
				switch {
				case b.have[j/64]&(1<<(j%64)) != 0:
					shards[j] = b.buf[j*l.s : (j+1)*l.s]
				case j < k:
					shards[j] = b.buf[j*l.s : j*l.s : (j+1)*l.s] // rebuilt in place
				default:
					shards[j] = nil
				}
			}
			enc, err := code(k, int(b.m))
			if err == nil {
				err = enc.ReconstructData(shards)
			}
			if err != nil {
				return nil, nil, 0, err
			}
			for j := range k {
				if &shards[j][0] != &b.buf[j*l.s] {
					copy(b.buf[j*l.s:], shards[j])
				}
			}
			rebuilt += k - int(b.data)
		}
		copy(data[start:end], b.buf)
	}
	return data, missing, rebuilt, nil
}
