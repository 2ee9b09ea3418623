package origin

import (
	"net"
	"syscall"
)

// setCork sets TCP_CORK on c if it is a TCP connection: while corked the
// kernel holds partial frames, so a response's headers (one write) and its
// body (sendfile) leave in full-sized packets instead of a small one first.
// nginx does the same with tcp_nopush.
func setCork(c net.Conn, on bool) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return
	}
	v := 0
	if on {
		v = 1
	}
	_ = raw.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_CORK, v)
	})
}
