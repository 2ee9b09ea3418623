package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// The fuzz targets are differential: encoding/json is the reference for
// what is JSON and what it means.
//
//   - anything ParseRequest/ParseResponse accepts, encoding/json.Valid
//     accepts, and decoding it with encoding/json gives the same values for
//     every field we extract;
//   - anything encoding/json rejects, we reject; we reject valid JSON only
//     for a documented reason (invalid UTF-8, nesting, limits, types), never
//     as "invalid JSON";
//   - anything we accept re-marshals (AppendRequest/AppendResponse) to JSON
//     that parses to the same values.
//
// The seeds are the table in wire_test.go; testdata/fuzz holds them as files
// (go test -run TestFuzzCorpus -update-corpus rewrites them) plus what
// fuzzing has found.

var updateCorpus = flag.Bool("update-corpus", false, "rewrite testdata/fuzz seed files from the table")

func FuzzParseRequest(f *testing.F) {
	for _, c := range cases {
		f.Add([]byte(c.in))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Request
		err := ParseRequest(b, &r)
		if !checkReject(t, b, err) {
			return
		}
		m := decodeMap(t, b)
		checkRequest(t, &r, m)
		out := AppendRequest(nil, &r)
		if !json.Valid(out) {
			t.Fatalf("AppendRequest wrote invalid JSON: %s", out)
		}
		if len(out) <= MaxMessageBytes {
			var r2 Request
			if err := ParseRequest(out, &r2); err != nil {
				t.Fatalf("re-marshalled message does not parse: %v\n%s", err, out)
			}
			if d := diffReq(&r2, &r); d != "" {
				t.Fatalf("re-marshal changed the request:\n%s", d)
			}
		}
	})
}

func FuzzParseResponse(f *testing.F) {
	for _, c := range cases {
		f.Add([]byte(c.in))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Response
		err := ParseResponse(b, &r)
		if !checkReject(t, b, err) {
			return
		}
		m := decodeMap(t, b)
		checkResponse(t, &r, m)
		out := AppendResponse(nil, &r)
		if !json.Valid(out) {
			t.Fatalf("AppendResponse wrote invalid JSON: %s", out)
		}
		if len(out) <= MaxMessageBytes {
			var r2 Response
			if err := ParseResponse(out, &r2); err != nil {
				t.Fatalf("re-marshalled message does not parse: %v\n%s", err, out)
			}
			if d := diffResp(&r2, &r); d != "" {
				t.Fatalf("re-marshal changed the response:\n%s", d)
			}
		}
	})
}

// checkReject checks the error of a parse against encoding/json and reports
// whether the message was accepted.
func checkReject(t *testing.T, b []byte, err error) bool {
	t.Helper()
	valid := json.Valid(b)
	if err == nil {
		if !valid {
			t.Fatalf("accepted what encoding/json rejects: %q", b)
		}
		return true
	}
	if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
		t.Fatalf("error %v wraps neither ErrMalformed nor ErrTooLarge", err)
	}
	if !valid {
		return false
	}
	switch msg := err.Error(); {
	case strings.Contains(msg, "invalid JSON"):
		if utf8.Valid(b) {
			t.Fatalf("rejected valid JSON as %q: %q", msg, b)
		}
	case err == errUTF8:
		if utf8.Valid(b) {
			t.Fatalf("rejected valid UTF-8 as %q: %q", msg, b)
		}
	case err == errDepth:
		if d := depth(b); d <= MaxDepth {
			t.Fatalf("rejected nesting depth %d as %q: %q", d, msg, b)
		}
	case err == errNotObject:
		if bytes.TrimLeft(b, " \t\r\n")[0] == '{' {
			t.Fatalf("rejected an object as %q: %q", msg, b)
		}
	}
	return false
}

// depth returns the deepest nesting of valid JSON b.
func depth(b []byte) int {
	d := json.NewDecoder(bytes.NewReader(b))
	n, most := 0, 0
	for {
		tok, err := d.Token()
		if err != nil {
			return most
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			n++
			most = max(most, n)
		case json.Delim('}'), json.Delim(']'):
			n--
		}
	}
}

// present returns m[k] and whether it is there and not null (null means
// absent on our wire).
func present(m map[string]any, k string) (any, bool) {
	v, ok := m[k]
	return v, ok && v != nil
}

func wantID(t *testing.T, m map[string]any, k string, got ID) {
	t.Helper()
	if v, ok := present(m, k); !ok {
		if got != (ID{}) {
			t.Fatalf("%s: absent, parsed as %v", k, got)
		}
	} else if v != latin1(got) {
		t.Fatalf("%s: encoding/json reads %q, we read %q", k, v, latin1(got))
	}
}

func wantInt(t *testing.T, m map[string]any, k string, got, absent int64) {
	t.Helper()
	v, ok := present(m, k)
	if !ok {
		if got != absent {
			t.Fatalf("%s: absent, parsed as %d", k, got)
		}
		return
	}
	n, err := strconv.ParseInt(string(v.(json.Number)), 10, 64)
	if err != nil || n != got {
		t.Fatalf("%s: encoding/json reads %v, we read %d", k, v, got)
	}
}

func wantString(t *testing.T, m map[string]any, k, got string) {
	t.Helper()
	v, _ := present(m, k)
	if v == nil {
		v = ""
	}
	if v != got {
		t.Fatalf("%s: encoding/json reads %q, we read %q", k, v, got)
	}
}

// wantRaw compares a raw value we returned with what encoding/json decoded,
// by marshalling the decoded value and decoding both again.
func wantRaw(t *testing.T, what string, raw []byte, v any) {
	t.Helper()
	if v == nil {
		if raw != nil {
			t.Fatalf("%s: absent, parsed as %s", what, raw)
		}
		return
	}
	theirs, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	a, b := decodeAny(t, raw), decodeAny(t, theirs)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("%s: we returned %s, encoding/json decoded %s", what, raw, theirs)
	}
}

func decodeAny(t *testing.T, b []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return canonNumbers(v)
}

// canonNumbers replaces json.Numbers by their float64 text, so that 1.0 and
// 1 (json.Marshal of a json.Number keeps its text) compare by value.
func canonNumbers(v any) any {
	switch v := v.(type) {
	case json.Number:
		f, err := v.Float64()
		if err != nil {
			return string(v) // out of range: compare the text
		}
		return f
	case map[string]any:
		for k, e := range v {
			v[k] = canonNumbers(e)
		}
	case []any:
		for i, e := range v {
			v[i] = canonNumbers(e)
		}
	}
	return v
}

func checkRequest(t *testing.T, r *Request, m map[string]any) {
	t.Helper()
	wantString(t, m, "action", r.Action.String())
	wantExt(t, &r.Ext, m)
	if r.Action == ActionScrape {
		v, _ := present(m, "info_hash")
		var ids []any
		switch v := v.(type) {
		case string:
			ids = []any{v}
		case []any:
			ids = v
		}
		if len(ids) != len(r.InfoHashes) {
			t.Fatalf("info_hash: encoding/json reads %d, we read %d", len(ids), len(r.InfoHashes))
		}
		for i, id := range ids {
			if id != latin1(r.InfoHashes[i]) {
				t.Fatalf("info_hash[%d]: encoding/json reads %q, we read %q", i, id, latin1(r.InfoHashes[i]))
			}
		}
		return
	}
	wantID(t, m, "info_hash", r.InfoHash)
	wantID(t, m, "peer_id", r.PeerID)
	wantID(t, m, "to_peer_id", r.ToPeerID)
	wantID(t, m, "offer_id", r.OfferID)
	wantInt(t, m, "numwant", int64(r.NumWant), -1)
	wantInt(t, m, "uploaded", r.Uploaded, 0)
	wantInt(t, m, "downloaded", r.Downloaded, 0)
	wantInt(t, m, "left", r.Left, -1)
	ev, _ := present(m, "event")
	switch ev {
	case nil, "", "empty":
		ev = ""
	case "paused":
		ev = "update"
	}
	if ev != r.Event.String() {
		t.Fatalf("event: encoding/json reads %q, we read %v", ev, r.Event)
	}
	ans, _ := present(m, "answer")
	wantRaw(t, "answer", r.Answer, ans)
	offers, _ := present(m, "offers")
	list, _ := offers.([]any)
	if len(list) != len(r.Offers) {
		t.Fatalf("offers: encoding/json reads %d, we read %d", len(list), len(r.Offers))
	}
	for i, o := range list {
		om := o.(map[string]any)
		wantID(t, om, "offer_id", r.Offers[i].ID)
		wantRaw(t, fmt.Sprintf("offers[%d].offer", i), r.Offers[i].SDP, om["offer"])
	}
}

func wantExt(t *testing.T, e *Ext, m map[string]any) {
	t.Helper()
	v, ok := present(m, "fusioncast")
	if ok != e.Present {
		t.Fatalf("fusioncast: encoding/json reads %v, we read Present=%v", v, e.Present)
	}
	if !ok {
		return
	}
	em := v.(map[string]any)
	wantInt(t, em, "v", int64(e.Version), 0)
	role, _ := present(em, "role")
	if role != nil && role != "relay" {
		role = "viewer"
	}
	if role != nil && role != e.Role.String() || role == nil && e.Role != RoleViewer {
		t.Fatalf("fusioncast.role: encoding/json reads %v, we read %v", em["role"], e.Role)
	}
	wantString(t, em, "site", e.Site)
	wantInt(t, em, "max_peers", int64(e.MaxPeers), 0)
	wantInt(t, em, "upload_kbps", int64(e.UploadKbps), 0)
	sv, ok := present(em, "stats")
	if ok != (e.Stats != nil) {
		t.Fatalf("fusioncast.stats: encoding/json reads %v, we read %v", sv, e.Stats)
	}
	if ok {
		sm := sv.(map[string]any)
		wantInt(t, sm, "http", e.Stats.HTTP, 0)
		wantInt(t, sm, "p2p", e.Stats.P2P, 0)
		wantInt(t, sm, "relay", e.Stats.Relay, 0)
		wantInt(t, sm, "stalls", e.Stats.Stalls, 0)
		wantInt(t, sm, "errors", e.Stats.Errors, 0)
	}
}

func checkResponse(t *testing.T, r *Response, m map[string]any) {
	t.Helper()
	wantString(t, m, "action", r.Action.String())
	wantID(t, m, "info_hash", r.InfoHash)
	wantID(t, m, "peer_id", r.PeerID)
	wantID(t, m, "offer_id", r.OfferID)
	wantInt(t, m, "interval", int64(r.Interval), -1)
	wantInt(t, m, "complete", int64(r.Complete), -1)
	wantInt(t, m, "incomplete", int64(r.Incomplete), -1)
	offer, _ := present(m, "offer")
	wantRaw(t, "offer", r.Offer, offer)
	answer, _ := present(m, "answer")
	wantRaw(t, "answer", r.Answer, answer)
	wantString(t, m, "failure reason", r.FailureReason)
	wantString(t, m, "warning message", r.WarningMessage)
	files, _ := present(m, "files")
	fm, _ := files.(map[string]any)
	if len(fm) != len(r.Files) {
		t.Fatalf("files: encoding/json reads %d, we read %d", len(fm), len(r.Files))
	}
	for _, f := range r.Files {
		v, ok := fm[latin1(f.InfoHash)]
		if !ok {
			t.Fatalf("files: we read %q, encoding/json does not", latin1(f.InfoHash))
		}
		vm := v.(map[string]any)
		wantInt(t, vm, "complete", int64(f.Complete), 0)
		wantInt(t, vm, "incomplete", int64(f.Incomplete), 0)
		wantInt(t, vm, "downloaded", int64(f.Downloaded), 0)
	}
	v, ok := present(m, "fusioncast")
	if ok != r.HasExt {
		t.Fatalf("fusioncast: encoding/json reads %v, we read HasExt=%v", v, r.HasExt)
	}
	if ok {
		em := v.(map[string]any)
		wantInt(t, em, "v", int64(r.Ext.Version), 0)
		wantInt(t, em, "edge_rank", int64(r.Ext.EdgeRank), 0)
		wantString(t, em, "site", r.Ext.Site)
		if edge, _ := present(em, "edge"); (edge == true) != r.Ext.Edge {
			t.Fatalf("fusioncast.edge: encoding/json reads %v, we read %v", edge, r.Ext.Edge)
		}
	}
}

// corpusFile returns the seed file for a case and its contents.
func corpusFile(target string, c wireCase) (path string, data []byte) {
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '-'
	}, strings.ToLower(c.name))
	path = filepath.Join("testdata", "fuzz", target, "seed-"+name)
	return path, []byte("go test fuzz v1\n[]byte(" + strconv.Quote(c.in) + ")\n")
}

// maxSeedFile keeps the limit cases (64 KiB messages) out of testdata; the
// fuzz targets still get them from the table with f.Add.
const maxSeedFile = 8 << 10

// TestFuzzCorpus checks that testdata/fuzz holds every case of the table
// (up to maxSeedFile) as a seed of both fuzz targets (-update-corpus writes
// them).
func TestFuzzCorpus(t *testing.T) {
	for _, target := range []string{"FuzzParseRequest", "FuzzParseResponse"} {
		for _, c := range cases {
			if len(c.in) > maxSeedFile {
				continue
			}
			path, data := corpusFile(target, c)
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
}
