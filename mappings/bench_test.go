package mappings

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"testing"
	"time"

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
	mapRows(b, m, rows)
}

func BenchmarkMapNDJSON(b *testing.B) {
	m := mustCompile(b, benchSpec, nil, Options{})
	rows := make([]*readers.Row, 256)
	for i := range rows {
		rows[i] = ndjsonRow(b, int64(i+1), `{"event_id":"evt-`+strconv.Itoa(i)+`","user_id":`+strconv.Itoa(i%97)+
			`,"event_name":"Order Completed","ts":"2024-03-01T12:00:00.123+02:00","amount":19.99,"quantity":3,`+
			`"plan":"pro","currency":"EUR","ip":"10.0.0.1","internal_note":"note","tags":["a","b"]}`)
	}
	mapRows(b, m, rows)
}

func BenchmarkPassthrough(b *testing.B) {
	m := Passthrough(Options{})
	rows := make([]*readers.Row, 256)
	for i := range rows {
		rows[i] = ndjsonRow(b, int64(i+1), `{"type":"track","messageId":"m-`+strconv.Itoa(i)+`","userId":"u1","event":"Order Completed",`+
			`"properties":{"revenue":19.99,"currency":"EUR"},"context":{"ip":"10.0.0.1","library":{"name":"analytics.js"}},`+
			`"timestamp":"2024-03-01T12:00:00.123+02:00","sentAt":"2024-03-01T10:00:01Z","channel":"server"}`)
	}
	mapRows(b, m, rows)
}

// mapRows maps rows in turn b.N times and reports rows per second.
func mapRows(b *testing.B, m Mapper, rows []*readers.Row) {
	b.Helper()
	b.ReportAllocs()
	b.ResetTimer()
	var msg sink.Message
	for i := 0; i < b.N; i++ {
		if err := m.Map(rows[i%len(rows)], &msg); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkMapPreset maps the rows of each preset's golden case that
// become messages.
func BenchmarkMapPreset(b *testing.B) {
	for _, name := range Presets() {
		b.Run(name, func(b *testing.B) {
			data, err := os.ReadFile(goldenDir + "/preset_" + name + "/input.ndjson")
			if err != nil {
				b.Fatal(err)
			}
			s, err := LoadSpec("preset:" + name)
			if err != nil {
				b.Fatal(err)
			}
			opts := Options{Now: func() time.Time { return goldenNow }}
			m, err := s.Compile(nil, opts)
			if err != nil {
				b.Fatal(err)
			}
			var rows []*readers.Row
			sc := bufio.NewScanner(bytes.NewReader(data))
			sc.Buffer(nil, 1<<20)
			for n := int64(1); sc.Scan(); n++ {
				row := ndjsonRow(b, n, sc.Text())
				if m.Map(row, &sink.Message{}) == nil {
					rows = append(rows, row)
				}
			}
			mapRows(b, m, rows)
		})
	}
}
