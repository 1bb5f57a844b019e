package readers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
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

// rowCopy is what a test keeps of a row: copies of its bytes and values,
// which the row's memory being reused cannot change.
type rowCopy struct {
	raw    []byte
	values []any
}

func copyRow(row *Row) rowCopy {
	c := rowCopy{raw: bytes.Clone(row.Raw), values: row.AllValues()}
	for i, v := range c.values {
		switch x := v.(type) {
		case json.RawMessage:
			c.values[i] = json.RawMessage(bytes.Clone(x))
		case []byte:
			c.values[i] = bytes.Clone(x)
		}
	}
	return c
}

func (c rowCopy) equal(row *Row) bool {
	return bytes.Equal(c.raw, row.Raw) && reflect.DeepEqual(c.values, row.AllValues())
}

// recycledSources writes a CSV, an NDJSON and a Parquet file of n rows
// each, with fields of varied lengths, so that runs of rows end at
// varied places in their chunks.
func recycledSources(t *testing.T, n int) []string {
	dir := t.TempDir()
	var csvData, ndData strings.Builder
	csvData.WriteString("id,event,note\n")
	for i := range n {
		fmt.Fprintf(&csvData, "%d,%s,\"n \"\"%d\"\"\"\n", i, strings.Repeat("e", i%300), i)
		fmt.Fprintf(&ndData, "{\"id\":%d,\"event\":%q,\"props\":{\"k\":[%d]}}\n", i, strings.Repeat("e", i%300), i)
	}
	pq := filepath.Join(dir, "events.parquet")
	writeEventsParquet(t, pq, n, 700)
	return []string{
		writeFile(t, dir, "events.csv", []byte(csvData.String())),
		writeFile(t, dir, "events.ndjson", []byte(ndData.String())),
		pq,
	}
}

// TestRecycledRowsKeepTheirContent reads each format in runs of rows,
// releasing the memory of each run once two later runs were read, as an
// import does with its blocks: the rows of the runs still held keep
// their content while the released memory is handed out again, and it is
// handed out again.
func TestRecycledRowsKeepTheirContent(t *testing.T) {
	const n, run = 3000, 37
	for _, path := range recycledSources(t, n) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			var want []rowCopy
			for _, it := range readRows(t, openT(t, path, Options{}, nil)) {
				want = append(want, copyRow(&it))
			}
			if len(want) != n {
				t.Fatalf("read %d rows, want %d", len(want), n)
			}
			r := openT(t, path, Options{}, nil)
			rec := r.(Recycler)
			rec.CutRows().Release() // holds no row
			type runOfRows struct {
				first int
				rows  []Row
				mem   *RowMemory
			}
			var held []runOfRows
			released := map[any]bool{} // the chunks released so far
			reused := 0                // chunks of later runs among them
			check := func(h runOfRows) {
				t.Helper()
				for k := range h.rows {
					if !want[h.first+k].equal(&h.rows[k]) {
						t.Fatalf("row %d changed while it was held: raw %q, want %q (or its values changed)",
							h.first+k+1, h.rows[k].Raw, want[h.first+k].raw)
					}
				}
			}
			ctx := context.Background()
			for first := 0; first < n; first += run {
				h := runOfRows{first: first}
				for range min(run, n-first) {
					row, err := r.Next(ctx)
					if err != nil {
						t.Fatalf("row %d: %v", first+len(h.rows)+1, err)
					}
					h.rows = append(h.rows, row)
				}
				h.mem = rec.CutRows()
				for _, c := range chunksOf(h.mem) {
					if released[c] {
						reused++
					}
				}
				held = append(held, h)
				if len(held) > 2 {
					check(held[0])
					for _, c := range chunksOf(held[0].mem) {
						released[c] = true
					}
					held[0].mem.Release()
					held = held[1:]
				}
			}
			for _, h := range held {
				check(h)
			}
			if _, err := r.Next(ctx); err != io.EOF {
				t.Fatalf("after the last row: %v, want io.EOF", err)
			}
			if reused == 0 {
				t.Fatal("no released chunk was handed out again")
			}
		})
	}
}

// chunksOf returns the chunks of m, of every kind.
func chunksOf(m *RowMemory) []any {
	var cs []any
	for _, c := range m.bytes {
		cs = append(cs, c)
	}
	for _, c := range m.values {
		cs = append(cs, c)
	}
	for _, c := range m.texts {
		cs = append(cs, c)
	}
	for _, c := range m.json {
		cs = append(cs, c)
	}
	for _, c := range m.spans {
		cs = append(cs, c)
	}
	return cs
}

// readRows reads every row of r, failing on any error.
func readRows(t *testing.T, r Reader) []Row {
	t.Helper()
	var rows []Row
	for {
		row, err := r.Next(context.Background())
		if err == io.EOF {
			return rows
		}
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, row)
	}
}

// TestPoisonedRowsShowThePattern checks what the poison of tests does to
// released memory: the rows of a released run read the patterns, those
// of the run after it keep their content, and the memory is not handed
// out again.
func TestPoisonedRowsShowThePattern(t *testing.T) {
	for _, path := range recycledSources(t, 200) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			r := openT(t, path, Options{}, nil)
			rec := r.(Recycler)
			rec.CutRows()
			ctx := context.Background()
			read := func(k int) []Row {
				var rows []Row
				for range k {
					row, err := r.Next(ctx)
					if err != nil {
						t.Fatal(err)
					}
					rows = append(rows, row)
				}
				return rows
			}
			first := read(100)
			m := rec.CutRows()
			free := len(freeBytes.free) + len(freeValues.free) + len(freeTexts.free) + len(freeSpans.free)
			m.poison()
			second := read(100)
			var keep []rowCopy
			for i := range second {
				keep = append(keep, copyRow(&second[i]))
			}
			if now := len(freeBytes.free) + len(freeValues.free) + len(freeTexts.free) + len(freeSpans.free); now > free {
				t.Errorf("poisoned chunks went on the free lists: %d chunks there, %d before", now, free)
			}
			csv := strings.HasSuffix(path, ".csv") // whose Raw is the text of its strings, never reused
			for i := range first {
				row := &first[i]
				if !csv && !bytes.Equal(row.Raw, bytes.Repeat([]byte{poisonByte}, len(row.Raw))) {
					t.Fatalf("row %d: raw %q after poisoning", i+1, row.Raw)
				}
				for k := range row.Len() {
					switch v := row.Value(k).(type) {
					case string:
						if v == poisonText {
							continue
						}
					case json.RawMessage:
						if len(v) == 0 { // where its spans point
							continue
						}
					}
					t.Fatalf("row %d: column %s is %#v after poisoning", i+1, row.Name(k), row.Value(k))
				}
			}
			for i := range second {
				if !keep[i].equal(&second[i]) {
					t.Fatalf("row %d of the run after: changed", 101+i)
				}
			}
			rec.CutRows().Release()
		})
	}
}

// TestRowMemoryReleasedTwicePanics checks that a second release, which
// would hand the same memory to two runs of rows, is caught.
func TestRowMemoryReleasedTwicePanics(t *testing.T) {
	var nilMem *RowMemory
	nilMem.Release() // does nothing
	m := (&rowArena{}).cut()
	m.Release()
	defer func() {
		if p := recover(); p == nil {
			t.Fatal("a second Release did not panic")
		}
	}()
	m.Release()
}
