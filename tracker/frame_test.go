package tracker

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"fusioncast/tracker/wire"
)

// clientFrame builds a masked client frame with the given first byte.
func clientFrame(b0 byte, payload []byte, key [4]byte) []byte {
	f := []byte{b0}
	switch n := len(payload); {
	case n <= 125:
		f = append(f, 0x80|byte(n))
	case n <= 0xffff:
		f = binary.BigEndian.AppendUint16(append(f, 0x80|126), uint16(n))
	default:
		f = binary.BigEndian.AppendUint64(append(f, 0x80|127), uint64(n))
	}
	f = append(f, key[:]...)
	for i, c := range payload {
		f = append(f, c^key[i&3])
	}
	return f
}

func TestParseFrame(t *testing.T) {
	key := [4]byte{0x12, 0x34, 0x56, 0x78}
	text := []byte(`{"action":"announce"}`)
	long := bytes.Repeat([]byte("0123456789abcdef"), 300) // 4800 bytes: 16-bit length
	huge := bytes.Repeat([]byte("z"), 70000)              // 64-bit length
	for _, tc := range []struct {
		name    string
		in      []byte
		limit   int
		want    frame
		wantErr error
	}{
		{name: "text", in: clientFrame(0x81, text, key), want: frame{fin: true, op: opText, payload: text}},
		{name: "empty ping", in: clientFrame(0x89, nil, key), want: frame{fin: true, op: opPing, payload: []byte{}}},
		{name: "fragment start", in: clientFrame(0x01, text, key), want: frame{op: opText, payload: text}},
		{name: "continuation end", in: clientFrame(0x80, text, key), want: frame{fin: true, op: opContinuation, payload: text}},
		{name: "16-bit length", in: clientFrame(0x81, long, key), want: frame{fin: true, op: opText, payload: long}},
		{name: "64-bit length", in: clientFrame(0x82, huge, key), limit: 1 << 20, want: frame{fin: true, op: opBinary, payload: huge}},
		{name: "unmasked", in: []byte{0x81, 0x02, 'h', 'i'}, wantErr: errMasked},
		{name: "reserved bit", in: clientFrame(0xc1, text, key), wantErr: errReserved},
		{name: "unknown opcode", in: clientFrame(0x83, text, key), wantErr: errOpcode},
		{name: "fragmented ping", in: clientFrame(0x09, nil, key), wantErr: errControl},
		{name: "long close", in: clientFrame(0x88, bytes.Repeat([]byte("x"), 126), key), wantErr: errControl},
		{name: "too big, refused from the header", in: clientFrame(0x81, long, key)[:4], limit: 4096, wantErr: errTooBig},
		{name: "64-bit length with the top bit", in: []byte{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1}, limit: 1 << 20, wantErr: errTooBig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			limit := tc.limit
			if limit == 0 {
				limit = 64 << 10
			}
			in := bytes.Clone(tc.in)
			f, n, err := parseFrame(in, limit)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil || n != len(tc.in) {
				t.Fatalf("n %d of %d, error %v", n, len(tc.in), err)
			}
			if f.fin != tc.want.fin || f.op != tc.want.op || !bytes.Equal(f.payload, tc.want.payload) {
				t.Fatalf("frame fin %v op %d payload %.40q, want fin %v op %d payload %.40q", f.fin, f.op, f.payload, tc.want.fin, tc.want.op, tc.want.payload)
			}
			// Every proper prefix is incomplete: nothing parsed, no error.
			for i := range len(tc.in) {
				if i > 32 && i < len(tc.in)-32 {
					continue
				}
				if _, n, err := parseFrame(bytes.Clone(tc.in[:i]), limit); n != 0 || err != nil {
					t.Fatalf("prefix of %d bytes: n %d, error %v", i, n, err)
				}
			}
			if got := frameSize(tc.in); got != len(tc.in) {
				t.Errorf("frameSize %d, want %d", got, len(tc.in))
			}
		})
	}
}

// The frames the tracker writes are what a websocket client reads.
func TestAppendFrameHeader(t *testing.T) {
	sizes := []int{0, 1, 125, 126, 65535, 65536, 200000}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u := websocket.Upgrader{}
		ws, err := u.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		for _, n := range sizes {
			f := append(appendFrameHeader(nil, opText, n), bytes.Repeat([]byte("p"), n)...)
			_, _ = ws.NetConn().Write(f)
		}
	}))
	defer srv.Close()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	ws.SetReadLimit(1 << 20)
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for _, n := range sizes {
		if h := frameHeaderLen(n); h != len(appendFrameHeader(nil, opText, n)) {
			t.Errorf("%d bytes: frameHeaderLen %d, header %d", n, h, len(appendFrameHeader(nil, opText, n)))
		}
		mt, got, err := ws.ReadMessage()
		if err != nil || mt != websocket.TextMessage || !bytes.Equal(got, bytes.Repeat([]byte("p"), n)) {
			t.Fatalf("%d bytes: type %d, %d bytes back, %v", n, mt, len(got), err)
		}
	}
}

func FuzzParseFrame(f *testing.F) {
	key := [4]byte{1, 2, 3, 4}
	f.Add(clientFrame(0x81, []byte(`{"action":"announce"}`), key))
	f.Add(clientFrame(0x01, []byte("abc"), key))
	f.Add(clientFrame(0x89, nil, key))
	f.Add([]byte{0x82, 0xfe, 0x10})
	f.Fuzz(func(t *testing.T, b []byte) {
		const limit = 1 << 16
		orig := bytes.Clone(b)
		fr, n, err := parseFrame(b, limit)
		if err != nil || n == 0 {
			return
		}
		if n > len(b) || len(fr.payload) > limit || n-len(fr.payload) < 6 || n-len(fr.payload) > maxFrameHeader {
			t.Fatalf("n %d, payload %d of %d bytes", n, len(fr.payload), len(b))
		}
		if frameSize(orig) != n {
			t.Fatalf("frameSize %d, parsed %d", frameSize(orig), n)
		}
		// Masking again gives the bytes back.
		h := n - len(fr.payload)
		var k [4]byte
		copy(k[:], orig[h-4:h])
		unmask(fr.payload, k)
		if !bytes.Equal(fr.payload, orig[h:n]) {
			t.Fatal("unmasking is not its own inverse")
		}
	})
}

// Over a real connection: fragmented messages are reassembled, pings are
// answered, pipelined and byte-by-byte frames both work, and a close frame
// is answered with one.
func TestFramesOverConnection(t *testing.T) {
	_, addr := startTracker(t, Config{})

	// Fragments: a client with a small write buffer splits a message.
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second, WriteBufferSize: 256}
	ws, _, err := d.Dial("ws://"+addr+"/announce", nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, ws: ws}
	defer ws.Close()
	m := announce(id("swarm-frag-012345678"), id("frag-0123456789abcde"), 5, "frag")
	m["x"] = strings.Repeat("y", 3000)
	c.sendJSON(m)
	if r := c.next(); r.FailureReason != "" || r.Action != wire.ActionAnnounce {
		t.Fatalf("fragmented announce: %+v", r)
	}

	// Ping: the tracker answers with a pong carrying the same data.
	pong := make(chan string, 1)
	ws.SetPongHandler(func(s string) error { pong <- s; return nil })
	if err := ws.WriteControl(websocket.PingMessage, []byte("are you there"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	c.sendJSON(announce(id("swarm-frag-012345678"), id("frag-0123456789abcde"), 0, "frag"))
	c.next()
	select {
	case s := <-pong:
		if s != "are you there" {
			t.Fatalf("pong %q", s)
		}
	default:
		t.Fatal("no pong")
	}

	// Raw frames: three announces in one write, then one announce a byte
	// at a time.
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	rc := rawClient(t, raw)
	key := [4]byte{9, 8, 7, 6}
	msg := func(peer string) []byte {
		return clientFrame(0x81, fmt.Appendf(nil, `{"action":"announce","info_hash":"swarm-raw-0123456789","peer_id":"%s","numwant":0}`, peer), key)
	}
	var three []byte
	for _, p := range []string{"raw-a-0123456789abcd", "raw-b-0123456789abcd", "raw-c-0123456789abcd"} {
		three = append(three, msg(p)...)
	}
	if _, err := raw.Write(three); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, b, err := rc.ReadMessage(); err != nil || !strings.Contains(string(b), `"interval"`) {
			t.Fatalf("pipelined announce %d: %s %v", i, b, err)
		}
	}
	for _, b := range msg("raw-d-0123456789abcd") {
		if _, err := raw.Write([]byte{b}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	if _, b, err := rc.ReadMessage(); err != nil || !strings.Contains(string(b), `"interval"`) {
		t.Fatalf("announce written a byte at a time: %s %v", b, err)
	}

	// Close: the tracker answers with a close frame.
	if _, err := raw.Write(clientFrame(0x88, closePayload(closeNormal, "bye"), key)); err != nil {
		t.Fatal(err)
	}
	_, _, err = rc.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
		t.Fatalf("after a close frame: %v", err)
	}
}

// A protocol violation closes the connection with code 1002.
func TestProtocolErrorCloses(t *testing.T) {
	_, addr := startTracker(t, Config{})
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	rc := rawClient(t, raw)
	if _, err := raw.Write([]byte{0x81, 0x02, 'h', 'i'}); err != nil { // unmasked
		t.Fatal(err)
	}
	if _, _, err := rc.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseProtocolError) {
		t.Fatalf("after an unmasked frame: %v", err)
	}
}

// A connection that sends nothing is pinged, and closed after IdleTimeout
// if it does not answer; one that answers the pings stays.
func TestPingAndIdleTimeout(t *testing.T) {
	s, addr := startTracker(t, Config{PingInterval: 200 * time.Millisecond, IdleTimeout: 700 * time.Millisecond})
	live := dial(t, addr, nil) // gorilla answers pings while reading
	pings := make(chan struct{}, 16)
	live.ws.SetPingHandler(func(data string) error {
		pings <- struct{}{}
		return live.ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	go func() {
		for {
			if _, _, err := live.ws.ReadMessage(); err != nil {
				return
			}
		}
	}()
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	rawClient(t, raw) // never reads, never answers
	deadline := time.Now().Add(10 * time.Second)
	for connCount(s) != 2 { // registered just after the handshake answer
		if time.Now().After(deadline) {
			t.Fatalf("%d connections, want 2", connCount(s))
		}
		time.Sleep(time.Millisecond)
	}
	for connCount(s) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections after the idle timeout, want 1", connCount(s))
		}
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case <-pings:
	default:
		t.Fatal("the live connection was never pinged")
	}
}

func connCount(s *Server) int {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	return len(s.conns)
}

// rawClient does a websocket opening handshake on raw and returns the
// client end for reading; the test writes raw frames to raw itself.
func rawClient(t *testing.T, raw net.Conn) *websocket.Conn {
	t.Helper()
	_ = raw.SetDeadline(time.Now().Add(5 * time.Second))
	d := websocket.Dialer{NetDialContext: func(context.Context, string, string) (net.Conn, error) { return raw, nil }}
	ws, _, err := d.Dial("ws://"+raw.RemoteAddr().String()+"/announce", nil)
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	return ws
}
