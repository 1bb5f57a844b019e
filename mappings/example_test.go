package mappings_test

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/backfillhq/backfill/mappings"
	"github.com/backfillhq/backfill/readers"
	"github.com/backfillhq/backfill/sink"
)

// A CSV export with local times, nested JSON in a cell, and a column to
// rename into a nested key.
func ExampleSpec_Compile() {
	spec, err := mappings.ParseSpec([]byte(`
type: track
messageId: order_id
userId: payload.customer.id
event: {value: Order Completed}
timestamp:
  column: placed_at
  format: "%d/%m/%Y %H:%M"
  timezone: Europe/Berlin
columns:
  total: float
properties:
  include: [order_id, total]
  rename: {total: order.revenue}
context:
  rename: {payload.client.ip: ip}
`), "orders.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	schema := []string{"order_id", "placed_at", "total", "payload"}
	m, err := spec.Compile(schema, mappings.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	pos := readers.Position{File: "orders.csv", Row: 1, Line: 2}
	src := &readers.Source{Path: "orders.csv", Fingerprint: "5f2c"}
	row := readers.NewTextRow(pos, schema, []string{"o-1", "31/03/2024 14:05", "19.90", `{"customer": {"id": 42}, "client": {"ip": "10.0.0.1"}}`})
	row.Source = src
	var w sink.MessageWriter
	if err := m.Map(&row, &w); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(w.Bytes()))

	// A local time that the clocks skipped is a reject naming the row.
	row = readers.NewTextRow(pos, schema, []string{"o-1", "31/03/2024 02:30", "19.90", `{"customer": {"id": 42}, "client": {"ip": "10.0.0.1"}}`})
	row.Source = src
	err = m.Map(&row, &w)
	var fe *mappings.FieldError
	if errors.As(err, &fe) {
		fmt.Println(fe.Reason+":", err)
	}
	// Output:
	// {"type":"track","messageId":"o-1","timestamp":"2024-03-31T12:05:00.000Z","userId":"42","event":"Order Completed","properties":{"order_id":"o-1","order":{"revenue":19.9}},"context":{"ip":"10.0.0.1","library":{"name":"backfill","version":"0.1.0"}}}
	// bad_timestamp: orders.csv:2: timestamp: column "placed_at": value "31/03/2024 02:30": 2024-03-31 02:30:00 does not exist in Europe/Berlin (the clocks skip it)
}

// An outage backfill: only the rows of the window are mapped; the others
// are filtered, which the importer counts apart from rejects.
func ExampleOptions_window() {
	since, _ := mappings.ParseTimeBound("2024-03-01T10:00:00Z")
	until, _ := mappings.ParseTimeBound("2024-03-01T11:00:00Z")
	spec, _ := mappings.LoadSpec("preset:segment")
	m, _ := spec.Compile(nil, mappings.Options{Since: since, Until: until})
	for _, line := range []string{
		`{"type":"track","userId":"u1","event":"A","timestamp":"2024-03-01T09:59:59Z"}`,
		`{"type":"track","userId":"u1","event":"B","timestamp":"2024-03-01T10:30:00Z"}`,
		`{"type":"track","userId":"u1","event":"C","timestamp":"2024-03-01T11:00:00Z"}`,
	} {
		var obj map[string]json.RawMessage
		_ = json.Unmarshal([]byte(line), &obj)
		names := []string{"type", "userId", "event", "timestamp"}
		values := make([]json.RawMessage, len(names))
		for i, k := range names {
			values[i] = obj[k]
		}
		row := readers.NewJSONRow(readers.Position{}, names, values)
		var w sink.MessageWriter
		switch err := m.Map(&row, &w); {
		case errors.Is(err, mappings.ErrFiltered):
			fmt.Println("filtered:", err)
		case err != nil:
			fmt.Println("rejected:", err)
		default:
			fmt.Println("sent:", string(w.Bytes()))
		}
	}
	// Output:
	// filtered: timestamp before the window's start 2024-03-01T10:00:00Z: filtered
	// sent: {"type":"track","messageId":"bfc-inm6i22gptvmyumkccoqxqque4","timestamp":"2024-03-01T10:30:00.000Z","userId":"u1","event":"B","context":{"library":{"name":"backfill","version":"0.1.0"}}}
	// filtered: timestamp at or after the window's end 2024-03-01T11:00:00Z: filtered
}

// A row of an export with user properties becomes a track and an
// identify; MapMessages says where each message ends in the writer.
func ExampleMultiMapper() {
	spec, err := mappings.ParseSpec([]byte(`
timestamp: {column: time, format: unix_ms}
userId: user_id
messageId: insert_id
messages:
  - type: track
    event: event_type
    properties: {include: [song]}
  - when: 'plan != nil'
    type: identify
    traits: {include: [plan]}
`), "amplitude.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	schema := []string{"insert_id", "user_id", "event_type", "time", "song", "plan"}
	m, err := spec.Compile(schema, mappings.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	row := readers.NewTextRow(readers.Position{File: "export.csv", Row: 1, Line: 2}, schema,
		[]string{"ins-1", "u1", "Song Played", "1709294400000", "Blue", "pro"})
	var w sink.MessageWriter
	msgs, _, err := m.(mappings.MultiMapper).MapMessages(&row, &w, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	start := 0
	for _, rm := range msgs {
		fmt.Printf("messages[%d]: %s\n", rm.Entry, w.Bytes()[start:rm.End])
		start = rm.End
	}
	// Output:
	// messages[0]: {"type":"track","messageId":"ins-1","timestamp":"2024-03-01T12:00:00.000Z","userId":"u1","event":"Song Played","properties":{"song":"Blue"},"context":{"library":{"name":"backfill","version":"0.1.0"}}}
	// messages[1]: {"type":"identify","messageId":"bfm-17718249754dbbe17361e09a399cbf77","timestamp":"2024-03-01T12:00:00.000Z","userId":"u1","traits":{"plan":"pro"},"context":{"library":{"name":"backfill","version":"0.1.0"}}}
}
