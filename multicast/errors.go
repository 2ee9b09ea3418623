package multicast

import "errors"

// Errors. Parsing errors wrap [ErrMalformed] and have fixed texts, so that
// rejecting a packet allocates nothing; the others are wrapped with the
// values that matter.
var (
	// ErrMalformed: a packet or INFO payload breaks the format.
	ErrMalformed = errors.New("multicast: malformed packet")
	// ErrBadName: an object name breaks the rules of [ValidName].
	ErrBadName = errors.New("multicast: bad object name")
	// ErrBadObject: an object the packetizer cannot send (unknown kind,
	// too large for the block layout).
	ErrBadObject = errors.New("multicast: bad object")
	// ErrConfig: a configuration value out of range.
	ErrConfig = errors.New("multicast: bad configuration")
	// ErrKeyFile: a key file that cannot be used (unreadable, not PEM, not
	// an Ed25519 key, readable by others).
	ErrKeyFile = errors.New("multicast: bad key file")
	// ErrRunning: [Reassembler.Run] called while it runs.
	ErrRunning = errors.New("multicast: reassembler already running")
)

// formatError is an error with a fixed text that wraps ErrMalformed (name
// errors also ErrBadName) and says which [DropReason] a receiver counts it
// under.
type formatError struct {
	text   string
	kinds  []error
	reason DropReason
}

func (e *formatError) Error() string   { return e.text }
func (e *formatError) Unwrap() []error { return e.kinds }

func malformed(text string, r DropReason) *formatError {
	return &formatError{"multicast: " + text, []error{ErrMalformed}, r}
}

func badName(text string) *formatError {
	return &formatError{"multicast: object name " + text, []error{ErrBadName, ErrMalformed}, DropName}
}

// The parsing errors, with the reason a receiver counts them under.
var (
	errShort        = malformed("short packet", DropShort)
	errRTP          = malformed("not an RTP version 2 packet", DropRTP)
	errPayloadType  = malformed("RTP payload type is not 96", DropPayloadType)
	errVersion      = malformed("unknown header version", DropVersion)
	errType         = malformed("unknown packet type", DropType)
	errLayout       = malformed("symbol header does not fit the object size", DropHeader)
	errSymbolLength = malformed("symbol length does not fit the header", DropHeader)
	errKind         = malformed("unknown object kind", DropHeader)
	errReserved     = malformed("INFO reserved byte not 0", DropHeader)
	errInfoLength   = malformed("INFO length does not fit the name length", DropHeader)
	errBufferShort  = malformed("buffer too short", DropShort)

	errNameLength = badName("not 1 to 255 bytes")
	errNameUTF8   = badName("not UTF-8")
	errNameChars  = badName(`with "..", a leading "/", NUL or backslash`)
)

// reasonOf returns the drop reason of a parsing error.
func reasonOf(err error) DropReason {
	var fe *formatError
	if errors.As(err, &fe) {
		return fe.reason
	}
	return DropHeader
}

// DropReason says why a receiver dropped a packet. [ReassemblerStats]
// counts drops by reason; [DropReason.String] gives each a short name for
// metric labels.
type DropReason uint8

// The drop reasons. The first ones are malformed packets; the others are
// well-formed packets that do not fit (see docs/multicast.md, "Receiving").
const (
	DropShort        DropReason = iota // shorter than its headers
	DropRTP                            // not RTP version 2, or a broken RTP header
	DropPayloadType                    // RTP payload type other than 96
	DropVersion                        // fusioncast header version other than 1
	DropType                           // unknown packet type
	DropHeader                         // a header field out of range (layout, kind, lengths)
	DropName                           // an INFO with a bad object name
	DropSSRC                           // another stream's SSRC
	DropInconsistent                   // disagrees with the object's INFO or earlier packets
	DropTooLarge                       // object larger than the reassembler's byte bound
	DropForged                         // INFO whose signature does not verify
	DropStale                          // object id too far behind the newest (replay)
	DropAhead                          // unverified object id too far ahead of the newest
	DropLate                           // object already delivered, given up or in repair
	DropDuplicate                      // symbol already held, or block already decodable
	DropFull                           // no room within the byte bound even after evicting
	NumDropReasons
)

var dropNames = [NumDropReasons]string{
	"short", "rtp", "payload_type", "version", "type", "header", "name", "ssrc",
	"inconsistent", "too_large", "forged", "stale", "ahead", "late", "duplicate", "full",
}

func (r DropReason) String() string {
	if r < NumDropReasons {
		return dropNames[r]
	}
	return "reason(" + itoa(int(r)) + ")"
}

// Malformed reports whether the reason is a malformed packet rather than a
// well-formed one that did not fit.
func (r DropReason) Malformed() bool { return r <= DropName }
