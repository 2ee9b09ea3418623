//go:build !linux

package rtc

import (
	"net"

	"github.com/pion/logging"
	"github.com/pion/transport/v5"
)

// batchedConn returns c: batching uses Linux's UDP GSO and recvmmsg.
func batchedConn(c *net.UDPConn, _ logging.LeveledLogger) (net.PacketConn, error) {
	return c, nil
}

// readBatched returns c: batching uses Linux's recvmmsg.
func readBatched(c *net.UDPConn) transport.UDPConn {
	return c
}
