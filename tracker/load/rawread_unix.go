//go:build unix

package load

import "syscall"

// rawReads tells whether readLoop reads descriptors itself (readFD).
const rawReads = true

var (
	errInterrupted error = syscall.EINTR
	errWouldBlock  error = syscall.EAGAIN
)

// readFD is read(2) on a descriptor; its errors are bare syscall.Errno
// values, comparable with the ones above.
func readFD(fd uintptr, b []byte) (int, error) { return syscall.Read(int(fd), b) }
