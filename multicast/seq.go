package multicast

// seqWindow is how far back, in packets, a late packet is still told apart
// from a duplicate.
const seqWindow = 1024

// maxDropout is the largest forward jump of the RTP sequence number taken
// as loss; a larger one is a restarted sender (RFC 3550, A.1, uses 3000).
const maxDropout = 3000

// seqTracker counts lost packets from RTP sequence numbers: every number
// skipped is lost until it arrives late. The count is statistics only: the
// sequence number is not signed, so a forged packet can disturb it.
type seqTracker struct {
	started bool
	max     int64  // the highest extended sequence number seen
	first   int64  // the extended sequence number of the first packet
	probing bool   // a packet far behind came: is the next one its successor?
	next    uint16 // the number that would confirm a restart
	seen    [seqWindow / 64]uint64
}

func (t *seqTracker) bit(s int64) (word int, mask uint64) {
	i := int(uint64(s) % seqWindow)
	return i / 64, 1 << (i % 64)
}

func (t *seqTracker) mark(s int64) {
	w, m := t.bit(s)
	t.seen[w] |= m
}

// add files a sequence number and returns by how much the lost count
// changes: the numbers it skips, or −1 for a late packet that was counted
// lost.
func (t *seqTracker) add(seq uint16) int64 {
	if !t.started {
		*t = seqTracker{started: true, max: int64(seq), first: int64(seq)}
		t.mark(t.max)
		return 0
	}
	d := int64(int16(seq - uint16(t.max)))
	s := t.max + d
	switch {
	case d > maxDropout || t.max-s >= seqWindow && t.probing && seq == t.next:
		// A jump, or two consecutive packets far behind: a restarted
		// sender (RFC 3550, A.1), not loss.
		*t = seqTracker{started: true, max: s, first: s}
		t.mark(s)
		return 0
	case d > 0:
		if d > seqWindow {
			clear(t.seen[:])
		} else {
			for u := t.max + 1; u < s; u++ {
				w, m := t.bit(u)
				t.seen[w] &^= m
			}
		}
		t.mark(s)
		t.max, t.probing = s, false
		return d - 1
	case t.max-s >= seqWindow:
		t.probing, t.next = true, seq+1
		return 0
	case d == 0 || s < t.first:
		return 0
	}
	w, m := t.bit(s)
	if t.seen[w]&m != 0 {
		return 0 // a duplicate
	}
	t.seen[w] |= m
	return -1
}
