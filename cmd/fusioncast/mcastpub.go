package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"

	"fusioncast/internal/mcastpub"
	"fusioncast/multicast"
	"fusioncast/origin"
)

// mcastFlags are the origin's multicast flags (`origin` and `demo`).
type mcastFlags struct {
	group, iface, source, key string
	ttl, packet               int
	rateMbps, fec             float64
}

func (f *mcastFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.group, "multicast", "", "also send every segment and playlist to this IPv4 group, GROUP:PORT (e.g. 239.255.0.1:5004); needs --mcast-iface")
	fs.StringVar(&f.iface, "mcast-iface", "", "interface multicast leaves by (required with --multicast: lo for a local test)")
	fs.StringVar(&f.source, "mcast-source", "", "source address to send from, IP or IP:PORT (what SSM receivers name with --source); default: the interface's")
	fs.IntVar(&f.ttl, "mcast-ttl", 1, "multicast TTL: 1 stays on the local network")
	fs.Float64Var(&f.rateMbps, "mcast-rate", 100, "pace multicast to this many Mbit/s (0: no pacing)")
	fs.Float64Var(&f.fec, "mcast-fec", multicast.DefaultOverhead, "Reed-Solomon parity per block, 0 to 1 (0: none)")
	fs.IntVar(&f.packet, "mcast-packet", multicast.DefaultPacketSize, "UDP payload of a full packet, bytes")
	fs.StringVar(&f.key, "mcast-key", "fusioncast-mcast.key", "Ed25519 signing key (PEM, created on first start, mode 0600); its public key is written to FILE.pub for receivers")
}

// mcastObjectsPath is where the origin serves objects for repair:
// /mcast/{stream}/objects/{id}.
func mcastObjectsPath(stream string) string { return "/mcast/" + stream + "/objects/" }

// startMulticast starts sending st's segments and playlists to the group,
// mounts the repair endpoint on mux and adds the metrics to o. It returns
// the public key file and a channel that yields when the sending loop
// ends (with ctx).
func startMulticast(ctx context.Context, f *mcastFlags, o *origin.Origin, st *origin.Stream, mux *http.ServeMux, logger *slog.Logger) (string, <-chan error, error) {
	if f.iface == "" {
		return "", nil, errors.New("--multicast needs --mcast-iface: multicast never leaves by an interface chosen for it")
	}
	if f.fec < 0 || f.fec > 1 {
		return "", nil, fmt.Errorf("--mcast-fec %g out of range [0, 1]", f.fec)
	}
	if f.rateMbps < 0 {
		return "", nil, fmt.Errorf("--mcast-rate %g must not be negative", f.rateMbps)
	}
	if f.ttl < 1 || f.ttl > 255 {
		return "", nil, fmt.Errorf("--mcast-ttl %d out of range [1, 255]", f.ttl)
	}
	key, err := multicast.LoadOrCreateKey(f.key)
	if err != nil {
		return "", nil, err
	}
	pubFile := f.key + ".pub"
	if err := multicast.WritePublicKey(pubFile, key.Public().(ed25519.PublicKey)); err != nil {
		return "", nil, err
	}
	pk, err := multicast.NewPacketizer(multicast.PacketizerConfig{Stream: st.Name(), Key: key, PacketSize: f.packet,
		Overhead: f.fec, NoParity: f.fec == 0})
	if err != nil {
		return "", nil, fmt.Errorf("--mcast-packet/--mcast-fec: %w", err)
	}
	rate := int64(f.rateMbps * 1e6)
	if rate == 0 {
		rate = -1 // the sender's "off"
	}
	snd, err := multicast.NewSender(multicast.SenderConfig{Group: f.group, Interface: f.iface, Source: f.source,
		TTL: f.ttl, Rate: rate, Logger: logger})
	if err != nil {
		return "", nil, fmt.Errorf("--multicast: %w", err)
	}
	egress := o.EgressCounter(st.Name(), "multicast")
	pub, err := multicast.NewPublisher(multicast.PublisherConfig{Packetizer: pk, Send: snd.Send, Logger: logger,
		OnSent: func(n int) { egress.Add(float64(n)) }})
	if err != nil {
		_ = snd.Close()
		return "", nil, err
	}
	if err := o.Register(multicast.Metrics(st.Name(), snd.Stats, pub.Stats, nil, nil)); err != nil {
		_ = snd.Close()
		return "", nil, err
	}
	mux.Handle("GET "+mcastObjectsPath(st.Name()), pub)
	logger.Info("multicast on", "group", snd.Group(), "iface", f.iface, "source", snd.LocalAddr(), "path", snd.Path(),
		"fec", f.fec, "rate_mbps", f.rateMbps, "public_key", pubFile)
	done := make(chan error, 1)
	go func() {
		defer snd.Close()
		done <- mcastpub.Run(ctx, st, pub, logger)
	}()
	abs, err := filepath.Abs(pubFile)
	if err != nil {
		abs = pubFile
	}
	return abs, done, nil
}
