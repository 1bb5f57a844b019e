package readers

import (
	"bytes"
	"context"
	"fmt"
	"os"

	"github.com/apache/arrow/go/v15/parquet/file"

	"github.com/backfillhq/backfill/internal/jsontext"
)

// Range is the part of a source that one reader reads, when a source is
// cut into parts (Split). For NDJSON, Start and End are byte offsets: the
// part holds the rows whose first byte lies in [Start, End). For Parquet,
// they are row group indexes: the part holds row groups Start to End-1.
type Range struct {
	Start int64 `json:"start"`
	End   int64 `json:"end"`
}

// String formats r as "bytes START-END" or "row groups START-END" (End
// excluded), after the format of the source it cuts.
func (r Range) String(format string) string {
	if format == FormatParquet {
		return fmt.Sprintf("row groups %d-%d", r.Start, r.End-1)
	}
	return fmt.Sprintf("bytes %d-%d", r.Start, r.End)
}

// Split cuts src into at most n parts, in order, which together hold
// every row of src once: a Parquet file into runs of whole row groups (as
// even as the groups allow), a plain NDJSON file of at least minBytes
// bytes into n byte ranges of equal length. A byte range [a, b) holds
// the lines that start in it: its reader skips past the first newline at
// or after a−1, and stops before the first line that starts at b or
// later. Every other source is one part, itself: CSV, whose quoted fields
// may hold line breaks, so that a newline does not tell where a record
// starts; compressed files, whose streams cannot be entered in the
// middle; a .json file holding one array; UTF-16 text; members of zip
// archives, objects in buckets (see IsObjectURL) and standard input.
// Split reads the first bytes of an NDJSON file, and a Parquet file's
// footer; it does not cut a source with a Range already.
func Split(src Source, opts Options, n int, minBytes int64) ([]Source, error) {
	if n <= 1 || src.Range != nil || src.Archive != "" || src.Path == "-" || IsObjectURL(src.Path) {
		return []Source{src}, nil
	}
	format := opts.Format
	if format == "" {
		format = src.Format
	}
	switch format {
	case FormatParquet:
		groups, err := parquetRowGroups(src.Path)
		if err != nil {
			return nil, err
		}
		return splitGroups(src, groups, n), nil
	case FormatNDJSON:
		if src.Size < max(minBytes, int64(n)) {
			return []Source{src}, nil
		}
		ok, err := lineSplittable(src, opts)
		if err != nil || !ok {
			return []Source{src}, err
		}
		parts := make([]Source, 0, n)
		for j := range int64(n) {
			r := Range{Start: src.Size * j / int64(n), End: src.Size * (j + 1) / int64(n)}
			if r.Start == r.End {
				continue
			}
			part := src
			part.Format = FormatNDJSON
			part.Range = &r
			parts = append(parts, part)
		}
		return parts, nil
	}
	return []Source{src}, nil
}

// splitGroups cuts the row groups of a Parquet file into at most n runs,
// the first groups%n runs one group longer.
func splitGroups(src Source, groups, n int) []Source {
	if groups <= 1 {
		return []Source{src}
	}
	k := min(n, groups)
	parts := make([]Source, 0, k)
	start := 0
	for j := range k {
		end := start + groups/k
		if j < groups%k {
			end++
		}
		part := src
		part.Format = FormatParquet
		part.Range = &Range{Start: int64(start), End: int64(end)}
		parts = append(parts, part)
		start = end
	}
	return parts
}

// parquetRowGroups returns the number of row groups of the Parquet file
// at path, from its footer.
func parquetRowGroups(path string) (n int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	defer recoverParquet(path+": parquet", &err)
	pf, err := file.NewParquetReader(f)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, parquetError(err))
	}
	defer pf.Close()
	return pf.NumRowGroups(), nil
}

// lineSplittable reports whether the NDJSON file src can be cut into byte
// ranges: a plain regular file of UTF-8 (or an ASCII-compatible encoding)
// text holding one object per line, not a .json file holding an array.
func lineSplittable(src Source, opts Options) (bool, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return false, err
	}
	if opts.text.isUTF16() {
		return false, nil
	}
	in, err := openInput(src.Path, nil)
	if err != nil {
		return false, err
	}
	defer in.Close()
	if in.codec != "" || !in.seekable {
		return false, nil
	}
	s := newStream(in.r, 0, in.size)
	head, err := s.peek(context.Background(), sniffHeadSize)
	if err != nil {
		return false, fileError(src.Path, err)
	}
	if _, ok := sniffUTF16(head); ok {
		return false, nil
	}
	head = bytes.TrimPrefix(head, utf8BOM)
	if !isLineJSON(src.Path) {
		if i := jsontext.SkipSpace(head, 0); i < len(head) && head[i] == '[' {
			return false, nil
		}
	}
	return true, nil
}

// openRange opens src.Range of the NDJSON file that in reads. A range that
// starts at the file's first byte is read as the file is, up to its end;
// one that starts later begins at the byte before its start, after the
// first newline from there: its rows have no line number (Line is 0),
// they are named by Offset, and their Row counts from the range's start.
// The running hash of its prefix (PrefixHasher) starts at the byte before
// its start, which OpenPrefix reads from too.
func openRange(ctx context.Context, src Source, format string, in *input, opts Options, at *Position) (Reader, error) {
	rg := *src.Range
	switch {
	case format != FormatNDJSON:
		return nil, fmt.Errorf("%s: %s: only NDJSON and Parquet files are read in parts", src.Path, rg.String(format))
	case in.codec != "" || !in.seekable:
		return nil, fmt.Errorf("%s: %s: a compressed file or a pipe cannot be read from the middle", src.Path, rg.String(format))
	case rg.Start < 0 || rg.End <= rg.Start || rg.End > in.size:
		return nil, fmt.Errorf("%s: %s: not a range of the file's %d bytes", src.Path, rg.String(format), in.size)
	case opts.text.isUTF16():
		return nil, fmt.Errorf("%s: %s: UTF-16 text is not read in parts", src.Path, rg.String(format))
	}
	// The bytes of the file up to the range's end count as read, as a
	// resumed file counts those before its resume position: none past it.
	in.count.limit = rg.End
	if rg.Start == 0 {
		rd, err := openReader(ctx, src, format, in, opts, at)
		if err != nil {
			return nil, err
		}
		r, ok := rd.(*ndjsonReader)
		if !ok || r.array || r.s.m != nil {
			rd.Close()
			return nil, fmt.Errorf("%s: %s: only a file of one JSON object a line is read in parts", src.Path, rg.String(format))
		}
		r.end = rg.End
		return r, nil
	}
	if at != nil && (at.Row < 1 || at.Line != 0 || at.Offset < rg.Start || at.Offset >= rg.End) {
		return nil, fmt.Errorf("%s: resume: invalid position (row %d, line %d, offset %d) for %s", src.Path, at.Row, at.Line, at.Offset, rg.String(format))
	}
	from := rg.Start - 1
	if err := in.seek(from); err != nil {
		return nil, fileError(src.Path, err)
	}
	s := newStream(in.r, opts.MaxLineBytes, in.size-from)
	s.reset(from)
	s.hash = prefixHash{h: &prefixCRC{}, ok: true}
	source := src
	source.Format = FormatNDJSON
	r := &ndjsonReader{
		src:  &source,
		in:   in,
		s:    s,
		max:  opts.MaxLineBytes,
		keys: make(map[string]string),
		text: newRowDecoder(opts.text),
		end:  rg.End,
	}
	if at == nil {
		if _, err := s.skipLineKeep(ctx, nil); err != nil {
			return nil, openErr(ctx, src.Path, err)
		}
		return r, nil
	}
	if err := positionAt(ctx, in, s, at.Offset, from, true); err != nil {
		return nil, openErr(ctx, src.Path, err)
	}
	r.row = at.Row - 1
	return r, nil
}
