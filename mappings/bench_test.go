package mappings

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
	"syscall"
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

var csvBenchSchema = []string{"event_id", "user_id", "event_name", "ts", "amount", "quantity", "plan", "currency", "ip", "internal_note"}

// wideSpec and wideSchema are the CSV file and mapping of the end-to-end
// benchmark (cmd/backfill-bench): fourteen columns, ten of them
// properties, four of those typed.
const wideSpec = `
type: track
messageId: id
userId: user_id
event: event
timestamp: {column: ts, format: rfc3339}
columns: {amount: float, quantity: int, page_views: int, active: bool}
`

var wideSchema = []string{"id", "user_id", "event", "ts", "amount", "quantity", "active", "page_views", "plan", "country", "browser", "campaign", "referrer", "sku"}

func wideRows() []*readers.Row {
	rows := make([]*readers.Row, 256)
	for i := range rows {
		rows[i] = csvRow(int64(i+2), wideSchema,
			"evt-"+strconv.Itoa(i), "user-"+strconv.Itoa(i*7919%100_003), "Order Completed", "2024-01-01T00:00:01.537Z",
			strconv.FormatFloat(float64(i%100_000)/100, 'f', -1, 64), strconv.Itoa(i%9+1), strconv.FormatBool(i%3 != 0),
			strconv.Itoa(i*31%1000), "pro", "DE", "Firefox", "spring-"+strconv.Itoa(i%40),
			"https://example.com/p/"+strconv.Itoa(i%1000), "SKU-"+strconv.Itoa(i%5000))
	}
	return rows
}

func csvBenchMapper(b *testing.B) Mapper {
	return mustCompile(b, benchSpec, csvBenchSchema, Options{})
}

func csvBenchRows() []*readers.Row {
	rows := make([]*readers.Row, 256)
	for i := range rows {
		rows[i] = csvRow(int64(i+2), csvBenchSchema,
			"evt-"+strconv.Itoa(i), "user-"+strconv.Itoa(i%97), "Order Completed", "2024-03-01T12:00:00.123+02:00",
			"19.99", "3", "pro", "EUR", "10.0.0.1", "note")
	}
	return rows
}

// ndjsonBenchRows returns NDJSON rows of the same keys, which share one
// slice of names, as the NDJSON reader's do.
func ndjsonBenchRows(b *testing.B) []*readers.Row {
	rows := make([]*readers.Row, 256)
	for i := range rows {
		row := ndjsonRow(b, int64(i+1), `{"event_id":"evt-`+strconv.Itoa(i)+`","user_id":`+strconv.Itoa(i%97)+
			`,"event_name":"Order Completed","ts":"2024-03-01T12:00:00.123+02:00","amount":19.99,"quantity":3,`+
			`"plan":"pro","currency":"EUR","ip":"10.0.0.1","internal_note":"note","tags":["a","b"]}`)
		if i > 0 {
			row = newRow(row.Pos, row.Source, row.Raw, rows[0].Names(), row.AllValues())
		}
		rows[i] = row
	}
	return rows
}

func passthroughBenchRows(b *testing.B) []*readers.Row {
	rows := make([]*readers.Row, 256)
	for i := range rows {
		rows[i] = ndjsonRow(b, int64(i+1), `{"type":"track","messageId":"m-`+strconv.Itoa(i)+`","userId":"u1","event":"Order Completed",`+
			`"properties":{"revenue":19.99,"currency":"EUR"},"context":{"ip":"10.0.0.1","library":{"name":"analytics.js"}},`+
			`"timestamp":"2024-03-01T12:00:00.123+02:00","sentAt":"2024-03-01T10:00:01Z","channel":"server"}`)
	}
	return rows
}

func BenchmarkMapCSV(b *testing.B) {
	mapRows(b, csvBenchMapper(b), csvBenchRows())
}

func BenchmarkMapNDJSON(b *testing.B) {
	mapRows(b, mustCompile(b, benchSpec, nil, Options{}), ndjsonBenchRows(b))
}

func BenchmarkPassthrough(b *testing.B) {
	mapRows(b, Passthrough(Options{}), passthroughBenchRows(b))
}

// benchWrite maps the rows of each case, as prepare hands them on, into
// a reused MessageWriter, as a map worker of the importer does.
func benchWrite(b *testing.B, prepare func([]*readers.Row) []*readers.Row) {
	for _, c := range []struct {
		name string
		m    Mapper
		rows []*readers.Row
	}{
		{"CSV", csvBenchMapper(b), prepare(csvBenchRows())},
		{"CSVWide", mustCompile(b, wideSpec, wideSchema, Options{}), prepare(wideRows())},
		{"NDJSON", mustCompile(b, benchSpec, nil, Options{}), prepare(ndjsonBenchRows(b))},
		{"Passthrough", Passthrough(Options{}), prepare(passthroughBenchRows(b))},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			w := sink.NewMessageWriter(sink.Limits{})
			cpu0 := processCPU()
			for i := 0; b.Loop(); i++ {
				w.Reset(w.Bytes())
				if err := c.m.Map(c.rows[i%len(c.rows)], w); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			// On a shared machine the process's CPU time is steadier than
			// the wall clock.
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// processCPU returns the CPU time the process has used, in nanoseconds.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// mapRows maps rows in turn b.N times and reports rows per second.
func mapRows(b *testing.B, m Mapper, rows []*readers.Row) {
	b.Helper()
	b.ReportAllocs()
	b.ResetTimer()
	w := sink.NewMessageWriter(sink.Limits{})
	for i := 0; i < b.N; i++ {
		w.Reset(w.Bytes())
		if err := m.Map(rows[i%len(rows)], w); err != nil {
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
				if mapInto(m, row, &sink.Message{}) == nil {
					rows = append(rows, row)
				}
			}
			mapRows(b, m, rows)
		})
	}
}

// BenchmarkEncodeRow maps each row, built as the readers build them,
// into a reused MessageWriter: the map worker's path.
func BenchmarkEncodeRow(b *testing.B) {
	benchWrite(b, func(rows []*readers.Row) []*readers.Row { return rows })
}

// wideDerivedSpec is wideSpec without the messageId column: every
// message's id is derived (from its content, or in the older scheme from
// its position).
const wideDerivedSpec = `
type: track
userId: user_id
event: event
timestamp: {column: ts, format: rfc3339}
columns: {amount: float, quantity: int, page_views: int, active: bool}
properties: {exclude: [id]}
`

// BenchmarkMapWideID maps the rows of the end-to-end benchmark's CSV file
// with the messageId from a column and derived, into a reused writer.
func BenchmarkMapWideID(b *testing.B) {
	for _, c := range []struct{ name, spec string }{{"Column", wideSpec}, {"Derived", wideDerivedSpec}} {
		b.Run(c.name, func(b *testing.B) {
			m, rows := mustCompile(b, c.spec, wideSchema, Options{}), wideRows()
			for _, r := range rows {
				r.Source = testSource
			}
			mapRows(b, m, rows)
		})
	}
}

// BenchmarkMapNDJSONDerived maps NDJSON rows whose messageIds are derived.
func BenchmarkMapNDJSONDerived(b *testing.B) {
	spec := strings.Replace(benchSpec, "messageId: event_id\n", "", 1)
	mapRows(b, mustCompile(b, spec, nil, Options{}), ndjsonBenchRows(b))
}

// exprBenchSpec is benchSpec with one drop rule and two fields computed
// by expressions: what expressions cost on the CSV mapped path is
// BenchmarkMapCSVExpr beside BenchmarkMapCSV.
const exprBenchSpec = `
type: track
messageId: event_id
userId: {expr: 'lower(user_id)'}
event: {expr: 'coalesce(event_name, "Unknown")'}
timestamp: ts
drop:
  internal: 'plan == "internal"'
columns:
  amount: float
  quantity: int
properties:
  exclude: [internal_note]
  rename: {amount: revenue}
context:
  include: [ip]
`

func BenchmarkMapCSVExpr(b *testing.B) {
	mapRows(b, mustCompile(b, exprBenchSpec, csvBenchSchema, Options{}), csvBenchRows())
}
