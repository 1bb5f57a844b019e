package readers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// TestRowsOwnTheirMemory checks that the rows cut from shared blocks are
// independent: appending to one row's Raw or Values leaves the next row
// alone, and rows held while thousands more are read (across blocks and
// collections) keep their content.
func TestRowsOwnTheirMemory(t *testing.T) {
	const n = 5000
	var csvData, ndData strings.Builder
	csvData.WriteString("id,event,note\n")
	for i := range n {
		fmt.Fprintf(&csvData, "%d,%s,\"n \"\"%d\"\"\"\n", i, strings.Repeat("e", i%300), i)
		fmt.Fprintf(&ndData, "{\"id\":%d,\"event\":%q}\n", i, strings.Repeat("e", i%300))
	}
	tests := []struct {
		name string
		data string
		want func(i int) []any
	}{
		{"events.csv", csvData.String(), func(i int) []any {
			var event any // an empty cell is absent
			if i%300 > 0 {
				event = strings.Repeat("e", i%300)
			}
			return []any{fmt.Sprint(i), event, fmt.Sprintf("n \"%d\"", i)}
		}},
		{"events.ndjson", ndData.String(), func(i int) []any {
			return []any{json.RawMessage(fmt.Sprint(i)), json.RawMessage(fmt.Sprintf("%q", strings.Repeat("e", i%300)))}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), tt.name, []byte(tt.data))
			r := openT(t, path, Options{}, nil)
			ctx := context.Background()
			var rows []Row
			for i := range n {
				row, err := r.Next(ctx)
				if err != nil {
					t.Fatalf("row %d: %v", i+1, err)
				}
				rows = append(rows, row)
				if i > 0 {
					prev := &rows[i-1]
					_ = append(prev.Raw, "garbage"...)
					_ = append(prev.values, "garbage")
					_ = append(prev.texts, "garbage")
					_ = append(prev.raws, json.RawMessage("0"))
				}
				if i%1000 == 0 {
					runtime.GC()
				}
			}
			lines := strings.Split(tt.data, "\n")
			if strings.HasSuffix(tt.name, ".csv") {
				lines = lines[1:]
			}
			for i, row := range rows {
				if !bytes.Equal(row.Raw, []byte(lines[i])) {
					t.Fatalf("row %d: raw %q, want %q", i+1, row.Raw, lines[i])
				}
				if got, want := row.AllValues(), tt.want(i); !reflect.DeepEqual(got, want) {
					t.Fatalf("row %d: values %#v, want %#v", i+1, got, want)
				}
			}
		})
	}
}
