//go:build !linux

package origin

import "net"

// setCork does nothing outside Linux.
func setCork(net.Conn, bool) {}
