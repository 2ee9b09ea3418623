package origin

import (
	"errors"
	"io"
	"net"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

func memfdWithData(name string, data []byte) (int, bool) {
	fd, err := unix.MemfdCreate("fusioncast-"+name, unix.MFD_CLOEXEC)
	if err != nil {
		return -1, false
	}
	for off := 0; off < len(data); {
		n, err := unix.Pwrite(fd, data[off:], int64(off))
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			_ = unix.Close(fd)
			return -1, false
		}
		off += n
	}
	return fd, true
}

func closeFD(fd int) { _ = unix.Close(fd) }

func preadFD(fd int, p []byte, off, size int64) (int, error) {
	if off >= size {
		return 0, io.EOF
	}
	if rem := size - off; int64(len(p)) > rem {
		p = p[:rem]
	}
	for {
		n, err := unix.Pread(fd, p, off)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err == nil && n == 0 {
			return 0, io.ErrUnexpectedEOF
		}
		return n, err
	}
}

// sendMemBody sends the rest of b on c with sendfile(2) at explicit
// offsets. It uses a raw system call: the socket is non-blocking and the
// source is memory, so the call never sleeps, and keeping the goroutine's P
// avoids the scheduler handing the P to another thread on every response
// (which on a busy server costs more than the send). When the socket buffer
// is full it waits for writability through the poller like any write.
func sendMemBody(c net.Conn, b *memBody) (int64, error, bool) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return 0, nil, false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return 0, nil, false
	}
	var written int64
	var serr error
	werr := raw.Write(func(fd uintptr) bool {
		for b.off < b.m.size {
			off := b.off
			n, _, e := syscall.RawSyscall6(syscall.SYS_SENDFILE, fd, uintptr(b.m.fd),
				uintptr(unsafe.Pointer(&off)), uintptr(b.m.size-b.off), 0, 0)
			switch e {
			case 0:
				if n == 0 {
					serr = io.ErrUnexpectedEOF
					return true
				}
				b.off += int64(n)
				written += int64(n)
			case syscall.EINTR:
			case syscall.EAGAIN:
				return false // wait until writable, then call again
			default:
				serr = e
				return true
			}
		}
		return true
	})
	if serr == nil {
		serr = werr
	}
	return written, serr, true
}
