package proto

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
)

// Label is the label of the data channel that carries this protocol. Its
// number is the major version: a change that older peers cannot parse gets a
// new label. docs/protocol.md, section "Transport".
const Label = "fusioncast/1"

// Version is the minor version of fusioncast/1 that this package speaks and
// that a peer sends in its HELLO. docs/protocol.md, section "Versions".
const Version = 1

// Limits. docs/protocol.md, section "Limits".
const (
	// MaxPayload is the largest DATA payload, in bytes.
	MaxPayload = 65536
	// DataHeaderLen is the length of a DATA message without its payload.
	DataHeaderLen = 9
	// MaxMessageLen is the longest message: a DATA message with a full
	// payload.
	MaxMessageLen = DataHeaderLen + MaxPayload
	// MaxHelloSegments is the most segments one HELLO may list.
	MaxHelloSegments = 64
	// MaxByeText is the longest BYE text, in bytes of UTF-8.
	MaxByeText = 123
	// MaxOutstanding is the most requests a peer may have outstanding
	// with one other peer. The codec cannot see it; the engines keep it.
	MaxOutstanding = 16
	// MaxRangeEnd is the largest value of offset+length in a REQUEST and of
	// offset+len(payload) in a DATA: the largest segment size.
	MaxRangeEnd = 1<<32 - 1
)

// Fixed lengths of the messages, type byte included.
const (
	helloHeaderLen = 29 // type, version, role, flags, upload_kbps, swarm, count
	entryLen       = 16 // seq, size, hash8
	haveLen        = 17
	requestLen     = 25
	cancelLen      = 5
	absentLen      = 6
	byeHeaderLen   = 2
	nonceLen       = 5 // PING, PONG
	statusLen      = 6
)

// Type is the first byte of every message.
type Type uint8

// The message types of fusioncast/1, version 1. 0x00 and 0x0b..0xff are
// not assigned; [Parse] returns an error wrapping [ErrUnknownType] for them,
// and the engines ignore such messages.
const (
	TypeHello   Type = 0x01
	TypeHave    Type = 0x02
	TypeRequest Type = 0x03
	TypeData    Type = 0x04
	TypeCancel  Type = 0x05
	TypeAbsent  Type = 0x06
	TypeBye     Type = 0x07
	TypePing    Type = 0x08
	TypePong    Type = 0x09
	TypeStatus  Type = 0x0a
)

var typeNames = [...]string{
	TypeHello:   "HELLO",
	TypeHave:    "HAVE",
	TypeRequest: "REQUEST",
	TypeData:    "DATA",
	TypeCancel:  "CANCEL",
	TypeAbsent:  "ABSENT",
	TypeBye:     "BYE",
	TypePing:    "PING",
	TypePong:    "PONG",
	TypeStatus:  "STATUS",
}

// String returns the type's name as docs/protocol.md writes it ("HELLO"),
// or its value in hex ("0x0b") if it has none.
func (t Type) String() string {
	if int(t) < len(typeNames) && typeNames[t] != "" {
		return typeNames[t]
	}
	return "0x" + hex.EncodeToString([]byte{byte(t)})
}

// Role says what kind of peer sent a HELLO.
type Role uint8

// The roles. Other values are invalid in fusioncast/1.
const (
	RoleViewer Role = 0 // a browser or other player
	RoleRelay  Role = 1 // a relay agent that seeds the segments to its site
)

// String returns "viewer" or "relay", or "role(N)" for an invalid value.
func (r Role) String() string {
	switch r {
	case RoleViewer:
		return "viewer"
	case RoleRelay:
		return "relay"
	}
	return "role(" + strconv.Itoa(int(r)) + ")"
}

// Flags are properties of a peer, sent in HELLO and STATUS. Bits this
// version does not define are kept as they are (so that messages round-trip)
// and ignored by the engines: a later minor version may define them.
type Flags uint8

// The flags of version 1.
const (
	// FlagEdge: the tracker named this peer an edge fetcher; it fetches
	// each new segment from the origin as soon as the playlist lists it.
	FlagEdge Flags = 1 << 0
	// FlagNoUpload: this peer serves no requests (it answers every REQUEST
	// with ABSENT busy), for example on a metered connection.
	FlagNoUpload Flags = 1 << 1
)

// AbsentReason says why a REQUEST is answered with ABSENT.
type AbsentReason uint8

// The ABSENT reasons. Other values are invalid in fusioncast/1, version 1.
const (
	AbsentNotHere  AbsentReason = 0 // never had this segment (this seq with this hash8)
	AbsentEvicted  AbsentReason = 1 // had it, but dropped it
	AbsentBusy     AbsentReason = 2 // has it but will not serve now; ask again later or elsewhere
	AbsentBadRange AbsentReason = 3 // the range does not lie within the segment
)

var absentNames = [...]string{"not-here", "evicted", "busy", "bad-range"}

// String returns the reason's name as docs/protocol.md writes it
// ("not-here"), or "absent(N)" for an invalid value.
func (r AbsentReason) String() string {
	if int(r) < len(absentNames) {
		return absentNames[r]
	}
	return "absent(" + strconv.Itoa(int(r)) + ")"
}

// ByeReason says why a peer closes the connection.
type ByeReason uint8

// The BYE reasons. Other values are invalid in fusioncast/1, version 1.
const (
	ByeClosing            ByeReason = 0 // leaving: the player stopped, the page closed
	ByeProtocolError      ByeReason = 1 // the other peer broke a rule of docs/protocol.md
	ByeBadData            ByeReason = 2 // the other peer sent bytes that failed verification
	ByeUnsupportedVersion ByeReason = 3 // no version both peers speak
	ByeWrongSwarm         ByeReason = 4 // the HELLO names another swarm
	ByeOverloaded         ByeReason = 5 // too many connections
	ByePruned             ByeReason = 6 // making room for a more useful peer
	ByeTimeout            ByeReason = 7 // no HELLO or no PONG in time
)

var byeNames = [...]string{
	"closing", "protocol-error", "bad-data", "unsupported-version",
	"wrong-swarm", "overloaded", "pruned", "timeout",
}

// String returns the reason's name as docs/protocol.md writes it
// ("protocol-error"), or "bye(N)" for an invalid value.
func (r ByeReason) String() string {
	if int(r) < len(byeNames) {
		return byeNames[r]
	}
	return "bye(" + strconv.Itoa(int(r)) + ")"
}

// Hash8 is the first 8 bytes of a segment's SHA-256. With the media sequence
// number it names one segment of a swarm; its 16 hex digits are the {hash16}
// of the segment's URL (docs/hls.md).
type Hash8 [8]byte

// Hash8Of returns the first 8 bytes of a SHA-256 digest.
func Hash8Of(sum [sha256.Size]byte) Hash8 {
	return Hash8(sum[:8])
}

// String returns the 16 lower-case hex digits.
func (h Hash8) String() string { return hex.EncodeToString(h[:]) }

// SwarmID names a swarm: the tracker's 20-byte info_hash of the stream
// (docs/tracker.md).
type SwarmID [20]byte

// String returns the 40 lower-case hex digits.
func (s SwarmID) String() string { return hex.EncodeToString(s[:]) }

// Segment is one complete, verified segment a peer holds.
type Segment struct {
	Seq   uint32 // media sequence number, modulo 2³²
	Size  uint32 // bytes, at least 1
	Hash8 Hash8
}

// Message is one message of the protocol: [Hello], [Have], [Request], [Data],
// [Cancel], [Absent], [Bye], [Ping], [Pong] or [Status]. Pointers to them
// are Messages too.
type Message interface {
	// Type returns the message's type byte.
	Type() Type
	appendTo(dst []byte) []byte
	check() error
}

// Hello is the first message each peer sends on a new data channel.
// docs/protocol.md, section "HELLO".
type Hello struct {
	// Version is the highest minor version of fusioncast/1 the sender
	// speaks, at least 1; this package speaks [Version].
	Version    uint8
	Role       Role
	Flags      Flags
	UploadKbps uint32  // upload the sender can offer, kbit/s; 0 = not said
	Swarm      SwarmID // the swarm the sender believes this connection is in
	// Segments are the newest segments the sender holds, at most
	// [MaxHelloSegments], in strictly ascending order of Seq. Parse returns
	// nil for none.
	Segments []Segment
}

// Have announces a newly complete and verified segment.
// docs/protocol.md, section "HAVE".
type Have struct {
	Seq   uint32
	Size  uint32 // at least 1
	Hash8 Hash8
}

// Request asks for the bytes [Offset, Offset+Length) of a segment.
// docs/protocol.md, section "REQUEST".
type Request struct {
	RequestID uint32
	Seq       uint32
	Hash8     Hash8
	Offset    uint32
	Length    uint32 // at least 1; Offset+Length at most [MaxRangeEnd]
}

// Data carries bytes of a requested segment, starting at Offset (a byte
// position in the segment, not in the request).
// docs/protocol.md, section "DATA".
type Data struct {
	RequestID uint32
	Offset    uint32
	// Payload is at most [MaxPayload] bytes. [Parse] returns a slice of its
	// input (no copy, capacity limited to its length), so it is valid only as
	// long as the input is.
	Payload []byte
}

// Cancel withdraws a request. docs/protocol.md, section "CANCEL".
type Cancel struct {
	RequestID uint32
}

// Absent ends a request that will not be (fully) served.
// docs/protocol.md, section "ABSENT".
type Absent struct {
	RequestID uint32
	Reason    AbsentReason
}

// Bye says why the sender is closing the connection; it is the last message
// on the channel. docs/protocol.md, section "BYE".
type Bye struct {
	Reason ByeReason
	Text   string // for logs; at most [MaxByeText] bytes of UTF-8
}

// Ping asks for a [Pong] with the same nonce. docs/protocol.md, section
// "PING and PONG".
type Ping struct {
	Nonce uint32
}

// Pong answers a [Ping].
type Pong struct {
	Nonce uint32
}

// Status replaces the flags and the upload hint of the sender's HELLO.
// docs/protocol.md, section "STATUS".
type Status struct {
	Flags      Flags
	UploadKbps uint32
}

// Type implements [Message].
func (Hello) Type() Type { return TypeHello }

// Type implements [Message].
func (Have) Type() Type { return TypeHave }

// Type implements [Message].
func (Request) Type() Type { return TypeRequest }

// Type implements [Message].
func (Data) Type() Type { return TypeData }

// Type implements [Message].
func (Cancel) Type() Type { return TypeCancel }

// Type implements [Message].
func (Absent) Type() Type { return TypeAbsent }

// Type implements [Message].
func (Bye) Type() Type { return TypeBye }

// Type implements [Message].
func (Ping) Type() Type { return TypePing }

// Type implements [Message].
func (Pong) Type() Type { return TypePong }

// Type implements [Message].
func (Status) Type() Type { return TypeStatus }

var (
	_ Message = Hello{}
	_ Message = Have{}
	_ Message = Request{}
	_ Message = Data{}
	_ Message = Cancel{}
	_ Message = Absent{}
	_ Message = Bye{}
	_ Message = Ping{}
	_ Message = Pong{}
	_ Message = Status{}
	_ Message = (*Data)(nil)
)
