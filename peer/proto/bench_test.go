package proto

import (
	"bytes"
	"fmt"
	"testing"
)

// DATA is the hot path: a segment of 2 s at 5 Mbit/s is about 1.2 MiB, 20
// DATA messages of 64 KiB or 80 of 16 KiB.

func BenchmarkParseData(b *testing.B) {
	for _, n := range []int{16 << 10, MaxPayload} {
		b.Run(fmt.Sprintf("%dKiB", n>>10), func(b *testing.B) {
			msg := Append(nil, Data{RequestID: 7, Offset: 1 << 20, Payload: bytes.Repeat([]byte{0x47}, n)})
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				m, err := Parse(msg)
				if err != nil || len(m.(Data).Payload) != n {
					b.Fatal(m, err)
				}
			}
		})
	}
}

func BenchmarkAppendData(b *testing.B) {
	for _, n := range []int{16 << 10, MaxPayload} {
		b.Run(fmt.Sprintf("%dKiB", n>>10), func(b *testing.B) {
			m := Data{RequestID: 7, Offset: 1 << 20, Payload: bytes.Repeat([]byte{0x47}, n)}
			buf := make([]byte, 0, MaxMessageLen)
			b.SetBytes(int64(DataHeaderLen + n))
			b.ReportAllocs()
			for b.Loop() {
				buf = Append(buf[:0], m)
			}
		})
	}
}

// BenchmarkParseHello reads a full HELLO (64 segments, 1053 bytes).
func BenchmarkParseHello(b *testing.B) {
	_, msg := fullHello()
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(msg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseSmall reads the small control messages.
func BenchmarkParseSmall(b *testing.B) {
	msgs := [][]byte{
		Append(nil, Have{Seq: docSeq, Size: docSize, Hash8: docHash}),
		Append(nil, Request{RequestID: 1, Seq: docSeq, Hash8: docHash, Length: docSize}),
		Append(nil, Ping{Nonce: 1}),
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, msg := range msgs {
			if _, err := Parse(msg); err != nil {
				b.Fatal(err)
			}
		}
	}
}
