package multicast

import (
	"fmt"
	"testing"
)

// The codec's hot paths, for a 160 KB segment (2 s at 640 kbit/s): the
// origin packetizes it once per stream, each receiver reassembles it. Run
// with -cpu 1: the codec uses one goroutine per call.

const benchSegment = 160_000

// BenchmarkPacketize is the FEC encode: cutting, parity and signing.
func BenchmarkPacketize(b *testing.B) {
	for _, cfg := range []PacketizerConfig{{Overhead: 0.2}, {NoParity: true}} {
		b.Run(fmt.Sprintf("overhead=%v", cfg.Overhead), func(b *testing.B) {
			p := newCodecPacketizer(b, cfg)
			obj := codecObject(1, benchSegment)
			pkts := packetize(b, p, obj)
			b.SetBytes(benchSegment)
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if pkts, err = p.Packetize(obj, codecEpoch, pkts[:0]); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(pkts)), "packets/op")
		})
	}
}

// BenchmarkReassemble feeds one segment's packets to a fresh reassembler
// (a new one each time, as object ids cannot repeat): with no loss, and
// with every tenth packet lost, which Reed-Solomon rebuilds.
func BenchmarkReassemble(b *testing.B) {
	for _, c := range []struct {
		name string
		drop int // every drop-th packet is lost; 0 for none
	}{{"loss=0", 0}, {"loss=10%", 10}} {
		b.Run(c.name, func(b *testing.B) {
			p := newCodecPacketizer(b, PacketizerConfig{})
			obj := codecObject(1, benchSegment)
			var pkts [][]byte
			for i, pkt := range packetize(b, p, obj) {
				if c.drop == 0 || i%c.drop != c.drop/2 {
					pkts = append(pkts, pkt)
				}
			}
			delivered, rebuilt := 0, 0
			cfg := ReassemblerConfig{Stream: codecStream, PublicKey: codecPub, Deliver: func(r Received) {
				delivered++
				rebuilt = r.Rebuilt
			}}
			b.SetBytes(benchSegment)
			b.ReportAllocs()
			for b.Loop() {
				r, err := NewReassembler(cfg)
				if err != nil {
					b.Fatal(err)
				}
				addAll(r, pkts, codecEpoch)
			}
			if delivered != b.N {
				b.Fatalf("%d objects delivered of %d", delivered, b.N)
			}
			b.ReportMetric(float64(len(pkts)), "packets/op")
			b.ReportMetric(float64(rebuilt), "rebuilt/op")
		})
	}
}
