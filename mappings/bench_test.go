package mappings

import (
	"strconv"
	"testing"

	"github.com/backfillhq/backfill/readers"
	"github.com/backfillhq/backfill/sink"
)

const benchSpec = `
type: track
messageId: event_id
userId: user_id
event: event_name
timestamp: ts
columns:
  amount: float
  quantity: int
properties:
  exclude: [internal_note]
  rename: {amount: revenue}
context:
  include: [ip]
`

func BenchmarkMapCSV(b *testing.B) {
	schema := []string{"event_id", "user_id", "event_name", "ts", "amount", "quantity", "plan", "currency", "ip", "internal_note"}
	m := mustCompile(b, benchSpec, schema, Options{})
	rows := make([]*readers.Row, 256)
	for i := range rows {
		rows[i] = csvRow(int64(i+2), schema,
			"evt-"+strconv.Itoa(i), "user-"+strconv.Itoa(i%97), "Order Completed", "2024-03-01T12:00:00.123+02:00",
			"19.99", "3", "pro", "EUR", "10.0.0.1", "note")
	}
	b.ReportAllocs()
	b.ResetTimer()
	var msg sink.Message
	for i := 0; i < b.N; i++ {
		if err := m.Map(rows[i%len(rows)], &msg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMapNDJSON(b *testing.B) {
	m := mustCompile(b, benchSpec, nil, Options{})
	rows := make([]*readers.Row, 256)
	for i := range rows {
		rows[i] = ndjsonRow(b, int64(i+1), `{"event_id":"evt-`+strconv.Itoa(i)+`","user_id":`+strconv.Itoa(i%97)+
			`,"event_name":"Order Completed","ts":"2024-03-01T12:00:00.123+02:00","amount":19.99,"quantity":3,`+
			`"plan":"pro","currency":"EUR","ip":"10.0.0.1","internal_note":"note","tags":["a","b"]}`)
	}
	b.ReportAllocs()
	b.ResetTimer()
	var msg sink.Message
	for i := 0; i < b.N; i++ {
		if err := m.Map(rows[i%len(rows)], &msg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPassthrough(b *testing.B) {
	m := Passthrough(Options{})
	rows := make([]*readers.Row, 256)
	for i := range rows {
		rows[i] = ndjsonRow(b, int64(i+1), `{"type":"track","messageId":"m-`+strconv.Itoa(i)+`","userId":"u1","event":"Order Completed",`+
			`"properties":{"revenue":19.99,"currency":"EUR"},"context":{"ip":"10.0.0.1","library":{"name":"analytics.js"}},`+
			`"timestamp":"2024-03-01T12:00:00.123+02:00","sentAt":"2024-03-01T10:00:01Z","channel":"server"}`)
	}
	b.ReportAllocs()
	b.ResetTimer()
	var msg sink.Message
	for i := 0; i < b.N; i++ {
		if err := m.Map(rows[i%len(rows)], &msg); err != nil {
			b.Fatal(err)
		}
	}
}
