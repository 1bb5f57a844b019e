package sink

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var encodeTime = time.Date(2024, 3, 1, 12, 0, 0, 123_456_789, time.UTC)

// decodeNumbers decodes b with UseNumber, failing the test on invalid JSON.
func decodeNumbers(t testing.TB, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("invalid JSON %q: %v", b, err)
	}
	if dec.More() {
		t.Fatalf("trailing data after JSON value in %q", b)
	}
	return v
}

func TestAppendMessageGolden(t *testing.T) {
	lib := `"library":{"name":"backfill","version":"` + Version + `"}`
	tests := []struct {
		name string
		m    Message
		want string
	}{
		{
			name: "identify minimal",
			m:    Message{Type: TypeIdentify, UserID: "u1", Timestamp: encodeTime},
			want: `{"type":"identify","timestamp":"2024-03-01T12:00:00.123Z","userId":"u1","context":{` + lib + `}}`,
		},
		{
			name: "every field in order",
			m: Message{
				Type: TypePage, MessageID: "mid", Timestamp: encodeTime, UserID: "u", AnonymousID: "a",
				Event: "e", Name: "n", Category: "c", GroupID: "g", PreviousID: "p",
				Properties:   Fields{{"z", 1}, {"a", 2}},
				Traits:       map[string]any{"b": true, "a": nil},
				Context:      Fields{{"ip", "1.2.3.4"}},
				Integrations: map[string]any{"All": false},
				Extra:        Fields{{"channel", "server"}, {"version", 2}},
			},
			want: `{"type":"page","messageId":"mid","timestamp":"2024-03-01T12:00:00.123Z","userId":"u","anonymousId":"a",` +
				`"event":"e","name":"n","category":"c","groupId":"g","previousId":"p",` +
				`"properties":{"z":1,"a":2},"traits":{"a":null,"b":true},"context":{"ip":"1.2.3.4",` + lib + `},` +
				`"integrations":{"All":false},"channel":"server","version":2}`,
		},
		{
			name: "timestamp in another zone is written in UTC, truncated to the millisecond",
			m: Message{Type: TypeTrack, AnonymousID: "a", Event: "x",
				Timestamp: time.Date(2024, 12, 31, 23, 59, 59, 999_999_999, time.FixedZone("X", -5*3600))},
			want: `{"type":"track","timestamp":"2025-01-01T04:59:59.999Z","anonymousId":"a","event":"x","context":{` + lib + `}}`,
		},
		{
			name: "whole second has .000",
			m:    Message{Type: TypeTrack, UserID: "u", Event: "x", Timestamp: time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)},
			want: `{"type":"track","timestamp":"2020-01-02T03:04:05.000Z","userId":"u","event":"x","context":{` + lib + `}}`,
		},
		{
			name: "context map without library is sorted and gets it",
			m:    Message{Type: TypeIdentify, UserID: "u", Timestamp: encodeTime, Context: map[string]any{"z": 1, "a": 2}},
			want: `{"type":"identify","timestamp":"2024-03-01T12:00:00.123Z","userId":"u","context":{"a":2,"z":1,` + lib + `}}`,
		},
		{
			name: "context map with library is kept",
			m: Message{Type: TypeIdentify, UserID: "u", Timestamp: encodeTime,
				Context: map[string]any{"library": map[string]any{"name": "legacy"}}},
			want: `{"type":"identify","timestamp":"2024-03-01T12:00:00.123Z","userId":"u","context":{"library":{"name":"legacy"}}}`,
		},
		{
			name: "context fields with library are kept",
			m: Message{Type: TypeIdentify, UserID: "u", Timestamp: encodeTime,
				Context: Fields{{"library", "old"}, {"ip", "x"}}},
			want: `{"type":"identify","timestamp":"2024-03-01T12:00:00.123Z","userId":"u","context":{"library":"old","ip":"x"}}`,
		},
		{
			name: "empty context fields get library",
			m:    Message{Type: TypeIdentify, UserID: "u", Timestamp: encodeTime, Context: Fields{}},
			want: `{"type":"identify","timestamp":"2024-03-01T12:00:00.123Z","userId":"u","context":{` + lib + `}}`,
		},
		{
			name: "context map[string]string gets library",
			m:    Message{Type: TypeIdentify, UserID: "u", Timestamp: encodeTime, Context: map[string]string{"ip": "x"}},
			want: `{"type":"identify","timestamp":"2024-03-01T12:00:00.123Z","userId":"u","context":{"ip":"x",` + lib + `}}`,
		},
		{
			name: "raw context is copied as it is",
			m: Message{Type: TypeIdentify, UserID: "u", Timestamp: encodeTime,
				Context: json.RawMessage(` {"ip": "x"}`)},
			want: `{"type":"identify","timestamp":"2024-03-01T12:00:00.123Z","userId":"u","context": {"ip": "x"}}`,
		},
		{
			name: "raw properties spanning lines are compacted",
			m: Message{Type: TypeIdentify, UserID: "u", Timestamp: encodeTime,
				Traits: json.RawMessage("{\n  \"a\": [1, 2],\r\n  \"b\": \"x y\"\n}")},
			want: `{"type":"identify","timestamp":"2024-03-01T12:00:00.123Z","userId":"u","traits":{"a":[1,2],"b":"x y"},"context":{` + lib + `}}`,
		},
		{
			name: "unset objects are left out, empty ones are kept",
			m: Message{Type: TypeTrack, UserID: "u", Event: "e", Timestamp: encodeTime,
				Properties: map[string]any{}, Traits: map[string]any(nil), Integrations: json.RawMessage(nil)},
			want: `{"type":"track","timestamp":"2024-03-01T12:00:00.123Z","userId":"u","event":"e","properties":{},"context":{` + lib + `}}`,
		},
		{
			name: "strings are escaped",
			m:    Message{Type: TypeTrack, UserID: "a\"b\\c\n", Event: "<&>\u2028", Timestamp: encodeTime},
			want: `{"type":"track","timestamp":"2024-03-01T12:00:00.123Z","userId":"a\"b\\c\n","event":"<&>\u2028","context":{` + lib + `}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := validate(&tt.m); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			got, err := appendMessage([]byte("prefix"), &tt.m)
			if err != nil {
				t.Fatalf("AppendMessage: %v", err)
			}
			if !bytes.HasPrefix(got, []byte("prefix")) {
				t.Fatalf("AppendMessage lost the buffer's contents: %s", got)
			}
			got = got[len("prefix"):]
			if string(got) != tt.want {
				t.Errorf("AppendMessage\n got %s\nwant %s", got, tt.want)
			}
			if !json.Valid(got) {
				t.Errorf("output is not valid JSON: %s", got)
			}
			if bytes.ContainsAny(got, "\n\r") {
				t.Errorf("output spans lines: %q", got)
			}
		})
	}
}

func TestAppendMessageRoundTrip(t *testing.T) {
	m := Message{
		Type: TypeTrack, MessageID: "backfill-abc-1", Timestamp: encodeTime, UserID: "ü-1", AnonymousID: "anon",
		Event: "Order Completed",
		Properties: Fields{
			{"amount", 12.5}, {"count", int64(3)}, {"tags", []string{"a", "b"}},
			{"nested", map[string]any{"k": []any{1, "two", nil, false}}},
			{"when", time.Date(2023, 5, 6, 7, 8, 9, 10_000_000, time.UTC)},
			{"exact", json.Number("12345678901234567890")},
			{"raw", json.RawMessage(`{"x":[1,{"y":null}]}`)},
		},
		Context:      map[string]any{"ip": "10.0.0.1"},
		Integrations: map[string]string{"Amplitude": "true"},
		Extra:        Fields{{"channel", "server"}},
	}
	b, err := appendMessage(nil, &m)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	want := map[string]any{
		"type": "track", "messageId": "backfill-abc-1", "timestamp": "2024-03-01T12:00:00.123Z",
		"userId": "ü-1", "anonymousId": "anon", "event": "Order Completed",
		"properties": map[string]any{
			"amount": json.Number("12.5"), "count": json.Number("3"), "tags": []any{"a", "b"},
			"nested": map[string]any{"k": []any{json.Number("1"), "two", nil, false}},
			"when":   "2023-05-06T07:08:09.010Z",
			"exact":  json.Number("12345678901234567890"),
			"raw":    map[string]any{"x": []any{json.Number("1"), map[string]any{"y": nil}}},
		},
		"context": map[string]any{
			"ip":      "10.0.0.1",
			"library": map[string]any{"name": "backfill", "version": Version},
		},
		"integrations": map[string]any{"Amplitude": "true"},
		"channel":      "server",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip\n got %#v\nwant %#v", got, want)
	}
}

type encodePoint struct {
	X, Y int
}

func TestAppendValueMatchesEncodingJSON(t *testing.T) {
	type named string
	tests := []struct {
		name string
		v    any
		want any // what encoding/json would decode; nil: the decoding of json.Marshal(v)
	}{
		{name: "nil", v: nil},
		{name: "string", v: "hello"},
		{name: "empty string", v: ""},
		{name: "unicode", v: "héllo wörld ✓ 𝄞"},
		{name: "escapes", v: "q\" b\\ n\n r\r t\t b\b f\f nul\x00 us\x1f del\x7f"},
		{name: "line separators", v: "a\u2028b\u2029c"},
		{name: "html", v: "<a href='x'>&</a>"},
		{name: "true", v: true},
		{name: "false", v: false},
		{name: "int", v: int(-42)},
		{name: "int8", v: int8(math.MinInt8)},
		{name: "int16", v: int16(math.MaxInt16)},
		{name: "int32", v: int32(math.MinInt32)},
		{name: "int64", v: int64(math.MinInt64)},
		{name: "uint", v: uint(42)},
		{name: "uint8", v: uint8(255)},
		{name: "uint16", v: uint16(65535)},
		{name: "uint32", v: uint32(math.MaxUint32)},
		{name: "uint64", v: uint64(math.MaxUint64)},
		{name: "uintptr", v: uintptr(7)},
		{name: "float64", v: 3.14159},
		{name: "float32", v: float32(0.1)},
		{name: "json.Number", v: json.Number("-1.5e+10")},
		{name: "raw", v: json.RawMessage(`{"a":[1,2,{"b":"c"}]}`)},
		{name: "time", v: time.Date(2024, 1, 2, 3, 4, 5, 678_900_000, time.FixedZone("", 3600)), want: "2024-01-02T02:04:05.678Z"},
		{name: "fields", v: Fields{{"b", 1}, {"a", "x"}, {"c", Fields{{"d", nil}}}},
			want: map[string]any{"b": json.Number("1"), "a": "x", "c": map[string]any{"d": nil}}},
		{name: "nil fields", v: Fields(nil), want: map[string]any{}},
		{name: "map", v: map[string]any{"b": 1.5, "a": []any{"x", 2, nil}, "c": map[string]any{}}},
		{name: "nil map", v: map[string]any(nil)},
		{name: "array", v: []any{1, "a", true, nil, []any{}, map[string]any{"k": "v"}}},
		{name: "nil array", v: []any(nil)},
		{name: "strings", v: []string{"a", "", "c\n"}},
		{name: "nil strings", v: []string(nil)},
		{name: "string map", v: map[string]string{"z": "1", "a": "2"}},
		{name: "nil string map", v: map[string]string(nil)},
		{name: "fallback ints", v: []int{1, 2, 3}},
		{name: "fallback struct", v: encodePoint{1, 2}},
		{name: "fallback pointer", v: &encodePoint{3, 4}},
		{name: "fallback nil pointer", v: (*encodePoint)(nil)},
		{name: "fallback named string", v: named("x")},
		{name: "fallback float slice", v: []float64{1e21, 1e-7}},
		{name: "fallback int map", v: map[string]int{"a": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AppendValue(nil, tt.v)
			if err != nil {
				t.Fatalf("AppendValue: %v", err)
			}
			want := tt.want
			if want == nil {
				b, err := json.Marshal(tt.v)
				if err != nil {
					t.Fatal(err)
				}
				want = decodeNumbers(t, b)
			}
			if g := decodeNumbers(t, got); !reflect.DeepEqual(g, want) {
				t.Errorf("AppendValue(%#v) = %s, decodes to %#v, want %#v", tt.v, got, g, want)
			}
		})
	}
}

func TestAppendValueExactBytes(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"control characters", "\x00\x01\x1f", `"\u0000\u0001\u001f"`},
		{"short escapes", "\b\f\n\r\t", `"\b\f\n\r\t"`},
		{"quote and backslash", `"\`, `"\"\\"`},
		{"line separators", "\u2028\u2029", `"\u2028\u2029"`},
		{"html is left as it is", "<&>", `"<&>"`},
		{"invalid UTF-8 byte", "a\xffb", `"a\ufffdb"`},
		{"each invalid byte is replaced", "\xc3\x28\xe2\x82", `"\ufffd(\ufffd\ufffd"`},
		{"truncated rune at the end", "ok\xe2\x82", `"ok\ufffd\ufffd"`},
		{"surrogate half", "\xed\xa0\x80", `"\ufffd\ufffd\ufffd"`},
		{"valid multibyte", "日本", `"日本"`},
		{"map keys sorted", map[string]any{"b": 1, "a": 2, "c": 3}, `{"a":2,"b":1,"c":3}`},
		{"map keys escaped", map[string]any{"\n": 1}, `{"\n":1}`},
		{"many map keys sorted", func() map[string]any {
			m := map[string]any{}
			for _, k := range strings.Split("q w e r t y u i o p a s d f g h j k l z", " ") {
				m[k] = 0
			}
			return m
		}(), `{"a":0,"d":0,"e":0,"f":0,"g":0,"h":0,"i":0,"j":0,"k":0,"l":0,"o":0,"p":0,"q":0,"r":0,"s":0,"t":0,"u":0,"w":0,"y":0,"z":0}`},
		{"fields keep order", Fields{{"b", 1}, {"a", 2}}, `{"b":1,"a":2}`},
		{"empty number is zero", json.Number(""), `0`},
		{"raw verbatim", json.RawMessage(` [1, 2] `), ` [1, 2] `},
		{"nil raw", json.RawMessage(nil), `null`},
		{"time", time.Date(2001, 2, 3, 4, 5, 6, 7_000_000, time.UTC), `"2001-02-03T04:05:06.007Z"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AppendValue(nil, tt.v)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("AppendValue(%#v) = %s, want %s", tt.v, got, tt.want)
			}
		})
	}
}

func TestAppendValueFloatsLikeEncodingJSON(t *testing.T) {
	f64 := []float64{
		0, math.Copysign(0, -1), 1, -1, 0.1, 1.5, 100, 1e6, 1e20, 1e21, 1.2345e21, 1e-6, 9.99e-7, 1e-7, 1.5e-9,
		123456789.123456789, math.MaxFloat64, -math.MaxFloat64, math.SmallestNonzeroFloat64, 1e100, 1e-100,
		float64(1 << 53), 0.30000000000000004,
	}
	for _, f := range f64 {
		want, _ := json.Marshal(f)
		got, err := AppendValue(nil, f)
		if err != nil {
			t.Fatalf("AppendValue(%v): %v", f, err)
		}
		if string(got) != string(want) {
			t.Errorf("AppendValue(float64 %v) = %s, want %s", f, got, want)
		}
	}
	f32 := []float32{0, 0.1, 1.5, 1e20, 1e21, 1e-6, 1e-7, 3.4028235e38, 1.4e-45, 16777216}
	for _, f := range f32 {
		want, _ := json.Marshal(f)
		got, err := AppendValue(nil, f)
		if err != nil {
			t.Fatalf("AppendValue(%v): %v", f, err)
		}
		if string(got) != string(want) {
			t.Errorf("AppendValue(float32 %v) = %s, want %s", f, got, want)
		}
	}
}

func TestAppendValueRejects(t *testing.T) {
	tests := []struct {
		name      string
		v         any
		wantError string
	}{
		{"NaN", math.NaN(), "NaN is not valid JSON"},
		{"+Inf", math.Inf(1), "+Inf is not valid JSON"},
		{"-Inf", math.Inf(-1), "-Inf is not valid JSON"},
		{"float32 NaN", float32(math.NaN()), "NaN is not valid JSON"},
		{"NaN in a map", map[string]any{"a": 1, "amount": math.NaN()}, "amount: NaN is not valid JSON"},
		{"NaN in fields", Fields{{"x", Fields{{"y", math.Inf(1)}}}}, "x.y: +Inf is not valid JSON"},
		{"NaN in an array", []any{1, []any{2, math.NaN()}}, "[1][1]: NaN is not valid JSON"},
		{"NaN in an object in an array", Fields{{"items", []any{map[string]any{"price": math.NaN()}}}}, "items[0].price: NaN is not valid JSON"},
		{"bad number", json.Number("12abc"), `"12abc" is not a JSON number`},
		{"number with plus", json.Number("+1"), `"+1" is not a JSON number`},
		{"number with leading zero", json.Number("01"), `"01" is not a JSON number`},
		{"number without digits after the dot", json.Number("1."), `"1." is not a JSON number`},
		{"number without exponent digits", json.Number("1e+"), `"1e+" is not a JSON number`},
		{"NaN number", json.Number("NaN"), `"NaN" is not a JSON number`},
		{"fallback NaN", []float64{math.NaN()}, "json: unsupported value: NaN"},
		{"fallback unsupported type", make(chan int), "json: unsupported type: chan int"},
		{"bad raw spanning lines", json.RawMessage("{\n"), "invalid JSON: unexpected end of JSON input"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := AppendValue(nil, tt.v)
			if err == nil {
				t.Fatal("no error")
			}
			if err.Error() != tt.wantError {
				t.Errorf("error %q, want %q", err, tt.wantError)
			}
			var rr interface{ RejectReason() string }
			if !errors.As(err, &rr) || rr.RejectReason() != "invalid_value" {
				t.Errorf("error %v has no RejectReason invalid_value", err)
			}
		})
	}
}

func TestJSONNumbers(t *testing.T) {
	for _, s := range []string{"0", "-0", "1", "-1", "10", "1.5", "0.5", "-0.0", "1e5", "1E5", "1e+5", "1e-5", "1.25e-10", "123456789012345678901234567890"} {
		got, err := AppendValue(nil, json.Number(s))
		if err != nil {
			t.Errorf("json.Number(%q): %v", s, err)
			continue
		}
		if string(got) != s {
			t.Errorf("json.Number(%q) written as %s", s, got)
		}
		if !json.Valid(got) {
			t.Errorf("json.Number(%q) is not valid JSON", s)
		}
	}
	for _, s := range []string{"-", ".5", "5.", "1e", "e5", "0x10", "1 ", " 1", "Infinity", "--1", "1.2.3", "00"} {
		if _, err := AppendValue(nil, json.Number(s)); err == nil {
			t.Errorf("json.Number(%q) accepted", s)
		}
		if json.Valid([]byte(s)) && strings.TrimSpace(s) == s {
			t.Errorf("test case %q is a valid JSON number", s)
		}
	}
}

func TestAppendMessageErrorNamesTheField(t *testing.T) {
	tests := []struct {
		name       string
		m          Message
		wantError  string
		wantReason string
	}{
		{
			name:       "NaN property",
			m:          Message{Type: TypeTrack, UserID: "u", Event: "e", Timestamp: encodeTime, Properties: map[string]any{"amount": math.NaN()}},
			wantError:  "properties.amount: NaN is not valid JSON",
			wantReason: "invalid_value",
		},
		{
			name:       "Inf deep in traits",
			m:          Message{Type: TypeIdentify, UserID: "u", Timestamp: encodeTime, Traits: Fields{{"a", []any{map[string]any{"b": math.Inf(-1)}}}}},
			wantError:  "traits.a[0].b: -Inf is not valid JSON",
			wantReason: "invalid_value",
		},
		{
			name:       "bad number in context",
			m:          Message{Type: TypeIdentify, UserID: "u", Timestamp: encodeTime, Context: Fields{{"n", json.Number("x")}}},
			wantError:  `context.n: "x" is not a JSON number`,
			wantReason: "invalid_value",
		},
		{
			name:       "NaN in integrations",
			m:          Message{Type: TypeIdentify, UserID: "u", Timestamp: encodeTime, Integrations: map[string]any{"x": math.NaN()}},
			wantError:  "integrations.x: NaN is not valid JSON",
			wantReason: "invalid_value",
		},
		{
			name:       "NaN extra",
			m:          Message{Type: TypeIdentify, UserID: "u", Timestamp: encodeTime, Extra: Fields{{"score", math.NaN()}}},
			wantError:  "score: NaN is not valid JSON",
			wantReason: "invalid_value",
		},
		{
			name:       "properties not an object",
			m:          Message{Type: TypeTrack, UserID: "u", Event: "e", Timestamp: encodeTime, Properties: []any{1}},
			wantError:  "properties: properties must be a JSON object, not an array",
			wantReason: "invalid_field",
		},
		{
			name:       "raw traits not an object",
			m:          Message{Type: TypeIdentify, UserID: "u", Timestamp: encodeTime, Traits: json.RawMessage(`[1]`)},
			wantError:  "traits: traits must be a JSON object",
			wantReason: "invalid_field",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf := []byte("keep")
			got, err := appendMessage(buf, &tt.m)
			if err == nil {
				t.Fatalf("no error; wrote %s", got)
			}
			if err.Error() != tt.wantError {
				t.Errorf("error %q, want %q", err, tt.wantError)
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.RejectReason() != tt.wantReason {
				t.Errorf("error %#v, want a *ValidationError with reason %s", err, tt.wantReason)
			}
			if string(got) != "keep" {
				t.Errorf("buffer after error is %q, want it as it was", got)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	valid := func(typ string) Message {
		return Message{Type: typ, UserID: "u", Event: "e", GroupID: "g", PreviousID: "p", Timestamp: encodeTime}
	}
	with := func(typ string, f func(*Message)) Message {
		m := valid(typ)
		f(&m)
		return m
	}
	tests := []struct {
		name       string
		m          Message
		wantField  string
		wantReason string // "" means valid
	}{
		{name: "identify", m: valid(TypeIdentify)},
		{name: "track", m: valid(TypeTrack)},
		{name: "page", m: valid(TypePage)},
		{name: "screen", m: valid(TypeScreen)},
		{name: "group", m: valid(TypeGroup)},
		{name: "alias", m: valid(TypeAlias)},
		{name: "anonymous only", m: with(TypePage, func(m *Message) { m.UserID, m.AnonymousID = "", "a" })},
		{name: "page without name", m: Message{Type: TypePage, UserID: "u", Timestamp: encodeTime}},
		{name: "messageId of 100 bytes", m: with(TypeTrack, func(m *Message) { m.MessageID = strings.Repeat("x", 100) })},
		{name: "year 9999", m: with(TypeTrack, func(m *Message) { m.Timestamp = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC) })},
		{name: "last instant of 9999", m: with(TypeTrack, func(m *Message) { m.Timestamp = time.Date(9999, 12, 31, 23, 59, 59, 999_999_999, time.UTC) })},
		{name: "first instant of year 0", m: with(TypeTrack, func(m *Message) { m.Timestamp = time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC) })},
		{name: "year 0 from a zone east of UTC", m: with(TypeTrack, func(m *Message) {
			m.Timestamp = time.Date(0, 1, 1, 0, 30, 0, 0, time.FixedZone("", 3600))
		}), wantField: "timestamp", wantReason: "bad_timestamp"},
		{name: "objects of every accepted kind", m: with(TypeIdentify, func(m *Message) {
			m.Properties = map[string]any{}
			m.Traits = Fields{}
			m.Context = json.RawMessage(" \n{}")
			m.Integrations = map[string]string{}
		})},
		{name: "empty raw object is unset", m: with(TypeIdentify, func(m *Message) { m.Traits = json.RawMessage{} })},
		{name: "unknown extra", m: with(TypeIdentify, func(m *Message) { m.Extra = Fields{{"channel", "server"}} })},

		{name: "empty type", m: with(TypeTrack, func(m *Message) { m.Type = "" }), wantField: "type", wantReason: "invalid_type"},
		{name: "unknown type", m: with(TypeTrack, func(m *Message) { m.Type = "Track" }), wantField: "type", wantReason: "invalid_type"},
		{name: "no ids", m: with(TypeIdentify, func(m *Message) { m.UserID = "" }), wantField: "userId", wantReason: "missing_id"},
		{name: "track no ids", m: with(TypeTrack, func(m *Message) { m.UserID = "" }), wantField: "userId", wantReason: "missing_id"},
		{name: "group no ids", m: with(TypeGroup, func(m *Message) { m.UserID = "" }), wantField: "userId", wantReason: "missing_id"},
		{name: "alias without userId", m: with(TypeAlias, func(m *Message) { m.UserID, m.AnonymousID = "", "a" }), wantField: "userId", wantReason: "missing_id"},
		{name: "alias without previousId", m: with(TypeAlias, func(m *Message) { m.PreviousID = "" }), wantField: "previousId", wantReason: "missing_id"},
		{name: "track without event", m: with(TypeTrack, func(m *Message) { m.Event = "" }), wantField: "event", wantReason: "missing_event"},
		{name: "group without groupId", m: with(TypeGroup, func(m *Message) { m.GroupID = "" }), wantField: "groupId", wantReason: "missing_id"},
		{name: "zero timestamp", m: with(TypeTrack, func(m *Message) { m.Timestamp = time.Time{} }), wantField: "timestamp", wantReason: "missing_timestamp"},
		{name: "year 10000", m: with(TypeTrack, func(m *Message) { m.Timestamp = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }), wantField: "timestamp", wantReason: "bad_timestamp"},
		{name: "messageId of 101 bytes", m: with(TypeTrack, func(m *Message) { m.MessageID = strings.Repeat("x", 101) }), wantField: "messageId", wantReason: "invalid_message_id"},
		{name: "properties string", m: with(TypeTrack, func(m *Message) { m.Properties = "x" }), wantField: "properties", wantReason: "invalid_field"},
		{name: "traits array", m: with(TypeIdentify, func(m *Message) { m.Traits = []any{} }), wantField: "traits", wantReason: "invalid_field"},
		{name: "context number", m: with(TypeIdentify, func(m *Message) { m.Context = 1 }), wantField: "context", wantReason: "invalid_field"},
		{name: "integrations struct", m: with(TypeIdentify, func(m *Message) { m.Integrations = encodePoint{} }), wantField: "integrations", wantReason: "invalid_field"},
		{name: "raw array", m: with(TypeIdentify, func(m *Message) { m.Properties = json.RawMessage(" [1]") }), wantField: "properties", wantReason: "invalid_field"},
		{name: "raw null", m: with(TypeIdentify, func(m *Message) { m.Context = json.RawMessage("null") }), wantField: "context", wantReason: "invalid_field"},
		{name: "raw blank", m: with(TypeIdentify, func(m *Message) { m.Context = json.RawMessage("  ") }), wantField: "context", wantReason: "invalid_field"},
		{name: "extra repeats a field", m: with(TypeIdentify, func(m *Message) { m.Extra = Fields{{"userId", "x"}} }), wantField: "extra.userId", wantReason: "invalid_field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := validate(&tt.m)
			if tt.wantReason == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				b, err := appendMessage(nil, &tt.m)
				if err != nil {
					t.Fatalf("AppendMessage of a valid message: %v", err)
				}
				if !json.Valid(b) {
					t.Fatalf("invalid JSON: %s", b)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Validate = %v, want a *ValidationError", err)
			}
			if ve.Field != tt.wantField || ve.Reason != tt.wantReason || ve.RejectReason() != tt.wantReason {
				t.Errorf("Validate = {%s %s}, want {%s %s}", ve.Field, ve.Reason, tt.wantField, tt.wantReason)
			}
			if ve.Detail == "" || !strings.HasPrefix(err.Error(), ve.Field+": ") {
				t.Errorf("error %q lacks a detail naming the field", err)
			}
		})
	}
}

func TestAppendMessageDoesNotAllocate(t *testing.T) {
	m := Message{
		Type: TypeTrack, MessageID: "id-1", Timestamp: encodeTime, UserID: "u", Event: "Order Completed",
		Properties: Fields{{"amount", 9.99}, {"sku", "A-1"}, {"n", int64(2)}, {"ok", true}},
		Traits:     map[string]any{"plan": "pro", "seats": 3},
	}
	w := NewMessageWriter(Limits{})
	w.Reset(make([]byte, 0, 4096))
	allocs := testing.AllocsPerRun(100, func() {
		w.Reset(w.Bytes())
		if _, err := w.WriteMessage(&m); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("WriteMessage allocates %v times per message", allocs)
	}
}

func BenchmarkAppendMessage(b *testing.B) {
	m := Message{
		Type: TypeTrack, MessageID: "backfill-0123456789abcdef-42", Timestamp: encodeTime, UserID: "user-42",
		Event: "Order Completed",
		Properties: Fields{
			{"order_id", "o-1234"}, {"total", 123.45}, {"currency", "EUR"}, {"items", int64(3)},
			{"coupon", "SPRING"}, {"first", true},
		},
		Context: map[string]any{"ip": "192.0.2.1"},
	}
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = appendMessage(buf[:0], &m); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}

func FuzzAppendValue(f *testing.F) {
	for _, s := range []string{"", "a", "\"\\", "\x00\x1f\x7f", "\u2028\u2029", "<>&", "\xff", "a\xc3", "\xed\xa0\x80", "日本語", "\t\n\r\b\f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := AppendValue(nil, s)
		if err != nil {
			t.Fatalf("AppendValue(%q): %v", s, err)
		}
		if !json.Valid(b) {
			t.Fatalf("AppendValue(%q) = %s: not valid JSON", s, b)
		}
		if !utf8.Valid(b) {
			t.Fatalf("AppendValue(%q) = %q: not valid UTF-8", s, b)
		}
		if bytes.ContainsAny(b, "\n\r") {
			t.Fatalf("AppendValue(%q) = %q spans lines", s, b)
		}
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("decode %s: %v", b, err)
		}
		if want := string([]rune(s)); got != want {
			t.Fatalf("AppendValue(%q) decodes to %q, want %q", s, got, want)
		}
		// encoding/json agrees, byte for byte, once it is told not to escape HTML.
		var std bytes.Buffer
		enc := json.NewEncoder(&std)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		if want := bytes.TrimSuffix(std.Bytes(), []byte("\n")); !bytes.Equal(b, want) {
			t.Fatalf("AppendValue(%q) = %s, encoding/json writes %s", s, b, want)
		}
	})
}

func TestAppendTimeMatchesAppendFormat(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	times := []time.Time{
		{},
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999_999_999, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2024, 2, 29, 23, 59, 59, 999_000_000, time.FixedZone("E", -11*3600)),
		time.Date(1969, 12, 31, 23, 59, 59, 1_000_000, time.UTC),
		time.Unix(0, 0),
	}
	for range 2000 {
		times = append(times, time.Unix(rng.Int64N(400*365*86400)-100*365*86400, rng.Int64N(1e9)).In(time.FixedZone("", rng.IntN(49)*1800-12*3600)))
	}
	// Any instant of the years RFC 3339 can write, and the days around
	// the ends of months and of leap and century years.
	for range 20000 {
		times = append(times, time.Unix(minRFC3339Unix+rng.Int64N(endRFC3339Unix-minRFC3339Unix), rng.Int64N(1e9)))
	}
	for _, y := range []int{0, 1, 4, 100, 400, 1600, 1700, 1900, 2000, 2100, 2400, 9600, 9999} {
		for _, d := range []time.Time{time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(y, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(y+1, 1, 1, 0, 0, 0, 0, time.UTC)} {
			times = append(times, d.Add(-time.Millisecond), d, d.Add(-24*time.Hour), d.Add(24*time.Hour))
		}
	}
	for _, tm := range times {
		want := tm.UTC().AppendFormat(nil, TimeLayout)
		if got := appendTime(nil, tm); string(got) != string(want) {
			t.Errorf("appendTime(%v) = %s, want %s", tm, got, want)
		}
	}
}

// TestAppendStringEveryPosition puts each kind of byte that needs care at
// every position of plain strings of 1 to 24 bytes, so that both the
// eight-byte skip and the byte loop meet it, and compares with
// encoding/json (told not to escape HTML).
func TestAppendStringEveryPosition(t *testing.T) {
	specials := []string{"\"", "\\", "\n", "\x00", "\x1f", "\x7f", " ", "é", "\u2028", "\u2029", "\xff", "\xe2\x80", "日", "<", "~"}
	for n := 1; n <= 24; n++ {
		for _, sp := range specials {
			for pos := 0; pos < n; pos++ {
				s := strings.Repeat("a", pos) + sp + strings.Repeat("b", n-pos-1)
				var std bytes.Buffer
				enc := json.NewEncoder(&std)
				enc.SetEscapeHTML(false)
				if err := enc.Encode(s); err != nil {
					t.Fatal(err)
				}
				want := bytes.TrimSuffix(std.Bytes(), []byte("\n"))
				if got := appendString(nil, s); !bytes.Equal(got, want) {
					t.Errorf("appendString(%q) = %s, want %s", s, got, want)
				}
			}
		}
	}
}

func TestAppendRaw(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`"a b"`, `"a b"`},
		{`-1.5e3`, `-1.5e3`},
		{`true`, `true`},
		{"{\"a\":\r\n [1,\n2]}", `{"a":[1,2]}`},
		{"\n\"x\"\n", `"x"`},
	} {
		got, err := appendRawText([]byte("x:"), json.RawMessage(tt.in))
		if err != nil || string(got) != "x:"+tt.want {
			t.Errorf("appendRawText(%q) = %q, %v; want %q", tt.in, got, err, "x:"+tt.want)
		}
	}
	if got, err := appendRawText(nil, nil); err != nil || string(got) != "null" {
		t.Errorf("appendRawText(nil) = %q, %v", got, err)
	}
}
