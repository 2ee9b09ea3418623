//go:build linux

package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"fusioncast/internal/netns"
	"fusioncast/internal/testenv"
	"fusioncast/multicast"
)

// The namespace lab: one bridge, and namespaces for the origin, two
// receivers and a forger, each attached with its own address. Nothing
// leaves these namespaces, so the group, port and addresses are fixed.
const (
	labGroup  = "239.255.61.1"
	labPort   = 5004
	labIface  = "mc0"
	labOrigin = "10.213.61.1"
)

type mcastLab struct {
	sender, a, b, forger *netns.NS
	nft                  string // the nft program
	key                  string // the origin's signing key
}

// TestMcastRecvNamespaces runs the origin, two `mcast recv` receivers and
// a forger in four namespaces on one bridge, in three phases of
// 20, 12 and 10 s of stream, each with a fresh origin and fresh receivers
// that join before the origin sends its first object:
//
//   - loss5: nftables drops 5% of A's multicast packets at random. Every
//     object reaches A and completes by FEC alone (no repair); B, without
//     loss, needs neither FEC nor repair.
//   - loss30: 30% loss on A. Every object completes, with FEC and repairs
//     from the origin over HTTP.
//   - forger: a fourth namespace sends INFOs signed with another key and
//     symbols for the object ids the origin is about to use, under the
//     stream's SSRC. A and B count them forged, every object still
//     completes, and nothing forged reaches their folders.
//
// In every phase each receiver's folder ends with exactly the origin's
// segments (SHA-256 checked) and its last playlist.
func TestMcastRecvNamespaces(t *testing.T) {
	if err := netns.Available(); err != nil {
		testenv.SkipOrFail(t, "network namespaces: "+err.Error())
	}
	lab := newMcastLab(t, findNft(t))

	t.Run("loss5", func(t *testing.T) {
		res := lab.run(t, labPhase{stream: 20 * time.Second, lossA: 5, receivers: []string{"A", "B"}})
		t.Run("A_fec_alone", func(t *testing.T) {
			a := res.recv["A"].Reassembler
			t.Logf("A: nftables dropped %d packets; %d objects, %d by FEC (%d symbols), %d repairs", res.droppedA,
				a.Delivered, a.FECObjects, a.FECSymbols, a.Repairs)
			if res.droppedA == 0 || a.Lost == 0 || a.FECObjects == 0 {
				t.Errorf("no loss to recover: nftables dropped %d, lost %d, FEC objects %d", res.droppedA, a.Lost, a.FECObjects)
			}
			if a.Repairs != 0 || a.Repaired != 0 {
				t.Errorf("%d repairs at 5%% loss: FEC should have rebuilt every object (see docs/multicast.md, \"Tests\")", a.Repairs)
			}
		})
		t.Run("B_no_loss", func(t *testing.T) {
			b := res.recv["B"].Reassembler
			if b.FECObjects != 0 || b.FECSymbols != 0 || b.Repairs != 0 || b.Lost != 0 || b.Complete != b.Delivered {
				t.Errorf("without loss: lost %d, %d FEC objects (%d symbols), %d repairs, %d of %d whole", b.Lost,
					b.FECObjects, b.FECSymbols, b.Repairs, b.Complete, b.Delivered)
			}
		})
	})
	t.Run("loss30", func(t *testing.T) {
		res := lab.run(t, labPhase{stream: 12 * time.Second, lossA: 30, receivers: []string{"A"}})
		a := res.recv["A"].Reassembler
		t.Logf("A: nftables dropped %d packets; %d objects, %d by FEC (%d symbols), %d repaired by %d repairs", res.droppedA,
			a.Delivered, a.FECObjects, a.FECSymbols, a.Repaired, a.Repairs)
		// Segments need repairs (a block of 76 symbols keeps about 53 of
		// the 63 it needs); FEC still rebuilds some playlists, but not in
		// every run, so only the repairs are required.
		if a.Repairs == 0 || a.Repaired == 0 {
			t.Errorf("at 30%% loss: %d repairs, %d repaired", a.Repairs, a.Repaired)
		}
	})
	t.Run("forger", func(t *testing.T) {
		res := lab.run(t, labPhase{stream: 10 * time.Second, receivers: []string{"A", "B"}, forger: true})
		t.Logf("forger sent %d forged objects", res.forged)
		for _, name := range []string{"A", "B"} {
			r := res.recv[name].Reassembler
			if r.Dropped["forged"] == 0 {
				t.Errorf("%s counted no forged packet", name)
			}
		}
	})
}

func newMcastLab(t *testing.T, nft string) *mcastLab {
	t.Helper()
	br, err := netns.NewBridge("fcmcbr")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { br.Close() })
	lab := &mcastLab{nft: nft, key: filepath.Join(t.TempDir(), "origin.key")}
	for i, p := range []struct {
		ns   **netns.NS
		name string
	}{{&lab.sender, "fcmc-origin"}, {&lab.a, "fcmc-a"}, {&lab.b, "fcmc-b"}, {&lab.forger, "fcmc-forger"}} {
		ns, err := netns.New(p.name)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ns.Close() })
		if err := br.Attach(ns, labIface, fmt.Sprintf("10.213.61.%d/24", i+1)); err != nil {
			t.Fatal(err)
		}
		// The sender sends runs of packets as one UDP GSO buffer. A veth
		// carries such a buffer whole to the receiving socket, where
		// nftables would see (and drop) a run of up to 64 packets as one;
		// on a network card it leaves as separate packets. gso_max_segs 1
		// makes the kernel cut it before the veth, as for a card without
		// UDP segmentation offload, so that the loss is per packet.
		if _, err := ns.IP(context.Background(), "link", "set", "dev", labIface, "gso_max_segs", "1"); err != nil {
			t.Fatal(err)
		}
		*p.ns = ns
	}
	return lab
}

// labPhase is one run of the lab.
type labPhase struct {
	stream    time.Duration // how long the origin publishes
	lossA     int           // percent of A's multicast packets dropped
	receivers []string      // "A", "B"
	forger    bool
}

// labResult is what a phase measured.
type labResult struct {
	recv     map[string]mcastRecvResult
	droppedA int   // packets nftables dropped on A
	forged   int64 // objects the forger sent
}

// run runs one phase and checks what every phase must show: each receiver
// delivered every object the origin sent, and its folder holds exactly
// the origin's segments and last playlist.
func (lab *mcastLab) run(t *testing.T, p labPhase) labResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if err := lab.setLoss(ctx, p.lossA); err != nil {
		t.Fatal(err)
	}
	group := fmt.Sprintf("%s:%d", labGroup, labPort)
	o := newMcastTestOrigin(t, labOrigin+":0", mcastFlags{group: group, iface: labIface, key: lab.key, ttl: 1,
		rateMbps: 100, fec: multicast.DefaultOverhead, packet: multicast.DefaultPacketSize}, lab.sender.Do)
	recvs := map[string]*labReceiver{}
	for _, name := range p.receivers {
		ns := map[string]*netns.NS{"A": lab.a, "B": lab.b}[name]
		recvs[name] = startLabReceiver(ctx, t, name, ns, "mcast", "recv", "--group", group, "--iface", labIface,
			"--origin", o.base, "--key", o.pubKey, "--keep", "1000", "--json")
	}
	for _, r := range recvs {
		if err := r.stderr.wait(ctx, "mcast recv: joined", r.exited); err != nil {
			t.Fatal(err)
		}
	}
	var f *labForger
	if p.forger {
		var err error
		if f, err = startLabForger(lab.forger, group, netip.MustParseAddr(labOrigin)); err != nil {
			t.Fatal(err)
		}
		defer f.stop()
	}
	o.start()
	time.Sleep(p.stream)
	var res labResult
	if f != nil {
		res.forged = f.stop()
	}
	o.freeze()
	want := o.published(t)
	for name, r := range recvs {
		if err := waitFolder(ctx, r.out, want); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if p.lossA > 0 {
		// The folder holds the newest playlist, not every one: an older
		// playlist whose packets were all lost is repaired as a gap once
		// the reassembler's age limit has passed after a later object
		// arrived. Give it that long before counting deliveries.
		time.Sleep(multicast.DefaultMaxAge + 2*time.Second)
	}
	res.recv = map[string]mcastRecvResult{}
	for name, r := range recvs {
		rr, err := r.stop()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		res.recv[name] = rr
	}
	sent := o.objectsSent(t)
	if p.lossA > 0 {
		var err error
		if res.droppedA, err = lab.dropped(ctx); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("origin sent %d objects (%d segments)", sent, len(want.segments))
	for name, r := range recvs {
		t.Logf("%s: %s", name, resultLine(res.recv[name]))
		t.Run(name+"_complete", func(t *testing.T) {
			checkRecv(t, res.recv[name], sent, want, p.forger)
			checkFolder(t, r.out, want)
		})
	}
	return res
}

// setLoss makes nftables in A's namespace drop pct% of the multicast
// packets at random (none for 0), before anything else sees them.
func (lab *mcastLab) setLoss(ctx context.Context, pct int) error {
	cmds := [][]string{
		{"add", "table", "inet", "fcloss"},
		{"add", "chain", "inet", "fcloss", "pre", "{ type filter hook prerouting priority -300 ; policy accept ; }"},
		{"flush", "chain", "inet", "fcloss", "pre"},
	}
	if pct > 0 {
		cmds = append(cmds, []string{"add", "rule", "inet", "fcloss", "pre", "udp", "dport", strconv.Itoa(labPort),
			"numgen", "random", "mod", "100", "<", strconv.Itoa(pct), "counter", "drop"})
	}
	for _, c := range cmds {
		if err := lab.a.Run(ctx, lab.nft, c...); err != nil {
			return err
		}
	}
	return nil
}

// dropped returns the packets A's loss rule dropped.
func (lab *mcastLab) dropped(ctx context.Context) (int, error) {
	out, err := lab.a.Exec(ctx, lab.nft, "list", "chain", "inet", "fcloss", "pre").Output()
	if err != nil {
		return 0, fmt.Errorf("nft list: %w", err)
	}
	m := regexp.MustCompile(`counter packets (\d+)`).FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("no counter in %s", out)
	}
	return strconv.Atoi(string(m[1]))
}

// labReceiver is `fusioncast mcast recv` running in a namespace: this
// test binary, which runs main when runMainEnv is set.
type labReceiver struct {
	cmd    *exec.Cmd
	out    string
	stdout bytes.Buffer
	stderr *lineWatch
	exited chan struct{}
	err    error
}

func startLabReceiver(ctx context.Context, t *testing.T, name string, ns *netns.NS, args ...string) *labReceiver {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	r := &labReceiver{out: t.TempDir(), stderr: newLineWatch(t, name), exited: make(chan struct{})}
	r.cmd = ns.Exec(ctx, exe, append(args, "--out", r.out)...)
	r.cmd.Env = append(os.Environ(), runMainEnv+"=1")
	r.cmd.Stdout, r.cmd.Stderr = &r.stdout, r.stderr
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		r.err = r.cmd.Wait()
		close(r.exited)
	}()
	// Its output goes to t.Log: it must be gone when the test ends.
	t.Cleanup(func() {
		_ = r.cmd.Process.Kill()
		<-r.exited
	})
	return r
}

// stop interrupts the receiver, as Ctrl-C would, and returns its summary.
func (r *labReceiver) stop() (mcastRecvResult, error) {
	var res mcastRecvResult
	if err := r.cmd.Process.Signal(os.Interrupt); err != nil {
		return res, err
	}
	select {
	case <-r.exited:
	case <-time.After(time.Minute):
		return res, fmt.Errorf("still running a minute after SIGINT")
	}
	if r.err != nil {
		return res, r.err
	}
	if err := json.Unmarshal(r.stdout.Bytes(), &res); err != nil {
		return res, fmt.Errorf("%v: %s", err, r.stdout.String())
	}
	return res, nil
}

// labForger sends forged objects into the group from its namespace: INFOs
// signed with its own key, and symbols, under the stream's SSRC, for the
// newest object id it heard from the origin and the next two, with names
// like the origin's, three times a second.
type labForger struct {
	l      *multicast.Listener
	snd    *multicast.Sender
	pk     *multicast.Packetizer
	newest atomic.Int64 // the origin's newest object id, -1 before any
	sent   atomic.Int64
	quit   chan struct{}
	wg     sync.WaitGroup
	once   sync.Once
}

func startLabForger(ns *netns.NS, group string, origin netip.Addr) (*labForger, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	f := &labForger{quit: make(chan struct{})}
	f.newest.Store(-1)
	if f.pk, err = multicast.NewPacketizer(multicast.PacketizerConfig{Stream: "demo", Key: key}); err != nil {
		return nil, err
	}
	ssrc := multicast.SSRC("demo")
	err = ns.Do(func() (err error) {
		f.l, err = multicast.Listen(multicast.ListenerConfig{Group: group, Interface: labIface, Handler: func(d *multicast.Datagram) {
			var p multicast.Packet
			if d.Source.Addr() != origin || p.Unmarshal(d.Data) != nil || p.SSRC != ssrc {
				return
			}
			if n := f.newest.Load(); n < 0 || int32(p.ObjectID-uint32(n)) > 0 {
				f.newest.Store(int64(p.ObjectID))
			}
		}})
		if err != nil {
			return err
		}
		f.snd, err = multicast.NewSender(multicast.SenderConfig{Group: group, Interface: labIface})
		return err
	})
	if err != nil {
		if f.l != nil {
			f.l.Close()
		}
		return nil, err
	}
	f.wg.Go(f.loop)
	return f, nil
}

func (f *labForger) loop() {
	tick := time.NewTicker(300 * time.Millisecond)
	defer tick.Stop()
	var pkts [][]byte
	for {
		select {
		case <-f.quit:
			return
		case <-tick.C:
		}
		n := f.newest.Load()
		if n < 0 {
			continue
		}
		for off := range uint32(3) {
			obj := multicast.Object{ID: uint32(n) + off, Kind: multicast.KindSegment,
				Name: fmt.Sprintf("%d-%016x.ts", 900_000_000+mrand.IntN(1_000_000), mrand.Uint64())}
			if off == 1 {
				obj.Kind, obj.Name = multicast.KindPlaylist, "index.m3u8"
				obj.Data = []byte("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\nforged.ts\n")
			} else {
				obj.Data = make([]byte, 20_000+mrand.IntN(40_000))
				_, _ = rand.Read(obj.Data)
			}
			var err error
			if pkts, err = f.pk.Packetize(obj, time.Now(), pkts[:0]); err == nil {
				if f.snd.Send(pkts) == nil {
					f.sent.Add(1)
				}
			}
		}
	}
}

// stop stops the forger and returns the objects it sent.
func (f *labForger) stop() int64 {
	f.once.Do(func() {
		close(f.quit)
		f.wg.Wait()
		f.snd.Close()
		f.l.Close()
	})
	return f.sent.Load()
}
