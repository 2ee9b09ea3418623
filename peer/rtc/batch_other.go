//go:build !linux

package rtc

import (
	"net"

	"github.com/pion/logging"
)

// batchedConn returns c: batching uses Linux's UDP GSO and recvmmsg.
func batchedConn(c *net.UDPConn, _ logging.LeveledLogger) (net.PacketConn, error) {
	return c, nil
}
