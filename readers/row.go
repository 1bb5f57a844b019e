// Package readers streams rows out of CSV, NDJSON and Parquet sources (plain,
// gzip or zstd; files, folders, globs, stdin), each row carrying the Position
// it was read from. It knows nothing about Segment.
package readers

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/backfillhq/backfill/internal/reason"
)

// Position says where a row was read from. Row ordinals and lines are
// 1-based; Offset is the byte offset of the row's first byte in the
// uncompressed stream of its file. Line and Offset are zero where a format has
// none (Parquet); RowGroup is zero-based and only meaningful for Parquet.
type Position struct {
	File     string `json:"file"`
	Row      int64  `json:"row"`
	Line     int64  `json:"line,omitempty"`
	Offset   int64  `json:"offset"`
	RowGroup int    `json:"row_group,omitempty"`
}

// String formats a position as file:line (or file:row for formats without lines).
func (p Position) String() string {
	if p.Line > 0 {
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return fmt.Sprintf("%s: row %d", p.File, p.Row)
}

// Row is one record of a source. Names and Values are parallel: Values[i] is
// the value of the column Names[i]. For CSV and Parquet, Names is the file's
// schema; for NDJSON it lists the keys of the row's top-level object in
// order. A row's slices (Raw, Names, Values, Texts, JSON) may share memory
// with other rows: read them, never modify them.
//
// A value is one of: nil (null or absent), string, int64, float64, bool,
// json.Number (a number kept exactly), json.RawMessage (valid JSON text, as
// NDJSON values are handed on verbatim, and Parquet lists, structs and
// maps), []any, map[string]any, time.Time. Open lists what each Parquet
// type becomes.
//
// Putting a string or a byte slice in an interface allocates, once per value
// of every row, so readers hand such values on unboxed: where Values[i] is
// InTexts{}, the value is the string Texts[i]; where it is InJSON{}, it is
// JSON[i] as a json.RawMessage. Value returns a value whichever way it is
// held; code on a hot path can look for the two marks instead.
type Row struct {
	Pos    Position
	Source *Source // the source the row came from; shared by its rows
	Raw    []byte  // the row's bytes as read, for rejects; nil for binary formats
	Names  []string
	Values []any
	Texts  []string          // parallel to Values where a value is InTexts{}; else nil
	JSON   []json.RawMessage // parallel to Values where a value is InJSON{}; else nil
}

// InTexts marks a value held in Row.Texts.
type InTexts struct{}

// InJSON marks a value held in Row.JSON.
type InJSON struct{}

// marks returns a slice of n values all set to mark, shared by every row
// that needs no other values while n is small, so that such rows need no
// Values of their own.
func marks(shared []any, n int, a *rowArena, mark any) []any {
	if n <= len(shared) {
		return shared[:n:n]
	}
	values := a.newValues(n)
	for i := range values {
		values[i] = mark
	}
	return values
}

// Read-only slices of marks, for marks.
var (
	textMarks = slices.Repeat([]any{InTexts{}}, 256)
	jsonMarks = slices.Repeat([]any{InJSON{}}, 256)
)

// Value returns the value of column i, as a string or json.RawMessage
// where it is held in Texts or JSON.
func (r *Row) Value(i int) any {
	switch r.Values[i].(type) {
	case InTexts:
		return r.Texts[i]
	case InJSON:
		return r.JSON[i]
	}
	return r.Values[i]
}

// Text returns the value of column i if it is held in Texts.
func (r *Row) Text(i int) (string, bool) {
	if _, ok := r.Values[i].(InTexts); ok {
		return r.Texts[i], true
	}
	return "", false
}

// RawJSON returns the value of column i if it is held in JSON.
func (r *Row) RawJSON(i int) (json.RawMessage, bool) {
	if _, ok := r.Values[i].(InJSON); ok {
		return r.JSON[i], true
	}
	return nil, false
}

// AllValues returns the row's values as one slice, each as Value returns
// it. It allocates; it is meant for tests and tools, not the hot path.
func (r *Row) AllValues() []any {
	if r.Values == nil {
		return nil
	}
	out := make([]any, len(r.Values))
	for i := range r.Values {
		out[i] = r.Value(i)
	}
	return out
}

// Get returns the value of the named column and whether the row has it.
// It is a linear scan: callers on a hot path should resolve column indexes
// once per schema with Index.
func (r *Row) Get(name string) (any, bool) {
	if i := r.Index(name); i >= 0 {
		return r.Value(i), true
	}
	return nil, false
}

// Index returns the index of the named column in r.Names, or -1.
func (r *Row) Index(name string) int {
	for i, n := range r.Names {
		if n == name {
			return i
		}
	}
	return -1
}

// Reader streams the rows of one source.
//
// Next blocks until a row is read and returns io.EOF after the last one. A
// malformed row is returned as a *RowError: the reader has skipped past it and
// the next call continues with the following row. Any other error is fatal
// for the source. A Reader is not safe for concurrent use. Reading never
// advances any checkpoint.
type Reader interface {
	Next(ctx context.Context) (Row, error)
	Close() error
}

// Reasons a row can be malformed, as a *RowError carries them. They are
// stable, short identifiers that reports and the rejects file count rejects
// by; the README lists every reason of every package, with how to fix the
// row.
const (
	// ReasonInvalidJSON is an NDJSON line that is not valid JSON.
	ReasonInvalidJSON = "invalid_json"
	// ReasonNotObject is an NDJSON line that is valid JSON but not an
	// object.
	ReasonNotObject = "not_an_object"
	// ReasonInvalidUTF8 is a row, field or string value whose bytes are not
	// valid UTF-8.
	ReasonInvalidUTF8 = "invalid_utf8"
	// ReasonLineTooLong is a line or CSV record longer than
	// Options.MaxLineBytes.
	ReasonLineTooLong = "line_too_long"
	// ReasonCSVFieldCount is a CSV record with a different number of fields
	// than the header.
	ReasonCSVFieldCount = "csv_field_count"
	// ReasonCSVQuote is a CSV record with a misplaced or unterminated quote.
	ReasonCSVQuote = "csv_bad_quote"
	// ReasonInvalidValue is a Parquet value a row cannot carry: NaN or ±Inf,
	// which JSON cannot hold, a map with a null key, a time of day outside
	// 00:00–24:00. It is the same reason as sink.ReasonInvalidValue.
	ReasonInvalidValue = reason.InvalidValue
)

// RowError is a malformed row: where it is, why it was refused, and its raw
// bytes (possibly truncated for over-long lines). The reader goes on after it.
type RowError struct {
	Pos    Position
	Reason string // one of the Reason constants
	Raw    []byte
	Err    error
}

func (e *RowError) Error() string {
	if e.Pos.Offset > 0 || e.Pos.Line > 0 {
		return fmt.Sprintf("%s (offset %d): %s: %v", e.Pos, e.Pos.Offset, e.Reason, e.Err)
	}
	return fmt.Sprintf("%s: %s: %v", e.Pos, e.Reason, e.Err)
}

func (e *RowError) Unwrap() error { return e.Err }

// RejectReason returns the stable reason identifier reports count by.
func (e *RowError) RejectReason() string { return e.Reason }
