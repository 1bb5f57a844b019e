package jsontext

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// hasMemberWant is what HasMember must say: whether encoding/json finds
// the key at the top level of a valid object.
func hasMemberWant(raw []byte, key string) (bool, bool) {
	if !json.Valid(raw) || !utf8.Valid(raw) {
		return false, false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return false, false // not an object
	}
	_, ok := m[key]
	return ok, true
}

func TestHasMember(t *testing.T) {
	for _, tt := range []struct {
		raw  string
		want bool
	}{
		{`{}`, false},
		{` { } `, false},
		{`{"library":{}}`, true},
		{`{"ip":"1.2.3.4","library":{"name":"x"}}`, true},
		{`{"ip":"1.2.3.4" , "page":{"library":1},"x":["library"]}`, false},
		{`{"a":"\"library\"","b":"\\","library":null}`, true},
		{`{"librar\u0079":1}`, true},
		{`{"a":{"b":[1,{"c":"}"}]},"library":true}`, true},
		{`{"a":-1.5e3,"b":true,"c":null,"d":[]}`, false},
		{`{"library" : 1}`, true},
		{`{"x":1}{"library":1}`, false},
		{`["library"]`, false},
		{`{"a":`, false},
		{`{"a":"b`, false},
		{`{"a" 1,"library":1}`, false},
	} {
		t.Run(tt.raw, func(t *testing.T) {
			if got := HasMember([]byte(tt.raw), "library"); got != tt.want {
				t.Errorf("HasMember(%s) = %v, want %v", tt.raw, got, tt.want)
			}
			if want, ok := hasMemberWant([]byte(tt.raw), "library"); ok && want != tt.want {
				t.Errorf("encoding/json says %v", want)
			}
		})
	}
}

func FuzzHasMember(f *testing.F) {
	for _, s := range []string{`{}`, `{"library":1}`, `{"a":{"library":1}}`, `{"a":"\\\"","library":[]}`, `{"librar\u0079":1}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got := HasMember([]byte(raw), "library")
		if want, ok := hasMemberWant([]byte(raw), "library"); ok && got != want {
			t.Fatalf("HasMember(%s) = %v, want %v", raw, got, want)
		}
	})
}
