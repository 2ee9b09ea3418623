package proto

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
)

// The fuzz targets:
//
//   - FuzzParse: Parse never panics; an error has one of the fixed texts and
//     wraps exactly one sentinel; anything that parses passes Validate and
//     re-encodes byte for byte.
//   - FuzzAppend: for messages built from arbitrary field values, Validate
//     accepts exactly those whose encoding parses back to the same message.
//
// The seeds are the table in proto_test.go; testdata/fuzz holds them as
// files (go test -run TestFuzzCorpus -update-corpus rewrites them) plus
// what fuzzing has found.

var updateCorpus = flag.Bool("update-corpus", false, "rewrite testdata/fuzz seed files from the table")

// errorTexts are the texts Parse may return besides unknown types.
var errorTexts = func() map[string]bool {
	m := map[string]bool{}
	for _, e := range []error{errShort, errTrailing, errVersion, errRole, errHelloCount, errHelloOrder,
		errSizeZero, errLengthZero, errRequestRange, errPayload, errDataRange, errAbsentReason,
		errByeReason, errByeTextLength, errByeTextUTF8} {
		m[e.Error()] = true
	}
	return m
}()

func FuzzParse(f *testing.F) {
	for _, c := range cases {
		f.Add(c.in)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			checkParseError(t, b, m, err)
			return
		}
		if len(b) == 0 || m.Type() != Type(b[0]) {
			t.Fatalf("Parse(%x) = %T", b, m)
		}
		if err := Validate(m); err != nil {
			t.Fatalf("Parse(%x) = %#v, which Validate rejects: %v", b, m, err)
		}
		if out := Append(nil, m); !bytes.Equal(out, b) {
			t.Fatalf("Parse(%x) = %#v, which Append writes as %x", b, m, out)
		}
		if d, ok := m.(Data); ok && len(d.Payload) > 0 && &d.Payload[0] != &b[DataHeaderLen] {
			t.Fatal("DATA payload is a copy")
		}
	})
}

func checkParseError(t *testing.T, b []byte, m Message, err error) {
	t.Helper()
	if m != nil {
		t.Fatalf("Parse(%x) returned %#v with error %v", b, m, err)
	}
	unknown, malformed := errors.Is(err, ErrUnknownType), errors.Is(err, ErrMalformed)
	switch {
	case unknown && !malformed:
		if len(b) == 0 || Type(b[0]).String()[0] != '0' || err.Error() != "proto: unknown message type "+Type(b[0]).String() {
			t.Fatalf("Parse(%x): %v", b, err)
		}
	case malformed && !unknown:
		if !errorTexts[err.Error()] {
			t.Fatalf("Parse(%x): unlisted error text %q", b, err)
		}
	default:
		t.Fatalf("Parse(%x): error %v wraps ErrUnknownType %v, ErrMalformed %v", b, err, unknown, malformed)
	}
}

func FuzzAppend(f *testing.F) {
	for _, c := range cases {
		if c.msg != nil {
			f.Add(c.in[0], uint32(1), uint32(2), uint32(3), uint32(4), c.in)
		}
	}
	f.Fuzz(func(t *testing.T, ty byte, a, b, c, d uint32, blob []byte) {
		m := build(Type(ty), a, b, c, d, blob)
		if m == nil {
			return
		}
		verr := Validate(m)
		enc := Append(nil, m)
		got, perr := Parse(enc)
		switch {
		case verr == nil && perr != nil:
			t.Fatalf("%#v: valid, but its encoding %x does not parse: %v", m, enc, perr)
		case verr == nil && !same(got, m):
			t.Fatalf("%#v: encoded as %x, parsed back as %#v", m, enc, got)
		case verr != nil && perr == nil && same(got, m):
			t.Fatalf("%#v: Validate rejects it (%v) but it round-trips", m, verr)
		case verr != nil && perr != nil && perr.Error() != verr.Error() &&
			!(ty == byte(TypeHello) && len(m.(Hello).Segments) > 255):
			t.Fatalf("%#v: Validate says %q, Parse of its encoding %q", m, verr, perr)
		}
	})
}

// same reports whether a and b are the same message; an empty DATA payload
// may be nil or not.
func same(a, b Message) bool {
	da, okA := a.(Data)
	db, okB := b.(Data)
	if okA && okB {
		return da.RequestID == db.RequestID && da.Offset == db.Offset && bytes.Equal(da.Payload, db.Payload)
	}
	return reflect.DeepEqual(a, b)
}

// build makes a message of type ty from arbitrary values; nil for unknown
// types.
func build(ty Type, a, b, c, d uint32, blob []byte) Message {
	var h8 Hash8
	copy(h8[:], blob)
	switch ty {
	case TypeHello:
		m := Hello{Version: uint8(a), Role: Role(a >> 8), Flags: Flags(a >> 16), UploadKbps: b}
		copy(m.Swarm[:], blob)
		// Entries from c and d: count, then a step between sequence
		// numbers (0 makes duplicates) and the sizes.
		n := int(c % 80)
		for i := range n {
			seq := d + uint32(i)*(c>>8&3)
			size := uint32(i) * (c >> 16 & 1)
			if c>>17&1 == 1 {
				size++
			}
			m.Segments = append(m.Segments, Segment{Seq: seq, Size: size, Hash8: h8})
		}
		return m
	case TypeHave:
		return Have{Seq: a, Size: b, Hash8: h8}
	case TypeRequest:
		return Request{RequestID: a, Seq: b, Hash8: h8, Offset: c, Length: d}
	case TypeData:
		p := blob
		if d&1 == 1 { // reach the limit now and then
			p = bytes.Repeat(blob, MaxPayload/max(len(blob), 1)+int(d>>1&1))
		}
		return Data{RequestID: a, Offset: b, Payload: p}
	case TypeCancel:
		return Cancel{RequestID: a}
	case TypeAbsent:
		return Absent{RequestID: a, Reason: AbsentReason(b)}
	case TypeBye:
		return Bye{Reason: ByeReason(a), Text: string(blob)}
	case TypePing:
		return Ping{Nonce: a}
	case TypePong:
		return Pong{Nonce: a}
	case TypeStatus:
		return Status{Flags: Flags(a), UploadKbps: b}
	}
	return nil
}

// TestParseMutations runs FuzzParse's checks over every one-byte change,
// truncation and extension of the table's messages (up to 2 KiB), so that
// plain go test covers more than the seeds.
func TestParseMutations(t *testing.T) {
	n := 0
	for _, c := range cases {
		if len(c.in) > 2048 {
			continue
		}
		for _, b := range mutations(c.in) {
			n++
			m, err := Parse(b)
			if err != nil {
				checkParseError(t, b, m, err)
				continue
			}
			if out := Append(nil, m); !bytes.Equal(out, b) || Validate(m) != nil {
				t.Fatalf("Parse(%x) = %#v, Append = %x", b, m, out)
			}
		}
	}
	t.Logf("%d mutations", n)
}

// mutations returns in with each byte replaced by 0x00, 0xff and its bit
// flips, every truncation, and in with one byte appended.
func mutations(in []byte) [][]byte {
	var out [][]byte
	for i := range in {
		for _, v := range []byte{0x00, 0xff, in[i] ^ 0x01, in[i] ^ 0x80, in[i] + 1} {
			b := bytes.Clone(in)
			b[i] = v
			out = append(out, b)
		}
	}
	for i := range len(in) {
		out = append(out, in[:i])
	}
	return append(out, append(bytes.Clone(in), 0x00), append(bytes.Clone(in), 0x80))
}

// corpusFile returns the seed file of a case for a target and its contents.
func corpusFile(target, name string, in []byte) (path string, data []byte) {
	path = filepath.Join("testdata", "fuzz", target, "seed-"+name)
	return path, []byte("go test fuzz v1\n[]byte(" + strconv.Quote(string(in)) + ")\n")
}

// maxSeedFile keeps the 64 KiB cases out of testdata; the fuzz target still
// gets them from the table with f.Add.
const maxSeedFile = 4 << 10

// TestFuzzCorpus checks that testdata/fuzz/FuzzParse holds every case of the
// table up to maxSeedFile (-update-corpus writes them).
func TestFuzzCorpus(t *testing.T) {
	for _, c := range cases {
		if len(c.in) > maxSeedFile {
			continue
		}
		path, data := corpusFile("FuzzParse", c.name, c.in)
		if *updateCorpus {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s is missing or stale; run go test -run TestFuzzCorpus -update-corpus", path)
		}
	}
}
