package multicast

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultReceiverKeep is how many segment files a [Receiver] keeps in its
// folder when [ReceiverConfig.Keep] is zero: three playlists' worth of a
// 6-segment window, the origin's own retention.
const DefaultReceiverKeep = 3 * 6

// receiverQueue bounds the verified objects waiting for the writer. While
// it is full, packets wait in the listener's buffers and then in the
// kernel's: a slow disk turns into packet loss and repairs, not into
// unbounded memory.
const receiverQueue = 32

// ReceiverConfig configures a [Receiver]: where to listen, which stream and
// key to accept, how to repair, and where verified objects go. The zero
// value of each optional field means the stated default.
type ReceiverConfig struct {
	// Group, Interface and Source are the [ListenerConfig] fields: the
	// group and port, the interface to join it on (required), and for SSM
	// the one sender's address.
	Group, Interface, Source string
	// ReadBuffer is the receive buffer to ask the kernel for. If zero,
	// [DefaultReadBuffer].
	ReadBuffer int
	// Stream is the stream's name (it gives the SSRC). Required.
	Stream string
	// PublicKey verifies the origin's signatures. Required.
	PublicKey ed25519.PublicKey
	// Repair fetches what multicast does not bring, usually [HTTPRepair]
	// against the origin. If nil, such objects are lost (counted in
	// [ReassemblerStats.RepairFailures]).
	Repair RepairFunc
	// Out, if set, is an existing folder that each verified object is
	// written to, under its name, atomically: a temporary file in the
	// folder renamed into place, so a reader sees the whole verified
	// object or the previous one, never a part. Names that would leave the
	// folder (through "..", an absolute path or a symbolic link) are
	// refused.
	Out string
	// Deliver, if set, receives each verified object that the receiver
	// keeps (see [Receiver]), after it was written to Out if Out is set.
	// It is called from one goroutine at a time. At least one of Out and
	// Deliver is required.
	Deliver func(Received)
	// Keep is the most segment files kept in Out; the oldest (lowest object
	// id) are deleted beyond it. If zero, [DefaultReceiverKeep].
	Keep int
	// Logger receives the receiver's logs (failed writes and repairs). If
	// nil, logs are discarded.
	Logger *slog.Logger
}

// ReceiverStats are a [Receiver]'s counters: its listener's and
// reassembler's, the receive buffer the kernel granted, and what became of
// the verified objects.
type ReceiverStats struct {
	Listener    ListenerStats
	Reassembler ReassemblerStats
	// ReadBuffer is the receive buffer the kernel granted
	// ([Listener.ReadBuffer]).
	ReadBuffer int
	// Segments and Playlists count the objects written to Out (or given to
	// Deliver without Out).
	Segments, Playlists uint64
	// Old counts verified objects that were not kept because a newer one
	// superseded them: a playlist that completed after a newer one of the
	// same name (repairs complete out of order), or a segment older than
	// the Keep newest.
	Old uint64
	// Removed counts segment files deleted to keep at most Keep.
	Removed uint64
	// WriteErrors counts objects that could not be written (and files
	// that could not be removed).
	WriteErrors uint64
}

// Written returns the objects written: segments and playlists.
func (s ReceiverStats) Written() uint64 { return s.Segments + s.Playlists }

// Receiver joins a stream's multicast group and turns its packets into
// verified objects: a [Listener] feeds a [Reassembler], which repairs what
// is lost through [ReceiverConfig.Repair], and each verified object is
// written to a folder and/or handed to a function. It is the receiving end
// of `fusioncast mcast recv` and of relay agents.
//
// Objects complete in any order (a repaired object after later ones), so
// the receiver keeps, per playlist name, only a playlist whose object id
// is newer than the last one it kept; older ones count as
// [ReceiverStats.Old]. Segments are all kept, up to Keep files.
type Receiver struct {
	cfg   ReceiverConfig
	log   *slog.Logger
	root  *os.Root // nil without Out
	l     *Listener
	reasm *Reassembler
	queue chan Received

	running   atomic.Bool
	closeOnce sync.Once

	// The writer's state, used only by the writer goroutine (and tests).
	playlists map[string]uint32 // newest playlist id kept, by name
	segments  []keptSegment     // segment files in Out, oldest id first

	mu    sync.Mutex
	stats ReceiverStats // Segments, Playlists, Old, Removed, WriteErrors
}

// keptSegment is a segment file the receiver wrote.
type keptSegment struct {
	id   uint32
	name string
}

// NewReceiver checks cfg, opens the folder and joins the group. Packets
// wait in the listener's and the kernel's buffers until [Receiver.Run]
// starts; a receiver that is never run must be closed.
func NewReceiver(cfg ReceiverConfig) (*Receiver, error) {
	r, err := newReceiver(cfg)
	if err != nil {
		return nil, err
	}
	r.l, err = Listen(ListenerConfig{Group: cfg.Group, Interface: cfg.Interface, Source: cfg.Source,
		ReadBuffer: cfg.ReadBuffer, Logger: cfg.Logger})
	if err != nil {
		r.closeRoot()
		return nil, err
	}
	return r, nil
}

// newReceiver is NewReceiver without the socket, for tests of the writer.
func newReceiver(cfg ReceiverConfig) (*Receiver, error) {
	if cfg.Stream == "" {
		return nil, fmt.Errorf("%w: a receiver needs the stream's name", ErrConfig)
	}
	if cfg.Out == "" && cfg.Deliver == nil {
		return nil, fmt.Errorf("%w: a receiver needs a folder or a Deliver function", ErrConfig)
	}
	if cfg.Keep < 0 {
		return nil, fmt.Errorf("%w: keep %d", ErrConfig, cfg.Keep)
	}
	if cfg.Keep == 0 {
		cfg.Keep = DefaultReceiverKeep
	}
	r := &Receiver{cfg: cfg, log: cfg.Logger, queue: make(chan Received, receiverQueue), playlists: map[string]uint32{}}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	r.log = r.log.With("component", "multicast-receiver", "stream", cfg.Stream)
	var err error
	r.reasm, err = NewReassembler(ReassemblerConfig{Stream: cfg.Stream, PublicKey: cfg.PublicKey, Repair: cfg.Repair,
		Logger: r.log, Deliver: func(obj Received) { r.queue <- obj }})
	if err != nil {
		return nil, err
	}
	if cfg.Out != "" {
		fi, err := os.Stat(cfg.Out)
		if err != nil {
			return nil, fmt.Errorf("%w: output folder: %v", ErrConfig, err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("%w: output %s is not a folder", ErrConfig, cfg.Out)
		}
		if r.root, err = os.OpenRoot(cfg.Out); err != nil {
			return nil, fmt.Errorf("%w: output folder: %v", ErrConfig, err)
		}
	}
	return r, nil
}

// Group returns the group and port the receiver listens on.
func (r *Receiver) Group() string { return r.l.Group().String() }

// Stats returns the receiver's counters.
func (r *Receiver) Stats() ReceiverStats {
	r.mu.Lock()
	st := r.stats
	r.mu.Unlock()
	if r.l != nil {
		st.Listener = r.l.Stats()
		st.ReadBuffer = r.l.ReadBuffer()
	}
	st.Reassembler = r.reasm.Stats()
	return st
}

// Run receives until ctx ends: it feeds the packets to the reassembler,
// runs its repairs and timeouts, and writes or delivers the verified
// objects. Then it leaves the group, waits for the repairs in progress
// (their contexts end with ctx) and for the objects they delivered to be
// written, closes the receiver and returns nil. Run may be called once.
func (r *Receiver) Run(ctx context.Context) error {
	if !r.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	var readers, writer sync.WaitGroup
	writer.Go(func() {
		for obj := range r.queue {
			r.keep(obj)
		}
	})
	readers.Go(func() {
		for d := range r.l.Datagrams() {
			r.reasm.Add(d.Data, d.Arrival)
			d.Release()
		}
	})
	readers.Go(func() { _ = r.reasm.Run(ctx) })
	<-ctx.Done()
	// Close ends the datagram loop, Run's end ends the repairs: after both,
	// nothing calls Deliver any more and the queue can close.
	_ = r.l.Close()
	readers.Wait()
	close(r.queue)
	writer.Wait()
	r.closeRoot()
	return nil
}

// Close leaves the group and releases the folder of a receiver that was
// never run (Run does it when it returns).
func (r *Receiver) Close() error {
	if r.running.Load() {
		return nil
	}
	err := r.l.Close()
	r.closeRoot()
	return err
}

func (r *Receiver) closeRoot() {
	r.closeOnce.Do(func() {
		if r.root != nil {
			_ = r.root.Close()
		}
	})
}

// count updates a counter of r.stats.
func (r *Receiver) count(f func(*ReceiverStats)) {
	r.mu.Lock()
	f(&r.stats)
	r.mu.Unlock()
}

// keep decides whether a verified object supersedes what the receiver has,
// then writes and delivers it. It runs on the writer goroutine only.
func (r *Receiver) keep(obj Received) {
	id, name := obj.Info.ID, obj.Info.Name
	switch obj.Info.Kind {
	case KindPlaylist:
		if last, ok := r.playlists[name]; ok && !after(id, last) {
			r.count(func(s *ReceiverStats) { s.Old++ })
			return
		}
		if !r.write(obj) {
			return
		}
		r.playlists[name] = id
		r.count(func(s *ReceiverStats) { s.Playlists++ })
	default:
		if r.root != nil {
			// A name written again (an origin restart sends its window
			// with new ids) replaces its file: forget the old entry, or
			// deleting it later would delete the new file.
			r.segments = slices.DeleteFunc(r.segments, func(k keptSegment) bool { return k.name == name })
			if len(r.segments) >= r.cfg.Keep && after(r.segments[0].id, id) {
				r.count(func(s *ReceiverStats) { s.Old++ })
				return
			}
		}
		if !r.write(obj) {
			return
		}
		r.count(func(s *ReceiverStats) { s.Segments++ })
		if r.root != nil {
			i, _ := slices.BinarySearchFunc(r.segments, id, func(k keptSegment, id uint32) int {
				if k.id == id {
					return 0
				}
				if after(k.id, id) {
					return 1
				}
				return -1
			})
			r.segments = slices.Insert(r.segments, i, keptSegment{id: id, name: name})
			for len(r.segments) > r.cfg.Keep {
				old := r.segments[0]
				r.segments = r.segments[1:]
				if err := r.root.Remove(filepath.FromSlash(old.name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
					r.log.Warn("cannot remove an old segment", "name", old.name, "err", err)
					r.count(func(s *ReceiverStats) { s.WriteErrors++ })
					continue
				}
				r.count(func(s *ReceiverStats) { s.Removed++ })
			}
		}
	}
	if r.cfg.Deliver != nil {
		r.cfg.Deliver(obj)
	}
}

// write writes obj to the folder, if there is one, and reports whether it
// is now there (or there is no folder).
func (r *Receiver) write(obj Received) bool {
	if r.root == nil {
		return true
	}
	if err := r.writeFile(obj.Info.Name, obj.Data); err != nil {
		r.log.Error("cannot write an object", "id", obj.Info.ID, "name", obj.Info.Name, "err", err)
		r.count(func(s *ReceiverStats) { s.WriteErrors++ })
		return false
	}
	return true
}

// writeFile writes data to name under the folder through a temporary file
// in the same folder, synced and then renamed over name: readers see the
// old file or the new one, whole. The codec already refuses names with
// ".." or a leading "/"; filepath.IsLocal checks again, and os.Root refuses
// paths that leave the folder through symbolic links.
func (r *Receiver) writeFile(name string, data []byte) error {
	rel := filepath.FromSlash(name)
	if !filepath.IsLocal(rel) || path.Clean(name) != name {
		return fmt.Errorf("%w: %q is not a plain path inside the folder", ErrBadName, name)
	}
	dir := filepath.Dir(rel)
	if dir != "." {
		if err := r.root.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	tmp := filepath.Join(dir, ".fusioncast-"+hex.EncodeToString(rnd[:])+".tmp")
	f, err := r.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		// Synced before the rename, so that after a crash the name holds
		// the verified bytes or the previous file, not an empty one.
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = r.root.Rename(tmp, rel)
	}
	if err != nil {
		_ = r.root.Remove(tmp)
	}
	return err
}

// Collector returns a Prometheus collector of the receiver's counters: the
// listener's and reassembler's (see [Metrics]) and the files written.
func (r *Receiver) Collector() prometheus.Collector {
	return &receiverCollector{r: r, Collector: Metrics(r.cfg.Stream, nil, nil, r.l.Stats, r.reasm.Stats)}
}

var (
	dFilesWritten = desc("files_written_total", "Verified objects written to the receiver's folder, by kind (segment, playlist).", "kind")
	dFilesOld     = desc("objects_old_total", "Verified objects not kept because a newer one superseded them.")
	dFilesRemoved = desc("files_removed_total", "Segment files deleted to keep the folder within its bound.")
	dWriteErrors  = desc("write_errors_total", "Objects that could not be written, and files that could not be removed.")
	dReadBuffer   = desc("receive_buffer_bytes", "Receive buffer the kernel granted the listener's socket.")
)

type receiverCollector struct {
	prometheus.Collector
	r *Receiver
}

func (c *receiverCollector) Describe(ch chan<- *prometheus.Desc) {
	prometheus.DescribeByCollect(c, ch)
}

func (c *receiverCollector) Collect(ch chan<- prometheus.Metric) {
	c.Collector.Collect(ch)
	r := c.r
	r.mu.Lock()
	st := r.stats
	r.mu.Unlock()
	stream := r.cfg.Stream
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), append([]string{stream}, labels...)...)
	}
	counter(dFilesWritten, st.Segments, "segment")
	counter(dFilesWritten, st.Playlists, "playlist")
	counter(dFilesOld, st.Old)
	counter(dFilesRemoved, st.Removed)
	counter(dWriteErrors, st.WriteErrors)
	ch <- prometheus.MustNewConstMetric(dReadBuffer, prometheus.GaugeValue, float64(r.l.ReadBuffer()), stream)
}
