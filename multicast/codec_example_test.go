package multicast_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"time"

	"fusioncast/multicast"
)

// The origin packetizes a segment; a receiver reassembles it although a
// tenth of the packets were lost on the way.
func Example() {
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	p, err := multicast.NewPacketizer(multicast.PacketizerConfig{Stream: "live1", Key: key})
	if err != nil {
		fmt.Println(err)
		return
	}
	r, err := multicast.NewReassembler(multicast.ReassemblerConfig{
		Stream:    "live1",
		PublicKey: pub,
		Deliver: func(obj multicast.Received) {
			fmt.Printf("%s %s: %d bytes via %v, %d symbols rebuilt\n", obj.Info.Kind, obj.Info.Name, len(obj.Data), obj.Via, obj.Rebuilt)
		},
		Repair: func(ctx context.Context, req multicast.RepairRequest) (multicast.RepairReply, error) {
			// Fetch req.Ranges of /live/live1/{req.Info.Name} from the origin.
			return multicast.RepairReply{}, fmt.Errorf("no origin in this example")
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	segment := multicast.Object{ID: 1000, Kind: multicast.KindSegment, Name: "897818139-74e5d0281b353606.ts", Data: make([]byte, 160_000)}
	pkts, err := p.Packetize(segment, time.Now(), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(pkts), "packets")
	for i, pkt := range pkts {
		if i%10 != 5 { // the network loses every tenth packet
			r.Add(pkt, time.Now())
		}
	}
	st := r.Stats()
	fmt.Println("lost", st.Lost, "delivered", st.Delivered)
	// Output:
	// 154 packets
	// segment 897818139-74e5d0281b353606.ts: 160000 bytes via fec, 12 symbols rebuilt
	// lost 15 delivered 1
}
