package jsontext

import (
	"math"
	"math/bits"
	"strconv"
	"unicode/utf8"
)

// load8 returns the eight bytes of s at i as a little-endian word.
func load8(s string, i int) uint64 {
	_ = s[i+7]
	return uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
		uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
}

// specialMask marks the bytes of x that AppendString cannot copy as they
// are: control characters, quotes, backslashes and bytes that are not
// ASCII. The lowest mark (the high bit of a byte) is exactly at the first
// such byte; marks above it may be false.
func specialMask(x uint64) uint64 {
	q := x ^ ('"' * lowBits)
	b := x ^ ('\\' * lowBits)
	lt := (x - 0x20*lowBits) &^ x
	return (lt | (q-lowBits)&^q | (b-lowBits)&^b | x) & highBits
}

const hexDigits = "0123456789abcdef"

// AppendString appends s to dst as a JSON string, as an encoding/json
// Encoder with SetEscapeHTML(false) writes it: quotes, backslashes and
// control characters escaped (\n, \r, \t, \b, \f by name, the others as
// \u00XX), <, > and & as they are, U+2028 and U+2029 escaped (for
// JavaScript readers), and each byte of invalid UTF-8 as \ufffd. Plain
// ASCII is copied eight bytes at a time.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		// Skip plain ASCII bytes eight at a time, up to the first one
		// that is not.
		if i+8 <= len(s) {
			m := specialMask(load8(s, i))
			if m == 0 {
				i += 8
				continue
			}
			i += bits.TrailingZeros64(m) >> 3
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if plainInString[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// AppendValidString is AppendString for text that must be valid UTF-8: if
// s is not, it returns dst unchanged and false.
func AppendValidString(dst []byte, s string) ([]byte, bool) {
	if !utf8.ValidString(s) {
		return dst, false
	}
	return AppendString(dst, s), true
}

// AppendFloat appends f as encoding/json writes a float of the given bit
// size (32 or 64): the shortest text that reads back to the same value, in
// exponent form only below 1e-6 and from 1e21 on in magnitude. JSON cannot
// hold NaN or an infinity: for those it returns dst unchanged and false.
func AppendFloat(dst []byte, f float64, bitSize int) ([]byte, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return dst, false
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 {
		if bitSize == 64 && (abs < 1e-6 || abs >= 1e21) ||
			bitSize == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	dst = strconv.AppendFloat(dst, f, format, -1, bitSize)
	if format == 'e' {
		// Write e-07 as e-7.
		n := len(dst)
		if n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst, true
}
