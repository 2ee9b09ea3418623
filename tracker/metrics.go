package tracker

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

type metrics struct {
	reg                       *prometheus.Registry
	conns, swarms, peers      prometheus.Gauge
	received, sent, announces prometheus.Counter
	offers, answers           prometheus.Counter
	slowDropped               prometheus.Counter
	refused                   *prometheus.CounterVec
}

func newMetrics(s *Server) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	g := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: "fusioncast_tracker_" + name, Help: help})
	}
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: "fusioncast_tracker_" + name, Help: help})
	}
	m.conns = g("connections", "Open websocket connections.")
	m.swarms = g("swarms", "Swarms (info hashes with at least one peer).")
	m.peers = g("peers", "Peers in all swarms.")
	m.received = c("messages_received_total", "Websocket text messages received.")
	m.sent = c("messages_sent_total", "Websocket messages written.")
	m.announces = c("announces_total", "Announces handled.")
	m.offers = c("offers_relayed_total", "WebRTC offers relayed to peers.")
	m.answers = c("answers_relayed_total", "WebRTC answers relayed back to offerers.")
	m.slowDropped = c("slow_peers_dropped_total", "Connections closed because their send queue was full.")
	m.refused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fusioncast_tracker_refusals_total",
		Help: "Requests and connections refused, by reason.",
	}, []string{"reason"})
	m.reg.MustRegister(m.conns, m.swarms, m.peers, m.received, m.sent, m.announces, m.offers, m.answers,
		m.slowDropped, m.refused, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
