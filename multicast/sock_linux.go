package multicast

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

var (
	// gsoCmsgSpace is the room one UDP_SEGMENT control message takes.
	gsoCmsgSpace = unix.CmsgSpace(2)
	// dropsCmsgSpace is the room one SO_RXQ_OVFL control message takes;
	// each received message gets this much control buffer.
	dropsCmsgSpace = unix.CmsgSpace(4)
)

// senderControl returns a net.Dialer Control func that sets the multicast
// options of a sender's socket before it is connected to the group: the
// outgoing interface first, so that connect(2) routes by it and picks the
// source address receivers will see.
func senderControl(ifindex, ttl int, loop bool) func(string, string, syscall.RawConn) error {
	return func(_, _ string, c syscall.RawConn) error {
		var err error
		cerr := c.Control(func(fd uintptr) {
			s := int(fd)
			if err = unix.SetsockoptIPMreqn(s, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, &unix.IPMreqn{Ifindex: int32(ifindex)}); err != nil {
				err = fmt.Errorf("IP_MULTICAST_IF: %w", err)
				return
			}
			if err = unix.SetsockoptInt(s, unix.IPPROTO_IP, unix.IP_MULTICAST_TTL, ttl); err != nil {
				err = fmt.Errorf("IP_MULTICAST_TTL: %w", err)
				return
			}
			on := 0
			if loop {
				on = 1
			}
			if err = unix.SetsockoptInt(s, unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, on); err != nil {
				err = fmt.Errorf("IP_MULTICAST_LOOP: %w", err)
			}
		})
		if cerr != nil {
			return cerr
		}
		return err
	}
}

// listenerControl is the net.ListenConfig Control func of a listener's
// socket. Go binds a multicast listener to 0.0.0.0:port, and with the
// default IP_MULTICAST_ALL=1 Linux hands such a socket every group that any
// socket of the host joined on that port, with any source. Setting it to 0
// before bind means the socket only ever sees the groups (and, for SSM, the
// sources) it joined itself. SO_RXQ_OVFL makes the kernel attach the
// socket's drop counter to each datagram.
func listenerControl(_, _ string, c syscall.RawConn) error {
	var err error
	cerr := c.Control(func(fd uintptr) {
		s := int(fd)
		if err = unix.SetsockoptInt(s, unix.IPPROTO_IP, unix.IP_MULTICAST_ALL, 0); err != nil {
			err = fmt.Errorf("IP_MULTICAST_ALL: %w", err)
			return
		}
		if err = unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_RXQ_OVFL, 1); err != nil {
			err = fmt.Errorf("SO_RXQ_OVFL: %w", err)
		}
	})
	if cerr != nil {
		return cerr
	}
	return err
}

// setReadBuffer asks for a receive buffer of n bytes and returns what the
// kernel granted (getsockopt SO_RCVBUF, which on Linux is twice the usable
// payload bytes: the kernel counts its own bookkeeping). SO_RCVBUFFORCE, which
// needs CAP_NET_ADMIN, goes past net.core.rmem_max; without the capability
// SO_RCVBUF is capped at rmem_max.
func setReadBuffer(c syscall.RawConn, n int) (granted int, forced bool, err error) {
	cerr := c.Control(func(fd uintptr) {
		s := int(fd)
		if unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, n) == nil {
			forced = true
		} else if err = unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_RCVBUF, n); err != nil {
			err = fmt.Errorf("SO_RCVBUF: %w", err)
			return
		}
		granted, err = unix.GetsockoptInt(s, unix.SOL_SOCKET, unix.SO_RCVBUF)
	})
	if cerr != nil {
		return 0, false, cerr
	}
	return granted, forced, err
}

// probeGSO asks whether the kernel knows UDP_SEGMENT (Linux 4.18) by
// setting the socket's default segment size to 0, which changes nothing.
// It cannot tell whether a send through a given route will be accepted;
// the first GSO send does (see isGSORefusal).
func probeGSO(c syscall.RawConn) error {
	var err error
	cerr := c.Control(func(fd uintptr) {
		err = unix.SetsockoptInt(int(fd), unix.SOL_UDP, unix.UDP_SEGMENT, 0)
	})
	if cerr != nil {
		return cerr
	}
	if err != nil {
		return fmt.Errorf("%w: setsockopt UDP_SEGMENT: %v", ErrGSOUnsupported, err)
	}
	return nil
}

// putGSOCmsg writes into b (at least gsoCmsgSpace bytes) the control
// message that makes one sendmsg carry many datagrams of size bytes each.
func putGSOCmsg(b []byte, size uint16) []byte {
	b = b[:gsoCmsgSpace]
	clear(b)
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level = unix.SOL_UDP
	h.Type = unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	binary.NativeEndian.PutUint16(b[unix.CmsgLen(0):], size)
	return b
}

// isGSORefusal reports whether a failed GSO send means the kernel will not
// segment for this socket or route, so that sending the same packets
// without GSO is the thing to do. EIO: the route goes through IPsec (xfrm)
// or the device cannot checksum; EINVAL: checksums are off (SO_NO_CHECK) or
// too many segments; EOPNOTSUPP, ENOPROTOOPT: no GSO at all.
func isGSORefusal(err error) bool {
	return errors.Is(err, unix.EIO) || errors.Is(err, unix.EINVAL) ||
		errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOPROTOOPT)
}

// isNoBatch reports whether sendmmsg itself is missing (a seccomp filter,
// say), so that one write per packet is left.
func isNoBatch(err error) bool {
	return errors.Is(err, unix.ENOSYS)
}

// dropsFromOOB returns the socket drop counter that SO_RXQ_OVFL attached
// to a datagram. The kernel attaches it only once the counter is non-zero.
func dropsFromOOB(oob []byte) (uint32, bool) {
	for len(oob) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < unix.SizeofCmsghdr || l > len(oob) {
			return 0, false
		}
		if h.Level == unix.SOL_SOCKET && h.Type == unix.SO_RXQ_OVFL && l >= unix.CmsgLen(4) {
			return binary.NativeEndian.Uint32(oob[unix.CmsgLen(0):]), true
		}
		next := unix.CmsgSpace(l - unix.CmsgLen(0))
		if next >= len(oob) {
			return 0, false
		}
		oob = oob[next:]
	}
	return 0, false
}

// supported reports nil: the socket layer works on Linux.
func supported() error { return nil }

// msgTrunc is the flag recvmmsg sets on a datagram cut to its buffer.
const msgTrunc = unix.MSG_TRUNC
