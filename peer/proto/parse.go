package proto

import (
	"encoding/binary"
	"unicode/utf8"
)

// Parse reads one message: b is the whole of one data channel message. It
// returns a [Hello], [Have], [Request], [Data], [Cancel], [Absent], [Bye],
// [Ping], [Pong] or [Status] value (not a pointer).
//
// A [Data]'s Payload is a slice of b, not a copy. Nothing else refers to b.
//
// Errors wrap [ErrUnknownType] (the first byte is not a type of
// fusioncast/1: ignore the message) or [ErrMalformed] (close the
// connection). When a message breaks several rules, the error is the first
// of: empty input, unknown type, shorter than the type's fixed part, the
// fields in wire order, the length of the variable part, the HELLO entries
// in order (docs/protocol.md, section "Errors").
func Parse(b []byte) (Message, error) {
	if len(b) == 0 {
		return nil, errShort
	}
	switch Type(b[0]) {
	case TypeHello:
		return parseHello(b)
	case TypeHave:
		return parseHave(b)
	case TypeRequest:
		return parseRequest(b)
	case TypeData:
		return parseData(b)
	case TypeCancel:
		if err := fixedLen(b, cancelLen); err != nil {
			return nil, err
		}
		return Cancel{RequestID: be32(b[1:])}, nil
	case TypeAbsent:
		return parseAbsent(b)
	case TypeBye:
		return parseBye(b)
	case TypePing:
		if err := fixedLen(b, nonceLen); err != nil {
			return nil, err
		}
		return Ping{Nonce: be32(b[1:])}, nil
	case TypePong:
		if err := fixedLen(b, nonceLen); err != nil {
			return nil, err
		}
		return Pong{Nonce: be32(b[1:])}, nil
	case TypeStatus:
		if err := fixedLen(b, statusLen); err != nil {
			return nil, err
		}
		return Status{Flags: Flags(b[1]), UploadKbps: be32(b[2:])}, nil
	}
	return nil, unknownTypes[b[0]]
}

func be32(b []byte) uint32 { return binary.BigEndian.Uint32(b) }

// fixedLen checks the length of a message whose length is fixed.
func fixedLen(b []byte, n int) error {
	switch {
	case len(b) < n:
		return errShort
	case len(b) > n:
		return errTrailing
	}
	return nil
}

// HELLO, docs/protocol.md "HELLO":
//
//	 0      1         2      3       4             8          28      29
//	+------+---------+------+-------+-------------+----------+-------+-----------------+
//	| 0x01 | version | role | flags | upload_kbps | swarm    | count | count × entry   |
//	|      | u8 ≥ 1  | 0..1 | u8    | u32         | 20 bytes | 0..64 | 16 bytes each   |
//	+------+---------+------+-------+-------------+----------+-------+-----------------+
//
//	entry:  0       4        8        16
//	       +-------+--------+--------+
//	       | seq   | size   | hash8  |   seq strictly ascending, size ≥ 1
//	       | u32   | u32    | 8 bytes|
//	       +-------+--------+--------+
func parseHello(b []byte) (Message, error) {
	if len(b) < helloHeaderLen {
		return nil, errShort
	}
	h := Hello{
		Version:    b[1],
		Role:       Role(b[2]),
		Flags:      Flags(b[3]),
		UploadKbps: be32(b[4:]),
	}
	copy(h.Swarm[:], b[8:28])
	if h.Version == 0 {
		return nil, errVersion
	}
	if h.Role > RoleRelay {
		return nil, errRole
	}
	n := int(b[28])
	if n > MaxHelloSegments {
		return nil, errHelloCount
	}
	if err := fixedLen(b, helloHeaderLen+n*entryLen); err != nil {
		return nil, err
	}
	if n > 0 {
		h.Segments = make([]Segment, n)
		for i := range h.Segments {
			e := b[helloHeaderLen+i*entryLen:]
			s := &h.Segments[i]
			s.Seq, s.Size = be32(e), be32(e[4:])
			copy(s.Hash8[:], e[8:16])
		}
		if err := checkSegments(h.Segments); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// HAVE, docs/protocol.md "HAVE":
//
//	 0      1      5       9        17
//	+------+------+-------+--------+
//	| 0x02 | seq  | size  | hash8  |
//	|      | u32  | u32≥1 | 8 bytes|
//	+------+------+-------+--------+
func parseHave(b []byte) (Message, error) {
	if err := fixedLen(b, haveLen); err != nil {
		return nil, err
	}
	m := Have{Seq: be32(b[1:]), Size: be32(b[5:])}
	copy(m.Hash8[:], b[9:17])
	if m.Size == 0 {
		return nil, errSizeZero
	}
	return m, nil
}

// REQUEST, docs/protocol.md "REQUEST":
//
//	 0      1            5      9        17       21       25
//	+------+------------+------+--------+--------+--------+
//	| 0x03 | request_id | seq  | hash8  | offset | length |
//	|      | u32        | u32  | 8 bytes| u32    | u32 ≥ 1|
//	+------+------------+------+--------+--------+--------+
//	offset + length ≤ 4294967295
func parseRequest(b []byte) (Message, error) {
	if err := fixedLen(b, requestLen); err != nil {
		return nil, err
	}
	m := Request{RequestID: be32(b[1:]), Seq: be32(b[5:]), Offset: be32(b[17:]), Length: be32(b[21:])}
	copy(m.Hash8[:], b[9:17])
	if m.Length == 0 {
		return nil, errLengthZero
	}
	if !rangeEndOK(m.Offset, uint64(m.Length)) {
		return nil, errRequestRange
	}
	return m, nil
}

// DATA, docs/protocol.md "DATA":
//
//	 0      1            5        9
//	+------+------------+--------+---------------------------+
//	| 0x04 | request_id | offset | payload: the rest,        |
//	|      | u32        | u32    | 0..65536 bytes            |
//	+------+------------+--------+---------------------------+
//	offset + len(payload) ≤ 4294967295
func parseData(b []byte) (Message, error) {
	if len(b) < DataHeaderLen {
		return nil, errShort
	}
	n := len(b) - DataHeaderLen
	if n > MaxPayload {
		return nil, errPayload
	}
	m := Data{RequestID: be32(b[1:]), Offset: be32(b[5:]), Payload: b[DataHeaderLen:len(b):len(b)]}
	if !rangeEndOK(m.Offset, uint64(n)) {
		return nil, errDataRange
	}
	return m, nil
}

// CANCEL (0x05, request_id u32), PING (0x08, nonce u32), PONG (0x09, nonce
// u32) and STATUS (0x0a, flags u8, upload_kbps u32) are parsed in Parse.

// ABSENT, docs/protocol.md "ABSENT":
//
//	 0      1            5        6
//	+------+------------+--------+
//	| 0x06 | request_id | reason |
//	|      | u32        | 0..3   |
//	+------+------------+--------+
func parseAbsent(b []byte) (Message, error) {
	if err := fixedLen(b, absentLen); err != nil {
		return nil, err
	}
	m := Absent{RequestID: be32(b[1:]), Reason: AbsentReason(b[5])}
	if m.Reason > AbsentBadRange {
		return nil, errAbsentReason
	}
	return m, nil
}

// BYE, docs/protocol.md "BYE":
//
//	 0      1        2
//	+------+--------+----------------------------------+
//	| 0x07 | reason | text: the rest, 0..123 bytes of  |
//	|      | 0..7   | UTF-8                            |
//	+------+--------+----------------------------------+
func parseBye(b []byte) (Message, error) {
	if len(b) < byeHeaderLen {
		return nil, errShort
	}
	m := Bye{Reason: ByeReason(b[1])}
	if m.Reason > ByeTimeout {
		return nil, errByeReason
	}
	text := b[byeHeaderLen:]
	if len(text) > MaxByeText {
		return nil, errByeTextLength
	}
	if !utf8.Valid(text) {
		return nil, errByeTextUTF8
	}
	m.Text = string(text)
	return m, nil
}

// checkSegments checks the HELLO entries in order: size, then ascending
// sequence numbers.
func checkSegments(segs []Segment) error {
	for i, s := range segs {
		if s.Size == 0 {
			return errSizeZero
		}
		if i > 0 && s.Seq <= segs[i-1].Seq {
			return errHelloOrder
		}
	}
	return nil
}
