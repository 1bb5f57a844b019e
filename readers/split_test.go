package readers

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// randomNDJSON returns the text of an NDJSON file of lines of random
// lengths: objects, blank lines, lines with CR LF, malformed lines and
// lines longer than maxLine, the last one with or without its newline.
func randomNDJSON(rng *rand.Rand, lines, maxLine int) []byte {
	var b bytes.Buffer
	for i := range lines {
		switch k := rng.IntN(20); {
		case k == 0:
			// a blank line
		case k == 1:
			b.WriteString("   ")
		case k == 2:
			fmt.Fprintf(&b, "{broken %d", i)
		case k == 3:
			fmt.Fprintf(&b, `{"i":%d,"pad":%q}`, i, strings.Repeat("y", maxLine))
		default:
			fmt.Fprintf(&b, `{"i":%d,"pad":%q}`, i, strings.Repeat("x", rng.IntN(maxLine/2)))
		}
		if rng.IntN(8) == 0 {
			b.WriteByte('\r')
		}
		if i < lines-1 || rng.IntN(2) == 0 {
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

// rowKey is what names a row across a whole read and the reads of parts:
// its offset, and what it holds or why it is malformed.
func rowKey(it item) string {
	return fmt.Sprintf("%d %s %q %s %v", it.Pos.Offset, it.Reason, it.Raw, it.Names, it.Values)
}

// readPart reads one part of a split source to its end, and checks that
// the digest of its prefix is what OpenPrefix reads again.
func readPart(t *testing.T, part Source, opts Options, at *Position) []item {
	t.Helper()
	r, err := Open(context.Background(), part, opts, at)
	if err != nil {
		t.Fatalf("Open(%s %v, at %v): %v", part.Path, part.Range, at, err)
	}
	defer r.Close()
	ph, hashes := r.(PrefixHasher)
	if hashes && at == nil {
		if _, ok := ph.PrefixDigest(); !ok {
			t.Fatalf("part %v: no digest at its start", part.Range)
		}
	}
	items, err := readItems(t, r)
	if err != nil {
		t.Fatalf("read part %v: %v", part.Range, err)
	}
	if hashes && at == nil {
		d, ok := ph.PrefixDigest()
		if !ok {
			t.Fatalf("part %v: no digest at its end", part.Range)
		}
		p, err := OpenPrefix(part)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		if err := p.Advance(context.Background(), d.Offset); err != nil {
			t.Fatalf("part %v: prefix to %d: %v", part.Range, d.Offset, err)
		}
		if p.Digest() != d {
			t.Fatalf("part %v: the reader's digest %+v, OpenPrefix's %+v", part.Range, d, p.Digest())
		}
	}
	return items
}

// TestSplitNDJSONEveryRowOnce cuts random NDJSON files into random
// numbers of byte ranges and checks that the rows (and row errors) of the
// parts are those of the whole file, each once, in order; that a part
// resumed at any of its rows yields the rest of the part; and that rows
// of a part that starts mid-file are named by offset alone.
func TestSplitNDJSONEveryRowOnce(t *testing.T) {
	dir := t.TempDir()
	for seed := range uint64(60) {
		rng := rand.New(rand.NewPCG(seed, 17))
		maxLine := 16 + rng.IntN(200)
		opts := Options{MaxLineBytes: maxLine}
		data := randomNDJSON(rng, 1+rng.IntN(120), maxLine)
		path := writeFile(t, dir, fmt.Sprintf("f%d.ndjson", seed), data)
		src := Source{Path: path, Format: FormatNDJSON, Size: int64(len(data))}
		n := 2 + rng.IntN(9)
		parts, err := Split(src, opts, n, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(parts) > n || (len(data) >= n && len(parts) != n) {
			t.Fatalf("seed %d: %d bytes in %d parts, want %d", seed, len(data), len(parts), n)
		}
		full := mustReadAll(t, path, opts, nil)
		var got []item
		var end int64
		for _, part := range parts {
			if part.Range.Start != end {
				t.Fatalf("seed %d: part %v does not follow the one before, which ends at %d", seed, part.Range, end)
			}
			end = part.Range.End
			items := readPart(t, part, opts, nil)
			for k, it := range items {
				if it.Pos.Offset < part.Range.Start || it.Pos.Offset >= part.Range.End {
					t.Fatalf("seed %d: part %v holds a row at offset %d", seed, part.Range, it.Pos.Offset)
				}
				if part.Range.Start > 0 && it.Pos.Line != 0 {
					t.Fatalf("seed %d: part %v: row at offset %d has line %d, want none", seed, part.Range, it.Pos.Offset, it.Pos.Line)
				}
				if it.Pos.Row != int64(k+1) {
					t.Fatalf("seed %d: part %v: row %d at offset %d, want row %d", seed, part.Range, it.Pos.Row, it.Pos.Offset, k+1)
				}
			}
			for k := 0; k < len(items); k += 1 + rng.IntN(5) {
				at := items[k].Pos
				rest := readPart(t, part, opts, &at)
				if !reflect.DeepEqual(keys(rest), keys(items[k:])) {
					t.Fatalf("seed %d: part %v resumed at %+v:\n got %v\nwant %v", seed, part.Range, at, rest, items[k:])
				}
			}
			got = append(got, items...)
		}
		if end != int64(len(data)) {
			t.Fatalf("seed %d: the parts end at %d, the file at %d", seed, end, len(data))
		}
		if g, w := keys(got), keys(full); !reflect.DeepEqual(g, w) {
			t.Fatalf("seed %d (%d parts of %d bytes): rows of the parts differ from the file's:\n got %q\nwant %q", seed, len(parts), len(data), g, w)
		}
	}
}

func keys(items []item) []string {
	k := make([]string, len(items))
	for i, it := range items {
		k[i] = rowKey(normalize(it))
	}
	return k
}

// TestSplitParquetRowGroups cuts a Parquet file of 9 row groups into
// runs and checks that the parts hold the file's rows, with the file's
// positions, each once, and resume inside their own groups only.
func TestSplitParquetRowGroups(t *testing.T) {
	path := eventsFile(t, 2600, 300)
	src := Source{Path: path, Format: FormatParquet}
	full := mustReadAll(t, path, Options{}, nil)
	for _, n := range []int{2, 4, 9, 12} {
		parts, err := Split(src, Options{}, n, 0)
		if err != nil {
			t.Fatal(err)
		}
		if want := min(n, 9); len(parts) != want {
			t.Fatalf("n=%d: %d parts, want %d", n, len(parts), want)
		}
		var got []item
		for _, p := range parts {
			items := readPart(t, p, Options{}, nil)
			if len(items) == 0 {
				t.Fatalf("n=%d: part %v is empty", n, p.Range)
			}
			mid := items[len(items)/2].Pos
			if rest := readPart(t, p, Options{}, &mid); len(rest) != len(items)-len(items)/2 {
				t.Fatalf("n=%d: part %v resumed at %+v: %d rows, want %d", n, p.Range, mid, len(rest), len(items)-len(items)/2)
			}
			got = append(got, items...)
		}
		diffItems(t, got, full)
	}
	parts, _ := Split(src, Options{}, 4, 0)
	_, err := Open(context.Background(), parts[1], Options{}, &full[0].Pos)
	if err == nil || !strings.Contains(err.Error(), "resume: row group 0 is not in row groups 3-4") {
		t.Fatalf("resuming part %v at row group 0: %v, want an error naming both", parts[1].Range, err)
	}
}

// TestSplitWholeFiles checks the sources that Split keeps whole.
func TestSplitWholeFiles(t *testing.T) {
	dir := t.TempDir()
	lines := bytes.Repeat([]byte(`{"a":1}`+"\n"), 100)
	for _, c := range []struct {
		name string
		data []byte
		opts Options
	}{
		{"a.csv", []byte(strings.Repeat("a,b\n1,2\n", 100)), Options{}},
		{"a.ndjson.gz", gzipped(t, lines), Options{}},
		{"a.ndjson.zst", zstded(t, lines), Options{}},
		{"array.json", append(append([]byte("[\n"), bytes.Repeat([]byte(`{"a":1},`+"\n"), 100)...), "{}]\n"...), Options{}},
		{"small.ndjson", []byte(`{"a":1}` + "\n"), Options{}},
		{"utf16.ndjson", append([]byte{0xff, 0xfe}, []byte("{\x00}\x00\n\x00")...), Options{}},
		{"latin1-16.ndjson", lines, Options{Encoding: "utf-16le"}},
	} {
		path := writeFile(t, dir, c.name, c.data)
		srcs, err := Expand([]string{path}, c.opts)
		if err != nil {
			t.Fatal(err)
		}
		parts, err := Split(srcs[0], c.opts, 3, 64)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if len(parts) != 1 || parts[0].Range != nil {
			t.Errorf("%s: %d parts (first %v), want the file whole", c.name, len(parts), parts[0].Range)
		}
	}
	// An object in a bucket is read whole.
	if parts, err := Split(Source{Path: "s3://bucket/a.ndjson", Format: FormatNDJSON, Size: 1 << 30}, Options{}, 3, 64); err != nil || len(parts) != 1 || parts[0].Range != nil {
		t.Errorf("an object: %d parts, %v; want it whole", len(parts), err)
	}
	// A .json file of one object a line is cut like .ndjson.
	path := writeFile(t, dir, "lines.json", lines)
	parts, err := Split(Source{Path: path, Format: FormatNDJSON, Size: int64(len(lines))}, Options{}, 3, 64)
	if err != nil || len(parts) != 3 {
		t.Fatalf("lines.json: %d parts, %v; want 3", len(parts), err)
	}
}

// TestRangeErrors checks what Open says of ranges it cannot read.
func TestRangeErrors(t *testing.T) {
	dir := t.TempDir()
	nd := writeFile(t, dir, "a.ndjson", []byte(`{"a":1}`+"\n"+`{"a":2}`+"\n"))
	gz := writeFile(t, dir, "b.ndjson.gz", gzipped(t, []byte(`{"a":1}`+"\n")))
	csv := writeFile(t, dir, "c.csv", []byte("a\n1\n"))
	for _, c := range []struct {
		src  Source
		at   *Position
		want string
	}{
		{Source{Path: nd, Format: FormatNDJSON, Range: &Range{Start: 4, End: 99}}, nil, nd + ": bytes 4-99: not a range of the file's 16 bytes"},
		{Source{Path: gz, Format: FormatNDJSON, Range: &Range{Start: 4, End: 8}}, nil, gz + ": bytes 4-8: a compressed file or a pipe cannot be read from the middle"},
		{Source{Path: csv, Format: FormatCSV, Range: &Range{Start: 1, End: 3}}, nil, csv + ": bytes 1-3: only NDJSON and Parquet files are read in parts"},
		{Source{Path: nd, Format: FormatNDJSON, Range: &Range{Start: 4, End: 16}}, &Position{Row: 1, Line: 2, Offset: 8}, nd + ": resume: invalid position (row 1, line 2, offset 8) for bytes 4-16"},
		{Source{Path: nd, Format: FormatNDJSON, Range: &Range{Start: 4, End: 16}}, &Position{Row: 1, Offset: 9}, nd + ": resume: offset 9 is not the start of a row"},
	} {
		r, err := Open(context.Background(), c.src, Options{}, c.at)
		if err == nil {
			r.Close()
		}
		if err == nil || err.Error() != c.want {
			t.Errorf("Open(%v, at %v): %v, want %s", c.src.Range, c.at, err, c.want)
		}
	}
}

// TestRangeRowsByOffset reads a range that starts mid-file: its rows have
// no line, and they are named by offset.
func TestRangeRowsByOffset(t *testing.T) {
	path := writeFile(t, t.TempDir(), "a.ndjson", []byte(`{"a":1}`+"\n"+`{"a":22}`+"\n"+`{"a":3}`+"\n"+"oops\n"))
	r, err := Open(context.Background(), Source{Path: path, Format: FormatNDJSON, Range: &Range{Start: 3, End: 30}}, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var got []string
	for {
		row, err := r.Next(context.Background())
		if err == io.EOF {
			break
		}
		if re, ok := err.(*RowError); ok {
			got = append(got, re.Pos.String()+" "+re.Reason)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s row %d %s", row.Pos, row.Pos.Row, row.Raw))
	}
	base := filepath.Base(path)
	want := []string{
		path + `: offset 8 row 1 {"a":22}`,
		path + `: offset 17 row 2 {"a":3}`,
		path + ": offset 25 " + ReasonInvalidJSON,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: got\n%q\nwant\n%q", base, got, want)
	}
}
