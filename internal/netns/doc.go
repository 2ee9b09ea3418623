// Package netns builds throwaway Linux network namespaces for tests.
//
// Tests of fusioncast may send traffic only to loopback or inside network
// namespaces that the test itself creates and removes. A namespace starts with
// nothing but its own loopback interface, so whatever runs inside can reach
// neither the host's interfaces nor its routes nor its firewall, and any
// address (we use 10.213.X.Y/24) and any fixed port is free to use there.
// Every command this package runs is scoped to a namespace it created
// (`ip -n NAME ...`, `ip netns exec NAME ...`); nothing is ever added to the
// host's own network.
//
// The package needs Linux, root (or CAP_NET_ADMIN) and iproute2's ip command.
// [Available] says whether they are there; tests call
// [fusioncast/internal/testenv.SkipOrFail] when it returns an error, so they
// skip on a laptop and fail in CI. On other systems every function returns
// [ErrUnsupported].
//
// # Namespaces
//
// [New] creates a namespace with an up loopback interface, [NS.Close] kills
// whatever still runs inside and deletes it. [NS.Exec] and [NS.Run] run a
// program inside, [NS.IP] runs `ip -n NAME ...`, and [NS.Do] runs a Go func on
// an OS thread that has entered the namespace, so that the test process itself
// can open listeners and connections there:
//
//	ns, err := netns.New("fct")
//	...
//	defer ns.Close()
//	var l net.Listener
//	err = ns.Do(func() (err error) {
//		l, err = net.Listen("tcp", "127.0.0.1:8080")
//		return err
//	})
//
// # Why the self-veth and the default route
//
// Headless Chromium gathers WebRTC host candidates only on the interface that
// the default route uses (without camera or microphone permission it does not
// enumerate all interfaces, and it never offers loopback). In a fresh
// namespace there is no default route, so a page's RTCPeerConnection gathers
// no host candidate and can never connect. [NS.AddSelfVeth] gives the
// namespace a veth pair whose two ends are both inside it, addresses on a /24,
// and a default route via the second end: Chromium then offers the first
// address as its host candidate, and every packet stays inside the namespace.
// The browser package also turns off the mDNS obfuscation of those
// candidates, so a test can check the address.
//
// # Several namespaces on one LAN
//
// [NewBridge] creates a namespace that holds a Linux bridge, and
// [Bridge.Attach] wires another namespace to it with a veth pair and gives
// that namespace's end an address. Namespaces attached to one bridge form one
// Ethernet segment: an origin, a relay and browsers can each get their own
// namespace and talk as if on a campus LAN. Multicast snooping is off, so the
// bridge floods multicast to every port.
//
// # Running a test inside a namespace
//
// A program such as Chromium inherits the namespace it is started in, and a
// Go test that starts it must then serve it from inside the namespace too.
// [InNamespace] makes that simple: called at the top of a test, it creates a
// namespace, lets a setup func prepare it, runs the same test again inside it
// (`ip netns exec NAME <test binary> -test.run ^Name$`), forwards the inner
// output to t.Log, and makes the outer test pass or fail with the inner one.
// In the inner run [InsideEnv] is set, InNamespace returns true and the test
// body runs:
//
//	func TestInside(t *testing.T) {
//		if !netns.InNamespace(t, func(ns *netns.NS) error {
//			return ns.AddSelfVeth("10.213.1.1", "10.213.1.2")
//		}) {
//			return
//		}
//		l, err := net.Listen("tcp", "10.213.1.1:0") // inside the namespace
//		...
//	}
//
// Code before the call runs in both processes, so keep it to skip checks.
//
// A benchmark calls InNamespace the same way with its *testing.B: the inner
// run calls it once (-test.benchtime=1x) and the outer benchmark reports the
// inner run's metrics (b.ReportMetric) as its own.
package netns
