package mappings

import (
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/backfillhq/backfill/sink"
)

// TestExprCompileErrors checks that an expression that cannot work is
// refused when the mapping is parsed, naming the file, the line and the
// column, and that the clock and the random-order built-ins are not there.
func TestExprCompileErrors(t *testing.T) {
	head := "type: track\nevent: e\ntimestamp: ts\n"
	for _, tc := range []struct{ name, spec, want string }{
		{"syntax", head + "userId: {expr: 'lower(email'}\n",
			`m.yaml:4:27: userId: expression "lower(email": unexpected token EOF`},
		{"now", head + "userId: {expr: 'string(now())'}\n",
			`m.yaml:4:24: userId: expression "string(now())": unknown function now (the functions are lower, upper, trim, coalesce, sha256, xxhash, split, match, replaceRegex, object, parseTime, sortedKeys, and expr's built-ins but now, date, duration, timezone, keys, values and toPairs)`},
		{"date", head + "userId: u\ndrop:\n  old: 'date(ts) < date(\"2020-01-01\")'\n",
			`m.yaml:6:9: drop.old: expression "date(ts) < date(\"2020-01-01\")": unknown function date`},
		{"keys", head + "userId: {expr: 'join(keys(payload), \",\")'}\n",
			`m.yaml:4:22: userId: expression "join(keys(payload), \",\")": unknown function keys`},
		{"empty", head + "userId: {expr: ''}\n", `m.yaml:4: userId: the expression is empty`},
		{"column named as a function", head + "userId: u\ndrop:\n  ids: 'type == \"identify\"'\n",
			`m.yaml:6:9: drop.ids: expression "type == \"identify\"": type is a function; read a column named type as $env["type"]`},
		{"type with column", "type: {column: k, expr: 'k'}\nuserId: u\ntimestamp: ts\n",
			`m.yaml:1: type: column and expr: use one or the other`},
		{"drop not a mapping", head + "userId: u\ndrop: ['x']\n", `m.yaml:5: drop: want a mapping, not a list`},
		{"constant pattern", head + "userId: u\ndrop:\n  bots: 'match(agent, \"[a-\")'\n",
			`m.yaml:6:10: drop.bots: expression "match(agent, \"[a-\")": match: error parsing regexp: missing closing ]: ` + "`[a-`"},
		{"constant time format", head + "userId: {expr: 'string(parseTime(t, \"bogus\"))'}\n",
			`m.yaml:4:24: userId: expression "string(parseTime(t, \"bogus\"))": parseTime: unknown format "bogus"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSpec([]byte(tc.spec), "m.yaml")
			if err == nil {
				t.Fatal("no error")
			}
			if got := err.Error(); len(got) < len(tc.want) || got[:len(tc.want)] != tc.want {
				t.Fatalf("error\n  %s\nwant it to start with\n  %s", got, tc.want)
			}
		})
	}
}

// TestExprColumnsCheckedAgainstSchema checks that a column an expression
// reads is looked up in a CSV or Parquet header before any row is read.
func TestExprColumnsCheckedAgainstSchema(t *testing.T) {
	spec, err := ParseSpec([]byte("type: track\nevent: e\ntimestamp: ts\nuserId: {expr: 'lower(emial) ?? device'}\n"), "m.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, err = spec.Compile([]string{"e", "ts", "email", "device"}, Options{})
	want := `m.yaml:4: userId: column "emial" is not in the file (columns: e, ts, email, device)`
	if err == nil || len(err.Error()) < len(want) || err.Error()[:len(want)] != want {
		t.Fatalf("error %v, want it to start with %s", err, want)
	}
}

// TestExprColumnsRead checks which names of an expression are columns:
// not functions, not names that let declares, and $env["…"] for names
// that are not plain words.
func TestExprColumnsRead(t *testing.T) {
	spec, err := ParseSpec([]byte(`type: track
event: e
timestamp: ts
userId: {expr: 'let d = lower(trim(email)); d ?? coalesce(user.id, $env["device-id"])'}
`), "m.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got := spec.fields[fieldUserID].expr.names
	want := []string{"email", "user", "device-id"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("columns %q, want %q", got, want)
	}
}

// TestExprFunctions calls each function of the mapping with exact inputs.
func TestExprFunctions(t *testing.T) {
	for _, tc := range []struct {
		name string
		fn   func(...any) (any, error)
		args []any
		want any
	}{
		{"lower", exprFunctionByName("lower"), []any{"ÄB"}, "äb"},
		{"lower null", exprFunctionByName("lower"), []any{nil}, nil},
		{"trim number", exprFunctionByName("trim"), []any{12}, "12"},
		{"coalesce skips null and empty", fnCoalesce, []any{nil, "", " ", "b", "c"}, "b"},
		{"coalesce of nothing", fnCoalesce, []any{nil, ""}, nil},
		{"sha256", fnSHA256, []any{"a", 1}, "839e11a421d370be28db56fde67e9aadde2f31514becf2626b521ea3b9009ef4"},
		{"xxhash", fnXXHash, []any{"u1"}, "9dc02546854d5df1"},
		{"split", fnSplit, []any{"a|b", "|"}, []any{"a", "b"}},
		{"match", fnMatch, []any{"utm_source", "^utm_"}, true},
		{"match null", fnMatch, []any{nil, "^utm_"}, false},
		{"replaceRegex", fnReplaceRegex, []any{"a-b-c", "-(.)", "+$1"}, "a+b+c"},
		{"object", fnObject, []any{[]any{
			map[string]any{"key": "a", "value": map[string]any{"string_value": "x"}},
			map[string]any{"key": "b", "value": map[string]any{"string_value": nil, "int_value": 2}},
		}, "key", []any{"value.string_value", "value.int_value"}}, map[string]any{"a": "x", "b": 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.fn(tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

func exprFunctionByName(name string) func(...any) (any, error) {
	for _, f := range exprFunctions {
		if f.name == name {
			return f.fn
		}
	}
	return nil
}

// TestFilterErrorIsFiltered checks that a row a drop rule filters is
// ErrFiltered, and that FilterRule names the rule.
func TestFilterErrorIsFiltered(t *testing.T) {
	err := error(&FilterError{Rule: "merges"})
	if !errors.Is(err, ErrFiltered) || FilterRule(err) != "merges" || FilterRule(ErrFiltered) != "" {
		t.Fatalf("%v", err)
	}
}

// TestExprValues checks what an expression sees of each kind of value a
// reader gives: CSV text (empty is nil), JSON text (numbers as int where
// whole, objects and lists decoded), Parquet's Go values, and declared
// types.
func TestExprValues(t *testing.T) {
	ts := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		v    any
		typ  colType
		want any
	}{
		{"csv text", "u1", typeAsRead, "u1"},
		{"empty csv cell", "", typeAsRead, nil},
		{"json string", json.RawMessage(`"a\u00e9"`), typeAsRead, "aé"},
		{"json integer", json.RawMessage(`42`), typeAsRead, 42},
		{"json decimal", json.RawMessage(`4.5`), typeAsRead, 4.5},
		{"json null", json.RawMessage(`null`), typeAsRead, nil},
		{"json object", json.RawMessage(`{"a":[1,"x",null],"b":2.5}`), typeAsRead, map[string]any{"a": []any{1, "x", nil}, "b": 2.5}},
		{"parquet int64", int64(7), typeAsRead, 7},
		{"parquet time", ts, typeAsRead, ts},
		{"parquet map", map[string]any{"k": int64(1)}, typeAsRead, map[string]any{"k": 1}},
		{"declared int", "12", typeInt, 12},
		{"declared bool", "yes", typeBool, true},
		{"declared int blank", " ", typeInt, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := exprValue(tc.v, &colRef{name: "c", typ: tc.typ})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %#v, want %#v", got, tc.want)
			}
		})
	}
	if _, err := exprValue("x", &colRef{name: "c", typ: typeInt}); err == nil || err.Error() != "declared int: not an integer" {
		t.Fatalf("declared int of x: %v", err)
	}
}

// TestExprTypeDefault checks that a type expression that gives no value
// takes the type's default, and without one is an invalid_type reject.
func TestExprTypeDefault(t *testing.T) {
	schema := []string{"kind", "u", "ts"}
	spec := "type: {expr: 'kind == \"\" ? nil : kind', default: track}\nuserId: u\nevent: {value: Seen}\ntimestamp: ts\n"
	w := sink.NewMessageWriter(sink.Limits{})
	m := mustCompile(t, spec, schema, Options{})
	if err := m.Map(csvRow(2, schema, "", "u1", "2024-03-01T12:00:00Z"), w); err != nil {
		t.Fatal(err)
	}
	if got := string(w.Bytes()); !strings.Contains(got, `"type":"track"`) {
		t.Fatalf("message %s", got)
	}
	m = mustCompile(t, strings.Replace(spec, ", default: track", "", 1), schema, Options{})
	err := m.Map(csvRow(2, schema, "", "u1", "2024-03-01T12:00:00Z"), sink.NewMessageWriter(sink.Limits{}))
	want := `events.csv:2: type: expression "kind == \"\" ? nil : kind" gives no value`
	if err == nil || err.Error() != want {
		t.Fatalf("error %v, want %s", err, want)
	}
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Reason != sink.ReasonInvalidType {
		t.Fatalf("reason of %v", err)
	}
}

// TestExprMapConcurrent maps rows with expressions from several
// goroutines with one Mapper, for the race detector: each goroutine
// takes its own machine, and every row gets its own values.
func TestExprMapConcurrent(t *testing.T) {
	schema := []string{"u", "e", "ts", "plan"}
	m := mustCompile(t, `type: track
userId: {expr: 'upper(u)'}
event: {expr: 'e + "!"'}
timestamp: ts
drop:
  internal: 'plan == "internal"'
properties:
  include: []
  values:
    at: {expr: 'parseTime(ts, "rfc3339")'}
    id: {expr: 'xxhash(u, e)'}
`, schema, Options{})
	done := make(chan error)
	for g := 0; g < 4; g++ {
		go func() {
			w := sink.NewMessageWriter(sink.Limits{})
			var err error
			for i := 0; i < 100 && err == nil; i++ {
				u := "u" + strconv.Itoa(g*1000+i)
				w.Reset(nil)
				if err = m.Map(csvRow(int64(i+2), schema, u, "E", "2024-03-01T12:00:00Z", "pro"), w); err != nil {
					break
				}
				if got := string(w.Bytes()); !strings.Contains(got, `"userId":"`+strings.ToUpper(u)+`"`) {
					err = errors.New("row mixed with another: " + got)
				}
			}
			done <- err
		}()
	}
	for g := 0; g < 4; g++ {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
