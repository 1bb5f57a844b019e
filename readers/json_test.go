package readers

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math/bits"
	"strings"
	"testing"
)

func TestValidJSON(t *testing.T) {
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
			got := validJSON([]byte(in)) == nil
			if want := json.Valid([]byte(in)); got != want {
				t.Errorf("valid = %v, encoding/json says %v", got, want)
			}
		})
	}
	if validJSON([]byte(strings.Repeat("[", 1001)+strings.Repeat("]", 1001))) == nil {
		t.Error("nesting deeper than 1000 is accepted")
	}
}

func TestObjectMembers(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		stop    string // key after which iteration stops
		want    string // key=value pairs
		wantErr string
	}{
		{name: "members in order", in: ` {"a": 1, "b" :{"c":[1,2]}, "a":"x", "\u00e9":null} `, want: `a=1 b={"c":[1,2]} a="x" é=null`},
		{name: "empty object", in: `{}`, want: ``},
		{name: "stops early", in: `{"a":1,"b":2,"c":}`, stop: "b", want: `a=1 b=2`},
		{name: "not an object", in: `[1]`, wantErr: "JSON value is not an object"},
		{name: "malformed", in: `{"a":1,}`, want: `a=1`, wantErr: "invalid character '}' looking for beginning of object key string at offset 7"},
		{name: "trailing data", in: `{"a":1}x`, want: `a=1`, wantErr: "invalid character 'x' after top-level value at offset 7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			err := ObjectMembers([]byte(tt.in), func(k string, v json.RawMessage) bool {
				got = append(got, k+"="+string(v))
				return k != tt.stop
			})
			if errStr(err) != tt.wantErr {
				t.Errorf("error %v, want %q", err, tt.wantErr)
			}
			if s := strings.Join(got, " "); s != tt.want {
				t.Errorf("members %q, want %q", s, tt.want)
			}
		})
	}
}

func errStr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestLookup(t *testing.T) {
	doc := json.RawMessage(` {"a": {"b": [10, {"c": "x"}], "d\u0065": 2, "b2": 1, "b2": 3}, "n": 9007199254740993} `)
	tests := []struct {
		path []string
		want string
		ok   bool
	}{
		{nil, `{"a": {"b": [10, {"c": "x"}], "d\u0065": 2, "b2": 1, "b2": 3}, "n": 9007199254740993}`, true},
		{[]string{"n"}, `9007199254740993`, true},
		{[]string{"a", "b", "0"}, `10`, true},
		{[]string{"a", "b", "1", "c"}, `"x"`, true},
		{[]string{"a", "de"}, `2`, true},
		{[]string{"a", "b2"}, `3`, true},
		{[]string{"a", "b", "2"}, ``, false},
		{[]string{"a", "b", "-1"}, ``, false},
		{[]string{"a", "b", "x"}, ``, false},
		{[]string{"missing"}, ``, false},
		{[]string{"n", "x"}, ``, false},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.path, "."), func(t *testing.T) {
			got, ok := Lookup(doc, tt.path...)
			if ok != tt.ok || string(got) != tt.want {
				t.Errorf("Lookup = %s, %v; want %s, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
	if _, ok := Lookup(json.RawMessage(`{"a":1,}`), "a"); ok {
		t.Error("Lookup in malformed JSON succeeds")
	}
}

func TestUnquote(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{`"plain"`, "plain", true},
		{`""`, "", true},
		{`"é"`, "é", true},
		{`"a\"b\\c\/d\b\f\n\r\t"`, "a\"b\\c/d\b\f\n\r\t", true},
		{`"\u00e9\u20AC"`, "é€", true},
		{`"\ud83d\ude00"`, "😀", true},
		{`"\ud83d"`, "\ufffd", true},
		{`"\ud83dx"`, "\ufffdx", true},
		{`"\ude00\ud83d"`, "\ufffd\ufffd", true},
		{"\"\xff\"", "\ufffd", true},
		{`"a`, "", false},
		{`"a" `, "", false},
		{`"a"b"`, "", false},
		{`"\q"`, "", false},
		{"\"a\nb\"", "", false},
		{`1`, "", false},
		{``, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := Unquote(json.RawMessage(tt.in))
			if got != tt.want || ok != tt.ok {
				t.Errorf("Unquote = %q, %v; want %q, %v", got, ok, tt.want, tt.ok)
			}
			if tt.ok {
				var std string
				if err := json.Unmarshal([]byte(tt.in), &std); err != nil || std != got {
					t.Errorf("encoding/json gives %q (%v)", std, err)
				}
			}
		})
	}
}

// TestScanStringEveryByte puts every byte value at every offset of strings
// long enough for the word-at-a-time scan and checks scanString against
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
						end, _, err := scanString(data, 0)
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
