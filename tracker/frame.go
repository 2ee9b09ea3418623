package tracker

import (
	"encoding/binary"
	"errors"
)

// The tracker reads and writes websocket frames itself (RFC 6455, section
// 5) once gorilla/websocket has done the opening handshake: an idle
// connection is then a file descriptor in an epoll set and a small struct,
// with no goroutine and no buffer, and replies queued for one connection go
// out in one writev. Only what a server needs is here: client frames must be
// masked, no extension is negotiated, so the reserved bits must be clear.

// Opcodes.
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xa
)

// Close codes (RFC 6455, section 7.4.1).
const (
	closeNormal        = 1000
	closeGoingAway     = 1001
	closeProtocolError = 1002
	closePolicy        = 1008
	closeTooBig        = 1009
)

// maxFrameHeader is the longest header of a client frame: 2 bytes, 8 of
// extended length and 4 of mask key.
const maxFrameHeader = 14

// frameError is a violation of the protocol; the connection is closed with
// its code.
type frameError struct {
	code uint16
	msg  string
}

func (e *frameError) Error() string { return e.msg }

var (
	errMasked       = &frameError{closeProtocolError, "client frame not masked"}
	errReserved     = &frameError{closeProtocolError, "reserved bits set"}
	errOpcode       = &frameError{closeProtocolError, "unknown opcode"}
	errControl      = &frameError{closeProtocolError, "control frame fragmented or longer than 125 bytes"}
	errContinuation = &frameError{closeProtocolError, "continuation frame without a message"}
	errInterleaved  = &frameError{closeProtocolError, "new message before the previous one ended"}
	errTooBig       = &frameError{closeTooBig, "message too big"}
)

// frame is one parsed client frame; payload is unmasked in place.
type frame struct {
	fin     bool
	op      byte
	payload []byte
}

// parseFrame parses the frame at the start of b, whose payload may be at
// most limit bytes. It returns the number of bytes the frame takes, or 0
// if b does not yet hold all of it. The payload is unmasked in b.
func parseFrame(b []byte, limit int) (f frame, n int, err error) {
	if len(b) < 2 {
		return f, 0, nil
	}
	b0, b1 := b[0], b[1]
	if b0&0x70 != 0 {
		return f, 0, errReserved
	}
	if b1&0x80 == 0 {
		return f, 0, errMasked
	}
	f.fin = b0&0x80 != 0
	f.op = b0 & 0x0f
	switch f.op {
	case opContinuation, opText, opBinary:
	case opClose, opPing, opPong:
		if !f.fin || b1&0x7f > 125 {
			return f, 0, errControl
		}
	default:
		return f, 0, errOpcode
	}
	size := uint64(b1 & 0x7f)
	h := 2
	switch size {
	case 126:
		if len(b) < 4 {
			return f, 0, nil
		}
		size = uint64(binary.BigEndian.Uint16(b[2:]))
		h = 4
	case 127:
		if len(b) < 10 {
			return f, 0, nil
		}
		size = binary.BigEndian.Uint64(b[2:])
		h = 10
	}
	// Refuse an oversized frame as soon as its header is read, before
	// buffering any of it.
	if size > uint64(limit) {
		return f, 0, errTooBig
	}
	if len(b) < h+4 {
		return f, 0, nil
	}
	var key [4]byte
	copy(key[:], b[h:h+4])
	h += 4
	end := h + int(size)
	if len(b) < end {
		return f, 0, nil
	}
	f.payload = b[h:end]
	unmask(f.payload, key)
	return f, end, nil
}

// frameSize returns the total size of the frame whose header starts b, or
// 0 if b does not hold enough of the header to tell.
func frameSize(b []byte) int {
	if len(b) < 2 {
		return 0
	}
	size := int(b[1] & 0x7f)
	h := 6
	switch size {
	case 126:
		if len(b) < 4 {
			return 0
		}
		size, h = int(binary.BigEndian.Uint16(b[2:])), 8
	case 127:
		if len(b) < 10 {
			return 0
		}
		size, h = int(binary.BigEndian.Uint64(b[2:])&(1<<62-1)), 14
	}
	return h + size
}

// unmask XORs p with the repeated key, eight bytes at a time.
func unmask(p []byte, key [4]byte) {
	k := uint64(binary.LittleEndian.Uint32(key[:]))
	k |= k << 32
	i := 0
	for ; i+8 <= len(p); i += 8 {
		binary.LittleEndian.PutUint64(p[i:], binary.LittleEndian.Uint64(p[i:])^k)
	}
	for ; i < len(p); i++ {
		p[i] ^= key[i&3]
	}
}

// appendFrameHeader appends the header of an unmasked, final server frame
// with an n-byte payload.
func appendFrameHeader(dst []byte, op byte, n int) []byte {
	dst = append(dst, 0x80|op)
	switch {
	case n <= 125:
		return append(dst, byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(dst, 126), uint16(n))
	default:
		return binary.BigEndian.AppendUint64(append(dst, 127), uint64(n))
	}
}

// frameHeaderLen is the length of the header appendFrameHeader writes.
func frameHeaderLen(n int) int {
	switch {
	case n <= 125:
		return 2
	case n <= 0xffff:
		return 4
	default:
		return 10
	}
}

// closePayload is the payload of a close frame: the code and a reason cut
// to fit in a control frame.
func closePayload(code uint16, reason string) []byte {
	if len(reason) > 123 {
		reason = reason[:123]
	}
	return append(binary.BigEndian.AppendUint16(nil, code), reason...)
}

// errClosedByPeer ends a connection whose client sent a close frame.
var errClosedByPeer = errors.New("closed by the client")
