// SPDX-FileCopyrightText: 2026 The fusioncast developers
// SPDX-License-Identifier: MIT

package dtls

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// With direct writes on, records of every size up to the MTU cross
// unchanged and in order, in both directions, and a Close during them
// ends them cleanly; with a write deadline set, Write takes the path with
// a context again and honours it. [fusioncast]
func TestDirectWrites(t *testing.T) {
	SetDirectWrites(true)
	defer SetDirectWrites(false)
	ca, cb, err := pipeMemory()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cb.Close() }()
	sizes := []int{1, 13, 100, 1000, 1191}
	for round := range 3 {
		for _, pair := range [][2]*Conn{{ca, cb}, {cb, ca}} {
			for i, n := range sizes {
				msg := bytes.Repeat([]byte{byte(round*31 + i)}, n)
				done := make(chan error, 1)
				go func() {
					buf := make([]byte, 2048)
					got, err := pair[1].Read(buf)
					if err == nil && !bytes.Equal(buf[:got], msg) {
						err = errors.New("message changed on the way")
					}
					done <- err
				}()
				if _, err := pair[0].Write(msg); err != nil {
					t.Fatalf("write %d bytes: %v", n, err)
				}
				if err := <-done; err != nil {
					t.Fatalf("read %d bytes: %v", n, err)
				}
			}
		}
	}
	// Records back to back, read after: each is built in the buffer of
	// the one before, so a record handed on must not change after.
	// [fusioncast]
	const burst = 40
	written := make(chan error, 1)
	go func() {
		for i := range burst {
			if _, err := ca.Write(bytes.Repeat([]byte{byte(i)}, sizes[i%len(sizes)])); err != nil {
				written <- err

				return
			}
		}
		written <- nil
	}()
	buf := make([]byte, 2048)
	for i := range burst {
		got, err := cb.Read(buf)
		if err != nil {
			t.Fatalf("burst read %d: %v", i, err)
		}
		if want := bytes.Repeat([]byte{byte(i)}, sizes[i%len(sizes)]); !bytes.Equal(buf[:got], want) {
			t.Fatalf("burst record %d: got %d bytes starting %v, want %d of %d", i, got, buf[:min(got, 4)], len(want), i)
		}
	}
	if err := <-written; err != nil {
		t.Fatal(err)
	}
	if !ca.writeDeadlineSet.Load() {
		if err := ca.SetWriteDeadline(time.Now().Add(-time.Second)); err != nil {
			t.Fatal(err)
		}
		if _, err := ca.Write([]byte("late")); err == nil {
			t.Fatal("a write past its deadline succeeded")
		}
	}
	if err := ca.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := ca.Write([]byte("closed")); !errors.Is(err, ErrConnClosed) {
		t.Fatalf("write after close: %v", err)
	}
}
