//go:build pionreleased

package rtc

// usePionPatches does nothing with the released pion/dtls and pion/sctp,
// which have neither switch (see pionpatches.go).
func usePionPatches() {}
