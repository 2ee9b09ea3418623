package hls

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

const hash = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

var cases = []struct {
	name string
	in   string
	err  error // nil: parses
	segs int
	seq  uint64 // media sequence
	disc uint64
	end  bool
}{
	{name: "ffmpeg-live", in: "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:7\n#EXTINF:2.000000,\nseg007.ts\n#EXTINF:2.000000,\nseg008.ts\n", segs: 2, seq: 7},
	{name: "fusioncast", in: "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:30\n#EXT-X-DISCONTINUITY-SEQUENCE:2\n#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME:2026-11-25T19:00:00.000Z\n#EXT-X-FUSIONCAST-SEGMENT:SIZE=188,SHA256=\"" + hash + "\"\n#EXTINF:2.000,\n30-0011223344556677.ts\n", segs: 1, seq: 30, disc: 2},
	{name: "vod-crlf", in: "#EXTM3U\r\n#EXT-X-TARGETDURATION:10\r\n#EXTINF:9.5,title\r\na.ts\r\n#EXT-X-ENDLIST\r\n", segs: 1, end: true},
	{name: "unknown-tags-and-comments", in: "#EXTM3U\n# a comment\n#EXT-X-FOO:BAR\n#EXTINF:1,\nx.ts\n", segs: 1},
	{name: "bom", in: "\xef\xbb\xbf#EXTM3U\n#EXTINF:1,\nx.ts\n", segs: 1},
	{name: "empty", in: "", err: ErrNotPlaylist},
	{name: "not-m3u", in: "hello\n", err: ErrNotPlaylist},
	{name: "master", in: "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv.m3u8\n", err: ErrMasterPlaylist},
	{name: "uri-without-inf", in: "#EXTM3U\nx.ts\n", err: ErrSyntax},
	{name: "bad-inf", in: "#EXTM3U\n#EXTINF:abc,\nx.ts\n", err: ErrSyntax},
	{name: "negative-inf", in: "#EXTM3U\n#EXTINF:-1,\nx.ts\n", err: ErrSyntax},
	{name: "bad-seq", in: "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:-4\n", err: ErrSyntax},
	{name: "seq-after-segment", in: "#EXTM3U\n#EXTINF:1,\nx.ts\n#EXT-X-MEDIA-SEQUENCE:4\n", err: ErrSyntax},
	{name: "short-hash", in: "#EXTM3U\n#EXT-X-FUSIONCAST-SEGMENT:SIZE=1,SHA256=\"00\"\n#EXTINF:1,\nx.ts\n", err: ErrSyntax},
	{name: "hash-not-hex", in: "#EXTM3U\n#EXT-X-FUSIONCAST-SEGMENT:SIZE=1,SHA256=\"" + strings.Repeat("g", 64) + "\"\n#EXTINF:1,\nx.ts\n", err: ErrSyntax},
	{name: "missing-size", in: "#EXTM3U\n#EXT-X-FUSIONCAST-SEGMENT:SHA256=\"" + hash + "\"\n#EXTINF:1,\nx.ts\n", err: ErrSyntax},
	{name: "bad-date", in: "#EXTM3U\n#EXT-X-PROGRAM-DATE-TIME:yesterday\n#EXTINF:1,\nx.ts\n", err: ErrSyntax},
}

func TestParseMedia(t *testing.T) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := ParseMedia([]byte(c.in))
			if c.err != nil {
				if !errors.Is(err, c.err) {
					t.Fatalf("err = %v, want %v", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Segments) != c.segs || p.MediaSequence != c.seq || p.DiscontinuitySequence != c.disc || p.EndList != c.end {
				t.Fatalf("got %d segments seq %d disc %d end %v", len(p.Segments), p.MediaSequence, p.DiscontinuitySequence, p.EndList)
			}
			for i, s := range p.Segments {
				if s.Seq != c.seq+uint64(i) {
					t.Errorf("segment %d has seq %d", i, s.Seq)
				}
			}
			roundTrip(t, p)
		})
	}
}

func TestFusioncastTag(t *testing.T) {
	p, err := ParseMedia([]byte(cases[1].in))
	if err != nil {
		t.Fatal(err)
	}
	s := p.Segments[0]
	if !s.HasDigest || s.Size != 188 || s.SHA256[1] != 0x11 || s.SHA256[31] != 0xff {
		t.Fatalf("digest tag: %+v", s)
	}
	if !s.Discontinuity || !s.ProgramTime.Equal(time.Date(2026, 11, 25, 19, 0, 0, 0, time.UTC)) || s.Duration != 2*time.Second {
		t.Fatalf("segment: %+v", s)
	}
}

// roundTrip checks that a parsed playlist re-marshals to bytes that parse to
// the same playlist.
func roundTrip(t testing.TB, p *MediaPlaylist) {
	b := p.Marshal()
	q, err := ParseMedia(b)
	if err != nil {
		t.Fatalf("re-marshalled playlist does not parse: %v\n%s", err, b)
	}
	if !bytes.Equal(q.Marshal(), b) {
		t.Fatalf("marshal is not stable:\n%s\n---\n%s", b, q.Marshal())
	}
	if len(q.Segments) != len(p.Segments) || q.MediaSequence != p.MediaSequence || q.DiscontinuitySequence != p.DiscontinuitySequence || q.EndList != p.EndList {
		t.Fatalf("round trip changed the playlist:\n%s", b)
	}
	for i := range p.Segments {
		a, b := p.Segments[i], q.Segments[i]
		if a.URI != b.URI || a.HasDigest != b.HasDigest || a.SHA256 != b.SHA256 || a.Size != b.Size || a.Discontinuity != b.Discontinuity {
			t.Fatalf("segment %d changed: %+v -> %+v", i, a, b)
		}
	}
}

func TestParseAttributes(t *testing.T) {
	good := map[string]map[string]string{
		`A=1`:                {"A": "1"},
		`A=1,B="x,y",C=0x1F`: {"A": "1", "B": "x,y", "C": "0x1F"},
		`B=""`:               {"B": ""},
	}
	for in, want := range good {
		got, err := ParseAttributes(in)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		if len(got) != len(want) {
			t.Errorf("%q: got %v", in, got)
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%q: %s = %q, want %q", in, k, got[k], v)
			}
		}
	}
	for _, in := range []string{``, `A`, `=1`, `A=1,`, `A="x`, `A="x"y`, `A=1,A=2`, `A="x",`} {
		if got, err := ParseAttributes(in); err == nil {
			t.Errorf("%q: parsed as %v, want an error", in, got)
		}
	}
}

func FuzzParseMedia(f *testing.F) {
	for _, c := range cases {
		f.Add([]byte(c.in))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseMedia(b)
		if err != nil {
			return
		}
		// Durations are written with millisecond precision: only check
		// that what parses re-marshals to a stable, parseable playlist.
		for i := range p.Segments {
			if strings.ContainsAny(p.Segments[i].URI, "\r\n") {
				t.Fatalf("URI with a line break: %q", p.Segments[i].URI)
			}
		}
		b2 := p.Marshal()
		q, err := ParseMedia(b2)
		if err != nil {
			t.Fatalf("re-marshalled playlist does not parse: %v\n%q", err, b2)
		}
		if len(q.Segments) != len(p.Segments) {
			t.Fatalf("segment count changed %d -> %d", len(p.Segments), len(q.Segments))
		}
	})
}
