package wire

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// decodeMap decodes a message with encoding/json, numbers as json.Number.
func decodeMap(t testing.TB, b []byte) map[string]any {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatalf("encoding/json: %v\n%s", err, b)
	}
	return m
}

// TestAppendIDs sends IDs holding every byte value through AppendOffer and
// checks that ParseResponse reads the same bytes and encoding/json reads the
// same code points.
func TestAppendIDs(t *testing.T) {
	for i, ih := range ids256 {
		from := ids256[(i+1)%len(ids256)]
		oid := ids256[(i+2)%len(ids256)]
		out := AppendOffer(nil, ih, from, oid, []byte(offerJSON))
		if !json.Valid(out) {
			t.Fatalf("invalid JSON: %s", out)
		}
		var r Response
		if err := ParseResponse(out, &r); err != nil {
			t.Fatalf("ParseResponse: %v\n%s", err, out)
		}
		if r.InfoHash != ih || r.PeerID != from || r.OfferID != oid || string(r.Offer) != offerJSON {
			t.Errorf("round trip of %v/%v/%v gave %v/%v/%v", ih, from, oid, r.InfoHash, r.PeerID, r.OfferID)
		}
		m := decodeMap(t, out)
		if m["info_hash"] != latin1(ih) || m["peer_id"] != latin1(from) || m["offer_id"] != latin1(oid) {
			t.Errorf("encoding/json reads %q %q %q, want %q %q %q",
				m["info_hash"], m["peer_id"], m["offer_id"], latin1(ih), latin1(from), latin1(oid))
		}
	}
	// The encoding itself: printable ASCII but " and \ as is, the rest \u00XX.
	var id ID
	copy(id[:], "a\"\\\x00\x1f\x7f\x80\xff ~AZaz09/<>&")
	if got, want := string(appendID(nil, &id)), `"a\u0022\u005c\u0000\u001f\u007f\u0080\u00ff ~AZaz09/<>&"`; got != want {
		t.Errorf("appendID = %s, want %s", got, want)
	}
}

func TestAppendRoundTrip(t *testing.T) {
	ext := &RespExt{Version: 1, Edge: true, EdgeRank: 3, Site: "lab \"3\"\\"}
	files := []ScrapeFile{{ihDemo, 1, 2, 3}, {ihEdge, 0, 0, 0}, {ids256[12], math.MaxInt32, 7, 1}}
	reason := "bad \"thing\"\\ \x00\x1f\n é \u2028 \xff 😀"
	for _, tc := range []struct {
		name string
		out  []byte
		want *Response
	}{
		{"announce response", AppendAnnounceResponse(nil, ihEdge, 120, 4, 5, nil), resp(func(r *Response) {
			r.Action, r.InfoHash, r.Interval, r.Complete, r.Incomplete = ActionAnnounce, ihEdge, 120, 4, 5
		})},
		{"announce response ext", AppendAnnounceResponse(nil, ihDemo, 0, 0, 0, ext), resp(func(r *Response) {
			r.Action, r.InfoHash, r.Interval, r.Complete, r.Incomplete = ActionAnnounce, ihDemo, 0, 0, 0
			r.Ext, r.HasExt = *ext, true
		})},
		{"announce response ext version 0", AppendAnnounceResponse(nil, ihDemo, 1, 2, 3, &RespExt{}), resp(func(r *Response) {
			r.Action, r.InfoHash, r.Interval, r.Complete, r.Incomplete = ActionAnnounce, ihDemo, 1, 2, 3
			r.Ext, r.HasExt = RespExt{Version: 1}, true
		})},
		{"offer", AppendOffer(nil, ihEdge, peerEdge, offerE, []byte(offerJSON)), resp(func(r *Response) {
			r.Action, r.InfoHash, r.PeerID, r.OfferID, r.Offer = ActionAnnounce, ihEdge, peerEdge, offerE, []byte(offerJSON)
		})},
		{"answer", AppendAnswer(nil, ihEdge, peerA, offer1, []byte(answerJSON)), resp(func(r *Response) {
			r.Action, r.InfoHash, r.PeerID, r.OfferID, r.Answer = ActionAnnounce, ihEdge, peerA, offer1, []byte(answerJSON)
		})},
		{"scrape response", AppendScrapeResponse(nil, files), resp(func(r *Response) {
			r.Action, r.Files = ActionScrape, files
		})},
		{"scrape response empty", AppendScrapeResponse(nil, nil), resp(func(r *Response) { r.Action = ActionScrape })},
		{"failure", AppendFailure(nil, ActionAnnounce, &ihEdge, reason), resp(func(r *Response) {
			r.Action, r.InfoHash, r.FailureReason = ActionAnnounce, ihEdge, string([]rune(reason))
		})},
		{"failure scrape", AppendFailure(nil, ActionScrape, nil, "x"), resp(func(r *Response) {
			r.Action, r.FailureReason = ActionScrape, "x"
		})},
		{"failure bare", AppendFailure(nil, 0, nil, ErrTooLarge.Error()), resp(func(r *Response) {
			r.FailureReason = "message too large"
		})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !json.Valid(tc.out) {
				t.Fatalf("invalid JSON: %s", tc.out)
			}
			var r Response
			if err := ParseResponse(tc.out, &r); err != nil {
				t.Fatalf("ParseResponse: %v\n%s", err, tc.out)
			}
			if d := diffResp(&r, tc.want); d != "" {
				t.Errorf("%s\n%s", tc.out, d)
			}
			// encoding/json agrees on the strings we escaped.
			m := decodeMap(t, tc.out)
			if tc.want.FailureReason != "" && m["failure reason"] != tc.want.FailureReason {
				t.Errorf("encoding/json reads failure reason %q", m["failure reason"])
			}
			if tc.want.InfoHash != (ID{}) && m["info_hash"] != latin1(tc.want.InfoHash) {
				t.Errorf("encoding/json reads info_hash %q", m["info_hash"])
			}
			// AppendResponse writes the same values.
			var r2 Response
			if err := ParseResponse(AppendResponse(nil, &r), &r2); err != nil {
				t.Fatal(err)
			}
			if d := diffResp(&r2, tc.want); d != "" {
				t.Errorf("AppendResponse:\n%s", d)
			}
		})
	}
}

func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "plain", "\"\\/", "\x00\x01\x1f\x7f", "\b\f\n\r\t", "é😀", "\u2028\u2029", "\xff\xfe", "a\xc3", "<&>"} {
		out := appendString(nil, s)
		var got string
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("appendString(%q) = %s: %v", s, out, err)
		}
		if want := string([]rune(s)); got != want { // U+FFFD per bad byte
			t.Errorf("appendString(%q) = %s, reads back %q", s, out, got)
		}
		for _, c := range out {
			if c < 0x20 {
				t.Errorf("appendString(%q) = %q has a raw control byte", s, out)
			}
		}
	}
}

func TestAppendRequestRoundTrip(t *testing.T) {
	r := &Request{
		Action: ActionAnnounce, InfoHash: ihEdge, PeerID: peerEdge, Event: EventCompleted,
		NumWant: 7, Uploaded: 1 << 40, Downloaded: 3, Left: 0,
		Offers: []Offer{{offerE, []byte(offerJSON)}, {offer1, []byte(`{}`)}},
		Ext: Ext{Present: true, Version: 1, Role: RoleRelay, Site: "s", MaxPeers: 1, UploadKbps: 2,
			Stats: &Stats{HTTP: 1, P2P: 2, Relay: 3, Stalls: 4, Errors: 5}},
	}
	out := AppendRequest(nil, r)
	var got Request
	if err := ParseRequest(out, &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if d := diffReq(&got, r); d != "" {
		t.Error(d)
	}
	m := decodeMap(t, out)
	if m["info_hash"] != latin1(ihEdge) || m["peer_id"] != latin1(peerEdge) {
		t.Errorf("encoding/json reads %q %q", m["info_hash"], m["peer_id"])
	}
}

// TestAllocs checks the hot paths allocate nothing.
func TestAllocs(t *testing.T) {
	msg := announceWithOffers(10)
	ext := []byte(a(`,"fusioncast":{"v":1,"role":"relay","site":"lab-3","stats":{"http":1}}`))
	var r Request
	var resp Response
	buf := make([]byte, 0, 4096)
	offerMsg := AppendOffer(nil, ihDemo, peerA, offer1, []byte(offerJSON))
	bad := []byte(`{"action":"announce","info_hash":"x"}`)
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"ParseRequest", func() { _ = ParseRequest(msg, &r) }},
		{"ParseRequest ext", func() { _ = ParseRequest(ext, &r) }},
		{"ParseRequest error", func() { _ = ParseRequest(bad, &r) }},
		{"ParseResponse offer", func() { _ = ParseResponse(offerMsg, &resp) }},
		{"AppendOffer", func() { buf = AppendOffer(buf[:0], ihEdge, peerEdge, offerE, []byte(offerJSON)) }},
		{"AppendAnswer", func() { buf = AppendAnswer(buf[:0], ihEdge, peerEdge, offerE, []byte(answerJSON)) }},
		{"AppendAnnounceResponse", func() {
			buf = AppendAnnounceResponse(buf[:0], ihEdge, 120, 1, 2, &RespExt{Edge: true, Site: "lab-3"})
		}},
		{"AppendScrapeResponse", func() { buf = AppendScrapeResponse(buf[:0], []ScrapeFile{{ihEdge, 1, 2, 3}}) }},
		{"AppendFailure", func() { buf = AppendFailure(buf[:0], ActionAnnounce, &ihEdge, "invalid \"x\"") }},
		{"AppendRequest", func() { buf = AppendRequest(buf[:0], &r) }},
	} {
		tc.f() // warm up: grow the reused slices
		if n := testing.AllocsPerRun(100, tc.f); n != 0 {
			t.Errorf("%s: %v allocations per run, want 0", tc.name, n)
		}
	}
}
