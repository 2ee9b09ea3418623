package multicast

import "time"

// pacer is a token bucket that holds a sender to its rate. The bucket holds
// at most burst bytes; it fills at rate bytes per second, and a send of n
// bytes waits until n tokens are there and takes them. So after an idle
// moment at most burst bytes leave back to back, at the interface's line
// rate, and over any longer stretch the average is the rate.
//
// A sender asks for at most half a bucket per send (see [Sender]): Go's
// timers wake a sleeping goroutine up to about a millisecond late, and the
// tokens that accrue meanwhile must still fit the bucket, or they are lost
// and the real rate falls below the configured one.
type pacer struct {
	rate   float64 // bytes per second
	burst  float64 // bucket size, bytes
	tokens float64
	last   time.Time
}

// newPacer returns a pacer with a full bucket: the first burst leaves at
// once.
func newPacer(bitsPerSecond int64, burst int, now time.Time) *pacer {
	return &pacer{
		rate:   float64(bitsPerSecond) / 8,
		burst:  float64(burst),
		tokens: float64(burst),
		last:   now,
	}
}

// reserve takes n bytes' worth of tokens and returns 0 if the bucket holds
// them; otherwise it takes nothing and returns how long to wait before it
// will. A request larger than the bucket waits for a full bucket and then
// leaves the bucket in debt, so that the long-run rate still holds.
func (p *pacer) reserve(n int, now time.Time) time.Duration {
	if dt := now.Sub(p.last); dt > 0 {
		p.tokens = min(p.burst, p.tokens+p.rate*dt.Seconds())
		p.last = now
	}
	need := min(float64(n), p.burst)
	if p.tokens >= need {
		p.tokens -= float64(n)
		return 0
	}
	// Round up, so that the wake-up finds the tokens there.
	return time.Duration((need-p.tokens)/p.rate*1e9) + 1
}
