package origin

import (
	"net/http"
	"strconv"
	"sync/atomic"
)

// memFile is a segment's bytes in an anonymous in-memory file (memfd on
// Linux), so that responses leave with sendfile(2): the kernel sends the
// pages without copying them through user space, as nginx does from the
// page cache. sendfile is given an explicit offset, so one descriptor
// serves any number of responses at once and is never repositioned.
type memFile struct {
	fd   int
	size int64
	refs atomic.Int64 // 1 for the stream while it retains the segment, +1 per response
	// Header values of a full response, made once and never modified.
	contentLength, lastModified []string
}

// newMemFile copies seg's data into a memory file, or returns nil where that
// is not possible (other systems, out of descriptors): the segment is then
// served from memory by copying.
func newMemFile(seg *Segment) *memFile {
	fd, ok := memfdWithData(seg.Name(), seg.Data)
	if !ok {
		return nil
	}
	m := &memFile{
		fd:            fd,
		size:          int64(len(seg.Data)),
		contentLength: []string{strconv.Itoa(len(seg.Data))},
		lastModified:  []string{seg.Published.UTC().Format(http.TimeFormat)},
	}
	m.refs.Store(1)
	return m
}

// acquire takes a reference for one response; false if the file is gone.
func (m *memFile) acquire() bool {
	for {
		n := m.refs.Load()
		if n <= 0 {
			return false
		}
		if m.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// release drops a reference and closes the file after the last one.
func (m *memFile) release() {
	if m.refs.Add(-1) == 0 {
		closeFD(m.fd)
	}
}

// memBody is the body of one response from a memFile. Passed to the
// connection's ReadFrom, it is sent with sendfile; read as an io.Reader (by
// any other writer) it reads with pread.
type memBody struct {
	m   *memFile
	off int64
}

func (b *memBody) Read(p []byte) (int, error) {
	n, err := preadFD(b.m.fd, p, b.off, b.m.size)
	b.off += int64(n)
	return n, err
}
