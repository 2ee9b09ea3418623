package proto

import "errors"

// Errors. Every error [Parse] and [Validate] return wraps exactly one of
// them; its text is one of those listed in docs/protocol.md, section
// "Errors", word for word (the JavaScript codec throws the same texts).
var (
	// ErrMalformed: the message breaks a rule of its type (too short,
	// trailing bytes, a value out of range). The engines close the
	// connection with BYE protocol-error.
	ErrMalformed = errors.New("proto: malformed message")
	// ErrUnknownType: the type byte is not one of fusioncast/1. The
	// engines ignore the message (it may come from a later minor version).
	ErrUnknownType = errors.New("proto: unknown message type")
)

// protoError is an error with a fixed text that wraps a sentinel.
type protoError struct {
	text string
	kind error
}

func (e *protoError) Error() string { return e.text }
func (e *protoError) Unwrap() error { return e.kind }

func malformed(text string) error { return &protoError{"proto: " + text, ErrMalformed} }

// The texts of ErrMalformed, allocated once so that rejecting a message
// allocates nothing. Keep docs/protocol.md "Errors" and
// web/static/proto.js in step.
var (
	errShort         = malformed("short message")
	errTrailing      = malformed("trailing bytes")
	errVersion       = malformed("HELLO version 0")
	errRole          = malformed("unknown role")
	errHelloCount    = malformed("HELLO with more than 64 segments")
	errHelloOrder    = malformed("HELLO segments not in ascending order")
	errSizeZero      = malformed("segment size 0")
	errLengthZero    = malformed("REQUEST length 0")
	errRequestRange  = malformed("REQUEST offset+length over 4294967295")
	errPayload       = malformed("DATA payload over 65536 bytes")
	errDataRange     = malformed("DATA offset+length over 4294967295")
	errAbsentReason  = malformed("unknown ABSENT reason")
	errByeReason     = malformed("unknown BYE reason")
	errByeTextLength = malformed("BYE text over 123 bytes")
	errByeTextUTF8   = malformed("BYE text not UTF-8")
)

// unknownTypes holds the error for every type byte, nil for the assigned
// ones: "proto: unknown message type 0x0b".
var unknownTypes = func() (errs [256]error) {
	for i := range errs {
		if t := Type(i); t.String()[0] == '0' {
			errs[i] = &protoError{ErrUnknownType.Error() + " " + t.String(), ErrUnknownType}
		}
	}
	return errs
}()

// rangeEndOK reports whether offset+n stays within [MaxRangeEnd].
func rangeEndOK(offset uint32, n uint64) bool {
	return uint64(offset)+n <= MaxRangeEnd
}
