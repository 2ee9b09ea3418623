package origin

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Errors returned by [Stream].
var (
	// ErrOutOfOrder is returned by [Stream.Publish] when a segment's media
	// sequence number does not follow the last one published (HLS numbers
	// the segments of a playlist consecutively).
	ErrOutOfOrder = errors.New("origin: segment out of order")
	// ErrEmptySegment is returned by [Stream.Publish] for a segment without data.
	ErrEmptySegment = errors.New("origin: empty segment")
	// ErrBadDuration is returned by [Stream.Publish] for a segment whose
	// duration is not positive or longer than [MaxSegmentDuration].
	ErrBadDuration = errors.New("origin: bad segment duration")
	// ErrTooLarge is returned by [Stream.Publish] for a segment larger than
	// the stream's MaxSegmentBytes.
	ErrTooLarge = errors.New("origin: segment too large")
	// ErrBadStreamName is returned by [NewStream] for a name that cannot
	// appear in a URL path segment as is.
	ErrBadStreamName = errors.New("origin: bad stream name")
)

// MaxSegmentDuration is the longest segment a [Stream] accepts.
const MaxSegmentDuration = 60 * time.Second

// Segment is one published media segment. Its Data is never modified after
// publication, so a Segment may be shared freely between goroutines.
type Segment struct {
	// Seq is the media sequence number: consecutive within a stream.
	Seq uint64
	// Discontinuity marks a break in timestamps or encoding before this
	// segment (a loop of the demo, an encoder restart).
	Discontinuity bool
	// Duration is the segment's play time.
	Duration time.Duration
	// ProgramTime is the wall-clock time of the segment's first frame.
	ProgramTime time.Time
	// Data is the segment's bytes (MPEG-TS).
	Data []byte
	// SHA256 is the digest of Data.
	SHA256 [sha256.Size]byte
	// Published is when the origin made the segment available.
	Published time.Time

	mem  *memFile // Data in a memory file for sendfile, or nil
	etag []string // the ETag header value, made once
}

// Hex returns the segment's SHA-256 as lower-case hexadecimal.
func (s *Segment) Hex() string { return hex.EncodeToString(s.SHA256[:]) }

// Name is the segment's immutable file name: its sequence number and the
// first 16 hex digits of its digest. The same name always means the same
// bytes, across origin restarts and between origins, so any cache may keep it
// forever.
func (s *Segment) Name() string { return fmt.Sprintf("%d-%s.ts", s.Seq, s.Hex()[:16]) }

// StreamConfig configures a [Stream]. The zero value of each field means
// the stated default.
type StreamConfig struct {
	// Window is how many segments the live playlist lists. If zero, 6.
	Window int
	// Retain is how many segments stay fetchable in all (the playlist window
	// plus older ones for players that are behind). If zero, 3 × Window.
	// Never less than Window.
	Retain int
	// MaxSegmentBytes bounds one segment's size. If zero, 16 MiB.
	MaxSegmentBytes int
	// CopyResponses turns off sendfile(2). By default (on Linux) each
	// retained segment is also kept in an anonymous memory file and full
	// responses leave with sendfile, without being copied through user
	// space; with CopyResponses they are copied from memory.
	CopyResponses bool
}

func (c StreamConfig) withDefaults() StreamConfig {
	if c.Window <= 0 {
		c.Window = 6
	}
	if c.Retain <= 0 {
		c.Retain = 3 * c.Window
	}
	if c.Retain < c.Window {
		c.Retain = c.Window
	}
	if c.MaxSegmentBytes <= 0 {
		c.MaxSegmentBytes = 16 << 20
	}
	return c
}

// Stream is a live stream: a bounded, sliding window of segments and the
// media playlist that lists the newest of them. Sources publish segments
// into it; the HTTP handler and (later) the multicast sender read from it.
// All methods are safe for concurrent use.
type Stream struct {
	name string
	cfg  StreamConfig

	mu        sync.RWMutex
	segs      []*Segment // oldest first, at most cfg.Retain
	discSeq   uint64     // discontinuity tags before segs[0]
	playlist  []byte     // rendered media playlist
	plETag    string
	updated   time.Time
	target    time.Duration  // EXT-X-TARGETDURATION, never decreases
	changed   chan struct{}  // closed and replaced on each publish
	published uint64         // segments published in all
	onPublish func(*Segment) // set before sources start; called unlocked
}

// NewStream returns an empty stream. Its name must be a non-empty path
// segment of letters, digits, '-', '_' or '.'.
func NewStream(name string, cfg StreamConfig) (*Stream, error) {
	if !validName(name) {
		return nil, fmt.Errorf("%w: %q", ErrBadStreamName, name)
	}
	return &Stream{name: name, cfg: cfg.withDefaults(), changed: make(chan struct{})}, nil
}

func validName(s string) bool {
	if s == "" || len(s) > 64 || s == "." || s == ".." {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
		default:
			return false
		}
	}
	return true
}

// Name returns the stream's name as it appears in URLs.
func (st *Stream) Name() string { return st.name }

// Publish adds a segment at the live edge. It computes the digest and the
// publication time, so callers fill only Seq, Discontinuity, Duration,
// ProgramTime and Data. The stream keeps seg; the caller must not modify
// seg.Data afterwards.
func (st *Stream) Publish(seg *Segment) error {
	if len(seg.Data) == 0 {
		return fmt.Errorf("%w: seq %d", ErrEmptySegment, seg.Seq)
	}
	if len(seg.Data) > st.cfg.MaxSegmentBytes {
		return fmt.Errorf("%w: seq %d has %d bytes > %d", ErrTooLarge, seg.Seq, len(seg.Data), st.cfg.MaxSegmentBytes)
	}
	if seg.Duration <= 0 || seg.Duration > MaxSegmentDuration {
		return fmt.Errorf("%w: seq %d lasts %v", ErrBadDuration, seg.Seq, seg.Duration)
	}
	seg.SHA256 = sha256.Sum256(seg.Data)
	seg.etag = []string{`"` + seg.Hex() + `"`}
	var dropped []*Segment
	defer func() {
		for _, d := range dropped {
			if d.mem != nil {
				d.mem.release()
			}
		}
	}()

	st.mu.Lock()
	defer st.mu.Unlock()
	if n := len(st.segs); n > 0 && seg.Seq != st.segs[n-1].Seq+1 {
		return fmt.Errorf("%w: seq %d after %d", ErrOutOfOrder, seg.Seq, st.segs[n-1].Seq)
	}
	seg.Published = time.Now()
	if !st.cfg.CopyResponses {
		// A copy of ~160 KB every 2 s; nil if it fails, and then the
		// segment is served from memory.
		seg.mem = newMemFile(seg)
	}
	st.segs = append(st.segs, seg)
	if len(st.segs) > st.cfg.Retain {
		drop := len(st.segs) - st.cfg.Retain
		for _, s := range st.segs[:drop] {
			if s.Discontinuity {
				st.discSeq++
			}
		}
		dropped = append(dropped, st.segs[:drop]...)
		clear(st.segs[:drop])
		st.segs = append(st.segs[:0], st.segs[drop:]...)
	}
	// RFC 8216 4.3.3.1: every EXTINF rounded to the nearest integer is at
	// most the target duration, which must never change downwards.
	if td := max(seg.Duration.Round(time.Second), time.Second); td > st.target {
		st.target = td
	}
	st.published++
	st.updated = seg.Published
	st.playlist = st.render()
	sum := sha256.Sum256(st.playlist)
	st.plETag = `"` + hex.EncodeToString(sum[:8]) + `"`
	close(st.changed)
	st.changed = make(chan struct{})
	if st.onPublish != nil {
		defer st.onPublish(seg) // after the deferred Unlock
	}
	return nil
}

// SetDiscontinuitySequence sets the EXT-X-DISCONTINUITY-SEQUENCE of the
// oldest retained segment. Sources whose numbering is derived from the
// clock (the demo) use it so that every origin renders the same playlist.
// It only takes effect before the first Publish.
func (st *Stream) SetDiscontinuitySequence(n uint64) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.segs) == 0 {
		st.discSeq = n
	}
}

// Playlist returns the current media playlist, its entity tag and when it
// last changed. It returns nil before the first segment.
func (st *Stream) Playlist() (body []byte, etag string, updated time.Time) {
	st.mu.RLock()
	defer st.mu.RUnlock()
	return st.playlist, st.plETag, st.updated
}

// TargetDuration returns the playlist's EXT-X-TARGETDURATION (zero before
// the first segment).
func (st *Stream) TargetDuration() time.Duration {
	st.mu.RLock()
	defer st.mu.RUnlock()
	return st.target
}

// Config returns the stream's configuration with defaults filled in.
func (st *Stream) Config() StreamConfig { return st.cfg }

// Segment returns the retained segment with the given media sequence number.
func (st *Stream) Segment(seq uint64) (*Segment, bool) {
	st.mu.RLock()
	defer st.mu.RUnlock()
	n := len(st.segs)
	if n == 0 || seq < st.segs[0].Seq || seq > st.segs[n-1].Seq {
		return nil, false
	}
	return st.segs[seq-st.segs[0].Seq], true
}

// Last returns the newest segment, if any.
func (st *Stream) Last() (*Segment, bool) {
	st.mu.RLock()
	defer st.mu.RUnlock()
	if len(st.segs) == 0 {
		return nil, false
	}
	return st.segs[len(st.segs)-1], true
}

// Changed returns a channel that is closed at the next Publish.
func (st *Stream) Changed() <-chan struct{} {
	st.mu.RLock()
	defer st.mu.RUnlock()
	return st.changed
}

// Stats is a snapshot of a stream's state.
type Stats struct {
	Name      string `json:"name"`
	Published uint64 `json:"published"`
	Retained  int    `json:"retained"`
	LastSeq   uint64 `json:"last_seq"`
}

// Stats returns a snapshot of the stream's counters.
func (st *Stream) Stats() Stats {
	st.mu.RLock()
	defer st.mu.RUnlock()
	s := Stats{Name: st.name, Published: st.published, Retained: len(st.segs)}
	if n := len(st.segs); n > 0 {
		s.LastSeq = st.segs[n-1].Seq
	}
	return s
}
