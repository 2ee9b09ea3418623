package rtc

import (
	"net"
	"syscall"
	"testing"
)

// setSocketBuffers raises both buffers of a socket to at least the size
// asked for, within the system's maximum when the process may not exceed
// it.
func TestSocketBuffers(t *testing.T) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const size = 1 << 20
	setSocketBuffers(c, size)
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	_ = rc.Control(func(fd uintptr) {
		for name, opt := range map[string]int{"SO_RCVBUF": syscall.SO_RCVBUF, "SO_SNDBUF": syscall.SO_SNDBUF} {
			// The kernel reports twice the size set (its bookkeeping).
			if v, err := syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, opt); err != nil || v < size {
				t.Errorf("%s: %d, %v; want at least %d", name, v, err, size)
			}
		}
	})
}
