//go:build pionreleased

package rtc

// directWrites does nothing with the released pion/dtls, which has no
// direct writes (see directwrites.go).
func directWrites() {}
