package jsontext

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
)

// MaxDepth caps how deeply arrays and objects may nest in one value: a
// deeper value is invalid here rather than a risk to the stack.
const MaxDepth = 1000

// SyntaxError is malformed JSON text, described in encoding/json's words,
// at a byte offset of the text scanned.
type SyntaxError struct {
	msg    string
	Offset int // the offset of the byte at fault, or the length of the text at its end
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("%s at offset %d", e.msg, e.Offset) }

// ErrNotObject is returned by ObjectMembers for valid JSON that is not an
// object.
var ErrNotObject = errors.New("JSON value is not an object")

func syntaxErr(data []byte, i int, context string) error {
	if i >= len(data) {
		return &SyntaxError{msg: "unexpected end of JSON input", Offset: i}
	}
	return &SyntaxError{msg: fmt.Sprintf("invalid character %s %s", QuoteByte(data[i]), context), Offset: i}
}

// QuoteByte names the byte c for an error message: 'x' for printable ASCII
// other than the quote and backslash, 0x1f for the others.
func QuoteByte(c byte) string {
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

// Constants of the word-at-a-time string scans.
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

// IsPlainString reports whether s can stand between the quotes of a JSON
// string as it is and means itself there: it holds no quote, backslash or
// control character.
func IsPlainString(s string) bool {
	for k := 0; k < len(s); k++ {
		if !plainInString[s[k]] {
			return false
		}
	}
	return true
}

// IsSpace reports whether c is JSON white space: space, tab, line feed or
// carriage return.
func IsSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isHex(c byte) bool {
	return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// SkipSpace returns the index of the first byte at or after i that is not
// JSON white space, len(data) if there is none.
func SkipSpace(data []byte, i int) int {
	for i < len(data) && IsSpace(data[i]) {
		i++
	}
	return i
}

// ScanString validates the string starting with the quote at data[i] and
// returns the index after its closing quote and whether it holds escapes.
// Bytes of 0x80 and above are accepted as they are (check UTF-8
// separately), as encoding/json does. On error, end is the offset at fault.
func ScanString(data []byte, i int) (end int, escaped bool, err error) {
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

// numberEnd returns the index after the JSON number starting at s[i] and
// whether one starts there; on failure, the index at fault. It is the one
// statement of the number grammar, for the scanner and for IsNumber.
func numberEnd[T string | []byte](s T, i int) (int, bool) {
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	default:
		return i, false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if i >= len(s) || !isDigit(s[i]) {
			return i, false
		}
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i >= len(s) || !isDigit(s[i]) {
			return i, false
		}
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	return i, true
}

// IsNumber reports whether s is exactly a JSON number, by the grammar of
// RFC 8259 (no leading zeros, no leading +, no bare dot, no white space).
func IsNumber(s string) bool {
	end, ok := numberEnd(s, 0)
	return ok && end == len(s)
}

// scanNumber validates the number starting at data[i] and returns the
// index after it.
func scanNumber(data []byte, i int) (int, error) {
	j, ok := numberEnd(data, i)
	if ok {
		return j, nil
	}
	switch {
	case j > i && data[j-1] == '.':
		return j, syntaxErr(data, j, "after decimal point in numeric literal")
	case j > i && (data[j-1] == 'e' || data[j-1] == 'E' || data[j-1] == '+' || (data[j-1] == '-' && j-1 > i)):
		return j, syntaxErr(data, j, "in exponent of numeric literal")
	}
	return j, syntaxErr(data, j, "in numeric literal")
}

func scanLiteral(data []byte, i int, lit string) (int, error) {
	for k := 0; k < len(lit); k++ {
		if i+k >= len(data) || data[i+k] != lit[k] {
			return i + k, syntaxErr(data, i+k, "in literal "+lit)
		}
	}
	return i + len(lit), nil
}

// ScanValue validates the value starting at data[i] (no white space
// before it) and returns the index after it; on error, the offset at
// fault. depth is the nesting depth of the value's container: 0 for a
// value at the top level.
func ScanValue(data []byte, i, depth int) (int, error) {
	if i >= len(data) {
		return i, syntaxErr(data, i, "")
	}
	switch c := data[i]; {
	case c == '{':
		return scanObjectBody(data, i, depth+1)
	case c == '[':
		return scanArrayBody(data, i, depth+1)
	case c == '"':
		end, _, err := ScanString(data, i)
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
	return &SyntaxError{msg: fmt.Sprintf("exceeded max nesting depth of %d", MaxDepth), Offset: i}
}

func scanObjectBody(data []byte, i, depth int) (int, error) {
	if depth > MaxDepth {
		return i, depthErr(i)
	}
	j := SkipSpace(data, i+1)
	if j < len(data) && data[j] == '}' {
		return j + 1, nil
	}
	for {
		if j >= len(data) || data[j] != '"' {
			return j, syntaxErr(data, j, "looking for beginning of object key string")
		}
		var err error
		if j, _, err = ScanString(data, j); err != nil {
			return j, err
		}
		j = SkipSpace(data, j)
		if j >= len(data) || data[j] != ':' {
			return j, syntaxErr(data, j, "after object key")
		}
		j = SkipSpace(data, j+1)
		if j, err = ScanValue(data, j, depth); err != nil {
			return j, err
		}
		j = SkipSpace(data, j)
		if j >= len(data) {
			return j, syntaxErr(data, j, "")
		}
		switch data[j] {
		case ',':
			j = SkipSpace(data, j+1)
		case '}':
			return j + 1, nil
		default:
			return j, syntaxErr(data, j, "after object key:value pair")
		}
	}
}

func scanArrayBody(data []byte, i, depth int) (int, error) {
	if depth > MaxDepth {
		return i, depthErr(i)
	}
	j := SkipSpace(data, i+1)
	if j < len(data) && data[j] == ']' {
		return j + 1, nil
	}
	for {
		var err error
		if j, err = ScanValue(data, j, depth); err != nil {
			return j, err
		}
		j = SkipSpace(data, j)
		if j >= len(data) {
			return j, syntaxErr(data, j, "")
		}
		switch data[j] {
		case ',':
			j = SkipSpace(data, j+1)
		case ']':
			return j + 1, nil
		default:
			return j, syntaxErr(data, j, "after array element")
		}
	}
}

// Valid checks that data is exactly one JSON value, with optional white
// space around it. It returns nil or a *SyntaxError.
func Valid(data []byte) error {
	end, err := ScanValue(data, SkipSpace(data, 0), 0)
	if err != nil {
		return err
	}
	if end = SkipSpace(data, end); end != len(data) {
		return syntaxErr(data, end, "after top-level value")
	}
	return nil
}
