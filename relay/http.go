package relay

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"fusioncast/multicast"
)

// Handler serves the LAN: the stream with the origin's URLs
// (/live/{stream}/index.m3u8 and its segments; anything the relay does not
// hold is redirected to the origin), a status page (/), its counters as
// JSON (/status.json), Prometheus metrics (/metrics) and /healthz (200
// while the relay has a playlist younger than three target durations).
// extra, if set, also serves /metrics (a seeder's collectors, say).
func (r *Relay) Handler(extra ...prometheus.Collector) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		r.collector(), multicast.Metrics(r.cfg.Stream, nil, nil,
			func() multicast.ListenerStats { return r.ReceiverStats().Listener },
			func() multicast.ReassemblerStats { return r.ReceiverStats().Reassembler }))
	for _, c := range extra {
		reg.MustRegister(c)
	}
	mux := http.NewServeMux()
	prefix := "/live/" + r.cfg.Stream + "/"
	mux.HandleFunc("GET "+prefix+"{name}", r.serveLive)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", r.serveHealth)
	mux.HandleFunc("GET /status.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(struct {
			Stats
			Receiver multicast.ReceiverStats `json:"receiver"`
		}{r.Stats(), r.ReceiverStats()})
	})
	mux.HandleFunc("GET /{$}", r.serveStatus)
	return mux
}

func (r *Relay) serveLive(w http.ResponseWriter, req *http.Request) {
	name := req.PathValue("name")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	if name == "index.m3u8" {
		body, target := r.currentPlaylist()
		if body == nil {
			r.redirect(w, req, name)
			return
		}
		r.count(func(s *Stats) { s.ServedPlaylists++ })
		w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
		w.Header().Set("Cache-Control", fmt.Sprintf("max-age=%d", max(int(target/time.Second)/2, 1)))
		http.ServeContent(w, req, "", time.Time{}, bytes.NewReader(body))
		return
	}
	data, ok := r.segmentBytes(name)
	if !ok {
		r.redirect(w, req, name)
		return
	}
	w.Header().Set("Content-Type", "video/mp2t")
	// A segment's name holds its digest: the same name is the same bytes.
	w.Header().Set("Cache-Control", "public, max-age=86400, immutable")
	if req.Header.Get("Range") == "" {
		r.count(func(s *Stats) { s.ServedBytes += int64(len(data)) })
	}
	http.ServeContent(w, req, "", time.Time{}, bytes.NewReader(data))
}

// redirect sends a request for something the relay does not hold to the
// origin.
func (r *Relay) redirect(w http.ResponseWriter, req *http.Request, name string) {
	r.count(func(s *Stats) { s.Redirects++ })
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, req, r.cfg.Origin+"/live/"+r.cfg.Stream+"/"+name, http.StatusFound)
}

func (r *Relay) serveHealth(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	body, target := r.currentPlaylist()
	s := r.Stats()
	age := time.Duration(s.SinceMulticastMS) * time.Millisecond
	if body == nil || (s.Mode == "multicast" && s.SinceMulticastMS >= 0 && age > 3*max(target, time.Second)) {
		http.Error(w, "no fresh playlist", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintf(w, "ok: %s, %d segments, last %d\n", s.Mode, s.Segments, s.LastSeq)
}

// serveStatus is a small human-readable page.
func (r *Relay) serveStatus(w http.ResponseWriter, _ *http.Request) {
	s := r.Stats()
	rs := r.ReceiverStats()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	var b strings.Builder
	fmt.Fprintf(&b, "<!doctype html><meta charset=utf-8><meta http-equiv=refresh content=2><title>fusioncast relay</title>")
	fmt.Fprintf(&b, "<h1>fusioncast relay: %s</h1><p>mode <b>%s</b>; playlist <a href=\"/live/%s/index.m3u8\">/live/%s/index.m3u8</a></p><table>",
		html.EscapeString(r.cfg.Stream), s.Mode, html.EscapeString(r.cfg.Stream), html.EscapeString(r.cfg.Stream))
	row := func(k string, v any) { fmt.Fprintf(&b, "<tr><th align=left>%s</th><td>%v</td></tr>", k, v) }
	row("multicast group", html.EscapeString(r.cfg.Group+" on "+r.cfg.Interface))
	row("since the last multicast object", fmt.Sprintf("%d ms", s.SinceMulticastMS))
	row("segments held / last", fmt.Sprintf("%d / %d", s.Segments, s.LastSeq))
	row("segments by multicast / by HTTP fallback", fmt.Sprintf("%d / %d", s.SegmentsMcast, s.SegmentsHTTP))
	row("multicast packets / lost", fmt.Sprintf("%d / %d", rs.Listener.Packets, rs.Reassembler.Lost))
	row("objects: whole / FEC / repaired", fmt.Sprintf("%d / %d / %d", rs.Reassembler.Complete, rs.Reassembler.FECObjects, rs.Reassembler.Repaired))
	row("forged packets", rs.Reassembler.Dropped[multicast.DropForged])
	row("fallbacks / rejoins", fmt.Sprintf("%d / %d", s.Fallbacks, s.Rejoins))
	row("served to the LAN over HTTP", fmt.Sprintf("%d bytes of segments, %d playlists, %d redirects", s.ServedBytes, s.ServedPlaylists, s.Redirects))
	b.WriteString("</table><p><a href=/metrics>metrics</a> · <a href=/status.json>status.json</a></p>")
	_, _ = w.Write([]byte(b.String()))
}

func (r *Relay) collector() prometheus.Collector { return &relayCollector{r} }

type relayCollector struct{ r *Relay }

var (
	dSegments = prometheus.NewDesc("fusioncast_relay_segments_total", "Segments the relay got, by source (multicast, http).", []string{"stream", "source"}, nil)
	dServed   = prometheus.NewDesc("fusioncast_relay_served_bytes_total", "Segment bytes served to the LAN over HTTP.", []string{"stream"}, nil)
	dRedirect = prometheus.NewDesc("fusioncast_relay_redirects_total", "LAN requests redirected to the origin.", []string{"stream"}, nil)
	dFallback = prometheus.NewDesc("fusioncast_relay_fallbacks_total", "Times multicast went silent and the relay fetched over HTTP.", []string{"stream"}, nil)
	dMode     = prometheus.NewDesc("fusioncast_relay_http_fallback", "1 while the relay fetches from the origin over HTTP, 0 on multicast.", []string{"stream"}, nil)
	dErrors   = prometheus.NewDesc("fusioncast_relay_errors_total", "Failed fallback fetches, segments failing verification, segments the seeder refused.", []string{"stream", "kind"}, nil)
)

func (c *relayCollector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }

func (c *relayCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.r.Stats()
	st := c.r.cfg.Stream
	ch <- prometheus.MustNewConstMetric(dSegments, prometheus.CounterValue, float64(s.SegmentsMcast), st, "multicast")
	ch <- prometheus.MustNewConstMetric(dSegments, prometheus.CounterValue, float64(s.SegmentsHTTP), st, "http")
	ch <- prometheus.MustNewConstMetric(dServed, prometheus.CounterValue, float64(s.ServedBytes), st)
	ch <- prometheus.MustNewConstMetric(dRedirect, prometheus.CounterValue, float64(s.Redirects), st)
	ch <- prometheus.MustNewConstMetric(dFallback, prometheus.CounterValue, float64(s.Fallbacks), st)
	mode := 0.0
	if s.Mode == "http" {
		mode = 1
	}
	ch <- prometheus.MustNewConstMetric(dMode, prometheus.GaugeValue, mode, st)
	ch <- prometheus.MustNewConstMetric(dErrors, prometheus.CounterValue, float64(s.HTTPErrors), st, "http")
	ch <- prometheus.MustNewConstMetric(dErrors, prometheus.CounterValue, float64(s.VerifyFailures), st, "verify")
	ch <- prometheus.MustNewConstMetric(dErrors, prometheus.CounterValue, float64(s.SeedErrors), st, "seed")
}
