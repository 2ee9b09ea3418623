//go:build linux

package multicast

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"runtime"
	"testing"
	"time"

	"fusioncast/internal/netns"
	"fusioncast/internal/testenv"
)

// BenchmarkPublishSegment measures what the origin does per segment: sign,
// packetize (FEC off, and 20% parity) and send a 160 KB segment, on one
// core, pacing off, to a group on lo with no listener (as
// BenchmarkSendPaths). The baseline packetizes the same way and sends with
// one WriteTo per packet. One op is one segment; Gbit/s counts the
// segment's bytes (the payload), not the headers and parity on the wire.
//
//	go test -run '^$' -bench PublishSegment -cpu 1 ./multicast/
func BenchmarkPublishSegment(b *testing.B) {
	if runtime.GOMAXPROCS(0) != 1 {
		b.Logf("GOMAXPROCS=%d: the figures are meant for one core (-cpu 1)", runtime.GOMAXPROCS(0))
	}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	var ns *netns.NS
	nsErr := netns.Available()
	if nsErr == nil {
		if ns, err = netns.New("fcmcast"); err != nil {
			b.Fatal(err)
		}
		defer ns.Close()
		if _, err := ns.IP(context.Background(), "link", "set", "dev", "lo", "gso_max_segs", "1"); err != nil {
			b.Fatal(err)
		}
	}
	segment := make([]byte, 160_000)
	_, _ = rand.Read(segment)
	for _, fec := range []string{"off", "0.2"} {
		var baseline float64 // segments/s of the writeto baseline with this FEC
		for _, path := range []string{"writeto", "batch", "gso-swseg"} {
			b.Run(fmt.Sprintf("fec=%s/%s", fec, path), func(b *testing.B) {
				var send func([][]byte) error
				switch path {
				case "writeto":
					send = plainWriteTo(b)
				case "batch":
					s, err := NewSender(benchSenderConfig(SendBatch))
					if err != nil {
						b.Fatal(err)
					}
					b.Cleanup(func() { s.Close() })
					send = s.Send
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
				}
				pk, err := NewPacketizer(PacketizerConfig{Stream: "bench", Key: key, NoParity: fec == "off"})
				if err != nil {
					b.Fatal(err)
				}
				var pkts [][]byte
				b.SetBytes(int64(len(segment)))
				b.ReportAllocs()
				b.ResetTimer()
				start := time.Now()
				for i := range b.N {
					obj := Object{ID: uint32(i), Kind: KindSegment, Name: "1-0123456789abcdef.ts", Data: segment}
					if pkts, err = pk.Packetize(obj, start, pkts[:0]); err != nil {
						b.Fatal(err)
					}
					if err := send(pkts); err != nil {
						b.Fatal(err)
					}
				}
				perS := float64(b.N) / time.Since(start).Seconds()
				b.StopTimer()
				b.ReportMetric(perS*float64(len(segment))*8/1e9, "Gbit/s")
				b.ReportMetric(float64(len(pkts)), "packets/segment")
				if path == "writeto" {
					baseline = perS
				} else if baseline > 0 {
					b.ReportMetric(perS/baseline, "x_writeto")
				}
			})
		}
	}
}
