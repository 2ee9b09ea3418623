package origin

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"fusioncast/internal/hls"
)

func seg(seq uint64, disc bool, data string) *Segment {
	return &Segment{Seq: seq, Discontinuity: disc, Duration: 2 * time.Second, Data: []byte(data)}
}

func TestStreamWindow(t *testing.T) {
	st, err := NewStream("s", StreamConfig{Window: 3, Retain: 5})
	if err != nil {
		t.Fatal(err)
	}
	if b, _, _ := st.Playlist(); b != nil {
		t.Fatal("playlist before the first segment")
	}
	for i := uint64(10); i < 20; i++ {
		if err := st.Publish(seg(i, i%4 == 0, "data"+string(rune('a'+i)))); err != nil {
			t.Fatal(err)
		}
	}
	b, etag, _ := st.Playlist()
	p, err := hls.ParseMedia(b)
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if len(p.Segments) != 3 || p.MediaSequence != 17 {
		t.Fatalf("window: %d segments from %d\n%s", len(p.Segments), p.MediaSequence, b)
	}
	// Discontinuities at 12 and 16 are before the window: 2 tags removed.
	if p.DiscontinuitySequence != 2 {
		t.Fatalf("discontinuity sequence %d, want 2\n%s", p.DiscontinuitySequence, b)
	}
	for _, s := range p.Segments {
		got, ok := st.Segment(s.Seq)
		if !ok || got.Name() != s.URI || got.SHA256 != s.SHA256 || s.Size != int64(len(got.Data)) {
			t.Fatalf("segment %d does not match the playlist: %+v", s.Seq, s)
		}
		if sha256.Sum256(got.Data) != s.SHA256 {
			t.Fatalf("segment %d digest is wrong", s.Seq)
		}
	}
	// Retained but not listed, and gone.
	if _, ok := st.Segment(15); !ok {
		t.Error("segment 15 should still be retained")
	}
	if _, ok := st.Segment(14); ok {
		t.Error("segment 14 should be gone")
	}
	if _, ok := st.Segment(20); ok {
		t.Error("segment 20 does not exist yet")
	}
	if etag == "" {
		t.Error("no etag")
	}
}

func TestStreamRejects(t *testing.T) {
	st, _ := NewStream("s", StreamConfig{MaxSegmentBytes: 10})
	if err := st.Publish(seg(1, false, "")); !errors.Is(err, ErrEmptySegment) {
		t.Errorf("empty: %v", err)
	}
	if err := st.Publish(seg(1, false, "01234567890")); !errors.Is(err, ErrTooLarge) {
		t.Errorf("large: %v", err)
	}
	if err := st.Publish(&Segment{Seq: 1, Data: []byte("x")}); !errors.Is(err, ErrBadDuration) {
		t.Errorf("no duration: %v", err)
	}
	if err := st.Publish(seg(1, false, "x")); err != nil {
		t.Fatal(err)
	}
	for _, s := range []uint64{0, 1, 3} {
		if err := st.Publish(seg(s, false, "y")); !errors.Is(err, ErrOutOfOrder) {
			t.Errorf("seq %d after 1: %v", s, err)
		}
	}
	b, _, _ := st.Playlist()
	if !bytes.Contains(b, []byte("#EXT-X-MEDIA-SEQUENCE:1\n")) || bytes.Count(b, []byte("#EXTINF")) != 1 {
		t.Fatalf("a rejected segment changed the playlist:\n%s", b)
	}
	for _, name := range []string{"", ".", "..", "a/b", "a b", "ü", string(make([]byte, 65))} {
		if _, err := NewStream(name, StreamConfig{}); !errors.Is(err, ErrBadStreamName) {
			t.Errorf("name %q: %v", name, err)
		}
	}
}

func TestTargetDurationNeverDecreases(t *testing.T) {
	st, _ := NewStream("s", StreamConfig{})
	for i, d := range []time.Duration{2 * time.Second, 4600 * time.Millisecond, time.Second} {
		if err := st.Publish(&Segment{Seq: uint64(i), Duration: d, Data: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	if st.TargetDuration() != 5*time.Second {
		t.Fatalf("target %v, want 5s", st.TargetDuration())
	}
}
