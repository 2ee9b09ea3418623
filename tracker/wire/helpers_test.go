package wire

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strings"
)

// This file holds the fixtures the table in wire_test.go is built from.

// idOf returns the ID whose bytes are s (20 bytes; a shorter s is padded
// with zeros, which TestFixtures catches).
func idOf(s string) ID {
	var id ID
	copy(id[:], s)
	return id
}

// latin1 returns the 20 characters an ID stands for (as encoding/json
// decodes them).
func latin1(id ID) string {
	r := make([]rune, len(id))
	for i, c := range id {
		r[i] = rune(c)
	}
	return string(r)
}

// jsLatin1 writes id the way JavaScript's JSON.stringify writes a binary
// string (what WebTorrent clients send): short escapes for \b \t \n \f \r,
// \u00XX for other control characters, \" and \\, the rest raw (UTF-8 for
// U+007F..U+00FF).
func jsLatin1(id ID) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, c := range id {
		switch c {
		case '\b':
			b.WriteString(`\b`)
		case '\t':
			b.WriteString(`\t`)
		case '\n':
			b.WriteString(`\n`)
		case '\f':
			b.WriteString(`\f`)
		case '\r':
			b.WriteString(`\r`)
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		default:
			if c < 0x20 {
				fmt.Fprintf(&b, `\u%04x`, c)
			} else {
				b.WriteRune(rune(c))
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// IDs used by testdata/reference/capture.mjs.
var (
	ihDemo  = idOf("fusioncast-demo-0001")
	ihDemo2 = idOf("fusioncast-demo-0002")
	peerA   = idOf("-WW0208-aaaaaaaaaaaa")
	peerB   = idOf("-WW0208-bbbbbbbbbbbb")
	peerC   = idOf("-WW0208-cccccccccccc")
	peerZ   = idOf("-WW0208-zzzzzzzzzzzz")
	offer1  = idOf("offer-id-00000000001")
	offer2  = idOf("offer-id-00000000002")
	// latin1 edge cases: 0x00 " \ DEL 0x80 0xff and the short escapes.
	ihEdge   = ID{0x00, 0x22, 0x5c, 0x7f, 0x80, 0xff, 0x0a, 0x09, 0x41, 0x2f, 0xe9, 0x1f, 0x20, 0x7e, 0x08, 0x0c, 0x0d, 0xc3, 0xa9, 0x3c}
	peerEdge = ID{0x2d, 0x57, 0x57, 0x30, 0x32, 0x30, 0x38, 0x2d, 0xde, 0xad, 0xbe, 0xef, 0x00, 0x01, 0x02, 0x03, 0xf0, 0x9f, 0x98, 0x80}
	offerE   = func() (id ID) {
		for i := range id {
			id[i] = byte((i*13 + 128) % 256)
		}
		return id
	}()
)

// sdpOffer is a Chrome data-channel-only offer after ICE gathering, as
// simple-peer (trickle off) puts it in an announce: 1.3 KB as JSON.
var sdpOffer = strings.Join([]string{
	"v=0",
	"o=- 2587303411585946323 2 IN IP4 127.0.0.1",
	"s=-",
	"t=0 0",
	"a=group:BUNDLE 0",
	"a=extmap-allow-mixed",
	"a=msid-semantic: WMS",
	"m=application 58372 UDP/DTLS/SCTP webrtc-datachannel",
	"c=IN IP4 203.0.113.57",
	"a=candidate:2999745851 1 udp 2122260223 192.168.1.23 58372 typ host generation 0 network-id 1 network-cost 10",
	"a=candidate:1081362346 1 udp 2122194687 10.20.30.4 51820 typ host generation 0 network-id 2 network-cost 50",
	"a=candidate:3952497531 1 udp 1685987071 203.0.113.57 58372 typ srflx raddr 192.168.1.23 rport 58372 generation 0 network-id 1 network-cost 10",
	"a=candidate:4233069003 1 tcp 1518280447 192.168.1.23 9 typ host tcptype active generation 0 network-id 1 network-cost 10",
	"a=candidate:2056342618 1 tcp 1518214911 10.20.30.4 9 typ host tcptype active generation 0 network-id 2 network-cost 50",
	"a=candidate:1530386211 1 udp 41885439 198.51.100.7 3478 typ relay raddr 203.0.113.57 rport 58372 generation 0 network-id 1 network-cost 10",
	"a=ice-ufrag:yH3k",
	"a=ice-pwd:Qe2Xb7vN0rTfL9sWcUj4pZ1m",
	"a=ice-options:trickle",
	"a=fingerprint:sha-256 4F:A2:9C:11:D0:6B:E7:38:5A:C4:93:0E:F1:7D:22:B8:6C:E5:04:9A:3F:71:D8:2C:B6:13:EE:58:A0:47:9D:C1",
	"a=setup:actpass",
	"a=mid:0",
	"a=sctp-port:5000",
	"a=max-message-size:262144",
	""}, "\r\n")

var sdpAnswer = strings.NewReplacer("a=setup:actpass", "a=setup:active", "2587303411585946323", "7716409135046385203").Replace(sdpOffer)

// sdpJSON is the "offer"/"answer" value as JSON.stringify writes it.
func sdpJSON(typ, sdp string) string {
	s, _ := json.Marshal(sdp) // SDP has no <, > or &, so this matches JSON.stringify
	return `{"type":"` + typ + `","sdp":` + string(s) + `}`
}

var (
	offerJSON  = sdpJSON("offer", sdpOffer)
	answerJSON = sdpJSON("answer", sdpAnswer)
)

// capture holds the frames of testdata/reference/capture.jsonl, recorded
// from bittorrent-tracker 11.2.3 by testdata/reference/capture.mjs, keyed by
// "name dir" (e.g. "answer server->B").
var capture, captureErr = loadCapture("testdata/reference/capture.jsonl")

func loadCapture(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m := map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e struct{ Name, Dir, Frame string }
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, err
		}
		m[e.Name+" "+e.Dir] = e.Frame
	}
	return m, sc.Err()
}

var missingRefs []string

// ref returns a captured frame; TestFixtures reports missing ones.
func ref(key string) string {
	f, ok := capture[key]
	if !ok {
		missingRefs = append(missingRefs, key)
	}
	return f
}

// normReq and normResp make values comparable with reflect.DeepEqual:
// empty slices become nil and internal storage is dropped.
func normReq(r Request) Request {
	if len(r.InfoHashes) == 0 {
		r.InfoHashes = nil
	}
	if len(r.Offers) == 0 {
		r.Offers = nil
	}
	r.stats = Stats{}
	return r
}

func normResp(r Response) Response {
	if len(r.Files) == 0 {
		r.Files = nil
	}
	return r
}

func diffReq(got, want *Request) string {
	g, w := normReq(*got), normReq(*want)
	if reflect.DeepEqual(g, w) {
		return ""
	}
	return fmt.Sprintf("got  %s\nwant %s", fmtReq(&g), fmtReq(&w))
}

func diffResp(got, want *Response) string {
	g, w := normResp(*got), normResp(*want)
	if reflect.DeepEqual(g, w) {
		return ""
	}
	return fmt.Sprintf("got  %s\nwant %s", fmtResp(&g), fmtResp(&w))
}

func fmtReq(r *Request) string {
	s := fmt.Sprintf("{%v ih=%v peer=%v ihs=%v ev=%v nw=%d up=%d down=%d left=%d to=%v oid=%v answer=%q ext=%+v",
		r.Action, r.InfoHash, r.PeerID, r.InfoHashes, r.Event, r.NumWant, r.Uploaded, r.Downloaded, r.Left,
		r.ToPeerID, r.OfferID, r.Answer, r.Ext)
	if r.Ext.Stats != nil {
		s += fmt.Sprintf(" stats=%+v", *r.Ext.Stats)
	}
	for _, o := range r.Offers {
		s += fmt.Sprintf(" offer{%v %q}", o.ID, o.SDP)
	}
	return s + "}"
}

func fmtResp(r *Response) string {
	return fmt.Sprintf("{%v ih=%v int=%d c=%d i=%d offer=%q answer=%q oid=%v peer=%v files=%+v fail=%q warn=%q ext=%+v/%v}",
		r.Action, r.InfoHash, r.Interval, r.Complete, r.Incomplete, r.Offer, r.Answer, r.OfferID, r.PeerID,
		r.Files, r.FailureReason, r.WarningMessage, r.Ext, r.HasExt)
}
