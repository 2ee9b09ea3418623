//go:build !pionreleased

package rtc

import "github.com/pion/dtls/v3"

// directWrites lets DTLS hand each record to the socket without a
// cancellable context per record (our patch of pion/dtls,
// internal/third_party/pion): every connection runs over UDP (newAPI),
// whose writes do not block. Building with -tags pionreleased leaves it
// out, for the released pion modules (scripts/bench-pion-patches.sh).
func directWrites() { dtls.SetDirectWrites(true) }
