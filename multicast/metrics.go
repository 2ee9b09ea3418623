package multicast

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics returns a Prometheus statsCollector of a stream's multicast counters,
// read from the stats functions given (nil ones are left out) each time
// it is scraped: the sender side (a [Sender] and a [Publisher]) in an
// origin, the receiver side (a [Listener] and a [Reassembler]) in a
// receiver or a relay. Every metric has the label stream.
func Metrics(stream string, sender func() SenderStats, pub func() PublisherStats, listener func() ListenerStats, reasm func() ReassemblerStats) prometheus.Collector {
	return &statsCollector{stream: stream, sender: sender, pub: pub, listener: listener, reasm: reasm}
}

type statsCollector struct {
	stream   string
	sender   func() SenderStats
	pub      func() PublisherStats
	listener func() ListenerStats
	reasm    func() ReassemblerStats
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("fusioncast_mcast_"+name, help, append([]string{"stream"}, labels...), nil)
}

var (
	dSentPackets   = desc("sent_packets_total", "Datagrams the kernel accepted for the group.")
	dSentBytes     = desc("sent_bytes_total", "UDP payload bytes sent to the group.")
	dSendCalls     = desc("send_syscalls_total", "System calls that sent them (sendmmsg, or one write per packet).")
	dGSOSends      = desc("gso_sends_total", "Messages sent with UDP GSO, each carrying several datagrams.")
	dSendErrors    = desc("send_errors_total", "Failed send system calls.")
	dPacingWaits   = desc("pacing_waits_total", "Times the sender slept to hold its rate.")
	dObjectsSent   = desc("objects_sent_total", "Objects (segments and playlists) published.")
	dRepairServed  = desc("repair_requests_total", "Repair requests the publisher answered, by result (ok, gone).", "result")
	dRecvPackets   = desc("received_packets_total", "Datagrams received from the group.")
	dRecvBytes     = desc("received_bytes_total", "Their payload bytes.")
	dKernelDrops   = desc("kernel_drops_total", "Datagrams the kernel dropped for the socket (receive buffer full).")
	dTruncated     = desc("truncated_total", "Datagrams longer than the listener's buffers, dropped.")
	dDropped       = desc("dropped_packets_total", "Packets the reassembler dropped, by reason (forged, stale, malformed ones, ...).", "reason")
	dLost          = desc("lost_packets_total", "Packets missing from the RTP sequence numbers.")
	dObjects       = desc("objects_total", "Objects delivered, by how: data (every data symbol arrived), fec (some rebuilt), repair.", "via")
	dFECSymbols    = desc("fec_symbols_total", "Data symbols rebuilt by Reed-Solomon.")
	dRepairs       = desc("repairs_total", "Repairs asked of the origin.")
	dRepairFails   = desc("repair_failures_total", "Repairs that did not deliver their object.")
	dCorrupt       = desc("corrupt_objects_total", "Objects whose bytes did not match their signed digest (sent to repair).")
	dEvicted       = desc("evicted_objects_total", "Objects evicted to keep reassembly within its bounds.")
	dInFlight      = desc("objects_in_flight", "Objects being reassembled.")
	dInFlightBytes = desc("bytes_in_flight", "Bytes held by reassembly.")
)

func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	prometheus.DescribeByCollect(c, ch)
}

func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), append([]string{c.stream}, labels...)...)
	}
	gauge := func(d *prometheus.Desc, v int) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), c.stream)
	}
	if c.sender != nil {
		s := c.sender()
		counter(dSentPackets, s.Packets)
		counter(dSentBytes, s.Bytes)
		counter(dSendCalls, s.Batches)
		counter(dGSOSends, s.GSOSends)
		counter(dSendErrors, s.Errors)
		counter(dPacingWaits, s.PacingWaits)
	}
	if c.pub != nil {
		s := c.pub()
		counter(dObjectsSent, uint64(s.Objects))
		counter(dRepairServed, uint64(s.RepairsOK), "ok")
		counter(dRepairServed, uint64(s.RepairsGone), "gone")
	}
	if c.listener != nil {
		s := c.listener()
		counter(dRecvPackets, s.Packets)
		counter(dRecvBytes, s.Bytes)
		counter(dKernelDrops, s.KernelDrops)
		counter(dTruncated, s.Truncated)
	}
	if c.reasm != nil {
		s := c.reasm()
		for r, n := range s.Dropped {
			counter(dDropped, n, DropReason(r).String())
		}
		counter(dLost, s.Lost)
		counter(dObjects, s.Complete, "data")
		counter(dObjects, s.FECObjects, "fec")
		counter(dObjects, s.Repaired, "repair")
		counter(dFECSymbols, s.FECSymbols)
		counter(dRepairs, s.Repairs)
		counter(dRepairFails, s.RepairFailures)
		counter(dCorrupt, s.Corrupt)
		counter(dEvicted, s.Evicted)
		gauge(dInFlight, s.InFlight)
		gauge(dInFlightBytes, s.InFlightBytes)
	}
}
