package sim

import (
	"fmt"

	"fusioncast/peer/proto"
)

// tracer writes the events of one segment (Config.Trace): how it spread
// through the swarm, who asked whom, who refused and who fell back to
// HTTP. Times are seconds since the segment's publication.
type tracer struct {
	s    *Sim
	left int    // segments after the warm-up to skip before the traced one
	seq  uint32 // the traced segment, once chosen
	on   bool
}

// published chooses the traced segment among those published after the
// warm-up.
func (t *tracer) published(seg *oseg) {
	if t.s.cfg.Trace == nil || t.on || seg.at < t.s.warm {
		return
	}
	if t.left > 0 {
		t.left--
		return
	}
	t.seq, t.on = seg.info.Seq, true
	t.printf("segment %d published at %.3f s (virtual time)\n", seg.info.Seq, float64(seg.at)/1e9)
}

func (t *tracer) printf(format string, args ...any) {
	if _, err := fmt.Fprintf(t.s.cfg.Trace, format, args...); err != nil {
		t.s.fail(fmt.Errorf("trace: %w", err))
	}
}

// since returns the time since the traced segment's publication.
func (t *tracer) since() float64 {
	return float64(t.s.loop.now-t.s.origin.segs[t.seq].at) / 1e9
}

// viewer traces an event of v about segment seq.
func (t *tracer) viewer(v *viewer, seq uint32, what string) {
	if !t.on || seq != t.seq {
		return
	}
	t.printf("%8.3f  %-10s %-7s upload %5.1f Mbit/s, %2d links, edge rank %d\n",
		t.since(), what, v.name(), v.upMbps, len(v.nbrs), v.rank)
}

// message traces a message about the traced segment arriving over l.
func (t *tracer) message(l *link, b []byte) {
	if !t.on || len(b) == 0 {
		return
	}
	var what string
	switch proto.Type(b[0]) {
	case proto.TypeHave, proto.TypeRequest, proto.TypeAbsent:
	default:
		return // DATA would be too many lines; the copy's completion is traced
	}
	m, err := proto.Parse(b)
	if err != nil {
		return
	}
	switch m := m.(type) {
	case proto.Have:
		if m.Seq != t.seq {
			return
		}
		what = "HAVE"
	case proto.Request:
		if m.Seq != t.seq {
			return
		}
		what = fmt.Sprintf("REQUEST from byte %d", m.Offset)
	case proto.Absent:
		if seq, ok := l.reqs[m.RequestID]; !ok || seq != t.seq {
			return
		}
		what = "ABSENT " + m.Reason.String()
	}
	t.printf("%8.3f  %-10s %-7s -> %s\n", t.since(), "message", l.from.name(), l.to.name()+": "+what)
}
