package multicast

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// InfoHeader is the HTTP header in which the repair endpoint gives an
// object's signed INFO payload, base64 (standard encoding).
const InfoHeader = "X-Fusioncast-Info"

// DefaultKeep is how many objects a [Publisher] keeps for repair: at one
// segment and one playlist every 2 s, a minute of stream.
const DefaultKeep = 64

// PublisherConfig configures a [Publisher].
type PublisherConfig struct {
	// Packetizer makes the stream's packets and signs them. Required.
	Packetizer *Packetizer
	// Send sends one object's packets, in order (a [Sender]'s Send).
	// Required.
	Send func(pkts [][]byte) error
	// Keep is how many of the newest objects stay available for repair.
	// If zero, DefaultKeep.
	Keep int
	// OnSent, if set, is told the UDP payload bytes of each object sent.
	OnSent func(bytes int)
	// Now is the clock. If nil, time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Publisher sends a stream's objects into a multicast group, one after
// another, with continuous object ids, and keeps the newest of them so
// that receivers can repair what they lost over HTTP ([Publisher.ServeHTTP]).
// Its methods are safe for concurrent use.
type Publisher struct {
	cfg PublisherConfig

	sendMu sync.Mutex // one object at a time, in id order
	pkts   [][]byte   // reused between objects

	mu     sync.Mutex
	nextID uint32
	kept   []kept // the newest objects, oldest first
	stats  PublisherStats
}

// kept is an object the publisher can serve for repair.
type kept struct {
	info    Info
	infoB64 string
	data    []byte
}

// PublisherStats are a publisher's counters.
type PublisherStats struct {
	Objects     int64 // objects sent
	Bytes       int64 // UDP payload bytes sent
	SendErrors  int64 // objects whose packets could not all be sent
	RepairsOK   int64 // repair requests answered
	RepairsGone int64 // repair requests for objects no longer (or never) kept
}

// NewPublisher returns a publisher whose first object id is
// [InitialObjectID] of now.
func NewPublisher(cfg PublisherConfig) (*Publisher, error) {
	if cfg.Packetizer == nil || cfg.Send == nil {
		return nil, fmt.Errorf("%w: a publisher needs a packetizer and a send function", ErrConfig)
	}
	if cfg.Keep < 0 {
		return nil, fmt.Errorf("%w: keep %d", ErrConfig, cfg.Keep)
	}
	if cfg.Keep == 0 {
		cfg.Keep = DefaultKeep
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Publisher{cfg: cfg, nextID: InitialObjectID(cfg.Now())}, nil
}

// Publish sends an object (a segment or a playlist; data must not change
// afterwards) and keeps it for repair. It returns the object's id. An
// object whose packets could not all be sent is still kept: receivers
// repair it.
func (p *Publisher) Publish(kind Kind, name string, data []byte) (uint32, error) {
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	p.mu.Lock()
	obj := Object{ID: p.nextID, Kind: kind, Name: name, Data: data}
	p.mu.Unlock()
	info, err := p.cfg.Packetizer.Sign(obj)
	if err != nil {
		return 0, err // a bad name or size: nothing sent, the id unused
	}
	pkts, err := p.cfg.Packetizer.Packetize(obj, p.cfg.Now(), p.pkts[:0])
	if err != nil {
		return 0, err
	}
	p.pkts = pkts
	raw, err := info.MarshalBinary()
	if err != nil {
		return 0, err
	}
	p.mu.Lock()
	p.nextID++
	p.kept = append(p.kept, kept{info: info, infoB64: base64.StdEncoding.EncodeToString(raw), data: data})
	if n := len(p.kept) - p.cfg.Keep; n > 0 {
		clear(p.kept[:n])
		p.kept = p.kept[n:]
	}
	p.mu.Unlock()

	n := 0
	for _, b := range pkts {
		n += len(b)
	}
	err = p.cfg.Send(pkts)
	p.mu.Lock()
	p.stats.Objects++
	p.stats.Bytes += int64(n)
	if err != nil {
		p.stats.SendErrors++
	}
	p.mu.Unlock()
	if p.cfg.OnSent != nil {
		p.cfg.OnSent(n)
	}
	if err != nil {
		p.cfg.Logger.Warn("multicast send failed; receivers will repair", "id", obj.ID, "name", name, "err", err)
		return obj.ID, fmt.Errorf("multicast: sending object %d (%s): %w", obj.ID, name, err)
	}
	return obj.ID, nil
}

// Stats returns the publisher's counters.
func (p *Publisher) Stats() PublisherStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// ServeHTTP is the repair endpoint: GET …/{id} (the last path element)
// answers with a kept object's bytes, whole or the ranges asked for
// (Range), and its signed INFO in the [InfoHeader] header; 404 for an
// object no longer kept. The caller mounts it under a path of its choice,
// e.g. /mcast/{stream}/objects/.
func (p *Publisher) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	last := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
	id, err := strconv.ParseUint(last, 10, 32)
	if err != nil {
		http.Error(w, "not an object id: "+last, http.StatusNotFound)
		return
	}
	p.mu.Lock()
	var k *kept
	for i := range p.kept {
		if p.kept[i].info.ID == uint32(id) {
			k = &p.kept[i]
			break
		}
	}
	var obj kept
	if k != nil {
		obj = *k
		p.stats.RepairsOK++
	} else {
		p.stats.RepairsGone++
	}
	p.mu.Unlock()
	if k == nil {
		http.Error(w, fmt.Sprintf("object %d is not kept (the publisher keeps the newest %d)", id, p.cfg.Keep), http.StatusNotFound)
		return
	}
	h := w.Header()
	h.Set(InfoHeader, obj.infoB64)
	h.Set("Content-Type", "application/octet-stream")
	// An id always means the same bytes, but only for the publisher's
	// key and run: caches may keep it a short while.
	h.Set("Cache-Control", "public, max-age=60")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(obj.data))
}

// HTTPRepair returns a [RepairFunc] that fetches lost objects from a
// publisher's repair endpoint: base is the URL of the objects, to which
// the id is appended (e.g. http://origin:8080/mcast/demo/objects/). For a
// known object it asks for one byte range, from the first missing byte to
// the last (one request, no multipart answer), and cuts the missing ranges
// out of it; an object whose INFO never arrived is fetched whole, with its
// INFO. Bodies are bounded by the object's size, and objects by maxBytes
// (0: no bound beyond the size).
func HTTPRepair(client *http.Client, base string, maxBytes int64) RepairFunc {
	if client == nil {
		client = http.DefaultClient
	}
	return func(ctx context.Context, req RepairRequest) (RepairReply, error) {
		hr, err := http.NewRequestWithContext(ctx, http.MethodGet, base+strconv.FormatUint(uint64(req.ID), 10), nil)
		if err != nil {
			return RepairReply{}, err
		}
		var span Range // the bytes asked for, when only some are missing
		if req.Info != nil && len(req.Ranges) > 0 {
			span = Range{req.Ranges[0].Start, req.Ranges[len(req.Ranges)-1].End}
			if span.Start > 0 || span.End < int(req.Info.Size) {
				hr.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", span.Start, span.End-1))
			}
		}
		resp, err := client.Do(hr)
		if err != nil {
			return RepairReply{}, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusPartialContent {
			msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			return RepairReply{}, fmt.Errorf("repair of object %d: %s: %s", req.ID, resp.Status, strings.TrimSpace(string(msg)))
		}
		var reply RepairReply
		info := req.Info
		if info == nil {
			raw, err := base64.StdEncoding.DecodeString(resp.Header.Get(InfoHeader))
			if err != nil || len(raw) == 0 {
				return RepairReply{}, fmt.Errorf("repair of object %d: no %s header", req.ID, InfoHeader)
			}
			reply.Info = new(Info)
			if err := reply.Info.UnmarshalBinary(raw); err != nil {
				return RepairReply{}, fmt.Errorf("repair of object %d: %w", req.ID, err)
			}
			info = reply.Info
		}
		limit := int64(info.Size)
		if maxBytes > 0 && limit > maxBytes {
			return RepairReply{}, fmt.Errorf("repair of object %d: %d bytes, more than the %d allowed", req.ID, limit, maxBytes)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
		if err != nil {
			return RepairReply{}, fmt.Errorf("repair of object %d: %w", req.ID, err)
		}
		if int64(len(body)) > limit {
			return RepairReply{}, fmt.Errorf("repair of object %d: body longer than %d bytes", req.ID, limit)
		}
		if resp.StatusCode == http.StatusOK || req.Info == nil || len(req.Ranges) == 0 {
			reply.Data = body // the whole object
			return reply, nil
		}
		// A partial answer covers span: cut the missing ranges out.
		if len(body) != span.End-span.Start {
			return RepairReply{}, fmt.Errorf("repair of object %d: %d bytes for the range %d-%d", req.ID, len(body), span.Start, span.End-1)
		}
		for _, r := range req.Ranges {
			reply.Data = append(reply.Data, body[r.Start-span.Start:r.End-span.Start]...)
		}
		return reply, nil
	}
}
