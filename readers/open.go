package readers

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Formats a source can have.
const (
	FormatCSV     = "csv"
	FormatNDJSON  = "ndjson"
	FormatParquet = "parquet"
)

// Source is one input: a file, an object in a bucket, or standard input
// ("-").
type Source struct {
	Path   string // as given or found; "-" is standard input; Archive!Member for a member of a zip archive; "s3://bucket/key" for an object
	Format string // one of the Format constants, detected or forced
	// Size is the bytes on disk (compressed size for compressed files);
	// for a member of a zip archive, its size in the archive after the
	// archive's own compression is undone (a gzip member still counts
	// its gzip bytes); 0 for stdin.
	Size int64
	// Fingerprint identifies the file's content: a hex hash of its size
	// and its first and last 64 KiB; for a member of a zip archive,
	// "zip:" and the CRC-32, compressed and uncompressed sizes the
	// archive's directory records; for an object in a bucket, "object:"
	// and its ETag or generation (IsObjectFingerprint). Empty for stdin.
	Fingerprint string
	// Archive is the path of the zip archive the source is a member of,
	// and Member the member's name in it ("1234/1234_2024-01-01_0#0.json.gz");
	// both empty for a file or stdin.
	Archive, Member string
	// Range, if set, is the part of the source to read (Split): a byte
	// range of a plain NDJSON file, or a run of row groups of a Parquet
	// file. Default (nil): all of it.
	Range *Range

	zip *zipEntry // where Expand found the member in Archive
	obj *object   // the object in a bucket, and its version, that Expand listed
}

// IsObject reports whether s is an object in a bucket.
func (s Source) IsObject() bool { return s.obj != nil }

// Options configure how sources are found and read. The zero value reads
// CSV files with a header row and a comma, and NDJSON lines up to 1 MiB.
type Options struct {
	// Format forces the format of every source ("csv", "ndjson",
	// "parquet"). Default: detected from the content and the file name.
	Format string
	// MaxLineBytes caps an NDJSON line or a CSV record. A longer one is a
	// RowError with ReasonLineTooLong. It counts the source's bytes, but
	// the decoded UTF-8 of a UTF-16 source. Default: 1 MiB.
	MaxLineBytes int
	// Delimiter separates CSV fields. Default: ','.
	Delimiter rune
	// Columns names the columns of headerless CSV files. Default: the
	// first record is the header.
	Columns []string
	// Null lists the CSV cell texts that are absent values (nil) rather
	// than strings. Only unquoted cells are compared: a quoted "" is
	// always the empty string. Default (nil): the empty string. A non-nil
	// empty slice: no cell is absent.
	Null []string
	// Select names the top-level columns to read where the format can
	// skip the others (Parquet); a name the file lacks is ignored, and the
	// reader's Schema lists what was found, in the file's order. Other
	// formats read every column. Default (nil): all columns. A non-nil
	// empty slice reads none: rows then only count.
	Select []string
	// Bytes names the top-level Parquet columns whose byte arrays hold
	// binary data rather than text. A byte array (BYTE_ARRAY or
	// FIXED_LEN_BYTE_ARRAY) without a logical type is text, as Impala,
	// Hive and Spark write strings: it is read as a string, and one that
	// is not valid UTF-8 makes its row a *RowError (invalid_utf8). In a
	// column named here, a byte array is read as a []byte instead, not
	// checked for UTF-8 (as standard base64 inside a list, struct or
	// map). A name the file lacks is ignored; other formats ignore the
	// field. Default (nil): every byte array without a logical type is
	// text.
	Bytes []string
	// Encoding names the text encoding of CSV and NDJSON sources (not
	// Parquet, whose strings are UTF-8 by its format): "latin1",
	// "windows-1252", "shift_jis", "utf-16le" and the other names of the
	// WHATWG Encoding Standard (so latin1, iso-8859-1 and ascii are
	// windows-1252), else of the IANA registry. Stateful encodings
	// (ISO-2022-JP) and ones that are not ASCII-compatible (EBCDIC) are
	// refused. Whatever the encoding, a UTF-16 byte-order mark makes a
	// file UTF-16 (a UTF-8 one is skipped), and a configured encoding
	// such a mark contradicts is an error of Open. Rows are decoded to
	// UTF-8 (a row's Raw is its text); positions stay byte offsets in
	// the uncompressed source. A row whose bytes are not text in the
	// encoding is a RowError with ReasonInvalidEncoding whose Raw is its
	// source bytes. Default: UTF-8, strictly (invalid bytes are
	// ReasonInvalidUTF8), with UTF-16 detected by its byte-order mark.
	Encoding string
	// Progress, if set, is increased by the bytes read from the underlying
	// files (compressed bytes for compressed files), for progress bars.
	// Bytes a resumed plain file skips by seeking count as read, and no
	// byte counts twice. A byte range of a file (Source.Range) counts the
	// file's bytes up to the range's end, those before it as skipped.
	Progress *atomic.Int64
	// BrokenLink, if set, is called by Expand once for each symbolic link
	// inside a folder or glob whose target does not exist or cannot be
	// reached (a loop of links, a folder it may not enter), and that
	// would have been read had it led to a file. Such a link is skipped:
	// it holds no rows. Default (nil): skipped without a word.
	BrokenLink func(path string, err error)
	// ArchiveSince, if set, makes Expand skip the day folders of
	// Segment's S3 destination layout (segment-logs/SOURCE-ID/DAY/, DAY
	// the Unix milliseconds of the UTC day Segment received the events)
	// whose day ended more than a day before it, without listing them:
	// no event in them can be at or after it. Later folders are all
	// kept, since late events land in later folders. Default: none
	// skipped.
	ArchiveSince time.Time
	// ArchiveSkipped, if set, is called by Expand for each day folder
	// that ArchiveSince skips.
	ArchiveSkipped func(ArchiveDay)
	// ObjectRetry is how reads and listings of object storage are tried
	// again after errors that might pass. Default: as HTTP sends.
	ObjectRetry ObjectRetry

	text *textEncoding // Encoding, resolved by withDefaults
}

// Validate reports the first invalid field of o, naming it.
func (o Options) Validate() error {
	switch o.Format {
	case "", FormatCSV, FormatNDJSON, FormatParquet:
	default:
		return fmt.Errorf("readers: Format %q: want csv, ndjson or parquet", o.Format)
	}
	if o.MaxLineBytes < 0 {
		return fmt.Errorf("readers: MaxLineBytes %d: must not be negative", o.MaxLineBytes)
	}
	for i, name := range o.Select {
		if name == "" {
			return fmt.Errorf("readers: Select[%d]: empty column name", i)
		}
	}
	for i, name := range o.Bytes {
		if name == "" {
			return fmt.Errorf("readers: Bytes[%d]: empty column name", i)
		}
	}
	if d := o.Delimiter; d != 0 && (d >= utf8.RuneSelf || d == '"' || d == '\r' || d == '\n') {
		return fmt.Errorf("readers: Delimiter %q: want a single-byte character other than a quote or a line break", d)
	}
	return checkEncoding(o)
}

// withDefaults validates o and fills in its defaults.
func (o Options) withDefaults() (Options, error) {
	if err := o.Validate(); err != nil {
		return o, err
	}
	if o.MaxLineBytes == 0 {
		o.MaxLineBytes = defaultMaxLineBytes
	}
	o.text, _ = lookupEncoding(o.Encoding) // validated
	return o, nil
}

// Expand turns command-line arguments (files, folders, globs with **, "-")
// into the ordered list of sources to read.
//
// Arguments keep their order; a folder's files (walked recursively) and a
// glob's matches are sorted. Folders and globs follow symbolic links, to
// files and to folders, a folder given as a link included; a link to a
// folder above it or above the argument (a loop) is not followed, and a
// link whose target is missing is skipped and reported to
// Options.BrokenLink. Inside folders and globs, hidden files and
// folders (a name starting with '.') and this tool's own files (names
// ending in ".rejects.ndjson", anything under ".backfill") are skipped; a
// file named explicitly is always used. A file reached twice is listed
// once. "-" (standard input) may appear once. A missing file, or a folder or
// glob that yields no file, is an error naming it. A zip archive (a
// regular file named .zip or starting like one) stands for its members,
// sorted by name, each a Source of its own whose Path is the archive's
// path, "!" and the member's name ("export.zip!1234/1234_2024-01-01_0#0.json.gz"),
// so that its rows' positions and errors name the member; folders, hidden
// members and __MACOSX/ are skipped, and an archive with no other member,
// a member that is itself a zip archive or Parquet, or two members of one
// name are errors. Each file's format is
// detected (Options.Format forces it) and its size and Fingerprint are
// recorded; standard input's format is detected when it is opened.
func Expand(args []string, opts Options) ([]Source, error) {
	return expand(context.Background(), args, opts)
}

// ExpandContext is Expand, with the listing of buckets within ctx.
//
// An argument s3://BUCKET/KEY, gs://BUCKET/KEY or azblob://CONTAINER/KEY
// names objects in a bucket, with the same rules as a local path: the
// object KEY if there is one, else the objects under KEY/ as a folder's
// files (hidden ones and this tool's own skipped), or those a pattern
// with *, ? and ** matches; in key order. The URL's query configures the
// bucket (gocloud.dev's URL forms: endpoint, region, use_path_style for
// S3; protocol, domain, localemu for Azure) and is left out of the
// sources' names ("s3://bucket/key"). An object's Fingerprint is its ETag
// or generation (IsObjectFingerprint), its Size its size; reading it
// asks the store for that version, so a read of an object replaced since
// fails with a *ChangedError. With Options.ArchiveSince, the day folders
// of Segment's S3 destination (segment-logs/SOURCE-ID/DAY/) whose day
// ended more than a day before it are skipped without being listed, and
// reported to Options.ArchiveSkipped.
func ExpandContext(ctx context.Context, args []string, opts Options) ([]Source, error) {
	return expand(ctx, args, opts)
}

// Open opens src for reading. If at is non-nil, reading resumes at the row
// whose position *at is (as a Position returned by an earlier read of the
// same file): the first call of Next returns that row, and then the rest.
// Plain text files seek to at.Offset; compressed ones are decompressed again
// and the rows before it skipped without parsing their fields.
//
// The format is Options.Format, else src.Format, else detected from the file
// name after any .gz/.zst/.zstd/.bz2 extension (.csv, .tsv, .ndjson, .jsonl,
// .json, .parquet), else from the content. Compression (gzip, zstd, bzip2)
// is detected from the content's magic bytes. A member of a zip archive
// (Source.Archive, as Expand lists them) is read from the archive as a
// file is, its own compression detected the same way; it cannot be
// Parquet. A zip archive itself is refused: Expand lists its members, and
// one from standard input or a pipe cannot be read (zip keeps its
// directory at its end). A .json file (or detected JSON)
// whose content is one top-level array is read element by element. Open
// blocks while it reads the first bytes (and a CSV header, or a Parquet
// footer). The returned Reader is a Schemer for CSV and Parquet.
//
// A source with a Range (Split) is read in part: the rows that start in
// its byte range of a plain NDJSON file, or its row groups of a Parquet
// file. The rows of a byte range that starts mid-file have no line (see
// Position).
//
// Parquet is read from a regular file (not standard input, and not from
// inside gzip or zstd), one row group at a time and within it in batches
// of rows, reading only the columns of Options.Select when it is set. Its
// rows carry a row ordinal and a row group, no line, offset or Raw bytes;
// resuming seeks to the position's row group and decodes and drops the
// rows before it in that group. A file using a codec or an encoding the
// reader lacks (LZ4, LZ4_RAW, BYTE_STREAM_SPLIT), or with a column chunk
// over 1 GiB uncompressed, is refused by Open with an error naming the
// column. Parquet values become:
//
//	BOOLEAN                       bool
//	INT8..INT64, UINT8..UINT32    int64
//	UINT64                        int64, or json.Number above 2^63-1
//	FLOAT, DOUBLE, FLOAT16        float64 (FLOAT and FLOAT16 by their shortest decimal: 0.1, not 0.10000000149011612)
//	STRING, ENUM, JSON            string
//	BYTE_ARRAY, FIXED_LEN_BYTE_ARRAY
//	  without a logical type      string (text, checked for UTF-8); []byte in a column of Options.Bytes
//	BSON, UUID, INTERVAL          string, standard base64
//	DECIMAL                       json.Number, exact, with the column's scale ("12.30")
//	DATE                          string "2006-01-02"
//	TIME                          string "15:04:05.000", with 0, 3, 6 or 9 fraction digits by unit
//	TIMESTAMP, UTC-adjusted       time.Time in UTC
//	TIMESTAMP, local              string "2006-01-02T15:04:05.999999999" without a zone, for the mapping's timezone to apply
//	INT96                         time.Time in UTC (computed as Spark does)
//	LIST, STRUCT, MAP             json.RawMessage: an array, an object in field order, an object in entry order (keys as text)
//	null                          nil
//
// Inside lists, structs and maps the same values are written as JSON, times
// and dates as the strings above (UTC-adjusted timestamps ending in "Z"),
// the byte arrays of a column of Options.Bytes as standard base64 strings.
// NaN and ±Inf, invalid UTF-8 in a STRING or in a byte array read as text,
// a null map key and a TIME outside the day make the row a *RowError
// naming the column (reason invalid_value or invalid_utf8), whose Raw is
// the row as a JSON object.
func Open(ctx context.Context, src Source, opts Options, at *Position) (Reader, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	format := opts.Format
	if format == "" {
		format = src.Format
	}
	if format == "" {
		format = formatByName(src.Path).format
	}
	if format == FormatParquet {
		if src.Archive != "" {
			return nil, parquetInZipError(src.Path)
		}
		return openParquet(ctx, src, opts, at, 0)
	}
	in, err := openSourceInput(ctx, src, opts, opts.Progress)
	if err != nil {
		return nil, err
	}
	if src.Range != nil {
		r, err := openRange(ctx, src, format, in, opts, at)
		if err != nil {
			in.Close()
			return nil, err
		}
		return r, nil
	}
	r, err := openReader(ctx, src, format, in, opts, at)
	if err != nil {
		in.Close()
		return nil, err
	}
	return r, nil
}

// openErr names the file in an error of Open, unless it is the context's.
func openErr(ctx context.Context, path string, err error) error {
	if isContextError(ctx, err) {
		return err
	}
	return fileError(path, err)
}

// openDetectedParquet opens a file whose content says it is Parquet:
// Parquet is read from the file itself, at any offset.
func openDetectedParquet(ctx context.Context, src Source, in *input, opts Options, at *Position) (Reader, error) {
	if in.codec != "" {
		return nil, fmt.Errorf("%s: parquet: %s-compressed Parquet files are not supported (Parquet compresses its pages itself): decompress the file first", src.Path, in.codec)
	}
	if src.Archive != "" {
		return nil, parquetInZipError(src.Path)
	}
	if in.object {
		in.Close()
		return openParquet(ctx, src, opts, at, 0)
	}
	if !in.owned || !in.seekable {
		return nil, needsFileError(src.Path)
	}
	in.Close()
	return openParquet(ctx, src, opts, at, in.count.high)
}

func openReader(ctx context.Context, src Source, format string, in *input, opts Options, at *Position) (Reader, error) {
	s := newStream(in.r, opts.MaxLineBytes, in.size)
	head, err := s.peek(ctx, sniffHeadSize)
	if err != nil {
		return nil, openErr(ctx, src.Path, err)
	}
	if format == "" && bytes.HasPrefix(head, parquetMagic) {
		// Before any text encoding: Parquet's strings are UTF-8 by its
		// format, whatever Options.Encoding says.
		return openDetectedParquet(ctx, src, in, opts, at)
	}
	text, big, bom, err := chooseEncoding(src.Path, head, opts.text, opts.Encoding != "")
	if err != nil {
		return nil, err
	}
	opts.text = text
	if text.isUTF16() {
		s = openUTF16(in, s, text, big, bom, opts.MaxLineBytes)
		if head, err = s.peek(ctx, sniffHeadSize); err != nil {
			return nil, openErr(ctx, src.Path, err)
		}
	} else {
		s.consume(bom)
	}
	if format == "" {
		if format, err = sniff(head); err != nil {
			return nil, openErr(ctx, src.Path, err)
		}
		if format == FormatParquet {
			return openDetectedParquet(ctx, src, in, opts, at)
		}
	}
	source := src
	source.Format = format
	switch format {
	case FormatCSV:
		return newCSVReader(ctx, &source, in, s, opts, at)
	case FormatNDJSON:
		return newNDJSONReader(ctx, &source, in, s, opts, at)
	}
	return nil, fmt.Errorf("%s: unknown format %q", src.Path, format)
}

// Schemer is implemented by readers whose rows share one list of column
// names (CSV and Parquet). Schema returns it; it is valid after Open.
type Schemer interface {
	Schema() []string
}
