package multicast

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// received makes a verified object as the reassembler delivers it.
func received(id uint32, kind Kind, name string, data []byte) Received {
	return Received{Info: Info{ID: id, Kind: kind, Size: uint32(len(data)), SHA256: sha256.Sum256(data), Name: name},
		Data: data, Via: ViaData}
}

func newTestReceiver(t *testing.T, cfg ReceiverConfig) *Receiver {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Stream, cfg.PublicKey = "rtest", pub
	r, err := newReceiver(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.closeRoot)
	return r
}

// folder returns the names and contents of the files in dir.
func folder(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		files[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// Segments are written under their names, at most Keep of them, the
// oldest ids deleted first; a segment older than all Keep kept is not
// written at all.
func TestReceiverKeepsNewestSegments(t *testing.T) {
	dir := t.TempDir()
	r := newTestReceiver(t, ReceiverConfig{Out: dir, Keep: 3})
	for _, id := range []uint32{10, 12, 11, 14, 13} { // completion order, not id order
		r.keep(received(id, KindSegment, fmt.Sprintf("%d.ts", id), []byte(fmt.Sprint("segment ", id))))
	}
	want := map[string]string{"12.ts": "segment 12", "13.ts": "segment 13", "14.ts": "segment 14"}
	if got := folder(t, dir); !mapsEqual(got, want) {
		t.Fatalf("folder %v, want %v", got, want)
	}
	r.keep(received(9, KindSegment, "9.ts", []byte("late")))
	if got := folder(t, dir); !mapsEqual(got, want) {
		t.Fatalf("after a late old segment: %v", got)
	}
	st := r.Stats()
	if st.Segments != 5 || st.Removed != 2 || st.Old != 1 || st.WriteErrors != 0 {
		t.Fatalf("stats %+v", st)
	}
	// Ids compare modulo 2^32: 0 and 1 come after 2^32-1.
	dir = t.TempDir()
	r = newTestReceiver(t, ReceiverConfig{Out: dir, Keep: 2})
	for _, id := range []uint32{1, 1<<32 - 2, 0, 1<<32 - 1} {
		r.keep(received(id, KindSegment, fmt.Sprintf("%d.ts", id), []byte("x")))
	}
	if got := folder(t, dir); !mapsEqual(got, map[string]string{"0.ts": "x", "1.ts": "x"}) {
		t.Fatalf("across the id wrap: %v", got)
	}
}

// An origin restart sends its window again under new ids: the same name
// written again must not be deleted as the old entry ages out.
func TestReceiverSameNameAgain(t *testing.T) {
	dir := t.TempDir()
	r := newTestReceiver(t, ReceiverConfig{Out: dir, Keep: 2})
	r.keep(received(1, KindSegment, "a.ts", []byte("a")))
	r.keep(received(2, KindSegment, "b.ts", []byte("b")))
	r.keep(received(100, KindSegment, "a.ts", []byte("a")))
	r.keep(received(101, KindSegment, "c.ts", []byte("c")))
	want := map[string]string{"a.ts": "a", "c.ts": "c"}
	if got := folder(t, dir); !mapsEqual(got, want) {
		t.Fatalf("folder %v, want %v", got, want)
	}
}

// Playlists complete in any order; only a newer one of the same name
// replaces the file.
func TestReceiverNewestPlaylist(t *testing.T) {
	dir := t.TempDir()
	var delivered []uint32
	r := newTestReceiver(t, ReceiverConfig{Out: dir, Deliver: func(obj Received) { delivered = append(delivered, obj.Info.ID) }})
	for _, id := range []uint32{5, 7, 6, 8, 3} {
		r.keep(received(id, KindPlaylist, "index.m3u8", []byte(fmt.Sprint("playlist ", id))))
	}
	r.keep(received(4, KindPlaylist, "other.m3u8", []byte("other 4")))
	want := map[string]string{"index.m3u8": "playlist 8", "other.m3u8": "other 4"}
	if got := folder(t, dir); !mapsEqual(got, want) {
		t.Fatalf("folder %v, want %v", got, want)
	}
	if !slices.Equal(delivered, []uint32{5, 7, 8, 4}) {
		t.Fatalf("delivered %v", delivered)
	}
	if st := r.Stats(); st.Playlists != 4 || st.Old != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// Names that would leave the folder are refused, also through a symbolic
// link inside it; names with a folder part are written below it.
func TestReceiverNamesStayInside(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "out")
	outside := filepath.Join(base, "outside")
	for _, d := range []string{dir, outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	r := newTestReceiver(t, ReceiverConfig{Out: dir})
	for _, name := range []string{"../escape.ts", "/abs.ts", "a/../../escape.ts", "link/escape.ts", "./x.ts", "a//b.ts", ""} {
		if err := r.writeFile(name, []byte("x")); err == nil {
			t.Errorf("%q: written", name)
		}
		r.keep(received(1, KindSegment, name, []byte("x")))
	}
	if n, _ := os.ReadDir(outside); len(n) != 0 {
		t.Fatalf("files outside the folder: %v", n)
	}
	if _, err := os.Stat(filepath.Join(base, "escape.ts")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("escape.ts beside the folder: %v", err)
	}
	if st := r.Stats(); st.WriteErrors != 7 || st.Segments != 0 {
		t.Fatalf("stats %+v", st)
	}
	r.keep(received(2, KindSegment, "sub/dir/s.ts", []byte("deep")))
	if b, err := os.ReadFile(filepath.Join(dir, "sub", "dir", "s.ts")); err != nil || string(b) != "deep" {
		t.Fatalf("sub/dir/s.ts: %q %v", b, err)
	}
}

// A file is replaced whole: a reader sees the old bytes or the new ones,
// and no temporary file stays behind.
func TestReceiverAtomicWrites(t *testing.T) {
	dir := t.TempDir()
	r := newTestReceiver(t, ReceiverConfig{Out: dir})
	a, b := bytes.Repeat([]byte("a"), 1<<20), bytes.Repeat([]byte("b"), 1<<20)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var bad error
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			got, err := os.ReadFile(filepath.Join(dir, "index.m3u8"))
			if err == nil && !bytes.Equal(got, a) && !bytes.Equal(got, b) {
				bad = fmt.Errorf("read %d bytes that are neither version", len(got))
				return
			}
		}
	})
	for id := range uint32(40) {
		data := a
		if id%2 == 1 {
			data = b
		}
		r.keep(received(id+1, KindPlaylist, "index.m3u8", data))
	}
	close(stop)
	wg.Wait()
	if bad != nil {
		t.Fatal(bad)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("folder holds %v", entries)
	}
}

func TestReceiverConfigErrors(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	file := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		cfg  ReceiverConfig
		want string
	}{
		{ReceiverConfig{PublicKey: pub, Out: t.TempDir()}, "stream"},
		{ReceiverConfig{Stream: "s", PublicKey: pub}, "folder or a Deliver"},
		{ReceiverConfig{Stream: "s", Out: t.TempDir()}, "public key"},
		{ReceiverConfig{Stream: "s", PublicKey: pub, Out: file}, "not a folder"},
		{ReceiverConfig{Stream: "s", PublicKey: pub, Out: filepath.Join(file, "x")}, "output folder"},
		{ReceiverConfig{Stream: "s", PublicKey: pub, Out: t.TempDir(), Keep: -1}, "keep"},
	} {
		_, err := NewReceiver(c.cfg)
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}
	_, err := NewReceiver(ReceiverConfig{Stream: "s", PublicKey: pub, Out: t.TempDir(), Group: testGroup()})
	if !errors.Is(err, ErrNoInterface) {
		t.Errorf("no interface: %v", err)
	}
}

// A receiver on lo gets a publisher's objects, one of them only through
// repair, writes them, and stops with its context.
func TestReceiverLoopback(t *testing.T) {
	requireLoopbackMulticast(t)
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	delivered := make(chan Received, 16)
	var p *Publisher // the repair endpoint's, set below
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { p.ServeHTTP(w, r) }))
	defer srv.Close()
	rcv, err := NewReceiver(ReceiverConfig{Group: testGroup(), Interface: testIface, Stream: "rtest", PublicKey: pub,
		Out: dir, Deliver: func(obj Received) { delivered <- obj }, Repair: HTTPRepair(srv.Client(), srv.URL+"/objects/", 0)})
	if err != nil {
		t.Fatal(err)
	}
	snd, err := NewSender(SenderConfig{Group: rcv.Group(), Interface: testIface})
	if err != nil {
		t.Fatal(err)
	}
	defer snd.Close()
	pk, err := NewPacketizer(PacketizerConfig{Stream: "rtest", Key: key})
	if err != nil {
		t.Fatal(err)
	}
	first := true // the first object loses every other symbol: too many for FEC
	p, err = NewPublisher(PublisherConfig{Packetizer: pk, Send: func(pkts [][]byte) error {
		if first {
			first = false
			var kept [][]byte
			for i, b := range pkts {
				var q Packet
				if q.Unmarshal(b) == nil && (q.Type == TypeInfo || i%2 == 0) {
					kept = append(kept, b)
				}
			}
			pkts = kept
		}
		return snd.Send(pkts)
	}})
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rcv.Run(ctx) }()
	objs := map[string][]byte{"1-a.ts": make([]byte, 100_000), "2-b.ts": make([]byte, 50_000), "index.m3u8": []byte("#EXTM3U\n")}
	for _, name := range []string{"1-a.ts", "2-b.ts", "index.m3u8"} {
		_, _ = rand.Read(objs[name][:min(len(objs[name]), 1000)])
		kind := KindSegment
		if strings.HasSuffix(name, ".m3u8") {
			kind = KindPlaylist
		}
		if _, err := p.Publish(kind, name, objs[name]); err != nil {
			t.Fatal(err)
		}
	}
	for range objs {
		select {
		case <-delivered:
		case <-time.After(20 * time.Second):
			t.Fatalf("stats %+v", rcv.Stats())
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := folder(t, dir)
	for name, data := range objs {
		if got[name] != string(data) {
			t.Errorf("%s: %d bytes, want %d", name, len(got[name]), len(data))
		}
	}
	st := rcv.Stats()
	if st.Reassembler.Repaired != 1 || st.Segments != 2 || st.Playlists != 1 || st.ReadBuffer == 0 || st.Listener.Packets == 0 {
		t.Errorf("stats %+v", st)
	}
	if err := rcv.Run(context.Background()); !errors.Is(err, ErrRunning) {
		t.Errorf("second Run: %v", err)
	}
	reg := prometheus.NewRegistry()
	if err := reg.Register(rcv.Collector()); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	for _, n := range []string{"fusioncast_mcast_files_written_total", "fusioncast_mcast_received_packets_total",
		"fusioncast_mcast_objects_total", "fusioncast_mcast_receive_buffer_bytes"} {
		if !slices.Contains(names, n) {
			t.Errorf("metrics lack %s", n)
		}
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
