package origin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"fusioncast/internal/hls"
)

// Errors returned by [NewDirSource], [NewURLSource] and [Ingest.Run].
var (
	// ErrBadIngestSource is returned by [NewDirSource] and [NewURLSource]
	// for a source that can never work: a playlist URL that is not http or
	// https, a directory that does not exist, a playlist name outside it.
	ErrBadIngestSource = errors.New("origin: bad ingest source")
	// ErrIngestRunning is returned by [Ingest.Run] when the same Ingest is
	// already running.
	ErrIngestRunning = errors.New("origin: ingest already running")
)

// Defaults and limits of [Ingest].
const (
	// DefaultIngestPlaylist is the playlist file name of a [NewDirSource]
	// (ffmpeg's hls muxer is usually told to write <dir>/index.m3u8).
	DefaultIngestPlaylist = "index.m3u8"

	ingestFirstPoll    = 500 * time.Millisecond
	ingestMinPoll      = 100 * time.Millisecond
	ingestMaxPoll      = 2 * time.Second
	ingestHTTPTimeout  = 10 * time.Second
	ingestAttempts     = 3 // tries per segment on transient HTTP errors
	ingestWarnBadPolls = 3 // failed polls in a row before a warning
)

// IngestConfig configures an [Ingest]. The zero value of each field means
// the stated default.
type IngestConfig struct {
	// Playlist is the media playlist's file name, relative to the directory
	// of a [NewDirSource]; URL sources ignore it. If zero, "index.m3u8".
	Playlist string
	// Poll is how often the encoder's playlist is read. If zero, half the
	// target duration of the last playlist read, kept within
	// [100 ms, 2 s], and 500 ms before the first read.
	Poll time.Duration
	// Client fetches the playlist and segments of a [NewURLSource]; dir
	// sources ignore it. If zero (nil), a client with a 10 s timeout.
	Client *http.Client
	// MaxSegmentBytes bounds the size of one upstream segment; a bigger one
	// is skipped with a warning. If zero, or larger than the stream's
	// MaxSegmentBytes, the stream's MaxSegmentBytes (16 MiB by default).
	MaxSegmentBytes int
}

// IngestStats counts what an [Ingest] did since it was created.
type IngestStats struct {
	// Published is how many segments were published into the stream.
	Published uint64 `json:"published"`
	// Skipped is how many listed segments were not published: missing,
	// too large, a bad duration, or rejected by the stream.
	Skipped uint64 `json:"skipped"`
	// Restarts is how many encoder restarts (playlist rewinds) were seen.
	Restarts uint64 `json:"restarts"`
	// LastError describes the most recent problem, or is empty.
	LastError string `json:"last_error,omitempty"`
}

// Ingest is a [Source] that republishes a live HLS media playlist written by
// a real encoder: files in a directory ([NewDirSource], e.g. ffmpeg's hls
// muxer) or a playlist polled over HTTP ([NewURLSource]).
//
// # Polling
//
// Run reads the encoder's playlist every [IngestConfig.Poll]. A segment is
// read only once the playlist lists it, so a segment file still being
// written (present but not yet listed) is never served. A playlist that does
// not parse (an encoder that rewrites it in place, without a temp file and
// rename) is retried at the next poll; in a directory a last line without
// its newline is treated as not yet written. A missing playlist (the
// encoder has not started) is waited for: Run logs "waiting for encoder
// playlist" once and keeps polling.
//
// # Numbering
//
// The origin numbers segments itself: the first segment published gets the
// encoder's media sequence number (or, if the stream already has segments,
// the next number after them), then each further one +1, whatever the
// encoder does. Each encoder segment is published at most once. On start
// only the newest listed segments, at most the stream's window, are
// published, oldest first, so that players get a full playlist at once.
// ProgramTime comes from EXT-X-PROGRAM-DATE-TIME (carried forward over the
// following segments) when present, otherwise from the wall clock: now minus
// the durations of the segment and those listed after it.
//
// # Discontinuities
//
// The next published segment carries a discontinuity when the encoder marks
// one (EXT-X-DISCONTINUITY), when a listed segment is skipped (gone or 404
// by the time it is read, after a few retries of transient HTTP errors; a
// duration of zero or over [MaxSegmentDuration]; larger than
// MaxSegmentBytes), when the encoder's sequence jumps forward past segments
// that were never seen (the ingest fell behind), and after an encoder
// restart. A restart is a playlist whose media sequence or last segment goes
// backwards with segments that are new or rewritten (in a directory, a
// file's size or modification time changed), a known media sequence number
// now naming another segment (however its URI is written, query strings
// aside), or an ended playlist (EXT-X-ENDLIST) that goes backwards and is
// live again. Run then logs "encoder restarted", forgets the encoder's
// numbering and carries on with its own. A playlist that goes backwards
// but lists only segments already handled is taken for a stale copy (a
// cache) and ignored. EXT-X-ENDLIST is logged ("encoder playlist ended")
// and polling goes on, since an encoder may start again.
//
// # Errors
//
// Upstream input never stops Run: bad segments are skipped with a warning
// and counted in [Ingest.Stats]. Run returns ctx.Err() when ctx ends, and
// an error only when the playlist turns out to be a master playlist.
type Ingest struct {
	src    ingestBackend
	cfg    IngestConfig
	logger *slog.Logger

	running atomic.Bool
	polls   atomic.Uint64 // completed polls, for tests

	mu    sync.Mutex
	stats IngestStats
}

var _ Source = (*Ingest)(nil)

// NewDirSource returns an [Ingest] that reads the media playlist
// cfg.Playlist and its segments from dir, where an encoder writes them.
// Segment URIs must be relative paths that stay inside dir. dir must exist;
// the playlist need not exist yet. A nil logger discards logs.
func NewDirSource(dir string, cfg IngestConfig, logger *slog.Logger) (*Ingest, error) {
	if cfg.Playlist == "" {
		cfg.Playlist = DefaultIngestPlaylist
	}
	if !filepath.IsLocal(filepath.FromSlash(cfg.Playlist)) {
		return nil, fmt.Errorf("%w: playlist %q is not a file name inside the directory", ErrBadIngestSource, cfg.Playlist)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadIngestSource, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%w: %s is not a directory", ErrBadIngestSource, dir)
	}
	b := &dirBackend{dir: dir, name: filepath.ToSlash(cfg.Playlist)}
	return newIngest(b, cfg, logger, filepath.Join(dir, cfg.Playlist)), nil
}

// NewURLSource returns an [Ingest] that polls the media playlist at
// playlistURL over HTTP(S) and fetches its segments, resolving their URIs
// against the playlist's URL (after redirects). A nil logger discards logs.
func NewURLSource(playlistURL string, cfg IngestConfig, logger *slog.Logger) (*Ingest, error) {
	u, err := url.Parse(playlistURL)
	if err != nil {
		return nil, fmt.Errorf("%w: playlist URL: %w", ErrBadIngestSource, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%w: playlist URL %q is not http or https", ErrBadIngestSource, playlistURL)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%w: playlist URL %q has no host", ErrBadIngestSource, playlistURL)
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: ingestHTTPTimeout}
	}
	b := &urlBackend{u: u, client: cfg.Client}
	return newIngest(b, cfg, logger, u.Redacted()), nil
}

func newIngest(b ingestBackend, cfg IngestConfig, logger *slog.Logger, upstream string) *Ingest {
	return &Ingest{
		src:    b,
		cfg:    cfg,
		logger: orDiscard(logger).With("source", "ingest", "upstream", upstream),
	}
}

// Stats returns a snapshot of the ingest's counters.
func (in *Ingest) Stats() IngestStats {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.stats
}

func (in *Ingest) count(f func(*IngestStats)) {
	in.mu.Lock()
	defer in.mu.Unlock()
	f(&in.stats)
}

func (in *Ingest) setError(err error) {
	in.count(func(s *IngestStats) { s.LastError = err.Error() })
}

// Run publishes the encoder's segments into st until ctx ends, as the type's
// documentation describes, and then returns ctx.Err(). An Ingest runs once
// at a time; Run may be called again after it returned, and then starts
// afresh (numbering on from st's last segment).
func (in *Ingest) Run(ctx context.Context, st *Stream) error {
	if !in.running.CompareAndSwap(false, true) {
		return ErrIngestRunning
	}
	defer in.running.Store(false)

	r := &ingestRun{in: in, st: st, seen: make(map[uint64]ingestRecord)}
	r.limit = st.Config().MaxSegmentBytes
	if n := in.cfg.MaxSegmentBytes; n > 0 && n < r.limit {
		r.limit = n
	}
	if last, ok := st.Last(); ok {
		r.next, r.haveNext, r.disc = last.Seq+1, true, true
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
		}
		if err := r.poll(ctx); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		in.polls.Add(1)
		timer.Reset(r.interval())
	}
}

// ingestRecord is what Run remembers of one encoder segment it handled.
type ingestRecord struct {
	key string // the backend's key of the URI listed
	id  string // the backend's identity of the object read, or ""
}

// ingestRun is the state of one Run; only Run's goroutine touches it.
type ingestRun struct {
	in    *Ingest
	st    *Stream
	limit int // segment size limit

	// Encoder side.
	seen      map[uint64]ingestRecord // by encoder media sequence number
	last      uint64                  // newest encoder sequence handled
	haveLast  bool
	prevMedia uint64 // EXT-X-MEDIA-SEQUENCE of the last playlist applied
	prevEnd   bool   // it had EXT-X-ENDLIST
	prevBody  []byte // the last playlist read that parsed
	target    time.Duration

	// Our side.
	next     uint64 // Seq of the next segment we publish
	haveNext bool
	disc     bool // the next segment we publish is a discontinuity

	waiting  bool // "waiting for encoder playlist" logged
	badPolls int  // failed polls in a row
}

func (r *ingestRun) interval() time.Duration {
	if r.in.cfg.Poll > 0 {
		return r.in.cfg.Poll
	}
	if r.target <= 0 {
		return ingestFirstPoll
	}
	return min(max(r.target/2, ingestMinPoll), ingestMaxPoll)
}

// poll reads and applies the encoder's playlist once. It returns an error
// only when Run must stop.
func (r *ingestRun) poll(ctx context.Context) error {
	body, base, err := r.in.src.playlist(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, fs.ErrNotExist) {
			r.badPolls = 0
			if !r.waiting {
				r.in.logger.Info("waiting for encoder playlist", "err", err)
				r.waiting = true
			}
			return nil
		}
		r.failedPoll("cannot read encoder playlist", err)
		return nil
	}
	r.waiting = false
	if r.prevBody != nil && bytes.Equal(body, r.prevBody) {
		r.badPolls = 0
		return nil
	}
	p, err := hls.ParseMedia(body)
	if err != nil {
		if errors.Is(err, hls.ErrMasterPlaylist) {
			return fmt.Errorf("origin: ingest: %w", err)
		}
		r.failedPoll("cannot parse encoder playlist", err)
		return nil
	}
	r.badPolls = 0
	r.prevBody = body
	if p.TargetDuration > 0 {
		r.target = p.TargetDuration
	}
	r.apply(ctx, p, base)
	return nil
}

// failedPoll logs a poll that failed: at debug level, and once at warning
// level when it keeps failing.
func (r *ingestRun) failedPoll(msg string, err error) {
	r.badPolls++
	r.in.setError(fmt.Errorf("%s: %w", msg, err))
	level := slog.LevelDebug
	if r.badPolls == ingestWarnBadPolls {
		level = slog.LevelWarn
	}
	r.in.logger.Log(context.Background(), level, msg, "err", err, "failed_polls", r.badPolls)
}

// apply publishes what is new in p.
func (r *ingestRun) apply(ctx context.Context, p *hls.MediaPlaylist, base string) {
	segs := p.Segments
	if len(segs) == 0 {
		return // nothing to compare with or to publish
	}
	if r.haveLast {
		first, tail := segs[0].Seq, segs[len(segs)-1].Seq
		backwards := p.MediaSequence < r.prevMedia || tail < r.last
		restart := false
		for _, s := range segs {
			if rec, ok := r.seen[s.Seq]; ok && rec.key != r.in.src.key(base, s.URI) {
				restart = true
				break
			}
		}
		if !restart && backwards {
			if (r.prevEnd && !p.EndList) || r.rewritten(segs, base) {
				restart = true
			} else {
				r.in.logger.Debug("stale encoder playlist ignored", "media_seq", p.MediaSequence, "last_seq", r.last)
				return
			}
		}
		if restart {
			r.in.logger.Warn("encoder restarted", "old_seq", r.last, "new_seq", first)
			r.in.count(func(s *IngestStats) { s.Restarts++ })
			clear(r.seen)
			r.haveLast = false
			r.disc = true
		} else if r.prevEnd && !p.EndList {
			r.in.logger.Info("encoder playlist resumed", "media_seq", p.MediaSequence)
			r.disc = true
		}
	}

	var todo []hls.Segment
	if !r.haveLast {
		todo = segs[max(0, len(segs)-r.st.Config().Window):]
	} else {
		for i, s := range segs {
			if s.Seq > r.last {
				todo = segs[i:]
				break
			}
		}
		if len(todo) > 0 && todo[0].Seq > r.last+1 {
			r.in.logger.Warn("encoder sequence gap: segments lost",
				"last_seq", r.last, "next_seq", todo[0].Seq, "lost", todo[0].Seq-r.last-1)
			r.disc = true
		}
	}

	times := programTimes(segs, time.Now())
	off := len(segs) - len(todo)
	for i, s := range todo {
		if ctx.Err() != nil {
			return
		}
		r.handle(ctx, s, base, times[off+i])
	}

	if p.EndList && !r.prevEnd {
		r.in.logger.Info("encoder playlist ended", "last_seq", r.last)
	}
	r.prevMedia, r.prevEnd = p.MediaSequence, p.EndList
	// Remember one playlist length (plus a window) of history behind the
	// playlist, enough to recognise a slightly stale copy.
	keep := uint64(len(segs) + r.st.Config().Window)
	floor := p.MediaSequence - min(p.MediaSequence, keep)
	for seq := range r.seen {
		if seq < floor {
			delete(r.seen, seq)
		}
	}
}

// rewritten reports whether every listed segment at or before the newest
// one handled is unknown or was replaced since it was read: a playlist that
// went backwards because the encoder started over, not a stale copy.
func (r *ingestRun) rewritten(segs []hls.Segment, base string) bool {
	old := 0
	for _, s := range segs {
		if s.Seq > r.last {
			continue
		}
		old++
		rec, ok := r.seen[s.Seq]
		if !ok {
			continue
		}
		id := r.in.src.ident(base, s.URI)
		if rec.id == "" || id == "" || id == rec.id {
			return false
		}
	}
	return old > 0
}

// handle publishes one new encoder segment, or skips it.
func (r *ingestRun) handle(ctx context.Context, s hls.Segment, base string, pt time.Time) {
	if s.Discontinuity {
		r.disc = true
	}
	rec := ingestRecord{key: r.in.src.key(base, s.URI)}
	if s.Duration <= 0 || s.Duration > MaxSegmentDuration {
		r.skip(s, "segment skipped", fmt.Errorf("%w: %v", ErrBadDuration, s.Duration))
		r.record(s.Seq, rec)
		return
	}
	data, id, err := r.fetch(ctx, base, s.URI)
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		msg := "segment skipped"
		if errors.Is(err, fs.ErrNotExist) {
			msg = "segment missing"
		}
		r.skip(s, msg, err)
		r.record(s.Seq, rec)
		return
	}
	rec.id = id
	r.record(s.Seq, rec)

	seg := &Segment{Seq: s.Seq, Discontinuity: r.disc, Duration: s.Duration, ProgramTime: pt, Data: data}
	if r.haveNext {
		seg.Seq = r.next
	}
	err = r.st.Publish(seg)
	if errors.Is(err, ErrOutOfOrder) {
		// Someone else published into the stream: number on after it.
		if last, ok := r.st.Last(); ok {
			seg.Seq, seg.Discontinuity = last.Seq+1, true
			err = r.st.Publish(seg)
		}
	}
	if err != nil {
		r.skip(s, "segment rejected", err)
		return
	}
	r.next, r.haveNext, r.disc = seg.Seq+1, true, false
	r.in.count(func(st *IngestStats) { st.Published++ })
	r.in.logger.Debug("segment published", "seq", seg.Seq, "encoder_seq", s.Seq, "uri", s.URI,
		"bytes", len(data), "discontinuity", seg.Discontinuity)
}

func (r *ingestRun) record(seq uint64, rec ingestRecord) {
	r.seen[seq] = rec
	if !r.haveLast || seq > r.last {
		r.last, r.haveLast = seq, true
	}
}

func (r *ingestRun) skip(s hls.Segment, msg string, err error) {
	r.disc = true
	r.in.count(func(st *IngestStats) {
		st.Skipped++
		st.LastError = fmt.Sprintf("%s: %s: %v", msg, s.URI, err)
	})
	r.in.logger.Warn(msg, "uri", s.URI, "encoder_seq", s.Seq, "err", err)
}

// fetch reads a segment, retrying transient errors a few times within one
// poll interval.
func (r *ingestRun) fetch(ctx context.Context, base, uri string) ([]byte, string, error) {
	wait := r.interval() / ingestAttempts
	for attempt := 1; ; attempt++ {
		data, id, err := r.in.src.segment(ctx, base, uri, r.limit)
		if err == nil || !isTransient(err) || attempt == ingestAttempts || ctx.Err() != nil {
			return data, id, err
		}
		r.in.logger.Debug("segment fetch failed, retrying", "uri", uri, "attempt", attempt, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, "", ctx.Err()
		case <-t.C:
		}
	}
}

// programTimes returns the wall-clock start of each segment: its
// EXT-X-PROGRAM-DATE-TIME, or the previous segment's plus its duration
// (within one discontinuity), or else now minus the durations of the
// segment and all that follow it.
func programTimes(segs []hls.Segment, now time.Time) []time.Time {
	out := make([]time.Time, len(segs))
	for i, s := range segs {
		switch {
		case !s.ProgramTime.IsZero():
			out[i] = s.ProgramTime
		case i > 0 && !out[i-1].IsZero() && !s.Discontinuity:
			out[i] = out[i-1].Add(segs[i-1].Duration)
		}
	}
	var rest time.Duration
	for i := len(segs) - 1; i >= 0; i-- {
		rest += segs[i].Duration
		if out[i].IsZero() {
			out[i] = now.Add(-rest)
		}
	}
	return out
}

// uriKey is a URI without its query and fragment, which some servers
// rotate (signed URLs) while the segment stays the same.
func uriKey(uri string) string {
	if i := strings.IndexAny(uri, "?#"); i >= 0 {
		return uri[:i]
	}
	return uri
}

// ingestBackend reads an encoder's playlist and segments. Errors wrap
// fs.ErrNotExist for a missing object and are [transientError]s when a retry
// may succeed.
type ingestBackend interface {
	// playlist returns the playlist's bytes and the base its URIs
	// resolve against.
	playlist(ctx context.Context) (body []byte, base string, err error)
	// segment returns the bytes of the segment at uri, at most limit of
	// them, and an identity of the object read ("" if unknown).
	segment(ctx context.Context, base, uri string, limit int) (data []byte, id string, err error)
	// ident returns the identity of the object at uri now, as segment
	// would, without reading it ("" if unknown).
	ident(base, uri string) string
	// key returns what uri names, however it is written ("a.ts",
	// "./a.ts"), without a query or fragment.
	key(base, uri string) string
}

type transientError struct{ err error }

func (e *transientError) Error() string { return e.err.Error() }
func (e *transientError) Unwrap() error { return e.err }

func isTransient(err error) bool {
	var t *transientError
	return errors.As(err, &t)
}

// dirBackend reads files under a directory, never outside it.
type dirBackend struct {
	dir  string
	name string // playlist, slash-separated, relative to dir
}

func (b *dirBackend) playlist(context.Context) ([]byte, string, error) {
	data, _, err := readInDir(b.dir, b.name, hls.MaxPlaylistBytes, hls.ErrTooLarge)
	if err != nil {
		return nil, "", err
	}
	return trimPartialLine(data), path.Dir(b.name), nil
}

func (b *dirBackend) segment(_ context.Context, base, uri string, limit int) ([]byte, string, error) {
	name, err := dirSegmentName(base, uri)
	if err != nil {
		return nil, "", err
	}
	return readInDir(b.dir, name, limit, ErrTooLarge)
}

func (b *dirBackend) ident(base, uri string) string {
	name, err := dirSegmentName(base, uri)
	if err != nil {
		return ""
	}
	f, err := os.OpenInRoot(b.dir, filepath.FromSlash(name))
	if err != nil {
		return ""
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return ""
	}
	return fileIdent(fi)
}

func (b *dirBackend) key(base, uri string) string {
	if name, err := dirSegmentName(base, uri); err == nil {
		return name
	}
	return uriKey(uri)
}

func dirSegmentName(base, uri string) (string, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return "", fmt.Errorf("origin: ingest: segment URI %q: %w", uri, err)
	}
	if u.Scheme != "" || u.Host != "" || u.Path == "" || path.IsAbs(u.Path) {
		return "", fmt.Errorf("origin: ingest: segment URI %q is not a relative path", uri)
	}
	return path.Join(base, u.Path), nil
}

func fileIdent(fi fs.FileInfo) string {
	return fmt.Sprintf("%d@%d", fi.Size(), fi.ModTime().UnixNano())
}

// readInDir reads dir/name (which must stay inside dir), at most limit
// bytes, else an error wrapping errTooLarge.
func readInDir(dir, name string, limit int, errTooLarge error) ([]byte, string, error) {
	f, err := os.OpenInRoot(dir, filepath.FromSlash(name))
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, "", err
	}
	if !fi.Mode().IsRegular() {
		return nil, "", fmt.Errorf("origin: ingest: %s is not a regular file", name)
	}
	if fi.Size() > int64(limit) {
		return nil, "", fmt.Errorf("%w: %s has %d bytes > %d", errTooLarge, name, fi.Size(), limit)
	}
	data, err := io.ReadAll(io.LimitReader(f, int64(limit)+1))
	if err != nil {
		return nil, "", fmt.Errorf("origin: ingest: read %s: %w", name, err)
	}
	if len(data) > limit {
		return nil, "", fmt.Errorf("%w: %s has more than %d bytes", errTooLarge, name, limit)
	}
	return data, fileIdent(fi), nil
}

// trimPartialLine drops a last URI line that lacks its newline: an encoder
// that rewrites its playlist in place may be in the middle of writing it.
func trimPartialLine(b []byte) []byte {
	if len(b) == 0 || b[len(b)-1] == '\n' {
		return b
	}
	i := bytes.LastIndexByte(b, '\n')
	if line := bytes.TrimSpace(b[i+1:]); len(line) > 0 && line[0] == '#' {
		return b
	}
	return b[:i+1]
}

// urlBackend fetches over HTTP(S).
type urlBackend struct {
	u      *url.URL
	client *http.Client
}

func (b *urlBackend) playlist(ctx context.Context) ([]byte, string, error) {
	data, final, err := b.get(ctx, b.u, hls.MaxPlaylistBytes, hls.ErrTooLarge)
	if err != nil {
		return nil, "", err
	}
	return data, final.String(), nil
}

func (b *urlBackend) segment(ctx context.Context, base, uri string, limit int) ([]byte, string, error) {
	u, err := resolveURL(base, uri)
	if err != nil {
		return nil, "", err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, "", fmt.Errorf("origin: ingest: segment URL %q is not http or https", u.Redacted())
	}
	data, _, err := b.get(ctx, u, limit, ErrTooLarge)
	return data, "", err
}

func (b *urlBackend) ident(string, string) string { return "" }

func (b *urlBackend) key(base, uri string) string {
	u, err := resolveURL(base, uri)
	if err != nil {
		return uriKey(uri)
	}
	u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = "", false, "", ""
	return u.String()
}

func resolveURL(base, uri string) (*url.URL, error) {
	bu, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("origin: ingest: playlist URL: %w", err)
	}
	ref, err := url.Parse(uri)
	if err != nil {
		return nil, fmt.Errorf("origin: ingest: segment URI %q: %w", uri, err)
	}
	return bu.ResolveReference(ref), nil
}

// get fetches u, at most limit bytes, and returns the body and the final
// URL after redirects.
func (b *urlBackend) get(ctx context.Context, u *url.URL, limit int, errTooLarge error) ([]byte, *url.URL, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, nil, fmt.Errorf("origin: ingest: %w", err)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		// Timeouts, refused and reset connections: the upstream may be
		// back in a moment.
		return nil, nil, &transientError{fmt.Errorf("origin: ingest: %w", err)}
	}
	defer resp.Body.Close()
	switch code := resp.StatusCode; {
	case code == http.StatusOK:
	case code == http.StatusNotFound || code == http.StatusGone:
		return nil, nil, fmt.Errorf("origin: ingest: GET %s: %s: %w", u.Redacted(), resp.Status, fs.ErrNotExist)
	case code == http.StatusTooManyRequests || code >= 500:
		return nil, nil, &transientError{fmt.Errorf("origin: ingest: GET %s: %s", u.Redacted(), resp.Status)}
	default:
		return nil, nil, fmt.Errorf("origin: ingest: GET %s: %s", u.Redacted(), resp.Status)
	}
	if resp.ContentLength > int64(limit) {
		return nil, nil, fmt.Errorf("%w: %s has %d bytes > %d", errTooLarge, u.Redacted(), resp.ContentLength, limit)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, int64(limit)+1))
	if err != nil {
		return nil, nil, &transientError{fmt.Errorf("origin: ingest: GET %s: %w", u.Redacted(), err)}
	}
	if len(data) > limit {
		return nil, nil, fmt.Errorf("%w: %s has more than %d bytes", errTooLarge, u.Redacted(), limit)
	}
	return data, resp.Request.URL, nil
}
