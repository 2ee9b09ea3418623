package multicast

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// pubSetup is a publisher whose packets a test collects, its repair
// endpoint on an httptest server, and a reassembler that repairs from it.
type pubSetup struct {
	pub  *Publisher
	srv  *httptest.Server
	r    *Reassembler
	mu   sync.Mutex
	sent [][][]byte // packets of each object, copied
	got  map[string]Received
	done chan struct{}
}

func newPubSetup(t *testing.T, keep int) *pubSetup {
	t.Helper()
	pubKey, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := NewPacketizer(PacketizerConfig{Stream: "pubtest", Key: key})
	if err != nil {
		t.Fatal(err)
	}
	ps := &pubSetup{got: map[string]Received{}, done: make(chan struct{}, 64)}
	ps.pub, err = NewPublisher(PublisherConfig{Packetizer: pk, Keep: keep, Send: func(pkts [][]byte) error {
		var c [][]byte
		for _, p := range pkts {
			c = append(c, bytes.Clone(p))
		}
		ps.mu.Lock()
		ps.sent = append(ps.sent, c)
		ps.mu.Unlock()
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/mcast/pubtest/objects/", ps.pub)
	ps.srv = httptest.NewServer(mux)
	t.Cleanup(ps.srv.Close)
	ps.r, err = NewReassembler(ReassemblerConfig{
		Stream: "pubtest", PublicKey: pubKey, MaxAge: 300 * time.Millisecond, LastPacketWait: 50 * time.Millisecond,
		Tick: 20 * time.Millisecond,
		Deliver: func(obj Received) {
			ps.mu.Lock()
			ps.got[obj.Info.Name] = obj
			ps.mu.Unlock()
			ps.done <- struct{}{}
		},
		Repair: HTTPRepair(ps.srv.Client(), ps.srv.URL+"/mcast/pubtest/objects/", 4<<20),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan struct{})
	go func() {
		defer close(runDone)
		_ = ps.r.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-runDone
	})
	return ps
}

func (ps *pubSetup) wait(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-ps.done:
		case <-time.After(10 * time.Second):
			t.Fatalf("objects delivered: %d of %d", len(ps.got), n)
		}
	}
}

// A publisher's objects reach a reassembler through packets that lose
// too much for FEC (every other packet), and through none at all (the
// INFO copies lost too): the repair endpoint fills in the missing ranges,
// and the whole object with its signed INFO.
func TestPublisherRepair(t *testing.T) {
	ps := newPubSetup(t, 8)
	objs := map[string][]byte{"1-aaaa.ts": make([]byte, 160_000), "2-bbbb.ts": make([]byte, 90_000), "index.m3u8": []byte("#EXTM3U\n")}
	for _, b := range objs {
		_, _ = rand.Read(b)
	}
	for _, name := range []string{"1-aaaa.ts", "2-bbbb.ts", "index.m3u8"} {
		kind := KindSegment
		if name == "index.m3u8" {
			kind = KindPlaylist
		}
		if _, err := ps.pub.Publish(kind, name, objs[name]); err != nil {
			t.Fatal(err)
		}
	}
	ps.mu.Lock()
	sent := ps.sent
	ps.mu.Unlock()
	// Object 1 loses every other packet, object 2 all of them (its id is
	// known to exist once object 3 arrives), object 3 none.
	for i, p := range sent[0] {
		if i%2 == 0 {
			ps.r.Add(p, time.Now())
		}
	}
	for _, p := range sent[2] {
		ps.r.Add(p, time.Now())
	}
	ps.wait(t, 3)
	for name, want := range objs {
		got, ok := ps.got[name]
		if !ok || !bytes.Equal(got.Data, want) {
			t.Errorf("%s: delivered %v, %d bytes", name, ok, len(got.Data))
		}
	}
	if ps.got["1-aaaa.ts"].Via != ViaRepair || ps.got["2-bbbb.ts"].Via != ViaRepair || ps.got["index.m3u8"].Via != ViaData {
		t.Errorf("via %v, %v, %v", ps.got["1-aaaa.ts"].Via, ps.got["2-bbbb.ts"].Via, ps.got["index.m3u8"].Via)
	}
	if st := ps.pub.Stats(); st.Objects != 3 || st.RepairsOK != 2 || st.Bytes == 0 {
		t.Errorf("publisher stats %+v", st)
	}
	if st := ps.r.Stats(); st.Repaired != 2 || st.RepairFailures != 0 {
		t.Errorf("reassembler: %d repaired, %d repair failures", st.Repaired, st.RepairFailures)
	}
}

// The repair endpoint keeps the newest objects only, answers ranges, and
// refuses what is not an object id.
func TestPublisherEndpoint(t *testing.T) {
	ps := newPubSetup(t, 2)
	var ids []uint32
	for i := range 3 {
		id, err := ps.pub.Publish(KindSegment, fmt.Sprintf("%d-x.ts", i), bytes.Repeat([]byte{byte(i)}, 1000))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if ids[1] != ids[0]+1 || ids[2] != ids[1]+1 {
		t.Errorf("ids %v, want consecutive", ids)
	}
	get := func(path, rng string) (*http.Response, []byte) {
		req, _ := http.NewRequest(http.MethodGet, ps.srv.URL+path, nil)
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		resp, err := ps.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return resp, b.Bytes()
	}
	base := "/mcast/pubtest/objects/"
	if resp, _ := get(fmt.Sprint(base, ids[0]), ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("an object no longer kept: %s", resp.Status)
	}
	resp, b := get(fmt.Sprint(base, ids[2]), "bytes=10-19")
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(b, bytes.Repeat([]byte{2}, 10)) || resp.Header.Get(InfoHeader) == "" {
		t.Errorf("range of a kept object: %s, %d bytes, info %q", resp.Status, len(b), resp.Header.Get(InfoHeader))
	}
	if resp, _ := get(base+"x", ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("not an id: %s", resp.Status)
	}
	if _, err := ps.pub.Publish(KindSegment, "../escape.ts", []byte("x")); err == nil {
		t.Error("a bad name was published")
	}
	if id, _ := ps.pub.Publish(KindSegment, "3-x.ts", []byte("x")); id != ids[2]+1 {
		t.Errorf("after a refused object the next id is %d, want %d", id, ids[2]+1)
	}
}

// The collector reports a stream's counters as they are when scraped.
func TestMetrics(t *testing.T) {
	ps := newPubSetup(t, 8)
	if _, err := ps.pub.Publish(KindPlaylist, "index.m3u8", []byte("#EXTM3U\n")); err != nil {
		t.Fatal(err)
	}
	ps.mu.Lock()
	sent := ps.sent[0]
	ps.mu.Unlock()
	for _, p := range sent { // Add delivers at once, and Deliver takes ps.mu
		ps.r.Add(p, time.Now())
	}
	ps.wait(t, 1)
	reg := prometheus.NewRegistry()
	reg.MustRegister(Metrics("pubtest", nil, ps.pub.Stats, nil, ps.r.Stats))
	var out strings.Builder
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			fmt.Fprintf(&out, "%s{%s} %g\n", mf.GetName(), strings.Join(labels, ","), v)
		}
	}
	for _, want := range []string{
		"fusioncast_mcast_objects_sent_total{stream=pubtest} 1",
		"fusioncast_mcast_objects_total{stream=pubtest,via=data} 1",
		"fusioncast_mcast_dropped_packets_total{reason=forged,stream=pubtest} 0",
		"fusioncast_mcast_repair_requests_total{result=ok,stream=pubtest} 0",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("metrics lack %s:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "sent_packets_total") {
		t.Error("sender metrics without a sender")
	}
}
