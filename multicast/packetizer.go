package multicast

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// Defaults of [PacketizerConfig].
const (
	// DefaultMaxBlockSymbols is Kmax: a block of 64 data symbols of 1280
	// bytes (80 KiB) holds half of a typical 160 KB segment, and 64+13
	// shards keep Reed-Solomon decoding cheap.
	DefaultMaxBlockSymbols = 64
	// DefaultOverhead is the parity added to each block: 20% repairs a
	// random loss of several percent without asking for repair (see
	// docs/multicast.md, "FEC").
	DefaultOverhead = 0.20
)

// Object is what the origin sends: a segment or a playlist with its
// object id.
type Object struct {
	// ID is the stream's object id: +1 for each object sent, so that
	// receivers see which ones they missed. See [InitialObjectID].
	ID uint32
	// Kind says what the object is.
	Kind Kind
	// Name is the object's path under /live/{stream}/ (see [ValidName]).
	Name string
	// Data is the object's bytes, at most 4 GiB − 1 (far more than the
	// block count allows with the default sizes).
	Data []byte
}

// InitialObjectID returns the id an origin should give its first object
// when it starts: tenths of a second since 1970, modulo 2^32. Receivers
// drop ids far behind the newest they have seen (replays), so ids must keep
// growing across origin restarts; a stream that sends fewer than 10
// objects a second on average never catches up with this clock, so a
// restarted origin always starts ahead of where it stopped. Ids compare
// modulo 2^32 (RFC 1982), so the wrap every 13.6 years is harmless.
func InitialObjectID(now time.Time) uint32 {
	return uint32(now.UnixMilli() / 100)
}

// PacketizerConfig configures a [Packetizer]. The zero value of each field
// but Stream and Key means the stated default.
type PacketizerConfig struct {
	// Stream is the stream's name, from which the SSRC is derived. Required.
	Stream string
	// Key signs every object's INFO. Required.
	Key ed25519.PrivateKey
	// PacketSize is the UDP payload of a full symbol packet, from
	// MinPacketSize to MaxPacketSize. The symbol size S is PacketSize − 36.
	// If zero, DefaultPacketSize (1316, so S = 1280).
	PacketSize int
	// MaxBlockSymbols is Kmax, the most data symbols in a block. K + M
	// must stay within 256. If zero, DefaultMaxBlockSymbols (64).
	MaxBlockSymbols int
	// Overhead is the parity per block, from 0 to 1: M = ceil(K × Overhead),
	// but at least 3 (small blocks, such as playlists, would otherwise get
	// one parity symbol; see docs/multicast.md, "Blocks and FEC"). If zero,
	// DefaultOverhead (0.20); NoParity turns parity off.
	Overhead float64
	// NoParity sends no parity symbols (Overhead 0).
	NoParity bool
}

// Packetizer turns objects into RTP packets. It keeps the stream's RTP
// sequence number, so one Packetizer serves one stream. Its methods are
// safe for concurrent use, but packets of one stream should leave in the
// order Packetize made them.
type Packetizer struct {
	ssrc       uint32
	key        ed25519.PrivateKey
	packetSize int
	s          int // symbol size
	kmax       int
	ppm        int // overhead in millionths

	mu     sync.Mutex
	seq    uint16   // the next packet's sequence number
	pad    []byte   // the last data symbol, zero-padded to S
	shards [][]byte // one block's shards for the encoder
	info   []byte   // the INFO payload being sent
}

// NewPacketizer checks cfg and returns a packetizer whose first sequence
// number is random (RFC 3550, 5.1).
func NewPacketizer(cfg PacketizerConfig) (*Packetizer, error) {
	if cfg.Stream == "" {
		return nil, fmt.Errorf("%w: no stream name", ErrConfig)
	}
	if len(cfg.Key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%w: private key of %d bytes", ErrConfig, len(cfg.Key))
	}
	if cfg.PacketSize == 0 {
		cfg.PacketSize = DefaultPacketSize
	}
	if cfg.PacketSize < MinPacketSize || cfg.PacketSize > MaxPacketSize {
		return nil, fmt.Errorf("%w: packet size %d not in %d..%d", ErrConfig, cfg.PacketSize, MinPacketSize, MaxPacketSize)
	}
	if cfg.MaxBlockSymbols == 0 {
		cfg.MaxBlockSymbols = DefaultMaxBlockSymbols
	}
	switch {
	case cfg.NoParity:
		cfg.Overhead = 0
	case cfg.Overhead == 0:
		cfg.Overhead = DefaultOverhead
	case math.IsNaN(cfg.Overhead) || cfg.Overhead < 0 || cfg.Overhead > 1:
		return nil, fmt.Errorf("%w: overhead %v not in 0..1", ErrConfig, cfg.Overhead)
	}
	ppm := int(math.Round(cfg.Overhead * 1e6))
	if k := cfg.MaxBlockSymbols; k < 1 || k+parityCount(k, ppm) > MaxShards {
		return nil, fmt.Errorf("%w: %d data symbols per block with overhead %v make more than %d shards",
			ErrConfig, k, cfg.Overhead, MaxShards)
	}
	s := cfg.PacketSize - RTPHeaderSize - SymbolHeaderSize
	return &Packetizer{
		ssrc:       SSRC(cfg.Stream),
		key:        cfg.Key,
		packetSize: cfg.PacketSize,
		s:          s,
		kmax:       cfg.MaxBlockSymbols,
		ppm:        ppm,
		seq:        uint16(rand.N(1 << 16)),
		pad:        make([]byte, s),
	}, nil
}

// SSRC returns the stream's RTP SSRC.
func (p *Packetizer) SSRC() uint32 { return p.ssrc }

// SymbolSize returns S, the symbol size.
func (p *Packetizer) SymbolSize() int { return p.s }

// layout returns the block layout of an object of n bytes: B = ceil(T/Kmax)
// blocks.
func (p *Packetizer) layout(n int) layout {
	t := (n + p.s - 1) / p.s
	return newLayout(uint32(n), p.s, (t+p.kmax-1)/p.kmax)
}

// Sign checks obj and returns its signed Info, as Packetize sends it. The
// origin keeps it to answer repairs of receivers that lost every INFO copy
// (docs/multicast.md, "Repair").
func (p *Packetizer) Sign(obj Object) (Info, error) {
	if err := validName(obj.Name); err != nil {
		return Info{}, fmt.Errorf("%w: %q", err, obj.Name)
	}
	if !validKind(obj.Kind) {
		return Info{}, fmt.Errorf("%w: kind %d", ErrBadObject, obj.Kind)
	}
	if n := RTPHeaderSize + InfoHeaderSize + len(obj.Name) + SignatureSize; n > p.packetSize {
		return Info{}, fmt.Errorf("%w: name of %d bytes makes a %d-byte INFO packet, over the packet size %d",
			ErrBadObject, len(obj.Name), n, p.packetSize)
	}
	if uint64(len(obj.Data)) > math.MaxUint32 {
		return Info{}, fmt.Errorf("%w: %d bytes", ErrBadObject, len(obj.Data))
	}
	if l := p.layout(len(obj.Data)); l.b > 0xffff {
		return Info{}, fmt.Errorf("%w: %d bytes need %d blocks, over 65535", ErrBadObject, len(obj.Data), l.b)
	}
	info := Info{ID: obj.ID, Kind: obj.Kind, Size: uint32(len(obj.Data)), SHA256: sha256.Sum256(obj.Data), Name: obj.Name}
	info.sign(p.key, p.ssrc)
	return info, nil
}

// PacketCount returns how many packets Packetize makes of an object of n
// bytes: 3 INFO copies and every block's data and parity symbols.
func (p *Packetizer) PacketCount(n int) int {
	l := p.layout(n)
	c := 3 + l.t
	for i := range l.b {
		c += parityCount(l.k(i), p.ppm)
	}
	return c
}

// Packetize appends obj's packets to dst and returns the extended slice:
// its INFO, then each block's data and parity symbols, with the INFO again
// after the middle packet and at the end; the last packet has the RTP
// marker bit. Every packet carries the RTP timestamp of now on a 90 kHz
// clock. See docs/multicast.md for the format.
//
// The returned packets belong to the caller. Byte slices between len(dst)
// and cap(dst) are reused when large enough, so a sender that passes the
// last result back as pkts[:0] once it has sent those packets allocates
// almost nothing.
func (p *Packetizer) Packetize(obj Object, now time.Time, dst [][]byte) ([][]byte, error) {
	info, err := p.Sign(obj)
	if err != nil {
		return dst, err
	}
	l := p.layout(len(obj.Data))
	total := p.PacketCount(len(obj.Data))
	ts := rtpTime(now)

	p.mu.Lock()
	defer p.mu.Unlock()
	p.info, _ = info.AppendBinary(p.info[:0])
	n0 := len(dst)
	dst = slices.Grow(dst, total)
	var slab []byte // fresh packet buffers are cut from one allocation
	made := 0
	next := func(n int) []byte {
		made++
		if len(dst) < cap(dst) {
			if b := dst[: len(dst)+1 : cap(dst)][len(dst)]; cap(b) >= n {
				dst = append(dst, b[:n])
				return b[:n]
			}
		}
		if len(slab) < p.packetSize {
			slab = make([]byte, (total-made+1)*p.packetSize)
		}
		b := slab[:n:p.packetSize]
		slab = slab[p.packetSize:]
		dst = append(dst, b)
		return b
	}
	emitInfo := func(marker bool) {
		b := next(RTPHeaderSize + len(p.info))
		rtpHeader(b, p.seq, ts, p.ssrc, marker)
		copy(b[RTPHeaderSize:], p.info)
		p.seq++
	}
	symbols := total - 3
	half := (symbols + 1) / 2 // the middle INFO follows this many symbols
	sent := 0
	emitSymbol := func(block, index, k, m, n int) []byte {
		b := next(RTPHeaderSize + SymbolHeaderSize + n)
		rtpHeader(b, p.seq, ts, p.ssrc, false)
		h := b[RTPHeaderSize:]
		h[0], h[1] = Version, byte(TypeSymbol)
		binary.BigEndian.PutUint16(h[2:], 0)
		binary.BigEndian.PutUint32(h[4:], obj.ID)
		binary.BigEndian.PutUint32(h[8:], info.Size)
		binary.BigEndian.PutUint16(h[12:], uint16(block))
		binary.BigEndian.PutUint16(h[14:], uint16(index))
		binary.BigEndian.PutUint16(h[16:], uint16(k))
		binary.BigEndian.PutUint16(h[18:], uint16(m))
		binary.BigEndian.PutUint16(h[20:], uint16(p.s))
		binary.BigEndian.PutUint16(h[22:], uint16(l.b))
		p.seq++
		sent++
		if sent == half {
			emitInfo(false)
		}
		return b[RTPHeaderSize+SymbolHeaderSize:]
	}

	emitInfo(false)
	if symbols == 0 {
		emitInfo(false)
	}
	for i := range l.b {
		k, m := l.k(i), parityCount(l.k(i), p.ppm)
		p.shards = p.shards[:0]
		for j := range k {
			off := (l.first(i) + j) * p.s
			n := l.symbolLen(i, j)
			copy(emitSymbol(i, j, k, m, n), obj.Data[off:off+n])
			if n < p.s {
				clear(p.pad[copy(p.pad, obj.Data[off:]):])
				p.shards = append(p.shards, p.pad)
			} else {
				p.shards = append(p.shards, obj.Data[off:off+n])
			}
		}
		if m == 0 {
			continue
		}
		for j := range m {
			p.shards = append(p.shards, emitSymbol(i, k+j, k, m, p.s))
		}
		enc, err := code(k, m)
		if err == nil {
			err = enc.Encode(p.shards)
		}
		if err != nil {
			// Cannot happen: the configuration keeps k+m within 256.
			clear(p.shards)
			return dst[:n0], fmt.Errorf("multicast: Reed-Solomon (%d, %d): %w", k, m, err)
		}
	}
	emitInfo(true)
	clear(p.shards) // keep no reference to obj.Data
	return dst, nil
}

// rtpTime returns t on the 90 kHz RTP clock, modulo 2^32.
func rtpTime(t time.Time) uint32 {
	return uint32(t.Unix()*90_000 + int64(t.Nanosecond())*9/100_000)
}
