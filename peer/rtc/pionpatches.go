//go:build !pionreleased

package rtc

import (
	"github.com/pion/dtls/v3"
	"github.com/pion/sctp"
)

// usePionPatches turns on the two switches of our patched pion modules
// (internal/third_party/pion) that rest on how our connections are built:
// DTLS hands each record to the socket without a cancellable context per
// record, building it in the buffer of the one before, since every
// connection runs over UDP (newAPI), whose writes neither block nor keep
// the buffer; and SCTP marshals packets into pooled buffers, since its
// conn is DTLS, which copies each packet into its record. Building with
// -tags pionreleased leaves it out, for the released pion modules
// (scripts/bench-pion-patches.sh).
func usePionPatches() {
	dtls.SetDirectWrites(true)
	sctp.SetPooledWrites(true)
}
