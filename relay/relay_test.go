package relay

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"fusioncast/internal/demomedia"
	"fusioncast/internal/hls"
	"fusioncast/internal/mcastpub"
	"fusioncast/internal/testenv"
	"fusioncast/multicast"
	"fusioncast/origin"
	"fusioncast/peer"
)

// testOrigin is the demo stream on loopback, and its multicast publisher
// once startMulticast is called.
type testOrigin struct {
	base  string
	st    *origin.Stream
	o     *origin.Origin
	mux   *http.ServeMux
	group string
	pub   ed25519.PublicKey
	key   ed25519.PrivateKey
}

func newTestOrigin(t *testing.T) *testOrigin {
	t.Helper()
	clips, err := origin.LoadClips(demomedia.FS(), "index.m3u8")
	if err != nil {
		t.Fatal(err)
	}
	demo, err := origin.NewDemo(clips, nil)
	if err != nil {
		t.Fatal(err)
	}
	to := &testOrigin{mux: http.NewServeMux(), group: fmt.Sprintf("239.255.%d.%d:%d", mrand.IntN(200)+20, mrand.IntN(250)+1, 20000+mrand.IntN(20000))}
	to.o = origin.New(origin.Config{Web: to.mux})
	if to.st, err = to.o.AddStream("demo", demo); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- to.o.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	to.base = "http://" + ln.Addr().String()
	if to.pub, to.key, err = ed25519.GenerateKey(rand.Reader); err != nil {
		t.Fatal(err)
	}
	return to
}

// startMulticast sends the stream to the group on lo until the returned
// function is called (or the test ends).
func (to *testOrigin) startMulticast(t *testing.T) (stop func()) {
	t.Helper()
	snd, err := multicast.NewSender(multicast.SenderConfig{Group: to.group, Interface: "lo", Source: "127.0.0.1", Rate: -1})
	if err != nil {
		testenv.SkipOrFail(t, "multicast on lo: "+err.Error())
	}
	pk, err := multicast.NewPacketizer(multicast.PacketizerConfig{Stream: "demo", Key: to.key})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := multicast.NewPublisher(multicast.PublisherConfig{Packetizer: pk, Send: snd.Send})
	if err != nil {
		t.Fatal(err)
	}
	to.mux.Handle("GET /mcast/demo/objects/", pub)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = mcastpub.Run(ctx, to.st, pub, nil)
		snd.Close()
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
	t.Cleanup(stop)
	return stop
}

// seeder records what a relay hands it.
type seeder struct {
	mu      sync.Mutex
	puts    map[uint32][32]byte
	windows int
	bad     int
}

func (s *seeder) SetPlaylist(w []peer.SegmentInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.windows++
}

func (s *seeder) Put(info peer.SegmentInfo, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sha256.Sum256(data) != info.SHA256 || int(info.Size) != len(data) {
		s.bad++
	}
	s.puts[info.Seq] = info.SHA256
	return nil
}

func startRelay(t *testing.T, to *testOrigin, silence time.Duration, sd Seeder) (*Relay, *httptest.Server) {
	t.Helper()
	r, err := New(Config{Stream: "demo", Origin: to.base, Group: to.group, Interface: "lo", PublicKey: to.pub,
		Silence: silence, Seeder: sd})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("relay: %v", err)
		}
	})
	srv := httptest.NewServer(r.Handler())
	t.Cleanup(srv.Close)
	return r, srv
}

func waitFor(t *testing.T, what string, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func get(t *testing.T, client *http.Client, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// The relay receives the demo by multicast on lo and serves the LAN the
// origin's playlist and segments with the origin's URLs, byte for byte,
// hands each segment to its seeder, and redirects to the origin what it
// does not hold.
func TestRelayServesMulticast(t *testing.T) {
	to := newTestOrigin(t)
	to.startMulticast(t)
	sd := &seeder{puts: map[uint32][32]byte{}}
	r, srv := startRelay(t, to, 0, sd)
	waitFor(t, "the relay holds 8 segments", 30*time.Second, func() bool { return r.Stats().Segments >= 8 })
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, body := get(t, noRedirect, srv.URL+"/live/demo/index.m3u8")
	if resp.StatusCode != 200 {
		t.Fatalf("playlist: %s", resp.Status)
	}
	pl, err := hls.ParseMedia(body)
	if err != nil {
		t.Fatal(err)
	}
	served := 0
	for _, sg := range pl.Segments {
		resp, b := get(t, noRedirect, srv.URL+"/live/demo/"+sg.URI)
		switch resp.StatusCode {
		case 200:
			if sha256.Sum256(b) != sg.SHA256 {
				t.Errorf("%s: the relay served other bytes than the playlist's", sg.URI)
			}
			served++
		case http.StatusFound:
			if loc := resp.Header.Get("Location"); loc != to.base+"/live/demo/"+sg.URI {
				t.Errorf("%s: redirected to %q", sg.URI, loc)
			}
		default:
			t.Errorf("%s: %s", sg.URI, resp.Status)
		}
	}
	if served < len(pl.Segments)-1 {
		t.Errorf("the relay served %d of the playlist's %d segments", served, len(pl.Segments))
	}
	if resp, _ := get(t, noRedirect, srv.URL+"/live/demo/1-0000000000000000.ts"); resp.StatusCode != http.StatusFound {
		t.Errorf("a segment the relay does not hold: %s, want a redirect to the origin", resp.Status)
	}
	st := r.Stats()
	rs := r.ReceiverStats()
	if st.Mode != "multicast" || st.SegmentsHTTP != 0 || st.SegmentsMcast < 8 || rs.Reassembler.Dropped[multicast.DropForged] != 0 {
		t.Errorf("stats %+v", st)
	}
	sd.mu.Lock()
	if len(sd.puts) < 8 || sd.windows == 0 || sd.bad != 0 {
		t.Errorf("seeder: %d segments, %d windows, %d bad", len(sd.puts), sd.windows, sd.bad)
	}
	sd.mu.Unlock()
	for _, path := range []string{"/", "/healthz", "/metrics", "/status.json"} {
		if resp, b := get(t, http.DefaultClient, srv.URL+path); resp.StatusCode != 200 || len(b) == 0 {
			t.Errorf("%s: %s", path, resp.Status)
		}
	}
	if _, m := get(t, http.DefaultClient, srv.URL+"/metrics"); !strings.Contains(string(m), `fusioncast_relay_segments_total{source="multicast",stream="demo"}`) {
		t.Error("metrics lack the relay's segments")
	}
}

// Without multicast the relay fetches the stream from the origin over
// HTTP (one copy), and goes back to multicast once the group carries the
// stream.
func TestRelayFallsBackToHTTP(t *testing.T) {
	to := newTestOrigin(t)
	sd := &seeder{puts: map[uint32][32]byte{}}
	r, srv := startRelay(t, to, time.Second, sd)
	waitFor(t, "the relay fetches 4 segments over HTTP", 30*time.Second, func() bool { return r.Stats().SegmentsHTTP >= 4 })
	if st := r.Stats(); st.Mode != "http" || st.Fallbacks != 1 {
		t.Errorf("without multicast: %+v", st)
	}
	if resp, _ := get(t, http.DefaultClient, srv.URL+"/live/demo/index.m3u8"); resp.StatusCode != 200 {
		t.Errorf("playlist in fallback: %s", resp.Status)
	}
	stop := to.startMulticast(t)
	waitFor(t, "the relay is back on multicast", 30*time.Second, func() bool {
		st := r.Stats()
		return st.Mode == "multicast" && st.SegmentsMcast >= 2
	})
	// Multicast stops again: back to HTTP.
	stop()
	before := r.Stats().Fallbacks
	waitFor(t, "the relay falls back again", 30*time.Second, func() bool { return r.Stats().Fallbacks > before })
	if st := r.Stats(); st.VerifyFailures != 0 || st.SeedErrors != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestNewErrors(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	for _, c := range []Config{
		{Origin: "http://o", Interface: "lo", PublicKey: pub},
		{Stream: "s", Origin: "http://o", PublicKey: pub},
		{Stream: "s", Origin: "http://o", Interface: "lo"},
		{Stream: "s", Origin: "ftp://o", Interface: "lo", PublicKey: pub},
		{Stream: "s", Origin: "http://o", Interface: "lo", PublicKey: pub, Window: -1},
	} {
		if _, err := New(c); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
}
