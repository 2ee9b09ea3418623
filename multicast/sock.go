package multicast

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
)

// Errors returned by the socket layer ([Sender] and [Listener]).
var (
	// ErrClosed is returned by [Sender.Send] after [Sender.Close], and by a
	// second Close of a [Sender] or [Listener].
	ErrClosed = errors.New("multicast: closed")
	// ErrNoInterface is returned when a configuration names no interface or
	// one that does not exist. The interface is never guessed: a wrong
	// default could send the stream out of the wrong network.
	ErrNoInterface = errors.New("multicast: no interface")
	// ErrBadAddress is returned for a group that is not an IPv4 multicast
	// address with a port, or a source that is not an IPv4 unicast address.
	ErrBadAddress = errors.New("multicast: bad address")
	// ErrGSOUnsupported is returned when [SendGSO] is asked for and the
	// kernel does not offer UDP segmentation offload (Linux 4.18 or later)
	// or refuses it for this socket.
	ErrGSOUnsupported = errors.New("multicast: UDP GSO unsupported")
	// ErrUnsupported is returned on systems other than Linux: the socket
	// layer relies on Linux socket options (IP_MULTICAST_ALL, UDP_SEGMENT,
	// SO_RXQ_OVFL, SO_RCVBUFFORCE).
	ErrUnsupported = errors.New("multicast: sockets need Linux")
)

// parseGroup parses "ip:port" as an IPv4 multicast group. The port may be 0
// only if zeroPort is set (a [Listener] then gets a port from the kernel).
func parseGroup(s string, zeroPort bool) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%w: group %q: want ip:port", ErrBadAddress, s)
	}
	a := ap.Addr()
	if !a.Is4() {
		return netip.AddrPort{}, fmt.Errorf("%w: group %q: only IPv4 groups are supported", ErrBadAddress, s)
	}
	if !a.IsMulticast() {
		return netip.AddrPort{}, fmt.Errorf("%w: group %q is not a multicast address (224.0.0.0/4)", ErrBadAddress, s)
	}
	if ap.Port() == 0 && !zeroPort {
		return netip.AddrPort{}, fmt.Errorf("%w: group %q: port 0", ErrBadAddress, s)
	}
	return ap, nil
}

// parseSource parses an optional IPv4 unicast address, "ip" or, if
// withPort, "ip:port". An empty string is the zero AddrPort.
func parseSource(s string, withPort bool) (netip.AddrPort, error) {
	if s == "" {
		return netip.AddrPort{}, nil
	}
	var ap netip.AddrPort
	if a, err := netip.ParseAddr(s); err == nil {
		ap = netip.AddrPortFrom(a, 0)
	} else if p, perr := netip.ParseAddrPort(s); perr == nil && withPort {
		ap = p
	} else {
		want := "ip"
		if withPort {
			want = "ip or ip:port"
		}
		return netip.AddrPort{}, fmt.Errorf("%w: source %q: want %s", ErrBadAddress, s, want)
	}
	a := ap.Addr()
	if !a.Is4() || a.IsMulticast() || a.IsUnspecified() && !withPort {
		return netip.AddrPort{}, fmt.Errorf("%w: source %q is not an IPv4 unicast address", ErrBadAddress, s)
	}
	return ap, nil
}

// lookupInterface returns the interface called name. An empty name is an
// error: the caller must always say where multicast goes.
func lookupInterface(name string) (*net.Interface, error) {
	if name == "" {
		return nil, fmt.Errorf("%w: the interface must be named (\"lo\" for this host only)", ErrNoInterface)
	}
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return nil, fmt.Errorf("%w: interface %q: %v", ErrNoInterface, name, err)
	}
	if ifi.Flags&net.FlagUp == 0 {
		return nil, fmt.Errorf("%w: interface %q is down", ErrNoInterface, name)
	}
	return ifi, nil
}

// udpAddr converts ap for the net and x/net/ipv4 APIs.
func udpAddr(ap netip.AddrPort) *net.UDPAddr {
	return net.UDPAddrFromAddrPort(ap)
}
