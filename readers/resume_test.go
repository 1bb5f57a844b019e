package readers

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// compressions are the ways a test file is stored.
var compressions = []struct {
	name string
	ext  string
	pack func(t testing.TB, data []byte) []byte
}{
	{"plain", "", func(t testing.TB, data []byte) []byte { return data }},
	{"gzip", ".gz", func(t testing.TB, data []byte) []byte {
		// Several members, split at odd places.
		a, b := len(data)/3, 2*len(data)/3
		return gzipped(t, data[:a], data[a:b], data[b:])
	}},
	{"zstd", ".zst", zstded},
	{"bzip2", ".bz2", bzip2ed},
}

// TestResumeAtEveryRow opens each sample at the position of every row and
// row error of an uninterrupted read and checks that it yields exactly the
// rest of that read.
func TestResumeAtEveryRow(t *testing.T) {
	samples := []struct {
		file  string
		opts  Options
		items int // rows and row errors of an uninterrupted read
	}{
		{"quoted.csv", Options{}, 15},
		{"quoted.csv", Options{MaxLineBytes: 64}, 43},
		{"mixed.ndjson", Options{}, 9},
		{"mixed.ndjson", Options{MaxLineBytes: 64}, 9},
		{"array.json", Options{}, 7},
		{"array.json", Options{MaxLineBytes: 64}, 7},
	}
	for _, sample := range samples {
		data, err := os.ReadFile(filepath.Join("..", "testdata", "readers", sample.file))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range compressions {
			name := fmt.Sprintf("%s/max=%d/%s", sample.file, sample.opts.MaxLineBytes, c.name)
			t.Run(name, func(t *testing.T) {
				path := writeFile(t, t.TempDir(), sample.file+c.ext, c.pack(t, data))
				full := mustReadAll(t, path, sample.opts, nil)
				if len(full) != sample.items {
					for _, it := range full {
						t.Log(it)
					}
					t.Fatalf("read %d items, want %d", len(full), sample.items)
				}
				for i := range full {
					at := full[i].Pos
					got := mustReadAll(t, path, sample.opts, &at)
					if len(got) != len(full)-i {
						t.Errorf("resuming at %v: %d items, want %d", at, len(got), len(full)-i)
					}
					diffItems(t, got, full[i:])
				}
			})
		}
	}
}

// TestResumeLargeFile checks resuming in files that span many buffers,
// where a resumed read frames records at buffer boundaries different from
// the uninterrupted one.
func TestResumeLargeFile(t *testing.T) {
	var csv, nd bytes.Buffer
	csv.WriteString("id,text\n")
	for i := range 15000 {
		switch i % 7 {
		case 0:
			fmt.Fprintf(&csv, "%d,\"multi\nline %d\"\n", i, i)
		case 3:
			fmt.Fprintf(&csv, "%d,%s\n", i, strings.Repeat("y", i%500))
		case 5:
			fmt.Fprintf(&csv, "%d,\"\"\"q\"\" %d\"\r\n\n", i, i)
		default:
			fmt.Fprintf(&csv, "%d,plain %d\n", i, i)
		}
		switch i % 5 {
		case 0:
			fmt.Fprintf(&nd, "{\"id\":%d,\"s\":%q}\n\n", i, strings.Repeat("z", i%700))
		case 2:
			fmt.Fprintf(&nd, "{\"id\":%d,]\n", i)
		default:
			fmt.Fprintf(&nd, "{\"id\":%d}\n", i)
		}
	}
	opts := Options{MaxLineBytes: 400}
	for _, sample := range []struct {
		file string
		data []byte
	}{{"big.csv", csv.Bytes()}, {"big.ndjson", nd.Bytes()}} {
		for _, c := range compressions {
			t.Run(sample.file+"/"+c.name, func(t *testing.T) {
				path := writeFile(t, t.TempDir(), sample.file+c.ext, c.pack(t, sample.data))
				full := mustReadAll(t, path, opts, nil)
				if len(full) != 15000 {
					t.Fatalf("read %d items, want 15000", len(full))
				}
				for i := 0; i < len(full); i += 1999 {
					r := openT(t, path, opts, &full[i].Pos)
					var got []item
					for range 5 {
						items, err := readN(r, 1)
						if err != nil || len(items) == 0 {
							break
						}
						got = append(got, items...)
					}
					diffItems(t, got, full[i:min(i+5, len(full))])
				}
			})
		}
	}
}

// readN reads up to n items.
func readN(r Reader, n int) ([]item, error) {
	var items []item
	for range n {
		row, err := r.Next(context.Background())
		if re, ok := err.(*RowError); ok {
			items = append(items, item{Pos: re.Pos, Raw: string(re.Raw), Reason: re.Reason, Err: re.Err.Error()})
			continue
		}
		if err != nil {
			return items, err
		}
		items = append(items, item{Pos: row.Pos, Raw: string(row.Raw), Names: row.Names(), Values: row.AllValues()})
	}
	return items, nil
}

func TestResumeBadPositions(t *testing.T) {
	dir := t.TempDir()
	csv := "a,b\n1,2\n3,4\n"
	nd := "{\"a\":1}\n{\"a\":2}\n"
	tests := []struct {
		name    string
		file    string
		content string
		at      Position
		want    string
	}{
		{"csv mid-row", "e.csv", csv, Position{Row: 1, Line: 2, Offset: 5}, "e.csv: resume: offset 5 is not the start of a row"},
		{"csv header", "e.csv", csv, Position{Row: 1, Line: 1, Offset: 0}, "e.csv: resume: offset 0 is before the first row (offset 4)"},
		{"csv past the end", "e.csv.gz", csv, Position{Row: 9, Line: 9, Offset: 100}, "e.csv.gz: resume: offset 100 is past the end of the file"},
		{"ndjson mid-line", "e.ndjson", nd, Position{Row: 1, Line: 1, Offset: 3}, "e.ndjson: resume: offset 3 is not the start of a row"},
		{"ndjson past the end", "e.ndjson", nd, Position{Row: 9, Line: 9, Offset: 100}, "e.ndjson: resume: offset 100 is past the end of the file"},
		{"no row", "e.ndjson", nd, Position{Offset: 8}, "e.ndjson: resume: invalid position (row 0, line 0)"},
	}
	t.Chdir(dir)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := []byte(tt.content)
			if strings.HasSuffix(tt.file, ".gz") {
				data = gzipped(t, data)
			}
			writeFile(t, ".", tt.file, data)
			_, err := Open(context.Background(), Source{Path: tt.file}, Options{}, &tt.at)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("Open: %v, want %q", err, tt.want)
			}
		})
	}
}
