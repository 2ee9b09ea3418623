package wire

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// announceWithOffers returns an announce as a WebTorrent client in a
// browser sends it, with n offers of the realistic Chrome SDP and random
// binary IDs written the JSON.stringify way.
func announceWithOffers(n int) []byte { return announceWith(n, offerJSON) }

// announceWith is announceWithOffers with offer as the "offer" value.
func announceWith(n int, offer string) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	randID := func() (id ID) {
		for i := range id {
			id[i] = byte(rng.UintN(256))
		}
		return id
	}
	var b strings.Builder
	fmt.Fprintf(&b, `{"numwant":%d,"uploaded":183500800,"downloaded":367001600,"left":null,"event":"started","action":"announce","info_hash":%s,"peer_id":%s,"offers":[`,
		n, jsLatin1(randID()), jsLatin1(randID()))
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"offer":%s,"offer_id":%s}`, offer, jsLatin1(randID()))
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

func BenchmarkParseAnnounce(b *testing.B) {
	msg := announceWithOffers(10)
	var r Request
	if err := ParseRequest(msg, &r); err != nil || len(r.Offers) != 10 {
		b.Fatalf("ParseRequest: %v, %d offers", err, len(r.Offers))
	}
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		_ = ParseRequest(msg, &r)
	}
}

// sdpChromeTrickle is a second realistic browser offer, as Chrome writes it
// with mDNS-obfuscated host candidates (port 9 and 0.0.0.0 in m=/c=, the
// gathered candidates as a= lines), for BenchmarkParseRequestOffers. About
// 1.3 KB once JSON-encoded; every line break becomes a \r\n escape.
const sdpChromeTrickle = "v=0\r\n" +
	"o=- 6914272316306357491 2 IN IP4 127.0.0.1\r\n" +
	"s=-\r\n" +
	"t=0 0\r\n" +
	"a=group:BUNDLE 0\r\n" +
	"a=extmap-allow-mixed\r\n" +
	"a=msid-semantic: WMS\r\n" +
	"m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n" +
	"c=IN IP4 0.0.0.0\r\n" +
	"a=candidate:3313593925 1 udp 2113937151 9a3c4f1e-2b7d-4e55-8c21-6d0f93ab47e2.local 61874 typ host generation 0 network-cost 999\r\n" +
	"a=candidate:1795438283 1 udp 2113939711 5e8b0c3a-91f4-4d2a-b6e7-0a1c2d3e4f50.local 61875 typ host generation 0 network-cost 999\r\n" +
	"a=candidate:842163049 1 udp 1677729535 198.51.100.23 61874 typ srflx raddr 0.0.0.0 rport 0 generation 0 network-cost 999\r\n" +
	"a=candidate:2371650218 1 tcp 1518280447 9a3c4f1e-2b7d-4e55-8c21-6d0f93ab47e2.local 9 typ host tcptype active generation 0 network-cost 999\r\n" +
	"a=candidate:1530386211 1 udp 41885439 192.0.2.200 3478 typ relay raddr 198.51.100.23 rport 61874 generation 0 network-cost 999\r\n" +
	"a=ice-ufrag:Xk2p\r\n" +
	"a=ice-pwd:n5Tq0vLr8YzWc3JmHf7eBs1D\r\n" +
	"a=ice-options:trickle\r\n" +
	"a=fingerprint:sha-256 1C:7E:A9:30:5B:E2:D4:68:0F:93:C1:4A:B7:26:8D:F0:E5:12:3D:9B:60:AF:47:C8:21:5E:F3:8A:0D:B4:76:19\r\n" +
	"a=setup:actpass\r\n" +
	"a=mid:0\r\n" +
	"a=sctp-port:5000\r\n" +
	"a=max-message-size:262144\r\n"

// BenchmarkParseRequestOffers parses an announce carrying 10 offers of
// sdpChromeTrickle, the message that dominates a tracker's parsing work:
// almost all of its bytes are SDP strings that ParseRequest validates.
func BenchmarkParseRequestOffers(b *testing.B) {
	msg := announceWith(10, sdpJSON("offer", sdpChromeTrickle))
	var r Request
	if err := ParseRequest(msg, &r); err != nil || len(r.Offers) != 10 {
		b.Fatalf("ParseRequest: %v, %d offers", err, len(r.Offers))
	}
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		_ = ParseRequest(msg, &r)
	}
}

// BenchmarkParseAnnounceSmall is an announce without offers (a "stopped"
// or "completed" one), where per-message overhead dominates.
func BenchmarkParseAnnounceSmall(b *testing.B) {
	msg := []byte(ref("completed B->server"))
	var r Request
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		_ = ParseRequest(msg, &r)
	}
}

func BenchmarkParseResponseOffer(b *testing.B) {
	msg := AppendOffer(nil, ihEdge, peerEdge, offerE, []byte(offerJSON))
	var r Response
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		_ = ParseResponse(msg, &r)
	}
}

func BenchmarkAppendOffer(b *testing.B) {
	offer := []byte(offerJSON)
	buf := AppendOffer(nil, ihEdge, peerEdge, offerE, offer)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendOffer(buf[:0], ihEdge, peerEdge, offerE, offer)
	}
}

func BenchmarkAppendAnnounceResponse(b *testing.B) {
	ext := &RespExt{Version: 1, Edge: true, Site: "lab-3"}
	buf := AppendAnnounceResponse(nil, ihEdge, 120, 10, 200, ext)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendAnnounceResponse(buf[:0], ihEdge, 120, 10, 200, ext)
	}
}
