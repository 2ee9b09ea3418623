package origin

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the origin's Prometheus collectors, registered in its own
// registry so that several origins can live in one process (tests).
type metrics struct {
	reg       *prometheus.Registry
	egress    *prometheus.CounterVec // stream, transport
	requests  *prometheus.CounterVec // kind, code
	open      prometheus.Gauge
	evicted   prometheus.CounterFunc
	rejected  prometheus.CounterFunc
	published *prometheus.CounterVec // stream
	// publishedBytes and segEgress give origin copies per segment over any
	// window: segEgress delta / publishedBytes delta.
	publishedBytes *prometheus.CounterVec // stream
	segEgress      *prometheus.CounterVec // stream
}

func newMetrics(lim func() *connLimiter) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.egress = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fusioncast_origin_egress_bytes_total",
		Help: "Body bytes the origin sent, by stream and transport.",
	}, []string{"stream", "transport"})
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fusioncast_origin_http_requests_total",
		Help: "HTTP requests answered, by kind (playlist, segment, page, other) and status code.",
	}, []string{"kind", "code"})
	m.open = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "fusioncast_origin_http_open_connections",
		Help: "HTTP connections open now.",
	})
	m.evicted = prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "fusioncast_origin_http_evicted_connections_total",
		Help: "Idle HTTP connections closed to make room for new ones at the connection cap.",
	}, func() float64 {
		if l := lim(); l != nil {
			return float64(l.evicted.Load())
		}
		return 0
	})
	m.rejected = prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "fusioncast_origin_http_rejected_connections_total",
		Help: "New HTTP connections closed at once because every open connection was busy at the cap.",
	}, func() float64 {
		if l := lim(); l != nil {
			return float64(l.rejected.Load())
		}
		return 0
	})
	m.published = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fusioncast_origin_segments_published_total",
		Help: "Segments published, by stream.",
	}, []string{"stream"})
	m.publishedBytes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fusioncast_origin_published_bytes_total",
		Help: "Bytes of the segments published, by stream.",
	}, []string{"stream"})
	m.segEgress = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fusioncast_origin_segment_egress_bytes_total",
		Help: "Segment bytes the origin sent over HTTP, by stream (the part of the egress that is segments).",
	}, []string{"stream"})
	m.reg.MustRegister(m.egress, m.requests, m.open, m.evicted, m.rejected, m.published, m.publishedBytes, m.segEgress,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
