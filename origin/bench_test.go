package origin

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkPublish measures what publishing one 160 KB segment costs the
// origin: digest, memory file, window upkeep and playlist rendering.
func BenchmarkPublish(b *testing.B) {
	st, err := NewStream("s", StreamConfig{})
	if err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 160_000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	seq := uint64(0)
	for b.Loop() {
		if err := st.Publish(&Segment{Seq: seq, Duration: 2 * time.Second, Data: data}); err != nil {
			b.Fatal(err)
		}
		seq++
	}
}

// BenchmarkServeSegmentHandler measures the handler alone (no network):
// routing, lookup, headers and a copy into a discarding writer.
func BenchmarkServeSegmentHandler(b *testing.B) {
	o := New(Config{Stream: StreamConfig{CopyResponses: true}})
	st, _ := o.AddStream("s", nil)
	if err := st.Publish(&Segment{Seq: 1, Duration: 2 * time.Second, Data: make([]byte, 160_000)}); err != nil {
		b.Fatal(err)
	}
	seg, _ := st.Segment(1)
	h := o.Handler()
	r := httptestRequest("GET", "/live/s/"+seg.Name())
	w := &discardWriter{h: make(map[string][]string)}
	b.SetBytes(int64(len(seg.Data)))
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, r)
	}
}

type discardWriter struct{ h map[string][]string }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}

func httptestRequest(method, target string) *http.Request {
	return httptest.NewRequest(method, target, nil)
}
