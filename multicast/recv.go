package multicast

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/ipv4"
)

// Listener defaults.
const (
	// DefaultReadBuffer is the receive buffer a [Listener] asks for when
	// [ListenerConfig.ReadBuffer] is zero: 8 MiB. The kernel grants twice
	// that (see [Listener.ReadBuffer]) and charges each datagram its true
	// size, about 2.3 KB for a 1316-byte packet: about 7,000 packets, 0.7 s
	// of a 100 Mbit/s sender.
	DefaultReadBuffer = 8 << 20
	// DefaultRecvBatch is the number of datagrams one recvmmsg may return
	// when [ListenerConfig.Batch] is zero.
	DefaultRecvBatch = 64
	// DefaultMaxDatagram is the size of each receive buffer when
	// [ListenerConfig.MaxDatagram] is zero: room for any datagram of a
	// 1500-byte Ethernet MTU.
	DefaultMaxDatagram = 2048
	// recvRetry is how long the read loop pauses after an unexpected read
	// error before it tries again.
	recvRetry = 10 * time.Millisecond
)

// ListenerConfig configures a [Listener]. The zero value of each field means
// the stated default, except Group and Interface, which are required.
type ListenerConfig struct {
	// Group is the group and port to receive: "239.255.12.1:5004". Port 0
	// asks the kernel for a free port ([Listener.LocalAddr] says which),
	// which tests use.
	Group string
	// Interface names the interface to join the group on. Required.
	Interface string
	// Source, if set, is the IPv4 address of the only sender to receive
	// from: the listener joins the group source-specifically (SSM, IGMPv3
	// INCLUDE), so neither the network nor this host's kernel passes it
	// packets from other senders. If empty, it joins any-source (ASM).
	Source string
	// ReadBuffer is the receive buffer to ask the kernel for, in bytes. If
	// zero, [DefaultReadBuffer].
	ReadBuffer int
	// Batch is the most datagrams one recvmmsg returns. If zero,
	// [DefaultRecvBatch].
	Batch int
	// MaxDatagram is the size of each receive buffer. A longer datagram is
	// dropped and counted in [ListenerStats.Truncated]. If zero,
	// [DefaultMaxDatagram]; at most 65507.
	MaxDatagram int
	// Handler, if set, is called on the listener's goroutine for each
	// datagram, in arrival order. The datagram's Data is valid until
	// Handler returns (the buffer is reused for the next read), so a
	// handler that keeps it copies it. A slow handler delays the reads;
	// meanwhile the kernel buffers datagrams, then drops them (see
	// [ListenerStats.KernelDrops]). Handler must not call Close.
	//
	// If nil, datagrams go to the channel [Listener.Datagrams] instead.
	Handler func(*Datagram)
	// Buffers is the number of receive buffers for channel delivery: the
	// most datagrams the reader of [Listener.Datagrams] may hold without
	// releasing them. When all are held, the listener stops reading until
	// one is released. If zero, 4×Batch. Ignored with a Handler, which
	// uses Batch buffers.
	Buffers int
	// Logger receives the listener's logs. If nil, logs are discarded.
	Logger *slog.Logger
}

// Datagram is one received packet.
type Datagram struct {
	// Data is the UDP payload.
	Data []byte
	// Source is the sender's address and port.
	Source netip.AddrPort
	// Arrival is when the read that returned the datagram completed (one
	// time for all datagrams of a batch).
	Arrival time.Time

	buf *recvBuf // nil once released, and with a Handler
}

// Release gives the datagram's buffer back to its [Listener] for another
// read. Call it once per datagram taken from [Listener.Datagrams], after the
// last use of Data; later calls, and calls on datagrams given to a Handler,
// do nothing.
func (d *Datagram) Release() {
	if d.buf == nil {
		return
	}
	select {
	case d.buf.free <- d.buf:
	default: // cannot happen unless a copy of d was released too
	}
	d.buf = nil
	d.Data = nil
}

// recvBuf is one receive buffer and the pool it returns to.
type recvBuf struct {
	data []byte
	free chan *recvBuf
}

// ListenerStats are a [Listener]'s counters since it was created.
type ListenerStats struct {
	// Packets and Bytes count the datagrams delivered and their payload
	// bytes.
	Packets, Bytes uint64
	// Reads counts the recvmmsg calls that returned datagrams.
	Reads uint64
	// Truncated counts datagrams dropped because they were longer than
	// [ListenerConfig.MaxDatagram].
	Truncated uint64
	// KernelDrops is the socket's drop counter: datagrams for this socket
	// that the kernel discarded, mostly because the receive buffer was
	// full. The kernel reports it with each datagram it queues (SO_RXQ_OVFL),
	// so drops show once a later datagram arrives.
	KernelDrops uint64
	// Errors counts failed reads (other than by Close); the listener
	// retries after each.
	Errors uint64
}

// Listener receives the datagrams sent to one IPv4 multicast group and port
// (from one source, with SSM) on one interface, with batched reads into a
// bounded set of buffers, and delivers them to a handler or a channel.
//
// Go binds the socket to 0.0.0.0:port; IP_MULTICAST_ALL is off, so the
// socket gets only the group (and source) it joined, not other groups that
// other sockets of this host joined on the same port. Unicast datagrams to
// that port on any local address reach it too: the codec's signatures, not
// the socket, decide what is genuine.
//
// Its methods are safe for concurrent use.
type Listener struct {
	group   netip.AddrPort
	local   netip.AddrPort
	conn    *net.UDPConn
	pc      *ipv4.PacketConn
	granted int
	handler func(*Datagram)
	out     chan Datagram
	free    chan *recvBuf
	batch   int
	maxData int
	log     *slog.Logger

	done      chan struct{} // closed by Close
	stopped   chan struct{} // closed when the read loop has returned
	closeOnce sync.Once

	packets, bytes, reads, truncated, drops, errs atomic.Uint64
}

// Listen opens a socket on cfg's group and port, joins the group on the
// interface, and starts reading.
func Listen(cfg ListenerConfig) (*Listener, error) {
	if err := supported(); err != nil {
		return nil, err
	}
	group, err := parseGroup(cfg.Group, true)
	if err != nil {
		return nil, err
	}
	src, err := parseSource(cfg.Source, false)
	if err != nil {
		return nil, err
	}
	ifi, err := lookupInterface(cfg.Interface)
	if err != nil {
		return nil, err
	}
	def := func(v, d int) int {
		if v == 0 {
			return d
		}
		return v
	}
	readBuf := def(cfg.ReadBuffer, DefaultReadBuffer)
	batch := def(cfg.Batch, DefaultRecvBatch)
	maxData := def(cfg.MaxDatagram, DefaultMaxDatagram)
	buffers := def(cfg.Buffers, 4*batch)
	switch {
	case readBuf < 0:
		return nil, fmt.Errorf("%w: negative read buffer %d", ErrConfig, readBuf)
	case batch < 1 || batch > maxBatch:
		return nil, fmt.Errorf("%w: batch %d out of 1..%d", ErrConfig, batch, maxBatch)
	case maxData < 1 || maxData > maxDatagram:
		return nil, fmt.Errorf("%w: max datagram %d out of 1..%d", ErrConfig, maxData, maxDatagram)
	case buffers < 1:
		return nil, fmt.Errorf("%w: buffers %d < 1", ErrConfig, buffers)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "multicast-listener", "group", group.String(), "interface", ifi.Name)

	lc := net.ListenConfig{Control: listenerControl}
	c, err := lc.ListenPacket(context.Background(), "udp4", group.String())
	if err != nil {
		return nil, fmt.Errorf("multicast: listener socket for %s: %w", group, err)
	}
	conn := c.(*net.UDPConn)
	l := &Listener{
		conn:    conn,
		pc:      ipv4.NewPacketConn(conn),
		handler: cfg.Handler,
		batch:   batch,
		maxData: maxData,
		log:     log,
		done:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	fail := func(err error) (*Listener, error) {
		conn.Close()
		return nil, err
	}
	l.local = conn.LocalAddr().(*net.UDPAddr).AddrPort()
	l.group = netip.AddrPortFrom(group.Addr(), l.local.Port())

	rc, err := conn.SyscallConn()
	if err != nil {
		return fail(err)
	}
	granted, forced, err := setReadBuffer(rc, readBuf)
	if err != nil {
		return fail(fmt.Errorf("multicast: receive buffer: %w", err))
	}
	l.granted = granted
	// A full grant is twice the asked size (see ReadBuffer); less means the
	// kernel capped it at net.core.rmem_max.
	if granted < 2*readBuf {
		log.Warn("the kernel capped the receive buffer; raise net.core.rmem_max or grant CAP_NET_ADMIN",
			"asked", readBuf, "granted", granted)
	} else {
		log.Debug("receive buffer", "asked", readBuf, "granted", granted, "forced", forced)
	}

	g := &net.UDPAddr{IP: group.Addr().AsSlice()}
	if src.IsValid() {
		err = l.pc.JoinSourceSpecificGroup(ifi, g, &net.UDPAddr{IP: src.Addr().AsSlice()})
	} else {
		err = l.pc.JoinGroup(ifi, g)
	}
	if err != nil {
		return fail(fmt.Errorf("multicast: join %s on %s: %w", group.Addr(), ifi.Name, err))
	}

	if l.handler == nil {
		l.out = make(chan Datagram, buffers)
		l.free = make(chan *recvBuf, buffers)
		slab := make([]byte, buffers*maxData)
		for i := range buffers {
			l.free <- &recvBuf{data: slab[i*maxData : (i+1)*maxData : (i+1)*maxData], free: l.free}
		}
	}
	go l.run()
	return l, nil
}

// LocalAddr returns the socket's address: 0.0.0.0 and the port.
func (l *Listener) LocalAddr() netip.AddrPort { return l.local }

// Group returns the group and port the listener receives.
func (l *Listener) Group() netip.AddrPort { return l.group }

// ReadBuffer returns the receive buffer size the kernel granted, as
// getsockopt(SO_RCVBUF) reports it: Linux doubles the asked size to account
// for its bookkeeping, and caps what it doubles at net.core.rmem_max unless
// the process may use SO_RCVBUFFORCE (CAP_NET_ADMIN). So 8 MiB asked is
// 16 MiB granted as root, and 2×rmem_max otherwise if rmem_max is smaller.
func (l *Listener) ReadBuffer() int { return l.granted }

// Datagrams returns the channel that delivers datagrams when the config has
// no Handler (nil otherwise). Release each datagram when done with it. The
// channel is closed when the listener stops.
func (l *Listener) Datagrams() <-chan Datagram { return l.out }

// Stats returns the listener's counters.
func (l *Listener) Stats() ListenerStats {
	return ListenerStats{
		Packets:     l.packets.Load(),
		Bytes:       l.bytes.Load(),
		Reads:       l.reads.Load(),
		Truncated:   l.truncated.Load(),
		KernelDrops: l.drops.Load(),
		Errors:      l.errs.Load(),
	}
}

// Close stops the listener: it closes the socket (which leaves the group),
// waits for the read loop to return (a Handler call in progress finishes
// first) and closes the Datagrams channel. Later calls return [ErrClosed].
func (l *Listener) Close() error {
	err := ErrClosed
	l.closeOnce.Do(func() {
		close(l.done)
		err = l.conn.Close()
		<-l.stopped
	})
	return err
}

// run is the read loop.
func (l *Listener) run() {
	defer close(l.stopped)
	if l.out != nil {
		defer close(l.out)
	}
	ms := make([]ipv4.Message, l.batch)
	bufs := make([]*recvBuf, l.batch)
	oob := make([]byte, l.batch*dropsCmsgSpace)
	for i := range ms {
		ms[i].Buffers = make([][]byte, 1)
		ms[i].OOB = oob[i*dropsCmsgSpace : (i+1)*dropsCmsgSpace]
	}
	if l.handler != nil {
		slab := make([]byte, l.batch*l.maxData)
		for i := range bufs {
			bufs[i] = &recvBuf{data: slab[i*l.maxData : (i+1)*l.maxData : (i+1)*l.maxData]}
		}
	}
	held := 0 // with a channel: bufs[:held] hold buffers, the rest are empty
	// One Datagram serves every handler call: the handler may not keep it,
	// and a fresh one per datagram would be an allocation each.
	hd := new(Datagram)
	for {
		nb := l.batch
		if l.handler == nil {
			held = l.fill(bufs, held)
			if held == 0 {
				return // closed while waiting for a buffer
			}
			nb = held
		}
		for i := range nb {
			ms[i].Buffers[0] = bufs[i].data
			ms[i].OOB = ms[i].OOB[:cap(ms[i].OOB)]
		}
		n, err := l.pc.ReadBatch(ms[:nb], 0)
		if err != nil {
			if l.closing() || errors.Is(err, net.ErrClosed) {
				return
			}
			if l.errs.Add(1) == 1 {
				l.log.Error("read failed; retrying", "err", err)
			}
			select {
			case <-time.After(recvRetry):
			case <-l.done:
				return
			}
			continue
		}
		now := time.Now()
		l.reads.Add(1)
		for i := range n {
			m := &ms[i]
			if d, ok := dropsFromOOB(m.OOB[:m.NN]); ok {
				l.drops.Store(uint64(d))
			}
			if m.Flags&msgTrunc != 0 {
				l.truncated.Add(1)
				continue
			}
			d := Datagram{Data: bufs[i].data[:m.N], Arrival: now}
			if ua, ok := m.Addr.(*net.UDPAddr); ok {
				d.Source = ua.AddrPort()
				d.Source = netip.AddrPortFrom(d.Source.Addr().Unmap(), d.Source.Port())
			}
			l.packets.Add(1)
			l.bytes.Add(uint64(m.N))
			if l.handler != nil {
				*hd = d
				l.handler(hd)
				continue
			}
			d.buf = bufs[i]
			bufs[i] = nil
			select {
			case l.out <- d:
			case <-l.done:
				return
			}
		}
		if l.handler == nil {
			// Move the buffers still held (those of truncated datagrams and
			// those the read did not use) to the front.
			held = 0
			for i := range nb {
				if bufs[i] != nil {
					bufs[held], bufs[i] = bufs[i], bufs[held]
					held++
				}
			}
		}
	}
}

// fill tops up bufs[held:] from the free pool without waiting, and if that
// leaves it empty waits for one buffer. It returns how many bufs holds now,
// 0 if the listener closed meanwhile.
func (l *Listener) fill(bufs []*recvBuf, held int) int {
top:
	for held < len(bufs) {
		select {
		case b := <-l.free:
			bufs[held] = b
			held++
		default:
			break top
		}
	}
	if held > 0 {
		return held
	}
	select {
	case b := <-l.free:
		bufs[0] = b
		return 1
	case <-l.done:
		return 0
	}
}

// closing reports whether Close was called.
func (l *Listener) closing() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}
