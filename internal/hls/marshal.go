package hls

import (
	"encoding/hex"
	"strconv"
	"time"
)

// Marshal renders the playlist. Durations are written with millisecond
// precision and program date-times in UTC with milliseconds; the result
// parses back to the same playlist (up to that precision).
func (p *MediaPlaylist) Marshal() []byte {
	return p.AppendTo(make([]byte, 0, 256+len(p.Segments)*200))
}

// AppendTo appends the rendered playlist to b.
func (p *MediaPlaylist) AppendTo(b []byte) []byte {
	b = append(b, "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-TARGETDURATION:"...)
	b = strconv.AppendInt(b, int64(p.TargetDuration/time.Second), 10)
	b = append(b, "\n#EXT-X-MEDIA-SEQUENCE:"...)
	b = strconv.AppendUint(b, p.MediaSequence, 10)
	b = append(b, "\n#EXT-X-DISCONTINUITY-SEQUENCE:"...)
	b = strconv.AppendUint(b, p.DiscontinuitySequence, 10)
	b = append(b, '\n')
	for i := range p.Segments {
		s := &p.Segments[i]
		if s.Discontinuity {
			b = append(b, "#EXT-X-DISCONTINUITY\n"...)
		}
		if !s.ProgramTime.IsZero() {
			b = append(b, "#EXT-X-PROGRAM-DATE-TIME:"...)
			b = s.ProgramTime.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z")
			b = append(b, '\n')
		}
		if s.HasDigest {
			b = append(b, TagSegment...)
			b = append(b, ":SIZE="...)
			b = strconv.AppendInt(b, s.Size, 10)
			b = append(b, `,SHA256="`...)
			b = hex.AppendEncode(b, s.SHA256[:])
			b = append(b, '"', '\n')
		}
		b = append(b, "#EXTINF:"...)
		b = strconv.AppendFloat(b, s.Duration.Seconds(), 'f', 3, 64)
		b = append(b, ",\n"...)
		b = append(b, s.URI...)
		b = append(b, '\n')
	}
	if p.EndList {
		b = append(b, "#EXT-X-ENDLIST\n"...)
	}
	return b
}
