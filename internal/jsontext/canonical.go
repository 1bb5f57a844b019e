package jsontext

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"slices"
	"strconv"
	"unicode/utf8"
)

// The canonical form of a JSON value is the one text of every value that
// means the same, whatever the escaping, spacing, key order or number
// notation of the text it was read from:
//
//   - no white space;
//   - strings as AppendString writes their value: "\u00fc" and "ü" are the
//     same string, and so are "\/" and "/";
//   - numbers by their exact decimal value (CanonicalNumber): 1.50, 1.5
//     and 15e-1 are one number, written 1.5; 9007199254740993 stays
//     itself (no rounding to a float);
//   - object members sorted by the bytes of their keys' values (UTF-8),
//     at every level; members with the same key keep their order;
//   - arrays in their order; true, false and null as they are.

// AppendCanonical appends the canonical form of the JSON value v, which
// the caller vouches is valid JSON (white space around and inside it is
// allowed), to dst.
func AppendCanonical(dst, v []byte) []byte {
	var c Canonicalizer
	return c.Append(dst, v)
}

// Canonicalizer is AppendCanonical with memory of its own, reused from
// one call to the next. The zero Canonicalizer is ready for use; it is not
// safe for concurrent use.
type Canonicalizer struct {
	spans []memberSpan // the members of the objects being sorted
}

// Append appends the canonical form of the valid JSON value v to dst, as
// AppendCanonical does.
func (c *Canonicalizer) Append(dst, v []byte) []byte {
	dst, _ = c.value(dst, v, SkipSpace(v, 0))
	return dst
}

// memberSpan is an object member of a text: its key literal at
// [key, keyEnd) and its value at [val, end).
type memberSpan struct {
	key, keyEnd, val, end int
}

// value appends the canonical form of the value at v[i] and returns the
// index after it.
func (c *Canonicalizer) value(dst, v []byte, i int) ([]byte, int) {
	switch v[i] {
	case '{':
		return c.object(dst, v, i)
	case '[':
		dst = append(dst, '[')
		i = SkipSpace(v, i+1)
		for n := 0; v[i] != ']'; n++ {
			if n > 0 {
				dst = append(dst, ',')
			}
			dst, i = c.value(dst, v, i)
			i = SkipSpace(v, i)
			if v[i] == ',' {
				i = SkipSpace(v, i+1)
			}
		}
		return append(dst, ']'), i + 1
	case '"':
		end, _, _ := ScanString(v, i)
		return AppendCanonicalString(dst, v[i:end]), end
	case 't':
		return append(dst, "true"...), i + 4
	case 'f':
		return append(dst, "false"...), i + 5
	case 'n':
		return append(dst, "null"...), i + 4
	}
	end, _ := numberEnd(v, i)
	return AppendCanonicalNumber(dst, v[i:end]), end
}

// object appends the canonical form of the object at v[i], its members
// sorted by key, and returns the index after it.
func (c *Canonicalizer) object(dst, v []byte, i int) ([]byte, int) {
	base := len(c.spans)
	i = SkipSpace(v, i+1)
	for v[i] != '}' {
		var m memberSpan
		m.key = i
		m.keyEnd, _, _ = ScanString(v, i)
		i = SkipSpace(v, m.keyEnd)
		m.val = SkipSpace(v, i+1) // after the colon
		m.end, _ = skipTrustedValue(v, m.val)
		c.spans = append(c.spans, m)
		i = SkipSpace(v, m.end)
		if v[i] == ',' {
			i = SkipSpace(v, i+1)
		}
	}
	members := c.spans[base:]
	slices.SortStableFunc(members, func(a, b memberSpan) int {
		return CompareKeys(v[a.key:a.keyEnd], v[b.key:b.keyEnd])
	})
	dst = append(dst, '{')
	for n := base; n < len(c.spans); n++ {
		m := c.spans[n]
		if n > base {
			dst = append(dst, ',')
		}
		dst = AppendCanonicalString(dst, v[m.key:m.keyEnd])
		dst = append(dst, ':')
		dst, _ = c.value(dst, v, m.val)
	}
	c.spans = c.spans[:base]
	return append(dst, '}'), i + 1
}

// CompareKeys compares two JSON string literals by the bytes of the
// strings they stand for, as -1, 0 or +1. (Literals without escapes are
// compared as they are: a byte of invalid UTF-8 in one, which stands for
// U+FFFD, sorts by its own value.)
func CompareKeys(a, b []byte) int {
	if bytes.IndexByte(a, '\\') < 0 && bytes.IndexByte(b, '\\') < 0 {
		return bytes.Compare(a[1:len(a)-1], b[1:len(b)-1])
	}
	sa, _ := Unquote(a)
	sb, _ := Unquote(b)
	switch {
	case sa < sb:
		return -1
	case sa > sb:
		return 1
	}
	return 0
}

// CanonicalString reports whether the valid JSON string literal lit is
// in canonical form: as AppendString writes the string it stands for.
func CanonicalString(lit []byte) bool {
	body := lit[1 : len(lit)-1]
	i := 0
	// Plain ASCII eight bytes at a time, up to the first byte that is not.
	for ; i+8 <= len(body); i += 8 {
		if m := specialMask(binary.LittleEndian.Uint64(body[i:])); m != 0 {
			i += bits.TrailingZeros64(m) >> 3
			break
		}
	}
	for ; i < len(body); i++ {
		c := body[i]
		if c < 0x20 || c == '\\' {
			return false
		}
		if c >= utf8.RuneSelf {
			return canonicalUTF8(body[i:])
		}
	}
	return true
}

// canonicalUTF8 reports whether b, the rest of a string's body, is valid
// UTF-8 that AppendString copies as it is.
func canonicalUTF8(b []byte) bool {
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == '\\' {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			return false
		}
		i += size
	}
	return true
}

// AppendCanonicalString appends the canonical form of the valid JSON
// string literal lit.
func AppendCanonicalString(dst, lit []byte) []byte {
	if CanonicalString(lit) {
		return append(dst, lit...)
	}
	return AppendString(dst, UnquoteBody(lit[1:len(lit)-1]))
}

// CanonicalNumber reports whether the valid JSON number num is in
// canonical form (see AppendCanonicalNumber): it has no exponent, no
// fraction ending in 0, is not -0, and lies between 1e-6 and 1e21 in
// magnitude, or is 0. Every integer that fits in 64 bits passes, and so
// does every float that AppendFloat writes without an exponent but -0.
func CanonicalNumber(num []byte) bool {
	i := 0
	if num[0] == '-' {
		i = 1
	}
	intStart := i
	for i < len(num) && isDigit(num[i]) {
		i++
	}
	intLen := i - intStart
	if i == len(num) {
		// An integer: 0, or up to 21 digits; not -0.
		return intLen <= 21 && !(num[intStart] == '0' && intStart == 1)
	}
	if num[i] != '.' || num[len(num)-1] == '0' {
		return false
	}
	frac := num[i+1:]
	for _, c := range frac {
		if !isDigit(c) {
			return false // an exponent
		}
	}
	if num[intStart] != '0' {
		return intLen <= 21
	}
	// 0.xxx: at most five zeros before the first significant digit.
	zeros := 0
	for zeros < len(frac) && frac[zeros] == '0' {
		zeros++
	}
	return zeros <= 5
}

// AppendCanonicalNumber appends the canonical form of the valid JSON
// number num: its exact decimal value, written as encoding/json writes the
// shortest form of a float: without an exponent from 1e-6 up to (not
// including) 1e21 in magnitude ("150", "1.5", "0.000001"), else as
// d.ddde±x ("1e+21", "1.5e-7"); zero is "0" (also -0). Exponents beyond
// ±10^15 are read as ±10^15.
func AppendCanonicalNumber(dst, num []byte) []byte {
	if CanonicalNumber(num) {
		return append(dst, num...)
	}
	neg := num[0] == '-'
	i := 0
	if neg {
		i = 1
	}
	// The significant digits, and the exponent of the last one.
	var digits []byte
	var stack [64]byte
	digits = stack[:0]
	exp := 0
	for ; i < len(num) && isDigit(num[i]); i++ {
		digits = append(digits, num[i])
	}
	if i < len(num) && num[i] == '.' {
		for i++; i < len(num) && isDigit(num[i]); i++ {
			digits = append(digits, num[i])
			exp--
		}
	}
	if i < len(num) && (num[i] == 'e' || num[i] == 'E') {
		i++
		eneg := false
		if num[i] == '+' || num[i] == '-' {
			eneg = num[i] == '-'
			i++
		}
		e := 0
		for ; i < len(num); i++ {
			if e < 1e15 {
				e = e*10 + int(num[i]-'0')
			}
		}
		e = min(e, 1e15)
		if eneg {
			e = -e
		}
		exp += e
	}
	// Trim the leading and trailing zeros.
	for len(digits) > 0 && digits[0] == '0' {
		digits = digits[1:]
	}
	for len(digits) > 0 && digits[len(digits)-1] == '0' {
		digits = digits[:len(digits)-1]
		exp++
	}
	if len(digits) == 0 {
		return append(dst, '0')
	}
	if neg {
		dst = append(dst, '-')
	}
	n := len(digits)
	adj := n - 1 + exp // the exponent in d.ddd form
	switch {
	case adj < -6 || adj >= 21:
		dst = append(dst, digits[0])
		if n > 1 {
			dst = append(dst, '.')
			dst = append(dst, digits[1:]...)
		}
		dst = append(dst, 'e')
		if adj >= 0 {
			dst = append(dst, '+')
		}
		return strconv.AppendInt(dst, int64(adj), 10)
	case exp >= 0:
		dst = append(dst, digits...)
		for range exp {
			dst = append(dst, '0')
		}
		return dst
	case adj >= 0:
		dst = append(dst, digits[:n+exp]...)
		dst = append(dst, '.')
		return append(dst, digits[n+exp:]...)
	}
	dst = append(dst, '0', '.')
	for range -adj - 1 {
		dst = append(dst, '0')
	}
	return append(dst, digits...)
}
