// SPDX-FileCopyrightText: 2026 The fusioncast developers
// SPDX-License-Identifier: MIT

package sctp

import (
	"bytes"
	"testing"
)

// appendTo writes exactly what marshal returns, for DATA and I-DATA chunks
// with every flag, and packet.marshal (which uses it, into pooled buffers)
// stays what it was: each chunk padded, the checksum zero or right.
// [fusioncast]
func TestAppendToMatchesMarshal(t *testing.T) {
	for _, idata := range []bool{false, true} {
		for flags := range 16 {
			for _, n := range []int{0, 1, 3, 1000, 1175} {
				c := &chunkPayloadData{
					tsn: 7, streamIdentifier: 3, streamSequenceNumber: 9, payloadType: PayloadTypeWebRTCBinary,
					endingFragment: flags&1 != 0, beginningFragment: flags&2 != 0, unordered: flags&4 != 0,
					immediateSack: flags&8 != 0, userData: bytes.Repeat([]byte{byte(n)}, n),
				}
				if idata {
					c.messageIdentifier, c.fragmentSequenceNumber = 11, 5
					c.iData = true
				}
				want, err := c.marshal()
				if err != nil {
					t.Fatal(err)
				}
				if got := c.appendTo([]byte{0xee}); !bytes.Equal(got[1:], want) || got[0] != 0xee {
					t.Fatalf("I-DATA %v flags %d, %d bytes: appendTo %x, marshal %x", idata, flags, n, got, want)
				}
			}
		}
	}
	SetPooledWrites(true)
	defer SetPooledWrites(false)
	for _, check := range []bool{false, true} {
		p := &packet{sourcePort: 5000, destinationPort: 5000, verificationTag: 42, chunks: []chunk{
			&chunkPayloadData{tsn: 1, userData: []byte{1, 2, 3}},
			&chunkPayloadData{tsn: 2, userData: []byte{4, 5, 6, 7, 8}},
		}}
		for range 3 { // pooled buffers come back dirty
			raw, err := p.marshal(check)
			if err != nil {
				t.Fatal(err)
			}
			var q packet
			if err := q.unmarshal(check, raw); err != nil {
				t.Fatalf("checksum %v: %v", check, err)
			}
			if !check && !bytes.Equal(raw[8:12], []byte{0, 0, 0, 0}) {
				t.Fatalf("checksum field %x without a checksum", raw[8:12])
			}
			if len(q.chunks) != 2 || len(raw)%4 != 0 {
				t.Fatalf("%d chunks, %d bytes", len(q.chunks), len(raw))
			}
			copy(raw, bytes.Repeat([]byte{0xff}, len(raw)))
			putRawBuffer(raw)
		}
	}
}
