package sim

import (
	"time"

	"fusioncast/peer"
)

// runner is something that happens at an instant of virtual time: an
// engine timer, the end of a transmission on an uplink, an arrival on a
// link, or one of the simulation's own events.
type runner interface{ run() }

// event is one entry of the loop's queue. Events run in order of time,
// then of seq: the order they were scheduled in, which the simulation
// keeps independent of Go's map order (see net.flush).
type event struct {
	at  int64 // nanoseconds of virtual time since the start
	seq uint64
	r   runner
}

// loop is the discrete-event scheduler and the engines' clock: one
// goroutine runs every event, one at a time, so an engine call never runs
// while another is on the stack.
type loop struct {
	base   time.Time
	now    int64
	seq    uint64
	q      []event // a binary min-heap on (at, seq)
	ran    uint64  // events run
	after  func()  // runs after each event (the network's flush)
	halted bool
}

var _ peer.Clock = (*loop)(nil)

func newLoop(base time.Time) *loop { return &loop{base: base} }

// Now returns the virtual time.
func (l *loop) Now() time.Time { return l.base.Add(time.Duration(l.now)) }

// AfterFunc schedules f after d of virtual time.
func (l *loop) AfterFunc(d time.Duration, f func()) peer.Timer {
	t := &timer{f: f}
	l.at(l.now+int64(max(d, 0)), t)
	return t
}

// at schedules r at virtual time t (never before now).
func (l *loop) at(t int64, r runner) {
	l.seq++
	l.push(event{at: max(t, l.now), seq: l.seq, r: r})
}

// fn adapts a function to a runner.
type fn func()

func (f fn) run() { f() }

// runUntil runs events up to and including virtual time end, and leaves
// the clock at end.
func (l *loop) runUntil(end int64) {
	for len(l.q) > 0 && l.q[0].at <= end && !l.halted {
		ev := l.pop()
		l.now = ev.at
		l.ran++
		ev.r.run()
		if l.after != nil {
			l.after()
		}
	}
	l.now = max(l.now, end)
}

func less(a, b *event) bool {
	return a.at < b.at || (a.at == b.at && a.seq < b.seq)
}

func (l *loop) push(ev event) {
	l.q = append(l.q, ev)
	i := len(l.q) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !less(&l.q[i], &l.q[p]) {
			break
		}
		l.q[i], l.q[p] = l.q[p], l.q[i]
		i = p
	}
}

func (l *loop) pop() event {
	top := l.q[0]
	n := len(l.q) - 1
	l.q[0] = l.q[n]
	l.q[n] = event{}
	l.q = l.q[:n]
	i := 0
	for {
		c := 2*i + 1
		if c >= n {
			break
		}
		if c+1 < n && less(&l.q[c+1], &l.q[c]) {
			c++
		}
		if !less(&l.q[c], &l.q[i]) {
			break
		}
		l.q[i], l.q[c] = l.q[c], l.q[i]
		i = c
	}
	return top
}

// timer is an engine's AfterFunc. A stopped timer stays in the queue and
// does nothing when its time comes.
type timer struct {
	f     func()
	state uint8
}

const (
	timerPending uint8 = iota
	timerStopped
	timerFired
)

func (t *timer) run() {
	if t.state != timerPending {
		return
	}
	t.state = timerFired
	t.f()
}

// Stop cancels the call if it has not run.
func (t *timer) Stop() bool {
	if t.state != timerPending {
		return false
	}
	t.state = timerStopped
	t.f = nil
	return true
}
