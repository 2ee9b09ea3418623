package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// cpuQuota is a cgroup that caps the CPU time of the processes put in it
// at a share of one core (CFS bandwidth control: at most share × period of
// CPU time in each period). benchrelay runs the relay in one to measure
// what a core would seed when the machine cannot also run the viewers of
// a whole core: a relay held to half a core that keeps every segment on
// time for N viewers seeds 2N per core. Needs root and the cpu controller
// of cgroup v1 (/sys/fs/cgroup/cpu) or v2 (/sys/fs/cgroup).
type cpuQuota struct {
	dir   string
	v2    bool
	share float64
}

// quotaPeriod is the CFS period: short, so that a relay at its quota waits
// at most a few milliseconds, not the default period's tens.
const quotaPeriod = 10 * time.Millisecond

// newCPUQuota makes the cgroup, named after this process.
func newCPUQuota(share float64) (*cpuQuota, error) {
	if !(share > 0 && share <= 1) {
		return nil, fmt.Errorf("CPU quota %v: want a share of one core in (0, 1]", share)
	}
	name := fmt.Sprintf("fusioncast-benchrelay-%d", os.Getpid())
	period := quotaPeriod.Microseconds()
	quota := int64(share * float64(period))
	q := &cpuQuota{share: share}
	if _, err := os.Stat("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"); err == nil {
		q.dir = filepath.Join("/sys/fs/cgroup/cpu", name)
		if err := os.Mkdir(q.dir, 0o755); err != nil {
			return nil, fmt.Errorf("CPU quota: %w", err)
		}
		if err := q.write("cpu.cfs_period_us", strconv.FormatInt(period, 10)); err != nil {
			return nil, errors.Join(err, q.remove())
		}
		if err := q.write("cpu.cfs_quota_us", strconv.FormatInt(quota, 10)); err != nil {
			return nil, errors.Join(err, q.remove())
		}
		return q, nil
	}
	controllers, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers")
	if err != nil || !strings.Contains(" "+strings.TrimSpace(string(controllers))+" ", " cpu ") {
		return nil, errors.New("CPU quota: no cgroup cpu controller (v1 /sys/fs/cgroup/cpu or v2 /sys/fs/cgroup)")
	}
	q.v2 = true
	// The root's children get the cpu controller (a no-op if they have it).
	if err := os.WriteFile("/sys/fs/cgroup/cgroup.subtree_control", []byte("+cpu"), 0); err != nil {
		return nil, fmt.Errorf("CPU quota: enabling the cpu controller: %w", err)
	}
	q.dir = filepath.Join("/sys/fs/cgroup", name)
	if err := os.Mkdir(q.dir, 0o755); err != nil {
		return nil, fmt.Errorf("CPU quota: %w", err)
	}
	if err := q.write("cpu.max", fmt.Sprintf("%d %d", quota, period)); err != nil {
		return nil, errors.Join(err, q.remove())
	}
	return q, nil
}

func (q *cpuQuota) write(file, value string) error {
	if err := os.WriteFile(filepath.Join(q.dir, file), []byte(value), 0); err != nil {
		return fmt.Errorf("CPU quota: %s: %w", file, err)
	}
	return nil
}

// add moves process pid, with all its threads, into the cgroup; its
// children and later threads are born in it.
func (q *cpuQuota) add(pid int) error {
	return q.write("cgroup.procs", strconv.Itoa(pid))
}

// throttled returns how many periods so far the cgroup used up its quota
// in, out of how many it ran in.
func (q *cpuQuota) throttled() (throttled, periods int64) {
	b, err := os.ReadFile(filepath.Join(q.dir, "cpu.stat"))
	if err != nil {
		return 0, 0
	}
	for line := range strings.Lines(string(b)) {
		k, v, _ := strings.Cut(strings.TrimSpace(line), " ")
		n, _ := strconv.ParseInt(v, 10, 64)
		switch k {
		case "nr_throttled":
			throttled = n
		case "nr_periods":
			periods = n
		}
	}
	return throttled, periods
}

// remove deletes the cgroup; its processes must have exited.
func (q *cpuQuota) remove() error {
	var err error
	for range 50 { // a process that just exited may still count for a moment
		if err = os.Remove(q.dir); err == nil || errors.Is(err, os.ErrNotExist) {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("CPU quota: removing %s: %w", q.dir, err)
}
