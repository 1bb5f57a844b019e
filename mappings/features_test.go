package mappings

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/backfillhq/backfill/readers"
	"github.com/backfillhq/backfill/sink"
)

// TestNestedPathsWithSchema checks how Compile resolves a dotted column
// against a schema: the whole name when it is a column, else the longest
// leading part that is one.
func TestNestedPathsWithSchema(t *testing.T) {
	spec := "type: identify\nuserId: user.id\ntimestamp: ts\ntraits: {include: []}\n"
	tests := []struct {
		name   string
		schema []string
		values []any
		want   string // userId, or the Compile error
	}{
		{"literal column wins", []string{"user.id", "user", "ts"}, []any{"literal", `{"id":"nested"}`, "2024-01-01T00:00:00Z"}, "literal"},
		{"path into a JSON cell", []string{"user", "ts"}, []any{`{"id": "nested"}`, "2024-01-01T00:00:00Z"}, "nested"},
		{"path into a map", []string{"user", "ts"}, []any{map[string]any{"id": int64(7)}, "2024-01-01T00:00:00Z"}, "7"},
		{"path into raw JSON", []string{"user", "ts"}, []any{json.RawMessage(`{"id":12345678901234567890}`), "2024-01-01T00:00:00Z"}, "12345678901234567890"},
		{"path into a JSON string holding JSON", []string{"user", "ts"}, []any{json.RawMessage(`"{\"id\":\"s\"}"`), "2024-01-01T00:00:00Z"}, "s"},
		{"no such column", []string{"usr", "ts"}, nil, `events.yaml:2: userId: column (or path) "user.id" is not in the file (columns: usr, ts); did you mean "usr.id"?`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := mustSpec(t, spec).Compile(tt.schema, Options{})
			if tt.values == nil {
				if err == nil || err.Error() != tt.want {
					t.Fatalf("Compile error = %v, want %s", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			row := newRow(readers.Position{File: "f", Row: 1, Line: 2}, testSource, nil, tt.schema, tt.values)
			var msg sink.Message
			if err := mapInto(m, row, &msg); err != nil {
				t.Fatal(err)
			}
			if msg.UserID != tt.want {
				t.Errorf("userId = %q, want %q", msg.UserID, tt.want)
			}
		})
	}
}

func TestLookupPath(t *testing.T) {
	tests := []struct {
		name string
		v    any
		path []string
		want string // JSON text of the result, "" for none
	}{
		{"map in map", map[string]any{"a": map[string]any{"b": "x"}}, []string{"a", "b"}, `"x"`},
		{"list in map", map[string]any{"a": []any{int64(1), int64(2)}}, []string{"a", "1"}, `2`},
		{"list out of range", map[string]any{"a": []any{int64(1)}}, []string{"a", "1"}, ""},
		{"list bad index", []any{int64(1)}, []string{"x"}, ""},
		{"map into raw", map[string]any{"a": json.RawMessage(`{"b":[true]}`)}, []string{"a", "b", "0"}, `true`},
		{"raw last duplicate", json.RawMessage(`{"a":1,"a":2}`), []string{"a"}, `2`},
		{"raw missing", json.RawMessage(`{"a":1}`), []string{"b"}, ""},
		{"into a number", json.RawMessage(`5`), []string{"a"}, ""},
		{"into a plain string", "hello", []string{"a"}, ""},
		{"into CSV JSON text", ` {"a": {"b": 1.50}}`, []string{"a", "b"}, `1.50`},
		{"into nil", nil, []string{"a"}, ""},
		{"malformed JSON", json.RawMessage(`{"a":`), []string{"a"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := lookupPath(tt.v, tt.path)
			if got == nil {
				if tt.want != "" {
					t.Errorf("lookupPath = nil, want %s", tt.want)
				}
				return
			}
			if text := jsonText(t, got); text != tt.want {
				t.Errorf("lookupPath = %s, want %s", text, tt.want)
			}
		})
	}
}

// TestFromMap checks from over a Parquet-like map: members in key order,
// with the rules of the spec.
func TestFromMap(t *testing.T) {
	spec := "type: track\nuserId: p.uid\nevent: {value: E}\ntimestamp: ts\ncolumns:\n  p.n: int\nproperties:\n  from: p\n  rename: {p.b: bee}\n"
	schema := []string{"ts", "p"}
	m := mustCompile(t, spec, schema, Options{})
	row := newRow(readers.Position{File: "f.parquet", Row: 3}, testSource, nil, schema, []any{
		time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		map[string]any{"uid": "u1", "z": "last", "b": int64(2), "a": true, "n": "5", "gone": nil},
	})
	var msg sink.Message
	if err := mapInto(m, row, &msg); err != nil {
		t.Fatal(err)
	}
	if got, want := jsonText(t, msg.Properties), `{"a":true,"bee":2,"n":5,"z":"last"}`; got != want {
		t.Errorf("properties = %s, want %s", got, want)
	}
	if msg.UserID != "u1" || !msg.Timestamp.Equal(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("message = %+v", msg)
	}
}

// TestTimeWindow checks the run's time window and future tolerance, for a
// compiled spec and for Passthrough.
func TestTimeWindow(t *testing.T) {
	now := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	opts := Options{Since: now.Add(-2 * time.Hour), Until: now.Add(-time.Hour), Now: clock}
	specMapper := mustCompile(t, "type: track\nuserId: u\nevent: {value: E}\ntimestamp: ts\n", nil, opts)
	missingNow := mustCompile(t, "type: track\nuserId: u\nevent: {value: E}\ntimestamp: {column: ts, missing: now}\n", nil, opts)
	pass := Passthrough(opts)
	tests := []struct {
		name     string
		ts       string // RFC 3339, or "" for none
		filtered bool
		reason   string
	}{
		{"before", "2024-03-01T09:59:59.999Z", true, ""},
		{"since is in", "2024-03-01T10:00:00Z", false, ""},
		{"inside, another zone", "2024-03-01T11:30:00+01:00", false, ""},
		{"until is out", "2024-03-01T11:00:00Z", true, ""},
		{"unreadable is a reject, not filtered", "2024-03-01T10:30:00", false, sink.ReasonBadTimestamp},
	}
	for _, tt := range tests {
		for _, c := range []struct {
			kind string
			m    Mapper
			line string
		}{
			{"spec", specMapper, `{"u":"u1","ts":"` + tt.ts + `"}`},
			{"passthrough", pass, `{"type":"track","userId":"u1","event":"E","timestamp":"` + tt.ts + `"}`},
		} {
			t.Run(c.kind+" "+tt.name, func(t *testing.T) {
				err := mapInto(c.m, ndjsonRow(t, 1, c.line), &sink.Message{})
				switch {
				case tt.filtered:
					if !errors.Is(err, ErrFiltered) || reasonOf(err) != "" {
						t.Errorf("error = %v, want ErrFiltered", err)
					}
				case tt.reason != "":
					if errors.Is(err, ErrFiltered) || reasonOf(err) != tt.reason {
						t.Errorf("error = %v, want reason %s", err, tt.reason)
					}
				case err != nil:
					t.Errorf("Map: %v", err)
				}
			})
		}
	}
	t.Run("missing: now is filtered by the window too", func(t *testing.T) {
		if err := mapInto(missingNow, ndjsonRow(t, 1, `{"u":"u1"}`), &sink.Message{}); !errors.Is(err, ErrFiltered) {
			t.Errorf("error = %v, want ErrFiltered", err)
		}
	})
	t.Run("a filtered row that is also invalid is filtered", func(t *testing.T) {
		if err := mapInto(pass, ndjsonRow(t, 1, `{"type":"nope","timestamp":"2020-01-01T00:00:00Z","properties":5}`), &sink.Message{}); !errors.Is(err, ErrFiltered) {
			t.Errorf("error = %v, want ErrFiltered", err)
		}
	})
}

func TestFutureTolerance(t *testing.T) {
	now := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	tests := []struct {
		tolerance time.Duration
		ts        time.Time
		future    bool
	}{
		{0, now.Add(24 * time.Hour), false},
		{0, now.Add(24*time.Hour + time.Millisecond), true},
		{time.Minute, now.Add(time.Minute), false},
		{time.Minute, now.Add(time.Minute + time.Nanosecond), true},
		{-1, now.Add(1000 * 24 * time.Hour), false},
	}
	for _, tt := range tests {
		opts := Options{Now: clock, FutureTolerance: tt.tolerance}
		for _, m := range []Mapper{
			mustCompile(t, "type: identify\nuserId: u\ntimestamp: ts\n", []string{"u", "ts"}, opts),
			Passthrough(opts),
		} {
			ts := tt.ts.Format(time.RFC3339Nano)
			row := csvRow(2, []string{"u", "ts"}, "u1", ts)
			if _, ok := m.(*passthrough); ok {
				row = ndjsonRow(t, 2, `{"type":"identify","userId":"u1","timestamp":"`+ts+`"}`)
			}
			err := mapInto(m, row, &sink.Message{})
			if tt.future {
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Reason != ReasonFutureTimestamp || !strings.Contains(err.Error(), "after the current time 2024-03-01T12:00:00Z") {
					t.Errorf("%T tolerance %v, %s: error = %v, want future_timestamp", m, tt.tolerance, ts, err)
				}
			} else if err != nil {
				t.Errorf("%T tolerance %v, %s: %v", m, tt.tolerance, ts, err)
			}
		}
	}
}

// TestDottedKeysMerge checks nesting built from several sources, and that
// absent members leave no empty parent behind.
func TestDottedKeysMerge(t *testing.T) {
	spec := `
type: track
userId: u
event: {value: E}
timestamp: ts
context:
  include: [ip]
  rename: {ip: network.ip}
properties:
  rename: {a: x.y.z, b: x.y.w, c: x.v}
  values: {x.k: 1}
  exclude: [x]
`
	schema := []string{"u", "ts", "ip", "a", "b", "c", "x"}
	m := mustCompile(t, spec, schema, Options{})
	var msg sink.Message
	if err := mapInto(m, csvRow(2, schema, "u1", "2024-01-01T00:00:00Z", "1.2.3.4", "A", "B", "C", "dropped"), &msg); err != nil {
		t.Fatal(err)
	}
	if got, want := jsonText(t, msg.Properties), `{"x":{"y":{"z":"A","w":"B"},"v":"C","k":1}}`; got != want {
		t.Errorf("properties = %s, want %s", got, want)
	}
	if got, want := contextText(t, msg.Context), `{"network":{"ip":"1.2.3.4"}}`; got != want {
		t.Errorf("context = %s, want %s", got, want)
	}
	row := newRow(readers.Position{Row: 2}, testSource, nil, schema, []any{"u1", "2024-01-01T00:00:00Z", nil, nil, nil, nil, nil})
	if err := mapInto(m, row, &msg); err != nil {
		t.Fatal(err)
	}
	if got, want := jsonText(t, msg.Properties), `{"x":{"k":1}}`; got != want {
		t.Errorf("properties of absent values = %s, want %s", got, want)
	}
	if msg.Context != nil {
		t.Errorf("context of absent values = %s, want none", jsonText(t, msg.Context))
	}
}

func TestBlank(t *testing.T) {
	for v, want := range map[string]bool{
		`""`: true, `"  "`: true, `" \t"`: true, `"\u0020"`: true, ` "" `: true,
		`"x"`: false, `"\u0041"`: false, `0`: false, `null`: false, `{}`: false, `"`: false,
	} {
		if got := blank(json.RawMessage(v)); got != want {
			t.Errorf("blank(%s) = %v, want %v", v, got, want)
		}
	}
	for v, want := range map[string]bool{"": true, " \t ": true, "x": false} {
		if got := blank(v); got != want {
			t.Errorf("blank(%q) = %v, want %v", v, got, want)
		}
	}
	if blank(int64(0)) || blank(nil) {
		t.Errorf("blank of a number or nil")
	}
}
