package mappings

import (
	"testing"

	"github.com/backfillhq/backfill/sink"
)

// TestExprColumnsByIndex checks which expressions read their columns from
// the machine's variables by index, and that each gives what it says,
// with its own let variables and with $env, which keeps a map env.
func TestExprColumnsByIndex(t *testing.T) {
	schema := []string{"u", "e", "type", "ts"}
	row := csvRow(2, schema, "AbC", "Seen", "web", "2024-03-01T12:00:00Z")
	for _, tc := range []struct {
		name, expr string
		byIndex    bool
		base       int
		want       string
	}{
		{"one column", `lower(u)`, true, 0, "abc"},
		{"two columns", `u + "/" + e`, true, 0, "AbC/Seen"},
		{"a column read twice", `u + u`, true, 0, "AbCAbC"},
		{"let", `let x = lower(u); let y = x + "-"; y + e`, true, 2, "abc-Seen"},
		{"a closure", `join(filter(split(u + ",x," + e, ","), # != e), ":")`, true, 0, "AbC:x"},
		{"no column", `"k" + "v"`, true, 0, "kv"},
		{"$env", `$env["type"] + "-" + u`, false, 0, "web-AbC"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := mustSpec(t, "type: track\nevent: e\ntimestamp: ts\nuserId: {expr: '"+tc.expr+"'}\n")
			e := spec.fields[fieldUserID].expr
			if got := e.byIndex != nil; got != tc.byIndex || e.base != tc.base {
				t.Fatalf("by index %v from variable %d, want %v from %d (names %q)", got, e.base, tc.byIndex, tc.base, e.names)
			}
			m, err := spec.Compile(schema, Options{})
			if err != nil {
				t.Fatal(err)
			}
			var msg sink.Message
			if err := mapInto(m, row, &msg); err != nil {
				t.Fatal(err)
			}
			if msg.UserID != tc.want {
				t.Fatalf("userId %q, want %q", msg.UserID, tc.want)
			}
		})
	}
}

// TestExprMachineSharedByPrograms maps rows with a mapping whose
// expressions read different columns, some with let variables and one
// through $env, one after the other on the machines they share: each
// run sees its own row's values, never those another program or an
// earlier row left in the machine.
func TestExprMachineSharedByPrograms(t *testing.T) {
	schema := []string{"u", "e", "plan", "type", "ts"}
	m := mustCompile(t, `type: track
userId: {expr: 'let p = plan; coalesce(lower(u), "?") + ":" + p'}
event: {expr: 'let a = 1; let b = 2; coalesce(e, $env["type"]) + string(a + b)'}
timestamp: ts
drop:
  internal: 'plan == "internal"'
`, schema, Options{})
	for _, tc := range []struct {
		values      []string
		user, event string
		filtered    bool
	}{
		{[]string{"A", "Seen", "pro", "web", "2024-03-01T12:00:00Z"}, "a:pro", "Seen3", false},
		{[]string{"B", "", "free", "app", "2024-03-01T12:00:01Z"}, "b:free", "app3", false},
		{[]string{"C", "", "internal", "", "2024-03-01T12:00:02Z"}, "", "", true},
		{[]string{"", "Paid", "team", "", "2024-03-01T12:00:03Z"}, "?:team", "Paid3", false},
	} {
		var msg sink.Message
		err := mapInto(m, csvRow(2, schema, tc.values...), &msg)
		if tc.filtered {
			if FilterRule(err) != "internal" {
				t.Fatalf("%q: error %v, want the row filtered by internal", tc.values, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%q: %v", tc.values, err)
		}
		if msg.UserID != tc.user || msg.Event != tc.event {
			t.Fatalf("%q: userId %q, event %q; want %q, %q", tc.values, msg.UserID, msg.Event, tc.user, tc.event)
		}
	}
}

// TestExprTextFuncKeepsUnchanged checks that lower, upper and trim give
// back the very value they were given when it needs no change, and a new
// text when it does.
func TestExprTextFuncKeepsUnchanged(t *testing.T) {
	lower := exprFunctionByName("lower")
	for _, tc := range []struct {
		in, want any
	}{
		{"abc", "abc"},
		{"aBc", "abc"},
		{7, "7"},
		{nil, nil},
	} {
		got, err := lower(tc.in)
		if err != nil || got != tc.want {
			t.Fatalf("lower(%#v) = %#v, %v; want %#v", tc.in, got, err, tc.want)
		}
	}
	if _, err := lower(true, false); err == nil || err.Error() != "lower: want 1 argument, not 2" {
		t.Fatalf("lower of two: %v", err)
	}
	if _, err := lower([]any{"a"}); err == nil || err.Error() != "lower: want a string or a number, not a list" {
		t.Fatalf("lower of a list: %v", err)
	}
}
