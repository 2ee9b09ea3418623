package load

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"fusioncast/tracker/wire"
)

func testID(seed byte) (id wire.ID) {
	for i := range id {
		id[i] = seed + byte(i*37) // printable, escaped and high bytes
	}
	return id
}

// scanRelay recognizes exactly the relayed offers and answers that the full
// parser reads as such, and hands over their IDs as written.
func TestScanRelayAgreesWithParser(t *testing.T) {
	ih, from, oid := testID(1), testID(2), testID(3)
	offer := sessionJSON("offer", fakeSDP("offer", 1300))
	answer := sessionJSON("answer", fakeSDP("answer", 1300))
	msgs := []string{
		string(wire.AppendOffer(nil, ih, from, oid, offer)),
		string(wire.AppendAnswer(nil, ih, from, oid, answer)),
		string(wire.AppendAnnounceResponse(nil, ih, 120, 3, 4, nil)),
		string(wire.AppendFailure(nil, wire.ActionAnnounce, &ih, "nope")),
		`{"action":"announce","offer":{"type":"offer","sdp":"a \"quoted\" \\\\ part"},"offer_id":"01234567890123456789","peer_id":"abcdefghijabcdefghij","info_hash":"abcdefghijabcdefghij"}`,
		` { "offer" : {"sdp":"x","n":[1,{"a":"}"}]} , "peer_id" : "abcdefghijabcdefghij" , "offer_id":"0123456789012345678\"" } `,
		`{"answer":{"type":"answer"},"offer_id":"01234567890123456789","peer_id":"abcdefghijabcdefghij","failure reason":"x"}`,
		`{"offer":{},"answer":{},"offer_id":"01234567890123456789","peer_id":"abcdefghijabcdefghij"}`,
		`{"offer":null,"offer_id":"01234567890123456789","peer_id":"abcdefghijabcdefghij"}`,
		`{"offer":{"sdp":"x"},"peer_id":"abcdefghijabcdefghij"}`,
		`{"offer":{"sdp":"x"},"offer_id":"01234567890123456789","peer_id":"abcdefghijabcdefghij"} x`,
		`{"offer":{"sdp":"x},"offer_id":"01234567890123456789","peer_id":"abcdefghijabcdefghij"}`,
		`{"\u006ffer":{"sdp":"x"},"offer_id":"01234567890123456789","peer_id":"abcdefghijabcdefghij"}`,
		`{}`, `[]`, ``, `{"action":"scrape","files":{}}`,
	}
	recognized := 0
	for _, m := range msgs {
		var q relay
		quick := scanRelay([]byte(m), &q)
		if quick {
			recognized++
		}
		var r wire.Response
		err := wire.ParseResponse([]byte(m), &r)
		full := err == nil && r.FailureReason == "" && (r.Offer != nil) != (r.Answer != nil)
		if quick && !full {
			t.Errorf("%.80q: quick says relay, parser: %v %+v", m, err, r)
			continue
		}
		if !quick {
			continue
		}
		if q.answer != (r.Answer != nil) {
			t.Errorf("%.80q: quick answer %v, parser %v", m, q.answer, r.Answer != nil)
		}
		// The IDs as written decode to the parser's.
		var back wire.Response
		msg := `{"action":"announce","info_hash":"abcdefghijabcdefghij","offer":{},"peer_id":` + string(q.peerID) + `,"offer_id":` + string(q.offerID) + `}`
		if err := wire.ParseResponse([]byte(msg), &back); err != nil || back.PeerID != r.PeerID || back.OfferID != r.OfferID {
			t.Errorf("%.80q: IDs %s %s: %v", m, q.peerID, q.offerID, err)
		}
	}
	if recognized != 4 {
		t.Errorf("%d messages recognized as relays, want 4", recognized)
	}
}

func FuzzScanRelay(f *testing.F) {
	ih, from, oid := testID(1), testID(2), testID(3)
	f.Add(wire.AppendOffer(nil, ih, from, oid, []byte(`{"type":"offer","sdp":"v=0\r\n"}`)))
	f.Add(wire.AppendAnswer(nil, ih, from, oid, []byte(`{"type":"answer","sdp":"v=0\r\n"}`)))
	f.Add(wire.AppendAnnounceResponse(nil, ih, 120, 3, 4, nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		var q relay
		if !scanRelay(b, &q) {
			return
		}
		var r wire.Response
		if err := wire.ParseResponse(b, &r); err != nil {
			return // scanRelay does not validate values
		}
		if r.FailureReason != "" || (r.Offer != nil) == (r.Answer != nil) || q.answer != (r.Answer != nil) {
			t.Fatalf("quick answer %v; parser %+v", q.answer, r)
		}
	})
}

// The answer is written from the split template exactly as the encoder
// writes it.
func TestAnswerTemplate(t *testing.T) {
	p := newPeer(&wsConn{}, testID(1), Config{Offers: 2, SDPBytes: 500})
	if p.ansHead == nil {
		t.Fatal("no template")
	}
	to, oid := testID(7), testID(9)
	want := p.ans
	want.ToPeerID, want.OfferID = to, oid
	w := wire.AppendRequest(nil, &want)
	off := wire.AppendOffer(nil, p.ih, to, oid, []byte(`{}`))
	var q relay
	if !scanRelay(off, &q) {
		t.Fatal("offer not recognized")
	}
	got := bytes.Join([][]byte{p.ansHead, q.peerID, p.ansMid, q.offerID, p.ansTail}, nil)
	if !bytes.Equal(got, w) {
		t.Errorf("answer\n%.300s\nwant\n%.300s", got, w)
	}
}

// unframe returns the payload of the one masked frame in b, unmasked.
func unframe(t *testing.T, b []byte) []byte {
	t.Helper()
	if len(b) < 6 || b[0] != 0x80|opText || b[1]&0x80 == 0 {
		t.Fatalf("frame header % x", b[:min(len(b), 14)])
	}
	h, n := 2, int(b[1]&0x7f)
	switch n {
	case 126:
		h, n = 4, int(binary.BigEndian.Uint16(b[2:]))
	case 127:
		h, n = 10, int(binary.BigEndian.Uint64(b[2:]))
	}
	key := binary.LittleEndian.Uint32(b[h:])
	p := append([]byte(nil), b[h+4:]...)
	if len(p) != n {
		t.Fatalf("payload of %d bytes, header says %d", len(p), n)
	}
	mask(p, key)
	return p
}

// Announces after the first are written from the split template, exactly
// as the encoder writes them.
func TestAnnounceTemplate(t *testing.T) {
	for _, offers := range []int{1, 10, wire.MaxOffers} {
		p := newPeer(&wsConn{}, testID(1), Config{Offers: offers, SDPBytes: 1300})
		if p.annSegs == nil {
			t.Fatal("no template")
		}
		for i := range 4 {
			p.c.out = p.c.out[:0]
			ev := p.req.Event
			p.announce()
			want := p.req
			want.Event = ev
			if got, w := unframe(t, p.c.out), wire.AppendRequest(nil, &want); !bytes.Equal(got, w) {
				t.Fatalf("%d offers, announce %d:\n%.400s\nwant\n%.400s", offers, i, got, w)
			}
		}
	}
}

func frame(fin bool, op byte, p []byte) []byte {
	b := []byte{op}
	if fin {
		b[0] |= 0x80
	}
	switch n := len(p); {
	case n < 126:
		b = append(b, byte(n))
	case n <= 0xffff:
		b = append(b, 126, byte(n>>8), byte(n))
	default:
		b = append(b, 127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return append(b, p...)
}

func TestFrames(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 70000)
	stream := bytes.Join([][]byte{
		frame(true, opText, []byte("one")),
		frame(false, opText, []byte("tw")),
		frame(true, opPing, []byte("hi")),
		frame(true, opCont, []byte("o")),
		frame(true, opText, bytes.Repeat([]byte("m"), 300)),
		frame(true, opPong, nil),
		frame(true, opBinary, []byte{1}),
	}, nil)
	c := &wsConn{rbuf: stream, w: len(stream)}
	var got []string
	for {
		op, p, ok, err := c.next()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		got = append(got, string(rune('0'+op))+":"+string(p[:min(len(p), 3)]))
	}
	if strings.Join(got, " ") != "1:one 1:two 1:mmm 2:\x01" {
		t.Errorf("messages %q", got)
	}
	// The ping's pong is queued, masked.
	if len(c.out) != 2+4+2 || c.out[0] != 0x80|opPong || c.out[1] != 0x80|2 {
		t.Fatalf("pong frame % x", c.out)
	}
	pl := append([]byte(nil), c.out[6:]...)
	mask(pl, binary.LittleEndian.Uint32(c.out[2:]))
	if string(pl) != "hi" {
		t.Errorf("pong payload %q", pl)
	}

	// An incomplete frame asks for what it needs.
	half := frame(true, opText, bytes.Repeat([]byte("y"), 1000))[:500]
	c = &wsConn{rbuf: half, w: len(half)}
	if _, _, ok, err := c.next(); ok || err != nil || c.need != 1004 {
		t.Errorf("incomplete frame: ok %v err %v need %d", ok, err, c.need)
	}

	for name, b := range map[string][]byte{
		"masked":       {0x81, 0x81, 1, 2, 3, 4, 'x'},
		"reserved":     {0xc1, 0},
		"too large":    frame(true, opText, big)[:20],
		"long control": frame(true, opPing, bytes.Repeat([]byte("p"), 126)),
		"bare cont":    frame(true, opCont, []byte("x")),
		"opcode":       frame(true, 3, nil),
	} {
		c := &wsConn{rbuf: b, w: len(b)}
		if _, _, _, err := c.next(); !errors.Is(err, errProtocol) {
			t.Errorf("%s: %v", name, err)
		}
	}
	b := frame(true, opClose, []byte{0x03, 0xe9, 'b', 'y', 'e'})
	c = &wsConn{rbuf: b, w: len(b)}
	var ce *closedError
	if _, _, _, err := c.next(); !errors.As(err, &ce) || ce.code != 1001 || ce.reason != "bye" {
		t.Errorf("close: %v", err)
	}
}

func TestAppendMasked(t *testing.T) {
	src := make([]byte, 45)
	for i := range src {
		src[i] = byte(i * 13)
	}
	const key = 0x01a2b3c4
	for off := range 9 {
		for n := range len(src) - off {
			whole := append([]byte(nil), src...)
			mask(whole, key)
			got := appendMasked([]byte("pre"), src[off:off+n], key, off)
			if string(got[:3]) != "pre" || !bytes.Equal(got[3:], whole[off:off+n]) {
				t.Fatalf("off %d n %d", off, n)
			}
		}
	}
}

func TestMask(t *testing.T) {
	for n := range 40 {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i * 7)
		}
		m := append([]byte(nil), b...)
		const key = 0xa1b2c3d4
		mask(m, key)
		var k [4]byte
		binary.LittleEndian.PutUint32(k[:], key)
		for i := range b {
			if m[i] != b[i]^k[i%4] {
				t.Fatalf("n %d: byte %d", n, i)
			}
		}
	}
}

func TestPercentile(t *testing.T) {
	s := []int64{1e6, 2e6, 3e6, 4e6, 5e6, 6e6, 7e6, 8e6, 9e6, 10e6}
	for p, want := range map[int]float64{50: 5, 90: 9, 99: 10, 100: 10, 1: 1} {
		if got := percentileMs(s, p); got != want {
			t.Errorf("p%d = %v, want %v", p, got, want)
		}
	}
	if percentileMs(nil, 50) != 0 {
		t.Error("no samples")
	}
}
