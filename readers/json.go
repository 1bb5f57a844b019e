package readers

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// maxJSONDepth caps how deeply arrays and objects may nest in one value: a
// deeper value is invalid JSON here rather than a risk to the stack.
const maxJSONDepth = 1000

// jsonError is a JSON syntax error at a byte offset of the text scanned.
type jsonError struct {
	msg string
	off int
}

func (e *jsonError) Error() string { return fmt.Sprintf("%s at offset %d", e.msg, e.off) }

// errNotObject is returned by ObjectMembers for valid JSON that is not an
// object.
var errNotObject = errors.New("JSON value is not an object")

func syntaxErr(data []byte, i int, context string) error {
	if i >= len(data) {
		return &jsonError{msg: "unexpected end of JSON input", off: i}
	}
	return &jsonError{msg: fmt.Sprintf("invalid character %s %s", quoteByte(data[i]), context), off: i}
}

func quoteByte(c byte) string {
	if c >= 0x20 && c < 0x7f && c != '\'' && c != '\\' {
		return "'" + string(rune(c)) + "'"
	}
	return fmt.Sprintf("0x%02x", c)
}

// plainInString marks the bytes that need no attention inside a string:
// everything but the quote, the backslash and control characters.
var plainInString = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// Constants of the word-at-a-time string scan.
const (
	lowBits  = 0x0101010101010101 // 0x01 in every byte
	highBits = 0x8080808080808080 // 0x80 in every byte
)

// specialInString flags the bytes of w (eight bytes of a string, the first
// in the lowest bits) that end a run of plain string bytes: the quote, the
// backslash and control characters. The lowest flagged byte is exact (a
// flag can spill only into bytes above a flagged one); a zero result means
// all eight bytes are plain.
func specialInString(w uint64) uint64 {
	q := w ^ (lowBits * '"')
	b := w ^ (lowBits * '\\')
	return ((q-lowBits)&^q | (b-lowBits)&^b | (w-lowBits*0x20)&^w) & highBits
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isHex(c byte) bool {
	return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && isSpace(data[i]) {
		i++
	}
	return i
}

// scanString validates the string starting with the quote at data[i] and
// returns the index after its closing quote and whether it holds escapes.
// Bytes of 0x80 and above are accepted as they are (UTF-8 is checked
// separately), as encoding/json does.
func scanString(data []byte, i int) (end int, escaped bool, err error) {
	j := i + 1
	for {
		// Skip to the next byte that is not plain: eight bytes at a time,
		// and one at a time at the end of data.
		for {
			if j+8 <= len(data) {
				if m := specialInString(binary.LittleEndian.Uint64(data[j:])); m != 0 {
					j += bits.TrailingZeros64(m) >> 3
					break
				}
				j += 8
				continue
			}
			for j < len(data) && plainInString[data[j]] {
				j++
			}
			break
		}
		if j >= len(data) {
			return j, escaped, syntaxErr(data, j, "")
		}
		switch c := data[j]; c {
		case '"':
			return j + 1, escaped, nil
		case '\\':
			escaped = true
			if j+1 >= len(data) {
				return j + 1, escaped, syntaxErr(data, j+1, "")
			}
			switch data[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j += 2
			case 'u':
				for k := j + 2; k < j+6; k++ {
					if k >= len(data) || !isHex(data[k]) {
						return k, escaped, syntaxErr(data, k, "in \\u hexadecimal character escape")
					}
				}
				j += 6
			default:
				return j + 1, escaped, syntaxErr(data, j+1, "in string escape code")
			}
		default:
			return j, escaped, syntaxErr(data, j, "in string literal")
		}
	}
}

// scanNumber validates the number starting at data[i] by the JSON grammar
// and returns the index after it.
func scanNumber(data []byte, i int) (int, error) {
	j := i
	if data[j] == '-' {
		j++
	}
	switch {
	case j < len(data) && data[j] == '0':
		j++
	case j < len(data) && isDigit(data[j]):
		for j < len(data) && isDigit(data[j]) {
			j++
		}
	default:
		return j, syntaxErr(data, j, "in numeric literal")
	}
	if j < len(data) && data[j] == '.' {
		j++
		if j >= len(data) || !isDigit(data[j]) {
			return j, syntaxErr(data, j, "after decimal point in numeric literal")
		}
		for j < len(data) && isDigit(data[j]) {
			j++
		}
	}
	if j < len(data) && (data[j] == 'e' || data[j] == 'E') {
		j++
		if j < len(data) && (data[j] == '+' || data[j] == '-') {
			j++
		}
		if j >= len(data) || !isDigit(data[j]) {
			return j, syntaxErr(data, j, "in exponent of numeric literal")
		}
		for j < len(data) && isDigit(data[j]) {
			j++
		}
	}
	return j, nil
}

func scanLiteral(data []byte, i int, lit string) (int, error) {
	for k := 0; k < len(lit); k++ {
		if i+k >= len(data) || data[i+k] != lit[k] {
			return i + k, syntaxErr(data, i+k, "in literal "+lit)
		}
	}
	return i + len(lit), nil
}

// scanValue validates the value starting at data[i] (no leading space) and
// returns the index after it. depth is the nesting depth of the value's
// container.
func scanValue(data []byte, i, depth int) (int, error) {
	if i >= len(data) {
		return i, syntaxErr(data, i, "")
	}
	switch c := data[i]; {
	case c == '{':
		return scanObjectBody(data, i, depth+1)
	case c == '[':
		return scanArrayBody(data, i, depth+1)
	case c == '"':
		end, _, err := scanString(data, i)
		return end, err
	case c == 't':
		return scanLiteral(data, i, "true")
	case c == 'f':
		return scanLiteral(data, i, "false")
	case c == 'n':
		return scanLiteral(data, i, "null")
	case c == '-' || isDigit(c):
		return scanNumber(data, i)
	default:
		return i, syntaxErr(data, i, "looking for beginning of value")
	}
}

func depthErr(i int) error {
	return &jsonError{msg: fmt.Sprintf("exceeded max nesting depth of %d", maxJSONDepth), off: i}
}

func scanObjectBody(data []byte, i, depth int) (int, error) {
	if depth > maxJSONDepth {
		return i, depthErr(i)
	}
	j := skipSpace(data, i+1)
	if j < len(data) && data[j] == '}' {
		return j + 1, nil
	}
	for {
		if j >= len(data) || data[j] != '"' {
			return j, syntaxErr(data, j, "looking for beginning of object key string")
		}
		var err error
		if j, _, err = scanString(data, j); err != nil {
			return j, err
		}
		j = skipSpace(data, j)
		if j >= len(data) || data[j] != ':' {
			return j, syntaxErr(data, j, "after object key")
		}
		j = skipSpace(data, j+1)
		if j, err = scanValue(data, j, depth); err != nil {
			return j, err
		}
		j = skipSpace(data, j)
		if j >= len(data) {
			return j, syntaxErr(data, j, "")
		}
		switch data[j] {
		case ',':
			j = skipSpace(data, j+1)
		case '}':
			return j + 1, nil
		default:
			return j, syntaxErr(data, j, "after object key:value pair")
		}
	}
}

func scanArrayBody(data []byte, i, depth int) (int, error) {
	if depth > maxJSONDepth {
		return i, depthErr(i)
	}
	j := skipSpace(data, i+1)
	if j < len(data) && data[j] == ']' {
		return j + 1, nil
	}
	for {
		var err error
		if j, err = scanValue(data, j, depth); err != nil {
			return j, err
		}
		j = skipSpace(data, j)
		if j >= len(data) {
			return j, syntaxErr(data, j, "")
		}
		switch data[j] {
		case ',':
			j = skipSpace(data, j+1)
		case ']':
			return j + 1, nil
		default:
			return j, syntaxErr(data, j, "after array element")
		}
	}
}

// validJSON checks that data is exactly one JSON value, with optional
// surrounding whitespace.
func validJSON(data []byte) error {
	end, err := scanValue(data, skipSpace(data, 0), 0)
	if err != nil {
		return err
	}
	if end = skipSpace(data, end); end != len(data) {
		return syntaxErr(data, end, "after top-level value")
	}
	return nil
}

// objectIter walks the members of one JSON object, validating it as it
// goes. Keys and values are sub-slices of the object's text.
type objectIter struct {
	data []byte
	i    int
	n    int // members returned so far
}

// init starts at the object in data (optional surrounding whitespace). It
// fails if data does not start with an object.
func (it *objectIter) init(data []byte) error {
	it.data, it.n = data, 0
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return syntaxErr(data, i, "looking for beginning of object")
	}
	it.i = i + 1
	return nil
}

// next returns the next member: the key's text between its quotes (escaped
// reports whether it holds escapes) and the value's text. ok is false after
// the last member, once the rest of data is checked to be whitespace.
func (it *objectIter) next() (key []byte, escaped bool, value []byte, ok bool, err error) {
	key, escaped, _, value, ok, err = it.nextHint("")
	return key, escaped, value, ok, err
}

// nextHint is next where the key is expected to be hint, a key known to
// be valid JSON string text without escapes: matched reports that it is,
// in which case the key's bytes need no scan.
func (it *objectIter) nextHint(hint string) (key []byte, escaped, matched bool, value []byte, ok bool, err error) {
	data := it.data
	j := skipSpace(data, it.i)
	if j >= len(data) {
		return nil, false, false, nil, false, syntaxErr(data, j, "")
	}
	if it.n > 0 {
		switch data[j] {
		case ',':
			j = skipSpace(data, j+1)
		case '}':
			return nil, false, false, nil, false, it.finish(j + 1)
		default:
			return nil, false, false, nil, false, syntaxErr(data, j, "after object key:value pair")
		}
	} else if data[j] == '}' {
		return nil, false, false, nil, false, it.finish(j + 1)
	}
	if j >= len(data) || data[j] != '"' {
		return nil, false, false, nil, false, syntaxErr(data, j, "looking for beginning of object key string")
	}
	ks := j
	if e := j + 1 + len(hint); hint != "" && e < len(data) && data[e] == '"' && string(data[j+1:e]) == hint {
		j, matched = e+1, true
	} else if j, escaped, err = scanString(data, j); err != nil {
		return nil, false, false, nil, false, err
	}
	key = data[ks+1 : j-1]
	j = skipSpace(data, j)
	if j >= len(data) || data[j] != ':' {
		return nil, false, false, nil, false, syntaxErr(data, j, "after object key")
	}
	vs := skipSpace(data, j+1)
	if j, err = scanValue(data, vs, 1); err != nil {
		return nil, false, false, nil, false, err
	}
	it.i = j
	it.n++
	return key, escaped, matched, data[vs:j:j], true, nil
}

func (it *objectIter) finish(i int) error {
	if i = skipSpace(it.data, i); i != len(it.data) {
		return syntaxErr(it.data, i, "after top-level value")
	}
	return nil
}

// arrayIter walks the elements of one JSON array, validating as it goes.
type arrayIter struct {
	data []byte
	i    int
	n    int
}

func (it *arrayIter) init(data []byte) error {
	it.data, it.n = data, 0
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '[' {
		return syntaxErr(data, i, "looking for beginning of array")
	}
	it.i = i + 1
	return nil
}

func (it *arrayIter) next() (value []byte, ok bool, err error) {
	data := it.data
	j := skipSpace(data, it.i)
	if j >= len(data) {
		return nil, false, syntaxErr(data, j, "")
	}
	if it.n > 0 {
		switch data[j] {
		case ',':
			j = skipSpace(data, j+1)
		case ']':
			return nil, false, nil
		default:
			return nil, false, syntaxErr(data, j, "after array element")
		}
	} else if data[j] == ']' {
		return nil, false, nil
	}
	vs := j
	if j, err = scanValue(data, vs, 1); err != nil {
		return nil, false, err
	}
	it.i = j
	it.n++
	return data[vs:j:j], true, nil
}

// ObjectMembers calls fn with each member of the JSON object raw, in order:
// the key unquoted and the value's exact text. Duplicate keys are passed on
// as they come. It stops, returning nil, when fn returns false. It returns
// an error if raw is not a JSON object (surrounding whitespace allowed) or
// is malformed up to where iteration stopped.
func ObjectMembers(raw []byte, fn func(key string, value json.RawMessage) bool) error {
	var it objectIter
	if err := it.init(raw); err != nil {
		if validJSON(raw) == nil {
			return errNotObject
		}
		return err
	}
	for {
		key, escaped, value, ok, err := it.next()
		if err != nil || !ok {
			return err
		}
		var k string
		if escaped {
			k = unquoteBody(key)
		} else {
			k = string(key)
		}
		if !fn(k, json.RawMessage(value)) {
			return nil
		}
	}
}

// Lookup returns the value at path inside raw: each element of path is an
// object key or, inside an array, a decimal index. Where an object has a
// key more than once, the last one counts, as with encoding/json. It
// reports false if a step is missing, raw is not of the shape the path
// needs, or the text is malformed. With an empty path it returns raw
// without surrounding whitespace (false if that leaves nothing).
func Lookup(raw json.RawMessage, path ...string) (json.RawMessage, bool) {
	cur := []byte(raw)
	for _, step := range path {
		i := skipSpace(cur, 0)
		if i >= len(cur) {
			return nil, false
		}
		var (
			found []byte
			ok    bool
		)
		switch cur[i] {
		case '{':
			found, ok = lookupKey(cur, step)
		case '[':
			found, ok = lookupIndex(cur, step)
		}
		if !ok {
			return nil, false
		}
		cur = found
	}
	start := skipSpace(cur, 0)
	end := len(cur)
	for end > start && isSpace(cur[end-1]) {
		end--
	}
	if start == end {
		return nil, false
	}
	return json.RawMessage(cur[start:end:end]), true
}

func lookupKey(obj []byte, key string) ([]byte, bool) {
	var (
		it    objectIter
		found []byte
		ok    bool
	)
	if it.init(obj) != nil {
		return nil, false
	}
	for {
		k, escaped, v, more, err := it.next()
		if err != nil {
			return nil, false
		}
		if !more {
			return found, ok
		}
		if escaped {
			if unquoteBody(k) == key {
				found, ok = v, true
			}
		} else if string(k) == key {
			found, ok = v, true
		}
	}
}

func lookupIndex(arr []byte, step string) ([]byte, bool) {
	n, err := strconv.Atoi(step)
	if err != nil || n < 0 {
		return nil, false
	}
	var it arrayIter
	if it.init(arr) != nil {
		return nil, false
	}
	for k := 0; ; k++ {
		v, more, err := it.next()
		if err != nil || !more {
			return nil, false
		}
		if k == n {
			return v, true
		}
	}
}

// Unquote returns the string a JSON string literal stands for and whether
// raw is one (no surrounding whitespace). Escapes are decoded; invalid
// UTF-8 and unpaired surrogate escapes become U+FFFD, as with
// encoding/json. A literal without escapes costs one copy.
func Unquote(raw json.RawMessage) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	end, escaped, err := scanString(raw, 0)
	if err != nil || end != len(raw) {
		return "", false
	}
	body := raw[1 : len(raw)-1]
	if !escaped && utf8.Valid(body) {
		return string(body), true
	}
	return unquoteBody(body), true
}

// unquoteBody decodes the text between the quotes of a valid JSON string.
func unquoteBody(body []byte) string {
	b := make([]byte, 0, len(body))
	for i := 0; i < len(body); {
		c := body[i]
		switch {
		case c == '\\':
			esc := body[i+1]
			i += 2
			switch esc {
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r := hex4(body[i:])
				i += 4
				if utf16.IsSurrogate(r) {
					r2 := rune(-1)
					if i+6 <= len(body) && body[i] == '\\' && body[i+1] == 'u' {
						r2 = hex4(body[i+2:])
					}
					if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
						r = d
						i += 6
					} else {
						r = utf8.RuneError
					}
				}
				b = utf8.AppendRune(b, r)
			default: // '"', '\\', '/'
				b = append(b, esc)
			}
		case c < utf8.RuneSelf:
			b = append(b, c)
			i++
		default:
			r, size := utf8.DecodeRune(body[i:])
			if r == utf8.RuneError && size == 1 {
				b = utf8.AppendRune(b, utf8.RuneError)
			} else {
				b = append(b, body[i:i+size]...)
			}
			i += size
		}
	}
	return string(b)
}

// hex4 decodes four hex digits (already validated) or returns -1.
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case isDigit(c):
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}
