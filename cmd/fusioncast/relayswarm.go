package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"

	"github.com/prometheus/client_golang/prometheus"

	"fusioncast/peer"
	"fusioncast/peer/join"
	"fusioncast/peer/rtc"
	"fusioncast/tracker/wire"
)

// joinRelaySwarm starts a peer engine in relay mode (it serves, never
// downloads) in the stream's swarm through the tracker, as role relay of
// site, on one UDP port: the relay's seeder. Against a loopback tracker it
// uses lo only. It returns the engine (closed when done is closed and the
// caller closes it) and a collector of its counters.
func joinRelaySwarm(ctx context.Context, trackerURL, stream, site string, maxPeers int, logger *slog.Logger) (*peer.Engine, <-chan struct{}, prometheus.Collector, error) {
	tu, err := url.Parse(trackerURL)
	if err != nil || (tu.Scheme != "ws" && tu.Scheme != "wss") || tu.Host == "" {
		return nil, nil, nil, fmt.Errorf("--tracker %q is not a ws:// or wss:// URL", trackerURL)
	}
	ice := rtc.ICEConfig{}
	if ip := net.ParseIP(tu.Hostname()); ip != nil && ip.IsLoopback() || tu.Hostname() == "localhost" {
		ice = rtc.ICEConfig{Interfaces: []string{"lo"}, Loopback: true, ListenUDP: "127.0.0.1:0"}
	}
	e, done, err := join.Start(ctx, join.Config{
		TrackerURL: trackerURL,
		Stream:     stream,
		Engine:     peer.Config{NoDownload: true},
		Role:       wire.RoleRelay,
		Site:       site,
		MaxPeers:   maxPeers,
		ICE:        ice,
		Logger:     logger,
	})
	if err != nil {
		return nil, nil, nil, err
	}
	return e, done, engineCollector(stream, e), nil
}

// engineCollector reports a seeding engine's counters on the relay's
// /metrics.
func engineCollector(stream string, e *peer.Engine) prometheus.Collector {
	up := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "fusioncast_relay_swarm_upload_bytes_total", Help: "Segment bytes the relay sent to peers over WebRTC.",
		ConstLabels: prometheus.Labels{"stream": stream},
	}, func() float64 { return float64(e.Stats().BytesUp) })
	peers := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "fusioncast_relay_swarm_peers", Help: "Peers connected to the relay over WebRTC.",
		ConstLabels: prometheus.Labels{"stream": stream},
	}, func() float64 { return float64(e.Stats().Peers) })
	return collectorList{up, peers}
}

// collectorList is several collectors as one.
type collectorList []prometheus.Collector

func (l collectorList) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range l {
		c.Describe(ch)
	}
}

func (l collectorList) Collect(ch chan<- prometheus.Metric) {
	for _, c := range l {
		c.Collect(ch)
	}
}
