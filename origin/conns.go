package origin

import (
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
)

// connLimiter caps the connections an HTTP server holds open. When the cap
// is reached it makes room by closing the connection that has waited longest
// without a request in progress (one that connected and never sent a
// request, or a keep-alive connection between requests) and only when every
// connection is busy does it refuse the newcomer. A flood of clients that
// connect and never finish a request can therefore never lock a real viewer
// out: the flood evicts itself.
//
// Requests only touch atomics on their connection; the lock is taken when a
// connection opens or closes, and the search for the oldest idle connection
// happens only at the cap.
type connLimiter struct {
	net.Listener
	max int

	mu    sync.Mutex
	conns map[*limitedConn]struct{}

	idleSeq  atomic.Uint64 // orders idle periods: lower is older
	evicted  atomic.Uint64
	rejected atomic.Uint64
	onChange func(open int)
}

func newConnLimiter(ln net.Listener, max int, onChange func(open int)) *connLimiter {
	if onChange == nil {
		onChange = func(int) {}
	}
	return &connLimiter{Listener: ln, max: max, conns: make(map[*limitedConn]struct{}), onChange: onChange}
}

type limitedConn struct {
	net.Conn
	l *connLimiter
	// idleSince is the idleSeq value when the connection last became idle,
	// or 0 while a request is in progress.
	idleSince atomic.Uint64
	close     sync.Once
	// more asks the next Write to pass MSG_MORE (the headers of a response
	// whose body follows with sendfile). Only the connection's own serving
	// goroutine sets and reads it.
	more bool
}

// Read reads with a raw system call where it can (see rawio_linux.go).
func (c *limitedConn) Read(p []byte) (int, error) {
	if n, err, ok := rawRead(c.Conn, p); ok {
		return n, err
	}
	return c.Conn.Read(p)
}

// Write writes with a raw system call where it can, with MSG_MORE if the
// handler asked for it.
func (c *limitedConn) Write(p []byte) (int, error) {
	more := c.more
	c.more = false
	if n, err, ok := rawWrite(c.Conn, p, more); ok {
		return n, err
	}
	return c.Conn.Write(p)
}

// ReadFrom lets net/http reach sendfile(2): for a segment's memory file
// directly (memBody), otherwise through the TCP connection's own ReadFrom.
// Without it every response would be copied through user space.
func (c *limitedConn) ReadFrom(r io.Reader) (int64, error) {
	if b, ok := r.(*memBody); ok {
		if n, err, ok := sendMemBody(c.Conn, b); ok {
			return n, err
		}
	}
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

// Close closes the connection; the limiter forgets it once.
func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.close.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		open := len(c.l.conns)
		c.l.mu.Unlock()
		c.l.onChange(open)
	})
	return err
}

// Accept returns the next connection, evicting an idle one if the cap is
// reached, or closing the new one if nothing can be evicted.
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		lc := &limitedConn{Conn: c, l: l}
		// A new connection is idle until its first request arrives.
		lc.idleSince.Store(l.idleSeq.Add(1))

		l.mu.Lock()
		var victim *limitedConn
		if len(l.conns) >= l.max {
			var oldest uint64
			for o := range l.conns {
				if s := o.idleSince.Load(); s != 0 && (victim == nil || s < oldest) {
					victim, oldest = o, s
				}
			}
			if victim == nil {
				l.mu.Unlock()
				l.rejected.Add(1)
				_ = c.Close()
				continue
			}
			// Forget it now so that the count stays at the cap; its
			// Close finds it gone.
			delete(l.conns, victim)
		}
		l.conns[lc] = struct{}{}
		open := len(l.conns)
		l.mu.Unlock()
		if victim != nil {
			l.evicted.Add(1)
			_ = victim.Conn.Close()
		}
		l.onChange(open)
		return lc, nil
	}
}

// connState is the http.Server.ConnState hook: it marks connections busy
// while a request is in progress and idle in between.
func (l *connLimiter) connState(c net.Conn, state http.ConnState) {
	lc, ok := c.(*limitedConn)
	if !ok {
		return
	}
	switch state {
	case http.StateActive, http.StateHijacked, http.StateClosed:
		lc.idleSince.Store(0)
	case http.StateIdle:
		lc.idleSince.Store(l.idleSeq.Add(1))
	}
}
