//go:build !linux

package origin

import (
	"errors"
	"net"
)

func memfdWithData(string, []byte) (int, bool) { return -1, false }

func closeFD(int) {}

func preadFD(int, []byte, int64, int64) (int, error) {
	return 0, errors.New("origin: no memory files on this system")
}

func sendMemBody(net.Conn, *memBody) (int64, error, bool) { return 0, nil, false }
