package origin

import (
	"fusioncast/internal/hls"
)

// render returns the media playlist of the newest cfg.Window segments, each
// with its fusioncast segment tag (size and SHA-256, see docs/hls.md).
// st.mu must be held.
func (st *Stream) render() []byte {
	first := max(len(st.segs)-st.cfg.Window, 0)
	p := hls.MediaPlaylist{
		TargetDuration:        st.target,
		DiscontinuitySequence: st.discSeq,
		Segments:              make([]hls.Segment, 0, len(st.segs)-first),
	}
	for _, s := range st.segs[:first] {
		if s.Discontinuity {
			p.DiscontinuitySequence++
		}
	}
	for _, s := range st.segs[first:] {
		p.Segments = append(p.Segments, hls.Segment{
			Seq:           s.Seq,
			URI:           s.Name(),
			Duration:      s.Duration,
			Discontinuity: s.Discontinuity,
			ProgramTime:   s.ProgramTime,
			Size:          int64(len(s.Data)),
			SHA256:        s.SHA256,
			HasDigest:     true,
		})
	}
	p.MediaSequence = p.Segments[0].Seq
	return p.Marshal()
}
