package mappings

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/backfillhq/backfill/readers"
	"github.com/backfillhq/backfill/sink"
)

var update = flag.Bool("update", false, "rewrite the want.ndjson files of the golden tests")

// goldenDir is where the golden cases live, relative to this package.
const goldenDir = "../testdata/mappings"

// TestGolden maps the input of each case under testdata/mappings, encodes
// each message with sink.AppendMessage, and compares the result, line by
// line and as JSON, with want.ndjson. A row that is refused appears as
// {"reject": reason, "error": message}. Run with -update to rewrite the
// want files.
func TestGolden(t *testing.T) {
	cases := []struct {
		name  string
		input string
		rows  func(t *testing.T, data []byte) []*readers.Row
	}{
		{"csv_basic", "input.csv", goldenCSVRows},
		{"ndjson_passthrough", "input.ndjson", goldenNDJSONRows},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(goldenDir, c.name)
			data, err := os.ReadFile(filepath.Join(dir, c.input))
			if err != nil {
				t.Fatal(err)
			}
			rows := c.rows(t, data)
			m := Passthrough(Options{})
			spec, err := LoadSpec(filepath.Join(dir, "mapping.yaml"))
			switch {
			case err == nil:
				var schema []string // NDJSON: schemaless
				if strings.HasSuffix(c.input, ".csv") && len(rows) > 0 {
					schema = rows[0].Names
				}
				if m, err = spec.Compile(schema, Options{}); err != nil {
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
}

// goldenLine maps one row and returns its encoded message or its reject.
func goldenLine(t *testing.T, m Mapper, row *readers.Row) []byte {
	t.Helper()
	reject := func(err error) []byte {
		b, _ := json.Marshal(map[string]string{"reject": reasonOf(err), "error": err.Error()})
		return b
	}
	var msg sink.Message
	if err := m.Map(row, &msg); err != nil {
		if reasonOf(err) == "" {
			t.Fatalf("Map error without a reason: %v", err)
		}
		return reject(err)
	}
	if err := sink.Validate(&msg); err != nil {
		return reject(err)
	}
	b, err := sink.AppendMessage(nil, &msg)
	if err != nil {
		return reject(err)
	}
	return b
}

// goldenSource is the source of golden rows: a fixed fingerprint keeps
// derived messageIds stable.
var goldenSource = &readers.Source{Fingerprint: "90d3e1f0c0ffee00112233445566778899aabbcc"}

// goldenCSVRows splits a CSV file without quotes into rows.
func goldenCSVRows(t *testing.T, data []byte) []*readers.Row {
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	header := strings.Split(lines[0], ",")
	src := *goldenSource
	src.Path, src.Format = "input.csv", readers.FormatCSV
	var rows []*readers.Row
	for i, line := range lines[1:] {
		fields := strings.Split(line, ",")
		if len(fields) != len(header) {
			t.Fatalf("input.csv:%d: %d fields, want %d", i+2, len(fields), len(header))
		}
		values := make([]any, len(fields))
		for j, f := range fields {
			values[j] = f
		}
		rows = append(rows, &readers.Row{
			Pos:    readers.Position{File: "input.csv", Row: int64(i + 1), Line: int64(i + 2)},
			Source: &src,
			Raw:    []byte(line),
			Names:  header,
			Values: values,
		})
	}
	return rows
}

// goldenNDJSONRows splits an NDJSON file into rows of raw members.
func goldenNDJSONRows(t *testing.T, data []byte) []*readers.Row {
	src := *goldenSource
	src.Path, src.Format = "input.ndjson", readers.FormatNDJSON
	var rows []*readers.Row
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := int64(1); sc.Scan(); n++ {
		line := append([]byte(nil), sc.Bytes()...)
		names, values, err := splitObject(line)
		if err != nil {
			t.Fatalf("input.ndjson:%d: %v", n, err)
		}
		rows = append(rows, &readers.Row{
			Pos:    readers.Position{File: "input.ndjson", Row: n, Line: n},
			Source: &src,
			Raw:    line,
			Names:  names,
			Values: values,
		})
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
