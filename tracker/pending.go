package tracker

import (
	"container/list"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
)

// pendingLimiter caps the TCP connections that have not finished the
// websocket handshake. At the cap the oldest pending connection is closed
// to make room, so clients that connect and never finish a handshake cannot
// lock out real peers, and cost bounded memory (each is one goroutine of
// the HTTP server until it goes).
type pendingLimiter struct {
	net.Listener
	max int

	mu      sync.Mutex
	pending *list.List // of *pendingConn, oldest first
	evicted atomic.Uint64
}

type pendingConn struct {
	net.Conn
	l    *pendingLimiter
	elem *list.Element // in l.pending until hijacked or closed; l.mu
	once sync.Once
}

func newPendingLimiter(ln net.Listener, max int) *pendingLimiter {
	return &pendingLimiter{Listener: ln, max: max, pending: list.New()}
}

func (l *pendingLimiter) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	pc := &pendingConn{Conn: c, l: l}
	var victim *pendingConn
	l.mu.Lock()
	if l.pending.Len() >= l.max {
		front := l.pending.Front()
		victim = front.Value.(*pendingConn)
		l.pending.Remove(front)
		victim.elem = nil
	}
	pc.elem = l.pending.PushBack(pc)
	l.mu.Unlock()
	if victim != nil {
		l.evicted.Add(1)
		_ = victim.Conn.Close()
	}
	return pc, nil
}

func (l *pendingLimiter) done(pc *pendingConn) {
	l.mu.Lock()
	if pc.elem != nil {
		l.pending.Remove(pc.elem)
		pc.elem = nil
	}
	l.mu.Unlock()
}

// Close closes the connection and stops counting it.
func (pc *pendingConn) Close() error {
	pc.once.Do(func() { pc.l.done(pc) })
	return pc.Conn.Close()
}

// connState stops counting a connection once it is hijacked (upgraded to a
// websocket) or closed.
func (l *pendingLimiter) connState(c net.Conn, state http.ConnState) {
	pc, ok := c.(*pendingConn)
	if !ok {
		return
	}
	if state == http.StateHijacked || state == http.StateClosed {
		l.done(pc)
	}
}

// Pending returns the number of connections waiting for a handshake.
func (l *pendingLimiter) Pending() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pending.Len()
}
