package peer

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"fusioncast/peer/proto"
)

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

// connect links two engines; it returns a's view of b and b's of a, and
// the link a→b (closing it cuts both directions).
func connect(a, b *Engine, delay time.Duration) (*Peer, *Peer, *memLink) {
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

// origin is a fake HTTP origin: it serves the stream's segments after a
// delay and counts fetches per segment.
type origin struct {
	mu      sync.Mutex
	data    map[uint32][]byte
	fetches map[uint32]int
	delay   time.Duration
	corrupt map[uint32]bool
}

func newOrigin(delay time.Duration) *origin {
	return &origin{data: map[uint32][]byte{}, fetches: map[uint32]int{}, delay: delay, corrupt: map[uint32]bool{}}
}

func (o *origin) fetch(seg SegmentInfo, done func([]byte, error)) {
	time.Sleep(o.delay)
	o.mu.Lock()
	o.fetches[seg.Seq]++
	b, ok := o.data[seg.Seq]
	o.mu.Unlock()
	if !ok {
		done(nil, fmt.Errorf("404 segment %d", seg.Seq))
		return
	}
	done(append([]byte(nil), b...), nil)
}

func (o *origin) count(seq uint32) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.fetches[seq]
}

// stream publishes segments to engines like a live playlist.
type stream struct {
	o      *origin
	size   int
	dur    time.Duration
	window []SegmentInfo
	next   uint32
}

func (st *stream) publish(engines ...*Engine) SegmentInfo {
	b := make([]byte, st.size)
	_, _ = rand.Read(b)
	info := SegmentInfo{Seq: st.next, Size: uint32(len(b)), SHA256: sha256.Sum256(b), Duration: st.dur, URL: fmt.Sprintf("/seg/%d", st.next)}
	st.next++
	st.o.mu.Lock()
	st.o.data[info.Seq] = b
	st.o.mu.Unlock()
	st.window = append(st.window, info)
	if len(st.window) > 6 {
		st.window = st.window[1:]
	}
	for _, e := range engines {
		e.SetPlaylist(append([]SegmentInfo(nil), st.window...))
	}
	return info
}

var testSwarm = proto.SwarmID{'t', 'e', 's', 't'}

func newEngine(t *testing.T, o *origin, mod func(*Config)) *Engine {
	t.Helper()
	cfg := Config{Swarm: testSwarm, Fetch: o.fetch, PeerWait: 3 * time.Second, HTTPMargin: time.Second}
	if mod != nil {
		mod(&cfg)
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

// player gets each published segment from its engine with a deadline a
// few segments after publication, as a live player would, and records
// what it got.
type player struct {
	e       *Engine
	mu      sync.Mutex
	got     map[uint32]Source
	late    int
	errs    []error
	wg      sync.WaitGroup
	o       *origin
	corrupt int
}

func newPlayer(e *Engine, o *origin) *player { return &player{e: e, o: o, got: map[uint32]Source{}} }

func (p *player) want(info SegmentInfo, deadline time.Time) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		ctx, cancel := contextUntil(deadline.Add(5 * time.Second))
		defer cancel()
		b, src, err := p.e.Get(ctx, info.Seq, deadline)
		p.mu.Lock()
		defer p.mu.Unlock()
		if err != nil {
			p.errs = append(p.errs, fmt.Errorf("segment %d: %w", info.Seq, err))
			return
		}
		if time.Now().After(deadline) {
			p.late++
		}
		if sha256.Sum256(b) != info.SHA256 {
			p.corrupt++
		}
		p.got[info.Seq] = src
	}()
}
