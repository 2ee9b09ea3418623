package peer

import (
	"net/url"
	"strings"
	"testing"

	"fusioncast/internal/hls"
)

// Only segments with a digest go into the window, with their URLs
// resolved against the playlist's.
func TestWindowOf(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	pl, err := hls.ParseMedia([]byte("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:7\n" +
		"#EXTINF:2.000,\n7-plain.ts\n" +
		"#EXT-X-FUSIONCAST-SEGMENT:SIZE=1000,SHA256=\"" + sum + "\"\n#EXTINF:2.000,\n8-abababababababab.ts\n"))
	if err != nil {
		t.Fatal(err)
	}
	base, _ := url.Parse("http://relay.example:8090/live/demo/index.m3u8")
	w := WindowOf(base, pl)
	if len(w) != 1 || w[0].Seq != 8 || w[0].Size != 1000 || w[0].SHA256[0] != 0xab ||
		w[0].URL != "http://relay.example:8090/live/demo/8-abababababababab.ts" || w[0].Duration.Seconds() != 2 {
		t.Fatalf("window %+v", w)
	}
}
