package multicast

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestRandomLossFECAlone sends playlists of 1 to 3 symbols and segments
// through 5% random packet loss (a fixed seed) and checks that every
// object whose INFO got through completes by FEC alone: no block is weaker
// than the INFO's three copies. With one parity symbol per small block
// (a share of 20% alone) about 0.25 to 1.4% of the playlists failed.
func TestRandomLossFECAlone(t *testing.T) {
	p := newCodecPacketizer(t, PacketizerConfig{})
	delivered := 0
	r, err := NewReassembler(ReassemblerConfig{Stream: codecStream, PublicKey: codecPub,
		Deliver: func(Received) { delivered++ }})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 5))
	const loss = 0.05
	sizes := []int{1000, 1411, 2600, 3800} // playlists: K = 1, 2, 3, 3
	n := 1500
	if testing.Short() {
		n = 300
	}
	id, sent, infoLost := uint32(1), 0, 0
	send := func(size int) {
		obj := codecObject(id, size)
		obj.Name = fmt.Sprintf("%d.m3u8", id)
		id++
		infos := 0
		for _, b := range packetize(t, p, obj) {
			if rng.Float64() < loss {
				continue
			}
			var q Packet
			if q.Unmarshal(b) == nil && q.Type == TypeInfo {
				infos++
			}
			r.Add(b, codecEpoch)
		}
		sent++
		if infos == 0 {
			infoLost++
		}
	}
	for i := range n {
		send(sizes[i%len(sizes)])
		if i%20 == 0 {
			send(160_000)
		}
	}
	t.Logf("%d objects at %.0f%% loss: %d delivered by multicast, %d lost every INFO copy", sent, loss*100, delivered, infoLost)
	if delivered+infoLost < sent {
		t.Errorf("%d objects failed FEC", sent-delivered-infoLost)
	}
}
