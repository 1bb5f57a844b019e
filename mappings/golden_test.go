package mappings

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/backfillhq/backfill/readers"
	"github.com/backfillhq/backfill/sink"
)

var update = flag.Bool("update", false, "rewrite the want.ndjson files of the golden tests")

// goldenDir is where the golden cases live, relative to this package.
const goldenDir = "../testdata/mappings"

// goldenNow is the current time of every golden case, unless its
// options.json says otherwise: future timestamps are judged against it.
var goldenNow = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)

// goldenOptions is the optional options.json of a case.
type goldenOptions struct {
	Since           string `json:"since"`
	Until           string `json:"until"`
	Now             string `json:"now"`
	FutureTolerance string `json:"future_tolerance"`
}

// TestGolden maps the input of each case under testdata/mappings (a
// folder with input.csv or input.ndjson, and mapping.yaml; a folder named
// preset_NAME uses the preset NAME and no mapping.yaml; none of either
// means passthrough) into a sink.MessageWriter, and compares the result, line by line and as JSON, with want.ndjson. A row
// that is refused appears as {"reject": reason, "error": message}, a row
// left out by the time window as {"filtered": message}. Run with -update
// to rewrite the want files.
func TestGolden(t *testing.T) {
	entries, err := os.ReadDir(goldenDir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if !e.IsDir() || isParquetCase(filepath.Join(goldenDir, e.Name())) {
			continue // Parquet cases: TestGoldenParquet
		}
		n++
		name := e.Name()
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(goldenDir, name)
			rows, schema := goldenRows(t, dir)
			opts := loadGoldenOptions(t, dir)
			m := Passthrough(opts)
			var spec *Spec
			var err error
			if preset, ok := strings.CutPrefix(name, "preset_"); ok {
				spec, err = LoadSpec("preset:" + preset)
			} else {
				spec, err = LoadSpec(filepath.Join(dir, "mapping.yaml"))
			}
			switch {
			case err == nil:
				if m, err = spec.Compile(schema, opts); err != nil {
					t.Fatal(err)
				}
			case !errors.Is(err, fs.ErrNotExist):
				t.Fatal(err)
			}

			var got bytes.Buffer
			for _, row := range rows {
				got.Write(goldenLine(t, m, row))
				got.WriteByte('\n')
			}
			// The rows mapped into one reused writer give the same
			// messages.
			var again bytes.Buffer
			w := sink.NewMessageWriter(sink.Limits{})
			for _, row := range rows {
				w.Reset(w.Bytes())
				again.Write(goldenMap(t, m, row, w))
				again.WriteByte('\n')
			}
			if !bytes.Equal(again.Bytes(), got.Bytes()) {
				t.Errorf("the rows, mapped into a reused writer, give\n%s\nwant\n%s", again.Bytes(), got.Bytes())
			}
			wantPath := filepath.Join(dir, "want.ndjson")
			if *update {
				if err := os.WriteFile(wantPath, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(wantPath)
			if err != nil {
				t.Fatalf("%v (run with -update to write it)", err)
			}
			compareNDJSON(t, got.Bytes(), want)
		})
	}
	if n < 30 {
		t.Errorf("%d golden cases, want every case the package documents", n)
	}
}

// goldenRowsIfAny reports whether dir holds a golden case's input.
func goldenRowsIfAny(dir string) (bool, error) {
	for _, name := range []string{"input.csv", "input.ndjson"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return true, nil
		}
	}
	return false, fs.ErrNotExist
}

// goldenRows reads the input of a case, and the schema for CSV.
func goldenRows(t *testing.T, dir string) ([]*readers.Row, []string) {
	t.Helper()
	if data, err := os.ReadFile(filepath.Join(dir, "input.csv")); err == nil {
		rows := goldenCSVRows(t, data)
		return rows, rows[0].Names()
	}
	data, err := os.ReadFile(filepath.Join(dir, "input.ndjson"))
	if err != nil {
		t.Fatalf("no input.csv or input.ndjson: %v", err)
	}
	return goldenNDJSONRows(t, data), nil
}

func loadGoldenOptions(t *testing.T, dir string) Options {
	t.Helper()
	opts := Options{Now: func() time.Time { return goldenNow }}
	data, err := os.ReadFile(filepath.Join(dir, "options.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return opts
	}
	if err != nil {
		t.Fatal(err)
	}
	var g goldenOptions
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatalf("options.json: %v", err)
	}
	bound := func(s string) time.Time {
		if s == "" {
			return time.Time{}
		}
		b, err := ParseTimeBound(s)
		if err != nil {
			t.Fatalf("options.json: %v", err)
		}
		return b
	}
	opts.Since, opts.Until = bound(g.Since), bound(g.Until)
	if g.Now != "" {
		now := bound(g.Now)
		opts.Now = func() time.Time { return now }
	}
	if g.FutureTolerance != "" {
		if opts.FutureTolerance, err = time.ParseDuration(g.FutureTolerance); err != nil {
			t.Fatalf("options.json: %v", err)
		}
	}
	return opts
}

// goldenLine maps one row and returns its message or its reject.
func goldenLine(t *testing.T, m Mapper, row *readers.Row) []byte {
	t.Helper()
	var w sink.MessageWriter
	return goldenMap(t, m, row, &w)
}

// goldenMap maps one row into w and returns its outcome: its message, or
// for a MultiMapper each of its messages on a line of its own.
func goldenMap(t *testing.T, m Mapper, row *readers.Row, w *sink.MessageWriter) []byte {
	t.Helper()
	mm, ok := m.(MultiMapper)
	if !ok {
		return goldenOutcome(t, m.Map(row, w), w.Bytes())
	}
	start := w.Len()
	msgs, _, err := mm.MapMessages(row, w, nil)
	if err != nil || len(msgs) == 0 {
		return goldenOutcome(t, err, w.Bytes()[start:])
	}
	var out []byte
	for i, rm := range msgs {
		if i > 0 {
			out = append(out, '\n')
		}
		out = append(out, w.Bytes()[start:rm.End]...)
		start = rm.End
	}
	return out
}

// goldenOutcome is the line of a row mapped to the message msg, or
// refused with err.
func goldenOutcome(t *testing.T, err error, msg []byte) []byte {
	t.Helper()
	if err != nil {
		if errors.Is(err, ErrFiltered) {
			b, _ := json.Marshal(map[string]string{"filtered": err.Error()})
			return b
		}
		if reasonOf(err) == "" {
			t.Fatalf("Map error without a reason: %v", err)
		}
		b, _ := json.Marshal(map[string]string{"reject": reasonOf(err), "error": err.Error()})
		return b
	}
	return bytes.Clone(msg)
}

// goldenSource is the source of golden rows: a fixed fingerprint keeps
// derived messageIds stable.
var goldenSource = &readers.Source{Fingerprint: "90d3e1f0c0ffee00112233445566778899aabbcc"}

// goldenCSVRows reads a CSV file with a header into rows of strings, as
// the CSV reader makes them.
func goldenCSVRows(t *testing.T, data []byte) []*readers.Row {
	t.Helper()
	src := *goldenSource
	src.Path, src.Format = "input.csv", readers.FormatCSV
	r := csv.NewReader(bytes.NewReader(data))
	r.ReuseRecord = false
	header, err := r.Read()
	if err != nil {
		t.Fatalf("input.csv: %v", err)
	}
	var rows []*readers.Row
	for n := int64(1); ; n++ {
		offset := r.InputOffset()
		record, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("input.csv: %v", err)
		}
		line, _ := r.FieldPos(0)
		values := make([]any, len(record))
		for j, f := range record {
			values[j] = f
		}
		rows = append(rows, newRow(readers.Position{File: "input.csv", Row: n, Line: int64(line), Offset: offset},
			&src, []byte(strings.Join(record, ",")), header, values))
	}
	if len(rows) == 0 {
		t.Fatal("input.csv has no rows")
	}
	return rows
}

// goldenNDJSONRows splits an NDJSON file into rows of raw members.
func goldenNDJSONRows(t *testing.T, data []byte) []*readers.Row {
	t.Helper()
	src := *goldenSource
	src.Path, src.Format = "input.ndjson", readers.FormatNDJSON
	var rows []*readers.Row
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for n := int64(1); sc.Scan(); n++ {
		line := append([]byte(nil), sc.Bytes()...)
		names, values, err := splitObject(line)
		if err != nil {
			t.Fatalf("input.ndjson:%d: %v", n, err)
		}
		rows = append(rows, newRow(readers.Position{File: "input.ndjson", Row: n, Line: n}, &src, line, names, values))
	}
	return rows
}

// compareNDJSON compares two NDJSON texts line by line, as JSON values.
func compareNDJSON(t *testing.T, got, want []byte) {
	t.Helper()
	g := bytes.Split(bytes.TrimRight(got, "\n"), []byte("\n"))
	w := bytes.Split(bytes.TrimRight(want, "\n"), []byte("\n"))
	if len(g) != len(w) {
		t.Errorf("%d lines, want %d", len(g), len(w))
	}
	for i := 0; i < len(g) && i < len(w); i++ {
		gv, err := decodeJSON(g[i])
		if err != nil {
			t.Fatalf("line %d: got invalid JSON %s: %v", i+1, g[i], err)
		}
		wv, err := decodeJSON(w[i])
		if err != nil {
			t.Fatalf("line %d: want.ndjson has invalid JSON: %v", i+1, err)
		}
		if !reflect.DeepEqual(gv, wv) {
			t.Errorf("line %d:\n got %s\nwant %s", i+1, g[i], w[i])
		}
	}
}

func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}
