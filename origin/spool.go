package origin

import (
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
)

// maxOpenPerSegment bounds the open file descriptors kept per spooled
// segment between requests.
const maxOpenPerSegment = 64

// spoolFile is a segment written to disk (in practice, to the page cache)
// so that responses go out with sendfile(2). It keeps a few open
// descriptors between requests, as nginx's open_file_cache does: sendfile
// moves a descriptor's offset, so each response in flight needs its own,
// but opening one per request costs more system calls than the response.
type spoolFile struct {
	path  string
	size  int64
	files chan *os.File // idle descriptors, each at an unknown offset
	dead  atomic.Bool   // the segment left the stream
}

// spoolWrite writes seg's data to a file in dir, or returns nil if that
// failed (the segment is then served from memory).
func spoolWrite(dir string, seg *Segment) *spoolFile {
	path := filepath.Join(dir, seg.Name())
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, seg.Data, 0o644); err != nil {
		_ = os.Remove(tmp)
		return nil
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return nil
	}
	return &spoolFile{path: path, size: int64(len(seg.Data)), files: make(chan *os.File, maxOpenPerSegment)}
}

// get returns a descriptor positioned at the start of the file.
func (s *spoolFile) get() (*os.File, error) {
	select {
	case f := <-s.files:
		if _, err := f.Seek(0, io.SeekStart); err == nil {
			return f, nil
		}
		_ = f.Close()
	default:
	}
	// A blocking descriptor made with NewFile skips the poller set-up that
	// os.Open does for every file (four fcntl calls and an epoll_ctl that
	// fails for regular files).
	fd, err := syscall.Open(s.path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: s.path, Err: err}
	}
	return os.NewFile(uintptr(fd), s.path), nil
}

// put gives a descriptor back after a response.
func (s *spoolFile) put(f *os.File) {
	if s.dead.Load() {
		_ = f.Close()
		return
	}
	select {
	case s.files <- f:
	default:
		_ = f.Close()
	}
	if s.dead.Load() {
		s.drain() // release raced with us
	}
}

func (s *spoolFile) drain() {
	for {
		select {
		case f := <-s.files:
			_ = f.Close()
		default:
			return
		}
	}
}

// release closes the idle descriptors and removes the file. Responses in
// flight keep theirs until they end.
func (s *spoolFile) release() {
	s.dead.Store(true)
	s.drain()
	_ = os.Remove(s.path)
}
