package origin

import (
	"container/list"
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
type connLimiter struct {
	net.Listener
	max int

	mu   sync.Mutex
	open int
	idle *list.List // of *limitedConn, oldest first
	// counters
	evicted  atomic.Uint64
	rejected atomic.Uint64
	onChange func(open int)
}

func newConnLimiter(ln net.Listener, max int, onChange func(open int)) *connLimiter {
	if onChange == nil {
		onChange = func(int) {}
	}
	return &connLimiter{Listener: ln, max: max, idle: list.New(), onChange: onChange}
}

type limitedConn struct {
	net.Conn
	l      *connLimiter
	elem   *list.Element // in l.idle while not serving a request; l.mu
	closed bool          // l.mu
	close  sync.Once
}

// ReadFrom lets net/http reach the TCP connection's ReadFrom, which uses
// sendfile(2) for files: without it every response would be copied through
// user space.
func (c *limitedConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.close.Do(func() {
		c.l.mu.Lock()
		c.closed = true
		if c.elem != nil {
			c.l.idle.Remove(c.elem)
			c.elem = nil
		}
		c.l.open--
		open := c.l.open
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
		l.mu.Lock()
		var victim *limitedConn
		if l.open >= l.max {
			if front := l.idle.Front(); front != nil {
				victim = front.Value.(*limitedConn)
				l.idle.Remove(front)
				victim.elem = nil
			}
		}
		if l.open >= l.max && victim == nil {
			l.mu.Unlock()
			l.rejected.Add(1)
			_ = c.Close()
			continue
		}
		l.open++
		open := l.open
		lc := &limitedConn{Conn: c, l: l}
		// A new connection is idle until its first request arrives.
		lc.elem = l.idle.PushBack(lc)
		l.mu.Unlock()
		if victim != nil {
			l.evicted.Add(1)
			_ = victim.Close()
		}
		l.onChange(open)
		return lc, nil
	}
}

// connState is the http.Server.ConnState hook: it keeps the idle list.
func (l *connLimiter) connState(c net.Conn, state http.ConnState) {
	lc, ok := c.(*limitedConn)
	if !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch state {
	case http.StateActive, http.StateHijacked, http.StateClosed:
		if lc.elem != nil {
			l.idle.Remove(lc.elem)
			lc.elem = nil
		}
	case http.StateIdle:
		if lc.elem == nil && !lc.closed {
			lc.elem = l.idle.PushBack(lc)
		}
	}
}
