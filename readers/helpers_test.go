package readers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// item is one result of Next: a row or a row error.
type item struct {
	Pos    Position
	Raw    string
	Names  []string
	Values []any
	Reason string // set for a row error
	Err    string
}

func (it item) String() string {
	p := fmt.Sprintf("{%s row %d line %d offset %d}", it.Pos.File, it.Pos.Row, it.Pos.Line, it.Pos.Offset)
	if it.Reason != "" {
		return fmt.Sprintf("%s %s %q (%s)", p, it.Reason, it.Raw, it.Err)
	}
	return fmt.Sprintf("%s %q %q=%#v", p, it.Raw, it.Names, it.Values)
}

// writeFile writes data to name in dir and returns its path.
func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// gzipped compresses each part as its own gzip member.
func gzipped(t testing.TB, parts ...[]byte) []byte {
	t.Helper()
	var out bytes.Buffer
	for _, p := range parts {
		zw := gzip.NewWriter(&out)
		if _, err := zw.Write(p); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return out.Bytes()
}

func zstded(t testing.TB, data []byte) []byte {
	t.Helper()
	zw, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer zw.Close()
	return zw.EncodeAll(data, nil)
}

func openT(t testing.TB, path string, opts Options, at *Position) Reader {
	t.Helper()
	r, err := Open(context.Background(), Source{Path: path}, opts, at)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// readItems reads r to the end. A fatal error ends the test unless
// wantFatal is set, in which case it is returned.
func readItems(t testing.TB, r Reader) ([]item, error) {
	t.Helper()
	var items []item
	for range 1_000_000 {
		row, err := r.Next(context.Background())
		if err == io.EOF {
			return items, nil
		}
		var re *RowError
		if errors.As(err, &re) {
			if re.Pos.File == "" {
				t.Fatalf("row error without position: %v", re)
			}
			items = append(items, item{Pos: re.Pos, Raw: string(re.Raw), Reason: re.Reason, Err: re.Err.Error()})
			continue
		}
		if err != nil {
			return items, err
		}
		if row.Source == nil {
			t.Fatalf("row %v has no Source", row.Pos)
		}
		if len(row.names) != len(row.values) {
			t.Fatalf("row %v: %d names, %d values", row.Pos, len(row.names), len(row.values))
		}
		items = append(items, item{Pos: row.Pos, Raw: string(row.Raw), Names: row.Names(), Values: row.AllValues()})
	}
	t.Fatal("reader does not end")
	return nil, nil
}

func mustReadAll(t testing.TB, path string, opts Options, at *Position) []item {
	t.Helper()
	items, err := readItems(t, openT(t, path, opts, at))
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return items
}

func diffItems(t testing.TB, got, want []item) {
	t.Helper()
	for i := 0; i < max(len(got), len(want)); i++ {
		switch {
		case i >= len(got):
			t.Errorf("item %d missing, want %v", i, want[i])
		case i >= len(want):
			t.Errorf("item %d extra: %v", i, got[i])
		case !reflect.DeepEqual(normalize(got[i]), normalize(want[i])):
			t.Errorf("item %d:\n got %v\nwant %v", i, got[i], want[i])
		}
	}
}

// normalize lets nil and empty Names compare equal and turns raw JSON
// values into strings.
func normalize(it item) item {
	if len(it.Names) == 0 {
		it.Names = nil
	}
	if len(it.Values) == 0 {
		it.Values = nil
	}
	vals := make([]any, len(it.Values))
	for i, v := range it.Values {
		if raw, ok := v.([]byte); ok {
			v = "raw:" + string(raw)
		}
		if raw, ok := v.(interface{ MarshalJSON() ([]byte, error) }); ok {
			b, _ := raw.MarshalJSON()
			v = "raw:" + string(b)
		}
		vals[i] = v
	}
	if it.Values != nil {
		it.Values = vals
	}
	return it
}

func pos(file string, row, line, offset int64) Position {
	return Position{File: file, Row: row, Line: line, Offset: offset}
}

// strs builds a []any of strings.
func strs(v ...string) []any {
	out := make([]any, len(v))
	for i, s := range v {
		out[i] = s
	}
	return out
}

func errStr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
