package peer

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Pipe links two engines in memory, as a data channel would: messages
// arrive in order, each after delay. It returns a function that closes the
// link (both engines see it go). For tests and examples.
func Pipe(a, b *Engine, delay time.Duration) (closeLink func()) {
	_, _, l := pipe(a, b, delay)
	return func() { _ = l.Close() }
}

// memLink is one direction of an in-memory data channel: Send queues, a
// goroutine delivers in order after an optional delay per message. Close
// delivers what was sent before it, as a data channel closed after its
// buffer drained does.
type memLink struct {
	ch       chan []byte
	buffered atomic.Int64
	delay    time.Duration
	deliver  func([]byte) // set before the first message is delivered
	ready    chan struct{}
	done     chan struct{}

	mu     sync.Mutex
	closed bool
	onDown func() // tells the far end that the link went down
	peerOf *memLink
}

var errLinkClosed = errors.New("link closed")

func newMemLink(delay time.Duration) *memLink {
	l := &memLink{ch: make(chan []byte, 4096), delay: delay, ready: make(chan struct{}), done: make(chan struct{})}
	go l.run()
	return l
}

func (l *memLink) run() {
	<-l.ready
	for {
		select {
		case b := <-l.ch:
			if l.delay > 0 {
				time.Sleep(l.delay)
			}
			l.buffered.Add(-int64(len(b)))
			l.deliver(b)
		case <-l.done:
			// Deliver what was sent before the close (a BYE, say).
			for {
				select {
				case b := <-l.ch:
					l.deliver(b)
				default:
					return
				}
			}
		}
	}
}

func (l *memLink) Send(b []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return errLinkClosed
	}
	l.buffered.Add(int64(len(b)))
	select {
	case l.ch <- b:
		return nil
	default:
		return errors.New("link queue full")
	}
}

func (l *memLink) BufferedAmount() uint64 { return uint64(max(l.buffered.Load(), 0)) }

// Close closes both directions and tells both ends.
func (l *memLink) Close() error {
	l.shut()
	if l.peerOf != nil {
		l.peerOf.shut()
	}
	return nil
}

func (l *memLink) shut() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	down := l.onDown
	l.mu.Unlock()
	close(l.done)
	if down != nil {
		go down()
	}
}

// pipe links two engines in memory; it returns a's view of b and b's of a,
// and the link a→b (closing it cuts both directions).
func pipe(a, b *Engine, delay time.Duration) (*Peer, *Peer, *memLink) {
	ab, ba := newMemLink(delay), newMemLink(delay)
	ab.peerOf, ba.peerOf = ba, ab
	pa := a.AddLink("b", ab) // a's peer for b; a sends on ab
	pb := b.AddLink("a", ba)
	ab.deliver = func(m []byte) { b.Receive(pb, m) }
	ba.deliver = func(m []byte) { a.Receive(pa, m) }
	ab.onDown = func() { a.RemoveLink(pa) }
	ba.onDown = func() { b.RemoveLink(pb) }
	close(ab.ready)
	close(ba.ready)
	return pa, pb, ab
}
