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
func announceWithOffers(n int) []byte {
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
		fmt.Fprintf(&b, `{"offer":%s,"offer_id":%s}`, offerJSON, jsLatin1(randID()))
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
