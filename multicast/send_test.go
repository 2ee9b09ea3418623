//go:build linux

package multicast

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// TestSendListen sends objects on every send path, paced and not, and
// checks that a listener gets every packet exactly once.
func TestSendListen(t *testing.T) {
	requireLoopbackMulticast(t)
	for _, tc := range []struct {
		path    SendPath
		rate    int64
		channel bool
	}{
		{SendAuto, -1, false},
		{SendGSO, -1, false},
		{SendGSO, 200_000_000, true},
		{SendBatch, -1, true},
		{SendBatch, 200_000_000, false},
		{SendEach, -1, false},
	} {
		name := fmt.Sprintf("%v/rate=%d/channel=%v", tc.path, tc.rate, tc.channel)
		t.Run(name, func(t *testing.T) {
			c := newCollector()
			cfg := ListenerConfig{Group: testGroup(), Interface: testIface}
			if !tc.channel {
				cfg.Handler = c.handle
			}
			l, err := Listen(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			if tc.channel {
				go func() {
					for d := range l.Datagrams() {
						c.handle(&d)
						d.Release()
					}
				}()
			}
			s, err := NewSender(SenderConfig{Group: l.Group().String(), Interface: testIface, Path: tc.path, Rate: tc.rate, Batch: 16})
			if err != nil {
				if tc.path == SendGSO && errors.Is(err, ErrGSOUnsupported) {
					t.Skip(err)
				}
				t.Fatal(err)
			}
			defer s.Close()
			objs := makePackets("p", 6, 100, 1316)
			for _, o := range objs {
				if err := s.Send(o); err != nil {
					t.Fatal(err)
				}
			}
			all := flatten(objs)
			c.waitFor(t, len(all), 10*time.Second)
			c.mu.Lock()
			diff := diffMultisets(c.got, multiset(all))
			c.mu.Unlock()
			if diff != "" {
				t.Errorf("listener got %d datagrams: %s", c.count(), diff)
			}

			st := s.Stats()
			if st.Packets != uint64(len(all)) || st.Errors != 0 {
				t.Errorf("sender stats %+v, want %d packets and no error", st, len(all))
			}
			want := tc.path
			if want == SendAuto {
				want = s.Path() // GSO where the kernel has it
			}
			if s.Path() != want {
				t.Errorf("path %v, want %v", s.Path(), want)
			}
			switch want {
			case SendGSO:
				// 6 objects: 1316-byte runs of at most 49 (64 KiB), one
				// shorter packet ending each object's last run.
				if st.GSOSends < 6*3 {
					t.Errorf("%d GSO sends, want at least 18", st.GSOSends)
				}
			case SendBatch:
				if st.GSOSends != 0 || st.Batches < uint64(len(all)/16) || st.Batches >= uint64(len(all)) {
					t.Errorf("stats %+v: want batches of up to 16 without GSO", st)
				}
			case SendEach:
				if st.GSOSends != 0 || st.Batches != uint64(len(all)) {
					t.Errorf("stats %+v: want one system call per packet", st)
				}
			}
			ls := l.Stats()
			if ls.Packets != uint64(len(all)) || ls.KernelDrops != 0 || ls.Errors != 0 || ls.Reads == 0 {
				t.Errorf("listener stats %+v, want %d packets, no drops", ls, len(all))
			}
			t.Logf("path %v, sender %+v, listener %+v, receive buffer %d", s.Path(), st, ls, l.ReadBuffer())
		})
	}
}

// TestSendSourceAddr checks that the sender reports the source address its
// packets carry.
func TestSendSourceAddr(t *testing.T) {
	requireLoopbackMulticast(t)
	c := newCollector()
	l, err := Listen(ListenerConfig{Group: testGroup(), Interface: testIface, Handler: c.handle})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, src := range []string{"", "127.0.0.1"} {
		s, err := NewSender(SenderConfig{Group: l.Group().String(), Interface: testIface, Source: src})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Send([][]byte{[]byte("from " + src)}); err != nil {
			t.Fatal(err)
		}
		local := s.LocalAddr()
		s.Close()
		c.waitFor(t, 1, 5*time.Second)
		c.mu.Lock()
		if c.from[local] != 1 || len(c.from) != 1 {
			t.Errorf("source %q: sender says %v, listener saw %v", src, local, c.from)
		}
		if src != "" && local.Addr() != netip.MustParseAddr(src) {
			t.Errorf("source %q: sender says %v", src, local)
		}
		c.from, c.n = make(map[netip.AddrPort]int), 0
		c.mu.Unlock()
	}
}

// TestSendPacing checks the token bucket's promise on a real send: N bytes
// at rate R take at least (N-burst)/R. The upper side is only logged: this
// machine is noisy.
func TestSendPacing(t *testing.T) {
	requireLoopbackMulticast(t)
	const (
		rate  = 20_000_000 // bit/s
		burst = 32 << 10
	)
	s, err := NewSender(SenderConfig{Group: "239.255.77.1:9", Interface: testIface, Rate: rate, Burst: burst, NoLoopback: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pkts := flatten(makePackets("pace", 1, 380, 1316))
	n := 0
	for _, p := range pkts {
		n += len(p)
	}
	start := time.Now()
	if err := s.Send(pkts); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	least := time.Duration(float64(n-burst) * 8 / rate * float64(time.Second))
	ideal := time.Duration(float64(n) * 8 / rate * float64(time.Second))
	st := s.Stats()
	t.Logf("%d bytes at %d bit/s, burst %d: took %v (at least %v, ideally about %v); %d waits, %v asleep",
		n, rate, burst, took, least, ideal, st.PacingWaits, st.PacingDelay)
	if took < least-time.Millisecond {
		t.Errorf("sent %d bytes in %v, faster than the rate allows (%v)", n, took, least)
	}
	if st.PacingWaits == 0 {
		t.Error("no pacing wait")
	}
	if took > 20*ideal {
		t.Errorf("took %v, more than 20 times the ideal %v", took, ideal)
	}
}

func TestSendPacerTokenBucket(t *testing.T) {
	t0 := time.Unix(1000, 0)
	p := newPacer(8_000_000, 10_000, t0) // 1 MB/s, 10 kB bucket
	if d := p.reserve(6000, t0); d != 0 {
		t.Fatalf("first 6000 bytes wait %v, want 0 (full bucket)", d)
	}
	if d := p.reserve(4000, t0); d != 0 {
		t.Fatalf("next 4000 bytes wait %v, want 0", d)
	}
	d := p.reserve(5000, t0)
	if d < 5*time.Millisecond || d > 5*time.Millisecond+time.Microsecond {
		t.Fatalf("5000 bytes on an empty bucket wait %v, want 5 ms", d)
	}
	// Late by 3 ms: the extra tokens are kept.
	t1 := t0.Add(8 * time.Millisecond)
	if d := p.reserve(5000, t1); d != 0 {
		t.Fatalf("after the wait: %v", d)
	}
	if d := p.reserve(3000, t1); d != 0 {
		t.Fatalf("the 3 ms of late wake-up should have left 3000 bytes: wait %v", d)
	}
	// A long idle time fills the bucket, no more.
	t2 := t1.Add(time.Hour)
	if d := p.reserve(10_000, t2); d != 0 {
		t.Fatalf("full bucket: wait %v", d)
	}
	if d := p.reserve(1, t2); d == 0 {
		t.Fatal("the bucket held more than its burst")
	}
	// A request larger than the bucket waits for a full bucket, then leaves
	// it in debt: 50 kB cost 50 ms at 1 MB/s however the bucket is sized.
	if d := p.reserve(50_000, t2); d < 10*time.Millisecond || d > 11*time.Millisecond {
		t.Fatalf("oversized request waits %v, want 10 ms", d)
	}
	t3 := t2.Add(10 * time.Millisecond)
	if d := p.reserve(50_000, t3); d != 0 {
		t.Fatalf("oversized request on a full bucket waits %v", d)
	}
	if d := p.reserve(1, t3); d < 40*time.Millisecond || d > 41*time.Millisecond {
		t.Fatalf("after an oversized request: wait %v, want 40 ms", d)
	}
}

func TestSendGSORun(t *testing.T) {
	mk := func(sizes ...int) [][]byte {
		var p [][]byte
		for _, s := range sizes {
			p = append(p, make([]byte, s))
		}
		return p
	}
	rep := func(n, size int, tail ...int) [][]byte {
		var s []int
		for range n {
			s = append(s, size)
		}
		return mk(append(s, tail...)...)
	}
	for _, tc := range []struct {
		name    string
		pkts    [][]byte
		k, size int
	}{
		{"one", mk(100), 1, 100},
		{"equal", mk(100, 100, 100), 3, 100},
		{"shorter last", mk(100, 100, 40, 100), 3, 100},
		{"longer next", mk(100, 100, 140), 2, 100},
		{"two shorter", mk(100, 30, 30), 2, 100},
		{"64 KiB cap", rep(60, 1316), 49, 1316},
		{"64 KiB cap with tail", rep(48, 1316, 600), 49, 1316},
		{"segment cap", rep(100, 100), maxGSOSegments, 100},
		{"tail past the segment cap", rep(maxGSOSegments, 100, 50), maxGSOSegments, 100},
		{"huge", mk(60000, 60000), 1, 60000},
		{"tail past 64 KiB", mk(60000, 7000), 1, 60000},
	} {
		k, size := gsoRun(tc.pkts)
		if k != tc.k || size != tc.size {
			t.Errorf("%s: gsoRun = %d, %d; want %d, %d", tc.name, k, size, tc.k, tc.size)
		}
	}
}

func TestSendConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  SenderConfig
		want error
	}{
		{"no interface", SenderConfig{Group: "239.255.1.1:5004"}, ErrNoInterface},
		{"unknown interface", SenderConfig{Group: "239.255.1.1:5004", Interface: "fcnone0"}, ErrNoInterface},
		{"unicast group", SenderConfig{Group: "127.0.0.1:5004", Interface: testIface}, ErrBadAddress},
		{"IPv6 group", SenderConfig{Group: "[ff05::1]:5004", Interface: testIface}, ErrBadAddress},
		{"no port", SenderConfig{Group: "239.255.1.1", Interface: testIface}, ErrBadAddress},
		{"port 0", SenderConfig{Group: "239.255.1.1:0", Interface: testIface}, ErrBadAddress},
		{"multicast source", SenderConfig{Group: "239.255.1.1:5004", Interface: testIface, Source: "239.255.1.2"}, ErrBadAddress},
		{"TTL", SenderConfig{Group: "239.255.1.1:5004", Interface: testIface, TTL: 256}, ErrConfig},
		{"batch", SenderConfig{Group: "239.255.1.1:5004", Interface: testIface, Batch: 5000}, ErrConfig},
		{"burst", SenderConfig{Group: "239.255.1.1:5004", Interface: testIface, Burst: -1}, ErrConfig},
		{"path", SenderConfig{Group: "239.255.1.1:5004", Interface: testIface, Path: 9}, ErrConfig},
	} {
		s, err := NewSender(tc.cfg)
		if err == nil {
			s.Close()
		}
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		} else {
			t.Logf("%s: %v", tc.name, err)
		}
	}
}

func TestSendPacketSize(t *testing.T) {
	s, err := NewSender(SenderConfig{Group: "239.255.77.2:9", Interface: testIface, NoLoopback: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// lo's MTU is 65536: the limit is the largest IPv4 UDP payload.
	for _, pkts := range [][][]byte{{{}}, {[]byte("ok"), make([]byte, maxDatagram+1)}} {
		if err := s.Send(pkts); !errors.Is(err, ErrPacketSize) {
			t.Errorf("Send(%d packets, last %d bytes) = %v, want ErrPacketSize", len(pkts), len(pkts[len(pkts)-1]), err)
		}
	}
	if st := s.Stats(); st.Packets != 0 {
		t.Errorf("%d packets sent, want none", st.Packets)
	}
	if err := s.Send([][]byte{make([]byte, maxDatagram)}); err != nil {
		t.Errorf("largest datagram: %v", err)
	}
}

func TestSendClose(t *testing.T) {
	s, err := NewSender(SenderConfig{Group: "239.255.77.3:9", Interface: testIface, Rate: 1_000_000, NoLoopback: true})
	if err != nil {
		t.Fatal(err)
	}
	// 1 MB at 1 Mbit/s would take 8 s; Close must cut it short.
	errc := make(chan error, 1)
	go func() { errc <- s.Send(flatten(makePackets("close", 1, 800, 1316))) }()
	time.Sleep(50 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("Send during Close = %v, want ErrClosed", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Send still pacing 2 s after Close")
	}
	if err := s.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close = %v, want ErrClosed", err)
	}
	if err := s.Send([][]byte{[]byte("late")}); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after Close = %v, want ErrClosed", err)
	}
}
