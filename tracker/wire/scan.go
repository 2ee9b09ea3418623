package wire

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
	"unicode/utf16"
	"unicode/utf8"
)

// scanner is a small, allocation-free JSON reader for the flat messages of
// the tracker protocol (RFC 8259, with UTF-8 required and nesting limited to
// MaxDepth). It validates everything it passes over: strings (escapes,
// surrogate pairs, UTF-8), numbers, literals and nesting. Callers walk
// objects with open/key/next and either read a value with a typed reader or
// skip it.
type scanner struct {
	b    []byte
	i    int
	kbuf [MaxSiteBytes]byte // decoded key or short string with escapes
}

// wrap turns the internal errSyntax into a reportable error.
func (s *scanner) wrap(err error) error {
	if err == errSyntax {
		return fmt.Errorf("%w: invalid JSON at offset %d", ErrMalformed, s.i)
	}
	return err
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next non-space byte, or 0 at the end of input.
func (s *scanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// open consumes the opening byte of an object or array at depth and reports
// whether it has members. depth counts the container being opened.
func (s *scanner) open(c byte, depth int) (bool, error) {
	if s.peek() != c {
		return false, errSyntax
	}
	if depth > MaxDepth {
		return false, errDepth
	}
	s.i++
	closing := byte('}')
	if c == '[' {
		closing = ']'
	}
	if s.peek() == closing {
		s.i++
		return false, nil
	}
	return true, nil
}

// next consumes a ',' (true: another member follows) or the closing byte.
func (s *scanner) next(closing byte) (bool, error) {
	switch s.peek() {
	case ',':
		s.i++
		s.ws()
		return true, nil
	case closing:
		s.i++
		return false, nil
	}
	return false, errSyntax
}

// key reads a member name and its ':'. The name is decoded; names whose
// decoded form is longer than kbuf come back as "\x00" (they match no known
// key). The result may alias s.kbuf and is valid until the next read.
func (s *scanner) key() ([]byte, error) {
	k, ok, err := s.shortString()
	if err != nil {
		return nil, err
	}
	if !ok {
		k = []byte{0}
	}
	if s.peek() != ':' {
		return nil, errSyntax
	}
	s.i++
	s.ws()
	return k, nil
}

// shortString reads a string and returns its decoded bytes when they fit in
// kbuf (ok=false otherwise; the string is still consumed and validated).
func (s *scanner) shortString() (v []byte, ok bool, err error) {
	start, end, esc, err := s.str()
	if err != nil {
		return nil, false, err
	}
	if !esc {
		return s.b[start:end], true, nil
	}
	n := 0
	for r := range jsonRunes(s.b[start:end]) {
		if n+utf8.RuneLen(r) > len(s.kbuf) {
			return nil, false, nil
		}
		n += utf8.EncodeRune(s.kbuf[n:], r)
	}
	return s.kbuf[:n], true, nil
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// special reports, for 8 string bytes in v, whether any needs a closer look:
// '"', '\', a control byte (< 0x20) or a non-ASCII byte. It flags such a
// byte by setting its high bit. The lowest flagged byte is always one of
// them (a borrow, which may wrongly flag a byte, only starts at one), so
// bits.TrailingZeros64 finds the first byte to look at.
func special(v uint64) uint64 {
	q := v ^ (lsb * '"')
	bs := v ^ (lsb * '\\')
	return (v | (q-lsb)&^q | (bs-lsb)&^bs | (v-lsb*0x20)&^v) & msb
}

// str reads a JSON string starting at the opening quote and returns the
// bounds of its raw contents and whether it contains escapes.
//
// Most strings are printable ASCII with a few short escapes (an SDP has a
// \r\n every 50 bytes or so); str and longStr read those quickly. Anything
// else, and every error, goes to strSlow, which defines the results.
func (s *scanner) str() (start, end int, esc bool, err error) {
	b := s.b
	if s.peek() != '"' {
		return 0, 0, false, errSyntax
	}
	start = s.i + 1
	// Short strings (keys, most values) end within 16 bytes; special finds
	// their end.
	i := start
	for range 2 {
		if i+8 > len(b) {
			break
		}
		if m := special(binary.LittleEndian.Uint64(b[i:])); m != 0 {
			i += bits.TrailingZeros64(m) >> 3
			if c := b[i]; c == '"' {
				s.i = i + 1
				return start, i, false, nil
			} else if c != '\\' { // a control or non-ASCII byte
				return s.strSlow(start, i)
			}
			break
		}
		i += 8
	}
	// b[start:i] holds only plain bytes (printable ASCII other than '"'
	// and '\').
	if end, esc, ok := longStr(b, i); ok {
		s.i = end + 1
		return start, end, esc, nil
	}
	return s.strSlow(start, i)
}

// simpleEscape marks the bytes that may follow '\' in a two-byte escape.
var simpleEscape = [256]bool{'"': true, '\\': true, '/': true, 'b': true, 'f': true, 'n': true, 'r': true, 't': true}

// longStr reads the rest of a string from b[i] when it is valid and holds
// only printable ASCII and escapes. It returns the index of the closing
// quote and whether there were escapes; ok=false means the rest is
// something else (or invalid), and tells nothing more.
//
// It finds each '"' and '\' with IndexByte, checks the escapes, and checks
// that the rest is printable ASCII in one pass at the end.
func longStr(b []byte, i int) (end int, esc bool, ok bool) {
	from := i
	// q is the first '"' at or after i; the string ends at the first one
	// that is not part of an escape.
	q := bytes.IndexByte(b[i:], '"') + i
	if q < i {
		return 0, false, false
	}
	for {
		p := bytes.IndexByte(b[i:q], '\\')
		if p < 0 {
			break
		}
		esc = true
		p += i
		for { // escapes often come in runs, such as \r\n
			if simpleEscape[b[p+1]] { // p < q, so p+1 is in b
				p += 2
			} else if b[p+1] == 'u' {
				if _, ok := hex4(b, p+2); !ok {
					return 0, false, false
				}
				p += 6
			} else {
				return 0, false, false
			}
			if p >= q || b[p] != '\\' {
				break
			}
		}
		i = p
		if i > q { // the escape was \" at q
			q = bytes.IndexByte(b[i:], '"') + i
			if q < i {
				return 0, false, false
			}
		}
	}
	if !printableASCII(b[from:q]) {
		return 0, false, false
	}
	return q, esc, true
}

// printableASCII reports whether b holds only bytes in 0x20..0x7f.
func printableASCII(b []byte) bool {
	// For 8 bytes v, (v - 0x20 per byte) | v has a high bit set exactly
	// when one of them is < 0x20 or >= 0x80: a borrow starts only at a
	// byte < 0x20 (it may set high bits above that byte, which does not
	// matter here).
	const k = lsb * 0x20
	var bad uint64
	for len(b) >= 32 {
		v0 := binary.LittleEndian.Uint64(b)
		v1 := binary.LittleEndian.Uint64(b[8:])
		v2 := binary.LittleEndian.Uint64(b[16:])
		v3 := binary.LittleEndian.Uint64(b[24:])
		bad |= (v0 - k) | v0 | (v1 - k) | v1 | (v2 - k) | v2 | (v3 - k) | v3
		b = b[32:]
	}
	for len(b) >= 8 {
		v := binary.LittleEndian.Uint64(b)
		bad |= (v - k) | v
		b = b[8:]
	}
	for _, c := range b {
		if c < 0x20 || c >= 0x80 {
			return false
		}
	}
	return bad&msb == 0
}

// strSlow is str for a string whose contents start at b[start], going on
// from i: b[start:i] must hold only plain bytes. It reads a byte at a time
// where str's fast paths do not apply, and its results, errors and offsets
// included, are what they must give.
func (s *scanner) strSlow(start, i int) (_, end int, esc bool, err error) {
	b := s.b
	for {
		// Skip plain bytes 8 at a time, then jump to the first other one.
		for i+8 <= len(b) {
			if m := special(binary.LittleEndian.Uint64(b[i:])); m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		if i >= len(b) {
			s.i = i
			return 0, 0, false, errSyntax
		}
		c := b[i]
		switch {
		case c == '"':
			s.i = i + 1
			return start, i, esc, nil
		case c == '\\':
			esc = true
			if i+1 >= len(b) {
				s.i = i
				return 0, 0, false, errSyntax
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if _, ok := hex4(b, i+2); !ok {
					s.i = i
					return 0, 0, false, errSyntax
				}
				i += 6
			default:
				s.i = i
				return 0, 0, false, errSyntax
			}
		case c < 0x20:
			s.i = i
			return 0, 0, false, errSyntax
		case c < 0x80:
			i++
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				s.i = i
				return 0, 0, false, errUTF8
			}
			i += size
		}
	}
}

// hex4 decodes the 4 hex digits at b[i:].
func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// jsonRunes yields the code points of the raw contents of a string that
// str has validated. An escaped surrogate pair yields one code point; a lone
// surrogate yields U+FFFD, as in encoding/json.
func jsonRunes(raw []byte) func(func(rune) bool) {
	return func(yield func(rune) bool) {
		for i := 0; i < len(raw); {
			c := raw[i]
			var r rune
			switch {
			case c == '\\':
				r = rune(raw[i+1])
				i += 2
				switch r {
				case 'b':
					r = '\b'
				case 'f':
					r = '\f'
				case 'n':
					r = '\n'
				case 'r':
					r = '\r'
				case 't':
					r = '\t'
				case 'u':
					r, _ = hex4(raw, i)
					i += 4
					if !utf16.IsSurrogate(r) {
						break
					}
					r2 := rune(utf8.RuneError)
					if r < 0xdc00 && i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
						r2, _ = hex4(raw, i+2)
					}
					if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
						r = d
						i += 6
					} else {
						r = utf8.RuneError
					}
				}
			case c < 0x80:
				r = rune(c)
				i++
			default:
				var size int
				r, size = utf8.DecodeRune(raw[i:])
				i += size
			}
			if !yield(r) {
				return
			}
		}
	}
}

// appendUnquoted appends the decoded contents of a validated string.
func appendUnquoted(dst, raw []byte) []byte {
	for r := range jsonRunes(raw) {
		dst = utf8.AppendRune(dst, r)
	}
	return dst
}

// id reads a string that must hold exactly 20 code points in U+0000..U+00FF.
// ok=false means the JSON is valid but the value is not an ID.
func (s *scanner) id(dst *ID) (ok bool, err error) {
	if s.peek() == '"' {
		if end, ok := fastID(s.b, s.i+1, dst); ok {
			s.i = end + 1
			return true, nil
		}
	}
	return s.idSlow(dst)
}

// fastID decodes the ID whose contents start at b[i] when it is spelled
// the way clients write IDs: printable ASCII, two-byte UTF-8 (U+0080..U+00FF),
// short escapes and \u00XX. It returns the index of the closing quote;
// ok=false means the string is something else (or invalid) and tells
// nothing more. dst is written only when ok.
func fastID(b []byte, i int, dst *ID) (end int, ok bool) {
	var id ID
	for n := range id {
		if i+1 >= len(b) { // every character is followed by at least '"'
			return 0, false
		}
		c := b[i]
		switch {
		case c >= 0x20 && c < 0x80 && c != '"' && c != '\\':
			i++
		case c == 0xc2 || c == 0xc3:
			d := b[i+1]
			if d&0xc0 != 0x80 {
				return 0, false
			}
			c = c<<6 | d&0x3f
			i += 2
		case c == '\\':
			switch c = b[i+1]; c {
			case '"', '\\', '/':
			case 'b':
				c = '\b'
			case 'f':
				c = '\f'
			case 'n':
				c = '\n'
			case 'r':
				c = '\r'
			case 't':
				c = '\t'
			case 'u':
				r, ok := hex4(b, i+2)
				if !ok || r > 0xff {
					return 0, false
				}
				c = byte(r)
				i += 4
			default:
				return 0, false
			}
			i += 2
		default:
			return 0, false
		}
		id[n] = c
	}
	if i >= len(b) || b[i] != '"' {
		return 0, false
	}
	*dst = id
	return i, true
}

// idSlow is id for any string.
func (s *scanner) idSlow(dst *ID) (ok bool, err error) {
	start, end, esc, err := s.str()
	if err != nil {
		return false, err
	}
	raw := s.b[start:end]
	if !esc && len(raw) == 20 { // printable ASCII only
		for _, c := range raw {
			if c >= 0x80 {
				goto slow
			}
		}
		copy(dst[:], raw)
		return true, nil
	}
slow:
	n := 0
	for r := range jsonRunes(raw) {
		if r > 0xff || n == len(dst) {
			return false, nil
		}
		dst[n] = byte(r)
		n++
	}
	return n == len(dst), nil
}

// literal consumes true, false or null.
func (s *scanner) literal(lit string) error {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		return errSyntax
	}
	s.i += len(lit)
	return nil
}

// num reads a JSON number. isInt reports that it was written as an integer
// (no fraction or exponent) whose magnitude fits in an int64.
func (s *scanner) num() (v int64, isInt bool, err error) {
	b := s.b
	i := s.i
	neg := false
	if i < len(b) && b[i] == '-' {
		neg = true
		i++
	}
	if i >= len(b) || b[i] < '0' || b[i] > '9' {
		s.i = i
		return 0, false, errSyntax
	}
	var u uint64
	isInt = true
	if b[i] == '0' {
		i++
	} else {
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			d := uint64(b[i] - '0')
			if u > (1<<63-1-d)/10 {
				isInt = false
			}
			u = u*10 + d
		}
	}
	if i < len(b) && b[i] == '.' {
		isInt = false
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			s.i = i
			return 0, false, errSyntax
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		isInt = false
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			s.i = i
			return 0, false, errSyntax
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	s.i = i
	if !isInt {
		return 0, false, nil
	}
	v = int64(u)
	if neg {
		v = -v
	}
	return v, true, nil
}

// intField reads an integer in [lo, hi] or null (present=false). Any other
// JSON value is reported as bad.
func (s *scanner) intField(lo, hi int64, bad error) (v int64, present bool, err error) {
	switch c := s.peek(); {
	case c == '-' || c >= '0' && c <= '9':
		v, isInt, err := s.num()
		if err != nil {
			return 0, false, err
		}
		if !isInt || v < lo || v > hi {
			return 0, false, bad
		}
		return v, true, nil
	case c == 'n':
		return 0, false, s.literal("null")
	}
	return 0, false, bad
}

// idField reads an ID or null (present=false). Any other value is bad.
func (s *scanner) idField(dst *ID, bad error) (present bool, err error) {
	switch s.peek() {
	case '"':
		ok, err := s.id(dst)
		if err == nil && !ok {
			err = bad
		}
		return err == nil, err
	case 'n':
		return false, s.literal("null")
	}
	return false, bad
}

// strField reads a short string (decoded, at most len(kbuf) bytes, see
// shortString) or null (nil). Any other value is bad.
func (s *scanner) strField(bad error) (v []byte, long bool, err error) {
	switch s.peek() {
	case '"':
		v, ok, err := s.shortString()
		if v == nil && err == nil {
			v = []byte{}
		}
		return v, !ok, err
	case 'n':
		return nil, false, s.literal("null")
	}
	return nil, false, bad
}

// object walks the members of an object at depth. For each member it
// calls member with the index in names of the member's decoded name, or -1
// for a name not in names; member must consume the value. A name in names
// may appear once (ErrMalformed "duplicate key"); names has at most 32
// entries. (member sees an index, not the name, so that the name buffer in
// s does not escape and parsing does not allocate.)
func (s *scanner) object(depth int, names []string, member func(i int) error) error {
	var seen uint32
	more, err := s.open('{', depth)
	for more && err == nil {
		var k []byte
		if k, err = s.key(); err != nil {
			break
		}
		i := lookup(names, k)
		if i >= 0 {
			if seen&(1<<i) != 0 {
				return errDuplicate
			}
			seen |= 1 << i
		}
		if err = member(i); err != nil {
			break
		}
		more, err = s.next('}')
	}
	return err
}

func lookup(names []string, k []byte) int {
	for i, n := range names {
		if string(k) == n {
			return i
		}
	}
	return -1
}

// array walks the elements of an array at depth; elem must consume one.
func (s *scanner) array(depth int, elem func() error) error {
	more, err := s.open('[', depth)
	for more && err == nil {
		if err = elem(); err != nil {
			break
		}
		more, err = s.next(']')
	}
	return err
}

// skip validates and skips one value; depth is the depth a container value
// would have.
func (s *scanner) skip(depth int) error {
	switch c := s.peek(); c {
	case '"':
		_, _, _, err := s.str()
		return err
	case '{', '[':
		closing := byte('}')
		if c == '[' {
			closing = ']'
		}
		more, err := s.open(c, depth)
		for ; more && err == nil; more, err = s.next(closing) {
			if c == '{' {
				if _, _, _, err = s.str(); err != nil {
					return err
				}
				if s.peek() != ':' {
					return errSyntax
				}
				s.i++
			}
			if err = s.skip(depth + 1); err != nil {
				return err
			}
		}
		return err
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	default:
		_, _, err := s.num()
		return err
	}
}

// raw skips a value that must be an object (or null: nil) and returns it
// as a sub-slice of the input, limited to MaxSDPBytes.
func (s *scanner) raw(depth int, what string, bad error) ([]byte, error) {
	switch s.peek() {
	case '{':
	case 'n':
		return nil, s.literal("null")
	default:
		if err := s.skip(depth); err != nil {
			return nil, err
		}
		return nil, bad
	}
	start := s.i
	if err := s.skip(depth); err != nil {
		return nil, err
	}
	if n := s.i - start; n > MaxSDPBytes {
		return nil, tooLarge(what+" ", n, MaxSDPBytes)
	}
	return s.b[start:s.i:s.i], nil
}

// end checks that only white space follows the top-level value.
func (s *scanner) end() error {
	s.ws()
	if s.i != len(s.b) {
		return errSyntax
	}
	return nil
}
