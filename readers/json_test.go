package readers

import (
	"encoding/json"
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
