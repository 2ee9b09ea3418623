package multicast

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"strings"
	"unicode/utf8"

	"github.com/pion/rtp"
)

// Sizes and constants of the format (docs/multicast.md, "Packets").
const (
	// Version is the fusioncast header version this package speaks.
	Version = 1
	// PayloadType is the RTP payload type of every packet: the first
	// dynamic type (RFC 3551), as nothing registered describes this payload.
	PayloadType = 96
	// RTPHeaderSize is the size of the RTP header the packetizer writes
	// (no CSRC, no extension, no padding).
	RTPHeaderSize = 12
	// CommonHeaderSize is the part of the fusioncast header every packet has.
	CommonHeaderSize = 12
	// SymbolHeaderSize is the fusioncast header of a SYMBOL packet.
	SymbolHeaderSize = 24
	// InfoHeaderSize is the INFO payload before the name.
	InfoHeaderSize = 48
	// SignatureSize is the size of the Ed25519 signature ending an INFO.
	SignatureSize = ed25519.SignatureSize
	// MaxNameLen is the longest object name.
	MaxNameLen = 255
	// MaxShards bounds K+M of a block: Reed-Solomon over GF(2^8) has at most
	// 256 shards.
	MaxShards = 256

	// DefaultPacketSize is 7 MPEG-TS packets of 188 bytes: the UDP payload
	// IPTV equipment is built for, and below every Ethernet path's MTU with
	// IPv4, IPv6 and a VLAN or tunnel header to spare.
	DefaultPacketSize = 1316
	// MinPacketSize and MaxPacketSize bound the configured packet size. 1472
	// is the UDP payload of a 1500-byte IPv4 Ethernet frame.
	MinPacketSize = 256
	MaxPacketSize = 1472
	// MinSymbolSize and MaxSymbolSize bound the symbol size S a receiver
	// accepts: those of MinPacketSize and MaxPacketSize packets. They bound
	// what one forged packet can make a receiver allocate and track.
	MinSymbolSize = MinPacketSize - RTPHeaderSize - SymbolHeaderSize
	MaxSymbolSize = MaxPacketSize - RTPHeaderSize - SymbolHeaderSize

	// SignatureContext starts every signed message, so that an INFO
	// signature can never be taken for a signature of something else made
	// with the same key.
	SignatureContext = "fusioncast-mcast/1"
)

// Kind says what an object is.
type Kind uint8

// The kinds of object.
const (
	KindSegment  Kind = 1 // a media segment, named {seq}-{hash16}.ts
	KindPlaylist Kind = 2 // a media playlist, named index.m3u8
)

func (k Kind) String() string {
	switch k {
	case KindSegment:
		return "segment"
	case KindPlaylist:
		return "playlist"
	}
	return "kind(" + itoa(int(k)) + ")"
}

// PacketType is the type byte of the fusioncast header.
type PacketType uint8

// The packet types.
const (
	TypeSymbol PacketType = 0 // a data or parity symbol of a block
	TypeInfo   PacketType = 1 // an object's signed description
)

func (t PacketType) String() string {
	switch t {
	case TypeSymbol:
		return "SYMBOL"
	case TypeInfo:
		return "INFO"
	}
	return "type(" + itoa(int(t)) + ")"
}

// SSRC returns the RTP SSRC of a stream: the first 4 bytes of
// SHA-256("fusioncast-mcast:" + stream), big-endian. Deriving it from the
// name lets a receiver know it without signalling, and keeps two streams
// sent to one group apart.
func SSRC(stream string) uint32 {
	h := sha256.Sum256([]byte("fusioncast-mcast:" + stream))
	return binary.BigEndian.Uint32(h[:4])
}

// Info describes an object. It travels in INFO packets, signed, and is what
// a receiver trusts: nothing is delivered whose bytes do not hash to the
// SHA256 of an Info whose signature verifies.
//
//	 0               1               2               3
//	+---------------+---------------+-------------------------------+
//	| version = 1   | type = 1      | flags                         |  0
//	+---------------+---------------+-------------------------------+
//	| object id                                                     |  4
//	+---------------------------------------------------------------+
//	| object size                                                   |  8
//	+---------------+---------------+-------------------------------+
//	| kind          | reserved = 0  | name length L                 | 12
//	+---------------+---------------+-------------------------------+
//	| SHA-256 of the object (32 bytes)                              | 16
//	+---------------------------------------------------------------+
//	| name (L bytes)                                                | 48
//	+---------------------------------------------------------------+
//	| Ed25519 signature (64 bytes)                                  | 48+L
//	+---------------------------------------------------------------+
//
// The signature is over SignatureContext, the stream's SSRC (4 bytes,
// big-endian) and bytes [0, 48+L).
type Info struct {
	// ID is the object id: +1 for each object of the stream.
	ID uint32
	// Flags are the common header's flags as sent (0 today). They are kept
	// because the signature covers them; receivers ignore their meaning.
	Flags uint16
	// Kind says what the object is.
	Kind Kind
	// Size is the object's length in bytes.
	Size uint32
	// SHA256 is the digest of the object's bytes.
	SHA256 [sha256.Size]byte
	// Name is the object's path under /live/{stream}/ (see [ValidName]).
	Name string
	// Signature is the Ed25519 signature described above.
	Signature [SignatureSize]byte
}

// infoSize returns the INFO payload's length.
func (i *Info) infoSize() int { return InfoHeaderSize + len(i.Name) + SignatureSize }

// appendSigned appends the signed part of the INFO payload, bytes [0, 48+L).
func (i *Info) appendSigned(b []byte) []byte {
	b = append(b, Version, byte(TypeInfo))
	b = binary.BigEndian.AppendUint16(b, i.Flags)
	b = binary.BigEndian.AppendUint32(b, i.ID)
	b = binary.BigEndian.AppendUint32(b, i.Size)
	b = append(b, byte(i.Kind), 0)
	b = binary.BigEndian.AppendUint16(b, uint16(len(i.Name)))
	b = append(b, i.SHA256[:]...)
	return append(b, i.Name...)
}

// signedMessage appends what the signature covers to b.
func (i *Info) signedMessage(b []byte, ssrc uint32) []byte {
	b = append(b, SignatureContext...)
	b = binary.BigEndian.AppendUint32(b, ssrc)
	return i.appendSigned(b)
}

// sign fills in the signature.
func (i *Info) sign(key ed25519.PrivateKey, ssrc uint32) {
	var buf [len(SignatureContext) + 4 + InfoHeaderSize + MaxNameLen]byte
	copy(i.Signature[:], ed25519.Sign(key, i.signedMessage(buf[:0], ssrc)))
}

// Verify reports whether the signature is that of pub over the Info as
// sent on the stream with the given SSRC. An Info with an invalid name or
// kind never verifies.
func (i *Info) Verify(pub ed25519.PublicKey, ssrc uint32) bool {
	if len(pub) != ed25519.PublicKeySize || validName(i.Name) != nil || !validKind(i.Kind) {
		return false
	}
	var buf [len(SignatureContext) + 4 + InfoHeaderSize + MaxNameLen]byte
	return ed25519.Verify(pub, i.signedMessage(buf[:0], ssrc), i.Signature[:])
}

// AppendBinary appends the INFO payload (the RTP payload of an INFO
// packet, signature included) to b. The origin can serve these bytes to
// receivers that need an object's Info for a repair.
func (i *Info) AppendBinary(b []byte) ([]byte, error) {
	if err := validName(i.Name); err != nil {
		return b, err
	}
	if !validKind(i.Kind) {
		return b, errKind
	}
	b = i.appendSigned(b)
	return append(b, i.Signature[:]...), nil
}

// MarshalBinary returns the INFO payload; see [Info.AppendBinary].
func (i *Info) MarshalBinary() ([]byte, error) {
	return i.AppendBinary(make([]byte, 0, i.infoSize()))
}

// UnmarshalBinary reads an INFO payload as written by
// [Info.MarshalBinary]. It checks the format, not the signature.
func (i *Info) UnmarshalBinary(b []byte) error {
	var c common
	if err := c.parse(b); err != nil {
		return err
	}
	if c.typ != TypeInfo {
		return errType
	}
	return i.parse(&c, b)
}

// parse reads the INFO payload b whose common header is c.
func (i *Info) parse(c *common, b []byte) error {
	if len(b) < InfoHeaderSize {
		return errShort
	}
	kind, reserved, l := Kind(b[12]), b[13], int(binary.BigEndian.Uint16(b[14:16]))
	switch {
	case !validKind(kind):
		return errKind
	case reserved != 0:
		return errReserved
	case len(b) != InfoHeaderSize+l+SignatureSize:
		return errInfoLength
	}
	name := b[InfoHeaderSize : InfoHeaderSize+l]
	if err := validNameBytes(name); err != nil {
		return err
	}
	*i = Info{ID: c.id, Flags: c.flags, Kind: kind, Size: c.size, Name: string(name)}
	copy(i.SHA256[:], b[16:48])
	copy(i.Signature[:], b[InfoHeaderSize+l:])
	return nil
}

func validKind(k Kind) bool { return k == KindSegment || k == KindPlaylist }

// ValidName reports whether name may name an object: 1 to 255 bytes of
// UTF-8, no "..", no leading "/", no NUL and no backslash. A receiver
// writes objects under a directory by name, so a name must never climb out
// of it, whatever a forged or buggy sender puts there.
func ValidName(name string) error { return validName(name) }

func validName(name string) error {
	switch {
	case len(name) == 0 || len(name) > MaxNameLen:
		return errNameLength
	case !utf8.ValidString(name):
		return errNameUTF8
	case name[0] == '/' || strings.Contains(name, "..") || strings.ContainsAny(name, "\x00\\"):
		return errNameChars
	}
	return nil
}

// validNameBytes is validName without converting b to a string first, so a
// rejected name costs no allocation.
func validNameBytes(b []byte) error {
	switch {
	case len(b) == 0 || len(b) > MaxNameLen:
		return errNameLength
	case !utf8.Valid(b):
		return errNameUTF8
	}
	for j, c := range b {
		if c == 0 || c == '\\' || c == '.' && j+1 < len(b) && b[j+1] == '.' {
			return errNameChars
		}
	}
	if b[0] == '/' {
		return errNameChars
	}
	return nil
}

// SymbolHeader is the rest of a SYMBOL packet's header:
//
//	 0               1               2               3
//	+---------------+---------------+-------------------------------+
//	| version = 1   | type = 0      | flags                         |  0
//	+---------------+---------------+-------------------------------+
//	| object id                                                     |  4
//	+---------------------------------------------------------------+
//	| object size                                                   |  8
//	+-------------------------------+-------------------------------+
//	| block index                   | symbol index                  | 12
//	+-------------------------------+-------------------------------+
//	| K (data symbols of the block) | M (parity symbols)            | 16
//	+-------------------------------+-------------------------------+
//	| symbol size S                 | block count B                 | 20
//	+-------------------------------+-------------------------------+
//	| symbol bytes: S, or the object's remaining bytes for its last |
//	| data symbol                                                   | 24
//	+---------------------------------------------------------------+
//
// Symbols 0..K-1 of a block are its data, K..K+M-1 its Reed-Solomon parity.
type SymbolHeader struct {
	Block  uint16 // the block's index, 0..Blocks-1
	Index  uint16 // the symbol's index in the block, 0..K+M-1
	K      uint16 // data symbols in the block
	M      uint16 // parity symbols in the block
	Size   uint16 // S, the symbol size of the whole object
	Blocks uint16 // B, the object's block count
}

// Packet is one parsed packet: the RTP header fields that matter and the
// fusioncast header. It does not say whether the packet is authentic: an
// INFO's signature is checked by [Info.Verify], symbols only through the
// object's digest.
type Packet struct {
	// Sequence, Timestamp, SSRC and Marker are the RTP header's fields.
	Sequence  uint16
	Timestamp uint32
	SSRC      uint32
	Marker    bool

	// Type is the fusioncast packet type.
	Type PacketType
	// Flags, ObjectID and ObjectSize are the common header's fields. When
	// marshalling an INFO packet they are taken from Info instead.
	Flags      uint16
	ObjectID   uint32
	ObjectSize uint32

	// Symbol is the header of a SYMBOL packet.
	Symbol SymbolHeader
	// Data is the symbol bytes of a SYMBOL packet: a slice of the input of
	// Unmarshal, not a copy.
	Data []byte

	// Info is the content of an INFO packet, signature not verified.
	Info Info
}

// common is the 12-byte header every payload starts with:
//
//	[0] version  [1] type  [2:4] flags  [4:8] object id  [8:12] object size
type common struct {
	typ   PacketType
	flags uint16
	id    uint32
	size  uint32
}

func (c *common) parse(b []byte) error {
	if len(b) < CommonHeaderSize {
		return errShort
	}
	if b[0] != Version {
		return errVersion
	}
	c.typ = PacketType(b[1])
	if c.typ != TypeSymbol && c.typ != TypeInfo {
		return errType
	}
	c.flags = binary.BigEndian.Uint16(b[2:4])
	c.id = binary.BigEndian.Uint32(b[4:8])
	c.size = binary.BigEndian.Uint32(b[8:12])
	return nil
}

// Unmarshal parses an RTP packet carrying a fusioncast payload. It checks
// everything a packet can be checked for alone: RTP version 2 and payload
// type 96, the header fields' ranges, the block layout against the object
// size (see docs/multicast.md, "Blocks"), the symbol's length, and an
// INFO's kind, name and length. Every error wraps [ErrMalformed]. A SYMBOL's
// Data is a slice of buf.
func (p *Packet) Unmarshal(buf []byte) error {
	var h rtp.Packet
	if len(buf) < RTPHeaderSize+CommonHeaderSize {
		return errShort
	}
	if buf[0]>>6 != 2 {
		return errRTP
	}
	if err := h.Unmarshal(buf); err != nil {
		return errRTP
	}
	if h.PayloadType != PayloadType {
		return errPayloadType
	}
	return p.parsePayload(&h.Header, h.Payload)
}

func (p *Packet) parsePayload(h *rtp.Header, b []byte) error {
	var c common
	if err := c.parse(b); err != nil {
		return err
	}
	*p = Packet{
		Sequence: h.SequenceNumber, Timestamp: h.Timestamp, SSRC: h.SSRC, Marker: h.Marker,
		Type: c.typ, Flags: c.flags, ObjectID: c.id, ObjectSize: c.size,
	}
	if c.typ == TypeInfo {
		return p.Info.parse(&c, b)
	}
	if len(b) < SymbolHeaderSize {
		return errShort
	}
	s := SymbolHeader{
		Block:  binary.BigEndian.Uint16(b[12:14]),
		Index:  binary.BigEndian.Uint16(b[14:16]),
		K:      binary.BigEndian.Uint16(b[16:18]),
		M:      binary.BigEndian.Uint16(b[18:20]),
		Size:   binary.BigEndian.Uint16(b[20:22]),
		Blocks: binary.BigEndian.Uint16(b[22:24]),
	}
	if err := s.check(c.size, len(b)-SymbolHeaderSize); err != nil {
		return err
	}
	p.Symbol = s
	p.Data = b[SymbolHeaderSize:]
	return nil
}

// check validates a symbol header against the object size it came with
// and the length n of the symbol bytes.
func (s *SymbolHeader) check(size uint32, n int) error {
	if s.Size < MinSymbolSize || s.Size > MaxSymbolSize || size == 0 || s.Blocks == 0 {
		return errLayout
	}
	l := newLayout(size, int(s.Size), int(s.Blocks))
	switch {
	case !l.valid():
		return errLayout
	case int(s.Block) >= l.b || int(s.K) != l.k(int(s.Block)):
		return errLayout
	case int(s.K)+int(s.M) > MaxShards || s.Index >= s.K+s.M:
		return errLayout
	case n != l.symbolLen(int(s.Block), int(s.Index)):
		return errSymbolLength
	}
	return nil
}

// MarshalSize returns the length of the packet once marshalled.
func (p *Packet) MarshalSize() int {
	if p.Type == TypeInfo {
		return RTPHeaderSize + p.Info.infoSize()
	}
	return RTPHeaderSize + SymbolHeaderSize + len(p.Data)
}

// Marshal returns the packet's bytes; see [Packet.MarshalTo].
func (p *Packet) Marshal() ([]byte, error) {
	b := make([]byte, p.MarshalSize())
	n, err := p.MarshalTo(b)
	return b[:n], err
}

// MarshalTo writes the packet into buf and returns its length. It writes
// what it is given, valid or not, except that an INFO must have a valid
// name and kind; buf must hold [Packet.MarshalSize] bytes.
func (p *Packet) MarshalTo(buf []byte) (int, error) {
	n := p.MarshalSize()
	if len(buf) < n {
		return 0, errBufferShort
	}
	rtpHeader(buf, p.Sequence, p.Timestamp, p.SSRC, p.Marker)
	b := buf[RTPHeaderSize:RTPHeaderSize]
	if p.Type == TypeInfo {
		if _, err := p.Info.AppendBinary(b); err != nil {
			return 0, err
		}
		return n, nil
	}
	b = append(b, Version, byte(p.Type))
	b = binary.BigEndian.AppendUint16(b, p.Flags)
	b = binary.BigEndian.AppendUint32(b, p.ObjectID)
	b = binary.BigEndian.AppendUint32(b, p.ObjectSize)
	s := &p.Symbol
	for _, v := range [...]uint16{s.Block, s.Index, s.K, s.M, s.Size, s.Blocks} {
		b = binary.BigEndian.AppendUint16(b, v)
	}
	copy(buf[RTPHeaderSize+SymbolHeaderSize:], p.Data)
	return n, nil
}

// rtpHeader writes a 12-byte RTP header: V=2, no padding, extension or
// CSRC, PT 96.
func rtpHeader(buf []byte, seq uint16, ts, ssrc uint32, marker bool) {
	h := rtp.Header{Version: 2, Marker: marker, PayloadType: PayloadType, SequenceNumber: seq, Timestamp: ts, SSRC: ssrc}
	// MarshalTo cannot fail on a 12-byte header and a buffer that holds it.
	_, _ = h.MarshalTo(buf[:RTPHeaderSize])
}

// layout is how an object of a given size is cut: T data symbols of S bytes
// (the last one short) in B blocks whose sizes differ by at most one, the
// larger ones first (docs/multicast.md, "Blocks").
type layout struct {
	size int // object bytes
	s    int // symbol size S
	t    int // data symbols T = ceil(size/S)
	b    int // blocks B
	low  int // floor(T/B): data symbols of the smaller blocks
	big  int // T mod B: how many blocks have low+1
}

func newLayout(size uint32, s, blocks int) layout {
	l := layout{size: int(size), s: s, b: blocks}
	if s > 0 {
		l.t = (l.size + s - 1) / s
	}
	if blocks > 0 {
		l.low, l.big = l.t/blocks, l.t%blocks
	}
	return l
}

// valid reports whether every block has between 1 and MaxShards data
// symbols.
func (l layout) valid() bool {
	return l.s > 0 && l.b > 0 && l.b <= l.t && l.k(0) <= MaxShards && l.b <= 0xffff
}

// k returns the data symbols of block i.
func (l layout) k(i int) int {
	if i < l.big {
		return l.low + 1
	}
	return l.low
}

// first returns the index among all data symbols of block i's first one.
func (l layout) first(i int) int { return i*l.low + min(i, l.big) }

// symbolLen returns the number of bytes a packet carries for symbol j of
// block i.
func (l layout) symbolLen(i, j int) int {
	if j < l.k(i) && l.first(i)+j == l.t-1 {
		return l.size - (l.t-1)*l.s
	}
	return l.s
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		if n /= 10; n == 0 {
			return string(b[i:])
		}
	}
}
