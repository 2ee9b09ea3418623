package origin

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"fusioncast/internal/hls"
)

// newTestOrigin returns an origin with a stream "s" holding segments 0..n-1
// of 1000 bytes each.
func newTestOrigin(t *testing.T, cfg Config, n int) (*Origin, *Stream) {
	t.Helper()
	o := New(cfg)
	st, err := o.AddStream("s", nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		data := []byte(strings.Repeat(fmt.Sprintf("%03d-", i), 250))
		if err := st.Publish(&Segment{Seq: uint64(i), Duration: 2 * time.Second, Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	return o, st
}

func do(t *testing.T, h http.Handler, method, path string, hdr ...string) *http.Response {
	t.Helper()
	r := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

func body(t *testing.T, r *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestHTTPPlaylistAndSegments(t *testing.T) {
	o, st := newTestOrigin(t, Config{}, 8)
	h := o.Handler()

	r := do(t, h, "GET", "/live/s/index.m3u8")
	pl := body(t, r)
	if r.StatusCode != 200 || r.Header.Get("Content-Type") != "application/vnd.apple.mpegurl" {
		t.Fatalf("playlist: %d %q", r.StatusCode, r.Header.Get("Content-Type"))
	}
	if cc := r.Header.Get("Cache-Control"); cc != "public, max-age=1" {
		t.Errorf("playlist Cache-Control %q", cc)
	}
	if r.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Error("playlist without CORS")
	}
	etag := r.Header.Get("ETag")
	if r := do(t, h, "GET", "/live/s/index.m3u8", "If-None-Match", etag); r.StatusCode != http.StatusNotModified {
		t.Errorf("conditional playlist: %d", r.StatusCode)
	}

	p, err := hls.ParseMedia([]byte(pl))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Segments) != 6 {
		t.Fatalf("%d segments listed", len(p.Segments))
	}
	for _, s := range p.Segments {
		want, _ := st.Segment(s.Seq)
		r := do(t, h, "GET", "/live/s/"+s.URI)
		if got := body(t, r); r.StatusCode != 200 || got != string(want.Data) {
			t.Fatalf("segment %s: %d, %d bytes", s.URI, r.StatusCode, len(got))
		}
		if cc := r.Header.Get("Cache-Control"); cc != "public, max-age=86400, immutable" {
			t.Errorf("segment Cache-Control %q", cc)
		}
		if r.Header.Get("ETag") != `"`+want.Hex()+`"` || r.Header.Get("Content-Type") != "video/mp2t" {
			t.Errorf("segment headers %v", r.Header)
		}
		for k := range r.Header {
			if strings.EqualFold(k, "Set-Cookie") {
				t.Error("a response sets a cookie")
			}
		}
	}
	last := p.Segments[len(p.Segments)-1].URI

	r = do(t, h, "GET", "/live/s/"+last, "Range", "bytes=100-199")
	if got := body(t, r); r.StatusCode != http.StatusPartialContent || len(got) != 100 || r.Header.Get("Content-Range") != "bytes 100-199/1000" {
		t.Errorf("range: %d %q %d bytes", r.StatusCode, r.Header.Get("Content-Range"), len(got))
	}
	r = do(t, h, "HEAD", "/live/s/"+last)
	if got := body(t, r); r.StatusCode != 200 || got != "" || r.Header.Get("Content-Length") != "1000" {
		t.Errorf("HEAD: %d %q len %q", r.StatusCode, got, r.Header.Get("Content-Length"))
	}
	r = do(t, h, "GET", "/live/s/"+last, "If-None-Match", r.Header.Get("ETag"))
	if r.StatusCode != http.StatusNotModified {
		t.Errorf("conditional segment: %d", r.StatusCode)
	}
	r = do(t, h, "OPTIONS", "/live/s/"+last)
	if r.StatusCode != http.StatusNoContent || !strings.Contains(r.Header.Get("Access-Control-Allow-Headers"), "Range") {
		t.Errorf("preflight: %d %v", r.StatusCode, r.Header)
	}
}

func TestHTTPErrors(t *testing.T) {
	o, st := newTestOrigin(t, Config{Stream: StreamConfig{Window: 2, Retain: 2}}, 8)
	h := o.Handler()
	gone, _ := st.Segment(7)
	name := gone.Name()
	for _, c := range []struct {
		method, path string
		code         int
	}{
		{"GET", "/live/nope/index.m3u8", 404},
		{"GET", "/live/s/" + strings.Replace(name, "7-", "6-", 1), 404}, // right hash, wrong number
		{"GET", "/live/s/0-" + name[2:], 404},                           // no longer retained
		{"GET", "/live/s/7-0000000000000000.ts", 404},                   // wrong digest
		{"GET", "/live/s/7.ts", 404},
		{"GET", "/live/s/../../etc/passwd", 307}, // to the clean path, which is 404
		{"GET", "/nothing/here", 404},
		{"POST", "/live/s/index.m3u8", 405},
		{"GET", "/live/s/" + name, 200},
	} {
		r := do(t, h, c.method, c.path)
		b := body(t, r)
		if r.StatusCode != c.code {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, r.StatusCode, c.code)
		}
		if c.code == 404 && (len(b) > 100 || !strings.Contains(b, "404")) {
			t.Errorf("%s: 404 body %q should be a short message", c.path, b)
		}
	}
	// A known stream that has not started yet.
	if _, err := o.AddStream("later", nil); err != nil {
		t.Fatal(err)
	}
	if r := do(t, h, "GET", "/live/later/index.m3u8"); r.StatusCode != 503 || r.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("unstarted stream: %d %q", r.StatusCode, r.Header.Get("Cache-Control"))
	}
	if r := do(t, h, "GET", "/healthz"); r.StatusCode != 503 {
		t.Errorf("healthz with an unstarted stream: %d", r.StatusCode)
	}
	if _, err := o.AddStream("s", nil); !errors.Is(err, ErrStreamExists) {
		t.Errorf("duplicate stream: %v", err)
	}
}

func TestMetricsCountEgress(t *testing.T) {
	o, st := newTestOrigin(t, Config{}, 3)
	h := o.Handler()
	s, _ := st.Segment(2)
	for range 3 {
		body(t, do(t, h, "GET", "/live/s/"+s.Name()))
	}
	body(t, do(t, h, "GET", "/live/s/"+s.Name(), "Range", "bytes=0-9"))
	if r := do(t, h, "GET", "/healthz"); r.StatusCode != 200 {
		t.Errorf("healthz: %d", r.StatusCode)
	}
	// Another transport's bytes, and another component's collector.
	o.EgressCounter("s", "multicast").Add(1316)
	extra := prometheus.NewCounter(prometheus.CounterOpts{Name: "fusioncast_test_extra_total", Help: "A test."})
	if err := o.Register(extra); err != nil {
		t.Fatal(err)
	}
	if err := o.Register(extra); err == nil {
		t.Error("registering a collector twice: no error")
	}
	m := body(t, do(t, h, "GET", "/metrics"))
	for _, want := range []string{
		`fusioncast_origin_egress_bytes_total{stream="s",transport="http"} 3010`,
		`fusioncast_origin_egress_bytes_total{stream="s",transport="multicast"} 1316`,
		`fusioncast_test_extra_total 0`,
		`fusioncast_origin_http_requests_total{code="200",kind="segment"} 3`,
		`fusioncast_origin_http_requests_total{code="206",kind="segment"} 1`,
		`fusioncast_origin_segments_published_total{stream="s"} 3`,
		`fusioncast_origin_published_bytes_total{stream="s"} 3000`,
		`fusioncast_origin_segment_egress_bytes_total{stream="s"} 3010`,
		`fusioncast_origin_http_open_connections 0`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// runOrigin serves o on a loopback listener until the test ends.
func runOrigin(t *testing.T, o *Origin) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return")
		}
	})
	return "http://" + ln.Addr().String()
}

// openIdle opens n connections that never finish a request: half send
// nothing, half send part of a request line.
func openIdle(t *testing.T, addr string, n int) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, 0, n)
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for i := range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		if i%2 == 1 {
			_, _ = io.WriteString(c, "GET /live/s/index.m3u8 HTTP/1.1\r\nHost: x\r\n")
		}
		conns = append(conns, c)
	}
	return conns
}

// getPlaylist fetches the playlist on a fresh connection within limit.
func getPlaylist(t *testing.T, url string, limit time.Duration) {
	t.Helper()
	client := &http.Client{Timeout: limit, Transport: &http.Transport{DisableKeepAlives: true}}
	start := time.Now()
	r, err := client.Get(url + "/live/s/index.m3u8")
	if err != nil {
		t.Fatalf("a new viewer did not get the playlist within %v: %v", limit, err)
	}
	b := body(t, r)
	r.Body.Close()
	if r.StatusCode != 200 || !strings.HasPrefix(b, "#EXTM3U") {
		t.Fatalf("playlist: %d %q", r.StatusCode, b)
	}
	t.Logf("playlist in %v", time.Since(start))
}

// The lesson of that night: clients that connect and never finish a request
// must not lock out real viewers.
func TestIdleConnectionsDoNotLockOutViewers(t *testing.T) {
	o, _ := newTestOrigin(t, Config{}, 3)
	url := runOrigin(t, o)
	openIdle(t, strings.TrimPrefix(url, "http://"), 1000)
	getPlaylist(t, url, time.Second)
}

func TestConnectionCapEvictsIdle(t *testing.T) {
	o, _ := newTestOrigin(t, Config{MaxConns: 50}, 3)
	url := runOrigin(t, o)
	openIdle(t, strings.TrimPrefix(url, "http://"), 200)
	for range 5 {
		getPlaylist(t, url, 5*time.Second)
	}
	m := body(t, do(t, o.Handler(), "GET", "/metrics"))
	if strings.Contains(m, "fusioncast_origin_http_evicted_connections_total 0\n") {
		t.Error("no idle connection was evicted at the cap")
	}
	// The server never holds more than the cap.
	for _, line := range strings.Split(m, "\n") {
		var n int
		if _, err := fmt.Sscanf(line, "fusioncast_origin_http_open_connections %d", &n); err == nil && n > 50 {
			t.Errorf("%d connections open, cap 50", n)
		}
	}
}

// At the cap with every connection busy, a newcomer is refused at once
// rather than queued.
func TestConnectionCapRefusesWhenAllBusy(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	busy := make(chan struct{}, 10)
	o := New(Config{MaxConns: 2, Web: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		busy <- struct{}{}
		<-release
	})})
	url := runOrigin(t, o)
	for range 2 {
		go func() {
			if r, err := http.Get(url + "/slow"); err == nil {
				r.Body.Close()
			}
		}()
		<-busy
	}
	c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := bufio.NewReader(c).ReadByte(); err == nil {
		t.Fatal("a connection over the cap was served")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("a connection over the cap was left hanging instead of closed")
	}
	once.Do(func() { close(release) })
}

// Segments sent with sendfile from memory files (the default) and copied
// from memory arrive intact over real connections, under concurrency, with
// keep-alive, and the egress counter adds up.
func TestSegmentsOverTCP(t *testing.T) {
	for _, copyResponses := range []bool{false, true} {
		t.Run(fmt.Sprintf("copy=%v", copyResponses), func(t *testing.T) {
			o := New(Config{Stream: StreamConfig{CopyResponses: copyResponses}})
			st, err := o.AddStream("s", nil)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			var segs []*Segment
			for i := range 6 {
				data := make([]byte, 150_000+rng.IntN(100_000))
				for j := range data {
					data[j] = byte(rng.Uint32())
				}
				s := &Segment{Seq: uint64(i), Duration: 2 * time.Second, Data: data}
				if err := st.Publish(s); err != nil {
					t.Fatal(err)
				}
				if (s.mem != nil) == copyResponses {
					t.Fatalf("memory file %v with CopyResponses %v", s.mem != nil, copyResponses)
				}
				segs = append(segs, s)
			}
			url := runOrigin(t, o)
			client := &http.Client{Timeout: 10 * time.Second}
			var wg sync.WaitGroup
			var mu sync.Mutex
			var total int64
			errs := make(chan error, 100)
			for g := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for k := range 15 {
						s := segs[(g+k)%len(segs)]
						r, err := client.Get(url + "/live/s/" + s.Name())
						if err != nil {
							errs <- err
							return
						}
						b, err := io.ReadAll(r.Body)
						r.Body.Close()
						if err != nil || r.StatusCode != 200 || sha256.Sum256(b) != s.SHA256 {
							errs <- fmt.Errorf("segment %d: status %d, %d bytes, err %v", s.Seq, r.StatusCode, len(b), err)
							return
						}
						if r.Header.Get("Content-Length") != strconv.Itoa(len(s.Data)) || r.Header.Get("Last-Modified") == "" {
							errs <- fmt.Errorf("segment %d headers: %v", s.Seq, r.Header)
							return
						}
						mu.Lock()
						total += int64(len(b))
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			// A range over TCP.
			req, _ := http.NewRequest("GET", url+"/live/s/"+segs[2].Name(), nil)
			req.Header.Set("Range", "bytes=1000-1999")
			r, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(r.Body)
			r.Body.Close()
			if r.StatusCode != 206 || !bytes.Equal(b, segs[2].Data[1000:2000]) {
				t.Fatalf("range: %d, %d bytes", r.StatusCode, len(b))
			}
			total += 1000
			m := body(t, do(t, o.Handler(), "GET", "/metrics"))
			var got float64
			for _, line := range strings.Split(m, "\n") {
				if v, ok := strings.CutPrefix(line, `fusioncast_origin_egress_bytes_total{stream="s",transport="http"} `); ok {
					got, _ = strconv.ParseFloat(v, 64)
				}
			}
			if int64(got) != total {
				t.Errorf("egress counter %v, want %d", got, total)
			}
		})
	}
}

// A memory file stays readable while a response holds it, even after its
// segment has left the stream, and is closed after the last response; then
// it cannot be taken again.
func TestMemFileOutlivesSegment(t *testing.T) {
	st, _ := NewStream("s", StreamConfig{Window: 1, Retain: 1})
	first := &Segment{Seq: 0, Duration: time.Second, Data: []byte("first segment")}
	if err := st.Publish(first); err != nil {
		t.Fatal(err)
	}
	if first.mem == nil {
		t.Skip("no memory files on this system")
	}
	if !first.mem.acquire() {
		t.Fatal("cannot acquire a live memory file")
	}
	if err := st.Publish(&Segment{Seq: 1, Duration: time.Second, Data: []byte("second")}); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(&memBody{m: first.mem})
	if err != nil || string(b) != "first segment" {
		t.Fatalf("read %q, %v", b, err)
	}
	first.mem.release()
	if first.mem.refs.Load() != 0 || first.mem.acquire() {
		t.Fatalf("refs %d after the last release", first.mem.refs.Load())
	}
}

// Oversized request headers are refused, and a client that sends its
// headers too slowly is cut off.
func TestHeaderLimits(t *testing.T) {
	o, _ := newTestOrigin(t, Config{MaxHeaderBytes: 1024, ReadHeaderTimeout: 300 * time.Millisecond}, 1)
	url := runOrigin(t, o)
	addr := strings.TrimPrefix(url, "http://")

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = io.WriteString(c, "GET /live/s/index.m3u8 HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("a", 20000)+"\r\n\r\n")
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("oversized header: %d", resp.StatusCode)
	}

	slow, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	_, _ = io.WriteString(slow, "GET /live/s/index.m3u8 HTTP/1.1\r\n")
	_ = slow.SetReadDeadline(time.Now().Add(10 * time.Second))
	start := time.Now()
	if _, err := io.ReadAll(slow); err != nil {
		t.Fatalf("the server did not close a slow client's connection: %v", err)
	}
	t.Logf("slow client cut off after %v", time.Since(start))
}
