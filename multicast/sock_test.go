//go:build linux

package multicast

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"fusioncast/internal/testenv"
)

// The socket tests send only over the loopback interface, to groups in
// 239.255.0.0/16 (organisation-local scope) on ports the kernel picks. The
// outgoing interface is always set to lo, so nothing leaves the host.
const testIface = "lo"

// testGroup returns a random group in 239.255.0.0/16 with port 0, away from
// 239.255.255.250 (SSDP).
func testGroup() string {
	return fmt.Sprintf("239.255.%d.%d:0", rand.IntN(250), 1+rand.IntN(250))
}

var (
	loMulticastOnce sync.Once
	loMulticastErr  error
)

// requireLoopbackMulticast skips the test (or fails it where suites are
// required, see testenv) unless a datagram sent to a group over lo reaches
// a listener joined on lo.
func requireLoopbackMulticast(t *testing.T) {
	t.Helper()
	loMulticastOnce.Do(func() { loMulticastErr = probeLoopbackMulticast() })
	if loMulticastErr != nil {
		testenv.SkipOrFail(t, "multicast over lo: "+loMulticastErr.Error())
	}
}

func probeLoopbackMulticast() error {
	got := make(chan struct{}, 1)
	l, err := Listen(ListenerConfig{Group: testGroup(), Interface: testIface, Handler: func(*Datagram) {
		select {
		case got <- struct{}{}:
		default:
		}
	}})
	if err != nil {
		return err
	}
	defer l.Close()
	s, err := NewSender(SenderConfig{Group: l.Group().String(), Interface: testIface})
	if err != nil {
		return err
	}
	defer s.Close()
	deadline := time.After(2 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := s.Send([][]byte{[]byte("probe")}); err != nil {
			return err
		}
		select {
		case <-got:
			return nil
		case <-deadline:
			return errors.New("a datagram sent to a group on lo never arrived")
		case <-tick.C:
		}
	}
}

// requireLoopbackAddr skips the test unless this host can bind a ip.
func requireLoopbackAddr(t *testing.T, ip string) {
	t.Helper()
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(ip), 0)))
	if err != nil {
		testenv.SkipOrFail(t, fmt.Sprintf("cannot bind %s on lo: %v", ip, err))
		return
	}
	c.Close()
}

// collector gathers what a listener's handler receives.
type collector struct {
	mu   sync.Mutex
	got  map[string]int // payload -> times received
	from map[netip.AddrPort]int
	n    int
	more chan struct{} // signalled after each datagram
}

func newCollector() *collector {
	return &collector{got: make(map[string]int), from: make(map[netip.AddrPort]int), more: make(chan struct{}, 1)}
}

func (c *collector) handle(d *Datagram) {
	c.mu.Lock()
	c.got[string(d.Data)]++
	c.from[d.Source]++
	c.n++
	c.mu.Unlock()
	select {
	case c.more <- struct{}{}:
	default:
	}
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// waitFor waits until the collector holds n datagrams, then a little
// longer for any that should not come, or fails the test after timeout.
func (c *collector) waitFor(t *testing.T, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for c.count() < n {
		select {
		case <-c.more:
		case <-deadline:
			t.Fatalf("received %d datagrams in %v, want %d", c.count(), timeout, n)
		}
	}
	time.Sleep(50 * time.Millisecond)
}

// multiset counts packets by content.
func multiset(pkts [][]byte) map[string]int {
	m := make(map[string]int, len(pkts))
	for _, p := range pkts {
		m[string(p)]++
	}
	return m
}

// diffMultisets describes how got differs from want, or returns "".
func diffMultisets(got, want map[string]int) string {
	var missing, extra int
	for k, n := range want {
		if got[k] < n {
			missing += n - got[k]
		}
	}
	for k, n := range got {
		if n > want[k] {
			extra += n - want[k]
		}
	}
	if missing == 0 && extra == 0 {
		return ""
	}
	return fmt.Sprintf("%d missing, %d unexpected (duplicates or foreign)", missing, extra)
}

// makePackets returns objects of packets like the codec's: count packets per
// object of size bytes, the last of each object shorter, every packet
// distinct (tag, object and index in the first bytes).
func makePackets(tag string, objects, count, size int) [][][]byte {
	var objs [][][]byte
	for o := range objects {
		var pkts [][]byte
		for i := range count {
			n := size
			if i == count-1 {
				n = size/2 + o
			}
			p := make([]byte, n)
			for j := range p {
				p[j] = byte(j * 7)
			}
			copy(p, fmt.Sprintf("%s/%d/%d/", tag, o, i))
			pkts = append(pkts, p)
		}
		objs = append(objs, pkts)
	}
	return objs
}

func flatten(objs [][][]byte) [][]byte {
	var all [][]byte
	for _, o := range objs {
		all = append(all, o...)
	}
	return all
}

func TestSockParse(t *testing.T) {
	for _, tc := range []struct {
		group    string
		zeroPort bool
		ok       bool
	}{
		{"239.255.1.2:5004", false, true},
		{"224.0.0.251:5353", false, true},
		{"239.255.1.2:0", true, true},
		{"239.255.1.2:0", false, false},
		{"239.255.1.2", false, false},
		{"10.0.0.1:5004", false, false},
		{"127.0.0.1:5004", false, false},
		{"[ff02::1]:5004", false, false},
		{"[::ffff:239.255.1.2]:5004", false, false},
		{"group:5004", false, false},
		{"", false, false},
	} {
		_, err := parseGroup(tc.group, tc.zeroPort)
		if tc.ok && err != nil || !tc.ok && !errors.Is(err, ErrBadAddress) {
			t.Errorf("parseGroup(%q, %v) = %v, want ok=%v", tc.group, tc.zeroPort, err, tc.ok)
		}
	}
	for _, tc := range []struct {
		src      string
		withPort bool
		ok       bool
	}{
		{"", false, true},
		{"127.0.0.1", false, true},
		{"127.0.0.1", true, true},
		{"127.0.0.1:4000", true, true},
		{"0.0.0.0:4000", true, true},
		{"127.0.0.1:4000", false, false},
		{"0.0.0.0", false, false},
		{"239.1.1.1", false, false},
		{"::1", false, false},
		{"host", true, false},
	} {
		_, err := parseSource(tc.src, tc.withPort)
		if tc.ok && err != nil || !tc.ok && !errors.Is(err, ErrBadAddress) {
			t.Errorf("parseSource(%q, %v) = %v, want ok=%v", tc.src, tc.withPort, err, tc.ok)
		}
	}
}

func TestSockDropsFromOOB(t *testing.T) {
	if _, ok := dropsFromOOB(nil); ok {
		t.Error("drops found in no control data")
	}
	// A UDP_SEGMENT message is not a drop counter.
	b := putGSOCmsg(make([]byte, gsoCmsgSpace), 1316)
	if _, ok := dropsFromOOB(b); ok {
		t.Error("drops found in a UDP_SEGMENT control message")
	}
	if _, ok := dropsFromOOB(b[:12]); ok {
		t.Error("drops found in a cut control message")
	}
}
