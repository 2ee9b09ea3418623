//go:build linux

package multicast_test

import (
	"fmt"
	"log"

	"fusioncast/multicast"
)

// A relay joins the group for the origin's address only (SSM), and the
// origin sends an object's packets, paced to 100 Mbit/s. Everything stays on
// lo here; on a LAN both name the interface that faces it. (Not run as a
// test: the package's tests do the same with checks.)
func ExampleSender() {
	s, err := multicast.NewSender(multicast.SenderConfig{
		Group:     "232.1.2.3:5004",
		Interface: "lo",
		Source:    "127.0.0.1",
		Rate:      100_000_000,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	l, err := multicast.Listen(multicast.ListenerConfig{
		Group:     "232.1.2.3:5004",
		Interface: "lo",
		Source:    s.LocalAddr().Addr().String(),
		Handler: func(d *multicast.Datagram) {
			// d.Data is valid until the handler returns, which suits
			// Reassembler.Add(d.Data, d.Arrival): it never keeps a packet.
			fmt.Println(len(d.Data), "bytes from", d.Source)
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	fmt.Println("receive buffer granted:", l.ReadBuffer())

	packets := [][]byte{make([]byte, 1316), make([]byte, 1316), make([]byte, 700)}
	if err := s.Send(packets); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%+v via %v\n", s.Stats(), s.Path())
}
