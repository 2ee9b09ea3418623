package peer

import (
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"
	"time"

	"fusioncast/peer/proto"
)

// connect links two engines; it returns a's view of b and b's of a, and
// the link a→b (closing it cuts both directions).
func connect(a, b *Engine, delay time.Duration) (*Peer, *Peer, *memLink) {
	return pipe(a, b, delay)
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
	return startEngine(t, Config{Swarm: testSwarm, Fetch: o.fetch, PeerWait: 3 * time.Second, HTTPMargin: time.Second}, mod)
}

// startEngine starts an engine with cfg changed by mod (if not nil),
// closed when the test ends.
func startEngine(t *testing.T, cfg Config, mod func(*Config)) *Engine {
	t.Helper()
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
