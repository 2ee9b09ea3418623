package origin

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"time"

	"fusioncast/internal/hls"
)

// ErrNoClips is returned when a demo has nothing to loop.
var ErrNoClips = errors.New("origin: demo has no clips")

// Clip is one segment of the demo loop.
type Clip struct {
	Name     string
	Duration time.Duration
	Data     []byte
}

// LoadClips reads a VOD media playlist and its segments from fsys, for
// [Demo]. Segment URIs must be relative paths inside fsys.
func LoadClips(fsys fs.FS, playlist string) ([]Clip, error) {
	b, err := fs.ReadFile(fsys, playlist)
	if err != nil {
		return nil, fmt.Errorf("origin: demo playlist: %w", err)
	}
	p, err := hls.ParseMedia(b)
	if err != nil {
		return nil, fmt.Errorf("origin: demo playlist %s: %w", playlist, err)
	}
	if len(p.Segments) == 0 {
		return nil, fmt.Errorf("%w: %s lists no segments", ErrNoClips, playlist)
	}
	clips := make([]Clip, 0, len(p.Segments))
	for _, s := range p.Segments {
		name := path.Join(path.Dir(playlist), s.URI)
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("origin: demo segment: %w", err)
		}
		clips = append(clips, Clip{Name: s.URI, Duration: s.Duration, Data: data})
	}
	return clips, nil
}

// Demo is a [Source] that loops a short clip forever as a live stream.
//
// Its timeline is derived from the wall clock: segment k of the endless
// loop starts at k's offset from the Unix epoch, so every origin running the
// same demo, and every restart of one, numbers and dates the segments the
// same way and renders the same playlist. Segment k becomes available when
// its whole duration has passed, like an encoder's output would. The first
// segment of each pass through the loop carries a discontinuity.
type Demo struct {
	clips  []Clip
	starts []time.Duration // offset of each clip within the loop
	loop   time.Duration
	logger *slog.Logger
	now    func() time.Time
}

var _ Source = (*Demo)(nil)

// NewDemo returns a demo source looping clips. A nil logger discards logs.
func NewDemo(clips []Clip, logger *slog.Logger) (*Demo, error) {
	if len(clips) == 0 {
		return nil, ErrNoClips
	}
	d := &Demo{clips: clips, logger: orDiscard(logger).With("source", "demo"), now: time.Now}
	for i, c := range clips {
		if c.Duration <= 0 || len(c.Data) == 0 {
			return nil, fmt.Errorf("%w: clip %d (%s) has duration %v and %d bytes", ErrNoClips, i, c.Name, c.Duration, len(c.Data))
		}
		d.starts = append(d.starts, d.loop)
		d.loop += c.Duration
	}
	return d, nil
}

// bounds returns the start and end of segment k since the epoch.
func (d *Demo) bounds(k uint64) (start, end time.Duration) {
	n := uint64(len(d.clips))
	loop, i := k/n, k%n
	start = time.Duration(loop)*d.loop + d.starts[i]
	return start, start + d.clips[i].Duration
}

// lastComplete returns the newest segment whose end is not after t.
func (d *Demo) lastComplete(t time.Duration) uint64 {
	n := uint64(len(d.clips))
	loops := uint64(t / d.loop)
	k := loops * n
	for i := range d.clips {
		if _, end := d.bounds(loops*n + uint64(i)); end <= t {
			k = loops*n + uint64(i)
		}
	}
	if _, end := d.bounds(k); end > t && k > 0 {
		k-- // t is inside the first clip of this pass
	}
	return k
}

func (d *Demo) segment(k uint64) *Segment {
	n := uint64(len(d.clips))
	c := d.clips[k%n]
	start, _ := d.bounds(k)
	return &Segment{
		Seq:           k,
		Discontinuity: k%n == 0,
		Duration:      c.Duration,
		ProgramTime:   time.Unix(0, 0).Add(start),
		Data:          c.Data,
	}
}

// Run publishes into st until ctx ends: first the stream's window of
// already complete segments, so that players have a full playlist at once,
// then each new segment as its time comes.
func (d *Demo) Run(ctx context.Context, st *Stream) error {
	now := d.now().Sub(time.Unix(0, 0))
	last := d.lastComplete(now)
	back := uint64(st.cfg.Window - 1)
	first := last - min(last, back)
	n := uint64(len(d.clips))
	st.SetDiscontinuitySequence((first + n - 1) / n)
	for k := first; k <= last; k++ {
		if err := st.Publish(d.segment(k)); err != nil {
			return err
		}
	}
	d.logger.Info("demo started", "clips", len(d.clips), "loop", d.loop, "first_seq", first, "live_seq", last)
	next := last + 1
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		_, end := d.bounds(next)
		wait := end - d.now().Sub(time.Unix(0, 0))
		if wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-timer.C:
			}
			continue
		}
		if err := st.Publish(d.segment(next)); err != nil {
			return err
		}
		next++
	}
}

func orDiscard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
