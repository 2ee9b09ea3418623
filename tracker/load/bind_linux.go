package load

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// bindNoPort makes a socket bound to a local address take its port only at
// connect time (IP_BIND_ADDRESS_NO_PORT), so that the port need be unique
// per destination, not among every bound socket: tens of thousands of
// connections from a few 127.0.0.x addresses then do not run out of ports
// while earlier runs' sockets linger in TIME_WAIT.
func bindNoPort(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	}); err != nil {
		return err
	}
	return serr
}
