package readers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestCase8FileChangedWhileBeingRead appends to a file at the moment its
// reader reaches the end the file had when it was opened: the rows before
// the half-written last line are read, the last line is not (neither a row
// nor a reject), and the reader ends with a *ChangedError naming the file.
func TestCase8FileChangedWhileBeingRead(t *testing.T) {
	// More than the readers buffer, so that the end is reached by Next,
	// not by Open.
	const rows = 40000
	var nd, csv bytes.Buffer
	csv.WriteString("id,user\n")
	for i := range rows {
		fmt.Fprintf(&nd, "{\"n\":%d}\n", i)
		fmt.Fprintf(&csv, "%d,u%d\n", i, i)
	}
	for _, tc := range []struct {
		name, file, format string
		data               []byte
		rows               int
	}{
		{"ndjson", "a.ndjson", FormatNDJSON, append(bytes.Clone(nd.Bytes()), `{"n":`...), rows},
		{"csv", "a.csv", FormatCSV, append(bytes.Clone(csv.Bytes()), "40000,u4"...), rows},
		{"gzip", "a.ndjson.gz", FormatNDJSON, gzipped(t, nd.Bytes()), rows},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, tc.file)
			data := tc.data
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			srcs, err := Expand([]string{path}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			calls := 0
			atFileEnd = func(p string) {
				calls++
				if p != path {
					t.Errorf("end of %s, want %s", p, path)
				}
				f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
				if err != nil {
					t.Error(err)
					return
				}
				f.WriteString("more\n")
				f.Close()
			}
			defer func() { atFileEnd = nil }()
			rd, err := Open(context.Background(), srcs[0], Options{Format: tc.format}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer rd.Close()
			n := 0
			for {
				_, err = rd.Next(context.Background())
				if err != nil {
					break
				}
				n++
			}
			var changed *ChangedError
			if !errors.As(err, &changed) || !errors.Is(err, ErrChanged) || changed.Path != path ||
				changed.Size != int64(len(data)) || changed.NowSize != int64(len(data)+5) {
				t.Fatalf("the reader ended with %v, want a *ChangedError of %s from %d to %d bytes", err, path, len(data), len(data)+5)
			}
			want := fmt.Sprintf("%s: file changed while being read: its size was %d bytes when it was opened, is now %d", path, len(data), len(data)+5)
			if err.Error() != want {
				t.Errorf("error %q, want %q", err, want)
			}
			if n != tc.rows || calls != 1 {
				t.Errorf("%d rows before the error, %d checks at the end; want %d and 1", n, calls, tc.rows)
			}
		})
	}
}

// TestStableFileEndsCleanlyWhenUnchanged reads a file that does not change
// to io.EOF, and checks it once at its end.
func TestStableFileEndsCleanlyWhenUnchanged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.ndjson")
	if err := os.WriteFile(path, []byte("{\"n\":1}\n{\"n\":2}"), 0o644); err != nil {
		t.Fatal(err)
	}
	srcs, err := Expand([]string{path}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	atFileEnd = func(string) { calls++ }
	defer func() { atFileEnd = nil }()
	rd, err := Open(context.Background(), srcs[0], Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	rows := 0
	for {
		if _, err = rd.Next(context.Background()); err != nil {
			break
		}
		rows++
	}
	if err != io.EOF || rows != 2 || calls != 1 {
		t.Fatalf("%d rows, then %v, %d checks; want 2 rows, then EOF, 1 check", rows, err, calls)
	}
}
