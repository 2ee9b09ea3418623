package rtc

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"fusioncast/peer/proto"
	"fusioncast/tracker/wire"
)

// Timeouts. docs/peer-connections.md, section "Timeouts".
const (
	// gatherTimeout bounds ICE gathering before an offer or answer is sent
	// with the candidates found so far.
	gatherTimeout = 5 * time.Second
	// offerTimeout closes an offer nobody answered, as WebTorrent does.
	offerTimeout = 50 * time.Second
	// staleOffer is the age after which an unanswered offer is withdrawn
	// at the next announce: answers come back within gatherTimeout and two
	// trips through the tracker.
	staleOffer = 10 * time.Second
	// connectTimeout closes a connection whose channel has not opened this
	// long after the answer was sent or received. Between host candidates
	// ICE, DTLS and SCTP take well under a second; an answerer whose offer
	// was withdrawn waits this long before it gives up.
	connectTimeout = 15 * time.Second
	// disconnectTimeout closes a connection whose ICE has been
	// disconnected this long.
	disconnectTimeout = 10 * time.Second
	// sctpMaxMessageSize is the a=max-message-size this peer advertises
	// and the largest message it takes: fusioncast/1 messages are at most
	// proto.MaxMessageLen; pion would otherwise advertise 1 GiB.
	sctpMaxMessageSize = 256 << 10
)

// newAPI returns the pion API every peer connection of a session is made
// with: data channels only, host candidates over UDP/IPv4 on the chosen
// interfaces (or the one socket of cfg.ListenUDP), no mDNS, no STUN or
// TURN (a webrtc.Configuration without ICEServers), and the socket
// buffers of cfg.SocketBuffer. closeNet closes the shared socket; call it
// once every connection is closed. docs/peer-connections.md, section
// "ICE".
func newAPI(cfg ICEConfig, logs pionLogs) (api *webrtc.API, closeNet func(), err error) {
	var se webrtc.SettingEngine
	se.LoggerFactory = logs
	if len(cfg.Interfaces) > 0 {
		names := slices.Clone(cfg.Interfaces)
		se.SetInterfaceFilter(func(name string) bool { return slices.Contains(names, name) })
	}
	se.SetIncludeLoopbackCandidate(cfg.Loopback)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.DisableActiveTCP(true)
	usePionPatches()
	se.SetSCTPMaxMessageSize(sctpMaxMessageSize)
	closeNet = func() {}
	if cfg.ListenUDP != "" {
		mux, err := listenMux(cfg, logs)
		if err != nil {
			return nil, nil, err
		}
		se.SetICEUDPMux(mux)
		closeNet = func() { _ = mux.Close() }
	} else if cfg.SocketBuffer > 0 || !cfg.NoBatch {
		n, err := newBufferedNet(cfg.SocketBuffer, !cfg.NoBatch)
		if err != nil {
			return nil, nil, err
		}
		se.SetNet(n)
	}
	// No codecs and no RTP interceptors: these connections carry only a
	// data channel.
	return webrtc.NewAPI(
		webrtc.WithSettingEngine(se),
		webrtc.WithMediaEngine(&webrtc.MediaEngine{}),
		webrtc.WithInterceptorRegistry(&interceptor.Registry{}),
	), closeNet, nil
}

// newConn makes a peer connection. Its offer timeout runs from now.
func (s *session) newConn(offerer bool, offerID, remote wire.ID) (*Conn, error) {
	pc, err := s.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	s.livePCs.Add(1)
	c := &Conn{
		s: s, pc: pc, offerID: offerID, offerer: offerer, remote: remote, created: time.Now(),
		ready: make(chan struct{}), done: make(chan struct{}),
	}
	// Until the answer is sent or received; then connectTimeout.
	c.setTimeout(offerTimeout, "offer not answered")
	pc.OnConnectionStateChange(c.stateChanged)
	pc.OnDataChannel(c.remoteChannel)
	return c, nil
}

// makeOffer makes a connection with its data channel and a local offer;
// the returned channel closes when ICE gathering completes.
func (s *session) makeOffer() (*Conn, <-chan struct{}, error) {
	c, err := s.newConn(true, randomID(), wire.ID{})
	if err != nil {
		return nil, nil, err
	}
	ordered := true
	dc, err := c.pc.CreateDataChannel(proto.Label, &webrtc.DataChannelInit{Ordered: &ordered})
	if err != nil {
		c.shutdown("no data channel")
		return nil, nil, err
	}
	c.attach(dc)
	offer, err := c.pc.CreateOffer(nil)
	if err != nil {
		c.shutdown("no offer")
		return nil, nil, err
	}
	gathered := webrtc.GatheringCompletePromise(c.pc)
	if err := c.pc.SetLocalDescription(offer); err != nil {
		c.shutdown("no offer")
		return nil, nil, err
	}
	return c, gathered, nil
}

// makeAnswer makes a connection that answers the relayed offer sdp of
// peer from; the returned channel closes when ICE gathering completes.
func (s *session) makeAnswer(from, offerID wire.ID, sdp []byte) (*Conn, <-chan struct{}, error) {
	offer, err := parseSDP(sdp, webrtc.SDPTypeOffer)
	if err != nil {
		return nil, nil, err
	}
	c, err := s.newConn(false, offerID, from)
	if err != nil {
		return nil, nil, err
	}
	if err := c.pc.SetRemoteDescription(offer); err != nil {
		c.shutdown("bad offer")
		return nil, nil, err
	}
	answer, err := c.pc.CreateAnswer(nil)
	if err != nil {
		c.shutdown("no answer")
		return nil, nil, err
	}
	gathered := webrtc.GatheringCompletePromise(c.pc)
	if err := c.pc.SetLocalDescription(answer); err != nil {
		c.shutdown("no answer")
		return nil, nil, err
	}
	return c, gathered, nil
}

// waitGathered waits until every channel is closed, at most gatherTimeout,
// or until quit closes.
func waitGathered(chans []<-chan struct{}, quit <-chan struct{}) {
	t := time.NewTimer(gatherTimeout)
	defer t.Stop()
	for _, ch := range chans {
		select {
		case <-ch:
		case <-t.C:
			return
		case <-quit:
			return
		}
	}
}

// localSDP returns c's local description as the JSON a browser's
// RTCSessionDescription gives: {"type":"offer","sdp":"v=0…"}, with the
// candidates gathered so far.
func localSDP(c *Conn) ([]byte, error) {
	d := c.pc.LocalDescription()
	if d == nil {
		return nil, errors.New("no local description")
	}
	b, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	if len(b) > wire.MaxSDPBytes {
		return nil, fmt.Errorf("%w: %s of %d > %d bytes", wire.ErrTooLarge, d.Type, len(b), wire.MaxSDPBytes)
	}
	return b, nil
}

// parseSDP reads a relayed offer or answer.
func parseSDP(raw []byte, want webrtc.SDPType) (webrtc.SessionDescription, error) {
	var d webrtc.SessionDescription
	if err := json.Unmarshal(raw, &d); err != nil {
		return d, fmt.Errorf("%s: %w", want, err)
	}
	if d.Type != want || d.SDP == "" {
		return d, fmt.Errorf("%s: type %q with %d bytes of SDP", want, d.Type, len(d.SDP))
	}
	return d, nil
}
