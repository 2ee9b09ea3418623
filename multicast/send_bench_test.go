//go:build linux

package multicast

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"golang.org/x/net/ipv4"

	"fusioncast/internal/netns"
	"fusioncast/internal/testenv"
)

// benchObject is how many packets one Send carries in the benchmarks: about
// one 160 KB segment with its FEC.
const benchObject = 128

// BenchmarkSendPaths measures a sender's payload throughput on each send
// path, side by side, with pacing off, to a group on lo with no listener
// and loopback off (so the kernel does no local delivery: the figure is the
// sender's own cost). One op is one packet. Run it on one core:
//
//	go test -run '^$' -bench SendPaths -cpu 1 ./multicast/
//
// The paths:
//
//   - writeto: the baseline, a plain unconnected UDP socket and one
//     WriteToUDPAddrPort per packet;
//   - each: the Sender's per-packet path (write(2) on its connected socket);
//   - batch: sendmmsg of 64 packets;
//   - gso: UDP GSO on the host's lo. lo accepts 64 KiB GSO packets whole
//     and, with no listener, drops them whole: nothing is ever cut into
//     datagrams, so this is an upper bound;
//   - gso-swseg: UDP GSO in a throwaway network namespace whose lo has
//     gso_max_segs 1, which makes the kernel segment every GSO packet in
//     software before the device: the cost a sender pays on a network card
//     without UDP segmentation offload. Needs root (it skips otherwise).
//
// Each result reports Gbit/s and Mpps of UDP payload and, when the writeto
// baseline of the same size ran before it, the ratio to it.
func BenchmarkSendPaths(b *testing.B) {
	if runtime.GOMAXPROCS(0) != 1 {
		b.Logf("GOMAXPROCS=%d: the figures are meant for one core (-cpu 1)", runtime.GOMAXPROCS(0))
	}
	var ns *netns.NS
	nsErr := netns.Available()
	if nsErr == nil {
		var err error
		if ns, err = netns.New("fcmcast"); err != nil {
			b.Fatal(err)
		}
		defer ns.Close()
		// lo in the namespace cuts GSO packets in software: see above.
		if _, err := ns.IP(context.Background(), "link", "set", "dev", "lo", "gso_max_segs", "1"); err != nil {
			b.Fatal(err)
		}
	}
	baseline := make(map[int]float64) // packet size -> baseline packets/s
	for _, size := range []int{1316, 1400} {
		pkts := make([][]byte, benchObject)
		for i := range pkts {
			pkts[i] = make([]byte, size)
			pkts[i][0] = byte(i)
		}
		for _, path := range []string{"writeto", "each", "batch", "gso", "gso-swseg"} {
			b.Run(fmt.Sprintf("size=%d/%s", size, path), func(b *testing.B) {
				var send func([][]byte) error
				switch path {
				case "writeto":
					send = plainWriteTo(b)
				case "gso-swseg":
					if nsErr != nil {
						testenv.SkipOrFail(b, "network namespaces: "+nsErr.Error())
					}
					var s *Sender
					if err := ns.Do(func() (err error) {
						s, err = NewSender(benchSenderConfig(SendGSO))
						return err
					}); err != nil {
						b.Fatal(err)
					}
					b.Cleanup(func() { s.Close() })
					send = s.Send
				default:
					p := map[string]SendPath{"each": SendEach, "batch": SendBatch, "gso": SendGSO}[path]
					s, err := NewSender(benchSenderConfig(p))
					if err != nil {
						b.Fatal(err)
					}
					b.Cleanup(func() { s.Close() })
					send = s.Send
				}
				b.SetBytes(int64(size))
				b.ReportAllocs()
				b.ResetTimer()
				start := time.Now()
				for sent := 0; sent < b.N; {
					n := min(b.N-sent, benchObject)
					if err := send(pkts[:n]); err != nil {
						b.Fatal(err)
					}
					sent += n
				}
				elapsed := time.Since(start).Seconds()
				b.StopTimer()
				pps := float64(b.N) / elapsed
				b.ReportMetric(pps*float64(size)*8/1e9, "Gbit/s")
				b.ReportMetric(pps/1e6, "Mpps")
				if path == "writeto" {
					baseline[size] = pps
				} else if base := baseline[size]; base > 0 {
					b.ReportMetric(pps/base, "x_writeto")
				}
			})
		}
	}
}

// benchSenderConfig is an unpaced sender to a group on lo whose packets are
// not looped back. The source is 127.0.0.1: in a namespace whose only
// address is on lo, routing would find no source address of its own.
func benchSenderConfig(p SendPath) SenderConfig {
	return SenderConfig{
		Group:      "239.255.99.1:5004",
		Interface:  testIface,
		Source:     "127.0.0.1",
		NoLoopback: true,
		Rate:       -1,
		Path:       p,
	}
}

// plainWriteTo returns the baseline: what a Go program does without this
// package, one WriteTo per packet on an unconnected socket with the
// multicast interface set to lo.
func plainWriteTo(b *testing.B) func([][]byte) error {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	lo, err := net.InterfaceByName(testIface)
	if err != nil {
		b.Fatal(err)
	}
	p := ipv4.NewPacketConn(c)
	if err := p.SetMulticastInterface(lo); err != nil {
		b.Fatal(err)
	}
	if err := p.SetMulticastLoopback(false); err != nil {
		b.Fatal(err)
	}
	if err := p.SetMulticastTTL(1); err != nil {
		b.Fatal(err)
	}
	dst := netip.MustParseAddrPort("239.255.99.1:5004")
	return func(pkts [][]byte) error {
		for _, pkt := range pkts {
			if _, err := c.WriteToUDPAddrPort(pkt, dst); err != nil {
				return err
			}
		}
		return nil
	}
}
