package main

import (
	"crypto/sha256"
	"math"
	"testing"
	"time"
)

// The synthetic segments are the same in the relay and the viewers: the
// viewers verify against a digest they compute themselves.
func TestBenchSegmentDeterministic(t *testing.T) {
	a, ab := benchSegment(7, 160_000, 2*time.Second)
	b, bb := benchSegment(7, 160_000, 2*time.Second)
	c, _ := benchSegment(8, 160_000, 2*time.Second)
	if a.SHA256 != b.SHA256 || sha256.Sum256(ab) != a.SHA256 || len(bb) != 160_000 || a.Size != 160_000 {
		t.Fatalf("segment 7 differs between calls or from its info: %+v %+v", a, b)
	}
	if c.SHA256 == a.SHA256 {
		t.Fatal("segments 7 and 8 are the same")
	}
}

// Deliveries that never arrived count as infinitely late.
func TestBenchQuantile(t *testing.T) {
	d := []float64{10, 20, 30, 40}
	for _, tc := range []struct {
		total int
		q     float64
		want  float64
	}{
		{4, 0.5, 20}, {4, 0.95, 40}, {4, 1, 40}, {5, 0.5, 30}, {5, 0.95, math.Inf(1)}, {100, 0.01, 10},
	} {
		if got := quantile(d, tc.total, tc.q); got != tc.want {
			t.Errorf("quantile(%v of %d, %v) = %v, want %v", d, tc.total, tc.q, got, tc.want)
		}
	}
}
