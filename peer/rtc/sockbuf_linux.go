package rtc

import (
	"net"
	"syscall"
)

// setSocketBuffers sets a UDP socket's receive and send buffers to size
// bytes: past the system maximum (net.core.rmem_max, wmem_max) when the
// process may (CAP_NET_ADMIN: SO_RCVBUFFORCE), else up to it. Errors are
// ignored: a smaller buffer only costs retransmissions.
func setSocketBuffers(c *net.UDPConn, size int) {
	forced := false
	if rc, err := c.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			e1 := syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, size)
			e2 := syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUFFORCE, size)
			forced = e1 == nil && e2 == nil
		})
	}
	if !forced {
		_ = c.SetReadBuffer(size)
		_ = c.SetWriteBuffer(size)
	}
}
