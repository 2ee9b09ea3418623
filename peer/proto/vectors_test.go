package proto

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// testdata/protocol/vectors.json is the table of proto_test.go written out
// for the JavaScript codec: valid cases with their bytes (from Append) and
// fields, invalid ones with their bytes and error text. `go generate
// ./peer/proto` (go test -run TestVectorsFile -update-vectors) rewrites it;
// TestVectorsFile fails while it is stale, and TestVectors checks the
// checked-in file against this package in both directions, reading the
// fields with the same rules as web/proto.test.mjs.

var updateVectors = flag.Bool("update-vectors", false, "rewrite testdata/protocol/vectors.json from the table")

const vectorsPath = "../../testdata/protocol/vectors.json"

// minRepeat is the shortest run of one byte at the end of a message or
// payload that the file writes as {"byte":b,"count":n} instead of hex.
const minRepeat = 64

// vectorFile is the layout of vectors.json.
type vectorFile struct {
	About    []string        `json:"about"`
	Protocol string          `json:"protocol"`
	Version  int             `json:"version"`
	Valid    []validVector   `json:"valid"`
	Invalid  []invalidVector `json:"invalid"`
}

type repeat struct {
	Byte  int `json:"byte"`
	Count int `json:"count"`
}

type validVector struct {
	Name    string          `json:"name"`
	Hex     string          `json:"hex"`
	Repeat  *repeat         `json:"repeat,omitempty"`
	Message json.RawMessage `json:"message"`
}

type invalidVector struct {
	Name   string  `json:"name"`
	Hex    string  `json:"hex"`
	Repeat *repeat `json:"repeat,omitempty"`
	Error  string  `json:"error"`
}

var vectorsAbout = []string{
	"Test vectors of the fusioncast/1 peer wire protocol; docs/protocol.md is the specification.",
	"Written by `go generate ./peer/proto` from the table in peer/proto/proto_test.go; checked by peer/proto (Go) and web/proto.test.mjs (JavaScript).",
	"A vector's bytes are `hex`, followed by `repeat.count` copies of the byte `repeat.byte` when `repeat` is present.",
	"A DATA message's payload is `payload` (hex), followed likewise by `payloadRepeat` when present.",
	"valid: decode(bytes) gives `message` and encode(message) gives bytes. invalid: decode(bytes) fails with exactly `error`.",
}

// splitRepeat splits b into a hex prefix and a trailing run of one byte, if
// the run is at least minRepeat long.
func splitRepeat(b []byte) (string, *repeat) {
	n := 0
	for n < len(b) && b[len(b)-1-n] == b[len(b)-1] {
		n++
	}
	if n < minRepeat {
		return hex.EncodeToString(b), nil
	}
	return hex.EncodeToString(b[:len(b)-n]), &repeat{int(b[len(b)-1]), n}
}

// joinRepeat is the inverse of splitRepeat.
func joinRepeat(h string, r *repeat) ([]byte, error) {
	b, err := hex.DecodeString(h)
	if err != nil {
		return nil, err
	}
	if r != nil {
		if r.Byte < 0 || r.Byte > 255 || r.Count < 1 {
			return nil, fmt.Errorf("bad repeat %+v", *r)
		}
		b = append(b, bytes.Repeat([]byte{byte(r.Byte)}, r.Count)...)
	}
	return b, nil
}

// field is one member of a JSON object written in order.
type field struct {
	key string
	val any
}

// object is a JSON object whose members keep their order.
type object []field

func (o object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(f.key)
		b.Write(k)
		b.WriteByte(':')
		v, err := marshalJSON(f.val)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// marshalJSON is json.Marshal without HTML escaping.
func marshalJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// messageJSON returns m with the field names and values of the JavaScript
// codec.
func messageJSON(m Message) object {
	o := object{{"type", m.Type().String()}}
	add := func(k string, v any) { o = append(o, field{k, v}) }
	switch m := m.(type) {
	case Hello:
		add("version", m.Version)
		add("role", m.Role.String())
		add("flags", m.Flags)
		add("uploadKbps", m.UploadKbps)
		add("swarm", m.Swarm.String())
		segs := make([]object, len(m.Segments))
		for i, s := range m.Segments {
			segs[i] = object{{"seq", s.Seq}, {"size", s.Size}, {"hash8", s.Hash8.String()}}
		}
		add("segments", segs)
	case Have:
		add("seq", m.Seq)
		add("size", m.Size)
		add("hash8", m.Hash8.String())
	case Request:
		add("requestId", m.RequestID)
		add("seq", m.Seq)
		add("hash8", m.Hash8.String())
		add("offset", m.Offset)
		add("length", m.Length)
	case Data:
		add("requestId", m.RequestID)
		add("offset", m.Offset)
		p, r := splitRepeat(m.Payload)
		add("payload", p)
		if r != nil {
			add("payloadRepeat", r)
		}
	case Cancel:
		add("requestId", m.RequestID)
	case Absent:
		add("requestId", m.RequestID)
		add("reason", m.Reason.String())
	case Bye:
		add("reason", m.Reason.String())
		add("text", m.Text)
	case Ping:
		add("nonce", m.Nonce)
	case Pong:
		add("nonce", m.Nonce)
	case Status:
		add("flags", m.Flags)
		add("uploadKbps", m.UploadKbps)
	default:
		panic(fmt.Sprintf("messageJSON: %T", m))
	}
	return o
}

// jsonMessage is every field a message may have in vectors.json.
type jsonMessage struct {
	Type          string        `json:"type"`
	Version       *uint8        `json:"version"`
	Role          *string       `json:"role"`
	Flags         *uint8        `json:"flags"`
	UploadKbps    *uint32       `json:"uploadKbps"`
	Swarm         *string       `json:"swarm"`
	Segments      []jsonSegment `json:"segments"`
	Seq           *uint32       `json:"seq"`
	Size          *uint32       `json:"size"`
	Hash8         *string       `json:"hash8"`
	RequestID     *uint32       `json:"requestId"`
	Offset        *uint32       `json:"offset"`
	Length        *uint32       `json:"length"`
	Payload       *string       `json:"payload"`
	PayloadRepeat *repeat       `json:"payloadRepeat"`
	Reason        *string       `json:"reason"`
	Text          *string       `json:"text"`
	Nonce         *uint32       `json:"nonce"`
}

type jsonSegment struct {
	Seq   uint32 `json:"seq"`
	Size  uint32 `json:"size"`
	Hash8 string `json:"hash8"`
}

// messageFromJSON reads a message of vectors.json. Every field of the type
// must be present and no other (checked by writing the message back with
// messageJSON and comparing).
func messageFromJSON(raw json.RawMessage) (Message, error) {
	var j jsonMessage
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return nil, err
	}
	var err error
	u8 := func(p *uint8) uint8 {
		if p == nil {
			return 0
		}
		return *p
	}
	u32 := func(p *uint32) uint32 {
		if p == nil {
			return 0
		}
		return *p
	}
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	hexTo := func(dst []byte, s string) {
		b, e := hex.DecodeString(s)
		if e == nil && len(b) != len(dst) {
			e = fmt.Errorf("%q: want %d bytes", s, len(dst))
		}
		if e != nil && err == nil {
			err = e
		}
		copy(dst, b)
	}
	var m Message
	switch j.Type {
	case "HELLO":
		h := Hello{Version: u8(j.Version), Flags: Flags(u8(j.Flags)), UploadKbps: u32(j.UploadKbps)}
		switch str(j.Role) {
		case "viewer":
			h.Role = RoleViewer
		case "relay":
			h.Role = RoleRelay
		default:
			return nil, fmt.Errorf("role %q", str(j.Role))
		}
		hexTo(h.Swarm[:], str(j.Swarm))
		for _, s := range j.Segments {
			seg := Segment{Seq: s.Seq, Size: s.Size}
			hexTo(seg.Hash8[:], s.Hash8)
			h.Segments = append(h.Segments, seg)
		}
		m = h
	case "HAVE":
		h := Have{Seq: u32(j.Seq), Size: u32(j.Size)}
		hexTo(h.Hash8[:], str(j.Hash8))
		m = h
	case "REQUEST":
		r := Request{RequestID: u32(j.RequestID), Seq: u32(j.Seq), Offset: u32(j.Offset), Length: u32(j.Length)}
		hexTo(r.Hash8[:], str(j.Hash8))
		m = r
	case "DATA":
		p, e := joinRepeat(str(j.Payload), j.PayloadRepeat)
		if e != nil {
			return nil, e
		}
		m = Data{RequestID: u32(j.RequestID), Offset: u32(j.Offset), Payload: p}
	case "CANCEL":
		m = Cancel{RequestID: u32(j.RequestID)}
	case "ABSENT":
		a := Absent{RequestID: u32(j.RequestID), Reason: 255}
		for i, n := range absentNames {
			if n == str(j.Reason) {
				a.Reason = AbsentReason(i)
			}
		}
		m = a
	case "BYE":
		b := Bye{Reason: 255, Text: str(j.Text)}
		for i, n := range byeNames {
			if n == str(j.Reason) {
				b.Reason = ByeReason(i)
			}
		}
		m = b
	case "PING":
		m = Ping{Nonce: u32(j.Nonce)}
	case "PONG":
		m = Pong{Nonce: u32(j.Nonce)}
	case "STATUS":
		m = Status{Flags: Flags(u8(j.Flags)), UploadKbps: u32(j.UploadKbps)}
	default:
		return nil, fmt.Errorf("type %q", j.Type)
	}
	if err != nil {
		return nil, err
	}
	// The fields present must be exactly those messageJSON writes.
	back, err := json.Marshal(messageJSON(m))
	if err != nil {
		return nil, err
	}
	var a, b any
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(back, &b); err != nil {
		return nil, err
	}
	if !reflect.DeepEqual(a, b) {
		return nil, fmt.Errorf("fields differ from the message they stand for:\n  file: %s\n  want: %s", raw, back)
	}
	return m, nil
}

// buildVectors returns vectors.json for the given cases.
func buildVectors(cs []protoCase) ([]byte, error) {
	var b bytes.Buffer
	w := func(v any) error {
		out, err := marshalJSON(v)
		b.Write(out)
		return err
	}
	b.WriteString("{\n  \"about\": [\n")
	for i, s := range vectorsAbout {
		b.WriteString("    ")
		if err := w(s); err != nil {
			return nil, err
		}
		if i < len(vectorsAbout)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "  ],\n  \"protocol\": %q,\n  \"version\": %d,\n", Label, Version)
	for _, valid := range []bool{true, false} {
		if valid {
			b.WriteString("  \"valid\": [")
		} else {
			b.WriteString("  \"invalid\": [")
		}
		first := true
		for _, c := range cs {
			if (c.msg != nil) != valid {
				continue
			}
			if !first {
				b.WriteByte(',')
			}
			first = false
			b.WriteString("\n    ")
			var v object
			if valid {
				hx, r := splitRepeat(Append(nil, c.msg))
				v = object{{"name", c.name}, {"hex", hx}}
				if r != nil {
					v = append(v, field{"repeat", r})
				}
				v = append(v, field{"message", messageJSON(c.msg)})
			} else {
				hx, r := splitRepeat(c.in)
				v = object{{"name", c.name}, {"hex", hx}}
				if r != nil {
					v = append(v, field{"repeat", r})
				}
				v = append(v, field{"error", c.err})
			}
			if err := w(v); err != nil {
				return nil, err
			}
		}
		if valid {
			b.WriteString("\n  ],\n")
		} else {
			b.WriteString("\n  ]\n}\n")
		}
	}
	return b.Bytes(), nil
}

// TestVectorsFile checks that vectors.json is what the table makes of it
// (-update-vectors rewrites it).
func TestVectorsFile(t *testing.T) {
	want, err := buildVectors(cases)
	if err != nil {
		t.Fatal(err)
	}
	if *updateVectors {
		if err := os.MkdirAll(filepath.Dir(vectorsPath), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(vectorsPath, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(vectorsPath)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("%s is missing or stale (%v); run go generate ./peer/proto", vectorsPath, err)
	}
}

// readVectors reads a file in the layout of vectors.json.
func readVectors(t *testing.T, path string) *vectorFile {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f vectorFile
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &f
}

// TestVectors checks the checked-in vectors against this package, both
// ways, as web/proto.test.mjs does for the JavaScript codec.
func TestVectors(t *testing.T) {
	f := readVectors(t, vectorsPath)
	if f.Protocol != Label || f.Version != Version {
		t.Errorf("protocol %q version %d, want %q %d", f.Protocol, f.Version, Label, Version)
	}
	names := map[string]bool{}
	types := map[string]bool{}
	for _, v := range f.Valid {
		names[v.Name] = true
		in, err := joinRepeat(v.Hex, v.Repeat)
		if err != nil {
			t.Errorf("%s: %v", v.Name, err)
			continue
		}
		want, err := messageFromJSON(v.Message)
		if err != nil {
			t.Errorf("%s: message: %v", v.Name, err)
			continue
		}
		types[want.Type().String()] = true
		got, err := Parse(in)
		if err != nil {
			t.Errorf("%s: Parse error %q", v.Name, err)
		} else if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: Parse =\n  %#v\nwant\n  %#v", v.Name, got, want)
		}
		if out := Append(nil, want); !bytes.Equal(out, in) {
			t.Errorf("%s: Append =\n  %x\nwant\n  %x", v.Name, out, in)
		}
	}
	errs := map[string]bool{}
	for _, v := range f.Invalid {
		names[v.Name] = true
		in, err := joinRepeat(v.Hex, v.Repeat)
		if err != nil {
			t.Errorf("%s: %v", v.Name, err)
			continue
		}
		errs[v.Error] = true
		if m, err := Parse(in); err == nil || err.Error() != v.Error {
			t.Errorf("%s: Parse = %v, %v; want error %q", v.Name, m, err, v.Error)
		}
	}
	if len(names) != len(f.Valid)+len(f.Invalid) {
		t.Error("duplicate vector names")
	}
	for ty := TypeHello; ty <= TypeStatus; ty++ {
		if !types[ty.String()] {
			t.Errorf("no valid vector of type %v", ty)
		}
	}
	// Every fixed error text has a vector.
	for _, e := range []error{errShort, errTrailing, errVersion, errRole, errHelloCount, errHelloOrder,
		errSizeZero, errLengthZero, errRequestRange, errPayload, errDataRange, errAbsentReason,
		errByeReason, errByeTextLength, errByeTextUTF8, unknownTypes[0], unknownTypes[0xff]} {
		if !errs[e.Error()] {
			t.Errorf("no invalid vector with error %q", e)
		}
	}
}

// TestMessageJSON checks that every case survives messageJSON and
// messageFromJSON, and that wrong field sets are caught.
func TestMessageJSON(t *testing.T) {
	for _, c := range cases {
		if c.msg == nil {
			continue
		}
		raw, err := json.Marshal(messageJSON(c.msg))
		if err != nil {
			t.Fatal(err)
		}
		m, err := messageFromJSON(raw)
		if err != nil || !reflect.DeepEqual(m, c.msg) {
			t.Errorf("%s: %s read back as %#v, %v", c.name, raw, m, err)
		}
	}
	for _, bad := range []string{
		`{"type":"PING"}`,
		`{"type":"PING","nonce":1,"offset":0}`,
		`{"type":"PING","nonce":-1}`,
		`{"type":"PING","nonce":4294967296}`,
		`{"type":"PING","nonce":1,"what":0}`,
		`{"type":"HAVE","seq":1,"size":1,"hash8":"00"}`,
		`{"type":"ABSENT","requestId":1,"reason":"gone"}`,
		`{"type":"NOPE"}`,
	} {
		if m, err := messageFromJSON(json.RawMessage(bad)); err == nil {
			t.Errorf("%s read as %#v", bad, m)
		}
	}
	for _, tc := range []struct {
		in   []byte
		hex  string
		want *repeat
	}{
		{nil, "", nil},
		{rep(7, minRepeat-1), hex.EncodeToString(rep(7, minRepeat-1)), nil},
		{rep(7, minRepeat), "", &repeat{7, minRepeat}},
		{cat(h("0007"), rep(7, 100)), "00", &repeat{7, 101}},
	} {
		hx, r := splitRepeat(tc.in)
		if hx != tc.hex || !reflect.DeepEqual(r, tc.want) {
			t.Errorf("splitRepeat(%x) = %q, %v; want %q, %v", tc.in, hx, r, tc.hex, tc.want)
		}
		if b, err := joinRepeat(hx, r); err != nil || !bytes.Equal(b, tc.in) {
			t.Errorf("joinRepeat(%q, %v) = %x, %v", hx, r, b, err)
		}
	}
}
