package proto

import (
	"encoding/binary"
	"unicode/utf8"
)

// Append appends the encoding of m to dst and returns the extended buffer.
// It allocates only when dst has no room.
//
// Append does not check m: for a message that [Validate] rejects it writes
// bytes that [Parse] rejects or reads differently (a HELLO with 65 segments,
// a DATA payload over [MaxPayload]). Engines build their messages from
// values that are valid by construction; call Validate where they are not.
func Append(dst []byte, m Message) []byte {
	return m.appendTo(dst)
}

// Validate reports whether m obeys the rules [Parse] checks, with the error
// Parse would return for its encoding.
func Validate(m Message) error {
	return m.check()
}

func put32(dst []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(dst, v) }

func (m Hello) appendTo(dst []byte) []byte {
	dst = append(dst, byte(TypeHello), m.Version, byte(m.Role), byte(m.Flags))
	dst = put32(dst, m.UploadKbps)
	dst = append(dst, m.Swarm[:]...)
	dst = append(dst, byte(len(m.Segments)))
	for _, s := range m.Segments {
		dst = put32(dst, s.Seq)
		dst = put32(dst, s.Size)
		dst = append(dst, s.Hash8[:]...)
	}
	return dst
}

func (m Hello) check() error {
	switch {
	case m.Version == 0:
		return errVersion
	case m.Role > RoleRelay:
		return errRole
	case len(m.Segments) > MaxHelloSegments:
		return errHelloCount
	}
	return checkSegments(m.Segments)
}

func (m Have) appendTo(dst []byte) []byte {
	dst = append(dst, byte(TypeHave))
	dst = put32(dst, m.Seq)
	dst = put32(dst, m.Size)
	return append(dst, m.Hash8[:]...)
}

func (m Have) check() error {
	if m.Size == 0 {
		return errSizeZero
	}
	return nil
}

func (m Request) appendTo(dst []byte) []byte {
	dst = append(dst, byte(TypeRequest))
	dst = put32(dst, m.RequestID)
	dst = put32(dst, m.Seq)
	dst = append(dst, m.Hash8[:]...)
	dst = put32(dst, m.Offset)
	return put32(dst, m.Length)
}

func (m Request) check() error {
	switch {
	case m.Length == 0:
		return errLengthZero
	case !rangeEndOK(m.Offset, uint64(m.Length)):
		return errRequestRange
	}
	return nil
}

func (m Data) appendTo(dst []byte) []byte {
	dst = append(dst, byte(TypeData))
	dst = put32(dst, m.RequestID)
	dst = put32(dst, m.Offset)
	return append(dst, m.Payload...)
}

func (m Data) check() error {
	switch {
	case len(m.Payload) > MaxPayload:
		return errPayload
	case !rangeEndOK(m.Offset, uint64(len(m.Payload))):
		return errDataRange
	}
	return nil
}

func (m Cancel) appendTo(dst []byte) []byte {
	return put32(append(dst, byte(TypeCancel)), m.RequestID)
}

func (Cancel) check() error { return nil }

func (m Absent) appendTo(dst []byte) []byte {
	dst = put32(append(dst, byte(TypeAbsent)), m.RequestID)
	return append(dst, byte(m.Reason))
}

func (m Absent) check() error {
	if m.Reason > AbsentBadRange {
		return errAbsentReason
	}
	return nil
}

func (m Bye) appendTo(dst []byte) []byte {
	dst = append(dst, byte(TypeBye), byte(m.Reason))
	return append(dst, m.Text...)
}

func (m Bye) check() error {
	switch {
	case m.Reason > ByeTimeout:
		return errByeReason
	case len(m.Text) > MaxByeText:
		return errByeTextLength
	case !utf8.ValidString(m.Text):
		return errByeTextUTF8
	}
	return nil
}

func (m Ping) appendTo(dst []byte) []byte { return put32(append(dst, byte(TypePing)), m.Nonce) }
func (Ping) check() error                 { return nil }

func (m Pong) appendTo(dst []byte) []byte { return put32(append(dst, byte(TypePong)), m.Nonce) }
func (Pong) check() error                 { return nil }

func (m Status) appendTo(dst []byte) []byte {
	return put32(append(dst, byte(TypeStatus), byte(m.Flags)), m.UploadKbps)
}

func (Status) check() error { return nil }
