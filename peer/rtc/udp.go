package rtc

import (
	"fmt"
	"net"

	"github.com/pion/ice/v4"
	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
)

// listenMux opens the one UDP socket of cfg.ListenUDP and returns pion's
// ICE mux on it: every peer connection's candidate is that address, and
// the mux sorts incoming packets by their source address (after the ICE
// checks, by the username of the STUN binding request).
func listenMux(cfg ICEConfig, logs pionLogs) (*ice.UDPMuxDefault, error) {
	addr, err := net.ResolveUDPAddr("udp4", cfg.ListenUDP)
	if err != nil {
		return nil, fmt.Errorf("rtc: ICE.ListenUDP: %w", err)
	}
	conn, err := net.ListenUDP("udp4", addr)
	if err != nil {
		return nil, fmt.Errorf("rtc: ICE.ListenUDP: %w", err)
	}
	if cfg.SocketBuffer > 0 {
		setSocketBuffers(conn, cfg.SocketBuffer)
	}
	log := logs.NewLogger("udpmux")
	var pc net.PacketConn = conn
	if !cfg.NoBatch {
		if pc, err = batchedConn(conn, log); err != nil {
			_ = conn.Close()
			return nil, fmt.Errorf("rtc: ICE.ListenUDP: %w", err)
		}
	}
	return ice.NewUDPMuxDefault(ice.UDPMuxParams{UDPConn: pc, Logger: log}), nil
}

// bufferedNet is the standard network of pion with, on the UDP sockets it
// opens (one per peer connection and interface), larger socket buffers
// (size, if above zero) and batched reads (batch).
type bufferedNet struct {
	*stdnet.Net
	size  int
	batch bool
}

func newBufferedNet(size int, batch bool) (transport.Net, error) {
	n, err := stdnet.NewNet()
	if err != nil {
		return nil, err
	}
	return bufferedNet{n, size, batch}, nil
}

// ListenUDP opens a socket, sets its buffers and batches its reads.
func (n bufferedNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.Net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	uc, ok := c.(*net.UDPConn)
	if !ok {
		if n.size > 0 {
			_ = c.SetReadBuffer(n.size)
			_ = c.SetWriteBuffer(n.size)
		}
		return c, nil
	}
	if n.size > 0 {
		setSocketBuffers(uc, n.size)
	}
	if n.batch {
		return readBatched(uc), nil
	}
	return uc, nil
}
