//go:build !linux

package origin

import "net"

// Raw socket I/O is Linux only; elsewhere the connection's own methods run.
func rawRead(net.Conn, []byte) (int, error, bool)        { return 0, nil, false }
func rawWrite(net.Conn, []byte, bool) (int, error, bool) { return 0, nil, false }
