package hls

import (
	"fmt"
	"strings"
	"testing"
)

// livePlaylist is a fusioncast playlist of n segments.
func livePlaylist(n int) []byte {
	var b strings.Builder
	b.WriteString("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:1000\n#EXT-X-DISCONTINUITY-SEQUENCE:3\n")
	for i := range n {
		fmt.Fprintf(&b, "#EXT-X-PROGRAM-DATE-TIME:2026-11-25T19:00:%02d.000Z\n", 2*i)
		fmt.Fprintf(&b, "#EXT-X-FUSIONCAST-SEGMENT:SIZE=160000,SHA256=\"%s\"\n#EXTINF:2.000,\n%d-0011223344556677.ts\n", hash, 1000+i)
	}
	return []byte(b.String())
}

func BenchmarkParseMedia(b *testing.B) {
	pl := livePlaylist(6)
	b.SetBytes(int64(len(pl)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseMedia(pl); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshal(b *testing.B) {
	p, err := ParseMedia(livePlaylist(6))
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf = p.AppendTo(buf[:0])
	}
	b.SetBytes(int64(len(buf)))
}
