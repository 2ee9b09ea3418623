package origin

import (
	"io"
	"net"
	"syscall"
	"unsafe"
)

// Reads and writes on a server connection use raw system calls. The socket
// is non-blocking, so read(2), sendmsg(2) and sendfile(2) from memory never
// sleep; a raw call keeps the goroutine's P instead of entering the
// scheduler's syscall state. With the ordinary calls, the runtime's monitor
// thread keeps finding the P "in a syscall", takes it away, and stays at its
// shortest polling interval: on one core that costs thousands of context
// switches a second, about a tenth of the CPU of a busy origin. When a call
// would block, the poller waits as it does for any socket, and deadlines
// apply as usual.

// rawConn returns c's syscall.RawConn, or nil.
func rawConnOf(c net.Conn) syscall.RawConn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return raw
}

// rawRead reads into p; ok is false if c has no raw connection.
func rawRead(c net.Conn, p []byte) (n int, err error, ok bool) {
	raw := rawConnOf(c)
	if raw == nil {
		return 0, nil, false
	}
	if len(p) == 0 {
		return 0, nil, true
	}
	var serr error
	rerr := raw.Read(func(fd uintptr) bool {
		for {
			r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
			switch e {
			case 0:
				n = int(r)
				if n == 0 {
					serr = io.EOF
				}
				return true
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				return false
			default:
				serr = &net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: e}
				return true
			}
		}
	})
	if serr == nil {
		serr = rerr
	}
	return n, serr, true
}

// rawWrite writes all of p, with MSG_MORE if more is set: the kernel then
// keeps the bytes until more data follows, so a response's headers and the
// body that sendfile(2) sends next leave in full-sized packets.
func rawWrite(c net.Conn, p []byte, more bool) (n int, err error, ok bool) {
	raw := rawConnOf(c)
	if raw == nil {
		return 0, nil, false
	}
	flags := uintptr(syscall.MSG_NOSIGNAL)
	if more {
		flags |= syscall.MSG_MORE
	}
	var serr error
	werr := raw.Write(func(fd uintptr) bool {
		for n < len(p) {
			r, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(unsafe.Pointer(&p[n])), uintptr(len(p)-n), flags, 0, 0)
			switch e {
			case 0:
				n += int(r)
			case syscall.EINTR:
			case syscall.EAGAIN:
				return false
			default:
				serr = &net.OpError{Op: "write", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: e}
				return true
			}
		}
		return true
	})
	if serr == nil {
		serr = werr
	}
	return n, serr, true
}
