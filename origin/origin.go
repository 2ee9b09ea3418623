package origin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Errors returned by [Origin].
var (
	// ErrClosed is returned by [Origin.Run] and [Origin.AddStream] after the
	// origin has been stopped or started.
	ErrClosed = errors.New("origin: closed")
	// ErrStreamExists is returned by [Origin.AddStream] for a name in use.
	ErrStreamExists = errors.New("origin: stream exists")
)

// Config configures an [Origin]. The zero value of each field means the
// stated default.
type Config struct {
	// Stream configures every stream's window.
	Stream StreamConfig
	// MaxConns caps open HTTP connections. At the cap, the connection idle
	// longest is closed to make room. If zero, 10000.
	MaxConns int
	// ReadHeaderTimeout bounds the time a client has, from connecting or
	// from its previous response, to send a request's headers. If zero, 5 s.
	ReadHeaderTimeout time.Duration
	// IdleTimeout bounds how long a keep-alive connection waits for its
	// next request. If zero, 60 s.
	IdleTimeout time.Duration
	// WriteTimeout bounds the time to write one response. If zero, 30 s.
	WriteTimeout time.Duration
	// MaxHeaderBytes bounds a request's header size. If zero, 8 KiB.
	MaxHeaderBytes int
	// SegmentMaxAge is the max-age of segment responses, which are
	// immutable. If zero, 24 h.
	SegmentMaxAge time.Duration
	// PlaylistMaxAge is the max-age of playlist responses. If zero, half the
	// stream's target duration, at least 1 s.
	PlaylistMaxAge time.Duration
	// Web serves everything outside /live/, /metrics and /healthz (the
	// player page). If nil, those paths are 404.
	Web http.Handler
	// Logger receives the origin's logs. If nil, logs are discarded.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.MaxConns <= 0 {
		c.MaxConns = 10000
	}
	if c.ReadHeaderTimeout <= 0 {
		c.ReadHeaderTimeout = 5 * time.Second
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 60 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 30 * time.Second
	}
	if c.MaxHeaderBytes <= 0 {
		c.MaxHeaderBytes = 8 << 10
	}
	if c.SegmentMaxAge <= 0 {
		c.SegmentMaxAge = 24 * time.Hour
	}
	c.Logger = orDiscard(c.Logger).With("component", "origin")
	return c
}

// Origin serves live streams over stateless, cache-friendly HTTP: a media
// playlist per stream and immutable segments. It holds no per-client state,
// so any request may go to any origin or any HTTP cache in front of one.
type Origin struct {
	cfg     Config
	metrics *metrics
	handler http.Handler
	// reqCounters caches request counters by requestKey.
	reqCounters sync.Map
	// Header values of segment responses, made once and never modified.
	segCache []string

	mu      sync.Mutex
	streams map[string]*entry
	limiter *connLimiter
	started bool
}

type entry struct {
	st        *Stream
	src       Source
	egress    prometheus.Counter // HTTP egress of this stream
	segEgress prometheus.Counter // the part of it that is segments
}

// New returns an origin with no streams.
func New(cfg Config) *Origin {
	o := &Origin{cfg: cfg.withDefaults(), streams: make(map[string]*entry)}
	o.metrics = newMetrics(func() *connLimiter {
		o.mu.Lock()
		defer o.mu.Unlock()
		return o.limiter
	})
	o.segCache = []string{"public, max-age=" + strconv.Itoa(int(o.cfg.SegmentMaxAge/time.Second)) + ", immutable"}
	o.handler = o.routes()
	return o
}

// AddStream creates a stream fed by src. Sources start when [Origin.Run]
// does; a nil src makes a stream the caller publishes into itself.
func (o *Origin) AddStream(name string, src Source) (*Stream, error) {
	st, err := NewStream(name, o.cfg.Stream)
	if err != nil {
		return nil, err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.started && src != nil {
		return nil, fmt.Errorf("%w: cannot add a source after Run", ErrClosed)
	}
	if _, ok := o.streams[name]; ok {
		return nil, fmt.Errorf("%w: %q", ErrStreamExists, name)
	}
	published := o.metrics.published.WithLabelValues(name)
	pubBytes := o.metrics.publishedBytes.WithLabelValues(name)
	st.onPublish = func(s *Segment) {
		published.Inc()
		pubBytes.Add(float64(len(s.Data)))
	}
	o.streams[name] = &entry{st: st, src: src, egress: o.metrics.egress.WithLabelValues(name, "http"),
		segEgress: o.metrics.segEgress.WithLabelValues(name)}
	return st, nil
}

// Stream returns the named stream.
func (o *Origin) Stream(name string) (*Stream, bool) {
	e, ok := o.entry(name)
	if !ok {
		return nil, false
	}
	return e.st, true
}

func (o *Origin) entry(name string) (*entry, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	e, ok := o.streams[name]
	return e, ok
}

// EgressCounter returns the counter of body bytes the origin sent for a
// stream by another transport than HTTP (multicast), so that
// fusioncast_origin_egress_bytes_total{transport} covers every way the
// stream leaves the origin.
func (o *Origin) EgressCounter(stream, transport string) prometheus.Counter {
	return o.metrics.egress.WithLabelValues(stream, transport)
}

// Register adds collectors (a multicast sender's, say) to the origin's
// /metrics.
func (o *Origin) Register(cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := o.metrics.reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// Handler returns the origin's HTTP handler (playlists, segments, metrics,
// health and the web page), for use with any server.
func (o *Origin) Handler() http.Handler { return o.handler }

// Run starts every stream's source and serves HTTP on ln until ctx ends or
// a source fails. It then shuts the server down, waiting at most 5 s for
// responses in flight, stops the sources and returns: nil after ctx ended,
// or the first error. Run may be called once.
func (o *Origin) Run(ctx context.Context, ln net.Listener) error {
	lim := newConnLimiter(ln, o.cfg.MaxConns, func(open int) { o.metrics.open.Set(float64(open)) })
	o.mu.Lock()
	if o.started {
		o.mu.Unlock()
		return ErrClosed
	}
	o.started = true
	o.limiter = lim
	entries := make([]*entry, 0, len(o.streams))
	for _, e := range o.streams {
		entries = append(entries, e)
	}
	o.mu.Unlock()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srv := &http.Server{
		Handler:           o.handler,
		ReadHeaderTimeout: o.cfg.ReadHeaderTimeout,
		IdleTimeout:       o.cfg.IdleTimeout,
		WriteTimeout:      o.cfg.WriteTimeout,
		MaxHeaderBytes:    o.cfg.MaxHeaderBytes,
		ConnState:         lim.connState,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, c)
		},
		ErrorLog: slog.NewLogLogger(o.cfg.Logger.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, len(entries)+1)
	var wg sync.WaitGroup
	for _, e := range entries {
		if e.src == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := e.src.Run(ctx, e.st)
			if err != nil && ctx.Err() == nil {
				o.cfg.Logger.Error("source failed", "stream", e.st.Name(), "err", err)
				errc <- fmt.Errorf("origin: stream %s: %w", e.st.Name(), err)
			}
		}()
	}
	go func() {
		if err := srv.Serve(lim); !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("origin: serve: %w", err)
		}
	}()
	o.cfg.Logger.Info("origin serving", "addr", ln.Addr().String(), "streams", len(entries), "max_conns", o.cfg.MaxConns)

	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	cancel()
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	if serr := srv.Shutdown(sctx); serr != nil {
		_ = srv.Close()
	}
	wg.Wait()
	return err
}

func (o *Origin) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /live/{stream}/index.m3u8", o.servePlaylist)
	mux.HandleFunc("GET /live/{stream}/{segment}", o.serveSegment)
	mux.HandleFunc("OPTIONS /live/", servePreflight)
	mux.Handle("GET /metrics", promhttp.HandlerFor(o.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", o.serveHealth)
	if o.cfg.Web != nil {
		mux.Handle("GET /", o.cfg.Web)
	} else {
		mux.HandleFunc("GET /", notFound)
	}
	return o.countRequests(mux)
}

func notFound(w http.ResponseWriter, _ *http.Request) {
	http.Error(w, "404 not found", http.StatusNotFound)
}

// countRequests wraps h to count requests by kind and status, and the
// egress of stream content.
func (o *Origin) countRequests(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw := &respWriter{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(rw, r)
		if rw.egress != nil && rw.n > 0 {
			rw.egress.Add(float64(rw.n))
			if rw.segEgress != nil {
				rw.segEgress.Add(float64(rw.n))
			}
		}
		o.requestCounter(kindOf(r.URL.Path), rw.code).Inc()
	})
}

// requestCounter returns the requests counter for kind and code, cached:
// label lookups hash their values on every call.
func (o *Origin) requestCounter(kind string, code int) prometheus.Counter {
	key := requestKey{kind, code}
	if c, ok := o.reqCounters.Load(key); ok {
		return c.(prometheus.Counter)
	}
	c := o.metrics.requests.WithLabelValues(kind, strconv.Itoa(code))
	o.reqCounters.Store(key, c)
	return c
}

type requestKey struct {
	kind string
	code int
}

// countEgress makes the response count its body bytes into c.
func countEgress(w http.ResponseWriter, c prometheus.Counter) {
	if rw, ok := w.(*respWriter); ok {
		rw.egress = c
	}
}

func kindOf(p string) string {
	switch {
	case strings.HasPrefix(p, "/live/") && strings.HasSuffix(p, ".m3u8"):
		return "playlist"
	case strings.HasPrefix(p, "/live/"):
		return "segment"
	case p == "/metrics" || p == "/healthz":
		return "ops"
	default:
		return "page"
	}
}

// Header values shared by every response; never modified.
var (
	corsOrigin   = []string{"*"}
	corsExpose   = []string{"Content-Length, Content-Range, ETag, Age"}
	typeTS       = []string{"video/mp2t"}
	typePlaylist = []string{"application/vnd.apple.mpegurl"}
	acceptRanges = []string{"bytes"}
)

// setCORS lets pages of any origin read our responses (the player and the
// peer engine run on other sites too).
func setCORS(h http.Header) {
	h["Access-Control-Allow-Origin"] = corsOrigin
	h["Access-Control-Expose-Headers"] = corsExpose
}

func servePreflight(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	setCORS(h)
	h.Set("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Range, If-None-Match, If-Modified-Since")
	h.Set("Access-Control-Max-Age", "86400")
	w.WriteHeader(http.StatusNoContent)
}

func (o *Origin) servePlaylist(w http.ResponseWriter, r *http.Request) {
	e, ok := o.entry(r.PathValue("stream"))
	if !ok {
		http.Error(w, "404 no such stream", http.StatusNotFound)
		return
	}
	st := e.st
	body, etag, updated := st.Playlist()
	if body == nil {
		// Known stream, nothing published yet: tell caches not to keep it.
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Retry-After", "1")
		http.Error(w, "503 stream not started yet", http.StatusServiceUnavailable)
		return
	}
	h := w.Header()
	setCORS(h)
	h["Content-Type"] = typePlaylist
	h.Set("ETag", etag)
	maxAge := o.cfg.PlaylistMaxAge
	if maxAge <= 0 {
		maxAge = max(st.TargetDuration()/2, time.Second)
	}
	h.Set("Cache-Control", "public, max-age="+strconv.Itoa(int(maxAge/time.Second)))
	countEgress(w, e.egress)
	http.ServeContent(w, r, "", updated, bytes.NewReader(body))
}

func (o *Origin) serveSegment(w http.ResponseWriter, r *http.Request) {
	e, ok := o.entry(r.PathValue("stream"))
	if !ok {
		http.Error(w, "404 no such stream", http.StatusNotFound)
		return
	}
	seq, prefix, ok := parseSegmentName(r.PathValue("segment"))
	if !ok {
		http.Error(w, "404 not a segment name", http.StatusNotFound)
		return
	}
	seg, ok := e.st.Segment(seq)
	if !ok || seg.Hex()[:len(prefix)] != prefix {
		http.Error(w, "404 segment not available", http.StatusNotFound)
		return
	}
	h := w.Header()
	setCORS(h)
	h["Content-Type"] = typeTS
	h["Etag"] = seg.etag
	h["Cache-Control"] = o.segCache
	countEgress(w, e.egress)
	if rw, ok := w.(*respWriter); ok {
		rw.segEgress = e.segEgress
	}
	// The memory file can be gone if the segment just left the stream;
	// then memory still has the bytes.
	if seg.mem != nil && plainGet(r) && seg.mem.acquire() {
		defer seg.mem.release()
		sendFile(w, r, seg.mem)
		return
	}
	http.ServeContent(w, r, "", seg.Published, bytes.NewReader(seg.Data))
}

// plainGet tells whether r is a GET of the whole body with no conditions,
// which nearly every segment request is.
func plainGet(r *http.Request) bool {
	if r.Method != http.MethodGet {
		return false
	}
	for _, k := range [...]string{"Range", "If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since", "If-Range"} {
		if _, ok := r.Header[k]; ok {
			return false
		}
	}
	return true
}

// sendFile answers a plain GET of a segment with two system calls: the
// headers go out in one write with MSG_MORE, and the body follows with one
// sendfile(2) from the segment's memory file, in the same packets.
// (http.ServeContent would also read the first 512 bytes to sniff a type we
// already know.) Range, HEAD and conditional requests go to ServeContent.
func sendFile(w http.ResponseWriter, r *http.Request, m *memFile) {
	h := w.Header()
	h["Content-Length"] = m.contentLength
	h["Last-Modified"] = m.lastModified
	h["Accept-Ranges"] = acceptRanges
	w.WriteHeader(http.StatusOK)
	if c, ok := r.Context().Value(connKey{}).(*limitedConn); ok {
		c.more = true
		defer func() { c.more = false }()
	}
	// Flushing puts the headers on the wire now, so that the copy below
	// goes straight to sendfile.
	if err := flush(w); err != nil {
		return
	}
	_, _ = io.Copy(w, &memBody{m: m})
}

// parseSegmentName splits "<seq>-<16 hex>.ts".
func parseSegmentName(name string) (seq uint64, prefix string, ok bool) {
	base, found := strings.CutSuffix(name, ".ts")
	if !found {
		return 0, "", false
	}
	num, prefix, found := strings.Cut(base, "-")
	if !found || len(prefix) != 16 {
		return 0, "", false
	}
	for _, c := range prefix {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return 0, "", false
		}
	}
	seq, err := strconv.ParseUint(num, 10, 64)
	if err != nil {
		return 0, "", false
	}
	return seq, prefix, true
}

func (o *Origin) serveHealth(w http.ResponseWriter, _ *http.Request) {
	o.mu.Lock()
	streams := make([]*Stream, 0, len(o.streams))
	for _, e := range o.streams {
		streams = append(streams, e.st)
	}
	o.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	code, msg := http.StatusOK, "ok\n"
	for _, st := range streams {
		if _, ok := st.Last(); !ok {
			code, msg = http.StatusServiceUnavailable, "stream "+st.Name()+" has no segments yet\n"
		}
	}
	w.WriteHeader(code)
	_, _ = io.WriteString(w, msg)
}

// connKey is the request context key of the request's connection.
type connKey struct{}

// flush flushes w, unwrapping our respWriter without the allocation of an
// http.ResponseController.
func flush(w http.ResponseWriter) error {
	if rw, ok := w.(*respWriter); ok {
		w = rw.ResponseWriter
	}
	if f, ok := w.(interface{ FlushError() error }); ok {
		return f.FlushError()
	}
	return http.NewResponseController(w).Flush()
}

// respWriter records a response's status code and counts its body bytes,
// without hiding the connection's ReadFrom (and so sendfile) from
// io.Copy.
type respWriter struct {
	http.ResponseWriter
	code      int
	n         int64
	egress    prometheus.Counter // where n goes, if the body is stream content
	segEgress prometheus.Counter // and here too, if it is a segment
}

func (w *respWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *respWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	return n, err
}

func (w *respWriter) ReadFrom(r io.Reader) (int64, error) {
	var n int64
	var err error
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
	} else {
		n, err = io.Copy(struct{ io.Writer }{w.ResponseWriter}, r)
	}
	w.n += n
	return n, err
}

func (w *respWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
