package mappings

import (
	"strconv"
	"testing"

	"github.com/backfillhq/backfill/readers"
)

// BenchmarkTimestamp maps rows whose timestamp has one format, for each
// kind of format, and a list whose third format reads the values, CSV and
// NDJSON: the cost of reading a timestamp on the mapped path. On a shared machine the process's CPU time (cpu-ns/op) is
// steadier than the wall clock.
func BenchmarkTimestamp(b *testing.B) {
	schema := []string{"id", "u", "ts"}
	for _, c := range []struct {
		name, timestamp string
		csv, ndjson     func(i int) string // the value, as CSV text and as JSON
	}{
		{"rfc3339", "{column: ts, format: rfc3339}",
			func(i int) string { return "2024-03-01T12:00:" + pad2(i%60) + ".123Z" },
			func(i int) string { return `"2024-03-01T12:00:` + pad2(i%60) + `.123Z"` }},
		{"unix", "{column: ts, format: unix}",
			func(i int) string { return strconv.Itoa(1709294400 + i) },
			func(i int) string { return strconv.Itoa(1709294400 + i) }},
		{"unix_ms", "{column: ts, format: unix_ms}",
			func(i int) string { return strconv.Itoa(1709294400123 + i) },
			func(i int) string { return strconv.Itoa(1709294400123 + i) }},
		{"list", "{column: ts, format: [rfc3339, unix_ms, unix]}",
			func(i int) string { return strconv.Itoa(1709294400 + i) },
			func(i int) string { return strconv.Itoa(1709294400 + i) }},
		{"strftime", `{column: ts, format: "%d/%m/%Y %H:%M:%S", timezone: UTC}`,
			func(i int) string { return "01/03/2024 12:00:" + pad2(i%60) },
			func(i int) string { return `"01/03/2024 12:00:` + pad2(i%60) + `"` }},
	} {
		spec := "type: track\nmessageId: id\nuserId: u\nevent: {value: Tick}\ntimestamp: " + c.timestamp + "\n"
		csvRows := make([]*readers.Row, 256)
		ndjsonRows := make([]*readers.Row, 256)
		for i := range csvRows {
			csvRows[i] = csvRow(int64(i+2), schema, "e"+strconv.Itoa(i), "u1", c.csv(i))
			ndjsonRows[i] = ndjsonRow(b, int64(i+1), `{"id":"e`+strconv.Itoa(i)+`","u":"u1","ts":`+c.ndjson(i)+`}`)
		}
		b.Run(c.name+"/CSV", func(b *testing.B) {
			cpu0 := processCPU()
			mapRows(b, mustCompile(b, spec, schema, Options{}), csvRows)
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
		})
		b.Run(c.name+"/NDJSON", func(b *testing.B) {
			cpu0 := processCPU()
			mapRows(b, mustCompile(b, spec, nil, Options{}), ndjsonRows)
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

func pad2(n int) string {
	if n < 10 {
		return "0" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}

// BenchmarkTimeParse parses one value with a timestamp parser alone.
func BenchmarkTimeParse(b *testing.B) {
	for _, c := range []struct {
		name, format, timezone string
		value                  any
	}{
		{"unix", "unix", "", "1709294400"},
		{"unix_ms", "unix_ms", "", "1709294400123"},
		{"rfc3339", "rfc3339", "", "2024-03-01T12:00:00.123Z"},
		{"strftime", "%d/%m/%Y %H:%M:%S", "UTC", "01/03/2024 12:00:00"},
	} {
		b.Run(c.name, func(b *testing.B) {
			p, err := newTimeParser(c.format, c.timezone)
			if err != nil {
				b.Fatal(err)
			}
			cpu0 := processCPU()
			for b.Loop() {
				if _, err := p.parse(c.value); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}
