package peer

import (
	"net/url"

	"fusioncast/internal/hls"
)

// WindowOf converts a media playlist's segments for [Engine.SetPlaylist],
// their URLs resolved against base (the playlist's URL). Segments without
// a digest (or with a sequence number past 2³²) cannot be shared and are
// left out, so that the engine never fetches them.
func WindowOf(base *url.URL, pl *hls.MediaPlaylist) []SegmentInfo {
	w := make([]SegmentInfo, 0, len(pl.Segments))
	for _, sg := range pl.Segments {
		if !sg.HasDigest || sg.Seq >= 1<<32 || sg.Size <= 0 || sg.Size >= 1<<32 {
			continue
		}
		ref, err := url.Parse(sg.URI)
		if err != nil {
			continue
		}
		w = append(w, SegmentInfo{Seq: uint32(sg.Seq), Size: uint32(sg.Size), SHA256: sg.SHA256,
			URL: base.ResolveReference(ref).String(), Duration: sg.Duration})
	}
	return w
}
