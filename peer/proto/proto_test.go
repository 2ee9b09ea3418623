package proto

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// protoCase is one message. The table below feeds Parse (TestParse), Append
// (TestAppend), Validate (TestValidate), the fuzz seeds (fuzz_test.go and
// testdata/fuzz) and testdata/protocol/vectors.json (vectors_test.go),
// which the JavaScript codec is tested against.
type protoCase struct {
	name string
	in   []byte  // the message's bytes, written out by hand
	msg  Message // what Parse returns; nil for an invalid message
	err  string  // the exact error text of an invalid message
}

// h decodes hex written with spaces between the fields.
func h(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// cat joins byte strings.
func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// rep returns n copies of c.
func rep(c byte, n int) []byte { return bytes.Repeat([]byte{c}, n) }

func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// Fixtures.
var (
	// The segment of the playlist example in docs/hls.md.
	docSeq    uint32 = 897818139 // 35839e1b
	docSize   uint32 = 161868    // 0002784c
	docHash          = Hash8{0x2c, 0x44, 0xd8, 0xfe, 0x4c, 0x9b, 0x96, 0x5d}
	hashFF           = Hash8{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	hashSeq          = Hash8{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}
	swarmDemo        = SwarmID([]byte("fusioncast-demo-0001"))
	swarmFF          = SwarmID(rep(0xff, 20))

	swarmDemoHex = "667573696f6e636173742d64656d6f2d30303031"
	zeros20      = strings.Repeat("00", 20)
)

// fullHello lists 64 segments ending at sequence number 2³²−1, with sizes
// 2³²−64 .. 2³²−1 and hashes whose bytes are the entry's index.
func fullHello() (Hello, []byte) {
	m := Hello{Version: 1, Role: RoleViewer, Swarm: swarmDemo}
	in := h("01 01 00 00 00000000" + swarmDemoHex + "40")
	for i := range MaxHelloSegments {
		s := Segment{Seq: 1<<32 - 64 + uint32(i), Size: 1<<32 - 64 + uint32(i), Hash8: Hash8(rep(byte(i), 8))}
		m.Segments = append(m.Segments, s)
		in = cat(in, u32(s.Seq), u32(s.Size), rep(byte(i), 8))
	}
	return m, in
}

// helloWith returns a version 1 viewer HELLO header with count n, without
// its entries.
func helloWith(n byte) []byte {
	return cat(h("01 01 00 00 00000000"+zeros20), []byte{n})
}

// entry returns one HELLO entry.
func entry(seq, size uint32, hash Hash8) []byte { return cat(u32(seq), u32(size), hash[:]) }

const (
	text123 = "fusioncast peer protocol: this BYE text is exactly one hundred and twenty-three bytes long, the most a BYE may carry. ....."
)

var cases = func() []protoCase {
	full, fullIn := fullHello()
	p65536 := rep(0xab, MaxPayload)
	return []protoCase{
		// HELLO
		{name: "hello-empty", in: h("01 01 00 00 00000000" + zeros20 + "00"),
			msg: Hello{Version: 1}},
		{name: "hello-relay-edge", in: h("01 01 01 01 000186a0" + swarmDemoHex + "03" +
			"35839e1b 0002784c 2c44d8fe4c9b965d" +
			"35839e1c 000278d4 0123456789abcdef" +
			"35839e1e 00026930 ffffffffffffffff"),
			msg: Hello{Version: 1, Role: RoleRelay, Flags: FlagEdge, UploadKbps: 100000, Swarm: swarmDemo, Segments: []Segment{
				{docSeq, docSize, docHash}, {docSeq + 1, 162004, hashSeq}, {docSeq + 3, 158000, hashFF}}}},
		{name: "hello-full", in: fullIn, msg: full},
		{name: "hello-later-version-unknown-flags", in: h("01 ff 00 ff ffffffff" + strings.Repeat("ff", 20) + "01 00000000 00000001 0000000000000000"),
			msg: Hello{Version: 255, Flags: 0xff, UploadKbps: 1<<32 - 1, Swarm: swarmFF, Segments: []Segment{{0, 1, Hash8{}}}}},
		{name: "hello-no-upload", in: h("01 02 00 02 00001388" + swarmDemoHex + "02 00000000 00000001 0000000000000000 ffffffff ffffffff ffffffffffffffff"),
			msg: Hello{Version: 2, Flags: FlagNoUpload, UploadKbps: 5000, Swarm: swarmDemo, Segments: []Segment{{0, 1, Hash8{}}, {1<<32 - 1, 1<<32 - 1, hashFF}}}},
		{name: "hello-empty-header-short", in: h("01 01 00 00 00000000" + strings.Repeat("00", 19) + "00"), err: "proto: short message"},
		{name: "hello-type-only", in: h("01"), err: "proto: short message"},
		{name: "hello-version-0", in: h("01 00 00 00 00000000" + zeros20 + "00"), err: "proto: HELLO version 0"},
		{name: "hello-role-2", in: h("01 01 02 00 00000000" + zeros20 + "00"), err: "proto: unknown role"},
		{name: "hello-role-255", in: h("01 01 ff 00 00000000" + zeros20 + "00"), err: "proto: unknown role"},
		{name: "hello-version-0-and-role-2", in: h("01 00 02 00 00000000" + zeros20 + "00"), err: "proto: HELLO version 0"},
		{name: "hello-count-65", in: cat(helloWith(65), rep(0x01, 65*16)), err: "proto: HELLO with more than 64 segments"},
		{name: "hello-count-255-short", in: helloWith(255), err: "proto: HELLO with more than 64 segments"},
		{name: "hello-count-1-no-entry", in: helloWith(1), err: "proto: short message"},
		{name: "hello-entry-short", in: cat(helloWith(1), h("00000001 00000001 00000000000000")), err: "proto: short message"},
		{name: "hello-entry-trailing", in: cat(helloWith(1), h("00000001 00000001 0000000000000000 00")), err: "proto: trailing bytes"},
		{name: "hello-empty-trailing", in: cat(helloWith(0), h("00")), err: "proto: trailing bytes"},
		{name: "hello-count-64-short", in: cat(helloWith(64), fullIn[29:len(fullIn)-1]), err: "proto: short message"},
		{name: "hello-size-0", in: cat(helloWith(1), entry(7, 0, docHash)), err: "proto: segment size 0"},
		{name: "hello-duplicate-seq", in: cat(helloWith(2), entry(7, 1, docHash), entry(7, 1, docHash)),
			err: "proto: HELLO segments not in ascending order"},
		{name: "hello-descending", in: cat(helloWith(2), entry(8, 1, docHash), entry(7, 1, docHash)),
			err: "proto: HELLO segments not in ascending order"},
		{name: "hello-no-wrap", in: cat(helloWith(2), entry(1<<32-1, 1, docHash), entry(0, 1, docHash)),
			err: "proto: HELLO segments not in ascending order"},
		{name: "hello-size-0-before-order", in: cat(helloWith(2), entry(8, 1, docHash), entry(7, 0, docHash)),
			err: "proto: segment size 0"},
		{name: "hello-order-before-later-size-0", in: cat(helloWith(3), entry(8, 1, docHash), entry(7, 1, docHash), entry(9, 0, docHash)),
			err: "proto: HELLO segments not in ascending order"},
		{name: "hello-role-before-short", in: h("01 01 02 00 00000000" + zeros20 + "01"), err: "proto: unknown role"},

		// HAVE
		{name: "have-doc-segment", in: h("02 35839e1b 0002784c 2c44d8fe4c9b965d"),
			msg: Have{Seq: docSeq, Size: docSize, Hash8: docHash}},
		{name: "have-min", in: h("02 00000000 00000001 0000000000000000"), msg: Have{Size: 1}},
		{name: "have-max", in: h("02 ffffffff ffffffff ffffffffffffffff"), msg: Have{Seq: 1<<32 - 1, Size: 1<<32 - 1, Hash8: hashFF}},
		{name: "have-size-0", in: h("02 00000007 00000000 2c44d8fe4c9b965d"), err: "proto: segment size 0"},
		{name: "have-short", in: h("02 35839e1b 0002784c 2c44d8fe4c9b96"), err: "proto: short message"},
		{name: "have-trailing", in: h("02 35839e1b 0002784c 2c44d8fe4c9b965d 00"), err: "proto: trailing bytes"},
		{name: "have-size-0-trailing", in: h("02 00000007 00000000 2c44d8fe4c9b965d 00"), err: "proto: trailing bytes"},

		// REQUEST
		{name: "request-whole-segment", in: h("03 00000001 35839e1b 2c44d8fe4c9b965d 00000000 0002784c"),
			msg: Request{RequestID: 1, Seq: docSeq, Hash8: docHash, Length: docSize}},
		{name: "request-min", in: h("03 00000000 00000000 0000000000000000 00000000 00000001"), msg: Request{Length: 1}},
		{name: "request-max-length", in: h("03 ffffffff ffffffff ffffffffffffffff 00000000 ffffffff"),
			msg: Request{RequestID: 1<<32 - 1, Seq: 1<<32 - 1, Hash8: hashFF, Length: 1<<32 - 1}},
		{name: "request-last-byte", in: h("03 00000002 35839e1b 2c44d8fe4c9b965d fffffffe 00000001"),
			msg: Request{RequestID: 2, Seq: docSeq, Hash8: docHash, Offset: 1<<32 - 2, Length: 1}},
		{name: "request-range", in: h("03 00000003 35839e1b 2c44d8fe4c9b965d 00010000 00010000"),
			msg: Request{RequestID: 3, Seq: docSeq, Hash8: docHash, Offset: 65536, Length: 65536}},
		{name: "request-length-0", in: h("03 00000001 35839e1b 2c44d8fe4c9b965d 00000000 00000000"), err: "proto: REQUEST length 0"},
		{name: "request-past-end", in: h("03 00000001 35839e1b 2c44d8fe4c9b965d 00000001 ffffffff"),
			err: "proto: REQUEST offset+length over 4294967295"},
		{name: "request-offset-max", in: h("03 00000001 35839e1b 2c44d8fe4c9b965d ffffffff 00000001"),
			err: "proto: REQUEST offset+length over 4294967295"},
		{name: "request-both-max", in: h("03 00000001 35839e1b 2c44d8fe4c9b965d ffffffff ffffffff"),
			err: "proto: REQUEST offset+length over 4294967295"},
		{name: "request-offset-max-length-0", in: h("03 00000001 35839e1b 2c44d8fe4c9b965d ffffffff 00000000"),
			err: "proto: REQUEST length 0"},
		{name: "request-short", in: h("03 00000001 35839e1b 2c44d8fe4c9b965d 00000000 000278"), err: "proto: short message"},
		{name: "request-trailing", in: h("03 00000001 35839e1b 2c44d8fe4c9b965d 00000000 0002784c 00"), err: "proto: trailing bytes"},

		// DATA
		{name: "data-empty", in: h("04 00000000 00000000"), msg: Data{Payload: []byte{}}},
		{name: "data-small", in: h("04 00000007 00010000 0001feff"),
			msg: Data{RequestID: 7, Offset: 65536, Payload: h("0001feff")}},
		{name: "data-full", in: cat(h("04 ffffffff 00000000"), p65536),
			msg: Data{RequestID: 1<<32 - 1, Payload: p65536}},
		{name: "data-full-at-end", in: cat(h("04 00000001 ffff0000"), rep(0x47, MaxPayload-1)),
			msg: Data{RequestID: 1, Offset: 1<<32 - 1<<16, Payload: rep(0x47, MaxPayload-1)}},
		{name: "data-empty-at-end", in: h("04 00000001 ffffffff"), msg: Data{RequestID: 1, Offset: 1<<32 - 1, Payload: []byte{}}},
		{name: "data-last-byte", in: h("04 00000001 fffffffe 47"), msg: Data{RequestID: 1, Offset: 1<<32 - 2, Payload: []byte{0x47}}},
		{name: "data-short", in: h("04 00000001 000000"), err: "proto: short message"},
		{name: "data-type-only", in: h("04"), err: "proto: short message"},
		{name: "data-65537", in: cat(h("04 00000001 00000000"), rep(0xab, MaxPayload+1)), err: "proto: DATA payload over 65536 bytes"},
		{name: "data-past-end", in: h("04 00000001 ffffffff 47"), err: "proto: DATA offset+length over 4294967295"},
		{name: "data-full-past-end", in: cat(h("04 00000001 ffff0000"), rep(0x47, MaxPayload)), err: "proto: DATA offset+length over 4294967295"},
		{name: "data-65537-past-end", in: cat(h("04 00000001 ffffffff"), rep(0xab, MaxPayload+1)), err: "proto: DATA payload over 65536 bytes"},

		// CANCEL
		{name: "cancel-0", in: h("05 00000000"), msg: Cancel{}},
		{name: "cancel-max", in: h("05 ffffffff"), msg: Cancel{RequestID: 1<<32 - 1}},
		{name: "cancel-short", in: h("05 000000"), err: "proto: short message"},
		{name: "cancel-trailing", in: h("05 00000001 00"), err: "proto: trailing bytes"},

		// ABSENT
		{name: "absent-not-here", in: h("06 00000001 00"), msg: Absent{RequestID: 1, Reason: AbsentNotHere}},
		{name: "absent-evicted", in: h("06 00000002 01"), msg: Absent{RequestID: 2, Reason: AbsentEvicted}},
		{name: "absent-busy", in: h("06 ffffffff 02"), msg: Absent{RequestID: 1<<32 - 1, Reason: AbsentBusy}},
		{name: "absent-bad-range", in: h("06 00000000 03"), msg: Absent{Reason: AbsentBadRange}},
		{name: "absent-reason-4", in: h("06 00000001 04"), err: "proto: unknown ABSENT reason"},
		{name: "absent-reason-255", in: h("06 00000001 ff"), err: "proto: unknown ABSENT reason"},
		{name: "absent-short", in: h("06 00000001"), err: "proto: short message"},
		{name: "absent-trailing", in: h("06 00000001 00 00"), err: "proto: trailing bytes"},

		// BYE
		{name: "bye-closing", in: h("07 00"), msg: Bye{Reason: ByeClosing}},
		{name: "bye-protocol-error", in: cat(h("07 01"), []byte("REQUEST before HELLO")),
			msg: Bye{Reason: ByeProtocolError, Text: "REQUEST before HELLO"}},
		{name: "bye-bad-data", in: cat(h("07 02"), []byte("segment 897818139 failed SHA-256")),
			msg: Bye{Reason: ByeBadData, Text: "segment 897818139 failed SHA-256"}},
		{name: "bye-unsupported-version", in: h("07 03"), msg: Bye{Reason: ByeUnsupportedVersion}},
		{name: "bye-wrong-swarm", in: h("07 04"), msg: Bye{Reason: ByeWrongSwarm}},
		{name: "bye-overloaded", in: cat(h("07 05"), []byte("tschüss 👋")), msg: Bye{Reason: ByeOverloaded, Text: "tschüss 👋"}},
		{name: "bye-pruned", in: h("07 06"), msg: Bye{Reason: ByePruned}},
		{name: "bye-timeout-123-bytes", in: cat(h("07 07"), []byte(text123)), msg: Bye{Reason: ByeTimeout, Text: text123}},
		{name: "bye-byte-order-mark", in: h("07 00 efbbbf 6869"), msg: Bye{Text: "\ufeffhi"}},
		{name: "bye-nul", in: h("07 00 00"), msg: Bye{Text: "\x00"}},
		{name: "bye-reason-8", in: h("07 08"), err: "proto: unknown BYE reason"},
		{name: "bye-reason-255-bad-text", in: h("07 ff ff"), err: "proto: unknown BYE reason"},
		{name: "bye-124-bytes", in: cat(h("07 00"), []byte(text123+".")), err: "proto: BYE text over 123 bytes"},
		{name: "bye-124-bytes-invalid", in: cat(h("07 00"), rep(0xff, 124)), err: "proto: BYE text over 123 bytes"},
		{name: "bye-invalid-byte", in: h("07 00 68 ff"), err: "proto: BYE text not UTF-8"},
		{name: "bye-surrogate", in: h("07 00 eda080"), err: "proto: BYE text not UTF-8"},
		{name: "bye-overlong", in: h("07 00 c080"), err: "proto: BYE text not UTF-8"},
		{name: "bye-truncated", in: h("07 00 e282"), err: "proto: BYE text not UTF-8"},
		{name: "bye-above-10ffff", in: h("07 00 f4908080"), err: "proto: BYE text not UTF-8"},
		{name: "bye-short", in: h("07"), err: "proto: short message"},

		// PING, PONG
		{name: "ping-0", in: h("08 00000000"), msg: Ping{}},
		{name: "ping-max", in: h("08 ffffffff"), msg: Ping{Nonce: 1<<32 - 1}},
		{name: "ping-short", in: h("08 000000"), err: "proto: short message"},
		{name: "ping-trailing", in: h("08 00000000 00"), err: "proto: trailing bytes"},
		{name: "pong-deadbeef", in: h("09 deadbeef"), msg: Pong{Nonce: 0xdeadbeef}},
		{name: "pong-max", in: h("09 ffffffff"), msg: Pong{Nonce: 1<<32 - 1}},
		{name: "pong-type-only", in: h("09"), err: "proto: short message"},
		{name: "pong-trailing", in: h("09 00000000 0000"), err: "proto: trailing bytes"},

		// STATUS
		{name: "status-edge", in: h("0a 01 00001388"), msg: Status{Flags: FlagEdge, UploadKbps: 5000}},
		{name: "status-zero", in: h("0a 00 00000000"), msg: Status{}},
		{name: "status-unknown-flags-max", in: h("0a fe ffffffff"), msg: Status{Flags: 0xfe, UploadKbps: 1<<32 - 1}},
		{name: "status-short", in: h("0a 01 000013"), err: "proto: short message"},
		{name: "status-trailing", in: h("0a 01 00001388 00"), err: "proto: trailing bytes"},

		// Any type.
		{name: "empty", in: []byte{}, err: "proto: short message"},
		{name: "type-0x00", in: h("00"), err: "proto: unknown message type 0x00"},
		{name: "type-0x0b", in: h("0b 00000001"), err: "proto: unknown message type 0x0b"},
		{name: "type-0x7f", in: h("7f"), err: "proto: unknown message type 0x7f"},
		{name: "type-0xff", in: h("ff 0102"), err: "proto: unknown message type 0xff"},
	}
}()

func TestParse(t *testing.T) {
	for _, c := range cases {
		m, err := Parse(c.in)
		if c.err != "" {
			if err == nil {
				t.Errorf("%s: Parse = %#v, want error %q", c.name, m, c.err)
				continue
			}
			if err.Error() != c.err {
				t.Errorf("%s: Parse error %q, want %q", c.name, err, c.err)
			}
			if m != nil {
				t.Errorf("%s: Parse returned %#v with its error", c.name, m)
			}
			unknown := errors.Is(err, ErrUnknownType)
			if unknown == errors.Is(err, ErrMalformed) {
				t.Errorf("%s: error %q must wrap exactly one of ErrUnknownType, ErrMalformed", c.name, err)
			}
			if want := strings.HasPrefix(c.err, "proto: unknown message type"); unknown != want {
				t.Errorf("%s: errors.Is(%q, ErrUnknownType) = %v", c.name, err, unknown)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: Parse error %q", c.name, err)
			continue
		}
		if !reflect.DeepEqual(m, c.msg) {
			t.Errorf("%s: Parse =\n  %#v\nwant\n  %#v", c.name, m, c.msg)
		}
		if m.Type() != Type(c.in[0]) {
			t.Errorf("%s: Type() = %v, want %v", c.name, m.Type(), Type(c.in[0]))
		}
	}
}

func TestAppend(t *testing.T) {
	for _, c := range cases {
		if c.msg == nil {
			continue
		}
		if got := Append(nil, c.msg); !bytes.Equal(got, c.in) {
			t.Errorf("%s: Append =\n  %x\nwant\n  %x", c.name, got, c.in)
		}
		// Appending keeps what dst holds; pointers encode the same.
		prefix := []byte("xyz")
		got := Append(prefix, ptr(c.msg))
		if !bytes.Equal(got[:3], []byte("xyz")) || !bytes.Equal(got[3:], c.in) {
			t.Errorf("%s: Append to a prefix, through a pointer =\n  %x", c.name, got)
		}
	}
}

// ptr returns a pointer to a copy of m, as a Message.
func ptr(m Message) Message {
	v := reflect.New(reflect.TypeOf(m))
	v.Elem().Set(reflect.ValueOf(m))
	return v.Interface().(Message)
}

func TestValidate(t *testing.T) {
	for _, c := range cases {
		if c.msg != nil {
			if err := Validate(c.msg); err != nil {
				t.Errorf("%s: Validate = %q", c.name, err)
			}
		}
	}
	for _, tc := range []struct {
		name string
		m    Message
		err  string
	}{
		{"hello version 0", Hello{}, "proto: HELLO version 0"},
		{"hello role", Hello{Version: 1, Role: 2}, "proto: unknown role"},
		{"hello 65 segments", Hello{Version: 1, Segments: make([]Segment, 65)}, "proto: HELLO with more than 64 segments"},
		{"hello 300 segments", Hello{Version: 1, Segments: make([]Segment, 300)}, "proto: HELLO with more than 64 segments"},
		{"hello size 0", Hello{Version: 1, Segments: []Segment{{Seq: 1}}}, "proto: segment size 0"},
		{"hello order", Hello{Version: 1, Segments: []Segment{{Seq: 2, Size: 1}, {Seq: 1, Size: 1}}}, "proto: HELLO segments not in ascending order"},
		{"have size 0", Have{Seq: 1}, "proto: segment size 0"},
		{"request length 0", Request{}, "proto: REQUEST length 0"},
		{"request range", Request{Offset: 2, Length: 1<<32 - 2}, "proto: REQUEST offset+length over 4294967295"},
		{"data payload", Data{Payload: make([]byte, MaxPayload+1)}, "proto: DATA payload over 65536 bytes"},
		{"data range", &Data{Offset: 1<<32 - 1, Payload: []byte{0}}, "proto: DATA offset+length over 4294967295"},
		{"absent reason", Absent{Reason: 4}, "proto: unknown ABSENT reason"},
		{"bye reason", Bye{Reason: 8}, "proto: unknown BYE reason"},
		{"bye text length", Bye{Text: strings.Repeat("é", 62)}, "proto: BYE text over 123 bytes"},
		{"bye text UTF-8", Bye{Text: "\xc0\x80"}, "proto: BYE text not UTF-8"},
	} {
		err := Validate(tc.m)
		if err == nil || err.Error() != tc.err {
			t.Errorf("%s: Validate = %v, want %q", tc.name, err, tc.err)
			continue
		}
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %q does not wrap ErrMalformed", tc.name, err)
		}
		// What Append writes for an invalid message does not parse back
		// to the same message.
		if m, err := Parse(Append(nil, tc.m)); err == nil && reflect.DeepEqual(m, tc.m) {
			t.Errorf("%s: the encoding of an invalid message parses back", tc.name)
		}
	}
}

// TestZeroCopy checks that a DATA payload aliases the input and cannot grow
// into memory after it.
func TestZeroCopy(t *testing.T) {
	in := append(h("04 00000001 00000000 010203"), 0xee)[:12]
	m, err := Parse(in)
	if err != nil {
		t.Fatal(err)
	}
	p := m.(Data).Payload
	if &p[0] != &in[9] {
		t.Error("DATA payload is a copy")
	}
	if cap(p) != len(p) {
		t.Errorf("DATA payload cap %d, len %d: appending would overwrite the caller's buffer", cap(p), len(p))
	}
}

func TestNames(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{TypeHello.String(), "HELLO"},
		{TypeStatus.String(), "STATUS"},
		{Type(0).String(), "0x00"},
		{Type(0x0b).String(), "0x0b"},
		{Type(0xff).String(), "0xff"},
		{RoleViewer.String(), "viewer"},
		{RoleRelay.String(), "relay"},
		{Role(2).String(), "role(2)"},
		{AbsentNotHere.String(), "not-here"},
		{AbsentBadRange.String(), "bad-range"},
		{AbsentReason(4).String(), "absent(4)"},
		{ByeClosing.String(), "closing"},
		{ByeTimeout.String(), "timeout"},
		{ByeReason(8).String(), "bye(8)"},
		{docHash.String(), "2c44d8fe4c9b965d"},
		{swarmDemo.String(), swarmDemoHex},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
	var sum [32]byte
	copy(sum[:], h("2c44d8fe4c9b965d449c9ff3be57f58628dc1aac248d4e3c73d7c4a7cbc83d08"))
	if got := Hash8Of(sum); got != docHash {
		t.Errorf("Hash8Of = %v", got)
	}
}

// TestCaseNames checks that the table's names are unique and usable as file
// names, and that it has a valid and an invalid case of every type.
func TestCaseNames(t *testing.T) {
	seen := map[string]bool{}
	valid, invalid := map[Type]bool{}, map[Type]bool{}
	for _, c := range cases {
		if seen[c.name] {
			t.Errorf("duplicate case name %q", c.name)
		}
		seen[c.name] = true
		if strings.Trim(c.name, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
			t.Errorf("case name %q: use a-z, 0-9 and -", c.name)
		}
		if (c.msg == nil) == (c.err == "") {
			t.Errorf("%s: give either msg or err", c.name)
		}
		if len(c.in) > 0 {
			if c.msg != nil {
				valid[Type(c.in[0])] = true
			} else {
				invalid[Type(c.in[0])] = true
			}
		}
	}
	for ty := TypeHello; ty <= TypeStatus; ty++ {
		if !valid[ty] || !invalid[ty] {
			t.Errorf("%v: valid case %v, invalid case %v", ty, valid[ty], invalid[ty])
		}
	}
}
