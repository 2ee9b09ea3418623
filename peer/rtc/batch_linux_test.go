package rtc

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/logging"
)

// The batched socket delivers every datagram, in order per peer, whether
// the writes to two peers interleave or come in runs of one size (GSO),
// and reads datagrams back with their sources.
func TestBatchConn(t *testing.T) {
	raw := listenLoopbackUDP(t)
	b, err := newBatchConn(raw, logging.NewDefaultLoggerFactory().NewLogger("test"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Close() }()
	peers := []*net.UDPConn{listenLoopbackUDP(t), listenLoopbackUDP(t)}
	for _, p := range peers {
		defer p.Close()
	}
	to := func(i int) netip.AddrPort { return peers[i].LocalAddr().(*net.UDPAddr).AddrPort() }
	// 100 full-size datagrams to peer 0 in a run, then a short one; to
	// peer 1, datagrams of varying sizes interleaved with more to peer 0.
	want := [2][][]byte{}
	put := func(i, size int) {
		d := bytes.Repeat([]byte{byte(len(want[i]))}, size)
		d = append(d[:0], fmt.Sprintf("%d-%d", i, len(want[i]))...)
		d = d[:size]
		want[i] = append(want[i], d)
		if _, err := b.WriteToAddrPort(d, to(i)); err != nil {
			t.Fatal(err)
		}
	}
	for range 100 {
		put(0, 1200)
	}
	put(0, 300)
	for k := range 50 {
		put(1, 100+k)
		put(0, 1200)
	}
	for i, p := range peers {
		buf := make([]byte, 2000)
		for k, w := range want[i] {
			_ = p.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, from, err := p.ReadFromUDPAddrPort(buf)
			if err != nil {
				t.Fatalf("peer %d, datagram %d: %v", i, k, err)
			}
			if !bytes.Equal(buf[:n], w) || from != raw.LocalAddr().(*net.UDPAddr).AddrPort() {
				t.Fatalf("peer %d, datagram %d: %d bytes %q… from %s, want %d bytes %q…", i, k, n, buf[:min(n, 8)], from, len(w), w[:8])
			}
		}
	}
	// Reads: datagrams from both peers, in order per peer.
	for k := range 20 {
		if _, err := peers[k%2].WriteToUDPAddrPort([]byte{byte(k)}, raw.LocalAddr().(*net.UDPAddr).AddrPort()); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 100)
	for k := range 20 {
		_ = b.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, from, err := b.ReadFromAddrPort(buf)
		if err != nil || n != 1 || buf[0] != byte(k) || from != to(k%2) {
			t.Fatalf("read %d: %d bytes %v from %s, %v", k, n, buf[:n], from, err)
		}
	}
	_ = b.Close() // the sender has stopped: its fields can be read
	if !b.gso {
		t.Log("the kernel refuses UDP GSO here: datagrams went one by one")
	} else if b.gsoRun == 0 {
		t.Error("no GSO send for a run of 100 datagrams of one size")
	}
	t.Logf("GSO sends: %d", b.gsoRun)
}

// A peer connection's own socket with batched reads hands out every
// datagram of a burst larger than one batch, in order, with its source,
// and writes go out at once; pion's ICE takes it through the
// ice.AddrPortReaderWriter methods, not the promoted *net.UDPConn ones.
func TestReadBatchedConn(t *testing.T) {
	raw, peer := listenLoopbackUDP(t), listenLoopbackUDP(t)
	defer peer.Close()
	c := readBatched(raw)
	defer c.Close()
	if _, ok := c.(ice.AddrPortReaderWriter); !ok {
		t.Fatal("pion's ICE would not use the batched reads")
	}
	self := raw.LocalAddr().(*net.UDPAddr).AddrPort()
	from := peer.LocalAddr().(*net.UDPAddr).AddrPort()
	const burst = 3*connReadBatch + 5
	for k := range burst {
		if _, err := peer.WriteToUDPAddrPort([]byte{byte(k), byte(k >> 8)}, self); err != nil {
			t.Fatal(err)
		}
	}
	rw := c.(ice.AddrPortReaderWriter)
	buf := make([]byte, 100)
	for k := range burst {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, src, err := rw.ReadFromAddrPort(buf)
		if err != nil || n != 2 || buf[0] != byte(k) || buf[1] != byte(k>>8) || src != from {
			t.Fatalf("read %d: %d bytes %v from %s, %v", k, n, buf[:n], src, err)
		}
	}
	if _, err := rw.WriteToAddrPort([]byte("back"), from); err != nil {
		t.Fatal(err)
	}
	_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, src, err := peer.ReadFromUDPAddrPort(buf)
	if err != nil || string(buf[:n]) != "back" || src != self {
		t.Fatalf("write: peer read %q from %s, %v", buf[:n], src, err)
	}
}

// listenLoopbackUDP opens a UDP socket on 127.0.0.1 with 4 MiB buffers.
func listenLoopbackUDP(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	setSocketBuffers(c, 4<<20)
	return c
}
