package proto_test

import (
	"crypto/sha256"
	"errors"
	"fmt"

	"fusioncast/peer/proto"
)

// One peer asks another for a segment and reads the answer.
func Example() {
	segment := []byte("a 2-second MPEG-TS segment")
	sum := sha256.Sum256(segment)
	hash8 := proto.Hash8Of(sum)

	// The requester writes a REQUEST for the whole segment.
	req := proto.Append(nil, proto.Request{RequestID: 1, Seq: 897818139, Hash8: hash8, Length: uint32(len(segment))})
	fmt.Printf("REQUEST %x\n", req)

	// The other peer reads it and answers with DATA.
	m, err := proto.Parse(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	r := m.(proto.Request)
	data := proto.Append(nil, proto.Data{RequestID: r.RequestID, Offset: r.Offset, Payload: segment[r.Offset : r.Offset+r.Length]})

	// The requester dispatches on the type.
	switch m, err := proto.Parse(data); {
	case errors.Is(err, proto.ErrUnknownType):
		// from a later minor version: ignore
	case err != nil:
		fmt.Println("close with BYE protocol-error:", err)
	default:
		switch m := m.(type) {
		case proto.Data:
			fmt.Printf("DATA for request %d at %d: %q\n", m.RequestID, m.Offset, m.Payload)
		case proto.Absent:
			fmt.Println("ABSENT", m.Reason)
		}
	}
	// Output:
	// REQUEST 030000000135839e1b74e5d0281b353606000000000000001a
	// DATA for request 1 at 0: "a 2-second MPEG-TS segment"
}

// Errors have fixed texts; an unknown type is to be ignored.
func ExampleParse_errors() {
	for _, msg := range [][]byte{
		{0x0b, 0, 0, 0, 1},
		{0x02, 0, 0, 0, 1},
		{0x06, 0, 0, 0, 1, 9},
	} {
		_, err := proto.Parse(msg)
		fmt.Printf("%v (ignore: %v)\n", err, errors.Is(err, proto.ErrUnknownType))
	}
	// Output:
	// proto: unknown message type 0x0b (ignore: true)
	// proto: short message (ignore: false)
	// proto: unknown ABSENT reason (ignore: false)
}
