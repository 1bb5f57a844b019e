// Package readers streams rows out of CSV, NDJSON and Parquet sources (plain,
// gzip, zstd or bzip2; files, folders, globs, the members of zip archives,
// stdin), each row carrying the Position it was read from. It knows nothing
// about Segment.
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
// A row of a byte range of a file that starts mid-file (Source.Range) has
// no line: Line is zero, Offset names it, and Row counts the rows from the
// range's start.
type Position struct {
	File     string `json:"file"`
	Row      int64  `json:"row"`
	Line     int64  `json:"line,omitempty"`
	Offset   int64  `json:"offset"`
	RowGroup int    `json:"row_group,omitempty"`
}

// String formats a position as file:line, as "file: offset N" for a row
// of a byte range that starts mid-file (which has no line), or as
// "file: row N" for formats without lines.
func (p Position) String() string {
	if p.Line > 0 {
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	if p.Offset > 0 {
		return fmt.Sprintf("%s: offset %d", p.File, p.Offset)
	}
	return fmt.Sprintf("%s: row %d", p.File, p.Row)
}

// Row is one record of a source: its columns, each a name and a value, in
// order. For CSV and Parquet the names are the file's schema; for NDJSON
// they are the keys of the row's top-level object in order. A row's storage
// may be shared with other rows (its names with every row of the same
// schema, its bytes with rows read before it): read it through the
// accessors, which neither copy nor allocate (but Value and AllValues box
// a string or JSON text), and never modify what they return. A Row is
// safe for concurrent reads. Its storage stays as it is for as long as
// the row is held, unless its reader's caller releases it for later rows
// (Recycler).
//
// A value is one of: nil (null or absent), a string (Text), valid JSON text
// (RawJSON: NDJSON values are handed on verbatim), or another Go value
// (Value): int64, float64, bool, json.Number (a number kept exactly),
// json.RawMessage (Parquet lists, structs and maps), []byte (Parquet
// byte arrays read as bytes, Options.Bytes), []any,
// map[string]any, time.Time. Open lists what each Parquet type becomes.
// Kind tells which, so that code on a hot path can branch on it and read a
// string or JSON text without boxing it.
//
// Readers written outside this package build rows with NewRow, NewTextRow
// or NewJSONRow.
type Row struct {
	Pos    Position
	Source *Source // the source the row came from; shared by its rows
	Raw    []byte  // the row's bytes as read, for rejects; nil for binary formats

	names  []string
	values []any             // parallel to names; inTexts{} or inJSON{} where the value is held in texts or raws
	texts  []string          // parallel to values where a value is inTexts{}; else nil
	raws   []json.RawMessage // parallel to values where a value is inJSON{}; else nil
	// spans, when raws is nil, holds where in Raw each inJSON{} value
	// is: value i is Raw[spans[2i]:spans[2i+1]]. A third of the memory
	// of raws, and none of it pointers.
	spans []uint32
	// plain is set when no string of the row's JSON texts holds an
	// escape, U+2028 or U+2029 (see PlainJSONStrings).
	plain bool
}

// inTexts marks a value held in Row.texts. Putting a string or a byte
// slice in an interface allocates, once per value of every row, so readers
// hand such values on unboxed.
type inTexts struct{}

// inJSON marks a value held in Row.raws.
type inJSON struct{}

// Kind says how a row holds the value of a column, as Row.Kind returns it.
type Kind uint8

// The kinds of value a row holds.
const (
	// KindNull is a null or absent value: Value returns nil.
	KindNull Kind = iota
	// KindText is a string: Text returns it.
	KindText
	// KindJSON is JSON text as read: RawJSON returns it.
	KindJSON
	// KindValue is any other Go value, already boxed: Value returns it
	// without allocating.
	KindValue
)

// NewRow returns a row read at pos with the columns names and values,
// for readers written outside this package. values must be as long as
// names and hold values of the types Row lists; a string is held as text
// and a json.RawMessage as JSON text, as this package's readers hold them.
// The row keeps names, which rows of the same schema may share, and holds
// the values in slices of its own; set Source and Raw on the result. It
// panics if the lengths differ.
func NewRow(pos Position, names []string, values []any) Row {
	if len(names) != len(values) {
		panic(fmt.Sprintf("readers.NewRow: %d names and %d values", len(names), len(values)))
	}
	var texts, raws int
	for _, v := range values {
		switch v.(type) {
		case string:
			texts++
		case json.RawMessage:
			raws++
		}
	}
	row := Row{Pos: pos, names: names}
	switch len(values) {
	case texts:
		row.values, row.texts = marks(textMarks, len(values), nil, inTexts{}), make([]string, len(values))
		for i, v := range values {
			row.texts[i] = v.(string)
		}
		return row
	case raws:
		row.values, row.raws = marks(jsonMarks, len(values), nil, inJSON{}), make([]json.RawMessage, len(values))
		for i, v := range values {
			row.raws[i] = v.(json.RawMessage)
		}
		return row
	}
	row.values = make([]any, len(values))
	for i, v := range values {
		switch x := v.(type) {
		case string:
			if row.texts == nil {
				row.texts = make([]string, len(values))
			}
			row.texts[i], row.values[i] = x, inTexts{}
		case json.RawMessage:
			if row.raws == nil {
				row.raws = make([]json.RawMessage, len(values))
			}
			row.raws[i], row.values[i] = x, inJSON{}
		default:
			row.values[i] = v
		}
	}
	return row
}

// NewTextRow returns a row read at pos whose values are all strings, as
// a CSV record's are: texts[i] is the value of the column names[i]. The
// row keeps both slices without copying them. It panics if their lengths
// differ.
func NewTextRow(pos Position, names, texts []string) Row {
	if len(names) != len(texts) {
		panic(fmt.Sprintf("readers.NewTextRow: %d names and %d texts", len(names), len(texts)))
	}
	return Row{Pos: pos, names: names, values: marks(textMarks, len(texts), nil, inTexts{}), texts: texts}
}

// NewJSONRow returns a row read at pos whose values are all JSON text, as
// an NDJSON object's are: raws[i], which must be valid JSON, is the value
// of the column names[i]. The row keeps both slices without copying them.
// It panics if their lengths differ.
func NewJSONRow(pos Position, names []string, raws []json.RawMessage) Row {
	if len(names) != len(raws) {
		panic(fmt.Sprintf("readers.NewJSONRow: %d names and %d values", len(names), len(raws)))
	}
	return Row{Pos: pos, names: names, values: marks(jsonMarks, len(raws), nil, inJSON{}), raws: raws}
}

// marks returns a slice of n values all set to mark, shared by every row
// that needs no other values while n is small, so that such rows need no
// values of their own. a may be nil, to allocate a slice of its own.
func marks(shared []any, n int, a *rowArena, mark any) []any {
	if n <= len(shared) {
		return shared[:n:n]
	}
	var values []any
	if a != nil {
		values = a.newValues(n)
	} else {
		values = make([]any, n)
	}
	for i := range values {
		values[i] = mark
	}
	return values
}

// Read-only slices of marks, for marks.
var (
	textMarks = slices.Repeat([]any{inTexts{}}, 256)
	jsonMarks = slices.Repeat([]any{inJSON{}}, 256)
)

// Len returns the number of the row's columns.
func (r *Row) Len() int { return len(r.names) }

// Name returns the name of column i.
func (r *Row) Name(i int) string { return r.names[i] }

// Names returns the names of the row's columns, in order. The slice is
// shared with the reader and with other rows of the same schema: read it,
// never modify it.
func (r *Row) Names() []string { return r.names }

// Kind returns how the row holds the value of column i.
func (r *Row) Kind(i int) Kind {
	switch r.values[i].(type) {
	case inTexts:
		return KindText
	case inJSON:
		return KindJSON
	case nil:
		return KindNull
	}
	return KindValue
}

// Value returns the value of column i, boxing it if the row holds it as
// a string or JSON text (which allocates: code on a hot path reads those
// with Text and RawJSON).
func (r *Row) Value(i int) any {
	switch r.values[i].(type) {
	case inTexts:
		return r.texts[i]
	case inJSON:
		return r.rawJSON(i)
	}
	return r.values[i]
}

// rawJSON returns the JSON text of column i, which the row holds as
// inJSON{}.
func (r *Row) rawJSON(i int) json.RawMessage {
	if r.spans != nil {
		return r.Raw[r.spans[2*i]:r.spans[2*i+1]]
	}
	return r.raws[i]
}

// Text returns the value of column i if it is a string (KindText).
func (r *Row) Text(i int) (string, bool) {
	if _, ok := r.values[i].(inTexts); ok {
		return r.texts[i], true
	}
	return "", false
}

// RawJSON returns the value of column i if it is JSON text as read
// (KindJSON).
func (r *Row) RawJSON(i int) (json.RawMessage, bool) {
	if _, ok := r.values[i].(inJSON); ok {
		return r.rawJSON(i), true
	}
	return nil, false
}

// PlainJSONStrings reports whether the reader found that no string in the
// row's JSON texts (RawJSON) holds an escape sequence, U+2028 or U+2029:
// every such string is then valid UTF-8 that jsontext.AppendString
// writes as it is, in canonical form. False when it does not know.
func (r *Row) PlainJSONStrings() bool { return r.plain }

// AllValues returns the row's values as one slice, each as Value returns
// it. It allocates; it is meant for tests and tools, not the hot path.
func (r *Row) AllValues() []any {
	if r.values == nil {
		return nil
	}
	out := make([]any, len(r.values))
	for i := range r.values {
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

// Index returns the index of the named column, or -1.
func (r *Row) Index(name string) int {
	for i, n := range r.names {
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
