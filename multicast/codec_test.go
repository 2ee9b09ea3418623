package multicast

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Helpers of the codec's tests. Their names start with "codec" or "test"
// plus a codec word, apart from the socket tests' helpers in the same
// package.

const codecStream = "live1"

var (
	codecKey   = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	codecPub   = codecKey.Public().(ed25519.PublicKey)
	otherKey   = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, ed25519.SeedSize))
	codecEpoch = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
)

// S is the default symbol size.
const S = DefaultPacketSize - RTPHeaderSize - SymbolHeaderSize

func newCodecPacketizer(t testing.TB, cfg PacketizerConfig) *Packetizer {
	t.Helper()
	if cfg.Stream == "" {
		cfg.Stream = codecStream
	}
	if cfg.Key == nil {
		cfg.Key = codecKey
	}
	p, err := NewPacketizer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// codecObject returns a segment of n pseudo-random bytes.
func codecObject(id uint32, n int) Object {
	data := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(id), byte(n), byte(n >> 8), byte(n >> 16)})
	_, _ = r.Read(data)
	sum := sha256.Sum256(data)
	return Object{ID: id, Kind: KindSegment, Name: fmt.Sprintf("%d-%x.ts", id, sum[:8]), Data: data}
}

func packetize(t testing.TB, p *Packetizer, obj Object) [][]byte {
	t.Helper()
	pkts, err := p.Packetize(obj, codecEpoch, nil)
	if err != nil {
		t.Fatal(err)
	}
	return pkts
}

func parsed(t testing.TB, pkt []byte) Packet {
	t.Helper()
	var p Packet
	if err := p.Unmarshal(pkt); err != nil {
		t.Fatalf("Unmarshal(%x...): %v", pkt[:min(len(pkt), 40)], err)
	}
	return p
}

// codecSink collects what a reassembler delivers.
type codecSink struct {
	mu  sync.Mutex
	got []Received
	ch  chan Received
}

func (s *codecSink) deliver(r Received) {
	s.mu.Lock()
	s.got = append(s.got, r)
	s.mu.Unlock()
	select {
	case s.ch <- r:
	default:
	}
}

func (s *codecSink) all() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.got)
}

func (s *codecSink) wait(t testing.TB) Received {
	t.Helper()
	select {
	case r := <-s.ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no object delivered in 10 s")
		return Received{}
	}
}

func newCodecReassembler(t testing.TB, cfg ReassemblerConfig) (*Reassembler, *codecSink) {
	t.Helper()
	sink := &codecSink{ch: make(chan Received, 1024)}
	if cfg.Stream == "" && cfg.SSRC == 0 {
		cfg.Stream = codecStream
	}
	if cfg.PublicKey == nil {
		cfg.PublicKey = codecPub
	}
	cfg.Deliver = sink.deliver
	r, err := NewReassembler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r, sink
}

// addAll gives r every packet at time now.
func addAll(r *Reassembler, pkts [][]byte, now time.Time) {
	for _, p := range pkts {
		r.Add(p, now)
	}
}

// repairNow runs the queued repairs one by one on the calling goroutine,
// as Run does on its own: tests see their effect when it returns.
func (r *Reassembler) repairNow(ctx context.Context) {
	for {
		r.mu.Lock()
		if len(r.queue) == 0 {
			r.mu.Unlock()
			return
		}
		j := r.queue[0]
		r.queue = slices.Delete(r.queue, 0, 1)
		r.active++
		r.mu.Unlock()
		r.repair(ctx, j)
	}
}

// rangesOf returns data's bytes in ranges, concatenated.
func rangesOf(data []byte, ranges []Range) []byte {
	var out []byte
	for _, g := range ranges {
		out = append(out, data[g.Start:g.End]...)
	}
	return out
}

func TestSSRC(t *testing.T) {
	h := sha256.Sum256([]byte("fusioncast-mcast:live1"))
	if got, want := SSRC("live1"), binary.BigEndian.Uint32(h[:4]); got != want {
		t.Fatalf("SSRC = %08x, want %08x", got, want)
	}
	if SSRC("live1") == SSRC("live2") {
		t.Fatal("two streams share an SSRC")
	}
}

// TestPacketizeLayout checks the block layout, the packet order, the INFO
// copies, the marker bit, the timestamps and the sequence numbers.
func TestPacketizeLayout(t *testing.T) {
	for _, c := range []struct {
		size     int
		overhead float64
		noParity bool
		ks, ms   []int // per block
	}{
		{0, 0.2, false, nil, nil},
		{1, 0.2, false, []int{1}, []int{3}}, // small blocks get minParity
		{S, 0.2, false, []int{1}, []int{3}},
		{S + 1, 0.2, false, []int{2}, []int{3}},
		{20 * S, 0.2, false, []int{20}, []int{4}},
		{64 * S, 0.2, false, []int{64}, []int{13}},
		{64*S + 1, 0.2, false, []int{33, 32}, []int{7, 7}},
		{160_000, 0.2, false, []int{63, 62}, []int{13, 13}},
		{160_000, 0, true, []int{63, 62}, []int{0, 0}},
		{160_000, 0.5, false, []int{63, 62}, []int{32, 31}},
		{15 * S, 0.2, false, []int{15}, []int{3}}, // 0.2 × 15 is 3.0000000000000004 in floating point
		{2_000_000, 0.2, false, nil, nil},
	} {
		t.Run(fmt.Sprintf("%d/%v", c.size, c.overhead), func(t *testing.T) {
			p := newCodecPacketizer(t, PacketizerConfig{Overhead: c.overhead, NoParity: c.noParity})
			p.seq = 65000
			obj := codecObject(42, c.size)
			now := codecEpoch.Add(1234567 * time.Microsecond)
			pkts, err := p.Packetize(obj, now, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(pkts) != p.PacketCount(c.size) {
				t.Fatalf("%d packets, PacketCount says %d", len(pkts), p.PacketCount(c.size))
			}
			var infos []int
			ks, ms := map[int]int{}, map[int]int{}
			next := map[int]int{} // block → next symbol index expected
			lastBlock, symbols := 0, 0
			for i, b := range pkts {
				if len(b) > DefaultPacketSize {
					t.Fatalf("packet %d has %d bytes", i, len(b))
				}
				q := parsed(t, b)
				if q.Sequence != uint16(65000+i) || q.SSRC != SSRC(codecStream) || q.Timestamp != rtpTime(now) {
					t.Fatalf("packet %d: seq %d ssrc %08x ts %d", i, q.Sequence, q.SSRC, q.Timestamp)
				}
				if q.Marker != (i == len(pkts)-1) {
					t.Fatalf("packet %d of %d: marker %v", i, len(pkts), q.Marker)
				}
				if q.ObjectID != 42 || q.ObjectSize != uint32(c.size) {
					t.Fatalf("packet %d: id %d size %d", i, q.ObjectID, q.ObjectSize)
				}
				if q.Type == TypeInfo {
					infos = append(infos, i)
					if !q.Info.Verify(codecPub, SSRC(codecStream)) || q.Info.Name != obj.Name || q.Info.SHA256 != sha256.Sum256(obj.Data) {
						t.Fatalf("packet %d: bad INFO %+v", i, q.Info)
					}
					continue
				}
				symbols++
				s := q.Symbol
				blk := int(s.Block)
				if blk < lastBlock || int(s.Index) != next[blk] {
					t.Fatalf("packet %d: block %d symbol %d out of order", i, blk, s.Index)
				}
				lastBlock, next[blk] = blk, next[blk]+1
				ks[blk], ms[blk] = int(s.K), int(s.M)
				if s.Size != S {
					t.Fatalf("symbol size %d", s.Size)
				}
			}
			mid := (symbols + 1) / 2
			if want := []int{0, mid + 1, len(pkts) - 1}; !slices.Equal(infos, want) {
				t.Fatalf("INFO copies at %v, want %v", infos, want)
			}
			if c.ks != nil {
				for i := range c.ks {
					if ks[i] != c.ks[i] || ms[i] != c.ms[i] {
						t.Fatalf("block %d: K %d M %d, want %d %d", i, ks[i], ms[i], c.ks[i], c.ms[i])
					}
				}
				if len(ks) != len(c.ks) {
					t.Fatalf("%d blocks, want %d", len(ks), len(c.ks))
				}
			}
			for blk, n := range next {
				if n != ks[blk]+ms[blk] {
					t.Fatalf("block %d: %d symbols for K %d M %d", blk, n, ks[blk], ms[blk])
				}
			}
			// The sequence continues with the next object, across the wrap.
			more := packetize(t, p, codecObject(43, 10))
			if q := parsed(t, more[0]); q.Sequence != uint16(65000+len(pkts)) {
				t.Fatalf("next object starts at %d", q.Sequence)
			}
		})
	}
}

// TestPacketizeParity checks that parity symbols are those of
// klauspost/reedsolomon's default code, the code docs/multicast.md names.
func TestPacketizeParity(t *testing.T) {
	p := newCodecPacketizer(t, PacketizerConfig{})
	obj := codecObject(1, 3*S+100)
	var shards [][]byte
	for _, b := range packetize(t, p, obj) {
		if q := parsed(t, b); q.Type == TypeSymbol {
			shards = append(shards, bytes.Clone(q.Data))
		}
	}
	if len(shards) != 4+minParity {
		t.Fatalf("%d symbols", len(shards))
	}
	shards[3] = append(shards[3], make([]byte, S-100)...)
	enc, err := code(4, minParity)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := enc.Verify(shards); !ok || err != nil {
		t.Fatalf("parity does not verify: %v %v", ok, err)
	}
}

func TestPacketizeReusesBuffers(t *testing.T) {
	p := newCodecPacketizer(t, PacketizerConfig{})
	obj := codecObject(1, 160_000)
	pkts := packetize(t, p, obj)
	allocs := testing.AllocsPerRun(20, func() {
		obj.ID++
		var err error
		if pkts, err = p.Packetize(obj, codecEpoch, pkts[:0]); err != nil {
			t.Fatal(err)
		}
	})
	// The codec allocates nothing itself; klauspost/reedsolomon allocates
	// up to 2 objects per block it encodes (a pooled slice, a table).
	if allocs > 2*2 && !codecRace {
		t.Fatalf("%v allocations per object of 2 blocks with reused buffers", allocs)
	}
	r, sink := newCodecReassembler(t, ReassemblerConfig{})
	addAll(r, pkts, codecEpoch)
	if got := sink.all(); len(got) != 1 || !bytes.Equal(got[0].Data, obj.Data) {
		t.Fatal("the last object did not come through")
	}
}

func TestPacketizerConfig(t *testing.T) {
	for _, c := range []PacketizerConfig{
		{Key: codecKey},
		{Stream: "s"},
		{Stream: "s", Key: codecKey, PacketSize: 255},
		{Stream: "s", Key: codecKey, PacketSize: 1473},
		{Stream: "s", Key: codecKey, Overhead: 1.01},
		{Stream: "s", Key: codecKey, Overhead: -0.1},
		{Stream: "s", Key: codecKey, MaxBlockSymbols: 129, Overhead: 1},
		{Stream: "s", Key: codecKey, MaxBlockSymbols: 256},
		{Stream: "s", Key: codecKey, MaxBlockSymbols: -1},
	} {
		if _, err := NewPacketizer(c); !errors.Is(err, ErrConfig) {
			t.Errorf("NewPacketizer(%+v): %v", c, err)
		}
	}
	for _, c := range []PacketizerConfig{
		{Stream: "s", Key: codecKey, MaxBlockSymbols: 128, Overhead: 1},
		{Stream: "s", Key: codecKey, MaxBlockSymbols: 255, NoParity: true},
		{Stream: "s", Key: codecKey, PacketSize: 256},
		{Stream: "s", Key: codecKey, PacketSize: 1472},
	} {
		if _, err := NewPacketizer(c); err != nil {
			t.Errorf("NewPacketizer(%+v): %v", c, err)
		}
	}
}

func TestPacketizeBadObjects(t *testing.T) {
	p := newCodecPacketizer(t, PacketizerConfig{})
	small := newCodecPacketizer(t, PacketizerConfig{PacketSize: MinPacketSize, MaxBlockSymbols: 1, NoParity: true})
	for _, c := range []struct {
		p    *Packetizer
		obj  Object
		want error
	}{
		{p, Object{Kind: KindSegment, Name: ""}, ErrBadName},
		{p, Object{Kind: KindSegment, Name: strings.Repeat("a", 256)}, ErrBadName},
		{p, Object{Kind: KindSegment, Name: "/etc/passwd"}, ErrBadName},
		{p, Object{Kind: KindSegment, Name: "../x.ts"}, ErrBadName},
		{p, Object{Kind: KindSegment, Name: "a/../../x.ts"}, ErrBadName},
		{p, Object{Kind: KindSegment, Name: "a\\b.ts"}, ErrBadName},
		{p, Object{Kind: KindSegment, Name: "a\x00.ts"}, ErrBadName},
		{p, Object{Kind: KindSegment, Name: "\xff.ts"}, ErrBadName},
		{p, Object{Kind: 0, Name: "x.ts"}, ErrBadObject},
		{p, Object{Kind: 3, Name: "x.ts"}, ErrBadObject},
		{small, Object{Kind: KindSegment, Name: strings.Repeat("a", 133)}, ErrBadObject},
		{small, Object{Kind: KindSegment, Name: "x.ts", Data: make([]byte, 220*65536)}, ErrBadObject},
	} {
		if _, err := c.p.Packetize(c.obj, codecEpoch, nil); !errors.Is(err, c.want) {
			t.Errorf("Packetize(%q, %d bytes): %v, want %v", c.obj.Name, len(c.obj.Data), err, c.want)
		}
	}
	for _, name := range []string{"index.m3u8", "123-abcdef0123456789.ts", "a/b.ts", "é.ts", strings.Repeat("a", 255)} {
		if _, err := p.Packetize(Object{Kind: KindPlaylist, Name: name}, codecEpoch, nil); err != nil {
			t.Errorf("Packetize(%q): %v", name, err)
		}
	}
	if _, err := small.Packetize(Object{Kind: KindSegment, Name: strings.Repeat("a", 132), Data: make([]byte, 220*65535)}, codecEpoch, nil); err != nil {
		t.Errorf("largest object: %v", err)
	}
}

func TestRTPTime(t *testing.T) {
	base := time.Unix(1_000_000, 0)
	if d := rtpTime(base.Add(time.Second)) - rtpTime(base); d != 90_000 {
		t.Fatalf("one second is %d ticks", d)
	}
	if d := rtpTime(base.Add(time.Second/90_000*10)) - rtpTime(base); d != 9 && d != 10 {
		t.Fatalf("10 ticks are %d", d)
	}
}

func TestInfoBinary(t *testing.T) {
	p := newCodecPacketizer(t, PacketizerConfig{})
	info, err := p.Sign(codecObject(77, 5000))
	if err != nil {
		t.Fatal(err)
	}
	b, err := info.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var got Info
	if err := got.UnmarshalBinary(b); err != nil || got != info {
		t.Fatalf("UnmarshalBinary: %+v, %v", got, err)
	}
	if !got.Verify(codecPub, p.SSRC()) {
		t.Fatal("does not verify")
	}
	for name, i := range map[string]Info{
		"other ssrc": info, "id": info, "size": info, "flags": info, "name": info, "kind": info,
	} {
		ssrc := p.SSRC()
		switch name {
		case "other ssrc":
			ssrc++
		case "id":
			i.ID++
		case "size":
			i.Size++
		case "flags":
			i.Flags = 1
		case "name":
			i.Name = "index.m3u8"
		case "kind":
			i.Kind = KindPlaylist
		}
		if i.Verify(codecPub, ssrc) {
			t.Errorf("verifies with another %s", name)
		}
	}
	if info.Verify(otherKey.Public().(ed25519.PublicKey), p.SSRC()) {
		t.Error("verifies with another key")
	}
	for _, bad := range [][]byte{b[:47], b[:len(b)-1], append(bytes.Clone(b), 0)} {
		if err := got.UnmarshalBinary(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("UnmarshalBinary(%d bytes): %v", len(bad), err)
		}
	}
}

// parseCases are packets and what Unmarshal says of them; they also seed
// FuzzParse.
func parseCases(t testing.TB) []struct {
	name string
	in   []byte
	err  error
} {
	p := newCodecPacketizer(t, PacketizerConfig{})
	p.seq = 1
	pkts := packetize(t, p, codecObject(9, 2*S+10))
	info, sym, last := pkts[0], pkts[1], pkts[3] // INFO s0 s1 s2 INFO p0 p1 p2 INFO; s2 is short
	mut := func(b []byte, f func([]byte) []byte) []byte { return f(bytes.Clone(b)) }
	return []struct {
		name string
		in   []byte
		err  error
	}{
		{"info", info, nil},
		{"symbol", sym, nil},
		{"last data symbol", last, nil},
		{"parity", pkts[5], nil},
		{"empty", nil, errShort},
		{"rtp only", info[:12], errShort},
		{"rtp version 1", mut(info, func(b []byte) []byte { b[0] = 0x40; return b }), errRTP},
		{"rtp csrc missing", mut(info[:30], func(b []byte) []byte { b[0] |= 0x0f; return b }), errRTP},
		{"rtp padding", mut(sym, func(b []byte) []byte { b[0] |= 0x20; b[len(b)-1] = 4; return b }), errSymbolLength},
		{"payload type", mut(info, func(b []byte) []byte { b[1] = 97; return b }), errPayloadType},
		{"version", mut(info, func(b []byte) []byte { b[12] = 2; return b }), errVersion},
		{"type", mut(info, func(b []byte) []byte { b[13] = 2; return b }), errType},
		{"unknown flags", mut(sym, func(b []byte) []byte { b[14] = 0x80; return b }), nil},
		{"short symbol header", sym[:12+20], errShort},
		{"symbol short", sym[:len(sym)-1], errSymbolLength},
		{"symbol long", append(bytes.Clone(sym), 0), errSymbolLength},
		{"last symbol padded", append(bytes.Clone(last), 0), errSymbolLength},
		{"block out of range", mut(sym, func(b []byte) []byte { b[12+13] = 1; return b }), errLayout},
		{"K wrong", mut(sym, func(b []byte) []byte { b[12+17] = 2; return b }), errLayout},
		{"index over K+M", mut(sym, func(b []byte) []byte { b[12+15] = 6; return b }), errLayout},
		{"K+M over 256", mut(sym, func(b []byte) []byte { b[12+18] = 1; return b }), errLayout},
		{"S zero", mut(sym, func(b []byte) []byte { b[12+20], b[12+21] = 0, 0; return b }), errLayout},
		{"S too small", mut(sym, func(b []byte) []byte { binary.BigEndian.PutUint16(b[12+20:], MinSymbolSize-1); return b }), errLayout},
		{"S too big", mut(sym, func(b []byte) []byte { binary.BigEndian.PutUint16(b[12+20:], MaxSymbolSize+1); return b }), errLayout},
		{"B zero", mut(sym, func(b []byte) []byte { b[12+22], b[12+23] = 0, 0; return b }), errLayout},
		{"B over T", mut(sym, func(b []byte) []byte { b[12+23] = 4; return b }), errLayout},
		{"size zero", mut(sym, func(b []byte) []byte { clear(b[12+8 : 12+12]); return b }), errLayout},
		{"size differs", mut(last, func(b []byte) []byte { b[12+11]++; return b }), errSymbolLength},
		{"info kind", mut(info, func(b []byte) []byte { b[12+12] = 3; return b }), errKind},
		{"info reserved", mut(info, func(b []byte) []byte { b[12+13] = 1; return b }), errReserved},
		{"info name length", mut(info, func(b []byte) []byte { b[12+15]++; return b }), errInfoLength},
		{"info name empty", mut(info[:12+48], func(b []byte) []byte {
			b[12+14], b[12+15] = 0, 0
			return append(b, make([]byte, 64)...)
		}), errNameLength},
		{"info name dotdot", mut(info, func(b []byte) []byte { b[12+48], b[12+49] = '.', '.'; return b }), errNameChars},
		{"info name slash", mut(info, func(b []byte) []byte { b[12+48] = '/'; return b }), errNameChars},
		{"info name nul", mut(info, func(b []byte) []byte { b[12+50] = 0; return b }), errNameChars},
		{"info name backslash", mut(info, func(b []byte) []byte { b[12+50] = '\\'; return b }), errNameChars},
		{"info name utf8", mut(info, func(b []byte) []byte { b[12+50] = 0xff; return b }), errNameUTF8},
		{"info truncated", info[:len(info)-1], errInfoLength},
		{"info short", info[:12+40], errShort},
	}
}

func TestUnmarshal(t *testing.T) {
	for _, c := range parseCases(t) {
		var p Packet
		err := p.Unmarshal(c.in)
		if err != c.err {
			t.Errorf("%s: %v, want %v", c.name, err, c.err)
			continue
		}
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("%s: %v does not wrap ErrMalformed", c.name, err)
			}
			continue
		}
		out, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, c.in) {
			t.Errorf("%s: re-marshalled differently", c.name)
		}
	}
}

func TestUnmarshalAllocs(t *testing.T) {
	p := newCodecPacketizer(t, PacketizerConfig{})
	sym := packetize(t, p, codecObject(1, 5000))[1]
	if n := testing.AllocsPerRun(100, func() {
		var q Packet
		if err := q.Unmarshal(sym); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("%v allocations to parse a symbol", n)
	}
}

func TestSeqTracker(t *testing.T) {
	for _, c := range []struct {
		name string
		seqs []uint16
		lost int64
	}{
		{"in order", []uint16{1, 2, 3, 4}, 0},
		{"gap", []uint16{1, 2, 5, 6}, 2},
		{"late", []uint16{1, 2, 4, 3, 5}, 0},
		{"duplicate", []uint16{1, 2, 2, 3, 1}, 0},
		{"late duplicate", []uint16{1, 3, 2, 2}, 0},
		{"wrap", []uint16{65534, 65535, 0, 1}, 0},
		{"gap across wrap", []uint16{65534, 0, 1}, 1},
		{"before the first", []uint16{10, 9, 11}, 0},
		{"restart ahead", []uint16{1, 2, 20000, 20001}, 0},
		{"restart behind", []uint16{30000, 30001, 100, 101, 102, 104}, 1},
		{"stray far behind", []uint16{30000, 100, 30001, 101, 30002}, 0},
	} {
		var tr seqTracker
		var lost int64
		for _, s := range c.seqs {
			lost += tr.add(s)
		}
		if lost != c.lost {
			t.Errorf("%s: lost %d, want %d", c.name, lost, c.lost)
		}
	}
}
