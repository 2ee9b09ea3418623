//go:build linux

package multicast

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestListenGroupsSamePort has two listeners on one port, each joined to
// its own group. Go binds both sockets to 0.0.0.0:port, so without
// IP_MULTICAST_ALL=0 each would also get the other's group.
func TestListenGroupsSamePort(t *testing.T) {
	requireLoopbackMulticast(t)
	ca, cb := newCollector(), newCollector()
	la, err := Listen(ListenerConfig{Group: "239.255.81.1:0", Interface: testIface, Handler: ca.handle})
	if err != nil {
		t.Fatal(err)
	}
	defer la.Close()
	port := la.LocalAddr().Port()
	lb, err := Listen(ListenerConfig{Group: fmt.Sprintf("239.255.81.2:%d", port), Interface: testIface, Handler: cb.handle})
	if err != nil {
		t.Fatal(err)
	}
	defer lb.Close()
	if lb.LocalAddr().Port() != port {
		t.Fatalf("second listener on port %d, want %d", lb.LocalAddr().Port(), port)
	}
	for _, l := range []*Listener{la, lb} {
		rc, err := l.conn.SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var all int
		var gerr error
		if err := rc.Control(func(fd uintptr) {
			all, gerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MULTICAST_ALL)
		}); err != nil || gerr != nil {
			t.Fatal(err, gerr)
		}
		if all != 0 {
			t.Errorf("%v: IP_MULTICAST_ALL = %d, want 0", l.Group(), all)
		}
	}

	send := func(group netip.AddrPort, tag string) [][]byte {
		s, err := NewSender(SenderConfig{Group: group.String(), Interface: testIface, Rate: -1})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		pkts := flatten(makePackets(tag, 1, 50, 500))
		if err := s.Send(pkts); err != nil {
			t.Fatal(err)
		}
		return pkts
	}
	// B first: by the time A's packets are in, B's would have been too.
	pb := send(lb.Group(), "b")
	pa := send(la.Group(), "a")
	ca.waitFor(t, len(pa), 5*time.Second)
	cb.waitFor(t, len(pb), 5*time.Second)
	for _, c := range []struct {
		name string
		c    *collector
		want [][]byte
	}{{"A", ca, pa}, {"B", cb, pb}} {
		c.c.mu.Lock()
		if diff := diffMultisets(c.c.got, multiset(c.want)); diff != "" {
			t.Errorf("listener %s: %s", c.name, diff)
		}
		c.c.mu.Unlock()
	}
}

// TestListenSSM joins a group for one source and checks that a second
// sender, on another loopback address, reaches an any-source listener of
// the same group and port but not the source-specific one.
func TestListenSSM(t *testing.T) {
	requireLoopbackMulticast(t)
	requireLoopbackAddr(t, "127.0.0.2")
	cs, ca := newCollector(), newCollector()
	ls, err := Listen(ListenerConfig{Group: "239.255.82.1:0", Interface: testIface, Source: "127.0.0.1", Handler: cs.handle})
	if err != nil {
		t.Fatal(err)
	}
	defer ls.Close()
	la, err := Listen(ListenerConfig{Group: ls.Group().String(), Interface: testIface, Handler: ca.handle})
	if err != nil {
		t.Fatal(err)
	}
	defer la.Close()

	send := func(src, tag string) ([][]byte, netip.AddrPort) {
		s, err := NewSender(SenderConfig{Group: ls.Group().String(), Interface: testIface, Source: src})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		pkts := flatten(makePackets(tag, 1, 40, 700))
		if err := s.Send(pkts); err != nil {
			t.Fatal(err)
		}
		return pkts, s.LocalAddr()
	}
	other, otherAddr := send("127.0.0.2", "other")
	mine, myAddr := send("127.0.0.1", "mine")
	if otherAddr.Addr() == myAddr.Addr() {
		t.Fatalf("both senders on %v", myAddr.Addr())
	}
	cs.waitFor(t, len(mine), 5*time.Second)
	ca.waitFor(t, len(mine)+len(other), 5*time.Second)

	cs.mu.Lock()
	if diff := diffMultisets(cs.got, multiset(mine)); diff != "" {
		t.Errorf("SSM listener: %s", diff)
	}
	if len(cs.from) != 1 || cs.from[myAddr] != len(mine) {
		t.Errorf("SSM listener got datagrams from %v, want only %v", cs.from, myAddr)
	}
	cs.mu.Unlock()
	ca.mu.Lock()
	if diff := diffMultisets(ca.got, multiset(append(mine, other...))); diff != "" {
		t.Errorf("ASM listener: %s", diff)
	}
	ca.mu.Unlock()
}

// TestListenKernelDrops overflows a small receive buffer while the handler
// is stuck and checks that the kernel's drop count accounts for every
// packet that did not arrive.
func TestListenKernelDrops(t *testing.T) {
	requireLoopbackMulticast(t)
	c := newCollector()
	unblock := make(chan struct{})
	l, err := Listen(ListenerConfig{Group: testGroup(), Interface: testIface, ReadBuffer: 64 << 10, Batch: 8,
		Handler: func(d *Datagram) {
			<-unblock
			c.handle(d)
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	t.Logf("asked 64 KiB, granted %d", l.ReadBuffer())
	s, err := NewSender(SenderConfig{Group: l.Group().String(), Interface: testIface, Rate: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n = 1000
	if err := s.Send(flatten(makePackets("drop", 1, n, 1316))); err != nil {
		t.Fatal(err)
	}
	close(unblock)
	// The kernel reports the drop count with the next datagram it queues.
	time.Sleep(100 * time.Millisecond)
	if err := s.Send([][]byte{[]byte("last")}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := l.Stats()
		if st.Packets+st.KernelDrops == n+1 && st.KernelDrops > 0 {
			t.Logf("stats %+v", st)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v: want packets + kernel drops = %d, some drops", st, n+1)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestListenChannel checks channel delivery: the listener holds back when
// the reader keeps every buffer, and goes on when one is released.
func TestListenChannel(t *testing.T) {
	requireLoopbackMulticast(t)
	l, err := Listen(ListenerConfig{Group: testGroup(), Interface: testIface, Batch: 2, Buffers: 4, MaxDatagram: 100})
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSender(SenderConfig{Group: l.Group().String(), Interface: testIface, Rate: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pkts := [][]byte{[]byte("0"), make([]byte, 101), []byte("1"), []byte("2"), []byte("3"), []byte("4"), []byte("5")}
	if err := s.Send(pkts); err != nil {
		t.Fatal(err)
	}
	var held []Datagram
	timeout := time.After(5 * time.Second)
	for len(held) < 4 {
		select {
		case d := <-l.Datagrams():
			if len(d.Data) > 100 {
				t.Fatalf("got a %d-byte datagram past MaxDatagram 100", len(d.Data))
			}
			held = append(held, d)
		case <-timeout:
			t.Fatalf("got %d datagrams, want 4", len(held))
		}
	}
	select {
	case d := <-l.Datagrams():
		t.Fatalf("got %q with all 4 buffers held", d.Data)
	case <-time.After(100 * time.Millisecond):
	}
	var got []string
	for _, d := range held {
		got = append(got, string(d.Data))
	}
	held[0].Release()
	held[0].Release() // a second release does nothing
	select {
	case d := <-l.Datagrams():
		got = append(got, string(d.Data))
		d.Release()
	case <-time.After(5 * time.Second):
		t.Fatal("no datagram after a release")
	}
	if s := strings.Join(got, ","); s != "0,1,2,3,4" {
		t.Errorf("got %s, want 0,1,2,3,4", s)
	}
	if st := l.Stats(); st.Truncated != 1 {
		t.Errorf("stats %+v, want one truncated", st)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for range l.Datagrams() { // drains, then ends: Close closed it
	}
}

func TestListenClose(t *testing.T) {
	l, err := Listen(ListenerConfig{Group: testGroup(), Interface: testIface})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- l.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close of an idle listener took over 2 s")
	}
	if _, ok := <-l.Datagrams(); ok {
		t.Error("Datagrams not closed")
	}
	if err := l.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close = %v, want ErrClosed", err)
	}
}

func TestListenReadBuffer(t *testing.T) {
	l, err := Listen(ListenerConfig{Group: testGroup(), Interface: testIface})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	rmemMax, err := readSysctl("/proc/sys/net/core/rmem_max")
	t.Logf("asked %d, granted %d (net.core.rmem_max %d %v)", DefaultReadBuffer, l.ReadBuffer(), rmemMax, err)
	if l.ReadBuffer() <= 0 {
		t.Errorf("granted %d", l.ReadBuffer())
	}
	if unix.Geteuid() == 0 && l.ReadBuffer() < 2*DefaultReadBuffer {
		t.Errorf("as root, granted %d < 2 × asked %d: SO_RCVBUFFORCE did not work", l.ReadBuffer(), DefaultReadBuffer)
	}
}

func TestListenConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  ListenerConfig
		want error
	}{
		{"no interface", ListenerConfig{Group: "239.255.1.1:5004"}, ErrNoInterface},
		{"unknown interface", ListenerConfig{Group: "239.255.1.1:5004", Interface: "fcnone0"}, ErrNoInterface},
		{"unicast group", ListenerConfig{Group: "127.0.0.1:5004", Interface: testIface}, ErrBadAddress},
		{"IPv6 group", ListenerConfig{Group: "[ff05::1]:5004", Interface: testIface}, ErrBadAddress},
		{"multicast source", ListenerConfig{Group: "239.255.1.1:5004", Interface: testIface, Source: "239.255.1.2"}, ErrBadAddress},
		{"source with port", ListenerConfig{Group: "239.255.1.1:5004", Interface: testIface, Source: "127.0.0.1:5"}, ErrBadAddress},
		{"batch", ListenerConfig{Group: "239.255.1.1:5004", Interface: testIface, Batch: -1}, ErrConfig},
		{"max datagram", ListenerConfig{Group: "239.255.1.1:5004", Interface: testIface, MaxDatagram: 70000}, ErrConfig},
	} {
		l, err := Listen(tc.cfg)
		if err == nil {
			l.Close()
		}
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
}

// readSysctl reads one integer from a /proc/sys file.
func readSysctl(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	var n int
	_, err = fmt.Sscan(string(b), &n)
	return n, err
}
