package load

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"fusioncast/tracker/wire"
)

// This file is the websocket client of the load generator (RFC 6455, client
// side, no extensions): just what a closed loop needs, without allocations
// per message. A connection is used by one goroutine at a time. Unlike a
// general-purpose client it
//
//   - hands out complete messages straight from its read buffer, many per
//     read system call, valid until the next fill;
//   - collects outgoing frames in a buffer and writes them with one system
//     call per batch (flush);
//   - survives read deadlines: a read that times out leaves the connection
//     usable, so the loop can use deadlines as its timers.

// WebSocket opcodes.
const (
	opCont   = 0x0
	opText   = 0x1
	opBinary = 0x2
	opClose  = 0x8
	opPing   = 0x9
	opPong   = 0xa
)

// wsGUID is the fixed string of the opening handshake (RFC 6455, 1.3).
const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

var (
	errProtocol = errors.New("websocket protocol error")
	errTooLarge = fmt.Errorf("%w: message larger than %d bytes", errProtocol, wire.MaxMessageBytes)
)

// closedError is the tracker's close frame.
type closedError struct {
	code   int
	reason string
}

func (e *closedError) Error() string {
	return fmt.Sprintf("closed by the tracker (code %d %q)", e.code, e.reason)
}

// wsConn is one client connection.
type wsConn struct {
	nc   net.Conn
	rbuf []byte // rbuf[r:w] is received and not yet consumed
	r, w int
	need int // bytes from r that the next frame needs, when incomplete

	frag   []byte // the message being reassembled from fragments
	fragOp byte   // its opcode; 0 when none is in progress

	out []byte // frames waiting for flush
	rng mrand.PCG

	// raw is the descriptor of a plain TCP connection, for readLoop; nil
	// for TLS.
	raw syscall.RawConn

	stopMu  sync.Mutex
	closing bool // close has begun: wake must not cut it short
}

// dialer opens connections to one tracker.
type dialer struct {
	u       *url.URL
	header  http.Header
	net     net.Dialer
	tls     *tls.Config
	timeout time.Duration // handshake, TCP connect included
	rbuf    int           // initial read buffer size
}

func newDialer(u *url.URL, header http.Header, local net.Addr) *dialer {
	d := &dialer{u: u, header: header, timeout: 10 * time.Second, rbuf: 16 << 10}
	d.net.LocalAddr = local
	if local != nil {
		d.net.Control = bindNoPort
	}
	if u.Scheme == "wss" {
		d.tls = &tls.Config{ServerName: u.Hostname()}
	}
	return d
}

func (d *dialer) hostPort() string {
	if d.u.Port() != "" {
		return d.u.Host
	}
	if d.u.Scheme == "wss" {
		return net.JoinHostPort(d.u.Hostname(), "443")
	}
	return net.JoinHostPort(d.u.Hostname(), "80")
}

// dial opens a connection and performs the opening handshake.
func (d *dialer) dial(ctx context.Context) (*wsConn, error) {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	nc, err := d.net.DialContext(ctx, "tcp", d.hostPort())
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			_ = nc.Close()
		}
	}()
	if dl, has := ctx.Deadline(); has {
		_ = nc.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if d.tls != nil {
		tc := tls.Client(nc, d.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, err
		}
		nc = tc
	}

	var key [16]byte
	_, _ = rand.Read(key[:])
	k := base64.StdEncoding.EncodeToString(key[:])
	u := *d.u
	u.Scheme = "http"
	req := &http.Request{Method: http.MethodGet, URL: &u, Host: d.u.Host, Header: http.Header{}, ProtoMajor: 1, ProtoMinor: 1}
	for name, v := range d.header {
		req.Header[name] = v
	}
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Sec-WebSocket-Key", k)
	req.Header.Set("Sec-WebSocket-Version", "13")
	if err := req.Write(nc); err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(nc, 4096)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return nil, err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return nil, fmt.Errorf("handshake: HTTP status %s", resp.Status)
	}
	h := sha1.Sum([]byte(k + wsGUID))
	if !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") ||
		resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(h[:]) {
		return nil, fmt.Errorf("%w: bad handshake response", errProtocol)
	}
	if stop() {
		_ = nc.SetDeadline(time.Time{})
	} else {
		return nil, ctx.Err()
	}
	c := &wsConn{nc: nc}
	// Whatever the server sent after its response is already in br.
	c.rbuf = make([]byte, max(d.rbuf, br.Buffered()))
	c.w, _ = br.Read(c.rbuf[:br.Buffered()])
	if sc, ok := nc.(syscall.Conn); ok && rawReads {
		if c.raw, err = sc.SyscallConn(); err != nil {
			c.raw = nil
		}
	}
	var seed [16]byte
	_, _ = rand.Read(seed[:])
	c.rng.Seed(binary.LittleEndian.Uint64(seed[:8]), binary.LittleEndian.Uint64(seed[8:]))
	ok = true
	return c, nil
}

// space makes room in the read buffer for what the next frame needs (or
// more) and returns the free part.
func (c *wsConn) space() []byte {
	if c.r == c.w {
		c.r, c.w = 0, 0
	}
	want := max(c.need, 1)
	if len(c.rbuf)-c.r < want {
		if want > len(c.rbuf) {
			nb := make([]byte, max(want, 2*len(c.rbuf)))
			c.w = copy(nb, c.rbuf[c.r:c.w])
			c.rbuf = nb
		} else {
			c.w = copy(c.rbuf, c.rbuf[c.r:c.w])
		}
		c.r = 0
	} else if len(c.rbuf)-c.w < len(c.rbuf)/4 && c.r > 0 {
		c.w = copy(c.rbuf, c.rbuf[c.r:c.w])
		c.r = 0
	}
	return c.rbuf[c.w:]
}

// fill reads once from the connection into the read buffer (blocking until
// data, an error or the read deadline). Messages returned by next before
// fill are invalid afterwards.
func (c *wsConn) fill() error {
	n, err := c.nc.Read(c.space())
	c.w += n
	if n > 0 {
		return nil
	}
	return err
}

// readLoop reads into the read buffer and calls onData after every read
// that returned data, until onData returns false, reading fails or the read
// deadline passes (the error). Messages returned by next are invalid after
// onData returns.
//
// On a plain TCP connection it does so within one raw read of the
// descriptor, which saves the read system call that finds nothing: a
// net.Conn's Read first tries the socket and only then waits for it to
// become readable, which on a busy loop is one failed call per message.
// Within one raw read, a wait after a read that emptied the socket only
// ends with new data (or the deadline).
func (c *wsConn) readLoop(onData func() bool) error {
	if c.raw == nil {
		for {
			if err := c.fill(); err != nil {
				return err
			}
			if !onData() {
				return nil
			}
		}
	}
	var ioErr error
	err := c.raw.Read(func(fd uintptr) bool {
		for {
			b := c.space()
			n, err := readFD(fd, b)
			switch {
			case err == errInterrupted:
				continue
			case err == errWouldBlock:
				return false // wait until readable
			case n <= 0:
				ioErr = err
				if err == nil {
					ioErr = io.EOF
				}
				return true
			}
			c.w += n
			if !onData() {
				return true
			}
			if n < len(b) {
				// The socket is empty: wait. (A full buffer may have
				// left data behind, which no readiness event would
				// announce: read again.)
				return false
			}
		}
	})
	if err == nil {
		err = ioErr
	}
	return err
}

// next returns the next complete data message in the read buffer, or
// ok false if it needs more data (call fill). It answers pings (the pong
// goes out with the next flush) and skips pongs. The payload aliases the
// read buffer or the reassembly buffer.
func (c *wsConn) next() (op byte, payload []byte, ok bool, err error) {
	for {
		b := c.rbuf[c.r:c.w]
		c.need = 0
		if len(b) < 2 {
			c.need = 2
			return 0, nil, false, nil
		}
		fin, rsv, opc := b[0]&0x80 != 0, b[0]&0x70, b[0]&0x0f
		if rsv != 0 {
			return 0, nil, false, fmt.Errorf("%w: reserved bits set", errProtocol)
		}
		if b[1]&0x80 != 0 {
			return 0, nil, false, fmt.Errorf("%w: masked frame from the server", errProtocol)
		}
		hlen, plen := 2, uint64(b[1]&0x7f)
		switch plen {
		case 126:
			hlen = 4
		case 127:
			hlen = 10
		}
		if len(b) < hlen {
			c.need = hlen
			return 0, nil, false, nil
		}
		switch hlen {
		case 4:
			plen = uint64(binary.BigEndian.Uint16(b[2:]))
		case 10:
			plen = binary.BigEndian.Uint64(b[2:])
		}
		if plen > wire.MaxMessageBytes {
			return 0, nil, false, errTooLarge
		}
		if opc >= opClose && (!fin || plen > 125) {
			return 0, nil, false, fmt.Errorf("%w: bad control frame", errProtocol)
		}
		total := hlen + int(plen)
		if len(b) < total {
			c.need = total
			return 0, nil, false, nil
		}
		p := b[hlen:total]
		c.r += total
		switch opc {
		case opPing:
			c.out = c.appendFrame(c.out, opPong, p)
		case opPong:
		case opClose:
			e := &closedError{code: 1005}
			if len(p) >= 2 {
				e.code, e.reason = int(binary.BigEndian.Uint16(p)), string(p[2:])
			}
			return 0, nil, false, e
		case opText, opBinary:
			if c.fragOp != 0 {
				return 0, nil, false, fmt.Errorf("%w: new message inside a fragmented one", errProtocol)
			}
			if fin {
				return opc, p, true, nil
			}
			c.fragOp, c.frag = opc, append(c.frag[:0], p...)
		case opCont:
			if c.fragOp == 0 {
				return 0, nil, false, fmt.Errorf("%w: continuation without a message", errProtocol)
			}
			if len(c.frag)+len(p) > wire.MaxMessageBytes {
				return 0, nil, false, errTooLarge
			}
			c.frag = append(c.frag, p...)
			if fin {
				op = c.fragOp
				c.fragOp = 0
				return op, c.frag, true, nil
			}
		default:
			return 0, nil, false, fmt.Errorf("%w: opcode %d", errProtocol, opc)
		}
	}
}

// recv returns the next data message, reading as needed.
func (c *wsConn) recv() (op byte, payload []byte, err error) {
	for {
		op, p, ok, err := c.next()
		if err != nil || ok {
			return op, p, err
		}
		if len(c.out) > 0 {
			if err := c.flush(); err != nil {
				return 0, nil, err
			}
		}
		if err := c.fill(); err != nil {
			return 0, nil, err
		}
	}
}

// appendFrame appends one final frame of payload, masked with a fresh key
// as a client must.
func (c *wsConn) appendFrame(dst []byte, op byte, payload []byte) []byte {
	dst, key := c.appendHeader(dst, op, len(payload))
	return appendMasked(dst, payload, key, 0)
}

// appendHeader appends the header of a final, masked frame of n bytes and
// returns the masking key.
func (c *wsConn) appendHeader(dst []byte, op byte, n int) ([]byte, uint32) {
	dst = append(dst, 0x80|op)
	switch {
	case n < 126:
		dst = append(dst, 0x80|byte(n))
	case n <= 0xffff:
		dst = append(dst, 0x80|126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0x80|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	key := uint32(c.rng.Uint64())
	return binary.LittleEndian.AppendUint32(dst, key), key
}

// mask XORs b with the masking key (its little-endian bytes in order).
func mask(b []byte, key uint32) {
	k8 := uint64(key) | uint64(key)<<32
	i := 0
	for ; i+8 <= len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], binary.LittleEndian.Uint64(b[i:])^k8)
	}
	for ; i < len(b); i++ {
		b[i] ^= byte(key >> (8 * (i & 3)))
	}
}

// send queues one text message for the next flush.
func (c *wsConn) send(msg []byte) { c.out = c.appendFrame(c.out, opText, msg) }

// sendJoin queues one text message, the concatenation of parts, masking
// the parts straight into the frame.
func (c *wsConn) sendJoin(parts ...[]byte) {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	out, key := c.appendHeader(c.out, opText, n)
	off := 0
	for _, p := range parts {
		out = appendMasked(out, p, key, off)
		off += len(p)
	}
	c.out = out
}

// appendMasked appends src masked with key as the bytes from offset off of
// a frame's payload: one pass, copy and mask together.
func appendMasked(dst, src []byte, key uint32, off int) []byte {
	k := bits.RotateLeft32(key, -8*(off&3)) // byte j of k masks src[j], src[j+4]…
	n := len(dst)
	dst = slices.Grow(dst, len(src))[:n+len(src)]
	d := dst[n:]
	k8 := uint64(k) | uint64(k)<<32
	i := 0
	for ; i+8 <= len(src); i += 8 {
		binary.LittleEndian.PutUint64(d[i:], binary.LittleEndian.Uint64(src[i:])^k8)
	}
	for ; i < len(src); i++ {
		d[i] = src[i] ^ byte(k>>(8*(i&3)))
	}
	return dst
}

// flush writes the queued frames.
func (c *wsConn) flush() error {
	if len(c.out) == 0 {
		return nil
	}
	_, err := c.nc.Write(c.out)
	c.out = c.out[:0]
	return err
}

// close performs the closing handshake within a second: it
// sends a close frame (normal closure), stops writing, reads until the
// tracker closes its side and closes the connection. (Closing a socket with
// unread data would reset the connection instead.)
func (c *wsConn) close() {
	c.stopMu.Lock()
	c.closing = true
	c.stopMu.Unlock()
	_ = c.nc.SetDeadline(time.Now().Add(time.Second))
	c.out = c.appendFrame(c.out[:0], opClose, []byte{0x03, 0xe8})
	if c.flush() == nil {
		if tc, ok := c.nc.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		for c.r, c.w, c.need = 0, 0, 0; c.fill() == nil; c.r, c.w = 0, 0 {
		}
	}
	_ = c.nc.Close()
}

// wake makes a blocked read or write return at once (from another
// goroutine), unless the connection is already closing.
func (c *wsConn) wake() {
	c.stopMu.Lock()
	defer c.stopMu.Unlock()
	if !c.closing {
		_ = c.nc.SetDeadline(time.Unix(1, 0))
	}
}

// release drops the buffers of a connection that will only be held open.
func (c *wsConn) release() {
	c.rbuf, c.frag, c.out = nil, nil, nil
	c.r, c.w, c.need = 0, 0, 0
}
