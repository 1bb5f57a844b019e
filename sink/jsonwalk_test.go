package sink

import (
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzWalkMembers checks the walk of valid JSON objects against
// encoding/json: the same keys (last one wins) with the same raw values.
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
			return
		}
		var want map[string]json.RawMessage
		wantErr := json.Unmarshal([]byte(s), &want)
		got := map[string]json.RawMessage{}
		_, ok := walkMembers([]byte(s), func(key string, value []byte) { got[key] = value })
		if (wantErr == nil && want != nil) != ok {
			t.Fatalf("%q: walk says object %t, encoding/json says %v", s, ok, wantErr)
		}
		if !ok {
			return
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
