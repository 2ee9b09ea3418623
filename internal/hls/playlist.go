// Package hls parses HLS media playlists (RFC 8216) as far as fusioncast
// needs them: the segments of a live or VOD media playlist, their durations,
// discontinuities, program date-times, and the fusioncast segment tag that
// carries each segment's size and SHA-256 digest (docs/hls.md).
//
// It opens no files and no sockets: bytes in, values out.
package hls

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Errors returned by [ParseMedia].
var (
	// ErrNotPlaylist means the input does not start with #EXTM3U.
	ErrNotPlaylist = errors.New("hls: not a playlist (no #EXTM3U)")
	// ErrMasterPlaylist means the input is a master (multivariant) playlist.
	ErrMasterPlaylist = errors.New("hls: master playlist, want a media playlist")
	// ErrSyntax is wrapped by every error about a malformed line.
	ErrSyntax = errors.New("hls: syntax error")
	// ErrTooLarge means the playlist exceeds the parser's limits.
	ErrTooLarge = errors.New("hls: playlist too large")
)

// Limits of [ParseMedia]. A live playlist is a few kilobytes; these bounds
// keep a hostile or broken upstream from costing unbounded memory.
const (
	MaxPlaylistBytes = 4 << 20
	MaxSegments      = 100000
	maxURILen        = 4096
)

// TagSegment is fusioncast's per-segment tag (see docs/hls.md):
//
//	#EXT-X-FUSIONCAST-SEGMENT:SIZE=<decimal>,SHA256="<64 hex digits>"
const TagSegment = "#EXT-X-FUSIONCAST-SEGMENT"

// Segment is one media segment of a [MediaPlaylist].
type Segment struct {
	// Seq is the segment's media sequence number.
	Seq uint64
	// URI as written in the playlist (relative or absolute).
	URI string
	// Duration from EXTINF.
	Duration time.Duration
	// Discontinuity is true when EXT-X-DISCONTINUITY precedes the segment.
	Discontinuity bool
	// ProgramTime from EXT-X-PROGRAM-DATE-TIME, or zero.
	ProgramTime time.Time
	// Size and SHA256 from the fusioncast tag; HasDigest tells whether the
	// tag was present.
	Size      int64
	SHA256    [32]byte
	HasDigest bool
}

// MediaPlaylist is a parsed media playlist.
type MediaPlaylist struct {
	TargetDuration        time.Duration
	MediaSequence         uint64
	DiscontinuitySequence uint64
	// EndList is true for a finished (VOD or ended live) playlist.
	EndList  bool
	Segments []Segment
}

// ParseMedia parses a media playlist. Unknown tags are ignored, as RFC 8216
// requires; malformed known tags are errors.
func ParseMedia(b []byte) (*MediaPlaylist, error) {
	if len(b) > MaxPlaylistBytes {
		return nil, fmt.Errorf("%w: %d bytes > %d", ErrTooLarge, len(b), MaxPlaylistBytes)
	}
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	p := &MediaPlaylist{}
	var (
		cur     Segment
		haveInf bool
		lineNo  int
		started bool
	)
	for len(b) > 0 {
		var line []byte
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			line, b = b, nil
		}
		lineNo++
		line = bytes.TrimRight(line, "\r \t")
		if len(line) == 0 {
			continue
		}
		if !started {
			if string(line) != "#EXTM3U" {
				return nil, ErrNotPlaylist
			}
			started = true
			continue
		}
		s := string(line)
		if s[0] != '#' {
			if !haveInf {
				return nil, fmt.Errorf("%w: line %d: URI without #EXTINF", ErrSyntax, lineNo)
			}
			if len(s) > maxURILen {
				return nil, fmt.Errorf("%w: line %d: URI of %d bytes", ErrSyntax, lineNo, len(s))
			}
			if strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
				return nil, fmt.Errorf("%w: line %d: control character in URI", ErrSyntax, lineNo)
			}
			if len(p.Segments) >= MaxSegments {
				return nil, fmt.Errorf("%w: more than %d segments", ErrTooLarge, MaxSegments)
			}
			cur.URI = s
			cur.Seq = p.MediaSequence + uint64(len(p.Segments))
			p.Segments = append(p.Segments, cur)
			cur, haveInf = Segment{}, false
			continue
		}
		if !strings.HasPrefix(s, "#EXT") {
			continue // comment
		}
		tag, val, _ := strings.Cut(s, ":")
		var err error
		switch tag {
		case "#EXT-X-STREAM-INF", "#EXT-X-I-FRAME-STREAM-INF":
			return nil, ErrMasterPlaylist
		case "#EXT-X-TARGETDURATION":
			var n uint64
			n, err = strconv.ParseUint(val, 10, 32)
			p.TargetDuration = time.Duration(n) * time.Second
		case "#EXT-X-MEDIA-SEQUENCE":
			if len(p.Segments) > 0 {
				return nil, fmt.Errorf("%w: line %d: EXT-X-MEDIA-SEQUENCE after a segment", ErrSyntax, lineNo)
			}
			p.MediaSequence, err = strconv.ParseUint(val, 10, 64)
		case "#EXT-X-DISCONTINUITY-SEQUENCE":
			p.DiscontinuitySequence, err = strconv.ParseUint(val, 10, 64)
		case "#EXT-X-ENDLIST":
			p.EndList = true
		case "#EXT-X-DISCONTINUITY":
			cur.Discontinuity = true
		case "#EXT-X-PROGRAM-DATE-TIME":
			cur.ProgramTime, err = time.Parse(time.RFC3339Nano, val)
			if err != nil {
				// Some encoders write +0000 rather than +00:00.
				cur.ProgramTime, err = time.Parse("2006-01-02T15:04:05.999999999Z0700", val)
			}
		case "#EXTINF":
			d, _, _ := strings.Cut(val, ",")
			var f float64
			f, err = strconv.ParseFloat(strings.TrimSpace(d), 64)
			if err == nil && (f < 0 || f > 3600 || math.IsNaN(f)) {
				err = fmt.Errorf("duration %v out of range", f)
			}
			cur.Duration = time.Duration(f * float64(time.Second))
			haveInf = true
		case TagSegment:
			cur.Size, cur.SHA256, err = parseSegmentTag(val)
			cur.HasDigest = err == nil
		}
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: %s: %v", ErrSyntax, lineNo, tag, err)
		}
	}
	if !started {
		return nil, ErrNotPlaylist
	}
	return p, nil
}

// parseSegmentTag parses the attribute list of [TagSegment].
func parseSegmentTag(val string) (size int64, sum [32]byte, err error) {
	attrs, err := ParseAttributes(val)
	if err != nil {
		return 0, sum, err
	}
	sz, ok := attrs["SIZE"]
	if !ok {
		return 0, sum, errors.New("missing SIZE")
	}
	size, err = strconv.ParseInt(sz, 10, 64)
	if err != nil || size < 0 {
		return 0, sum, fmt.Errorf("bad SIZE %q", sz)
	}
	h, ok := attrs["SHA256"]
	if !ok {
		return 0, sum, errors.New("missing SHA256")
	}
	if len(h) != 64 {
		return 0, sum, fmt.Errorf("SHA256 has %d hex digits, want 64", len(h))
	}
	if _, err := hex.Decode(sum[:], []byte(h)); err != nil {
		return 0, sum, fmt.Errorf("bad SHA256: %v", err)
	}
	return size, sum, nil
}

// ParseAttributes parses an HLS attribute list (RFC 8216 section 4.2):
// NAME=value pairs separated by commas, where a value is either a
// quoted-string (returned without its quotes) or runs to the next comma.
func ParseAttributes(s string) (map[string]string, error) {
	m := make(map[string]string)
	for {
		name, rest, ok := strings.Cut(s, "=")
		if !ok || name == "" || strings.ContainsAny(name, ",\" ") {
			return nil, fmt.Errorf("bad attribute in %q", s)
		}
		var v string
		if strings.HasPrefix(rest, `"`) {
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				return nil, fmt.Errorf("unterminated quoted string for %s", name)
			}
			v, rest = rest[1:1+end], rest[2+end:]
			if rest != "" && rest[0] != ',' {
				return nil, fmt.Errorf("junk after quoted string for %s", name)
			}
			rest = strings.TrimPrefix(rest, ",")
			ok = rest != "" || strings.HasSuffix(s, ",")
		} else {
			v, rest, ok = strings.Cut(rest, ",")
		}
		if _, dup := m[name]; dup {
			return nil, fmt.Errorf("duplicate attribute %s", name)
		}
		m[name] = v
		if !ok {
			return m, nil // no separator: that was the last attribute
		}
		s = rest
	}
}
