// SPDX-FileCopyrightText: 2026 The fusioncast developers
// SPDX-License-Identifier: MIT

package sctp

import (
	"bytes"
	"testing"
)

// getDataPacketsToRetransmit skips its walk over the chunks in flight only
// while none is marked: a pass to the queue's end clears the hint, and
// each way of marking a chunk (one chunk, all of them, a chunk pushed
// marked) sets it again, so a marked chunk is always found. [fusioncast]
func TestRetransmitHint(t *testing.T) {
	assoc, peer := newTLRAssociationForTest(t)
	defer shutdownTLRAssociationForTest(assoc, peer)

	assoc.lock.Lock()
	defer assoc.lock.Unlock()
	assoc.setCWND(1_000_000)
	assoc.setRWND(1_000_000)
	assoc.cumulativeTSNAckPoint = 99

	var chunks []*chunkPayloadData
	for i := range 5 {
		c := &chunkPayloadData{tsn: 100 + uint32(i), userData: bytes.Repeat([]byte{byte(i)}, 100), nSent: 1} //nolint:gosec
		assoc.inflightQueue.pushNoCheck(c)
		chunks = append(chunks, c)
	}
	taken := func() []uint32 {
		t.Helper()
		budget := int64(1 << 40)
		consumed := false
		var tsns []uint32
		for _, p := range assoc.getDataPacketsToRetransmit(&budget, &consumed) {
			for _, c := range p.chunks {
				tsns = append(tsns, c.(*chunkPayloadData).tsn) //nolint:forcetypeassert
			}
		}

		return tsns
	}
	check := func(what string, want ...uint32) {
		t.Helper()
		got := taken()
		if len(got) != len(want) {
			t.Fatalf("%s: retransmitted %v, want %v", what, got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%s: retransmitted %v, want %v", what, got, want)
			}
		}
		if assoc.inflightQueue.mayRetransmit {
			t.Fatalf("%s: the hint is still set after a pass that took every marked chunk", what)
		}
	}

	check("nothing marked")
	assoc.inflightQueue.markToRetransmit(chunks[3])
	check("one marked", 103)
	assoc.inflightQueue.markAllToRetrasmit()
	check("all marked", 100, 101, 102, 103, 104)
	assoc.inflightQueue.pushNoCheck(&chunkPayloadData{tsn: 105, userData: []byte{1}, nSent: 1, retransmit: true})
	check("pushed marked", 105)

	// A pass cut short by the window leaves the hint set for the rest.
	assoc.inflightQueue.markAllToRetrasmit()
	assoc.setCWND(250)
	if got := taken(); len(got) != 2 || !assoc.inflightQueue.mayRetransmit {
		t.Fatalf("window of 250 bytes: retransmitted %v, hint %v; want 2 chunks and the hint kept", got, assoc.inflightQueue.mayRetransmit)
	}
	assoc.setCWND(1_000_000)
	check("the rest", 102, 103, 104, 105)
}
