//go:build linux

package browser

import (
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// prepareCmd makes the kernel kill the browser if this process dies (chromedp
// does the same when no ModifyCmdFunc is given; ours replaces it).
func prepareCmd(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = new(syscall.SysProcAttr)
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}

// killLeftovers kills every process whose command line has
// --user-data-dir=dir: the helpers of our browser (zygote, renderers, network
// service, crashpad) that can outlive its main process. The directory is a
// fresh temporary one, so the match never hits another browser. It looks again
// until three passes in a row find nothing, for at most two seconds.
func killLeftovers(dir string) {
	deadline := time.Now().Add(2 * time.Second)
	for quiet := 0; quiet < 3 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if len(leftovers(dir, true)) == 0 {
			quiet++
		} else {
			quiet = 0
		}
	}
}

// leftovers returns the pids of the processes that run with
// --user-data-dir=dir, after sending each SIGKILL if kill is set.
func leftovers(dir string, kill bool) []int {
	want := []byte("--user-data-dir=" + dir)
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		for arg := range bytes.SplitSeq(cmdline, []byte{0}) {
			if bytes.Equal(arg, want) {
				if kill {
					syscall.Kill(pid, syscall.SIGKILL)
				}
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}
