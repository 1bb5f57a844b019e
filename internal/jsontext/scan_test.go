package jsontext

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math/bits"
	"strings"
	"testing"
)

func TestValid(t *testing.T) {
	tests := []string{
		`0`, `-0`, `1.5`, `-1e10`, `1E+2`, `2e-3`, `123456789012345678901234567890`,
		`"a"`, `"\u00e9\n\"\\\/\b\f\r\t"`, `"é"`, `true`, `false`, `null`,
		`[]`, `[1,[2,[3]]]`, ` { "a" : [ ] , "b" : { } } `, `{"":0}`,
		`01`, `-`, `1.`, `.5`, `1e`, `1e+`, `+1`, `0x10`, `NaN`,
		`"a`, `"\x"`, `"\u12"`, `"\u12g4"`, "\"a\tb\"", "\"a\x00\"",
		`tru`, `nul`, `truex`, `[1,]`, `[,1]`, `{"a"}`, `{"a":1,}`, `{a:1}`, `{"a":1 "b":2}`,
		`[1] [2]`, ``, ` `, `}`, `[`, `{"a":[}`, "\"\xff\"",
		strings.Repeat("[", 1000) + strings.Repeat("]", 1000),
	}
	for _, in := range tests {
		t.Run(in, func(t *testing.T) {
			got := Valid([]byte(in)) == nil
			if want := json.Valid([]byte(in)); got != want {
				t.Errorf("valid = %v, encoding/json says %v", got, want)
			}
		})
	}
	if Valid([]byte(strings.Repeat("[", 1001)+strings.Repeat("]", 1001))) == nil {
		t.Error("nesting deeper than 1000 is accepted")
	}
}

// TestSyntaxErrors checks the words and offsets of the scanner's errors,
// which reach people through the reasons of rejected rows.
func TestSyntaxErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"a":}`, "invalid character '}' looking for beginning of value at offset 5"},
		{`{"a":1} x`, "invalid character 'x' after top-level value at offset 8"},
		{`-`, "unexpected end of JSON input at offset 1"},
		{`-x`, "invalid character 'x' in numeric literal at offset 1"},
		{`1.x`, "invalid character 'x' after decimal point in numeric literal at offset 2"},
		{`1ex`, "invalid character 'x' in exponent of numeric literal at offset 2"},
		{`1e+x`, "invalid character 'x' in exponent of numeric literal at offset 3"},
		{`1e-`, "unexpected end of JSON input at offset 3"},
		{`[1e-]`, "invalid character ']' in exponent of numeric literal at offset 4"},
		{`[-]`, "invalid character ']' in numeric literal at offset 2"},
		{`01`, "invalid character '1' after top-level value at offset 1"},
		{`"\x"`, "invalid character 'x' in string escape code at offset 2"},
		{`"\u12g4"`, "invalid character 'g' in \\u hexadecimal character escape at offset 5"},
		{"\"a\tb\"", "invalid character 0x09 in string literal at offset 2"},
		{`tru`, "unexpected end of JSON input at offset 3"},
		{`trux`, "invalid character 'x' in literal true at offset 3"},
		{`{"a" 1}`, "invalid character '1' after object key at offset 5"},
		{`{"a":1 "b":2}`, "invalid character '\"' after object key:value pair at offset 7"},
		{`{1:2}`, "invalid character '1' looking for beginning of object key string at offset 1"},
		{`[1 2]`, "invalid character '2' after array element at offset 3"},
		{strings.Repeat("[", 1001), "exceeded max nesting depth of 1000 at offset 1000"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			err := Valid([]byte(tt.in))
			if err == nil || err.Error() != tt.want {
				t.Fatalf("Valid = %v, want %s", err, tt.want)
			}
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Errorf("error %T is not a *SyntaxError", err)
			}
		})
	}
}

func TestIsNumber(t *testing.T) {
	for _, s := range []string{"0", "-0", "1", "-1", "10", "1.5", "0.5", "-0.0", "1e5", "1E5", "1e+5", "1e-5", "1.25e-10", "123456789012345678901234567890"} {
		if !IsNumber(s) {
			t.Errorf("IsNumber(%q) = false", s)
		}
		if !json.Valid([]byte(s)) {
			t.Errorf("test case %q is not valid JSON", s)
		}
	}
	for _, s := range []string{"", "-", ".5", "5.", "1e", "e5", "0x10", "1 ", " 1", "Infinity", "--1", "1.2.3", "00", "+1", "1e+", "01"} {
		if IsNumber(s) {
			t.Errorf("IsNumber(%q) = true", s)
		}
		if json.Valid([]byte(s)) && strings.TrimSpace(s) == s {
			t.Errorf("test case %q is a valid JSON number", s)
		}
	}
}

func TestIsPlainString(t *testing.T) {
	for s, want := range map[string]bool{"": true, "userId": true, "é ~": true, `a"b`: false, `a\b`: false, "a\nb": false, "\x7f": true} {
		if got := IsPlainString(s); got != want {
			t.Errorf("IsPlainString(%q) = %v, want %v", s, got, want)
		}
	}
}

// TestScanStringEveryByte puts every byte value at every offset of strings
// long enough for the word-at-a-time scan and checks ScanString against
// the byte-at-a-time definition: where the string ends, and whether it is
// refused.
func TestScanStringEveryByte(t *testing.T) {
	fillers := []struct {
		name string
		fill byte
	}{{"ascii", 'a'}, {"high", 0xc3}, {"space", ' '}, {"tilde", '~'}}
	for _, f := range fillers {
		t.Run(f.name, func(t *testing.T) {
			for n := 0; n <= 24; n++ {
				for at := 0; at < n; at++ {
					for c := range 256 {
						body := bytes.Repeat([]byte{f.fill}, n)
						body[at] = byte(c)
						data := append(append([]byte{'"'}, body...), '"', 'x')
						end, _, err := ScanString(data, 0)
						wantEnd, wantErr := n+2, false
						switch {
						case c == '"':
							wantEnd = at + 2
						case c == '\\':
							// An escape of the filler byte or of the closing quote.
							wantEnd, wantErr = -1, true
						case c < 0x20:
							wantEnd, wantErr = at+1, true
						}
						if wantErr {
							if err == nil || (c != '\\' && end != wantEnd) {
								t.Fatalf("n=%d at=%d c=%#x: end %d, err %v; want an error at %d", n, at, c, end, err, wantEnd)
							}
							continue
						}
						if err != nil || end != wantEnd {
							t.Fatalf("n=%d at=%d c=%#x: end %d, err %v; want %d", n, at, c, end, err, wantEnd)
						}
					}
				}
			}
		})
	}
}

// TestSpecialInString checks the flag of the lowest special byte of a word
// against the byte table for every byte value at every position, behind
// plain bytes of several kinds.
func TestSpecialInString(t *testing.T) {
	for _, fill := range []byte{'a', ' ', 0x7f, 0x80, 0xff, '!', '#', '[', ']'} {
		for at := range 8 {
			for c := range 256 {
				var b [8]byte
				for k := range b {
					b[k] = fill
				}
				b[at] = byte(c)
				m := specialInString(binary.LittleEndian.Uint64(b[:]))
				want := -1
				for k, x := range b {
					if !plainInString[x] {
						want = k
						break
					}
				}
				got := -1
				if m != 0 {
					got = bits.TrailingZeros64(m) >> 3
				}
				if got != want {
					t.Fatalf("fill %#x, %#x at %d: first special byte %d, want %d", fill, c, at, got, want)
				}
			}
		}
	}
}
