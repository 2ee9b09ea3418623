//go:build !linux

package rtc

import "net"

// setSocketBuffers sets a UDP socket's receive and send buffers to size
// bytes, up to the system's maximum. Errors are ignored: a smaller buffer
// only costs retransmissions.
func setSocketBuffers(c *net.UDPConn, size int) {
	_ = c.SetReadBuffer(size)
	_ = c.SetWriteBuffer(size)
}
