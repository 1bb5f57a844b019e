package mappings

import (
	"testing"

	"github.com/backfillhq/backfill/sink"
)

// TestObjectFromExpr maps rows with an object whose from is an
// expression: the members of the object it gives, in key order, null
// members and excluded keys left out; null gives no members; anything
// but an object rejects the row, naming the expression.
func TestObjectFromExpr(t *testing.T) {
	spec := `type: track
userId: user
event: event
timestamp: ts
properties:
  from:
    expr: 'params == nil ? nil : type(params) == "array" ? fromPairs(map(params, [#.k, #.v])) : params'
  exclude: ["tmp_*"]
  values:
    source: legacy
`
	s, err := ParseSpec([]byte(spec), "m.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.Compile(nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, row, want, err string
	}{
		{"list of records",
			`{"user":"u1","event":"E","ts":"2024-03-01T12:00:00Z","params":[{"k":"b","v":2},{"k":"a","v":"x"},{"k":"n","v":null},{"k":"tmp_1","v":1},{"k":"o","v":{"z":[1,2]}}]}`,
			`{"type":"track","messageId":"bfc-ql74r4tdm2gm6vzlnxnbn6yorq","timestamp":"2024-03-01T12:00:00.000Z","userId":"u1","event":"E","properties":{"a":"x","b":2,"o":{"z":[1,2]},"source":"legacy"},"context":{"library":{"name":"backfill","version":"0.1.0"}}}`, ""},
		{"null", `{"user":"u1","event":"E","ts":"2024-03-01T12:00:00Z"}`,
			`{"type":"track","messageId":"bfc-y5aumaosy37u6wttbv54vz5o5i","timestamp":"2024-03-01T12:00:00.000Z","userId":"u1","event":"E","properties":{"source":"legacy"},"context":{"library":{"name":"backfill","version":"0.1.0"}}}`, ""},
		{"not an object", `{"user":"u1","event":"E","ts":"2024-03-01T12:00:00Z","params":"x"}`, "",
			`events.ndjson:1: properties.from: expression "params == nil ? nil : type(params) == \"array\" ? fromPairs(map(params, [#.k, #.v])) : params" (line 7): gives no object, so from: cannot take its members (it gives a text)`},
		{"a key the object sets", `{"user":"u1","event":"E","ts":"2024-03-01T12:00:00Z","params":{"source":"csv"}}`, "",
			`events.ndjson:1: properties.source: column "source": value "csv": the mapping writes a constant in values to the key "source" (line 10), so this column's value would be lost; exclude the column, or choose another key`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var w sink.MessageWriter
			err := m.Map(ndjsonRow(t, 1, tc.row), &w)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error\n  %v\nwant\n  %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := string(w.Bytes()); got != tc.want {
				t.Fatalf("got\n  %s\nwant\n  %s", got, tc.want)
			}
		})
	}
	var w sink.MessageWriter
	err = m.Map(ndjsonRow(t, 1, `{"user":"u1","event":"E","ts":"2024-03-01T12:00:00Z","params":7}`), &w)
	if reasonOf(err) != ReasonExpression {
		t.Errorf("a from expression that gives a number: %v, want a reject %s", err, ReasonExpression)
	}
}

// TestObjectFromExprSpecErrors checks the mappings that an expression
// as from refuses.
func TestObjectFromExprSpecErrors(t *testing.T) {
	base := "type: track\nuserId: u\nevent: e\ntimestamp: ts\n"
	for _, tc := range []struct{ spec, want string }{
		{"properties:\n  from: {expr: 'p'}\n  include: [a]\n",
			`m.yaml:7: properties.include: an object with from takes the members of the object its expression gives; include picks columns: use one or the other`},
		{"properties:\n  from: {expr: 'p'}\n  exclude: [a]\n",
			`m.yaml:6: properties.exclude: "a": the members of the object an expression gives are left out by patterns ("$mp_*"), or by the expression itself`},
		{"properties:\n  from: {column: p}\n",
			`m.yaml:6: properties.from: want a column, or {expr: …} for an object computed from the row`},
		{"properties:\n  from: {expr: 'lower('}\n",
			`m.yaml:6:22: properties.from: expression "lower(": unexpected token EOF`},
	} {
		_, err := ParseSpec([]byte(base+tc.spec), "m.yaml")
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: error\n  %v\nwant\n  %s", tc.spec, err, tc.want)
		}
	}
}
