package readers

import (
	"context"
	"sync/atomic"
)

// Formats a source can have.
const (
	FormatCSV     = "csv"
	FormatNDJSON  = "ndjson"
	FormatParquet = "parquet"
)

// Source is one input: a file, or standard input ("-").
type Source struct {
	Path   string // as given or found; "-" is standard input
	Format string // one of the Format constants, detected or forced
	Size   int64  // bytes on disk (compressed size for compressed files); 0 for stdin
	// Fingerprint identifies the file's content: a hex hash of its size and
	// its first and last 64 KiB. Empty for stdin.
	Fingerprint string
}

// Options configure how sources are found and read. The zero value reads
// CSV files with a header row and a comma, and NDJSON lines up to 1 MiB.
type Options struct {
	// Format forces the format of every source ("csv", "ndjson",
	// "parquet"). Default: detected from the content and the file name.
	Format string
	// MaxLineBytes caps an NDJSON line or a CSV record. A longer one is a
	// RowError with ReasonLineTooLong. Default: 1 MiB.
	MaxLineBytes int
	// Delimiter separates CSV fields. Default: ','.
	Delimiter rune
	// Columns names the columns of headerless CSV files. Default: the
	// first record is the header.
	Columns []string
	// Progress, if set, is increased by the bytes read from the underlying
	// files (compressed bytes for compressed files), for progress bars.
	Progress *atomic.Int64
}

// Expand turns command-line arguments (files, folders, globs with **, "-")
// into the ordered list of sources to read.
func Expand(args []string, opts Options) ([]Source, error) { panic("todo") }

// Open opens src for reading. If at is non-nil, reading resumes at the row
// whose position *at is (as a Position returned by an earlier read of the
// same file): the first call of Next returns that row, and then the rest.
// Plain text files seek to at.Offset; compressed ones are decompressed again
// and the rows before it skipped without parsing their fields.
func Open(ctx context.Context, src Source, opts Options, at *Position) (Reader, error) {
	panic("todo")
}

// Schemer is implemented by readers whose rows share one list of column
// names (CSV and Parquet). Schema returns it; it is valid after Open.
type Schemer interface {
	Schema() []string
}
