package netns

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"
)

var (
	// ErrUnsupported is returned on systems without Linux network namespaces.
	ErrUnsupported = errors.New("netns: network namespaces need Linux")

	// ErrUnavailable is returned by [Available] (wrapped, with the reason) when
	// this process cannot create network namespaces.
	ErrUnavailable = errors.New("netns: network namespaces unavailable")

	// ErrClosed is returned by Close after the first call, and by methods of
	// a namespace or bridge that was closed.
	ErrClosed = errors.New("netns: closed")

	// ErrBadArgument is returned for a malformed prefix, interface name,
	// address or prefix length.
	ErrBadArgument = errors.New("netns: bad argument")
)

// InsideEnv is the environment variable that [InNamespace] sets, to the
// namespace's name, for the copy of the test binary it runs inside the
// namespace.
const InsideEnv = "FUSIONCAST_IN_NETNS"

// Interface names used by [NS.AddSelfVeth] and [NewBridge].
const (
	// SelfVethA is the first end of the pair that [NS.AddSelfVeth] creates;
	// it holds ip1 and the default route.
	SelfVethA = "fcv0"
	// SelfVethB is the second end; it holds ip2, the default gateway.
	SelfVethB = "fcv1"
	// BridgeName is the Linux bridge inside a [Bridge]'s namespace.
	BridgeName = "br0"
)

// NS is a Linux network namespace created by [New]. It starts with only an
// up loopback interface: no route leads out of it, so nothing that runs inside
// can reach the host's networks.
//
// Close deletes it. Its methods are safe for concurrent use.
type NS struct {
	// Name is the namespace's name as `ip netns list` shows it, prefix-<hex>.
	Name string

	mu     sync.Mutex
	closed bool
}

// Bridge is a namespace that holds the Linux bridge [BridgeName]. [Bridge.Attach]
// links other namespaces to it with veth pairs, which makes them one Ethernet
// segment: a small LAN for multi-namespace tests. Multicast snooping is off, so
// the bridge floods multicast to every port like a hub.
type Bridge struct {
	// NS is the namespace that holds the bridge and the bridge ends of the
	// veth pairs. Closing it (or the Bridge) removes every link to it.
	NS *NS

	mu    sync.Mutex
	ports int
}

// Current returns the name of the namespace that [InNamespace] re-executed
// this test binary in, or "" if it is not such a child.
func Current() string {
	return os.Getenv(InsideEnv)
}

// newName returns prefix-<8 hex digits>, or an error if prefix is not 1 to 32
// characters of [a-z0-9-].
func newName(prefix string) (string, error) {
	if len(prefix) == 0 || len(prefix) > 32 {
		return "", fmt.Errorf("%w: prefix %q must have 1 to 32 characters", ErrBadArgument, prefix)
	}
	for _, c := range prefix {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return "", fmt.Errorf("%w: prefix %q may only hold a-z, 0-9 and -", ErrBadArgument, prefix)
		}
	}
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return prefix + "-" + hex.EncodeToString(b[:]), nil
}

// checkIfName reports an error unless name is a valid Linux interface name.
func checkIfName(name string) error {
	if len(name) == 0 || len(name) > 15 {
		return fmt.Errorf("%w: interface name %q must have 1 to 15 characters", ErrBadArgument, name)
	}
	for _, c := range name {
		if c <= ' ' || c == '/' || c == ':' || c > '~' {
			return fmt.Errorf("%w: interface name %q", ErrBadArgument, name)
		}
	}
	return nil
}

// checkIPv4 parses s as a plain IPv4 address.
func checkIPv4(s string) error {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return fmt.Errorf("%w: %q is not an IPv4 address", ErrBadArgument, s)
	}
	return nil
}

// checkPrefix parses s as address/length, such as 10.213.2.1/24.
func checkPrefix(s string) error {
	if _, err := netip.ParsePrefix(s); err != nil {
		return fmt.Errorf("%w: %q is not address/length: %v", ErrBadArgument, s, err)
	}
	return nil
}
