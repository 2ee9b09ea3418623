// Package proto is the codec of fusioncast's peer wire protocol,
// "fusioncast/1": the binary messages that viewers and relay agents exchange
// over a WebRTC data channel to share the segments of a live stream. It
// turns bytes into Go values and back and opens no connections; the peer
// engines move the bytes and keep the rules the codec cannot see
// (handshake order, outstanding requests, flow control, verification).
// docs/protocol.md is the specification.
//
// # Messages
//
// Every data channel message is one protocol message: a type byte, then
// fixed big-endian fields, then for some types a variable tail.
//
//	type  name     bytes        Go           docs/protocol.md
//	0x01  HELLO    29 + 16·n    [Hello]      "HELLO"     first message, n ≤ 64 segments held
//	0x02  HAVE     17           [Have]       "HAVE"      a newly verified segment
//	0x03  REQUEST  25           [Request]    "REQUEST"   a byte range of a segment
//	0x04  DATA     9 + 0..65536 [Data]       "DATA"      bytes of a requested range
//	0x05  CANCEL   5            [Cancel]     "CANCEL"    withdraw a request
//	0x06  ABSENT   6            [Absent]     "ABSENT"    a request that will not be served
//	0x07  BYE      2 + 0..123   [Bye]        "BYE"       last message: why the sender closes
//	0x08  PING     5            [Ping]       "PING and PONG"
//	0x09  PONG     5            [Pong]       "PING and PONG"
//	0x0a  STATUS   6            [Status]     "STATUS"    new flags and upload hint
//
// A segment is named by its media sequence number and [Hash8], the first 8
// bytes of its SHA-256 (the {hash16} of its URL), so two versions of one
// sequence number are never mixed up.
//
// # Encoding and decoding
//
// [Parse] reads one message and returns one of the value types above;
// [Append] writes one. A DATA payload returned by Parse is a slice of the
// input, not a copy, so reading a 64 KiB DATA message costs one small
// allocation for the interface value (BenchmarkParseData). Append does not
// check its input; [Validate] does, with the same errors as Parse.
//
// # Errors
//
// Every error wraps [ErrMalformed] or [ErrUnknownType] and has a fixed text
// ("proto: short message", "proto: DATA payload over 65536 bytes"), the same
// as the JavaScript codec's (web/static/proto.js). docs/protocol.md,
// section "Errors", lists them all. A message of an unknown type is to be
// ignored; any other error closes the connection.
//
// # Test vectors
//
// testdata/protocol/vectors.json (at the repository root) is the contract
// between this package and the JavaScript codec: valid messages with their
// bytes and fields, invalid ones with their error texts. Both codecs' tests
// check every vector in both directions; this package's tests also run the
// JavaScript tests with node when it is installed. The file is written from
// the table in vectors_test.go by
//
//	go generate ./peer/proto
//
// and the tests fail while it is out of date.
package proto

//go:generate go test -run ^TestVectorsFile$ -update-vectors
