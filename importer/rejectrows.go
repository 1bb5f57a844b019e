package importer

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/backfillhq/backfill/readers"
)

// inputInfo is what a reject of a source's row needs to write the row
// back out in the source's format.
type inputInfo struct {
	format string // "csv", "ndjson" or "parquet"
	header string // a CSV source's header line; "" without one
}

// inputOf returns the inputInfo of the source src, opened as rd, whose rows
// have the column names schema (nil for NDJSON).
func (r *run) inputOf(src *readers.Source, rd readers.Reader, schema []string) inputInfo {
	_, prefixed := rd.(readers.PrefixHasher)
	switch {
	case schema == nil:
		return inputInfo{format: readers.FormatNDJSON}
	case !prefixed:
		// Parquet is recognised by its footer, not by a prefix of its
		// bytes as the text formats are.
		return inputInfo{format: readers.FormatParquet}
	}
	in := inputInfo{format: readers.FormatCSV}
	if len(r.cfg.Reader.Columns) > 0 {
		return in // headerless: its columns were named
	}
	var b strings.Builder
	w := csv.NewWriter(&b)
	w.Comma = ','
	if d := r.cfg.Reader.Delimiter; d != 0 {
		w.Comma = d
	} else if _, tab := readers.NameFormat(src.Path); tab {
		w.Comma = '\t'
	}
	w.Write(schema)
	w.Flush()
	in.header = strings.TrimSuffix(b.String(), "\n")
	return in
}

// RejectsSummary sums up a rejects file (see ReadRejects).
type RejectsSummary struct {
	// Lines is the number of rejects in the file.
	Lines int64 `json:"lines"`
	// Runs are the ids of the runs that wrote them, in the order they
	// first appear; lines without one count under "".
	Runs []string `json:"runs"`
	// Reasons count the rejects by reason, most frequent first, each with
	// its first reject as an example.
	Reasons []RejectReasonCount `json:"reasons"`
	// Files count the rejects by source file, in the order they first
	// appear.
	Files []RejectFileCount `json:"files"`
}

// RejectReasonCount is the number of rejects of one reason, and the first.
type RejectReasonCount struct {
	Reason  string `json:"reason"`
	Count   int64  `json:"count"`
	Example Reject `json:"example"`
}

// RejectFileCount is the number of rejects of one source file.
type RejectFileCount struct {
	File  string `json:"file"`
	Count int64  `json:"count"`
}

// ReadRejects reads the rejects file at path, calling each (if not nil)
// with every reject in order, and sums it up; with run set, only the
// rejects of that run count. A line that is not a reject
// is an error naming the file and the line; a last line without its
// newline (a run that was killed tore it, and will cut it off when it
// resumes) is skipped.
func ReadRejects(path, run string, each func(Reject) error) (RejectsSummary, error) {
	var sum RejectsSummary
	f, err := os.Open(path)
	if err != nil {
		return sum, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	byReason := map[string]*RejectReasonCount{}
	byFile := map[string]int{}
	runs := map[string]bool{}
	for line := int64(1); ; line++ {
		b, err := br.ReadBytes('\n')
		if err == io.EOF {
			break // a line without its newline is torn
		}
		if err != nil {
			return sum, fmt.Errorf("read %s: %w", path, err)
		}
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		var rej Reject
		if err := json.Unmarshal(b, &rej); err != nil {
			return sum, fmt.Errorf("%s:%d: not a reject (%v): give the rejects file of an import", path, line, err)
		}
		if run != "" && rej.Run != run {
			continue
		}
		sum.Lines++
		if !runs[rej.Run] {
			runs[rej.Run] = true
			sum.Runs = append(sum.Runs, rej.Run)
		}
		if c := byReason[rej.Reason]; c != nil {
			c.Count++
		} else {
			byReason[rej.Reason] = &RejectReasonCount{Reason: rej.Reason, Count: 1, Example: rej}
		}
		if i, ok := byFile[rej.File]; ok {
			sum.Files[i].Count++
		} else {
			byFile[rej.File] = len(sum.Files)
			sum.Files = append(sum.Files, RejectFileCount{File: rej.File, Count: 1})
		}
		if each != nil {
			if err := each(rej); err != nil {
				return sum, err
			}
		}
	}
	for _, c := range byReason {
		sum.Reasons = append(sum.Reasons, *c)
	}
	sort.Slice(sum.Reasons, func(i, j int) bool {
		a, b := sum.Reasons[i], sum.Reasons[j]
		return a.Count > b.Count || (a.Count == b.Count && a.Reason < b.Reason)
	})
	return sum, nil
}

// RowsFile is a file of rejected rows that WriteRejectedRows wrote.
type RowsFile struct {
	// Source is the file the rows were read from, and Path the file they
	// were written to, in Format.
	Source string `json:"source"`
	Path   string `json:"path"`
	Format string `json:"format"`
	Rows   int64  `json:"rows"`
}

// RowsNotWritten counts the rejects WriteRejectedRows could not write back
// out as rows, by why.
type RowsNotWritten struct {
	// Messages are messages the destination refused: the rejects file
	// holds the message, not the row it was mapped from.
	Messages int64 `json:"messages"`
	// Incomplete are rows whose raw bytes the rejects file holds only in
	// part (line_too_long).
	Incomplete int64 `json:"incomplete"`
	// Repeated are rejects of a row already written (the same file and
	// row), written once.
	Repeated int64 `json:"repeated"`
}

// WriteRejectedRows writes the rows of the rejects file at path (of the
// run run only, unless run is "") back out into the folder dir, one file
// per source file, in the source's format, so that they can be fixed and
// imported again with the same mapping and flags: a CSV source's rows
// under its header line, as they were read; an NDJSON source's lines as
// they were; a Parquet source's rows as NDJSON, one JSON object of their
// columns a line. Each file is named after its source, with .ndjson for
// NDJSON and Parquet sources, without the compression's extension, and
// with "-2", "-3", … for sources of the same name; a file that exists is
// never overwritten (an error). It returns the files written, in the order
// of their sources' first reject, and the rejects it could not write as
// rows.
func WriteRejectedRows(path, run, dir string) ([]RowsFile, RowsNotWritten, error) {
	var skipped RowsNotWritten
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, skipped, err
	}
	type output struct {
		RowsFile
		f *os.File
		w *bufio.Writer
	}
	var outs []*output
	bySource := map[string]*output{}
	names := map[string]bool{}
	seen := map[[2]string]bool{}
	closeAll := func() error {
		var first error
		for _, o := range outs {
			err := o.w.Flush()
			if err == nil {
				err = o.f.Sync()
			}
			if cerr := o.f.Close(); err == nil {
				err = cerr
			}
			if err != nil && first == nil {
				first = fmt.Errorf("%s: %w", o.Path, err)
			}
		}
		return first
	}
	_, err := ReadRejects(path, run, func(rej Reject) error {
		switch {
		case rej.RawIs == RawIsMessage:
			skipped.Messages++
			return nil
		case rej.Reason == readers.ReasonLineTooLong:
			skipped.Incomplete++
			return nil
		}
		key := [2]string{rej.File, fmt.Sprint(rej.Row, "/", rej.Offset)}
		if seen[key] {
			skipped.Repeated++
			return nil
		}
		seen[key] = true
		o := bySource[rej.File]
		if o == nil {
			format := rej.Format
			if format == "" {
				format = formatFromName(rej.File)
			}
			name := rowsFileName(rej.File, format, names)
			p := filepath.Join(dir, name)
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
			if errors.Is(err, os.ErrExist) {
				return fmt.Errorf("%s exists: write the rows to an empty folder, or move it away", p)
			}
			if err != nil {
				return err
			}
			o = &output{RowsFile: RowsFile{Source: rej.File, Path: p, Format: format}, f: f, w: bufio.NewWriter(f)}
			if format == readers.FormatCSV && rej.Header != "" {
				o.w.WriteString(rej.Header)
				o.w.WriteByte('\n')
			}
			outs = append(outs, o)
			bySource[rej.File] = o
		}
		raw := []byte(rej.Raw)
		if rej.RawBase64 != nil {
			raw = rej.RawBase64
		}
		o.w.Write(raw)
		if !bytes.HasSuffix(raw, []byte{'\n'}) {
			o.w.WriteByte('\n')
		}
		o.Rows++
		return nil
	})
	if cerr := closeAll(); err == nil {
		err = cerr
	}
	files := make([]RowsFile, len(outs))
	for i, o := range outs {
		files[i] = o.RowsFile
	}
	return files, skipped, err
}

// formatFromName guesses the format of a source from its name, for
// rejects files written before lines recorded it.
func formatFromName(path string) string {
	if format, _ := readers.NameFormat(path); format != "" {
		return format
	}
	return readers.FormatNDJSON
}

// rowsFileName names the file of the rejected rows of source, in format,
// unlike the names already taken, which it adds to.
func rowsFileName(source, format string, taken map[string]bool) string {
	name := readers.TrimCompression(filepath.Base(source))
	ext := filepath.Ext(name)
	stem := strings.TrimSuffix(name, ext)
	switch format {
	case readers.FormatCSV:
		if e := strings.ToLower(ext); e != ".csv" && e != ".tsv" {
			stem, ext = name, ".csv"
		}
	default:
		ext = ".ndjson"
	}
	if stem == "" || stem == "-" {
		stem = "stdin"
	}
	name = stem + ext
	for n := 2; taken[name]; n++ {
		name = fmt.Sprintf("%s-%d%s", stem, n, ext)
	}
	taken[name] = true
	return name
}
