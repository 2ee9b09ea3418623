package peer

import "time"

// Clock is the engine's time: the real one in players, a simulated one in
// `fusioncast simulate`, which runs thousands of engines in virtual time.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f after d, on a goroutine of the clock's choosing.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc.
type Timer interface {
	// Stop cancels the call; it reports whether it did (false if f has
	// run or is running).
	Stop() bool
}

// RealClock is the wall clock.
type RealClock struct{}

// Now returns time.Now().
func (RealClock) Now() time.Time { return time.Now() }

// AfterFunc is time.AfterFunc.
func (RealClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }
