package multicast

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// codecPkt is a packet with its parsed header.
type codecPkt struct {
	raw []byte
	p   Packet
}

func classify(t testing.TB, pkts [][]byte) []codecPkt {
	t.Helper()
	out := make([]codecPkt, len(pkts))
	for i, b := range pkts {
		out[i] = codecPkt{b, parsed(t, b)}
	}
	return out
}

// lossPlan drops packets of one object: up to maxInfo INFO copies, and in
// each block a number of symbols chosen by perBlock(M). It returns the
// packets kept, the data symbols dropped in blocks FEC can repair, and the
// byte ranges lost in blocks it cannot.
func lossPlan(t testing.TB, rng *rand.Rand, obj Object, pkts [][]byte, maxInfo int, perBlock func(k, m int) int) (keep [][]byte, fecData int, lost []Range) {
	t.Helper()
	cs := classify(t, pkts)
	drop := map[int]bool{}
	var infos []int
	blocks := map[uint16][]int{}
	for i, c := range cs {
		if c.p.Type == TypeInfo {
			infos = append(infos, i)
		} else {
			blocks[c.p.Symbol.Block] = append(blocks[c.p.Symbol.Block], i)
		}
	}
	for _, i := range rng.Perm(len(infos))[:rng.IntN(maxInfo+1)] {
		drop[infos[i]] = true
	}
	for b := range uint16(len(blocks)) {
		idx := blocks[b]
		s := cs[idx[0]].p.Symbol
		k, m := int(s.K), int(s.M)
		n := perBlock(k, m)
		var dataLost []int
		for _, j := range rng.Perm(k + m)[:n] {
			drop[idx[j]] = true
			if j < k {
				dataLost = append(dataLost, j)
			}
		}
		if n <= m {
			fecData += len(dataLost)
			continue
		}
		slices.Sort(dataLost)
		l := newLayout(uint32(len(obj.Data)), int(s.Size), int(s.Blocks))
		for _, j := range dataLost {
			start := (l.first(int(b)) + j) * l.s
			end := min(start+l.s, len(obj.Data))
			if n := len(lost); n > 0 && lost[n-1].End == start {
				lost[n-1].End = end
			} else {
				lost = append(lost, Range{start, end})
			}
		}
	}
	for i, c := range cs {
		if !drop[i] {
			keep = append(keep, c.raw)
		}
	}
	return keep, fecData, lost
}

var (
	roundTripSizes = []int{0, 1, S - 1, S, S + 1, 64 * S, 64*S + 1, 160_000, 2_000_000}
	overheads      = []PacketizerConfig{{NoParity: true}, {Overhead: 0.2}, {Overhead: 0.5}}
)

// TestRoundTripFEC drops packets at random, but never more in a block than
// its parity: every object completes, with the right number of symbols
// rebuilt.
func TestRoundTripFEC(t *testing.T) {
	for _, cfg := range overheads {
		t.Run(fmt.Sprintf("overhead=%v", cfg.Overhead), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(cfg.Overhead*10)))
			p := newCodecPacketizer(t, cfg)
			r, sink := newCodecReassembler(t, ReassemblerConfig{})
			var fecSymbols, fecObjects uint64
			for i, size := range roundTripSizes {
				obj := codecObject(uint32(100+i), size)
				keep, fecData, _ := lossPlan(t, rng, obj, packetize(t, p, obj), 2, func(k, m int) int { return rng.IntN(m + 1) })
				addAll(r, keep, codecEpoch)
				got := sink.all()
				if len(got) != i+1 {
					t.Fatalf("size %d: not delivered (%+v)", size, r.Stats())
				}
				rcv := got[i]
				want := ViaData
				if fecData > 0 {
					want = ViaFEC
					fecObjects++
				}
				if rcv.Info.ID != obj.ID || rcv.Info.Name != obj.Name || !bytes.Equal(rcv.Data, obj.Data) ||
					rcv.Rebuilt != fecData || rcv.Via != want {
					t.Fatalf("size %d: got id %d, %d bytes, rebuilt %d via %v; want rebuilt %d via %v",
						size, rcv.Info.ID, len(rcv.Data), rcv.Rebuilt, rcv.Via, fecData, want)
				}
				fecSymbols += uint64(fecData)
			}
			st := r.Stats()
			if st.FECSymbols != fecSymbols || st.FECObjects != fecObjects || st.Delivered != uint64(len(roundTripSizes)) ||
				st.InFlight != 0 || st.InFlightBytes != 0 || st.RepairsQueued != 0 || st.Corrupt != 0 {
				t.Fatalf("stats %+v; want %d symbols in %d objects rebuilt", st, fecSymbols, fecObjects)
			}
			t.Logf("%d data symbols rebuilt in %d objects, %d packets lost", fecSymbols, fecObjects, st.Lost)
		})
	}
}

// TestRepairRanges drops more symbols of one block than FEC can rebuild:
// the repair function is asked for exactly the missing bytes, and what it
// returns completes the object.
func TestRepairRanges(t *testing.T) {
	for _, cfg := range overheads {
		t.Run(fmt.Sprintf("overhead=%v", cfg.Overhead), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(2, uint64(cfg.Overhead*10)))
			p := newCodecPacketizer(t, cfg)
			var want []Range
			var obj Object
			calls := 0
			r, sink := newCodecReassembler(t, ReassemblerConfig{Repair: func(ctx context.Context, req RepairRequest) (RepairReply, error) {
				calls++
				if req.ID != obj.ID || req.Info == nil || req.Info.Name != obj.Name || req.Reason != RepairTimeout {
					return RepairReply{}, fmt.Errorf("request %+v", req)
				}
				if !slices.Equal(req.Ranges, want) {
					return RepairReply{}, fmt.Errorf("ranges %v, want %v", req.Ranges, want)
				}
				if obj.ID%2 == 0 {
					return RepairReply{Data: obj.Data}, nil // the whole object will do
				}
				return RepairReply{Data: rangesOf(obj.Data, req.Ranges)}, nil
			}})
			now := codecEpoch
			for i, size := range roundTripSizes[1:] {
				obj = codecObject(uint32(200+i), size)
				pkts := packetize(t, p, obj)
				bad := rng.IntN(p.layout(size).b) // the block FEC cannot rebuild
				block := -1
				var fecData int
				pkts, fecData, want = lossPlan(t, rng, obj, pkts, 0, func(k, m int) int {
					if block++; block == bad {
						return min(m+1+rng.IntN(3), k+m)
					}
					return rng.IntN(m + 1)
				})
				if len(want) == 0 {
					t.Fatalf("size %d: nothing beyond FEC dropped", size)
				}
				addAll(r, pkts, now)
				r.Expire(now.Add(DefaultLastPacketWait - time.Millisecond))
				if st := r.Stats(); st.RepairsQueued != 0 || st.InFlight != 1 {
					t.Fatalf("size %d: before the wait after the last packet: %+v", size, st)
				}
				r.Expire(now.Add(DefaultLastPacketWait))
				r.repairNow(context.Background())
				got := sink.all()
				if len(got) != i+1 {
					t.Fatalf("size %d: not repaired: %+v", size, r.Stats())
				}
				if rcv := got[i]; rcv.Via != ViaRepair || !bytes.Equal(rcv.Data, obj.Data) || rcv.Rebuilt != fecData {
					t.Fatalf("size %d: via %v rebuilt %d (want %d), data equal %v", size, rcv.Via, rcv.Rebuilt, fecData, bytes.Equal(rcv.Data, obj.Data))
				}
				now = now.Add(time.Second)
			}
			st := r.Stats()
			n := uint64(len(roundTripSizes) - 1)
			if calls != int(n) || st.Repairs != n || st.Repaired != n || st.RepairFailures != 0 || st.InFlightBytes != 0 {
				t.Fatalf("%d calls, stats %+v", calls, st)
			}
		})
	}
}

// TestRepairWithoutInfo loses every INFO copy of objects 1 to 4: they are
// repaired by id once a later id proves they exist, and only a reply with
// a verified INFO and matching bytes is delivered.
func TestRepairWithoutInfo(t *testing.T) {
	p := newCodecPacketizer(t, PacketizerConfig{})
	forger := newCodecPacketizer(t, PacketizerConfig{Key: otherKey})
	objs := map[uint32]Object{}
	r, sink := newCodecReassembler(t, ReassemblerConfig{Repair: func(ctx context.Context, req RepairRequest) (RepairReply, error) {
		if req.Info != nil || req.Ranges != nil || req.Reason != RepairTimeout {
			return RepairReply{}, fmt.Errorf("request %+v", req)
		}
		obj := objs[req.ID]
		info, _ := p.Sign(obj)
		switch req.ID {
		case 2:
			return RepairReply{Data: obj.Data}, nil // no INFO
		case 3:
			info, _ = forger.Sign(obj)
		case 4:
			return RepairReply{Info: &info, Data: objs[1].Data}, nil // other bytes
		case 5:
			info.ID = 6 // another id's INFO
		}
		return RepairReply{Info: &info, Data: obj.Data}, nil
	}})
	for id := uint32(1); id <= 6; id++ {
		objs[id] = codecObject(id, 20_000)
		var keep [][]byte
		for _, c := range classify(t, packetize(t, p, objs[id])) {
			if c.p.Type == TypeSymbol || id == 6 {
				keep = append(keep, c.raw)
			}
		}
		addAll(r, keep, codecEpoch)
	}
	if got := sink.all(); len(got) != 1 || got[0].Info.ID != 6 {
		t.Fatalf("delivered %d objects", len(got))
	}
	r.Expire(codecEpoch.Add(DefaultMaxAge))
	r.repairNow(context.Background())
	got := sink.all()
	if len(got) != 2 || got[1].Info.ID != 1 || got[1].Via != ViaRepair || !bytes.Equal(got[1].Data, objs[1].Data) {
		t.Fatalf("delivered %+v", got)
	}
	if st := r.Stats(); st.Repairs != 5 || st.RepairFailures != 4 || st.Repaired != 1 || st.InFlightBytes != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestUnconfirmed: symbols of an id beyond the newest verified one, with no
// INFO, are never worth a repair; they are dropped after 3 × MaxAge.
func TestUnconfirmed(t *testing.T) {
	p := newCodecPacketizer(t, PacketizerConfig{})
	r, _ := newCodecReassembler(t, ReassemblerConfig{Repair: func(context.Context, RepairRequest) (RepairReply, error) {
		return RepairReply{}, errors.New("not expected")
	}})
	addAll(r, packetize(t, p, codecObject(1, 100)), codecEpoch)
	for _, c := range classify(t, packetize(t, p, codecObject(2, 5000))) {
		if c.p.Type == TypeSymbol {
			r.Add(c.raw, codecEpoch)
		}
	}
	r.Expire(codecEpoch.Add(DefaultMaxAge))
	if st := r.Stats(); st.RepairsQueued != 0 || st.InFlight != 1 {
		t.Fatalf("after MaxAge: %+v", st)
	}
	r.Expire(codecEpoch.Add(3 * DefaultMaxAge))
	if st := r.Stats(); st.RepairsQueued != 0 || st.InFlight != 0 || st.Unconfirmed != 1 || st.InFlightBytes != 0 {
		t.Fatalf("after 3 × MaxAge: %+v", st)
	}
}

// TestReorderDuplicates shuffles the packets of three objects together and
// repeats a third of them.
func TestReorderDuplicates(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	p := newCodecPacketizer(t, PacketizerConfig{})
	objs := []Object{codecObject(1, 160_000), codecObject(2, 1), codecObject(3, 20_000)}
	var all [][]byte
	for _, o := range objs {
		all = append(all, packetize(t, p, o)...)
	}
	for _, i := range rng.Perm(len(all))[:len(all)/3] {
		all = append(all, all[i])
	}
	rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	r, sink := newCodecReassembler(t, ReassemblerConfig{})
	addAll(r, all, codecEpoch)
	checkDelivered(t, sink.all(), objs)
	if st := r.Stats(); st.Dropped[DropDuplicate] == 0 || st.Lost != 0 || st.InFlight != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestInterleaved sends four objects' packets in turn.
func TestInterleaved(t *testing.T) {
	p := newCodecPacketizer(t, PacketizerConfig{})
	var objs []Object
	var lists [][][]byte
	for id := range uint32(4) {
		objs = append(objs, codecObject(id, int(id)*50_000+10))
		lists = append(lists, packetize(t, p, objs[id]))
	}
	r, sink := newCodecReassembler(t, ReassemblerConfig{})
	for i := 0; ; i++ {
		sent := false
		for _, l := range lists {
			if i < len(l) {
				r.Add(l[i], codecEpoch)
				sent = true
			}
		}
		if !sent {
			break
		}
	}
	checkDelivered(t, sink.all(), objs)
}

func checkDelivered(t *testing.T, got []Received, objs []Object) {
	t.Helper()
	if len(got) != len(objs) {
		t.Fatalf("%d objects delivered, want %d", len(got), len(objs))
	}
	for _, o := range objs {
		i := slices.IndexFunc(got, func(r Received) bool { return r.Info.ID == o.ID })
		if i < 0 || !bytes.Equal(got[i].Data, o.Data) || got[i].Info.Name != o.Name || got[i].Info.Kind != o.Kind {
			t.Fatalf("object %d not delivered right", o.ID)
		}
	}
}

// TestSequenceWrap sends across the RTP sequence number's wrap and loses
// one packet just after it.
func TestSequenceWrap(t *testing.T) {
	p := newCodecPacketizer(t, PacketizerConfig{})
	p.seq = 65400
	r, sink := newCodecReassembler(t, ReassemblerConfig{})
	var objs []Object
	for id := range uint32(3) {
		objs = append(objs, codecObject(id, 160_000))
		for _, c := range classify(t, packetize(t, p, objs[id])) {
			if c.p.Sequence != 2 {
				r.Add(c.raw, codecEpoch)
			}
		}
	}
	checkDelivered(t, sink.all(), objs)
	if st := r.Stats(); st.Lost != 1 {
		t.Fatalf("lost %d packets, want 1", st.Lost)
	}
}

// TestGapRepair skips object 6 entirely: it goes to repair MaxAge after 7
// arrived, without its INFO.
func TestGapRepair(t *testing.T) {
	p := newCodecPacketizer(t, PacketizerConfig{})
	objs := map[uint32]Object{5: codecObject(5, 3000), 6: codecObject(6, 4000), 7: codecObject(7, 5000)}
	var reqs []RepairRequest
	r, sink := newCodecReassembler(t, ReassemblerConfig{Repair: func(ctx context.Context, req RepairRequest) (RepairReply, error) {
		reqs = append(reqs, req)
		info, err := p.Sign(objs[req.ID])
		return RepairReply{Info: &info, Data: objs[req.ID].Data}, err
	}})
	t7 := codecEpoch.Add(time.Second)
	addAll(r, packetize(t, p, objs[5]), codecEpoch)
	packetize(t, p, objs[6]) // sent, never received
	addAll(r, packetize(t, p, objs[7]), t7)
	r.Expire(t7.Add(DefaultMaxAge - time.Millisecond))
	if st := r.Stats(); st.RepairsQueued != 0 {
		t.Fatalf("repair before MaxAge: %+v", st)
	}
	r.Expire(t7.Add(DefaultMaxAge))
	r.repairNow(context.Background())
	if len(reqs) != 1 || reqs[0].ID != 6 || reqs[0].Info != nil || reqs[0].Ranges != nil || reqs[0].Reason != RepairGap {
		t.Fatalf("repairs %+v", reqs)
	}
	got := sink.all()
	if len(got) != 3 || got[2].Info.ID != 6 || got[2].Via != ViaRepair || !bytes.Equal(got[2].Data, objs[6].Data) {
		t.Fatalf("delivered %+v", got)
	}
	if st := r.Stats(); st.Gaps != 1 || st.Repaired != 1 {
		t.Fatalf("stats %+v", st)
	}
	// Nothing more to repair later.
	r.Expire(t7.Add(10 * DefaultMaxAge))
	if st := r.Stats(); st.RepairsQueued != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestResync: a jump of the object id beyond MaxGap (an origin restart)
// repairs nothing in between.
func TestResync(t *testing.T) {
	p := newCodecPacketizer(t, PacketizerConfig{})
	r, sink := newCodecReassembler(t, ReassemblerConfig{Repair: func(context.Context, RepairRequest) (RepairReply, error) {
		return RepairReply{}, errors.New("not expected")
	}})
	addAll(r, packetize(t, p, codecObject(10, 100)), codecEpoch)
	addAll(r, packetize(t, p, codecObject(10+DefaultMaxObjects+5, 100)), codecEpoch)
	r.Expire(codecEpoch.Add(time.Hour))
	if st := r.Stats(); st.Resyncs != 1 || st.RepairsQueued != 0 || st.Gaps != 0 || len(sink.all()) != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// TestForgedInfo: INFOs signed with another key are dropped, before and
// after the real one, and do not disturb the real object.
func TestForgedInfo(t *testing.T) {
	p := newCodecPacketizer(t, PacketizerConfig{})
	forger := newCodecPacketizer(t, PacketizerConfig{Key: otherKey})
	real, fake := codecObject(1, 30_000), codecObject(1, 30_000)
	fake.Data[0]++
	fake.Name = "1-forged.ts"
	r, sink := newCodecReassembler(t, ReassemblerConfig{})
	fakes := packetize(t, forger, fake)
	r.Add(fakes[0], codecEpoch)
	if st := r.Stats(); st.Dropped[DropForged] != 1 || st.InFlight != 0 {
		t.Fatalf("after a forged INFO: %+v", st)
	}
	pkts := packetize(t, p, real)
	r.Add(pkts[0], codecEpoch)
	r.Add(fakes[len(fakes)-1], codecEpoch)
	addAll(r, pkts[1:], codecEpoch)
	checkDelivered(t, sink.all(), []Object{real})
	if st := r.Stats(); st.Dropped[DropForged] != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// TestCorruptSymbol alters the bytes of a data symbol: the object fails its
// digest, goes to repair whole, and nothing wrong is delivered.
func TestCorruptSymbol(t *testing.T) {
	for _, fec := range []bool{false, true} {
		t.Run(fmt.Sprintf("fec=%v", fec), func(t *testing.T) {
			p := newCodecPacketizer(t, PacketizerConfig{})
			obj := codecObject(1, 160_000)
			var reqs []RepairRequest
			r, sink := newCodecReassembler(t, ReassemblerConfig{Repair: func(ctx context.Context, req RepairRequest) (RepairReply, error) {
				reqs = append(reqs, req)
				return RepairReply{Data: rangesOf(obj.Data, req.Ranges)}, nil
			}})
			for i, c := range classify(t, packetize(t, p, obj)) {
				if c.p.Type == TypeSymbol && c.p.Symbol.Block == 0 && c.p.Symbol.Index == 3 {
					c.raw = bytes.Clone(c.raw)
					c.raw[len(c.raw)-1] ^= 1
				}
				if fec && i == 10 { // a data symbol of block 0: rebuilt from the bad one too
					continue
				}
				r.Add(c.raw, codecEpoch)
			}
			if st := r.Stats(); st.Corrupt != 1 || st.RepairsQueued != 1 || len(sink.all()) != 0 {
				t.Fatalf("stats %+v", st)
			}
			r.repairNow(context.Background())
			if len(reqs) != 1 || reqs[0].Reason != RepairCorrupt || !slices.Equal(reqs[0].Ranges, []Range{{0, len(obj.Data)}}) {
				t.Fatalf("repairs %+v", reqs)
			}
			checkDelivered(t, sink.all(), []Object{obj})
		})
	}
}

// TestCorruptKeptSymbol: an object that times out keeps a bad symbol; the
// bytes repaired around it fail the digest, and a second repair of the
// whole object completes it.
func TestCorruptKeptSymbol(t *testing.T) {
	p := newCodecPacketizer(t, PacketizerConfig{})
	obj := codecObject(1, 160_000)
	var reqs []RepairRequest
	r, sink := newCodecReassembler(t, ReassemblerConfig{Repair: func(ctx context.Context, req RepairRequest) (RepairReply, error) {
		reqs = append(reqs, req)
		return RepairReply{Data: rangesOf(obj.Data, req.Ranges)}, nil
	}})
	for _, c := range classify(t, packetize(t, p, obj)) {
		switch {
		case c.p.Type == TypeSymbol && c.p.Symbol.Block == 1:
			continue // block 1 lost entirely
		case c.p.Type == TypeSymbol && c.p.Symbol.Block == 0 && c.p.Symbol.Index == 3:
			c.raw = bytes.Clone(c.raw)
			c.raw[len(c.raw)-1] ^= 1
		}
		r.Add(c.raw, codecEpoch)
	}
	r.Expire(codecEpoch.Add(DefaultMaxAge))
	r.repairNow(context.Background())
	if len(reqs) != 2 || len(reqs[0].Ranges) != 1 || reqs[0].Ranges[0].Start == 0 || reqs[1].Ranges[0] != (Range{0, len(obj.Data)}) {
		t.Fatalf("repairs %+v", reqs)
	}
	checkDelivered(t, sink.all(), []Object{obj})
	if st := r.Stats(); st.Repairs != 2 || st.Repaired != 1 || st.RepairFailures != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestOtherStream(t *testing.T) {
	p := newCodecPacketizer(t, PacketizerConfig{Stream: "live2"})
	r, sink := newCodecReassembler(t, ReassemblerConfig{})
	pkts := packetize(t, p, codecObject(1, 10_000))
	addAll(r, pkts, codecEpoch)
	if st := r.Stats(); st.Dropped[DropSSRC] != uint64(len(pkts)) || st.InFlight != 0 || len(sink.all()) != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestStaleAndLate: replays of an old object, or of one already delivered,
// are dropped without verifying anything.
func TestStaleAndLate(t *testing.T) {
	p := newCodecPacketizer(t, PacketizerConfig{})
	r, sink := newCodecReassembler(t, ReassemblerConfig{})
	old := packetize(t, p, codecObject(900, 5000))
	cur := packetize(t, p, codecObject(2000, 5000))
	addAll(r, cur, codecEpoch)
	late := r.Stats().Dropped[DropLate] // the packets after completion
	addAll(r, old, codecEpoch)
	addAll(r, cur, codecEpoch)
	st := r.Stats()
	if st.Dropped[DropStale] != uint64(len(old)) || st.Dropped[DropLate]-late != uint64(len(cur)) || len(sink.all()) != 1 {
		t.Fatalf("stats %+v", st)
	}
	// Unverified packets far ahead are dropped; a verified INFO is not.
	ahead := classify(t, packetize(t, p, codecObject(2000+DefaultMaxObjects+1, 5000)))
	r.Add(ahead[1].raw, codecEpoch)
	if st := r.Stats(); st.Dropped[DropAhead] != 1 || st.InFlight != 0 {
		t.Fatalf("stats %+v", st)
	}
	r.Add(ahead[0].raw, codecEpoch)
	if st := r.Stats(); st.InFlight != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestEvictObjects: beyond MaxObjects, the oldest objects go to repair.
func TestEvictObjects(t *testing.T) {
	p := newCodecPacketizer(t, PacketizerConfig{})
	objs := map[uint32]Object{}
	var reqs []RepairRequest
	r, sink := newCodecReassembler(t, ReassemblerConfig{MaxObjects: 4, Repair: func(ctx context.Context, req RepairRequest) (RepairReply, error) {
		reqs = append(reqs, req)
		return RepairReply{Data: rangesOf(objs[req.ID].Data, req.Ranges)}, nil
	}})
	for id := uint32(1); id <= 6; id++ {
		objs[id] = codecObject(id, 100_000)
		pkts := packetize(t, p, objs[id])
		addAll(r, pkts[:len(pkts)/2], codecEpoch)
	}
	if st := r.Stats(); st.Evicted != 2 || st.InFlight != 4 || st.RepairsQueued != 2 {
		t.Fatalf("stats %+v", st)
	}
	r.repairNow(context.Background())
	if len(reqs) != 2 || reqs[0].ID != 1 || reqs[1].ID != 2 || reqs[0].Reason != RepairEvicted ||
		!slices.Equal(reqs[0].Ranges, []Range{{0, 100_000}}) {
		t.Fatalf("repairs %+v", reqs)
	}
	checkDelivered(t, sink.all(), []Object{objs[1], objs[2]})
}

// TestMemoryBound: held bytes never exceed MaxBytes, and objects larger
// than it are dropped.
func TestMemoryBound(t *testing.T) {
	const limit = 1 << 20
	p := newCodecPacketizer(t, PacketizerConfig{})
	r, _ := newCodecReassembler(t, ReassemblerConfig{MaxBytes: limit, Repair: func(context.Context, RepairRequest) (RepairReply, error) {
		return RepairReply{}, errors.New("no")
	}})
	for id := uint32(1); id <= 20; id++ {
		pkts := packetize(t, p, codecObject(id, 160_000))
		for _, b := range pkts[:len(pkts)-20] {
			r.Add(b, codecEpoch)
			if st := r.Stats(); st.InFlightBytes > limit {
				t.Fatalf("%d bytes held", st.InFlightBytes)
			}
		}
	}
	big := packetize(t, p, codecObject(21, limit+1))
	addAll(r, big, codecEpoch)
	st := r.Stats()
	if st.Evicted == 0 || st.Dropped[DropTooLarge] != uint64(len(big)) {
		t.Fatalf("stats %+v", st)
	}
	t.Logf("%d objects evicted, %d bytes held", st.Evicted, st.InFlightBytes)
}

// TestRun runs the repairs on Run's goroutines: never more than Repairs at
// once, and Run returns when its context ends.
func TestRun(t *testing.T) {
	p := newCodecPacketizer(t, PacketizerConfig{})
	objs := map[uint32]Object{}
	var mu sync.Mutex
	var running, most atomic.Int32
	release := make(chan struct{})
	now := codecEpoch
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	r, sink := newCodecReassembler(t, ReassemblerConfig{Repairs: 2, Clock: clock, Tick: time.Millisecond,
		Repair: func(ctx context.Context, req RepairRequest) (RepairReply, error) {
			n := running.Add(1)
			defer running.Add(-1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			select {
			case <-release:
			case <-ctx.Done():
				return RepairReply{}, ctx.Err()
			}
			return RepairReply{Data: rangesOf(objs[req.ID].Data, req.Ranges)}, nil
		}})
	for id := uint32(1); id <= 6; id++ {
		objs[id] = codecObject(id, 10_000)
		r.Add(packetize(t, p, objs[id])[0], codecEpoch) // the INFO only
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	for !r.running.Load() {
		time.Sleep(time.Millisecond)
	}
	if err := r.Run(ctx); !errors.Is(err, ErrRunning) {
		t.Fatalf("second Run: %v", err)
	}
	mu.Lock()
	now = now.Add(DefaultMaxAge)
	mu.Unlock()
	for deadline := time.Now().Add(10 * time.Second); running.Load() < 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d repairs running", running.Load())
		}
	}
	for range 6 {
		release <- struct{}{}
		sink.wait(t)
	}
	if most.Load() != 2 {
		t.Fatalf("%d repairs at once", most.Load())
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v", err)
	}
	if st := r.Stats(); st.Repaired != 6 || st.RepairsActive != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestReassemblerConfig(t *testing.T) {
	deliver := func(Received) {}
	for _, c := range []ReassemblerConfig{
		{Deliver: deliver},
		{PublicKey: codecPub},
		{PublicKey: codecPub, Deliver: deliver, MaxObjects: -1},
		{PublicKey: codecPub, Deliver: deliver, MaxAge: -time.Second},
		{PublicKey: codecPub, Deliver: deliver, StaleWindow: 1 << 31},
	} {
		if _, err := NewReassembler(c); !errors.Is(err, ErrConfig) {
			t.Errorf("NewReassembler(%+v): %v", c, err)
		}
	}
}

func TestNoRepairFunc(t *testing.T) {
	p := newCodecPacketizer(t, PacketizerConfig{})
	r, sink := newCodecReassembler(t, ReassemblerConfig{})
	r.Add(packetize(t, p, codecObject(1, 10_000))[0], codecEpoch)
	r.Expire(codecEpoch.Add(DefaultMaxAge))
	if st := r.Stats(); st.RepairFailures != 1 || st.InFlight != 0 || st.InFlightBytes != 0 || len(sink.all()) != 0 {
		t.Fatalf("stats %+v", st)
	}
}
