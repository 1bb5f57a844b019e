package readers

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// sourceTree writes a tree of inputs into the current directory.
func sourceTree(t *testing.T) {
	t.Helper()
	files := map[string]string{
		"data/a.csv":                "a\n1\n",
		"data/b.ndjson":             "{\"a\":1}\n",
		"data/sub/c.json":           "[]",
		"data/sub/deep/d.csv.gz":    "a\n1\n",
		"data/sub/deep/e.jsonl":     "{}\n",
		"data/.hidden.csv":          "a\n",
		"data/.git/x.csv":           "a\n",
		"data/.backfill/state.json": "{}",
		"data/a.rejects.ndjson":     "{}\n",
		"data/sub/e.rejects.ndjson": "{}\n",
		"other/z.tsv":               "a\tb\n",
		"other/export":              " {\"a\":1}\n",
		"other/plain":               "x,y\n",
		"bin/blob":                  "\x00\x01",
	}
	for name, content := range files {
		writeFile(t, ".", name, []byte(content))
	}
	if err := os.MkdirAll("empty", 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestExpand(t *testing.T) {
	t.Chdir(t.TempDir())
	sourceTree(t)
	folder := []string{"data/a.csv", "data/b.ndjson", "data/sub/c.json", "data/sub/deep/d.csv.gz", "data/sub/deep/e.jsonl"}
	tests := []struct {
		name  string
		args  []string
		opts  Options
		paths []string
		err   string
	}{
		{name: "folder", args: []string{"data"}, paths: folder},
		{name: "folder with a trailing slash", args: []string{"data/"}, paths: []string{"data/a.csv", "data/b.ndjson", "data/sub/c.json", "data/sub/deep/d.csv.gz", "data/sub/deep/e.jsonl"}},
		{name: "glob", args: []string{"data/*.csv"}, paths: []string{"data/a.csv"}},
		{name: "glob with **", args: []string{"data/**/*.csv*"}, paths: []string{"data/a.csv", "data/sub/deep/d.csv.gz"}},
		{name: "** alone", args: []string{"data/**"}, paths: folder},
		{name: "** in the middle", args: []string{"**/deep/*"}, paths: []string{"data/sub/deep/d.csv.gz", "data/sub/deep/e.jsonl"}},
		{name: "glob matching a folder reads it", args: []string{"data/s?b"}, paths: []string{"data/sub/c.json", "data/sub/deep/d.csv.gz", "data/sub/deep/e.jsonl"}},
		{name: "glob naming hidden files", args: []string{"data/.*.csv"}, paths: []string{"data/.hidden.csv"}},
		{name: "explicit files are always used", args: []string{"data/.hidden.csv", "data/a.rejects.ndjson", "data/.backfill/state.json"},
			paths: []string{"data/.hidden.csv", "data/a.rejects.ndjson", "data/.backfill/state.json"}},
		{name: "arguments keep their order, duplicates listed once", args: []string{"other/z.tsv", "data/*.csv", "./data/a.csv", "data", "other/z.tsv"},
			paths: []string{"other/z.tsv", "data/a.csv", "data/b.ndjson", "data/sub/c.json", "data/sub/deep/d.csv.gz", "data/sub/deep/e.jsonl"}},
		{name: "stdin", args: []string{"data/a.csv", "-"}, paths: []string{"data/a.csv", "-"}},
		{name: "stdin twice", args: []string{"-", "data/a.csv", "-"}, err: `"-" (standard input) is given more than once`},
		{name: "missing file", args: []string{"data/a.csv", "data/missing.csv"}, err: "stat data/missing.csv: no such file or directory"},
		{name: "glob matching nothing", args: []string{"data/*.parquet"}, err: "glob data/*.parquet: no files match"},
		{name: "glob under a missing folder", args: []string{"nowhere/**/*.csv"}, err: "glob nowhere/**/*.csv: no files match"},
		{name: "bad glob", args: []string{"data/[.csv"}, err: "glob data/[.csv: syntax error in pattern"},
		{name: "empty folder", args: []string{"empty"}, err: "folder empty: no files found"},
		{name: "undetectable content", args: []string{"bin"}, err: "bin/blob: cannot detect the format: the content is not CSV, NDJSON or Parquet (name the format)"},
		{name: "forced format skips detection", args: []string{"bin"}, opts: Options{Format: FormatCSV}, paths: []string{"bin/blob"}},
		{name: "no arguments", args: nil, err: "no sources given"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sources, err := Expand(tt.args, tt.opts)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("Expand: %v, want error %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var paths []string
			for _, s := range sources {
				paths = append(paths, filepath.ToSlash(s.Path))
			}
			if !reflect.DeepEqual(paths, tt.paths) {
				t.Fatalf("paths\n got %q\nwant %q", paths, tt.paths)
			}
		})
	}
}

func TestExpandMissingIsNotExist(t *testing.T) {
	_, err := Expand([]string{filepath.Join(t.TempDir(), "missing.csv")}, Options{})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Expand: %v, want fs.ErrNotExist", err)
	}
}

func TestExpandDescribesSources(t *testing.T) {
	t.Chdir(t.TempDir())
	sourceTree(t)
	sources, err := Expand([]string{"other", "data/sub/deep/d.csv.gz", "data/sub/c.json", "-"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"other/export":           FormatNDJSON,
		"other/plain":            FormatCSV,
		"other/z.tsv":            FormatCSV,
		"data/sub/deep/d.csv.gz": FormatCSV,
		"data/sub/c.json":        FormatNDJSON,
		"-":                      "",
	}
	if len(sources) != len(want) {
		t.Fatalf("%d sources, want %d: %+v", len(sources), len(want), sources)
	}
	for _, s := range sources {
		f, ok := want[s.Path]
		if !ok {
			t.Errorf("unexpected source %s", s.Path)
			continue
		}
		if s.Format != f {
			t.Errorf("%s: format %q, want %q", s.Path, s.Format, f)
		}
		if s.Path == "-" {
			if s.Fingerprint != "" || s.Size != 0 {
				t.Errorf("stdin has fingerprint %q and size %d", s.Fingerprint, s.Size)
			}
			continue
		}
		fp, size, err := Fingerprint(s.Path)
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := os.Stat(s.Path)
		if s.Fingerprint != fp || s.Size != size || size != fi.Size() {
			t.Errorf("%s: fingerprint %q size %d, want %q %d", s.Path, s.Fingerprint, s.Size, fp, fi.Size())
		}
	}
}

func TestExpandSymlinkDuplicates(t *testing.T) {
	t.Chdir(t.TempDir())
	writeFile(t, ".", "data/a.csv", []byte("a\n1\n"))
	if err := os.Symlink("data", "link"); err != nil {
		t.Skip("no symlinks:", err)
	}
	sources, err := Expand([]string{"data/a.csv", "link/a.csv"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(sources) != 1 || sources[0].Path != "data/a.csv" {
		t.Fatalf("sources %+v, want data/a.csv once", sources)
	}
}

func TestFingerprint(t *testing.T) {
	dir := t.TempDir()
	big := []byte(strings.Repeat("0123456789abcdef", 20000)) // 320 KB
	base, _, err := Fingerprint(writeFile(t, dir, "base", big))
	if err != nil {
		t.Fatal(err)
	}
	if len(base) != 32 {
		t.Fatalf("fingerprint %q is not 32 hex digits", base)
	}
	change := func(i int) []byte {
		b := []byte(string(big))
		b[i] ^= 1
		return b
	}
	tests := []struct {
		name string
		data []byte
		same bool
	}{
		{"same content", big, true},
		{"first byte changed", change(0), false},
		{"last byte changed", change(len(big) - 1), false},
		{"byte within the last 64 KiB changed", change(len(big) - 60000), false},
		{"middle byte changed", change(len(big) / 2), true},
		{"one byte longer", append([]byte(string(big)), '\n'), false},
		{"empty", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fp, size, err := Fingerprint(writeFile(t, t.TempDir(), "f", tt.data))
			if err != nil {
				t.Fatal(err)
			}
			if size != int64(len(tt.data)) {
				t.Errorf("size %d, want %d", size, len(tt.data))
			}
			if (fp == base) != tt.same {
				t.Errorf("fingerprint %s vs %s: same = %v, want %v", fp, base, fp == base, tt.same)
			}
		})
	}
	if _, _, err := Fingerprint(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Fingerprint of a missing file: %v", err)
	}
}
