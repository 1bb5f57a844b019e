package readers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"sync/atomic"
	"testing"
)

// csvSample is a CSV file of n rows, large enough to span buffers when n
// is large; its content does not compress away.
func csvSample(n int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	var b bytes.Buffer
	b.WriteString("id,event,note\n")
	for i := range n {
		fmt.Fprintf(&b, "%d,ev%x,\"n%x\"\n", i, rng.Uint64(), rng.Uint64())
	}
	return b.Bytes()
}

func TestCompression(t *testing.T) {
	plain := []byte("a,b\n1,2\n3,4\n")
	want := func(path string) []item {
		h := []string{"a", "b"}
		return []item{
			{Pos: pos(path, 1, 2, 4), Raw: "1,2", Names: h, Values: strs("1", "2")},
			{Pos: pos(path, 2, 3, 8), Raw: "3,4", Names: h, Values: strs("3", "4")},
		}
	}
	tests := []struct {
		name string
		file string
		data []byte
	}{
		{"gzip", "events.csv.gz", gzipped(t, plain)},
		{"multi-member gzip split inside a record", "events.csv.gz", gzipped(t, plain[:6], plain[6:9], plain[9:])},
		{"zstd", "events.csv.zst", zstded(t, plain)},
		{"zstd frames", "events.csv.zstd", append(zstded(t, plain[:6]), zstded(t, plain[6:])...)},
		{"gzip without the extension", "events.csv", gzipped(t, plain)},
		{"zstd without the extension", "events.csv", zstded(t, plain)},
		{"plain with a .gz extension", "events.csv.gz", plain},
		{"gzip detected by content", "events.data", gzipped(t, plain)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), tt.file, tt.data)
			diffItems(t, mustReadAll(t, path, Options{}, nil), want(path))
		})
	}
}

func TestCorruptCompression(t *testing.T) {
	data := csvSample(8000)
	gz := gzipped(t, data)
	zs := zstded(t, data)
	corrupt := bytes.Clone(gz)
	for i := len(corrupt) / 2; i < len(corrupt)/2+64; i++ {
		corrupt[i] ^= 0x5a
	}
	tests := []struct {
		name string
		file string
		data []byte
		want string // the error, or its prefix when it ends in "…"
	}{
		{"truncated gzip", "events.csv.gz", gz[:len(gz)/2], "events.csv.gz: gzip: unexpected EOF"},
		{"gzip without its trailer", "events.csv.gz", gz[:len(gz)-4], "events.csv.gz: gzip: unexpected EOF"},
		{"truncated gzip header", "events.csv.gz", gz[:5], "events.csv.gz: gzip: unexpected EOF"},
		{"corrupt gzip", "events.csv.gz", corrupt, "events.csv.gz: gzip: …"},
		{"truncated zstd", "events.csv.zst", zs[:len(zs)/2], "events.csv.zst: zstd: …"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Chdir(t.TempDir())
			writeFile(t, ".", tt.file, tt.data)
			var err error
			r, err := Open(context.Background(), Source{Path: tt.file}, Options{}, nil)
			if err == nil {
				defer r.Close()
				_, err = readItems(t, r)
			}
			if err == nil {
				t.Fatal("corrupt data read without an error")
			}
			if prefix, ok := strings.CutSuffix(tt.want, "…"); ok {
				if !strings.HasPrefix(err.Error(), prefix) {
					t.Fatalf("error %q, want it to start with %q", err, prefix)
				}
			} else if err.Error() != tt.want {
				t.Fatalf("error %q, want %q", err, tt.want)
			}
			if errors.Is(err, io.EOF) {
				t.Error("a corrupt stream ends like a clean one")
			}
		})
	}
}

func TestFormatDetection(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		content string
		opts    Options
		want    string // format, or the error
	}{
		{"csv by content", "export", "a,b\n1,2\n", Options{}, FormatCSV},
		{"ndjson by content", "export", "\n  {\"a\":1}\n", Options{}, FormatNDJSON},
		{"json array by content", "export", "[{\"a\":1}]", Options{}, FormatNDJSON},
		{"forced format", "events.csv", "{\"a\":1}\n", Options{Format: FormatNDJSON}, FormatNDJSON},
		{"extension over content", "events.csv", "{a:1}\n{b}\n", Options{}, FormatCSV},
		{"parquet by extension", "events.parquet", "PAR1", Options{}, "events.parquet: parquet: not a Parquet file: 4 bytes is too small"},
		{"parquet by magic", "export", "PAR1\x00\x00", Options{}, "export: parquet: not a Parquet file: 6 bytes is too small"},
		{"binary content", "export", "\x00\x01\x02", Options{}, "export: cannot detect the format: the content is not CSV, NDJSON or Parquet (name the format)"},
		{"unknown forced format", "events.csv", "a\n", Options{Format: "xml"}, `readers: Format "xml": want csv, ndjson or parquet`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Chdir(t.TempDir())
			writeFile(t, ".", tt.file, []byte(tt.content))
			r, err := Open(context.Background(), Source{Path: tt.file}, tt.opts, nil)
			got := ""
			if err != nil {
				got = err.Error()
			} else {
				defer r.Close()
				row, err := r.Next(context.Background())
				if err != nil && err != io.EOF {
					t.Fatal(err)
				}
				got = row.Source.Format
			}
			if got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestStdin(t *testing.T) {
	path := writeFile(t, t.TempDir(), "in", gzipped(t, []byte("{\"a\":1}\n")))
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	old := os.Stdin
	os.Stdin = f
	defer func() { os.Stdin = old }()

	r, err := Open(context.Background(), Source{Path: "-"}, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	items, err := readItems(t, r)
	if err != nil {
		t.Fatal(err)
	}
	diffItems(t, items, []item{{Pos: pos("-", 1, 1, 0), Raw: `{"a":1}`, Names: []string{"a"}, Values: raws("1")}})
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Stat(); err != nil {
		t.Errorf("closing the reader closed standard input: %v", err)
	}
}

func TestCancelledContext(t *testing.T) {
	dir := t.TempDir()
	files := map[string][]byte{
		"events.csv":    csvSample(5000),
		"events.ndjson": bytes.Repeat([]byte("{\"a\":1}\n"), 50000),
		"events.json":   []byte("[" + strings.Repeat("{\"a\":1},", 50000) + "{}]"),
	}
	for name, data := range files {
		path := writeFile(t, dir, name, data)
		t.Run(name+" before Next", func(t *testing.T) {
			r := openT(t, path, Options{}, nil)
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if _, err := r.Next(ctx); !errors.Is(err, context.Canceled) {
				t.Fatalf("Next: %v, want context.Canceled", err)
			}
		})
		t.Run(name+" while reading", func(t *testing.T) {
			r := openT(t, path, Options{}, nil)
			ctx, cancel := context.WithCancel(context.Background())
			for range 10 {
				if _, err := r.Next(ctx); err != nil {
					t.Fatal(err)
				}
			}
			cancel()
			var err error
			for range 100 {
				if _, err = r.Next(ctx); err != nil {
					break
				}
			}
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Next after cancel: %v, want context.Canceled", err)
			}
		})
		t.Run(name+" open", func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			_, err := Open(ctx, Source{Path: path}, Options{}, nil)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Open: %v, want context.Canceled", err)
			}
		})
	}
}

func TestProgress(t *testing.T) {
	data := csvSample(8000)
	tests := []struct {
		name string
		file string
		data []byte
	}{
		{"plain", "events.csv", data},
		{"gzip", "events.csv.gz", gzipped(t, data)},
		{"zstd", "events.csv.zst", zstded(t, data)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), tt.file, tt.data)
			var progress atomic.Int64
			items := mustReadAll(t, path, Options{Progress: &progress}, nil)
			if got := progress.Load(); got != int64(len(tt.data)) {
				t.Errorf("progress %d after reading all, want the file size %d", got, len(tt.data))
			}
			progress.Store(0)
			mustReadAll(t, path, Options{Progress: &progress}, &items[len(items)-1].Pos)
			if got := progress.Load(); got != int64(len(tt.data)) {
				t.Errorf("progress %d after resuming at the last row, want the file size %d", got, len(tt.data))
			}
		})
	}
}

func TestReaderClose(t *testing.T) {
	for _, name := range []string{"events.csv", "events.ndjson"} {
		t.Run(name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), name, []byte("{a}\n{a}\n"))
			r, err := Open(context.Background(), Source{Path: path}, Options{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
			if err := r.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			if _, err := r.Next(context.Background()); err == nil || err == io.EOF {
				t.Fatalf("Next after Close: %v, want an error", err)
			}
		})
	}
}

func TestOpenMissingFile(t *testing.T) {
	_, err := Open(context.Background(), Source{Path: "no/such/events.csv"}, Options{}, nil)
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "no/such/events.csv") {
		t.Fatalf("Open: %v", err)
	}
}
