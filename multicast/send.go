package multicast

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/ipv4"
)

// Sender defaults.
const (
	// DefaultRate is a [Sender]'s pacing rate when [SenderConfig.Rate] is
	// zero: 100 Mbit/s, ten times a 10 Mbit/s stream with its FEC.
	DefaultRate = 100_000_000
	// DefaultSendBatch is the number of messages per sendmmsg when
	// [SenderConfig.Batch] is zero.
	DefaultSendBatch = 64
	// minBurst is the smallest default burst; see [SenderConfig.Burst].
	minBurst = 32 << 10
	// burstTime is how much of the rate the default burst holds.
	burstTime = 4 * time.Millisecond
	// maxBatch bounds [SenderConfig.Batch] and [ListenerConfig.Batch]: the
	// kernel caps the messages of one sendmmsg or recvmmsg at UIO_MAXIOV.
	maxBatch = 1024
	// maxGSOSegments is the most datagrams one GSO send carries. Linux
	// 4.18 to 6.x allows 64 (UDP_MAX_SEGMENTS); newer kernels allow more.
	maxGSOSegments = 64
	// maxDatagram is the largest UDP payload of one IPv4 datagram (and the
	// most payload one GSO send may carry): 65535 minus the IPv4 and UDP
	// headers.
	maxDatagram = 65535 - 20 - 8
	// headerBytes is what IPv4 (without options) and UDP add to a payload.
	headerBytes = 20 + 8
)

// ErrPacketSize is returned by [Sender.Send] for an empty packet or one that
// does not fit the interface's MTU with its IPv4 and UDP headers. Multicast
// is never fragmented on purpose: losing one fragment loses the packet, and
// the codec's FEC works on whole packets.
var ErrPacketSize = errors.New("multicast: packet size")

// SendPath is the system call a [Sender] sends with.
type SendPath int

const (
	// SendAuto picks the fastest path the kernel offers: [SendGSO] if it
	// accepts UDP_SEGMENT, else [SendBatch]. A refusal at run time (the
	// first GSO send through an IPsec route, say) moves the sender down a
	// path for good and resends what was refused.
	SendAuto SendPath = iota
	// SendGSO sends each run of equal-size packets (the last may be
	// shorter), up to 64 packets and 64 KiB, with one sendmsg that carries
	// a UDP_SEGMENT control message: the kernel (or the network card)
	// cuts it into datagrams. Several runs share one sendmmsg.
	SendGSO
	// SendBatch sends up to [SenderConfig.Batch] packets per sendmmsg.
	SendBatch
	// SendEach writes one packet per system call: the slowest path, kept
	// for kernels or filters without sendmmsg, and as the baseline the
	// benchmarks compare against.
	SendEach
)

func (p SendPath) String() string {
	switch p {
	case SendAuto:
		return "auto"
	case SendGSO:
		return "gso"
	case SendBatch:
		return "batch"
	case SendEach:
		return "each"
	}
	return fmt.Sprintf("SendPath(%d)", int(p))
}

// SenderConfig configures a [Sender]. The zero value of each field means the
// stated default, except Group and Interface, which are required.
type SenderConfig struct {
	// Group is the destination, an IPv4 multicast address and port:
	// "239.255.12.1:5004". Required.
	Group string
	// Interface names the interface multicast leaves by ("eth1", or "lo"
	// to stay on this host). Required: there is no default, because the
	// route a default would follow may lead off the network it is meant
	// for.
	Interface string
	// Source is the local address to send from, "ip" or "ip:port". If
	// empty, 0.0.0.0:0: the kernel picks the port, and the address by
	// routing towards Group through Interface (not necessarily an address
	// of Interface; on a host whose loopback has only 127.0.0.1 it is the
	// address of the default route's interface). [Sender.LocalAddr] says
	// what it picked; SSM receivers filter on that address.
	Source string
	// TTL is the IP time-to-live of the packets: how many routers they may
	// cross. If zero, 1: the local network only, a campus LAN. At most 255.
	TTL int
	// NoLoopback keeps the packets from being delivered to listeners on
	// this host. By default they are (IP_MULTICAST_LOOP on), which local
	// relays and tests rely on.
	NoLoopback bool
	// Rate is the pacing rate in bits per second of UDP payload. If zero,
	// [DefaultRate]; if negative, no pacing: every Send goes out as fast as
	// the kernel takes it.
	Rate int64
	// Burst is the pacing bucket in bytes: the most that leaves back to
	// back at line rate after an idle moment (see [Sender.Send]). If zero,
	// the larger of 32 KiB and 4 ms of Rate (50,000 bytes at the default
	// 100 Mbit/s, about 38 packets of 1316 bytes): a 160 KB segment then
	// leaves over about 9 ms instead of 1.3 ms at 1 Gbit/s line rate, and a
	// switch port or a receiver's buffer sees at most one burst at a time.
	Burst int
	// Batch is the most messages one sendmmsg carries (packets for
	// [SendBatch], runs of packets for [SendGSO]). If zero,
	// [DefaultSendBatch]; at most 1024.
	Batch int
	// Path forces a send path. If zero ([SendAuto]), the fastest available.
	// A forced path never falls back: if the kernel refuses it, Send
	// returns the error.
	Path SendPath
	// Logger receives the sender's logs (a fallback from GSO, say). If nil,
	// logs are discarded.
	Logger *slog.Logger
}

// SenderStats are a [Sender]'s counters since it was created.
type SenderStats struct {
	// Packets and Bytes count the datagrams the kernel accepted and their
	// UDP payload bytes.
	Packets, Bytes uint64
	// Batches counts the system calls that sent them (sendmmsg on the GSO
	// and batch paths, one write per packet on the each path).
	Batches uint64
	// GSOSends counts the messages sent with UDP_SEGMENT, each carrying
	// several datagrams.
	GSOSends uint64
	// Errors counts failed system calls (each ended a Send with an error,
	// unless it was a GSO refusal that the sender recovered from).
	Errors uint64
	// PacingWaits counts the times Send slept to hold the rate, and
	// PacingDelay adds up how long it slept.
	PacingWaits uint64
	PacingDelay time.Duration
}

// Sender sends runs of packets to one IPv4 multicast group, paced to a rate,
// with the fewest system calls the kernel allows (see [SendPath]).
//
// Its socket is connected to the group, with the outgoing interface, TTL
// and loopback set before the connect; no packet can take a route other
// than through the configured interface.
//
// Send may be called from several goroutines; the calls are serialised
// (one run of packets is never interleaved with another). Stats, Path,
// LocalAddr, Group and Close are safe to call at any time, also during a
// Send.
type Sender struct {
	group netip.AddrPort
	local netip.AddrPort
	mtu   int
	conn  *net.UDPConn
	pc    *ipv4.PacketConn
	log   *slog.Logger

	path   atomic.Int32 // the SendPath in use: never SendAuto
	forced bool

	mu        sync.Mutex // serialises Send; guards the fields below
	pace      *pacer     // nil: no pacing
	stepBytes int        // the most bytes one paced step sends
	msgs      []ipv4.Message
	oob       []byte // one GSO control message per entry of msgs
	timer     *time.Timer

	done      chan struct{}
	closeOnce sync.Once

	packets, bytes, batches, gsoSends, errs, waits, waited atomic.Uint64
}

// NewSender opens a socket for cfg and connects it to the group. It checks
// cfg (see [ErrBadAddress], [ErrNoInterface]) and, for [SendAuto] and
// [SendGSO], whether the kernel offers UDP GSO.
func NewSender(cfg SenderConfig) (*Sender, error) {
	if err := supported(); err != nil {
		return nil, err
	}
	group, err := parseGroup(cfg.Group, false)
	if err != nil {
		return nil, err
	}
	src, err := parseSource(cfg.Source, true)
	if err != nil {
		return nil, err
	}
	ifi, err := lookupInterface(cfg.Interface)
	if err != nil {
		return nil, err
	}
	ttl := cfg.TTL
	if ttl == 0 {
		ttl = 1
	}
	if ttl < 1 || ttl > 255 {
		return nil, fmt.Errorf("%w: TTL %d out of 1..255", ErrConfig, cfg.TTL)
	}
	batch := cfg.Batch
	if batch == 0 {
		batch = DefaultSendBatch
	}
	if batch < 1 || batch > maxBatch {
		return nil, fmt.Errorf("%w: batch %d out of 1..%d", ErrConfig, cfg.Batch, maxBatch)
	}
	if cfg.Burst < 0 {
		return nil, fmt.Errorf("%w: negative burst %d", ErrConfig, cfg.Burst)
	}
	if cfg.Path < SendAuto || cfg.Path > SendEach {
		return nil, fmt.Errorf("%w: unknown send path %d", ErrConfig, int(cfg.Path))
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}

	d := net.Dialer{Control: senderControl(ifi.Index, ttl, !cfg.NoLoopback)}
	if src.IsValid() {
		d.LocalAddr = udpAddr(src)
	}
	c, err := d.Dial("udp4", group.String())
	if err != nil {
		return nil, fmt.Errorf("multicast: sender socket for %s on %s: %w", group, ifi.Name, err)
	}
	conn := c.(*net.UDPConn)
	s := &Sender{
		group:  group,
		local:  conn.LocalAddr().(*net.UDPAddr).AddrPort(),
		mtu:    min(ifi.MTU-headerBytes, maxDatagram),
		conn:   conn,
		pc:     ipv4.NewPacketConn(conn),
		forced: cfg.Path != SendAuto,
		msgs:   make([]ipv4.Message, batch),
		oob:    make([]byte, batch*gsoCmsgSpace),
		done:   make(chan struct{}),
	}
	s.log = log.With("component", "multicast-sender", "group", group.String(), "interface", ifi.Name)
	if ifi.MTU <= 0 {
		s.mtu = maxDatagram
	}

	path := cfg.Path
	if path == SendAuto || path == SendGSO {
		if err := s.withRaw(probeGSO); err != nil {
			if path == SendGSO {
				conn.Close()
				return nil, err
			}
			s.log.Info("UDP GSO unavailable; sending with sendmmsg", "err", err)
			path = SendBatch
		} else {
			path = SendGSO
		}
	}
	s.path.Store(int32(path))

	if cfg.Rate >= 0 {
		rate := cfg.Rate
		if rate == 0 {
			rate = DefaultRate
		}
		burst := cfg.Burst
		if burst == 0 {
			burst = max(minBurst, int(float64(rate)/8*burstTime.Seconds()))
		}
		s.pace = newPacer(rate, burst, time.Now())
		s.stepBytes = max(burst/2, 1)
		s.timer = time.NewTimer(time.Hour)
		s.timer.Stop()
	}
	return s, nil
}

// withRaw runs f with the socket's syscall.RawConn.
func (s *Sender) withRaw(f func(syscall.RawConn) error) error {
	rc, err := s.conn.SyscallConn()
	if err != nil {
		return err
	}
	return f(rc)
}

// LocalAddr returns the address the packets come from: what an SSM
// listener must name as its source.
func (s *Sender) LocalAddr() netip.AddrPort { return s.local }

// Group returns the destination group and port.
func (s *Sender) Group() netip.AddrPort { return s.group }

// Path returns the send path in use: [SendGSO], [SendBatch] or [SendEach].
// With [SendAuto] it can move down once, when the kernel refuses GSO.
func (s *Sender) Path() SendPath { return SendPath(s.path.Load()) }

// Stats returns the sender's counters.
func (s *Sender) Stats() SenderStats {
	return SenderStats{
		Packets:     s.packets.Load(),
		Bytes:       s.bytes.Load(),
		Batches:     s.batches.Load(),
		GSOSends:    s.gsoSends.Load(),
		Errors:      s.errs.Load(),
		PacingWaits: s.waits.Load(),
		PacingDelay: time.Duration(s.waited.Load()),
	}
}

// Close closes the socket. A Send that is waiting for pacing returns
// [ErrClosed] at once; one inside a system call returns when the call does.
// Close does not wait for it. Later calls return [ErrClosed].
func (s *Sender) Close() error {
	err := ErrClosed
	s.closeOnce.Do(func() {
		close(s.done)
		err = s.conn.Close()
	})
	return err
}

// Send sends pkts, each one datagram, in order, and returns when the kernel
// has taken them all, or at the first error. The packets are not copied
// and not kept: the caller may reuse them once Send returns.
//
// With pacing, Send cuts pkts into steps of at most half the burst, and
// before each step waits until the token bucket holds its bytes; so a run
// of packets as large as a segment takes about its size divided by the
// rate, while a run within the burst leaves at once.
//
// Every packet must hold 1 to MTU−28 bytes of the interface's MTU (1472 on
// Ethernet), or Send returns [ErrPacketSize] before sending any. After a
// failure, the error says how many of the packets were sent.
func (s *Sender) Send(pkts [][]byte) error {
	for i, p := range pkts {
		if len(p) == 0 || len(p) > s.mtu {
			return fmt.Errorf("%w: packet %d has %d bytes; want 1 to %d", ErrPacketSize, i, len(p), s.mtu)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	defer clear(s.msgs) // keep no reference to the caller's packets
	total := len(pkts)
	for len(pkts) > 0 {
		select {
		case <-s.done:
			return s.failed(total-len(pkts), total, ErrClosed)
		default:
		}
		k := len(pkts)
		if s.pace != nil {
			var n int
			k, n = 1, len(pkts[0])
			for k < len(pkts) && n+len(pkts[k]) <= s.stepBytes {
				n += len(pkts[k])
				k++
			}
			if err := s.waitTokens(n); err != nil {
				return s.failed(total-len(pkts), total, err)
			}
		}
		sent, err := s.write(pkts[:k])
		pkts = pkts[sent:]
		if err != nil {
			return s.failed(total-len(pkts), total, err)
		}
	}
	return nil
}

// failed wraps err with how far a Send got.
func (s *Sender) failed(sent, total int, err error) error {
	if errors.Is(err, net.ErrClosed) {
		err = ErrClosed
	}
	return fmt.Errorf("multicast: send to %s: %d of %d packets sent: %w", s.group, sent, total, err)
}

// waitTokens sleeps until the pacer lets n bytes go, or the sender closes.
func (s *Sender) waitTokens(n int) error {
	for {
		d := s.pace.reserve(n, time.Now())
		if d == 0 {
			return nil
		}
		s.waits.Add(1)
		start := time.Now()
		s.timer.Reset(d)
		select {
		case <-s.timer.C:
			s.waited.Add(uint64(time.Since(start)))
		case <-s.done:
			s.timer.Stop()
			return ErrClosed
		}
	}
}

// write sends pkts on the current path and returns how many were sent. On
// [SendAuto] a refusal of GSO or sendmmsg moves the sender to the next path
// and goes on with the packets not yet sent.
func (s *Sender) write(pkts [][]byte) (int, error) {
	sent := 0
	for {
		var (
			n   int
			err error
		)
		path := s.Path()
		switch path {
		case SendGSO:
			n, err = s.writeGSO(pkts[sent:])
		case SendBatch:
			n, err = s.writeBatch(pkts[sent:])
		default:
			n, err = s.writeEach(pkts[sent:])
		}
		sent += n
		if err == nil {
			return sent, nil
		}
		switch {
		case !s.forced && path == SendGSO && isGSORefusal(err):
			s.log.Warn("the kernel refused UDP GSO; sending with sendmmsg from now on", "err", err)
			s.path.Store(int32(SendBatch))
		case !s.forced && path == SendBatch && isNoBatch(err):
			s.log.Warn("sendmmsg unavailable; sending one packet per system call from now on", "err", err)
			s.path.Store(int32(SendEach))
		default:
			return sent, err
		}
	}
}

// writeGSO sends pkts as GSO runs, up to len(s.msgs) runs per sendmmsg.
func (s *Sender) writeGSO(pkts [][]byte) (int, error) {
	sent := 0
	for sent < len(pkts) {
		nm, next := 0, sent
		for nm < len(s.msgs) && next < len(pkts) {
			k, size := gsoRun(pkts[next:])
			m := &s.msgs[nm]
			m.Buffers = pkts[next : next+k]
			m.OOB = nil
			if k > 1 {
				m.OOB = putGSOCmsg(s.oob[nm*gsoCmsgSpace:], uint16(size))
			}
			nm++
			next += k
		}
		n, err := s.pc.WriteBatch(s.msgs[:nm], 0)
		s.batches.Add(1)
		for _, m := range s.msgs[:n] {
			s.count(m.Buffers)
			if len(m.Buffers) > 1 {
				s.gsoSends.Add(1)
			}
			sent += len(m.Buffers)
		}
		if err != nil {
			s.errs.Add(1)
			return sent, err
		}
	}
	return sent, nil
}

// gsoRun returns the length of the GSO run that pkts starts with and its
// segment size: packets of the first one's size, and at most one shorter
// packet to end it, up to maxGSOSegments packets and maxDatagram bytes.
func gsoRun(pkts [][]byte) (k, size int) {
	size = len(pkts[0])
	limit := min(len(pkts), maxGSOSegments, maxDatagram/size)
	total := size
	for k = 1; k < limit; k++ {
		l := len(pkts[k])
		if l == size {
			total += l
			continue
		}
		if l < size && total+l <= maxDatagram {
			k++ // a shorter packet may end the run
		}
		break
	}
	return k, size
}

// writeBatch sends pkts with one sendmmsg per len(s.msgs) packets.
func (s *Sender) writeBatch(pkts [][]byte) (int, error) {
	sent := 0
	for sent < len(pkts) {
		nm := min(len(pkts)-sent, len(s.msgs))
		for i := range nm {
			s.msgs[i].Buffers = pkts[sent+i : sent+i+1]
			s.msgs[i].OOB = nil
		}
		n, err := s.pc.WriteBatch(s.msgs[:nm], 0)
		s.batches.Add(1)
		s.count(pkts[sent : sent+n])
		sent += n
		if err != nil {
			s.errs.Add(1)
			return sent, err
		}
	}
	return sent, nil
}

// writeEach writes pkts one per system call.
func (s *Sender) writeEach(pkts [][]byte) (int, error) {
	for i, p := range pkts {
		_, err := s.conn.Write(p)
		s.batches.Add(1)
		if err != nil {
			s.errs.Add(1)
			return i, err
		}
		s.packets.Add(1)
		s.bytes.Add(uint64(len(p)))
	}
	return len(pkts), nil
}

// count adds sent packets to the counters.
func (s *Sender) count(pkts [][]byte) {
	n := 0
	for _, p := range pkts {
		n += len(p)
	}
	s.packets.Add(uint64(len(pkts)))
	s.bytes.Add(uint64(n))
}
