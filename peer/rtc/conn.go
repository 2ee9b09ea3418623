package rtc

import (
	"fmt"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"fusioncast/peer/proto"
	"fusioncast/tracker/wire"
)

// Conn is one peer connection and its data channel, labelled proto.Label,
// ordered and reliable. [Run] hands it to Config.OnConn once the channel is
// open. Its methods are safe for concurrent use.
type Conn struct {
	s       *session
	pc      *webrtc.PeerConnection
	offerID wire.ID // the offer this connection was made from
	offerer bool    // this peer made the offer (and opened the channel)
	created time.Time

	ready chan struct{} // closed when OnConn has returned
	done  chan struct{} // closed when the connection starts closing

	mu        sync.Mutex
	remote    wire.ID             // zero while an offer is unanswered
	dc        *webrtc.DataChannel // nil until the answerer sees the channel
	opened    bool                // the channel opened and OnConn was called
	closing   bool
	onMessage func([]byte)
	onClose   func()
	timer     *time.Timer // the offer or connect timeout, then nil
	discTimer *time.Timer // running while ICE is disconnected
}

// RemoteID returns the peer_id of the other peer.
func (c *Conn) RemoteID() wire.ID {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.remote
}

// Offerer reports whether this peer made the WebRTC offer (and so opened
// the data channel).
func (c *Conn) Offerer() bool { return c.offerer }

// Send queues b as one binary message and returns without waiting for the
// network; b may be reused at once. The message must fit the other side's
// SCTP maximum message size (proto.MaxMessageLen always does with a
// fusioncast peer). Watch [Conn.BufferedAmount] to pace large transfers.
// After the connection has closed, Send returns [ErrClosed].
func (c *Conn) Send(b []byte) error {
	select {
	case <-c.done:
		return ErrClosed
	default:
	}
	dc := c.channel()
	if dc == nil {
		return ErrClosed
	}
	if err := dc.Send(b); err != nil {
		return fmt.Errorf("rtc: send %d bytes: %w", len(b), err)
	}
	return nil
}

// SendCopies does nothing: it tells the peer engine that Send is done
// with its argument when it returns (peer.SendCopier), so that the engine
// may encode every message in one buffer.
func (c *Conn) SendCopies() {}

// BufferedAmount returns the bytes queued by Send and not yet sent.
func (c *Conn) BufferedAmount() uint64 {
	if dc := c.channel(); dc != nil {
		return dc.BufferedAmount()
	}
	return 0
}

// SetBufferedAmountLowThreshold sets the level at or below which the
// OnBufferedAmountLow handler is called when BufferedAmount falls to it.
func (c *Conn) SetBufferedAmountLowThreshold(n uint64) {
	if dc := c.channel(); dc != nil {
		dc.SetBufferedAmountLowThreshold(n)
	}
}

// OnBufferedAmountLow sets f to be called when BufferedAmount falls to
// the threshold. f is called from pion's goroutine and must not block.
func (c *Conn) OnBufferedAmountLow(f func()) {
	if dc := c.channel(); dc != nil {
		dc.OnBufferedAmountLow(f)
	}
}

// OnMessage sets f to be called with each binary message, one at a time, in
// order. Set it in Config.OnConn: messages wait until OnConn returns. b is
// valid only during the call. A text message is a protocol error
// (docs/protocol.md, "Transport") and closes the connection.
func (c *Conn) OnMessage(f func(b []byte)) {
	c.mu.Lock()
	c.onMessage = f
	c.mu.Unlock()
}

// OnClose sets f to be called once when the connection closes for any
// reason: the data channel or the peer connection closed or failed,
// [Conn.Close] was called, or Run is ending. It is called after OnConn has
// returned, from a goroutine of its own, and Run waits for it.
func (c *Conn) OnClose(f func()) {
	c.mu.Lock()
	c.onClose = f
	c.mu.Unlock()
}

// Close closes the connection. It does not wait: the peer connection is
// torn down in the background and OnClose is called when that is done.
// Once the connection is closing, for whatever reason, Close returns
// [ErrClosed].
func (c *Conn) Close() error {
	if !c.shutdown("closed locally") {
		return ErrClosed
	}
	return nil
}

func (c *Conn) channel() *webrtc.DataChannel {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dc
}

// attach takes dc as the connection's channel.
func (c *Conn) attach(dc *webrtc.DataChannel) {
	c.mu.Lock()
	c.dc = dc
	c.mu.Unlock()
	dc.OnOpen(c.open)
	dc.OnMessage(c.deliver)
	dc.OnClose(func() { c.shutdown("data channel closed") })
}

// open runs in pion's goroutine when the channel opens.
func (c *Conn) open() {
	c.mu.Lock()
	if c.closing || c.opened {
		c.mu.Unlock()
		return
	}
	c.opened = true
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	remote := c.remote
	c.mu.Unlock()
	c.s.log.Debug("data channel open", "remote", remote.String(), "offerer", c.offerer)
	if c.s.cfg.OnConn != nil {
		c.s.cfg.OnConn(c)
	} else {
		c.shutdown("no OnConn")
	}
	close(c.ready)
}

// deliver runs in the data channel's read goroutine; holding it back
// until OnConn has returned holds back the channel, so nothing is lost.
func (c *Conn) deliver(m webrtc.DataChannelMessage) {
	select {
	case <-c.ready:
	case <-c.done:
		return
	}
	if m.IsString {
		c.shutdown("text message")
		return
	}
	c.mu.Lock()
	f := c.onMessage
	c.mu.Unlock()
	if f != nil {
		f(m.Data)
	}
}

// remoteChannel runs when the other side opens a data channel. The
// answerer takes exactly one, labelled proto.Label, ordered and reliable;
// anything else (a plain WebTorrent client opens a channel with a random
// label) closes the connection.
func (c *Conn) remoteChannel(dc *webrtc.DataChannel) {
	c.mu.Lock()
	taken := c.dc != nil
	c.mu.Unlock()
	switch {
	case c.offerer || taken:
		c.shutdown("unexpected second data channel")
	case dc.Label() != proto.Label:
		c.shutdown(fmt.Sprintf("data channel label %.40q, not %q", dc.Label(), proto.Label))
	case !dc.Ordered() || dc.MaxRetransmits() != nil || dc.MaxPacketLifeTime() != nil:
		c.shutdown("data channel not ordered and reliable")
	default:
		c.attach(dc)
	}
}

// stateChanged follows the peer connection's state (ICE and DTLS).
func (c *Conn) stateChanged(st webrtc.PeerConnectionState) {
	switch st {
	case webrtc.PeerConnectionStateFailed:
		c.shutdown("connection failed")
	case webrtc.PeerConnectionStateClosed:
		c.shutdown("connection closed")
	case webrtc.PeerConnectionStateDisconnected:
		c.mu.Lock()
		if !c.closing && c.discTimer == nil {
			c.discTimer = time.AfterFunc(disconnectTimeout, func() { c.shutdown("disconnected too long") })
		}
		c.mu.Unlock()
	case webrtc.PeerConnectionStateConnected:
		c.mu.Lock()
		if c.discTimer != nil {
			c.discTimer.Stop()
			c.discTimer = nil
		}
		c.mu.Unlock()
	}
}

// setTimeout (re)starts the timer that closes the connection if its
// channel has not opened after d.
func (c *Conn) setTimeout(d time.Duration, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing || c.opened {
		return
	}
	if c.timer != nil {
		c.timer.Stop()
	}
	c.timer = time.AfterFunc(d, func() { c.shutdown(reason) })
}

// setRemote records the peer that answered our offer.
func (c *Conn) setRemote(id wire.ID) {
	c.mu.Lock()
	c.remote = id
	c.mu.Unlock()
}

func (c *Conn) isClosed() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

func (c *Conn) isOpen() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.opened && !c.closing
}

// shutdown starts closing the connection; it reports whether this call
// did. It never blocks, so any goroutine may call it, pion's callbacks
// included: the peer connection is closed in a goroutine of the session,
// which then calls OnClose (if OnConn was called) and tells the session
// loop to forget the connection.
func (c *Conn) shutdown(reason string) bool {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return false
	}
	c.closing = true
	opened := c.opened
	for _, t := range []*time.Timer{c.timer, c.discTimer} {
		if t != nil {
			t.Stop()
		}
	}
	c.timer, c.discTimer = nil, nil
	remote := c.remote
	c.mu.Unlock()
	close(c.done)
	c.s.log.Debug("closing peer connection", "remote", remote.String(), "offerer", c.offerer, "open", opened, "reason", reason)
	c.s.spawn(func() {
		// GracefulClose also waits for pion's goroutines of this
		// connection; it must not run in one of pion's callbacks.
		if err := c.pc.GracefulClose(); err != nil {
			c.s.log.Debug("closing peer connection", "err", err)
		}
		c.s.livePCs.Add(-1)
		if opened {
			<-c.ready
			c.mu.Lock()
			f := c.onClose
			c.mu.Unlock()
			if f != nil {
				f()
			}
		}
		c.s.post(func() { c.s.forget(c) })
	})
	return true
}
