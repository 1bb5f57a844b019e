package readers

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestParquetValues(t *testing.T) {
	const rows, groupRows = 50, 16
	path := writeTypeFixture(t, t.TempDir(), rows, groupRows)
	r := openT(t, path, Options{}, nil)
	if got := r.(Schemer).Schema(); !reflect.DeepEqual(got, typeColumns) {
		t.Fatalf("Schema() = %q\nwant %q", got, typeColumns)
	}
	items, err := readItems(t, r)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != rows {
		t.Fatalf("read %d items, want %d", len(items), rows)
	}
	for i, it := range items {
		wantPos := Position{File: path, Row: int64(i + 1), RowGroup: i / groupRows}
		if it.Pos != wantPos {
			t.Errorf("item %d at %+v, want %+v", i, it.Pos, wantPos)
		}
		values, _, reason, errText := wantTypeRow(i)
		if reason != "" {
			if it.Reason != reason || it.Err != errText {
				t.Errorf("row %d: %s %q, want the row error %s %q", i+1, it.Reason, it.Err, reason, errText)
			}
			var raw map[string]any
			if err := json.Unmarshal([]byte(it.Raw), &raw); err != nil || len(raw) != len(typeColumns) {
				t.Errorf("row %d: raw %s is not an object of the row's %d columns: %v", i+1, it.Raw, len(typeColumns), err)
			}
			continue
		}
		if it.Reason != "" {
			t.Errorf("row %d: unexpected row error %s: %s", i+1, it.Reason, it.Err)
			continue
		}
		if it.Raw != "" {
			t.Errorf("row %d: Raw %q, want none for Parquet", i+1, it.Raw)
		}
		for k, name := range typeColumns {
			if !reflect.DeepEqual(it.Values[k], values[k]) {
				t.Errorf("row %d, column %s: %#v (%T), want %#v (%T)", i+1, name, it.Values[k], it.Values[k], values[k], values[k])
			}
		}
	}
}

func TestParquetRowsShareSchema(t *testing.T) {
	path := writeTypeFixture(t, t.TempDir(), 3, 2)
	r := openT(t, path, Options{}, nil)
	schema := r.(Schemer).Schema()
	for range 3 {
		row, err := r.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if &row.names[0] != &schema[0] {
			t.Fatal("rows do not share the schema's names")
		}
		if row.Source == nil || row.Source.Format != FormatParquet {
			t.Fatalf("row source %+v, want format parquet", row.Source)
		}
	}
	for range 2 {
		if _, err := r.Next(context.Background()); err != io.EOF {
			t.Fatalf("Next after the last row: %v, want io.EOF", err)
		}
	}
	r.Close()
	if _, err := r.Next(context.Background()); err == nil || err == io.EOF {
		t.Fatalf("Next after Close: %v, want an error", err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestParquetSelect(t *testing.T) {
	path := writeTypeFixture(t, t.TempDir(), 20, 8)
	tests := []struct {
		name   string
		sel    []string
		schema []string
	}{
		{"file order, unknown names ignored", []string{"ts_millis", "missing", "id"}, []string{"id", "ts_millis"}},
		{"nested and INT96 columns", []string{"items", "legacy", "attrs"}, []string{"legacy", "attrs", "items"}},
		{"a column with rejects", []string{"ratio", "id"}, []string{"id", "ratio"}},
		{"duplicates", []string{"event", "event"}, []string{"event"}},
		{"nothing the file has", []string{"missing"}, nil},
		{"nothing", []string{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := openT(t, path, Options{Select: tt.sel}, nil)
			if got := r.(Schemer).Schema(); !reflect.DeepEqual(got, tt.schema) {
				t.Fatalf("Schema() = %q, want %q", got, tt.schema)
			}
			items, err := readItems(t, r)
			if err != nil {
				t.Fatal(err)
			}
			if len(items) != 20 {
				t.Fatalf("read %d rows, want 20", len(items))
			}
			for i, it := range items {
				all, bad, reason, _ := wantTypeRow(i)
				if reason != "" && indexOf(tt.schema, bad) >= 0 {
					if it.Reason != reason {
						t.Errorf("row %d: %v, want a row error %s", i+1, it, reason)
					}
					continue
				}
				if it.Reason != "" {
					t.Errorf("row %d: unexpected row error %s", i+1, it.Err)
					continue
				}
				if len(it.Values) != len(tt.schema) {
					t.Fatalf("row %d: %d values for %d columns", i+1, len(it.Values), len(tt.schema))
				}
				for k, name := range tt.schema {
					want := all[indexOf(typeColumns, name)]
					if !reflect.DeepEqual(it.Values[k], want) {
						t.Errorf("row %d, column %s: %#v, want %#v", i+1, name, it.Values[k], want)
					}
				}
			}
		})
	}
	t.Run("empty name", func(t *testing.T) {
		_, err := Open(context.Background(), Source{Path: path}, Options{Select: []string{"id", ""}}, nil)
		if err == nil || err.Error() != "readers: Select[1]: empty column name" {
			t.Fatalf("Open: %v", err)
		}
	})
}

// TestParquetResumeAtEveryRow opens a file of many small row groups at the
// position of every row and row error and checks that it yields exactly
// the rest of an uninterrupted read.
func TestParquetResumeAtEveryRow(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		path string
		opts Options
		rows int
	}{
		{"types", writeTypeFixture(t, dir, 30, 7), Options{}, 30},
		{"types selected", writeTypeFixture(t, t.TempDir(), 30, 7), Options{Select: []string{"note", "legacy", "items"}}, 30},
		// Row group 0 is read in two batches.
		{"events over batch boundaries", eventsFile(t, 2600, 2100), Options{}, 2600},
	} {
		t.Run(c.name, func(t *testing.T) {
			full := mustReadAll(t, c.path, c.opts, nil)
			if len(full) != c.rows {
				t.Fatalf("read %d items, want %d", len(full), c.rows)
			}
			step := 1
			if c.rows > 100 {
				step = 151 // and each row next to a batch or row group boundary
			}
			for i := 0; i < len(full); i++ {
				if i%step != 0 && i%parquetBatchRows > 1 && i%2100 > 1 && (i+1)%2100 != 0 {
					continue
				}
				at := full[i].Pos
				got := mustReadAll(t, c.path, c.opts, &at)
				if len(got) != len(full)-i {
					t.Fatalf("resuming at %+v: %d items, want %d", at, len(got), len(full)-i)
				}
				diffItems(t, got, full[i:])
				if t.Failed() {
					t.FailNow()
				}
			}
		})
	}
}

func eventsFile(t testing.TB, rows, groupRows int) string {
	path := filepath.Join(t.TempDir(), "events.parquet")
	writeEventsParquet(t, path, rows, groupRows)
	return path
}

func TestParquetResumeBadPositions(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	writeTypeFixture(t, ".", 20, 8) // row groups: rows 1-8, 9-16, 17-20
	tests := []struct {
		name string
		at   Position
		want string
	}{
		{"no row", Position{RowGroup: 1}, "types.parquet: resume: invalid position (row 0)"},
		{"row group past the last", Position{Row: 21, RowGroup: 3}, "types.parquet: resume: row group 3 is not in the file, which has 3"},
		{"negative row group", Position{Row: 1, RowGroup: -1}, "types.parquet: resume: row group -1 is not in the file, which has 3"},
		{"row before its group", Position{Row: 8, RowGroup: 1}, "types.parquet: resume: row 8 is not in row group 1, which holds rows 9 to 16"},
		{"row after its group", Position{Row: 17, RowGroup: 1}, "types.parquet: resume: row 17 is not in row group 1, which holds rows 9 to 16"},
		{"past the end", Position{Row: 21, RowGroup: 2}, "types.parquet: resume: row 21 is not in row group 2, which holds rows 17 to 20"},
		{"a text position", Position{Row: 2, Line: 3, Offset: 40}, "types.parquet: resume: a Parquet position has no line or offset (line 3, offset 40)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := tt.at
			at.File = "types.parquet"
			_, err := Open(context.Background(), Source{Path: "types.parquet"}, Options{}, &at)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("Open: %v, want %q", err, tt.want)
			}
		})
	}
}

func TestParquetOpenErrors(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	good := writeTypeFixture(t, ".", 5, 5)
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		file string
		data []byte
		opts Options
		want string
	}{
		{"gzip-compressed", "e.parquet.gz", gzipped(t, data), Options{}, "e.parquet.gz: parquet: gzip-compressed Parquet files are not supported (Parquet compresses its pages itself): decompress the file first"},
		{"zstd-compressed, detected", "e.bin", zstded(t, data), Options{}, "e.bin: parquet: zstd-compressed Parquet files are not supported (Parquet compresses its pages itself): decompress the file first"},
		{"truncated footer", "t.parquet", data[:len(data)-3], Options{}, "t.parquet: parquet: the file is truncated or damaged: it does not end with PAR1"},
		{"no footer", "t.parquet", data[:100], Options{}, "t.parquet: parquet: the file is truncated or damaged: it does not end with PAR1"},
		{"not Parquet, forced", "e.csv", []byte("id,event,properties\n1,signup,{}\n"), Options{Format: FormatParquet}, "e.csv: parquet: not a Parquet file: it does not start with PAR1"},
		{"corrupt footer", "c.parquet", corruptFooter(data), Options{}, "c.parquet: parquet:"},
		{"empty", "z.parquet", nil, Options{}, "z.parquet: parquet: not a Parquet file: 0 bytes is too small"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			writeFile(t, ".", tt.file, tt.data)
			r, err := Open(context.Background(), Source{Path: tt.file}, tt.opts, nil)
			if err == nil {
				r.Close()
				t.Fatalf("Open succeeded, want %q", tt.want)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("Open: %v\nwant %q", err, tt.want)
			}
		})
	}
	t.Run("standard input", func(t *testing.T) {
		_, err := Open(context.Background(), Source{Path: "-", Format: FormatParquet}, Options{}, nil)
		if !errors.Is(err, ErrNeedsFile) || err.Error() != "standard input: "+errParquetNeedsFile.Error() {
			t.Fatalf("Open: %v", err)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		_, err := Open(context.Background(), Source{Path: "gone.parquet"}, Options{}, nil)
		if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "gone.parquet") {
			t.Fatalf("Open: %v", err)
		}
	})
}

// corruptFooter overwrites the middle of the footer's metadata.
func corruptFooter(data []byte) []byte {
	out := append([]byte(nil), data...)
	n := len(out)
	size := int(out[n-8]) | int(out[n-7])<<8 | int(out[n-6])<<16 | int(out[n-5])<<24
	for i := n - 8 - size/2; i < n-8-size/2+16; i++ {
		out[i] = 0xff
	}
	return out
}

// TestParquetCorruptData damages the file everywhere but in the footer and
// checks that reading ends, with rows, row errors and at most one error,
// and never panics.
func TestParquetCorruptData(t *testing.T) {
	dir := t.TempDir()
	src := writeTypeFixture(t, dir, 20, 10)
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	n := len(data)
	footer := int(data[n-8]) | int(data[n-7])<<8 | int(data[n-6])<<16 | int(data[n-5])<<24
	fatal := 0
	step := max(7, (n-footer)/60) // about 60 places, spread over the data
	for off := 4; off < n-8-footer; off += step {
		bad := append([]byte(nil), data...)
		bad[off] ^= 0x5a
		bad[off+1] ^= 0xa5
		path := writeFile(t, dir, "bad.parquet", bad)
		r, err := Open(context.Background(), Source{Path: path}, Options{}, nil)
		if err != nil {
			continue
		}
		items, err := readItems(t, r)
		r.Close()
		if err != nil {
			fatal++
			if !strings.Contains(err.Error(), "bad.parquet") {
				t.Fatalf("damage at %d: error without the file name: %v", off, err)
			}
			continue
		}
		if len(items) != 20 {
			t.Fatalf("damage at %d: %d rows and no error, want 20", off, len(items))
		}
	}
	if fatal == 0 {
		t.Fatal("no damage was ever detected")
	}
}

func TestParquetDetectedByContent(t *testing.T) {
	dir := t.TempDir()
	src := writeTypeFixture(t, dir, 12, 5)
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	path := writeFile(t, dir, "export", data)
	var progress atomic.Int64
	r := openT(t, path, Options{Progress: &progress}, nil)
	if _, ok := r.(Schemer); !ok {
		t.Fatal("the reader of a detected Parquet file is not a Schemer")
	}
	items, err := readItems(t, r)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 12 {
		t.Fatalf("read %d items, want 12", len(items))
	}
	if got := progress.Load(); got != int64(len(data)) {
		t.Fatalf("progress %d, want the file size %d", got, len(data))
	}
	srcs, err := Expand([]string{path}, Options{})
	if err != nil || len(srcs) != 1 || srcs[0].Format != FormatParquet {
		t.Fatalf("Expand: %+v, %v", srcs, err)
	}
}

func TestParquetProgress(t *testing.T) {
	path := eventsFile(t, 10_000, 1000)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	var progress atomic.Int64
	r := openT(t, path, Options{Progress: &progress}, nil)
	var (
		last  int64
		steps int
		at    Position
	)
	for i := 0; ; i++ {
		row, err := r.Next(context.Background())
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if i == 4500 {
			at = row.Pos
		}
		if p := progress.Load(); p != last {
			if p < last {
				t.Fatalf("progress went back from %d to %d", last, p)
			}
			last = p
			steps++
		}
	}
	if last = progress.Load(); last != fi.Size() {
		t.Fatalf("progress %d at the end, want the file size %d", last, fi.Size())
	}
	if steps < 9 {
		t.Fatalf("progress moved %d times over 10 row groups", steps)
	}
	var resumed atomic.Int64
	r2 := openT(t, path, Options{Progress: &resumed}, &at)
	if got := resumed.Load(); got <= 0 || got >= fi.Size()/2 {
		t.Fatalf("resuming in row group %d reports %d bytes read up front", at.RowGroup, got)
	}
	if _, err := readItems(t, r2); err != nil {
		t.Fatal(err)
	}
	if got := resumed.Load(); got != fi.Size() {
		t.Fatalf("resumed progress %d at the end, want %d", got, fi.Size())
	}
}

func TestParquetCancelled(t *testing.T) {
	path := eventsFile(t, 5000, 1000)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Open(ctx, Source{Path: path}, Options{}, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Open with a cancelled context: %v", err)
	}
	r := openT(t, path, Options{}, nil)
	if _, err := r.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Next with a cancelled context: %v", err)
	}
	// The reader goes on with a live context.
	n := 0
	for {
		_, err := r.Next(context.Background())
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
		if n == 2500 {
			if _, err := r.Next(ctx); !errors.Is(err, context.Canceled) {
				n++
				// Next checks the context when it loads a batch or
				// every 64 calls; either way it must not be lost.
				for range 64 {
					if _, err = r.Next(ctx); errors.Is(err, context.Canceled) {
						break
					}
					if err != nil {
						t.Fatal(err)
					}
					n++
				}
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("Next with a cancelled context mid-file: %v", err)
				}
			}
		}
	}
	if n != 5000 {
		t.Fatalf("read %d rows around the cancellations, want 5000", n)
	}
}

func TestParquetTimestampsAsMapped(t *testing.T) {
	// A naive timestamp keeps its wall clock and has no zone, so that the
	// mapping's timezone applies; a UTC-adjusted one is an instant.
	path := writeTypeFixture(t, t.TempDir(), 1, 1)
	r := openT(t, path, Options{Select: []string{"ts_millis", "local"}}, nil)
	row, err := r.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if ts, ok := row.values[0].(time.Time); !ok || ts.Location() != time.UTC || !ts.Equal(baseTime) {
		t.Fatalf("ts_millis = %#v, want %v in UTC", row.values[0], baseTime)
	}
	if local, ok := row.Value(1).(string); !ok || local != "2024-03-01T12:00:00.123" {
		t.Fatalf("local = %#v, want the string 2024-03-01T12:00:00.123", row.Value(1))
	}
}

// TestParquetWithoutExtensionIgnoresEncoding opens a Parquet file whose
// name says nothing, with a text encoding configured: its content says
// Parquet, which the encoding does not apply to.
func TestParquetWithoutExtensionIgnoresEncoding(t *testing.T) {
	dir := t.TempDir()
	path := writeTypeFixture(t, dir, 3, 2)
	plain := filepath.Join(dir, "export.dat")
	if err := os.Rename(path, plain); err != nil {
		t.Fatal(err)
	}
	want := mustReadAll(t, plain, Options{}, nil)
	for _, enc := range []string{"utf-16le", "latin1"} {
		r := openT(t, plain, Options{Encoding: enc}, nil)
		if _, ok := r.(Schemer); !ok {
			t.Fatalf("--encoding %s: the file is not read as Parquet (%T)", enc, r)
		}
		got := mustReadAll(t, plain, Options{Encoding: enc}, nil)
		if len(got) != 3 {
			t.Fatalf("--encoding %s: %d rows, want 3", enc, len(got))
		}
		diffItems(t, got, want)
	}
}
