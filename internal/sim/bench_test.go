package sim

import (
	"context"
	"testing"
	"time"
)

// BenchmarkSwarm runs 1,000 viewers of the default mixed uploads for 60 s
// of virtual time.
func BenchmarkSwarm(b *testing.B) {
	up, err := ParseDist("20%:1,50%:5,30%:20")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		r, err := Run(context.Background(), Config{Viewers: 1000, Duration: 60 * time.Second, Warmup: 30 * time.Second,
			Ramp: 10 * time.Second, Up: up, Offers: 5, LeaveRate: 0.01, Seed: 1}, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(r.Events), "events/op")
	}
}
