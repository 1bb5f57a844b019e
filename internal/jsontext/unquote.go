package jsontext

import (
	"unicode/utf16"
	"unicode/utf8"
)

// Unquote returns the string a JSON string literal stands for and whether
// raw is one (no white space around it). Escapes are decoded; invalid
// UTF-8 and unpaired surrogate escapes become U+FFFD, as with
// encoding/json. A literal without escapes costs one copy.
func Unquote(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	end, escaped, err := ScanString(raw, 0)
	if err != nil || end != len(raw) {
		return "", false
	}
	body := raw[1 : len(raw)-1]
	if !escaped && utf8.Valid(body) {
		return string(body), true
	}
	return UnquoteBody(body), true
}

// UnquoteBody decodes the text between the quotes of a valid JSON string,
// as Unquote does. Text that is not (ScanString refuses it) gives an
// undefined result.
func UnquoteBody(body []byte) string {
	b := make([]byte, 0, len(body))
	for i := 0; i < len(body); {
		c := body[i]
		switch {
		case c == '\\':
			if i+1 >= len(body) {
				return string(b)
			}
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

// hex4 decodes four hex digits or returns -1.
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
