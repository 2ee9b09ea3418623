package origin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"fusioncast/internal/hls"
	"fusioncast/internal/testenv"
)

// Every wait in these tests is bounded by ingWait; none asserts timing.
const (
	ingWait = 15 * time.Second
	ingPoll = 20 * time.Millisecond
)

func ingLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// ingEntry is one segment line of a scripted encoder playlist.
type ingEntry struct {
	uri  string
	dur  float64 // seconds; 0 means 1
	disc bool
	pdt  string
	zero bool // write EXTINF:0
}

func ingPlaylist(seq uint64, end bool, segs ...ingEntry) string {
	var b strings.Builder
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:%d\n", seq)
	for _, s := range segs {
		if s.disc {
			b.WriteString("#EXT-X-DISCONTINUITY\n")
		}
		if s.pdt != "" {
			fmt.Fprintf(&b, "#EXT-X-PROGRAM-DATE-TIME:%s\n", s.pdt)
		}
		d := s.dur
		if d == 0 && !s.zero {
			d = 1
		}
		fmt.Fprintf(&b, "#EXTINF:%.3f,\n%s\n", d, s.uri)
	}
	if end {
		b.WriteString("#EXT-X-ENDLIST\n")
	}
	return b.String()
}

func ingList(uris ...string) []ingEntry {
	out := make([]ingEntry, len(uris))
	for i, u := range uris {
		out[i] = ingEntry{uri: u}
	}
	return out
}

// ingData returns n distinct bytes for a segment named tag.
func ingData(tag string, n int) []byte {
	b := bytes.Repeat([]byte(tag+"|"), n/(len(tag)+1)+1)
	return b[:n]
}

// ingWrite writes a file the way ffmpeg does with temp_file: to a temporary
// name, then renamed into place.
func ingWrite(t *testing.T, dir, name string, data []byte) {
	t.Helper()
	tmp := filepath.Join(dir, name+".tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

type ingRunner struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// ingStart runs in on st until the test ends (or stop is called).
func ingStart(t *testing.T, in *Ingest, st *Stream) *ingRunner {
	ctx, cancel := context.WithCancel(context.Background())
	r := &ingRunner{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.err = in.Run(ctx, st)
	}()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels Run and returns what it returned.
func (r *ingRunner) stop(t *testing.T) error {
	r.cancel()
	select {
	case <-r.done:
		return r.err
	case <-time.After(ingWait):
		t.Errorf("Run did not return within %v of cancel", ingWait)
		return nil
	}
}

func ingWaitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(ingWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %v waiting for %s", ingWait, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// ingWaitPolls waits until in has completed n more polls, so that
// everything written before the call has been seen.
func ingWaitPolls(t *testing.T, in *Ingest, n uint64) {
	t.Helper()
	target := in.polls.Load() + n
	ingWaitFor(t, fmt.Sprintf("%d polls", n), func() bool { return in.polls.Load() >= target })
}

func ingWaitPublished(t *testing.T, in *Ingest, n uint64) {
	t.Helper()
	ingWaitFor(t, fmt.Sprintf("%d published segments", n), func() bool { return in.Stats().Published >= n })
	if got := in.Stats().Published; got != n {
		t.Fatalf("published %d segments, want %d (stats %+v)", got, n, in.Stats())
	}
}

// ingCheck asserts that our segment seq carries data and disc.
func ingCheck(t *testing.T, st *Stream, seq uint64, data []byte, disc bool) {
	t.Helper()
	s, ok := st.Segment(seq)
	if !ok {
		last, _ := st.Last()
		t.Fatalf("segment %d not published (last %+v)", seq, last)
	}
	if !bytes.Equal(s.Data, data) {
		t.Fatalf("segment %d: data %.20q, want %.20q", seq, s.Data, data)
	}
	if s.SHA256 != sha256.Sum256(data) {
		t.Fatalf("segment %d: wrong SHA-256", seq)
	}
	if s.Discontinuity != disc {
		t.Fatalf("segment %d: discontinuity %v, want %v", seq, s.Discontinuity, disc)
	}
}

func ingExpect(t *testing.T, in *Ingest, published, skipped, restarts uint64) {
	t.Helper()
	s := in.Stats()
	if s.Published != published || s.Skipped != skipped || s.Restarts != restarts {
		t.Fatalf("stats %+v, want published %d skipped %d restarts %d", s, published, skipped, restarts)
	}
}

// TestIngestDirScripted plays an encoder step by step in a directory.
func TestIngestDirScripted(t *testing.T) {
	dir := t.TempDir()
	st, err := NewStream("t", StreamConfig{})
	if err != nil {
		t.Fatal(err)
	}
	in, err := NewDirSource(dir, IngestConfig{Poll: ingPoll}, ingLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	run := ingStart(t, in, st)
	data := map[string][]byte{}
	seg := func(name string, n int) {
		data[name] = ingData(name, n)
		ingWrite(t, dir, name, data[name])
	}
	list := func(seq uint64, end bool, segs ...ingEntry) {
		ingWrite(t, dir, "index.m3u8", []byte(ingPlaylist(seq, end, segs...)))
	}

	t.Log("no playlist yet: wait, no error")
	ingWaitPolls(t, in, 3)
	ingExpect(t, in, 0, 0, 0)

	t.Log("a segment file that is not listed is not read")
	seg("seg0.ts", 1000)
	list(0, false)
	ingWaitPolls(t, in, 3)
	ingExpect(t, in, 0, 0, 0)

	t.Log("listed: published with its exact bytes; the next, unlisted, is not")
	seg("seg1.ts", 1100)
	list(0, false, ingList("seg0.ts")...)
	ingWaitPublished(t, in, 1)
	ingCheck(t, st, 0, data["seg0.ts"], false)
	ingWaitPolls(t, in, 3)
	ingExpect(t, in, 1, 0, 0)

	t.Log("sliding window")
	seg("seg2.ts", 1200)
	list(0, false, ingList("seg0.ts", "seg1.ts", "seg2.ts")...)
	ingWaitPublished(t, in, 3)
	seg("seg3.ts", 1300)
	list(1, false, ingList("seg1.ts", "seg2.ts", "seg3.ts")...)
	ingWaitPublished(t, in, 4)
	for i := range 4 {
		ingCheck(t, st, uint64(i), data[fmt.Sprintf("seg%d.ts", i)], false)
	}

	t.Log("a listed segment that is gone is skipped; the next one is a discontinuity")
	seg("seg4.ts", 1400)
	seg("seg5.ts", 1500)
	if err := os.Remove(filepath.Join(dir, "seg4.ts")); err != nil {
		t.Fatal(err)
	}
	list(2, false, ingList("seg2.ts", "seg3.ts", "seg4.ts", "seg5.ts")...)
	ingWaitPublished(t, in, 5)
	ingExpect(t, in, 5, 1, 0)
	ingCheck(t, st, 4, data["seg5.ts"], true)
	if e := in.Stats().LastError; !strings.Contains(e, "seg4.ts") {
		t.Fatalf("LastError %q does not name seg4.ts", e)
	}

	t.Log("half-written playlists: no crash, recovered at the next poll")
	seg("seg6.ts", 1600)
	full := ingPlaylist(3, false, ingList("seg3.ts", "seg4.ts", "seg5.ts", "seg6.ts")...)
	for _, bad := range []string{
		"",
		"#EXTM3U\n#EXT-X-TARGETDU\x00\x01garbage:::\n",
		full[:len(full)-2],                          // "seg6.t": mid-URI
		full[:strings.LastIndex(full, "#EXTINF")+5], // mid-tag
	} {
		if err := os.WriteFile(filepath.Join(dir, "index.m3u8"), []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		ingWaitPolls(t, in, 3)
		ingExpect(t, in, 5, 1, 0)
	}
	ingWrite(t, dir, "index.m3u8", []byte(full))
	ingWaitPublished(t, in, 6)
	ingCheck(t, st, 5, data["seg6.ts"], false)

	t.Log("encoder restart with new files: numbering goes on, discontinuity")
	seg("r0.ts", 2000)
	seg("r1.ts", 2100)
	list(0, false, ingList("r0.ts", "r1.ts")...)
	ingWaitPublished(t, in, 8)
	ingExpect(t, in, 8, 1, 1)
	ingCheck(t, st, 6, data["r0.ts"], true)
	ingCheck(t, st, 7, data["r1.ts"], false)

	t.Log("ENDLIST, then a restart that reuses the file names")
	seg("r2.ts", 2200)
	list(0, true, ingList("r0.ts", "r1.ts", "r2.ts")...)
	ingWaitPublished(t, in, 9)
	ingCheck(t, st, 8, data["r2.ts"], false)
	seg("r0.ts", 3000)
	list(0, false, ingList("r0.ts")...)
	ingWaitPublished(t, in, 10)
	ingExpect(t, in, 10, 1, 2)
	ingCheck(t, st, 9, data["r0.ts"], true)

	t.Log("a restart without ENDLIST that reuses names: the rewritten file tells")
	seg("r1.ts", 3100)
	list(0, false, ingList("r0.ts", "r1.ts")...)
	ingWaitPublished(t, in, 11)
	ingCheck(t, st, 10, data["r1.ts"], false)
	seg("r0.ts", 4000)
	list(0, false, ingList("r0.ts")...)
	ingWaitPublished(t, in, 12)
	ingExpect(t, in, 12, 1, 3)
	ingCheck(t, st, 11, data["r0.ts"], true)

	t.Log("a stale copy of an older playlist is ignored")
	seg("r1.ts", 4100)
	list(0, false, ingList("r0.ts", "r1.ts")...)
	ingWaitPublished(t, in, 13)
	list(0, false, ingList("r0.ts")...)
	ingWaitPolls(t, in, 3)
	ingExpect(t, in, 13, 1, 3)
	ingCheck(t, st, 12, data["r1.ts"], false)

	t.Log("a forward gap: what is listed is published, with a discontinuity")
	seg("g10.ts", 5000)
	seg("g11.ts", 5100)
	list(10, false, ingList("g10.ts", "g11.ts")...)
	ingWaitPublished(t, in, 15)
	ingExpect(t, in, 15, 1, 3)
	ingCheck(t, st, 13, data["g10.ts"], true)
	ingCheck(t, st, 14, data["g11.ts"], false)

	t.Log("a zero duration is skipped; EXT-X-DISCONTINUITY passes through")
	for _, n := range []string{"g12.ts", "g13.ts", "g14.ts", "g15.ts"} {
		seg(n, 6000)
	}
	list(11, false,
		ingEntry{uri: "g11.ts"}, ingEntry{uri: "g12.ts", zero: true}, ingEntry{uri: "g13.ts"},
		ingEntry{uri: "g14.ts", disc: true}, ingEntry{uri: "g15.ts"})
	ingWaitPublished(t, in, 18)
	ingExpect(t, in, 18, 2, 3)
	ingCheck(t, st, 15, data["g13.ts"], true)
	ingCheck(t, st, 16, data["g14.ts"], true)
	ingCheck(t, st, 17, data["g15.ts"], false)

	for seq := range uint64(18) {
		if s, ok := st.Segment(seq); !ok || s.Seq != seq {
			t.Fatalf("segment %d missing from the stream", seq)
		}
	}
	if err := run.stop(t); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v, want context.Canceled", err)
	}
}

func TestIngestDirFirstStart(t *testing.T) {
	pdt := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	var segs []ingEntry
	for i := range 8 {
		e := ingEntry{uri: fmt.Sprintf("s%d.ts", 100+i), dur: 2}
		if i == 0 {
			e.pdt = pdt.Format(time.RFC3339Nano)
		}
		segs = append(segs, e)
	}
	for _, withPDT := range []bool{true, false} {
		t.Run(fmt.Sprintf("pdt=%v", withPDT), func(t *testing.T) {
			dir := t.TempDir()
			if !withPDT {
				segs[0].pdt = ""
			}
			for _, s := range segs {
				ingWrite(t, dir, s.uri, ingData(s.uri, 500))
			}
			ingWrite(t, dir, "live.m3u8", []byte(ingPlaylist(100, false, segs...)))
			st, _ := NewStream("t", StreamConfig{Window: 3})
			in, err := NewDirSource(dir, IngestConfig{Playlist: "live.m3u8", Poll: ingPoll}, ingLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			before := time.Now()
			ingStart(t, in, st)
			ingWaitPublished(t, in, 3)
			ingWaitPolls(t, in, 2)
			ingExpect(t, in, 3, 0, 0)
			var prev *Segment
			for seq := uint64(105); seq <= 107; seq++ {
				ingCheck(t, st, seq, ingData(fmt.Sprintf("s%d.ts", seq), 500), false)
				s, _ := st.Segment(seq)
				if withPDT {
					if want := pdt.Add(time.Duration(seq-100) * 2 * time.Second); !s.ProgramTime.Equal(want) {
						t.Errorf("segment %d: program time %v, want %v", seq, s.ProgramTime, want)
					}
				} else if prev != nil && !s.ProgramTime.Equal(prev.ProgramTime.Add(2*time.Second)) {
					t.Errorf("segment %d starts at %v, %v after the previous", seq, s.ProgramTime, s.ProgramTime.Sub(prev.ProgramTime))
				}
				prev = s
			}
			if !withPDT {
				end := prev.ProgramTime.Add(2 * time.Second)
				if end.Before(before) || end.After(time.Now()) {
					t.Errorf("last segment ends at %v, want between %v and now", end, before)
				}
			}
		})
	}

	t.Run("stream not empty", func(t *testing.T) {
		dir := t.TempDir()
		st, _ := NewStream("t", StreamConfig{})
		if err := st.Publish(&Segment{Seq: 41, Duration: time.Second, Data: []byte("x")}); err != nil {
			t.Fatal(err)
		}
		ingWrite(t, dir, "a.ts", []byte("aaa"))
		ingWrite(t, dir, "index.m3u8", []byte(ingPlaylist(7, false, ingList("a.ts")...)))
		in, _ := NewDirSource(dir, IngestConfig{Poll: ingPoll}, ingLogger(t))
		ingStart(t, in, st)
		ingWaitPublished(t, in, 1)
		ingCheck(t, st, 42, []byte("aaa"), true)
	})
}

func TestIngestDirErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		dir, playlist string
	}{
		{filepath.Join(dir, "nope"), ""},
		{file, ""},
		{dir, "../index.m3u8"},
		{dir, "/etc/index.m3u8"},
	} {
		if _, err := NewDirSource(c.dir, IngestConfig{Playlist: c.playlist}, nil); !errors.Is(err, ErrBadIngestSource) {
			t.Errorf("NewDirSource(%q, %q) = %v, want ErrBadIngestSource", c.dir, c.playlist, err)
		}
	}

	t.Run("segment outside the directory", func(t *testing.T) {
		root := t.TempDir()
		sub := filepath.Join(root, "sub")
		if err := os.Mkdir(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		ingWrite(t, root, "secret.ts", []byte("secret"))
		ingWrite(t, sub, "ok.ts", []byte("ok"))
		ingWrite(t, sub, "index.m3u8", []byte(ingPlaylist(0, false, ingList("../secret.ts", "/etc/passwd", "ok.ts")...)))
		st, _ := NewStream("t", StreamConfig{})
		in, _ := NewDirSource(sub, IngestConfig{Poll: ingPoll}, ingLogger(t))
		ingStart(t, in, st)
		ingWaitPublished(t, in, 1)
		ingExpect(t, in, 1, 2, 0)
		ingCheck(t, st, 2, []byte("ok"), true)
	})

	t.Run("master playlist", func(t *testing.T) {
		d := t.TempDir()
		ingWrite(t, d, "index.m3u8", []byte("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nlow.m3u8\n"))
		st, _ := NewStream("t", StreamConfig{})
		in, _ := NewDirSource(d, IngestConfig{Poll: ingPoll}, ingLogger(t))
		r := ingStart(t, in, st)
		select {
		case <-r.done:
		case <-time.After(ingWait):
			t.Fatal("Run did not stop on a master playlist")
		}
		if !errors.Is(r.err, hls.ErrMasterPlaylist) {
			t.Fatalf("Run returned %v, want ErrMasterPlaylist", r.err)
		}
	})
}

// ingServer is a scripted HTTP encoder.
type ingServer struct {
	mu       sync.Mutex
	playlist string // "" answers 404
	segs     map[string][]byte
	fail     map[string]int // answers 503 this many times
	hang     map[string]int // hangs until the client gives up this many times
	hits     map[string]int
}

func (s *ingServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	p := r.URL.Path
	s.hits[p]++
	if s.fail[p] > 0 {
		s.fail[p]--
		s.mu.Unlock()
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	if s.hang[p] > 0 {
		s.hang[p]--
		s.mu.Unlock()
		<-r.Context().Done()
		return
	}
	var body []byte
	if p == "/live/index.m3u8" && s.playlist != "" {
		body = []byte(s.playlist)
	} else if d, ok := s.segs[p]; ok {
		body = d
	}
	s.mu.Unlock()
	if body == nil {
		http.NotFound(w, r)
		return
	}
	w.Write(body)
}

func (s *ingServer) set(f func(s *ingServer)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func TestIngestURL(t *testing.T) {
	es := &ingServer{segs: map[string][]byte{}, fail: map[string]int{}, hang: map[string]int{}, hits: map[string]int{}}
	srv := httptest.NewServer(es)
	defer srv.Close()
	for i := range 8 {
		es.segs[fmt.Sprintf("/live/s%d.ts", i)] = ingData(fmt.Sprintf("s%d", i), 1000+100*i)
	}
	es.segs["/live/s6.ts"] = ingData("s6", 5000) // over MaxSegmentBytes
	delete(es.segs, "/live/s3.ts")               // 404
	es.fail["/live/s2.ts"] = 1
	es.hang["/live/s5.ts"] = 1

	st, _ := NewStream("t", StreamConfig{})
	client := &http.Client{Timeout: 500 * time.Millisecond}
	cfg := IngestConfig{Poll: ingPoll, Client: client, MaxSegmentBytes: 4096}
	in, err := NewURLSource(srv.URL+"/live/index.m3u8", cfg, ingLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	run := ingStart(t, in, st)
	want := func(i int) []byte { return es.segs[fmt.Sprintf("/live/s%d.ts", i)] }

	t.Log("playlist 404: wait, no error")
	ingWaitPolls(t, in, 3)
	ingExpect(t, in, 0, 0, 0)
	if err := in.Run(context.Background(), st); !errors.Is(err, ErrIngestRunning) {
		t.Fatalf("second Run = %v, want ErrIngestRunning", err)
	}

	t.Log("relative and absolute-path URIs")
	es.set(func(s *ingServer) { s.playlist = ingPlaylist(0, false, ingList("s0.ts", "/live/s1.ts")...) })
	ingWaitPublished(t, in, 2)
	ingCheck(t, st, 0, want(0), false)
	ingCheck(t, st, 1, want(1), false)

	t.Log("503 once then fine; 404 skipped; absolute URL")
	es.set(func(s *ingServer) {
		s.playlist = ingPlaylist(0, false,
			ingList("s0.ts", "/live/s1.ts", "../live/s2.ts", "s3.ts", srv.URL+"/live/s4.ts")...)
	})
	ingWaitPublished(t, in, 4)
	ingExpect(t, in, 4, 1, 0)
	ingCheck(t, st, 2, want(2), false)
	ingCheck(t, st, 3, want(4), true)
	es.set(func(s *ingServer) {
		if s.hits["/live/s2.ts"] != 2 || s.hits["/live/s0.ts"] != 1 {
			t.Errorf("hits %v: want s2 fetched twice, s0 once", s.hits)
		}
	})

	t.Log("a timeout is retried; an oversized segment is skipped")
	es.set(func(s *ingServer) {
		s.playlist = ingPlaylist(3, false, ingList("s3.ts", "s4.ts", "s5.ts", "s6.ts", "s7.ts")...)
	})
	ingWaitPublished(t, in, 6)
	ingExpect(t, in, 6, 2, 0)
	ingCheck(t, st, 4, want(5), false)
	ingCheck(t, st, 5, want(7), true)
	es.set(func(s *ingServer) {
		if s.hits["/live/s5.ts"] != 2 {
			t.Errorf("s5 fetched %d times, want 2 (a timeout, then a retry)", s.hits["/live/s5.ts"])
		}
	})
	if e := in.Stats().LastError; !strings.Contains(e, "too large") || !strings.Contains(e, "s6.ts") {
		t.Errorf("LastError %q, want a too large s6.ts", e)
	}

	if err := run.stop(t); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v, want context.Canceled", err)
	}
}

func TestIngestURLRejectsNonHTTP(t *testing.T) {
	for _, u := range []string{
		"", "index.m3u8", "/live/index.m3u8", "file:///tmp/index.m3u8", "ftp://example.com/index.m3u8",
		"rtmp://127.0.0.1/live", "javascript:alert(1)", "http:///index.m3u8", "http://[::1",
	} {
		in, err := NewURLSource(u, IngestConfig{}, nil)
		if !errors.Is(err, ErrBadIngestSource) || in != nil {
			t.Errorf("NewURLSource(%q) = %v, %v; want ErrBadIngestSource", u, in, err)
		}
	}
	if _, err := NewURLSource("HTTPS://example.com/live/index.m3u8", IngestConfig{}, nil); err != nil {
		t.Errorf("https URL rejected: %v", err)
	}
}

func TestIngestPollInterval(t *testing.T) {
	for _, c := range []struct {
		poll, target, want time.Duration
	}{
		{0, 0, 500 * time.Millisecond},
		{0, time.Second, 500 * time.Millisecond},
		{0, 6 * time.Second, 2 * time.Second},
		{0, 100 * time.Millisecond, 100 * time.Millisecond},
		{30 * time.Millisecond, 6 * time.Second, 30 * time.Millisecond},
	} {
		r := &ingestRun{in: &Ingest{cfg: IngestConfig{Poll: c.poll}}, target: c.target}
		if got := r.interval(); got != c.want {
			t.Errorf("Poll %v, target %v: interval %v, want %v", c.poll, c.target, got, c.want)
		}
	}
}

// TestIngestFFmpeg ingests what a real ffmpeg hls muxer writes.
func TestIngestFFmpeg(t *testing.T) {
	bin, err := exec.LookPath("ffmpeg")
	if err != nil {
		testenv.SkipOrFail(t, "ffmpeg is not on PATH: "+err.Error())
	}
	dir := t.TempDir()
	st, err := NewStream("t", StreamConfig{})
	if err != nil {
		t.Fatal(err)
	}
	in, err := NewDirSource(dir, IngestConfig{Poll: ingPoll}, ingLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	run := ingStart(t, in, st)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel() // kills ffmpeg if it is still running
	cmd := exec.CommandContext(ctx, bin, "-hide_banner", "-loglevel", "error", "-nostdin",
		"-re", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25", "-f", "lavfi", "-i", "sine",
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-sc_threshold", "0", "-c:a", "aac", "-t", "6",
		"-f", "hls", "-hls_time", "1", "-hls_list_size", "4", "-hls_flags", "delete_segments+temp_file",
		filepath.Join(dir, "index.m3u8"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, stderr.Bytes())
	}
	ingWaitFor(t, "4 published segments", func() bool { return in.Stats().Published >= 4 })
	ingWaitPolls(t, in, 3) // the final playlist has been seen
	if err := run.stop(t); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v, want context.Canceled", err)
	}

	stats, ss := in.Stats(), st.Stats()
	t.Logf("ingest %+v, stream %+v", stats, ss)
	if stats.Published < 4 || ss.Published != stats.Published || stats.Restarts != 0 {
		t.Fatalf("ingest %+v, stream %+v: want at least 4 published and no restart", stats, ss)
	}
	first := ss.LastSeq + 1 - uint64(ss.Retained)
	for seq := first; seq <= ss.LastSeq; seq++ {
		s, ok := st.Segment(seq)
		if !ok || s.Seq != seq {
			t.Fatalf("segment %d missing: Seq not consecutive", seq)
		}
		if len(s.Data) == 0 || s.Data[0] != 0x47 || len(s.Data)%188 != 0 {
			t.Errorf("segment %d: %d bytes starting %#x, not MPEG-TS packets", seq, len(s.Data), s.Data[:min(1, len(s.Data))])
		}
		if s.SHA256 != sha256.Sum256(s.Data) {
			t.Errorf("segment %d: SHA256 does not match its data", seq)
		}
	}
}
