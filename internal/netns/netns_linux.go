//go:build linux

package netns

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	// cmdTimeout bounds each ip command that the package runs by itself.
	cmdTimeout = 30 * time.Second
	// killTimeout bounds how long Close waits for the processes it killed.
	killTimeout = 5 * time.Second
	// capNetAdmin is CAP_NET_ADMIN's bit in /proc/self/status CapEff.
	capNetAdmin = 12
)

// runDir is where `ip netns add` keeps the namespace handles.
const runDir = "/var/run/netns/"

var available = sync.OnceValue(checkAvailable)

// Available reports whether this process can create network namespaces: it
// returns nil if it runs as root or with CAP_NET_ADMIN, `ip` is on PATH, and
// adding and deleting a throwaway namespace works. Otherwise it returns an
// error wrapping [ErrUnavailable] that says why. The answer is computed once.
func Available() error {
	return available()
}

func checkAvailable() error {
	if os.Geteuid() != 0 && !hasCap(capNetAdmin) {
		return fmt.Errorf("%w: not root (euid %d) and no CAP_NET_ADMIN", ErrUnavailable, os.Geteuid())
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("%w: iproute2's ip command not found: %v", ErrUnavailable, err)
	}
	name, err := newName("fcprobe")
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if _, err := ip("netns", "add", name); err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if _, err := ip("netns", "del", name); err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return nil
}

// hasCap reports whether bit is set in the effective capabilities of this
// process.
func hasCap(bit uint) bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && caps&(1<<bit) != 0
		}
	}
	return false
}

// ip runs the ip command with args and a timeout, and returns its combined
// output. The error holds the command line and the output.
func ip(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	return ipContext(ctx, args...)
}

func ipContext(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "ip", args...)
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// New creates a network namespace named prefix-<random hex> with `ip netns
// add` and brings its loopback interface up. prefix must be 1 to 32
// characters of [a-z0-9-]. The caller must Close it.
func New(prefix string) (*NS, error) {
	name, err := newName(prefix)
	if err != nil {
		return nil, err
	}
	if _, err := ip("netns", "add", name); err != nil {
		return nil, err
	}
	ns := &NS{Name: name}
	if _, err := ip("-n", name, "link", "set", "lo", "up"); err != nil {
		ns.Close()
		return nil, err
	}
	return ns, nil
}

// Close kills every process still inside the namespace, waits up to a few
// seconds for them to go, and deletes the namespace with `ip netns del`.
// Before that it deletes the interfaces inside, so that the other end of any
// veth pair that leads into it is gone when Close returns. A process that was
// entering the namespace just as Close ran (an Exec started concurrently) is
// killed too. It is safe to call twice: the first call returns its result,
// later calls return [ErrClosed].
func (ns *NS) Close() error {
	ns.mu.Lock()
	if ns.closed {
		ns.mu.Unlock()
		return ErrClosed
	}
	ns.closed = true
	ns.mu.Unlock()

	// Holding the namespace open keeps its inode number from being reused
	// by a new namespace while we look for processes by that number.
	var errs []error
	f, err := os.Open(runDir + ns.Name)
	var link string
	if err == nil {
		defer f.Close()
		var st syscall.Stat_t
		if err = syscall.Fstat(int(f.Fd()), &st); err == nil {
			link = fmt.Sprintf("net:[%d]", st.Ino)
		}
	}
	if err != nil {
		errs = append(errs, fmt.Errorf("netns %s: %w", ns.Name, err))
	}
	if link != "" {
		errs = append(errs, killInside(ns.Name, link, 1))
	}
	ns.deleteLinks()
	if _, err := ip("netns", "del", ns.Name); err != nil {
		errs = append(errs, err)
	}
	if link != "" {
		// Catch a process that opened the namespace before the delete and
		// entered it after the first pass.
		errs = append(errs, killInside(ns.Name, link, 3))
	}
	return errors.Join(errs...)
}

// deleteLinks deletes every interface but lo inside the namespace. The kernel
// dismantles a deleted namespace asynchronously; deleting the veth pairs first
// makes their other ends (in other namespaces) vanish before Close returns.
// Errors are ignored: deleting one end of a pair removes the other as well.
func (ns *NS) deleteLinks() {
	out, err := ip("-n", ns.Name, "-o", "link", "show")
	if err != nil {
		return
	}
	for line := range strings.SplitSeq(out, "\n") {
		// "2: fcv0@fcv1: <BROADCAST,..." -> "fcv0"
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
		if name != "lo" {
			ip("-n", ns.Name, "link", "del", name)
		}
	}
}

// killInside sends SIGKILL to every process whose network namespace is link
// ("net:[inode]", as /proc/PID/ns/net reads) until quiet passes in a row,
// 10 ms apart, find none. It gives up after killTimeout.
func killInside(name, link string, quiet int) error {
	deadline := time.Now().Add(killTimeout)
	for n := 0; n < quiet; {
		pids := pidsIn(link)
		if len(pids) == 0 {
			n++
		} else {
			n = 0
			if time.Now().After(deadline) {
				return fmt.Errorf("netns %s: processes %v still inside after %v", name, pids, killTimeout)
			}
			for _, pid := range pids {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// pidsIn returns the processes, other than this one, whose network namespace
// is link. Zombies have none and are not listed.
func pidsIn(link string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 1 || pid == os.Getpid() {
			continue
		}
		if l, err := os.Readlink("/proc/" + e.Name() + "/ns/net"); err == nil && l == link {
			pids = append(pids, pid)
		}
	}
	return pids
}

func (ns *NS) isClosed() bool {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	return ns.closed
}

// Exec returns a command that runs name with args inside the namespace, as
// `ip netns exec NAME name args...`. The command is killed when ctx ends, and
// Wait gives up on its output pipes a second after that (Cmd.WaitDelay).
// A process left running is also killed by Close.
func (ns *NS) Exec(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
	cmd.WaitDelay = time.Second
	if ns.isClosed() {
		cmd.Err = fmt.Errorf("%w: namespace %s", ErrClosed, ns.Name)
	}
	return cmd
}

// Run runs name with args inside the namespace and waits for it. On failure
// the error holds the command's combined output.
func (ns *NS) Run(ctx context.Context, name string, args ...string) error {
	cmd := ns.Exec(ctx, name, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("netns %s: %s %s: %w: %s", ns.Name, name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// IP runs `ip -n NAME args...` (for example ns.IP(ctx, "route")) and returns
// its output.
func (ns *NS) IP(ctx context.Context, args ...string) (string, error) {
	if ns.isClosed() {
		return "", fmt.Errorf("%w: namespace %s", ErrClosed, ns.Name)
	}
	return ipContext(ctx, append([]string{"-n", ns.Name}, args...)...)
}

// ipBatch runs each command as `ip -n NAME cmd...`, stopping at the first
// error.
func (ns *NS) ipBatch(cmds ...[]string) error {
	if ns.isClosed() {
		return fmt.Errorf("%w: namespace %s", ErrClosed, ns.Name)
	}
	for _, c := range cmds {
		if _, err := ip(append([]string{"-n", ns.Name}, c...)...); err != nil {
			return err
		}
	}
	return nil
}

// AddSelfVeth creates a veth pair with both ends inside the namespace:
// [SelfVethA] with ip1/24 and [SelfVethB] with ip2/24, both up, and a
// default route via ip2 on [SelfVethA]. Packets sent "out" only loop back into
// the same namespace; nothing reaches the host.
//
// It exists for headless Chromium: unless a page has camera or microphone
// permission, WebRTC gathers host candidates only on the interface of the
// default route, and a namespace with only loopback has none, so no
// candidate and no connection. After AddSelfVeth, Chromium offers ip1.
func (ns *NS) AddSelfVeth(ip1, ip2 string) error {
	if err := checkIPv4(ip1); err != nil {
		return err
	}
	if err := checkIPv4(ip2); err != nil {
		return err
	}
	return ns.ipBatch(
		[]string{"link", "add", SelfVethA, "type", "veth", "peer", "name", SelfVethB},
		[]string{"addr", "add", ip1 + "/24", "dev", SelfVethA},
		[]string{"addr", "add", ip2 + "/24", "dev", SelfVethB},
		[]string{"link", "set", SelfVethA, "up"},
		[]string{"link", "set", SelfVethB, "up"},
		[]string{"route", "add", "default", "via", ip2, "dev", SelfVethA},
	)
}

// Do runs fn on a locked OS thread that has entered the namespace, then
// moves the thread back. Sockets that fn creates stay in the namespace after
// Do returns, so this is how a test process puts a listener or a client into
// a namespace without starting another process:
//
//	var l net.Listener
//	err := ns.Do(func() (err error) {
//		l, err = net.Listen("tcp", "10.213.2.1:0")
//		return err
//	})
//
// Only system calls made by fn's own goroutine happen inside the namespace;
// goroutines that fn starts, and name lookups, run elsewhere. Use literal IP
// addresses. fn runs on another goroutine than the caller, so it must not
// call t.FailNow or t.Fatal. If the thread cannot return to its original
// namespace, it is thrown away rather than reused.
func (ns *NS) Do(fn func() error) error {
	if ns.isClosed() {
		return fmt.Errorf("%w: namespace %s", ErrClosed, ns.Name)
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// No deferred unlock: a thread that may be in the wrong namespace
		// must die with this goroutine.
		orig, err := syscall.Open("/proc/thread-self/ns/net", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netns: open own namespace: %w", err)
			return
		}
		defer syscall.Close(orig)
		target, err := syscall.Open(runDir+ns.Name, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netns: open %s: %w", ns.Name, err)
			return
		}
		defer syscall.Close(target)
		if err := setns(target); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netns: enter %s: %w", ns.Name, err)
			return
		}
		fnErr := fn()
		if err := setns(orig); err != nil {
			errc <- errors.Join(fnErr, fmt.Errorf("netns: leave %s: %w", ns.Name, err))
			return
		}
		runtime.UnlockOSThread()
		errc <- fnErr
	}()
	return <-errc
}

func setns(fd int) error {
	_, _, errno := syscall.RawSyscall(sysSetns, uintptr(fd), syscall.CLONE_NEWNET, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// NewBridge creates a namespace named prefix-<random hex> holding the up
// Linux bridge [BridgeName], with multicast snooping off. The caller must
// Close it.
func NewBridge(prefix string) (*Bridge, error) {
	ns, err := New(prefix)
	if err != nil {
		return nil, err
	}
	err = ns.ipBatch(
		[]string{"link", "add", BridgeName, "type", "bridge", "mcast_snooping", "0"},
		[]string{"link", "set", BridgeName, "up"},
	)
	if err != nil {
		ns.Close()
		return nil, err
	}
	return &Bridge{NS: ns}, nil
}

// Attach links ns to the bridge: it creates a veth pair whose bridge end
// (fcpN) is a port of [BridgeName] and whose other end, named ifname, is in
// ns with the address cidr (such as "10.213.2.1/24"); both ends are up.
// Attach adds no route: hosts on the bridge reach each other through the
// cidr's subnet route.
func (b *Bridge) Attach(ns *NS, ifname, cidr string) error {
	if err := checkIfName(ifname); err != nil {
		return err
	}
	if err := checkPrefix(cidr); err != nil {
		return err
	}
	if ns.isClosed() {
		return fmt.Errorf("%w: namespace %s", ErrClosed, ns.Name)
	}
	b.mu.Lock()
	port := fmt.Sprintf("fcp%d", b.ports)
	b.ports++
	b.mu.Unlock()

	err := b.NS.ipBatch(
		[]string{"link", "add", port, "type", "veth", "peer", "name", ifname, "netns", ns.Name},
		[]string{"link", "set", port, "master", BridgeName, "up"},
	)
	if err == nil {
		err = ns.ipBatch(
			[]string{"addr", "add", cidr, "dev", ifname},
			[]string{"link", "set", ifname, "up"},
		)
	}
	if err != nil {
		// Deleting one end deletes the pair; ignore "does not exist".
		ip("-n", b.NS.Name, "link", "del", port)
		return err
	}
	return nil
}

// Close deletes the bridge's namespace and with it every veth pair that
// Attach created; the attached namespaces stay. Like [NS.Close], later calls
// return [ErrClosed].
func (b *Bridge) Close() error {
	return b.NS.Close()
}

// identify returns the names of the namespaces this process is in, according
// to `ip netns identify`.
func identify() ([]string, error) {
	out, err := ip("netns", "identify", strconv.Itoa(os.Getpid()))
	if err != nil {
		return nil, err
	}
	var names []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if s := strings.TrimSpace(sc.Text()); s != "" {
			names = append(names, s)
		}
	}
	return names, nil
}
