package viewer

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"fusioncast/internal/hls"
	"fusioncast/internal/httpget"
	"fusioncast/peer"
)

// Errors returned by [Run].
var (
	// ErrBadURL is returned for a playlist URL that is not absolute http(s).
	ErrBadURL = errors.New("viewer: bad playlist URL")
)

// Limits of one viewer.
const (
	maxSegmentBytes = 32 << 20
	maxRetries      = 3
)

// Config configures one viewer. The zero value of each field means the
// stated default.
type Config struct {
	// PlaylistURL is the live media playlist (required).
	PlaylistURL string
	// Client fetches playlists and segments. If nil, http.DefaultClient.
	Client *http.Client
	// LiveSyncSegments is how many segments behind the live edge playback
	// starts, like hls.js's liveSyncDurationCount. If zero, 3.
	LiveSyncSegments int
	// Logger receives per-viewer problems at debug level. If nil, discarded.
	Logger *slog.Logger
	// Peer, if set, is the peer engine the viewer gets its segments from
	// (from other peers, or over HTTP when they cannot deliver in time).
	// The viewer polls the playlist on its own goroutine, gives the engine
	// each window, and asks it for each segment with the time the playhead
	// will reach it. If nil, segments are fetched over HTTP.
	Peer *peer.Engine
	// StartupBudget is how long after joining the first segment may take
	// when fetched through Peer. If zero, 2 s.
	StartupBudget time.Duration
	// OnStall, if set, is called on the viewer's goroutine for each stall
	// when it ends (or when the run ends during one) with the wall-clock
	// time it began and its length: a test can then tell when playback
	// stalled, not only how often.
	OnStall func(start time.Time, d time.Duration)
}

// Stats is what one viewer saw.
type Stats struct {
	// Segments fully played by the end of the run.
	SegmentsPlayed int
	// Bytes of segments by source.
	Bytes Bytes
	// PlaylistBytes fetched (not part of Bytes).
	PlaylistBytes int64
	// Stalls is how many times playback ran out of buffer after starting;
	// StallTime their total length.
	Stalls    int
	StallTime time.Duration
	// VerifyFailures counts segments whose bytes did not match the digest
	// the origin published (each is fetched again).
	VerifyFailures int
	// Skipped counts segments that left the playlist before they could be
	// fetched (the viewer fell behind the window).
	Skipped int
	// Errors counts failed requests.
	Errors int
	// Started is false if playback never began; Startup is the time from
	// joining to the first segment in the buffer.
	Started bool
	Startup time.Duration
	// Latency is how far the playhead was behind the live edge (the end of
	// the newest listed segment) when the run ended.
	Latency time.Duration
	// Fetched maps each fetched segment's media sequence number to its size,
	// so a summary can tell distinct segments from copies.
	Fetched map[uint64]int64
}

// Bytes counts segment bytes by where they came from.
type Bytes struct {
	HTTP  int64 `json:"http"`
	P2P   int64 `json:"p2p"`
	Relay int64 `json:"relay"`
}

// player models a playback buffer on a media timeline that starts at the
// first segment the viewer fetches. Media time only advances while playing.
type player struct {
	started     bool
	wallAnchor  time.Time     // when the playhead was at mediaAnchor
	mediaAnchor time.Duration // playhead at wallAnchor
	buffered    time.Duration // end of the contiguous buffer
	stalls      int
	stallTime   time.Duration
	onStall     func(start time.Time, d time.Duration) // if set, told of each stall
}

// stalled counts a stall from start to now.
func (p *player) stalled(start, now time.Time) {
	p.stalls++
	p.stallTime += now.Sub(start)
	if p.onStall != nil {
		p.onStall(start, now.Sub(start))
	}
}

// playhead returns the playhead at now, and whether it has run dry.
func (p *player) playhead(now time.Time) (time.Duration, bool) {
	if !p.started {
		return 0, false
	}
	ph := p.mediaAnchor + now.Sub(p.wallAnchor)
	if ph > p.buffered {
		return p.buffered, true
	}
	return ph, false
}

// add appends a segment of duration d to the buffer at now.
func (p *player) add(now time.Time, d time.Duration) {
	if !p.started {
		p.started, p.wallAnchor = true, now
	} else if ph, dry := p.playhead(now); dry {
		p.stalled(p.wallAnchor.Add(p.buffered-p.mediaAnchor), now)
		p.wallAnchor, p.mediaAnchor = now, ph
	}
	p.buffered += d
}

// finish ends the run at now, counting a stall still in progress.
func (p *player) finish(now time.Time) time.Duration {
	ph, dry := p.playhead(now)
	if dry {
		stallStart := p.wallAnchor.Add(p.buffered - p.mediaAnchor)
		if now.Sub(stallStart) > 0 {
			p.stalled(stallStart, now)
		}
	}
	return ph
}

type viewer struct {
	cfg    Config
	base   *url.URL
	stats  Stats
	player player
	// The media timeline starts at the first fetched segment.
	nextSeq  uint64          // next segment to fetch
	haveNext bool            // nextSeq has been chosen
	mediaEnd time.Duration   // media time at the end of the fetched segments
	ends     []time.Duration // media end of fetched segments not yet played
	played   int             // segments dropped from ends once played
}

// Run plays the live stream until ctx ends and returns what the viewer saw.
// It returns an error only for a configuration it cannot start with; network
// trouble is counted in the stats.
func Run(ctx context.Context, cfg Config) (Stats, error) {
	u, err := url.Parse(cfg.PlaylistURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Stats{}, fmt.Errorf("%w: %q", ErrBadURL, cfg.PlaylistURL)
	}
	if cfg.Client == nil {
		cfg.Client = http.DefaultClient
	}
	if cfg.LiveSyncSegments <= 0 {
		cfg.LiveSyncSegments = 3
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.StartupBudget <= 0 {
		cfg.StartupBudget = 2 * time.Second
	}
	v := &viewer{cfg: cfg, base: u, stats: Stats{Fetched: make(map[uint64]int64)}}
	v.player.onStall = cfg.OnStall
	if cfg.Peer != nil {
		v.runPeer(ctx)
	} else {
		v.run(ctx)
	}
	return v.stats, nil
}

func (v *viewer) run(ctx context.Context) {
	joined := time.Now()
	var (
		pl       *hls.MediaPlaylist
		lastPoll time.Time
	)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		poll := 500 * time.Millisecond
		if pl != nil && pl.TargetDuration > 0 {
			poll = pl.TargetDuration / 2
		}
		if pl == nil || time.Since(lastPoll) >= poll {
			p, err := v.fetchPlaylist(ctx)
			if ctx.Err() != nil {
				break
			}
			lastPoll = time.Now()
			if err == nil {
				pl = p
			}
		}
		if pl != nil && v.fetchReady(ctx, pl) {
			if !v.stats.Started && v.player.started {
				v.stats.Started, v.stats.Startup = true, time.Since(joined)
			}
			continue // fetch the next one at once if it is listed
		}
		wait := poll - time.Since(lastPoll)
		timer.Reset(max(wait, 10*time.Millisecond))
		select {
		case <-ctx.Done():
		case <-timer.C:
			continue
		}
		break
	}
	v.finish(pl)
}

// finish closes the stats at the end of the run; pl is the last playlist.
func (v *viewer) finish(pl *hls.MediaPlaylist) {
	now := time.Now()
	ph := v.player.finish(now)
	v.stats.Stalls, v.stats.StallTime = v.player.stalls, v.player.stallTime
	// Segments played: those whose end the playhead has passed.
	v.stats.SegmentsPlayed = v.played
	for _, end := range v.ends {
		if end <= ph {
			v.stats.SegmentsPlayed++
		}
	}
	if pl != nil && v.haveNext {
		// The live edge on our media timeline: the end of the newest listed
		// segment.
		edge := v.mediaEnd
		for _, s := range pl.Segments {
			if s.Seq >= v.nextSeq {
				edge += s.Duration
			}
		}
		v.stats.Latency = edge - ph
	}
}

func (v *viewer) fetchPlaylist(ctx context.Context) (*hls.MediaPlaylist, error) {
	b, err := v.get(ctx, v.base.String(), hls.MaxPlaylistBytes)
	if err != nil {
		return nil, err
	}
	v.stats.PlaylistBytes += int64(len(b))
	p, err := hls.ParseMedia(b)
	if err != nil {
		v.stats.Errors++
		v.cfg.Logger.Debug("bad playlist", "err", err)
		return nil, err
	}
	return p, nil
}

// fetchReady fetches the next segment if the playlist lists it and reports
// whether it did.
func (v *viewer) fetchReady(ctx context.Context, pl *hls.MediaPlaylist) bool {
	n := len(pl.Segments)
	if n == 0 {
		return false
	}
	first, last := pl.Segments[0].Seq, pl.Segments[n-1].Seq
	if !v.haveNext {
		back := uint64(v.cfg.LiveSyncSegments - 1)
		v.nextSeq, v.haveNext = max(last-min(last, back), first), true
	}
	if v.nextSeq < first {
		v.stats.Skipped += int(first - v.nextSeq)
		v.nextSeq = first
	}
	if v.nextSeq > last {
		return false
	}
	s := pl.Segments[v.nextSeq-first]
	ref, err := url.Parse(s.URI)
	if err != nil {
		v.stats.Errors++
		v.nextSeq++
		return false
	}
	var data []byte
	if v.cfg.Peer != nil {
		var src peer.Source
		if data, src, err = v.cfg.Peer.Get(ctx, uint32(s.Seq), v.deadline(time.Now())); err != nil {
			if ctx.Err() == nil {
				v.stats.Errors++
				v.cfg.Logger.Debug("segment not delivered", "seq", s.Seq, "err", err)
			}
			return false
		}
		switch src {
		case peer.SourcePeer:
			v.stats.Bytes.P2P += int64(len(data))
		case peer.SourceRelay:
			v.stats.Bytes.Relay += int64(len(data))
		default:
			v.stats.Bytes.HTTP += int64(len(data))
		}
	} else {
		if data, err = v.get(ctx, v.base.ResolveReference(ref).String(), maxSegmentBytes); err != nil {
			return false
		}
		v.stats.Bytes.HTTP += int64(len(data))
	}
	if s.HasDigest && (sha256.Sum256(data) != s.SHA256 || int64(len(data)) != s.Size) {
		v.stats.VerifyFailures++
		v.cfg.Logger.Debug("segment failed verification", "seq", s.Seq, "uri", s.URI)
		return false
	}
	now := time.Now()
	v.player.add(now, s.Duration)
	v.mediaEnd += s.Duration
	v.ends = append(v.ends, v.mediaEnd)
	if ph, _ := v.player.playhead(now); len(v.ends) > 64 {
		i := 0
		for i < len(v.ends) && v.ends[i] <= ph {
			i++
		}
		v.played += i
		v.ends = append(v.ends[:0], v.ends[i:]...)
	}
	v.stats.Fetched[s.Seq] = int64(len(data))
	v.nextSeq++
	return true
}

// get fetches u, retrying a few times, and counts failures.
func (v *viewer) get(ctx context.Context, u string, limit int64) ([]byte, error) {
	var err error
	for try := range maxRetries {
		if try > 0 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(time.Duration(try) * 100 * time.Millisecond):
			}
		}
		var b []byte
		if b, err = v.getOnce(ctx, u, limit); err == nil {
			return b, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		v.stats.Errors++
		v.cfg.Logger.Debug("request failed", "url", u, "err", err)
	}
	return nil, err
}

func (v *viewer) getOnce(ctx context.Context, u string, limit int64) ([]byte, error) {
	return httpget.Get(ctx, v.cfg.Client, u, limit)
}

// deadline is when the playhead will reach the start of the next segment
// to fetch: the engine must deliver it by then.
func (v *viewer) deadline(now time.Time) time.Time {
	if !v.player.started {
		return now.Add(v.cfg.StartupBudget)
	}
	return v.player.wallAnchor.Add(v.mediaEnd - v.player.mediaAnchor)
}

// runPeer is run with a peer engine: a goroutine polls the playlist and
// feeds the engine, so that it learns of new segments (to fetch, announce
// and serve them) while the player waits for one.
func (v *viewer) runPeer(ctx context.Context) {
	joined := time.Now()
	var (
		mu     sync.Mutex
		latest *hls.MediaPlaylist
		wg     sync.WaitGroup
	)
	changed := make(chan struct{}, 1)
	pollCtx, stop := context.WithCancel(ctx)
	poller := &viewer{cfg: v.cfg, base: v.base} // its own counters
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			pl, err := poller.fetchPlaylist(pollCtx)
			poll := 500 * time.Millisecond
			if err == nil {
				v.cfg.Peer.SetPlaylist(peer.WindowOf(v.base, pl))
				mu.Lock()
				latest = pl
				mu.Unlock()
				select {
				case changed <- struct{}{}:
				default:
				}
				if pl.TargetDuration > 0 {
					poll = pl.TargetDuration / 2
				}
			}
			select {
			case <-pollCtx.Done():
				return
			case <-time.After(poll):
			}
		}
	}()
	for ctx.Err() == nil {
		mu.Lock()
		pl := latest
		mu.Unlock()
		if pl != nil && v.fetchReady(ctx, pl) {
			if !v.stats.Started && v.player.started {
				v.stats.Started, v.stats.Startup = true, time.Since(joined)
			}
			continue
		}
		select {
		case <-ctx.Done():
		case <-changed:
		}
	}
	stop()
	wg.Wait()
	v.stats.PlaylistBytes += poller.stats.PlaylistBytes
	v.stats.Errors += poller.stats.Errors
	mu.Lock()
	pl := latest
	mu.Unlock()
	v.finish(pl)
}

// Fetcher returns the HTTP fetch of a peer engine (peer.Config.Fetch): a
// GET of the segment's URL with client, bounded by ctx.
func Fetcher(ctx context.Context, client *http.Client) peer.Fetcher {
	if client == nil {
		client = http.DefaultClient
	}
	v := &viewer{cfg: Config{Client: client, Logger: slog.New(slog.DiscardHandler)}}
	return func(seg peer.SegmentInfo, done func([]byte, error)) {
		done(v.getOnce(ctx, seg.URL, maxSegmentBytes))
	}
}
