package wire

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

// The string readers of scan.go have fast paths; these tests hold them to
// the plain byte-at-a-time readers below, which define the results: the
// bounds, the escape flag, the error and the offset it is reported at.

// strRef is the reference for (*scanner).str.
func (s *scanner) strRef() (start, end int, esc bool, err error) {
	b := s.b
	if s.peek() != '"' {
		return 0, 0, false, errSyntax
	}
	start = s.i + 1
	i := start
	for {
		if i >= len(b) {
			s.i = i
			return 0, 0, false, errSyntax
		}
		c := b[i]
		switch {
		case c == '"':
			s.i = i + 1
			return start, i, esc, nil
		case c == '\\':
			esc = true
			if i+1 >= len(b) {
				s.i = i
				return 0, 0, false, errSyntax
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if _, ok := hex4(b, i+2); !ok {
					s.i = i
					return 0, 0, false, errSyntax
				}
				i += 6
			default:
				s.i = i
				return 0, 0, false, errSyntax
			}
		case c < 0x20:
			s.i = i
			return 0, 0, false, errSyntax
		case c < 0x80:
			i++
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				s.i = i
				return 0, 0, false, errUTF8
			}
			i += size
		}
	}
}

// idRef is the reference for (*scanner).id.
func (s *scanner) idRef(dst *ID) (ok bool, err error) {
	start, end, _, err := s.strRef()
	if err != nil {
		return false, err
	}
	n := 0
	for r := range jsonRunes(s.b[start:end]) {
		if r > 0xff || n == len(dst) {
			return false, nil
		}
		dst[n] = byte(r)
		n++
	}
	return n == len(dst), nil
}

// checkStr compares str, shortString and id on the value at b[i:] with the
// references.
func checkStr(t *testing.T, b []byte, i int) {
	t.Helper()
	s, r := scanner{b: b, i: i}, scanner{b: b, i: i}
	gs, ge, gesc, gerr := s.str()
	ws, we, wesc, werr := r.strRef()
	if gs != ws || ge != we || gesc != wesc || gerr != werr || s.i != r.i {
		t.Fatalf("str(%q at %d) = %d, %d, %v, %v, offset %d; want %d, %d, %v, %v, offset %d",
			b, i, gs, ge, gesc, gerr, s.i, ws, we, wesc, werr, r.i)
	}

	s, r = scanner{b: b, i: i}, scanner{b: b, i: i}
	gk, gok, gerr := s.shortString()
	r.i = i
	_, _, _, werr = r.strRef()
	var wk []byte // the raw contents, or decoded if they fit in kbuf
	wok := false
	switch {
	case werr != nil:
	case !wesc:
		wk, wok = b[ws:we], true
	default:
		wk = []byte{}
		for rn := range jsonRunes(b[ws:we]) {
			wk = utf8.AppendRune(wk, rn)
		}
		if wok = len(wk) <= len(s.kbuf); !wok {
			wk = nil
		}
	}
	if gerr != werr || gok != wok || !bytes.Equal(gk, wk) || s.i != r.i {
		t.Fatalf("shortString(%q at %d) = %q, %v, %v, offset %d; want %q, %v, %v, offset %d",
			b, i, gk, gok, gerr, s.i, wk, wok, werr, r.i)
	}

	// Compare what id writes into dst too (also when it returns false):
	// start from a non-zero ID to see it.
	s, r = scanner{b: b, i: i}, scanner{b: b, i: i}
	gid, wid := ID{19: 0xaa}, ID{19: 0xaa}
	gok, gerr = s.id(&gid)
	wok, werr = r.idRef(&wid)
	if gok != wok || gerr != werr || s.i != r.i || gid != wid {
		t.Fatalf("id(%q at %d) = %v, %v, %q, offset %d; want %v, %v, %q, offset %d",
			b, i, gok, gerr, gid[:], s.i, wok, werr, wid[:], r.i)
	}
}

// strPieces are the pieces TestStrReference builds strings from: plain
// text, every escape (good and bad), control bytes, UTF-8 (good, bad and
// truncated) and quotes.
var strPieces = []string{
	"a", "v=0", "abcdefg", "0123456789abcdef", `"`, `\`, "\x00", "\x1f", "\x7f", " ",
	`\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t`, `\r\n`, `\u0041`, `\u00e9`, `\u00FF`, `\ud83d\ude00`, `\ud800`,
	`\x`, `\u12`, `\u12g4`, `\U0041`, `\ `,
	"é", "\u00ff", "\u0100", "€", "😀", "\xc3", "\xff", "\xc0\x80", "\xed\xa0\x80", "\xe2\x82",
}

// TestStrReference compares the readers with the references on strings of
// two pieces at every alignment (the fast paths read 8 bytes at a time and
// look at the first 16 bytes apart), cut at every length, and on strings of
// three pieces.
func TestStrReference(t *testing.T) {
	check := func(body string, cuts bool) {
		msg := []byte(`"` + body + `",` + "\"\xc3\xa9\"")
		checkStr(t, msg, 0)
		if cuts {
			for n := range len(body) + 1 {
				checkStr(t, msg[:1+n], 0) // unterminated
			}
		}
	}
	for _, p := range strPieces {
		for _, q := range strPieces {
			for pad := range 18 {
				check(strings.Repeat("x", pad)+p+q, true)
			}
			for _, r := range strPieces {
				check(p+q+r, false)
				check("0123456789abc"+p+q+r, false)
			}
		}
	}
}

// TestStrLong runs the readers over long strings: the SDP fixtures and
// variations of them with one byte replaced at every position.
func TestStrLong(t *testing.T) {
	for _, sdp := range []string{sdpJSON("offer", sdpOffer), sdpJSON("offer", sdpChromeTrickle)} {
		i := strings.Index(sdp, `"sdp":`) + len(`"sdp":`)
		b := []byte(sdp)
		checkStr(t, b, i)
		for _, c := range []byte{'"', '\\', 0x01, 0x80, 0xc3, 'u', 'x'} {
			for j := i + 1; j < len(b); j++ {
				m := bytes.Clone(b)
				m[j] = c
				checkStr(t, m, i)
			}
		}
	}
}

// TestIDReference runs the readers over IDs of 20 characters as clients
// spell them, and over variations with one byte replaced, inserted or
// deleted at every position.
func TestIDReference(t *testing.T) {
	ids := []string{`"-WW0208-aaaaaaaaaaaa"`, `"\u0000\u0022\u005c\u007f\u0080\u00ff\u00FF\/\b\f\n\r\tABCDEFG"`}
	for _, id := range append(ids256[:], ihEdge, peerEdge, offerE) {
		ids = append(ids, jsLatin1(id))
	}
	subst := []byte{0x00, 0x1f, ' ', '"', '\\', '/', '0', 'u', 'x', 0x7f, 0x80, 0xbf, 0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xe9, 0xff}
	for _, id := range ids {
		b := []byte(id + ",")
		checkStr(t, b, 0)
		for j := 1; j < len(b); j++ {
			for _, c := range subst {
				m := bytes.Clone(b)
				m[j] = c
				checkStr(t, m, 0)
				checkStr(t, append(append(b[:j:j], c), b[j:]...), 0)
			}
			checkStr(t, append(b[:j:j], b[j+1:]...), 0)
		}
	}
}

// FuzzScanString compares the readers with the references on any input.
func FuzzScanString(f *testing.F) {
	for _, p := range strPieces {
		f.Add([]byte(`"` + p + `"`))
	}
	f.Add([]byte(sdpJSON("offer", sdpOffer))[len(`{"type":"offer","sdp":`):])
	f.Add([]byte(jsLatin1(ihEdge)))
	f.Add([]byte(jsLatin1(peerEdge)))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkStr(t, b, 0)
	})
}

// stringValue returns msg and the offset of the string value of key in it.
func stringValue(msg, key string) ([]byte, int) {
	return []byte(msg), strings.Index(msg, `"`+key+`":`) + len(key) + 3
}

// BenchmarkScanString measures the string readers alone: str on the SDP of
// BenchmarkParseRequestOffers and on a key, id on IDs spelled three ways.
func BenchmarkScanString(b *testing.B) {
	bench := func(name string, msg []byte, at int, read func(*scanner) error) {
		b.Run(name, func(b *testing.B) {
			s := scanner{b: msg}
			b.SetBytes(int64(len(msg) - at))
			for b.Loop() {
				s.i = at
				if err := read(&s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	str := func(s *scanner) error { _, _, _, err := s.str(); return err }
	var id ID
	idr := func(s *scanner) error { _, err := s.id(&id); return err }
	sdp, at := stringValue(sdpJSON("offer", sdpChromeTrickle), "sdp")
	bench("sdp", sdp, at, str)
	bench("key", []byte(`{"offer_id":"offer-id-00000000001"}`), 1, str)
	bench("id/ascii", []byte(`"-WW0208-aaaaaaaaaaaa"`), 0, idr)
	bench("id/latin1", []byte(jsLatin1(ihEdge)), 0, idr)
	m, at := stringValue(string(announceWithOffers(1)), "offer_id")
	bench("id/random", m, at, idr)
}
