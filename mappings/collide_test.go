package mappings

import (
	"errors"
	"testing"

	"github.com/backfillhq/backfill/sink"
)

func TestCompileRefusesAKeyThatCollidesWithAColumn(t *testing.T) {
	head := "type: track\nuserId: u\nevent: e\ntimestamp: ts\n"
	for _, tc := range []struct {
		name, spec string
		schema     []string
		want       string
	}{
		{"rename onto a column", head + "properties:\n  rename: {amount: revenue}\n", []string{"u", "e", "ts", "amount", "revenue"},
			`events.yaml:6: properties.rename: column "amount" is written to the key "revenue" of properties, which also takes the file's remaining columns, so the file's column "revenue" would be lost; exclude that column, or choose another key`},
		{"dotted rename under a column", head + "properties:\n  rename: {amount: order.revenue}\n", []string{"u", "e", "ts", "amount", "order"},
			`events.yaml:6: properties.rename: column "amount" is written to the key "order.revenue" of properties, which also takes the file's remaining columns, so the file's column "order" would be lost; exclude that column, or choose another key`},
		{"a constant onto a column", head + "properties:\n  values: {source: legacy}\n", []string{"u", "e", "ts", "source"},
			`events.yaml:6: properties.values: a constant in values is written to the key "source" of properties, which also takes the file's remaining columns, so the file's column "source" would be lost; exclude that column, or choose another key`},
		{"an include renamed onto a column of the rest", head + "properties:\n  exclude: [x]\ncontext:\n  include: [ip]\n  rename: {ip: network}\n", []string{"u", "e", "ts", "ip", "network", "x"},
			""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := mustSpec(t, tc.spec).Compile(tc.schema, Options{})
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Compile: %v", err)
				}
				return
			}
			if err == nil || err.Error() != tc.want {
				t.Fatalf("Compile error = %v\nwant %s", err, tc.want)
			}
		})
	}
}

func TestNoCollisionWhenTheColumnIsNotAmongTheRest(t *testing.T) {
	head := "type: track\nuserId: u\nevent: e\ntimestamp: ts\n"
	for _, tc := range []struct{ name, spec, props string }{
		{"excluded", head + "properties:\n  rename: {amount: revenue}\n  exclude: [revenue]\n", `{"revenue":"5"}`},
		{"used by a field", head + "anonymousId: revenue\nproperties:\n  rename: {amount: revenue}\n", `{"revenue":"5"}`},
		{"renamed itself", head + "properties:\n  rename: {amount: revenue, revenue: old_revenue}\n", `{"old_revenue":"7","revenue":"5"}`},
		{"include lists", head + "properties:\n  include: [amount]\n  rename: {amount: revenue}\n", `{"revenue":"5"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			schema := []string{"u", "e", "ts", "amount", "revenue"}
			var msg sink.Message
			if err := mapInto(mustCompile(t, tc.spec, schema, Options{}), csvRow(2, schema, "u1", "E", "2024-03-01T12:00:00Z", "5", "7"), &msg); err != nil {
				t.Fatal(err)
			}
			if got := jsonText(t, msg.Properties); got != tc.props {
				t.Fatalf("properties = %s, want %s", got, tc.props)
			}
		})
	}
}

func TestSchemalessRowsWithACollidingColumnAreRejected(t *testing.T) {
	head := "type: track\nuserId: u\nevent: e\ntimestamp: ts\n"
	for _, tc := range []struct {
		name, spec, row, want string
	}{
		{"rename onto a column", head + "properties:\n  rename: {amount: revenue}\n",
			`{"u":"u1","e":"E","ts":"2024-03-01T12:00:00Z","amount":5,"revenue":7}`,
			`events.ndjson:3: properties.revenue: column "revenue": value "7": the mapping writes column "amount" to the key "revenue" (line 6), so this column's value would be lost; exclude the column, or choose another key`},
		{"dotted rename under a column", head + "properties:\n  rename: {amount: order.revenue}\n",
			`{"u":"u1","e":"E","ts":"2024-03-01T12:00:00Z","amount":5,"order":{"id":1}}`,
			`events.ndjson:3: properties.order: column "order": value "{\"id\":1}": the mapping writes column "amount" to the key "order.revenue" (line 6), so this column's value would be lost; exclude the column, or choose another key`},
		{"a constant onto a column", head + "properties:\n  values: {source: legacy}\n",
			`{"u":"u1","e":"E","ts":"2024-03-01T12:00:00Z","source":"web"}`,
			`events.ndjson:3: properties.source: column "source": value "web": the mapping writes a constant in values to the key "source" (line 6), so this column's value would be lost; exclude the column, or choose another key`},
		{"a member of a from column", head + "properties:\n  from: p\n  rename: {p.amount: revenue}\n",
			`{"u":"u1","e":"E","ts":"2024-03-01T12:00:00Z","p":{"amount":5,"revenue":7}}`,
			`events.ndjson:3: properties.revenue: column "p.revenue": value "7": the mapping writes column "p.amount" to the key "revenue" (line 7), so this column's value would be lost; exclude the column, or choose another key`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := mustCompile(t, tc.spec, nil, Options{})
			err := mapInto(m, ndjsonRow(t, 3, tc.row), &sink.Message{})
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Reason != ReasonKeyCollision || err.Error() != tc.want {
				t.Fatalf("Map error = %v\nwant %s (key_collision)", err, tc.want)
			}
		})
	}
}

func TestSchemalessCollisionNeedsAValue(t *testing.T) {
	m := mustCompile(t, "type: track\nuserId: u\nevent: e\ntimestamp: ts\nproperties:\n  rename: {amount: revenue}\n", nil, Options{})
	for _, row := range []string{
		`{"u":"u1","e":"E","ts":"2024-03-01T12:00:00Z","amount":5,"revenue":null}`,
		`{"u":"u1","e":"E","ts":"2024-03-01T12:00:00Z","amount":5}`,
	} {
		var msg sink.Message
		if err := mapInto(m, ndjsonRow(t, 3, row), &msg); err != nil {
			t.Fatalf("%s: %v", row, err)
		}
		if got := jsonText(t, msg.Properties); got != `{"revenue":5}` {
			t.Fatalf("%s: properties = %s", row, got)
		}
	}
}
