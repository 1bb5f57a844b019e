package jsontext

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

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
	if err := ObjectMembers([]byte(`"x"`), func(string, json.RawMessage) bool { return true }); !errors.Is(err, ErrNotObject) {
		t.Errorf("a string: error %v, want ErrNotObject", err)
	}
}

func errStr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestObjectIterHint checks that a hint is taken only when the key is
// exactly the hint, and that the member comes back the same either way.
func TestObjectIterHint(t *testing.T) {
	in := []byte(`{"ab":1,"a":2,"abc":3,"a\u0062":4,"ab" :5}`)
	hints := []string{"ab", "ab", "ab", "ab", "ab"}
	wantMatched := []bool{true, false, false, false, true}
	wantKeys := []string{"ab", "a", "abc", `a\u0062`, "ab"}
	var it ObjectIter
	if err := it.Reset(in); err != nil {
		t.Fatal(err)
	}
	for k, hint := range hints {
		key, escaped, matched, value, ok, err := it.NextHint(hint)
		if err != nil || !ok {
			t.Fatalf("member %d: ok %v, err %v", k, ok, err)
		}
		if matched != wantMatched[k] || string(key) != wantKeys[k] || escaped != (k == 3) {
			t.Errorf("member %d: key %s escaped %v matched %v; want %s, %v, %v", k, key, escaped, matched, wantKeys[k], k == 3, wantMatched[k])
		}
		if string(value) != string(rune('1'+k)) {
			t.Errorf("member %d: value %s", k, value)
		}
	}
	if _, _, _, _, ok, err := it.NextHint("x"); ok || err != nil {
		t.Errorf("after the last member: ok %v, err %v", ok, err)
	}
}

func TestArrayIter(t *testing.T) {
	var it ArrayIter
	if err := it.Reset([]byte(` [1, "a" , {"b":[2]} ,[]]`)); err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		v, ok, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		got = append(got, string(v))
	}
	if s := strings.Join(got, "|"); s != `1|"a"|{"b":[2]}|[]` {
		t.Errorf("elements %s", s)
	}
	if err := it.Reset([]byte(`{}`)); err == nil {
		t.Error("Reset accepts an object")
	}
	it.Reset([]byte(`[1,]`))
	it.Next()
	if _, _, err := it.Next(); err == nil {
		t.Error("a trailing comma is accepted")
	}
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
	if _, ok := Lookup(json.RawMessage(`  `)); ok {
		t.Error("Lookup of white space succeeds")
	}
}

// TestIteratorsDoNotAllocate guards the property the readers rely on:
// walking a row's object costs no allocation.
func TestIteratorsDoNotAllocate(t *testing.T) {
	obj := []byte(`{"userId":"u-1","event":"Order Completed","properties":{"total":12.5,"items":[1,2,3]},"n":null}`)
	allocs := testing.AllocsPerRun(100, func() {
		var it ObjectIter
		if err := it.Reset(obj); err != nil {
			t.Fatal(err)
		}
		for {
			_, _, v, ok, err := it.Next()
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				break
			}
			if v[0] == '{' {
				if _, ok := Lookup(v, "items", "2"); !ok {
					t.Fatal("items.2 not found")
				}
			}
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per walk, want 0", allocs)
	}
}
