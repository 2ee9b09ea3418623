package wire

import (
	"encoding/binary"
	"fmt"
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
// '"', '\', a control byte (< 0x20) or a non-ASCII byte.
func special(v uint64) uint64 {
	q := v ^ (lsb * '"')
	bs := v ^ (lsb * '\\')
	return (v | (q-lsb)&^q | (bs-lsb)&^bs | (v-lsb*0x20)&^v) & msb
}

// str reads a JSON string starting at the opening quote and returns the
// bounds of its raw contents and whether it contains escapes.
func (s *scanner) str() (start, end int, esc bool, err error) {
	b := s.b
	if s.peek() != '"' {
		return 0, 0, false, errSyntax
	}
	start = s.i + 1
	i := start
	for {
		for i+8 <= len(b) && special(binary.LittleEndian.Uint64(b[i:])) == 0 {
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
	start, end, esc, err := s.str()
	if err != nil {
		return false, err
	}
	raw := s.b[start:end]
	if !esc && len(raw) == 20 { // common case: printable ASCII only
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
