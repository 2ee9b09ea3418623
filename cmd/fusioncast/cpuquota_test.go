package main

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

// A share outside (0, 1] is refused before anything is made.
func TestCPUQuotaBadShare(t *testing.T) {
	for _, share := range []float64{0, -0.5, 1.5} {
		if q, err := newCPUQuota(share); err == nil {
			_ = q.remove()
			t.Errorf("share %v accepted", share)
		}
	}
}

// A busy process in a cgroup of a fifth of a core gets no more than that
// (the cap only lowers what a noisy machine would give it), is throttled,
// and the cgroup is gone afterwards.
func TestCPUQuotaCaps(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (cgroups)")
	}
	q, err := newCPUQuota(0.2)
	if err != nil {
		t.Skipf("no CPU quota here: %v", err)
	}
	busy := exec.Command("sh", "-c", "while :; do :; done")
	if err := busy.Start(); err != nil {
		_ = q.remove()
		t.Fatal(err)
	}
	if err := q.add(busy.Process.Pid); err != nil {
		_ = busy.Process.Kill()
		_ = busy.Wait()
		_ = q.remove()
		t.Fatal(err)
	}
	c0, _ := cpuSeconds(busy.Process.Pid)
	start := time.Now()
	time.Sleep(1500 * time.Millisecond)
	c1, _ := cpuSeconds(busy.Process.Pid)
	used := (c1 - c0) / time.Since(start).Seconds()
	throttled, periods := q.throttled()
	_ = busy.Process.Kill()
	_ = busy.Wait()
	if err := q.remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(q.dir); !os.IsNotExist(err) {
		t.Fatalf("cgroup %s still there: %v", q.dir, err)
	}
	t.Logf("a busy loop at a quota of 0.2: %.2f of a core, throttled in %d of %d periods", used, throttled, periods)
	if used > 0.3 {
		t.Errorf("the busy loop used %.2f of a core under a quota of 0.2", used)
	}
	if periods == 0 || throttled == 0 {
		t.Errorf("throttled in %d of %d periods: the quota did not bite", throttled, periods)
	}
}
