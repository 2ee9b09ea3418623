package tracker

import (
	"net"
	"testing"
	"time"
)

// A close asked for between the handshake and the loop's adoption of the
// descriptor (the janitor can do that) waits for the adoption, then closes
// the connection; nothing touches a descriptor before.
func TestCloseBeforeAdopt(t *testing.T) {
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := newLoop(s)
	if err != nil {
		t.Fatal(err)
	}
	defer l.closeFDs()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}

	c := &conn{s: s, l: l, fd: -1}
	c.lastSeen.Store(time.Now().UnixNano())
	if reason := s.register(c); reason != "" {
		t.Fatal(reason)
	}
	c.close("idle timeout", closeGoingAway)
	c.send([]byte("dropped"))
	l.flushDirty() // the descriptor is not the loop's yet: nothing happens
	if c.isClosed() {
		t.Fatal("closed before adoption")
	}
	if err := l.adopt(c, server); err != nil {
		t.Fatal(err)
	}
	l.flushDirty()
	if !c.isClosed() || c.why != "idle timeout" {
		t.Fatalf("after adoption: closed %v, why %q", c.isClosed(), c.why)
	}
	// The client sees the close frame (1001) and the end of the stream.
	_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 64)
	n, _ := client.Read(b)
	if n < 4 || b[0] != 0x88 || b[2] != 0x03 || b[3] != 0xe9 {
		t.Fatalf("client read % x", b[:n])
	}
	if connCount(s) != 0 {
		t.Fatalf("%d connections registered after the close", connCount(s))
	}
}
