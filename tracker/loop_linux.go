package tracker

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"fusioncast/tracker/wire"
)

const (
	// readBufferBytes is each loop's read buffer: the most read from one
	// connection per turn.
	readBufferBytes = 64 << 10
	// maxIovecs bounds the buffers of one writev (IOV_MAX is 1024).
	maxIovecs = 1024
	// loopEvents is the most events taken from epoll at once.
	loopEvents = 256
)

// loop is one event loop: an epoll set of connections and the goroutine
// that reads them, handles their messages and writes what was queued for
// them. The server runs one per GOMAXPROCS and spreads connections over
// them.
type loop struct {
	s    *Server
	epfd int
	wake int // eventfd that interrupts epoll_wait
	buf  []byte

	mu       sync.Mutex
	conns    map[int32]*conn // by descriptor
	dirty    []*conn         // connections with output or a close to handle
	sleeping bool            // in epoll_wait; a schedule must wake it
	stopping bool

	spare []*conn // the previous dirty list, reused
	req   wire.Request
}

func newLoop(s *Server) (*loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll: %w", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wake)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wake, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(wake)
		return nil, fmt.Errorf("epoll: %w", err)
	}
	return &loop{s: s, epfd: epfd, wake: wake, buf: make([]byte, readBufferBytes), conns: make(map[int32]*conn)}, nil
}

// adopt takes the connection's descriptor from nc and registers it. nc is
// closed; from now on only the loop uses the descriptor.
func (l *loop) adopt(c *conn, nc net.Conn) error {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return fmt.Errorf("not a TCP connection: %T", nc)
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return err
	}
	fd := -1
	var dupErr error
	if err := rc.Control(func(s uintptr) { fd, dupErr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return err
	}
	if dupErr != nil {
		return fmt.Errorf("dup: %w", dupErr)
	}
	// The duplicate shares the socket (and its non-blocking mode); closing
	// nc takes it out of the Go runtime's poller.
	_ = tc.Close()
	c.mu.Lock()
	c.fd = int32(fd)
	c.mu.Unlock()
	fail := func(err error) error {
		c.mu.Lock()
		c.closed, c.why = true, err.Error()
		c.mu.Unlock()
		unix.Close(fd)
		return err
	}
	l.mu.Lock()
	if l.stopping {
		l.mu.Unlock()
		return fail(errors.New("server shutting down"))
	}
	l.conns[c.fd] = c
	l.mu.Unlock()
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: c.fd}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		l.mu.Lock()
		delete(l.conns, c.fd)
		l.mu.Unlock()
		return fail(fmt.Errorf("epoll: %w", err))
	}
	// Output or a close queued before the descriptor was the loop's (by
	// the janitor, say) waits for this.
	c.mu.Lock()
	need := !c.scheduled && (c.closeReq != "" || len(c.out) > 0)
	if need {
		c.scheduled = true
	}
	c.mu.Unlock()
	if need {
		l.schedule(c)
	}
	return nil
}

// schedule puts c in the dirty list, to be flushed (or closed) by the loop
// at the end of its turn, and wakes the loop if it sleeps.
func (l *loop) schedule(c *conn) {
	l.mu.Lock()
	l.dirty = append(l.dirty, c)
	wake := l.sleeping
	l.sleeping = false
	l.mu.Unlock()
	if wake {
		l.poke()
	}
}

func (l *loop) poke() {
	var one [8]byte
	one[0] = 1
	_, _ = unix.Write(l.wake, one[:])
}

// stop makes run close every connection and return.
func (l *loop) stop() {
	l.mu.Lock()
	l.stopping = true
	l.mu.Unlock()
	l.poke()
}

// run is the loop's goroutine.
func (l *loop) run() {
	defer l.shutdown()
	events := make([]unix.EpollEvent, loopEvents)
	for {
		l.flushDirty()
		l.mu.Lock()
		if l.stopping {
			l.mu.Unlock()
			return
		}
		if len(l.dirty) > 0 {
			l.mu.Unlock()
			continue
		}
		l.sleeping = true
		l.mu.Unlock()
		n, err := unix.EpollWait(l.epfd, events, -1)
		l.mu.Lock()
		l.sleeping = false
		l.mu.Unlock()
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			l.s.cfg.Logger.Error("epoll_wait failed; closing the loop's connections", "err", err)
			return
		}
		for i := range n {
			ev := &events[i]
			if ev.Fd == int32(l.wake) {
				var b [8]byte
				_, _ = unix.Read(l.wake, b[:])
				continue
			}
			l.mu.Lock()
			c := l.conns[ev.Fd]
			l.mu.Unlock()
			if c == nil {
				continue
			}
			if ev.Events&unix.EPOLLOUT != 0 {
				l.flush(c)
			}
			if ev.Events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
				l.read(c)
			}
		}
	}
}

// flushDirty flushes (or closes) every connection scheduled so far.
func (l *loop) flushDirty() {
	for {
		l.mu.Lock()
		dirty := l.dirty
		l.dirty = l.spare[:0]
		l.mu.Unlock()
		if len(dirty) == 0 {
			l.spare = dirty
			return
		}
		for i, c := range dirty {
			l.flush(c)
			dirty[i] = nil
		}
		l.spare = dirty
	}
}

// read reads what the socket holds (up to the read buffer) and handles
// every complete frame in it.
func (l *loop) read(c *conn) {
	if c.isClosed() {
		return
	}
	n, err := unix.Read(int(c.fd), l.buf)
	if err != nil {
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			return
		}
		l.teardown(c, "read: "+err.Error(), 0)
		return
	}
	if n == 0 {
		l.teardown(c, "closed by the client", 0)
		return
	}
	c.lastSeen.Store(time.Now().UnixNano())
	data := l.buf[:n]
	buffered := len(c.rbuf) > 0
	if buffered {
		c.rbuf = append(c.rbuf, data...)
		data = c.rbuf
	}
	limit := l.s.cfg.MaxMessageBytes
	for len(data) > 0 {
		f, used, err := parseFrame(data, limit)
		if err == nil && used == 0 {
			break
		}
		if err == nil {
			data = data[used:]
			err = l.frame(c, f)
		}
		if err != nil {
			var code uint16
			var fe *frameError
			if errors.As(err, &fe) {
				code = fe.code
				l.s.metrics.refused.WithLabelValues("protocol").Inc()
			} else if err == errClosedByPeer {
				code = closeNormal
			}
			l.teardown(c, err.Error(), code)
			return
		}
		if c.isClosing() {
			return
		}
	}
	// Keep a partial frame for the next read, in a buffer of its own.
	switch {
	case len(data) == 0:
		c.rbuf = nil
	case buffered:
		c.rbuf = append(c.rbuf[:0], data...)
	default:
		c.rbuf = make([]byte, len(data), max(len(data), min(frameSize(data), limit+maxFrameHeader)))
		copy(c.rbuf, data)
	}
}

// frame handles one client frame.
func (l *loop) frame(c *conn, f frame) error {
	switch f.op {
	case opPing:
		c.queue(opPong, func(dst []byte) []byte { return append(dst, f.payload...) })
		return nil
	case opPong:
		return nil
	case opClose:
		return errClosedByPeer
	case opContinuation:
		if !c.inMsg {
			return errContinuation
		}
		if len(c.msg)+len(f.payload) > l.s.cfg.MaxMessageBytes {
			return errTooBig
		}
		c.msg = append(c.msg, f.payload...)
		if !f.fin {
			return nil
		}
		msg, op := c.msg, c.msgOp
		c.msg, c.inMsg = nil, false
		l.message(c, op, msg)
		return nil
	default: // text or binary
		if c.inMsg {
			return errInterleaved
		}
		if !f.fin {
			c.inMsg, c.msgOp = true, f.op
			c.msg = append(make([]byte, 0, 2*len(f.payload)), f.payload...)
			return nil
		}
		l.message(c, f.op, f.payload)
		return nil
	}
}

// message handles one complete data message. Binary messages are ignored,
// as by other WebTorrent trackers.
func (l *loop) message(c *conn, op byte, b []byte) {
	if op != opText {
		return
	}
	s := l.s
	s.metrics.received.Inc()
	req := &l.req
	if err := wire.ParseRequest(b, req); err != nil {
		s.metrics.refused.WithLabelValues("malformed").Inc()
		c.send(wire.AppendFailure(nil, wire.ActionAnnounce, nil, err.Error()))
		return
	}
	s.handle(c, req)
}

// flush writes c's queued output, without blocking; what the socket cannot
// take waits for EPOLLOUT. It carries out a close asked for by another
// goroutine.
func (l *loop) flush(c *conn) {
	c.mu.Lock()
	if c.closed || c.fd < 0 { // closed, or not yet adopted (adopt reschedules)
		c.scheduled = false
		c.mu.Unlock()
		return
	}
	out, nout := c.out, c.nout
	c.out, c.nout = nil, 0
	c.scheduled = false
	why, code := c.closeReq, c.closeCode
	c.mu.Unlock()
	if len(out) > 0 {
		c.pending = append(c.pending, out)
		l.s.metrics.sent.Add(float64(nout))
	} else if out != nil {
		putOutBuf(out)
	}
	err := l.write(c)
	if err != nil {
		l.teardown(c, "write: "+err.Error(), 0)
		return
	}
	if why != "" {
		l.teardown(c, why, code)
		return
	}
	waiting := len(c.pending) > 0
	c.mu.Lock()
	changed := waiting != c.waitOut
	c.waitOut = waiting
	again := !waiting && len(c.out) > 0 && !c.scheduled
	if again {
		c.scheduled = true
	}
	c.mu.Unlock()
	if again {
		l.schedule(c)
	}
	if !changed {
		return
	}
	events := uint32(unix.EPOLLIN | unix.EPOLLRDHUP)
	if waiting {
		events |= unix.EPOLLOUT
		c.stalledSince.Store(time.Now().UnixNano())
	} else {
		c.stalledSince.Store(0)
	}
	ev := unix.EpollEvent{Events: events, Fd: c.fd}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_MOD, int(c.fd), &ev); err != nil {
		l.teardown(c, "epoll: "+err.Error(), 0)
	}
}

// write writes c.pending until it is empty or the socket is full.
func (l *loop) write(c *conn) error {
	for len(c.pending) > 0 {
		iov := c.pending[:min(len(c.pending), maxIovecs)]
		n, err := unix.Writev(int(c.fd), iov)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) {
				return nil
			}
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return err
		}
		sent := 0
		for sent < len(iov) && n >= len(iov[sent]) {
			n -= len(iov[sent])
			putOutBuf(iov[sent][:0:cap(iov[sent])])
			iov[sent] = nil
			sent++
		}
		if sent < len(iov) && n > 0 {
			iov[sent] = iov[sent][n:]
		}
		c.pending = c.pending[sent:]
	}
	c.pending = nil
	return nil
}

// teardown closes c: a close frame with code (if not 0) is attempted, the
// descriptor is closed and the connection's peers leave their swarms.
func (l *loop) teardown(c *conn, why string, code uint16) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	if c.why = c.closeReq; c.why == "" {
		c.why = why
	}
	c.out = nil
	c.mu.Unlock()
	if code != 0 {
		f := appendFrameHeader(nil, opClose, 2+min(len(why), 123))
		f = append(f, closePayload(code, why)...)
		c.pending = append(c.pending[:0:0], f)
		_ = l.write(c)
	}
	_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, int(c.fd), nil)
	l.mu.Lock()
	delete(l.conns, c.fd)
	l.mu.Unlock()
	_ = unix.Shutdown(int(c.fd), unix.SHUT_RDWR)
	_ = unix.Close(int(c.fd))
	c.rbuf, c.msg, c.pending = nil, nil, nil
	l.s.unregister(c)
}

// shutdown closes every connection of the loop and its descriptors.
func (l *loop) shutdown() {
	l.mu.Lock()
	conns := make([]*conn, 0, len(l.conns))
	for _, c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		l.teardown(c, "server shutting down", closeGoingAway)
	}
	l.closeFDs()
}

func (l *loop) closeFDs() {
	unix.Close(l.epfd)
	unix.Close(l.wake)
}

func (c *conn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

func (c *conn) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed || c.closeReq != ""
}
