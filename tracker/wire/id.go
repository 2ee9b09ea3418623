package wire

import "encoding/hex"

// ID is a 20-byte identifier (info hash, peer id, offer id) carried on the
// wire as a JSON string of exactly 20 characters in U+0000..U+00FF, one
// character per byte ("latin1"). See docs/tracker.md, section "IDs".
//
//	byte   0x00-0x1F  0x20-0x7E (not " \)  0x22 "  0x5C \  0x7F-0xFF
//	sent   \u00XX     itself                \u0022  \u005c  \u00XX
//	read   any JSON spelling of the code point: itself, \u00XX, \", \\, \/,
//	       \b \f \n \r \t, or raw UTF-8 (C2 80..C3 BF for 0x80..0xFF)
type ID [20]byte

// String returns the ID in lower-case hex, for logs.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

const hexDigits = "0123456789abcdef"

// appendID appends id as a JSON string, byte-exactly: printable ASCII other
// than '"' and '\' as itself, every other byte as \u00XX.
func appendID(dst []byte, id *ID) []byte {
	dst = append(dst, '"')
	for _, c := range id {
		if c >= 0x20 && c <= 0x7e && c != '"' && c != '\\' {
			dst = append(dst, c)
			continue
		}
		dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
	}
	return append(dst, '"')
}
