package jsontext

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzAgainstEncodingJSON checks the toolkit against encoding/json on any
// text:
//   - Valid accepts exactly what json.Valid accepts, except nesting deeper
//     than MaxDepth, which it refuses.
//   - Unquote of a string literal gives what json.Unmarshal gives, and
//     refuses what json.Unmarshal refuses.
//   - ObjectMembers of a valid object in valid UTF-8 gives the keys and
//     values of json.Unmarshal (the last of duplicate keys wins), and it
//     fails exactly on invalid text.
//   - AppendString of the text as a string writes what an encoding/json
//     Encoder writes with SetEscapeHTML(false); AppendValidString writes
//     the same, or refuses exactly invalid UTF-8.
//   - IsNumber accepts exactly the texts that are one JSON number.
func FuzzAgainstEncodingJSON(f *testing.F) {
	for _, seed := range []string{
		`{}`, ` {"a": 1, "b" :{"c":[1,2]}, "a":"x", "\u00e9":null} `, `[1,[2,{"x":"y"}]]`, `"\ud83d\ude00"`,
		`"\ud83d"`, `"a\"b\\c\/d\b\f\n\r\t"`, "\"\xff\"", `-0.5e+10`, `01`, `1.`, `{"a":1,}`, `{"a" 1}`,
		"\"a\u2028b<&>\"", `"\u0000\u001f"`, `{"k\u0065y":true}`, strings.Repeat("[", 1001),
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		valid := Valid(data) == nil
		deep := bytes.Count(data, []byte("["))+bytes.Count(data, []byte("{")) > MaxDepth
		if std := json.Valid(data); valid != std && !(deep && std && !valid) {
			t.Fatalf("%q: Valid %v, json.Valid %v", data, valid, std)
		}

		// Unquote, on the text without white space before it.
		if lit := bytes.TrimLeft(data, " \t\r\n"); len(lit) > 0 && lit[0] == '"' {
			got, ok := Unquote(lit)
			var want string
			err := json.Unmarshal(lit, &want)
			switch {
			case ok != (err == nil && !IsSpace(lit[len(lit)-1])):
				t.Fatalf("%q: Unquote ok %v, json.Unmarshal %v", lit, ok, err)
			case ok && got != want:
				t.Fatalf("%q: Unquote %q, json.Unmarshal %q", lit, got, want)
			}
		}

		// ObjectMembers.
		got := map[string]json.RawMessage{}
		err := ObjectMembers(data, func(k string, v json.RawMessage) bool {
			got[k] = v
			return true
		})
		if valid != (err == nil || err == ErrNotObject) {
			t.Fatalf("%q: ObjectMembers error %v, Valid %v", data, err, valid)
		}
		if err == nil && utf8.Valid(data) {
			var want map[string]json.RawMessage
			if uerr := json.Unmarshal(data, &want); uerr != nil {
				t.Fatalf("%q: json.Unmarshal %v", data, uerr)
			}
			if len(got) != len(want) {
				t.Fatalf("%q: members %v, want %v", data, got, want)
			}
			for k, w := range want {
				if !bytes.Equal(got[k], w) {
					t.Fatalf("%q: %q = %s, want %s", data, k, got[k], w)
				}
			}
		}

		// The text as a string value.
		s := string(data)
		want := encodingJSON(t, s)
		if out := AppendString(nil, s); !bytes.Equal(out, want) {
			t.Fatalf("%q: AppendString %s, encoding/json %s", s, out, want)
		}
		out, ok := AppendValidString(nil, s)
		if ok != utf8.ValidString(s) || ok && !bytes.Equal(out, want) || !ok && len(out) != 0 {
			t.Fatalf("%q: AppendValidString %s, %v", s, out, ok)
		}

		// The text as a number.
		if isNum := IsNumber(s); isNum != (json.Valid(data) && len(data) > 0 && (data[0] == '-' || data[0] >= '0' && data[0] <= '9') && !strings.ContainsAny(s, " \t\r\n")) {
			t.Fatalf("%q: IsNumber %v", s, isNum)
		}
	})
}

// FuzzWalkMembers checks the walk of valid JSON objects against
// encoding/json: the same keys (last one wins) with the same raw values,
// and whether the text has white space outside strings. On any other
// text, the walk must not panic.
func FuzzWalkMembers(f *testing.F) {
	for _, seed := range []string{
		`{}`, ` { "a" : 1 , "b":[1, {"c":"}"}], "d":"x\"y" } `, `{"k\u0065y":true,"n":null,"s":"\\"}`,
		`{"a":{"b":{"c":[[],{}]}},"a":2}`, `[1,2]`, `"str"`, `{"x":-1.5e3,"y":"é"}`,
		`{"s":"a\\\"b\\","t":"\\\\"}`, `{"\"":"\\\"\\"}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !json.Valid([]byte(s)) {
			WalkMembers([]byte(s), func(string, []byte) {})
			WalkElements([]byte(s), func([]byte) {})
			return
		}
		var want map[string]json.RawMessage
		wantErr := json.Unmarshal([]byte(s), &want)
		got := map[string]json.RawMessage{}
		spaced, ok := WalkMembers([]byte(s), func(key string, value []byte) { got[key] = value })
		if (wantErr == nil && want != nil) != ok {
			t.Fatalf("%q: walk says object %t, encoding/json says %v", s, ok, wantErr)
		}
		if !ok {
			return
		}
		var compact bytes.Buffer
		json.Compact(&compact, []byte(s))
		if wantSpaced := compact.Len() != len(s); spaced != wantSpaced {
			t.Fatalf("%q: spaced %v, want %v", s, spaced, wantSpaced)
		}
		if len(got) != len(want) {
			t.Fatalf("%q: keys %v, want %v", s, got, want)
		}
		for k, w := range want {
			var a, b any
			json.Unmarshal(w, &a)
			json.Unmarshal(got[k], &b)
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("%q: %s = %s, want %s", s, k, got[k], w)
			}
		}
	})
}

// FuzzWalkElements checks the walk of valid JSON arrays against
// encoding/json: the same elements, in order.
func FuzzWalkElements(f *testing.F) {
	for _, seed := range []string{`[]`, ` [1, "a]" , {"b":[2]} ,[]] `, `["\"]",[["]"]]]`, `{}`, `1`} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !json.Valid([]byte(s)) {
			return
		}
		var want []json.RawMessage
		wantErr := json.Unmarshal([]byte(s), &want)
		var got []json.RawMessage
		ok := WalkElements([]byte(s), func(v []byte) { got = append(got, v) })
		if (wantErr == nil && want != nil) != ok {
			t.Fatalf("%q: walk says array %t, encoding/json says %v", s, ok, wantErr)
		}
		if ok && !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Fatalf("%q: elements %q, want %q", s, got, want)
		}
	})
}
