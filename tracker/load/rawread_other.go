//go:build !unix

package load

import "errors"

// rawReads tells whether readLoop reads descriptors itself: not here, where
// it uses the connection's Read.
const rawReads = false

var (
	errInterrupted = errors.New("interrupted")
	errWouldBlock  = errors.New("would block")
)

func readFD(uintptr, []byte) (int, error) { return 0, errors.ErrUnsupported }
