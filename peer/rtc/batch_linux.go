package rtc

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/pion/logging"
	"github.com/pion/transport/v5"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// Batching limits.
const (
	// maxQueued bounds the packets waiting to be sent: a writer beyond it
	// waits, as it would on a full socket.
	maxQueued = 4096
	// maxSegments and maxGSOBytes bound one GSO send: the kernel takes at
	// most 64 segments and one IP datagram's worth of bytes.
	maxSegments = 64
	maxGSOBytes = 65000
	// readBatch is how many datagrams one recvmmsg takes at most.
	readBatch = 64
)

// batchConn is the socket of ICEConfig.ListenUDP with its system calls
// batched. pion writes every SCTP packet with a sendto of its own, which
// is the largest single cost of a relay (docs/benchmarks.md, "Relay:
// WebRTC viewers seeded per core"). Here WriteToAddrPort queues a copy and
// returns at once, and one goroutine sends what queued meanwhile: the
// packets to one peer together, in one sendmsg that the kernel cuts into
// datagrams (UDP GSO, Linux 4.18), as long as they have one size (the last
// may be shorter). pion hands over an association's burst packet after
// packet; the sender runs once the writers have nothing left to do (with
// GOMAXPROCS=1, when they block), so a burst goes in one call. Reads take
// up to readBatch datagrams per recvmmsg.
type batchConn struct {
	conn *net.UDPConn
	raw  syscall.RawConn
	log  logging.LeveledLogger

	mu     sync.Mutex
	space  *sync.Cond // writers wait here while maxQueued packets wait
	q      *outBatch  // being filled by writers
	spare  *outBatch  // sent, for the sender to swap in next
	closed bool
	wake   chan struct{}
	done   chan struct{} // closed by Close
	sent   chan struct{} // closed when the sender has stopped
	gso    bool          // used by the sender only
	gsoRun int           // GSO sends so far (the sender's, for tests)

	rd *batchReader // one reader: pion's mux loop
}

// batchReader reads a socket's datagrams up to len(msgs) per recvmmsg
// and hands them out one at a time. It has one reader at a time.
type batchReader struct {
	conn    *net.UDPConn
	pc      *ipv4.PacketConn
	msgs    []ipv4.Message
	ready   []ipv4.Message // read, not yet handed out
	noBatch bool           // recvmmsg is refused: one recvfrom each
}

func newBatchReader(c *net.UDPConn, batch int) *batchReader {
	r := &batchReader{conn: c, pc: ipv4.NewPacketConn(c), msgs: make([]ipv4.Message, batch)}
	for i := range r.msgs {
		r.msgs[i].Buffers = [][]byte{make([]byte, 1500)}
	}
	return r
}

// outBatch is a queue of packets: their bytes one after another in arena.
type outBatch struct {
	arena []byte
	pkts  []outPacket
	bufs  [][]byte // scratch for sendmsg's iovecs
}

type outPacket struct {
	off, n int
	to     netip.AddrPort
}

func newBatchConn(c *net.UDPConn, log logging.LeveledLogger) (*batchConn, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	b := &batchConn{
		conn: c, raw: raw, log: log, q: &outBatch{}, spare: &outBatch{},
		wake: make(chan struct{}, 1), done: make(chan struct{}), sent: make(chan struct{}),
		rd: newBatchReader(c, readBatch),
	}
	b.space = sync.NewCond(&b.mu)
	// Whether the kernel knows UDP_SEGMENT; a route may still refuse it,
	// which the first GSO send finds out.
	_ = raw.Control(func(fd uintptr) {
		b.gso = unix.SetsockoptInt(int(fd), unix.SOL_UDP, unix.UDP_SEGMENT, 0) == nil
	})
	go b.sender()
	return b, nil
}

// WriteToAddrPort queues a copy of p for to.
func (b *batchConn) WriteToAddrPort(p []byte, to netip.AddrPort) (int, error) {
	b.mu.Lock()
	for !b.closed && len(b.q.pkts) >= maxQueued {
		b.space.Wait()
	}
	if b.closed {
		b.mu.Unlock()
		return 0, net.ErrClosed
	}
	off := len(b.q.arena)
	b.q.arena = append(b.q.arena, p...)
	b.q.pkts = append(b.q.pkts, outPacket{off: off, n: len(p), to: to})
	first := len(b.q.pkts) == 1
	b.mu.Unlock()
	if first {
		select {
		case b.wake <- struct{}{}:
		default:
		}
	}
	return len(p), nil
}

// WriteTo is WriteToAddrPort for a *net.UDPAddr.
func (b *batchConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, errors.New("rtc: not a UDP address")
	}
	return b.WriteToAddrPort(p, ua.AddrPort())
}

// sender sends the queue whenever it has packets.
func (b *batchConn) sender() {
	defer close(b.sent)
	for {
		select {
		case <-b.wake:
		case <-b.done:
			return
		}
		b.mu.Lock()
		out := b.q
		b.q, b.spare = b.spare, nil
		b.space.Broadcast()
		b.mu.Unlock()
		b.send(out)
		out.arena, out.pkts = out.arena[:0], out.pkts[:0]
		b.mu.Lock()
		b.spare = out
		b.mu.Unlock()
	}
}

// send writes a batch: the packets to each address in the order written,
// runs of one size in one GSO send.
func (b *batchConn) send(out *outBatch) {
	pkts := out.pkts
	slices.SortStableFunc(pkts, func(x, y outPacket) int { return x.to.Compare(y.to) })
	for i := 0; i < len(pkts); {
		seg, total, j := pkts[i].n, pkts[i].n, i+1
		if b.gso {
			for j < len(pkts) && j-i < maxSegments && pkts[j].to == pkts[i].to && pkts[j].n <= seg && total+pkts[j].n <= maxGSOBytes {
				total += pkts[j].n
				j++
				if pkts[j-1].n < seg {
					break // a shorter one ends the run
				}
			}
		}
		b.sendRun(out, pkts[i:j], seg)
		i = j
	}
}

// sendRun sends packets to one address, of size seg each but the last.
func (b *batchConn) sendRun(out *outBatch, run []outPacket, seg int) {
	data := func(p outPacket) []byte { return out.arena[p.off : p.off+p.n] }
	if len(run) > 1 {
		out.bufs = out.bufs[:0]
		for _, p := range run {
			out.bufs = append(out.bufs, data(p))
		}
		err := b.sendGSO(out.bufs, run[0].to, seg)
		if err == nil {
			b.gsoRun++
			return
		}
		if isGSORefusal(err) {
			b.log.Infof("UDP GSO refused (%v): one datagram per send from now on", err)
			b.gso = false
		} else {
			b.log.Debugf("GSO send to %s: %v", run[0].to, err)
			return
		}
	}
	for _, p := range run {
		if _, err := b.conn.WriteToUDPAddrPort(data(p), p.to); err != nil {
			b.log.Debugf("send to %s: %v", p.to, err)
		}
	}
}

// sendGSO sends bufs to to as datagrams of seg bytes in one sendmsg.
func (b *batchConn) sendGSO(bufs [][]byte, to netip.AddrPort, seg int) error {
	var oob [64]byte
	cm := oob[:unix.CmsgSpace(2)]
	h := (*unix.Cmsghdr)(unsafe.Pointer(&cm[0]))
	h.Level = unix.SOL_UDP
	h.Type = unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	binary.NativeEndian.PutUint16(cm[unix.CmsgLen(0):], uint16(seg))
	sa := &unix.SockaddrInet4{Port: int(to.Port()), Addr: to.Addr().Unmap().As4()}
	var serr error
	err := b.raw.Write(func(fd uintptr) bool {
		_, serr = unix.SendmsgBuffers(int(fd), bufs, cm, sa, 0)
		return !errors.Is(serr, unix.EAGAIN)
	})
	if err != nil {
		return err
	}
	return serr
}

// isGSORefusal reports whether a failed GSO send means the kernel will not
// segment for this socket or route: EIO (IPsec, or a device that cannot
// checksum), EINVAL (checksums off, too many segments), EOPNOTSUPP or
// ENOPROTOOPT (no GSO).
func isGSORefusal(err error) bool {
	return errors.Is(err, unix.EIO) || errors.Is(err, unix.EINVAL) ||
		errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOPROTOOPT)
}

// ReadFromAddrPort returns the next datagram, from a batch of up to
// readBatch read at once.
func (b *batchConn) ReadFromAddrPort(p []byte) (int, netip.AddrPort, error) {
	return b.rd.readFromAddrPort(p)
}

// ReadFrom is ReadFromAddrPort with a *net.UDPAddr.
func (b *batchConn) ReadFrom(p []byte) (int, net.Addr, error) {
	return b.rd.readFrom(p)
}

// readFromAddrPort returns the next datagram, reading a batch when none
// is left of the last.
func (r *batchReader) readFromAddrPort(p []byte) (int, netip.AddrPort, error) {
	if r.noBatch {
		return r.conn.ReadFromUDPAddrPort(p)
	}
	for len(r.ready) == 0 {
		n, err := r.pc.ReadBatch(r.msgs, 0)
		if errors.Is(err, unix.ENOSYS) {
			r.noBatch = true
			return r.conn.ReadFromUDPAddrPort(p)
		}
		if err != nil {
			return 0, netip.AddrPort{}, err
		}
		r.ready = r.msgs[:n]
	}
	m := r.ready[0]
	r.ready = r.ready[1:]
	ua, _ := m.Addr.(*net.UDPAddr)
	if ua == nil {
		return 0, netip.AddrPort{}, errors.New("rtc: datagram without a UDP source")
	}
	return copy(p, m.Buffers[0][:m.N]), ua.AddrPort(), nil
}

// readFrom is readFromAddrPort with a *net.UDPAddr.
func (r *batchReader) readFrom(p []byte) (int, net.Addr, error) {
	n, ap, err := r.readFromAddrPort(p)
	if err != nil {
		return 0, nil, err
	}
	return n, net.UDPAddrFromAddrPort(ap), nil
}

// connReadBatch is how many datagrams one recvmmsg takes at most on a
// peer connection's own socket: a relay's burst to one viewer (a 16 KiB
// message is 14 packets) in one or two calls, for 24 KiB of buffers per
// connection.
const connReadBatch = 16

// readBatchedConn is a peer connection's own UDP socket (one opened by
// pion through bufferedNet) with its reads batched by recvmmsg. Writes go
// straight to the socket: a connection sends little (a viewer, SACKs) or
// to one peer, where queueing for GSO buys nothing without a mux's many
// writers. pion's ICE reads and writes it through ReadFromAddrPort and
// WriteToAddrPort (ice.AddrPortReaderWriter), and does not use the
// promoted *net.UDPConn methods of a conn that is not a *net.UDPConn.
type readBatchedConn struct {
	*net.UDPConn
	rd *batchReader
}

// readBatched returns c with its reads batched.
func readBatched(c *net.UDPConn) transport.UDPConn {
	return &readBatchedConn{UDPConn: c, rd: newBatchReader(c, connReadBatch)}
}

func (c *readBatchedConn) ReadFromAddrPort(p []byte) (int, netip.AddrPort, error) {
	return c.rd.readFromAddrPort(p)
}

func (c *readBatchedConn) ReadFrom(p []byte) (int, net.Addr, error) { return c.rd.readFrom(p) }

func (c *readBatchedConn) WriteToAddrPort(p []byte, to netip.AddrPort) (int, error) {
	return c.WriteToUDPAddrPort(p, to)
}

// Close stops the sender (what is queued is dropped, as a closing socket
// drops it) and closes the socket.
func (b *batchConn) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return net.ErrClosed
	}
	b.closed = true
	close(b.done)
	b.space.Broadcast()
	b.mu.Unlock()
	<-b.sent
	return b.conn.Close()
}

func (b *batchConn) LocalAddr() net.Addr                { return b.conn.LocalAddr() }
func (b *batchConn) SetDeadline(t time.Time) error      { return b.conn.SetDeadline(t) }
func (b *batchConn) SetReadDeadline(t time.Time) error  { return b.conn.SetReadDeadline(t) }
func (b *batchConn) SetWriteDeadline(t time.Time) error { return b.conn.SetWriteDeadline(t) }

// batchedConn returns c with its writes and reads batched.
func batchedConn(c *net.UDPConn, log logging.LeveledLogger) (net.PacketConn, error) {
	return newBatchConn(c, log)
}
