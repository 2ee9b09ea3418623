// Package mcastpub sends an origin stream's segments and playlists into a
// multicast group through a [multicast.Publisher]: the glue between
// package origin and package multicast, used by `fusioncast origin
// --multicast` and by tests that need a multicast origin.
package mcastpub

import (
	"context"
	"log/slog"

	"fusioncast/multicast"
	"fusioncast/origin"
)

// Run sends each new segment of st, then the playlist that
// lists it, until ctx ends. Segments published while an earlier one was
// being sent are sent in order (at most the stream's window: older ones
// left it). Send errors are logged: receivers repair what is lost.
func Run(ctx context.Context, st *origin.Stream, pub *multicast.Publisher, logger *slog.Logger) error {
	var (
		sent    bool   // a segment was sent
		lastSeq uint64 // the last segment sent
		etag    string // the last playlist sent
	)
	for {
		changed := st.Changed()
		if last, ok := st.Last(); ok {
			// At the start, the whole window, so that receivers have
			// what the first playlist lists.
			first := last.Seq - min(last.Seq, uint64(st.Config().Window-1))
			if sent {
				first = lastSeq + 1
			}
			for seq := first; seq <= last.Seq; seq++ {
				seg, ok := st.Segment(seq)
				if !ok {
					continue // it left the window meanwhile
				}
				if _, err := pub.Publish(multicast.KindSegment, seg.Name(), seg.Data); err != nil {
					logger.Warn("multicast: segment", "seq", seq, "err", err)
				}
			}
			sent, lastSeq = true, last.Seq
			if body, tag, _ := st.Playlist(); body != nil && tag != etag {
				if _, err := pub.Publish(multicast.KindPlaylist, "index.m3u8", body); err != nil {
					logger.Warn("multicast: playlist", "err", err)
				}
				etag = tag
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
	}
}
