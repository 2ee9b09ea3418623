package multicast

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"
)

// The fuzz targets:
//
//   - FuzzParse: Unmarshal never panics; an error wraps ErrMalformed and is
//     one of the fixed errors; a packet that parses marshals to bytes that
//     parse to the same packet, and to the input itself when the input has
//     a plain 12-byte RTP header.
//   - FuzzReassemble: a reassembler fed real packets, mutated ones and
//     arbitrary ones, with timeouts and repairs, never panics, never holds
//     more than its bounds, and delivers only the real objects, intact.
//
// The seeds are real packets (parseCases); testdata/fuzz keeps what
// fuzzing finds.

func FuzzParse(f *testing.F) {
	for _, c := range parseCases(f) {
		f.Add(c.in)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var p Packet
		if err := p.Unmarshal(b); err != nil {
			var fe *formatError
			if !errors.Is(err, ErrMalformed) || !errors.As(err, &fe) {
				t.Fatalf("Unmarshal(%x): unexpected error %v", b, err)
			}
			return
		}
		out, err := p.Marshal()
		if err != nil {
			t.Fatalf("Unmarshal(%x) = %+v, which does not marshal: %v", b, p, err)
		}
		var q Packet
		if err := q.Unmarshal(out); err != nil {
			t.Fatalf("Unmarshal(%x) = %+v, marshalled as %x, which does not parse: %v", b, p, out, err)
		}
		if !bytes.Equal(p.Data, q.Data) {
			t.Fatalf("data changed")
		}
		p.Data, q.Data = nil, nil
		if !reflect.DeepEqual(p, q) {
			t.Fatalf("Unmarshal(%x) = %+v, marshalled and parsed again as %+v", b, p, q)
		}
		if b[0] == 0x80 && !bytes.Equal(out, b) {
			t.Fatalf("Unmarshal(%x) = %+v, marshalled as %x", b, p, out)
		}
		if p.Type == TypeSymbol && len(p.Data) > 0 && &p.Data[0] != &b[len(b)-len(p.Data)] && b[0]&0x20 == 0 {
			t.Fatal("symbol data is a copy")
		}
	})
}

// fuzzObjects are the real objects FuzzReassemble's packets come from.
var fuzzObjects = []Object{codecObject(1, 0), codecObject(2, 3000), codecObject(3, 9*S+7), codecObject(4, 25*S)}

// FuzzReassemble reads its input as a program: each op byte is followed by
// its arguments.
//
//	0 i        add real packet i
//	1 n bytes  add n arbitrary bytes
//	2 i o x    add real packet i with byte o xored with x
//	3 i id     add real packet i with its object id replaced
//	4 d        advance the clock by d × 100 ms and call Expire
//	5          run the queued repairs
func FuzzReassemble(f *testing.F) {
	_, real := fuzzPackets(f)
	seed := func(ops ...byte) { f.Add(ops) }
	var all []byte
	for i := range real {
		all = append(all, 0, byte(i))
	}
	seed(all...)
	var lossy []byte
	for i := range real {
		if i%4 != 1 {
			lossy = append(lossy, 0, byte(i))
		}
	}
	seed(append(lossy, 4, 120, 5, 4, 0, 5)...)
	seed(2, 1, 30, 1, 0, 0, 0, 2, 3, 4, 4, 100, 5)
	seed(3, 0, 9, 3, 1, 9, 4, 100, 5, 1, 5, 0x80, 0x60, 0, 0, 0)
	f.Fuzz(runReassembleProgram)
}

var fuzzSetup struct {
	sync.Once
	p    *Packetizer
	real [][]byte
}

// fuzzPackets returns the packetizer and the packets of fuzzObjects: small
// blocks, so that objects have several, and a sequence number that wraps.
func fuzzPackets(tb testing.TB) (*Packetizer, [][]byte) {
	fuzzSetup.Do(func() {
		p := newCodecPacketizer(tb, PacketizerConfig{MaxBlockSymbols: 4, Overhead: 0.5})
		p.seq = 65530
		for _, o := range fuzzObjects {
			fuzzSetup.real = append(fuzzSetup.real, packetize(tb, p, o)...)
		}
		fuzzSetup.p = p
	})
	if len(fuzzSetup.real) > 256 {
		tb.Fatalf("%d real packets", len(fuzzSetup.real))
	}
	return fuzzSetup.p, fuzzSetup.real
}

// runReassembleProgram runs one FuzzReassemble input.
func runReassembleProgram(t *testing.T, ops []byte) {
	const maxBytes = 200_000
	p, real := fuzzPackets(t)
	var delivered []Received
	r, err := NewReassembler(ReassemblerConfig{
		Stream: codecStream, PublicKey: codecPub, MaxObjects: 3, MaxBytes: maxBytes,
		Deliver: func(rcv Received) { delivered = append(delivered, rcv) },
		Repair: func(ctx context.Context, req RepairRequest) (RepairReply, error) {
			for _, o := range fuzzObjects {
				if o.ID == req.ID {
					info, err := p.Sign(o)
					if req.Info == nil {
						return RepairReply{Info: &info, Data: o.Data}, err
					}
					return RepairReply{Data: rangesOf(o.Data, req.Ranges)}, err
				}
			}
			return RepairReply{}, errors.New("no such object")
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	now := codecEpoch
	arg := func() int {
		if len(ops) == 0 {
			return 0
		}
		b := ops[0]
		ops = ops[1:]
		return int(b)
	}
	for len(ops) > 0 {
		switch arg() % 6 {
		case 0:
			r.Add(real[arg()%len(real)], now)
		case 1:
			n := min(arg()*8, len(ops))
			r.Add(ops[:n], now)
			ops = ops[n:]
		case 2:
			b := bytes.Clone(real[arg()%len(real)])
			o := arg()
			b[o%len(b)] ^= byte(arg())
			r.Add(b, now)
		case 3:
			b := bytes.Clone(real[arg()%len(real)])
			binary.BigEndian.PutUint32(b[RTPHeaderSize+4:], uint32(arg()))
			r.Add(b, now)
		case 4:
			now = now.Add(time.Duration(arg()) * 100 * time.Millisecond)
			r.Expire(now)
		case 5:
			r.repairNow(context.Background())
		}
		if st := r.Stats(); st.InFlightBytes > maxBytes || st.InFlight > 3 || len(r.seen) > 2*DefaultStaleWindow {
			t.Fatalf("bounds: %+v, %d ids remembered", st, len(r.seen))
		}
	}
	seen := map[uint32]bool{}
	for _, rcv := range delivered {
		i := int(rcv.Info.ID) - 1
		if i < 0 || i >= len(fuzzObjects) || seen[rcv.Info.ID] {
			t.Fatalf("delivered id %d", rcv.Info.ID)
		}
		seen[rcv.Info.ID] = true
		o := fuzzObjects[i]
		if !bytes.Equal(rcv.Data, o.Data) || rcv.Info.Name != o.Name || rcv.Info.SHA256 != sha256.Sum256(o.Data) {
			t.Fatalf("object %d delivered wrong", rcv.Info.ID)
		}
	}
}
