package readers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"
	"github.com/apache/arrow/go/v15/parquet"
	"github.com/apache/arrow/go/v15/parquet/compress"
	"github.com/apache/arrow/go/v15/parquet/file"
	"github.com/apache/arrow/go/v15/parquet/metadata"
	"github.com/apache/arrow/go/v15/parquet/pqarrow"
	"github.com/apache/arrow/go/v15/parquet/schema"
)

const (
	// parquetBatchRows is how many rows are decoded at a time.
	parquetBatchRows = 2048
	// parquetBufferSize is the read buffer of each column being read: the
	// column chunks of a row group are streamed page by page, never read
	// whole. The same for an object in a bucket (see parquetChunkRequest).
	parquetBufferSize = 64 << 10
	// maxColumnChunkBytes caps the uncompressed size of one column of one
	// row group. Pages are read whole, and a page can be as large as its
	// column chunk: a larger chunk is refused rather than risk holding it.
	maxColumnChunkBytes = 1 << 30
)

var errParquetNeedsFile error = &needsFile{"parquet: reading Parquet needs a regular file it can seek in; save the data to a file first"}

// needsFileError is the error for Parquet data that is not in a regular
// file.
func needsFileError(path string) error {
	if path == "-" {
		path = "standard input"
	}
	return fmt.Errorf("%s: %w", path, errParquetNeedsFile)
}

// parquetField is a top-level column being read.
type parquetField struct {
	name   string
	index  int   // in the file's schema manifest
	leaves []int // its leaf columns
	int96  bool  // a plain INT96 column, read without Arrow
	// nested marks a field with a struct in its type (also maps and
	// lists of structs). Arrow decodes the children of a struct on
	// goroutines of its own, where a panic on malformed data cannot be
	// recovered: the leaves of such a field are decoded once beforehand,
	// row group by row group, where a failure is an error.
	nested bool
	conv   converter
}

// rowGroup is what the footer says about one row group.
type rowGroup struct {
	rows     int64
	first    int64    // ordinal of its first row, minus one
	end      int64    // file offset after its last column chunk
	maxChunk int64    // compressed size of its largest column chunk to read
	chunks   []extent // where its column chunks to read are (objects in buckets)
}

// columnBatcher yields the values of one column of one row group, n rows
// at a time.
type columnBatcher interface {
	next(n int64) (arrow.Array, error)
	release()
}

// parquetReader reads a Parquet file one row group at a time, and within
// it parquetBatchRows rows at a time.
type parquetReader struct {
	src      *Source
	f        io.Closer       // the file, or what ends the reads of an object
	object   *objectReaderAt // the reads of an object in a bucket; nil for a file
	props    *parquet.ReaderProperties
	pf       *file.Reader
	fr       *pqarrow.FileReader
	progress *atomic.Int64
	reported int64 // file offset up to which progress is reported
	size     int64

	arena  rowArena // the rows' values and texts
	text   string   // where a valueFunc puts a string
	fields []parquetField
	names  []string
	groups []rowGroup

	group   int             // row group being read
	stop    int             // the row group after the last to read
	columns []columnBatcher // of the current row group; nil between groups
	left    int64           // rows of the current group not yet decoded
	arrays  []arrow.Array   // the current batch
	values  []valueFunc     // bound to the current batch
	n, i    int             // rows in the batch, index of the next
	row     int64           // ordinal of the last row returned
	calls   uint
	err     error // sticky: io.EOF or a fatal error
}

var (
	_ Reader  = (*parquetReader)(nil)
	_ Schemer = (*parquetReader)(nil)
)

// openParquet opens src as a Parquet file. reported is how much of the
// file the progress counter already counts.
func openParquet(ctx context.Context, src Source, opts Options, at *Position, reported int64) (r *parquetReader, err error) {
	if src.Path == "-" {
		return nil, needsFileError(src.Path)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var (
		f    parquet.ReaderAtSeeker
		c    io.Closer
		size int64
	)
	var ra *objectReaderAt
	if src.obj != nil {
		var closer io.Closer
		ra, closer = openParquetObject(ctx, src, opts)
		f, c, size = io.NewSectionReader(ra, 0, src.obj.size), closer, src.obj.size
		defer func() {
			// A failed range read (a replaced object, a denied one)
			// is the cause, however the library words it.
			if err != nil && !isContextError(ctx, err) {
				if cause := ra.failure(); cause != nil {
					err = fileError(src.Path, cause)
				}
			}
		}()
		if err := ra.loadFooter(); err != nil {
			c.Close()
			if isContextError(ctx, err) {
				return nil, err
			}
			return nil, fileError(src.Path, err)
		}
	} else {
		file, err := os.Open(src.Path)
		if err != nil {
			return nil, err
		}
		fi, err := file.Stat()
		if err != nil {
			file.Close()
			return nil, err
		}
		if !fi.Mode().IsRegular() {
			file.Close()
			return nil, needsFileError(src.Path)
		}
		f, c, size = file, file, fi.Size()
	}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	var magic [4]byte
	n, err := f.ReadAt(magic[:], 0)
	if err != nil && err != io.EOF {
		if isContextError(ctx, err) {
			return nil, err
		}
		return nil, fileError(src.Path, err)
	}
	if n >= len(gzipMagic) {
		switch {
		case bytes.HasPrefix(magic[:n], gzipMagic):
			return nil, fmt.Errorf("%s: parquet: gzip-compressed Parquet files are not supported (Parquet compresses its pages itself): decompress the file first", src.Path)
		case bytes.HasPrefix(magic[:n], zstdMagic):
			return nil, fmt.Errorf("%s: parquet: zstd-compressed Parquet files are not supported (Parquet compresses its pages itself): decompress the file first", src.Path)
		}
	}
	var tail [4]byte
	if size < 12 {
		return nil, fmt.Errorf("%s: parquet: not a Parquet file: %d bytes is too small", src.Path, size)
	}
	if _, err := f.ReadAt(tail[:], size-4); err != nil {
		return nil, fileError(src.Path, err)
	}
	switch {
	case !bytes.Equal(magic[:], parquetMagic):
		return nil, fmt.Errorf("%s: parquet: not a Parquet file: it does not start with PAR1", src.Path)
	case !bytes.Equal(tail[:], parquetMagic):
		return nil, fmt.Errorf("%s: parquet: the file is truncated or damaged: it does not end with PAR1", src.Path)
	}
	defer recoverParquet(src.Path+": parquet", &err)
	props := parquet.NewReaderProperties(memory.DefaultAllocator)
	props.BufferedStreamEnabled = true
	props.BufferSize = parquetBufferSize
	pf, err := file.NewParquetReader(f, file.WithReadProps(props))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src.Path, parquetError(err))
	}
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, new(columnMemory))
	if err != nil {
		return nil, fmt.Errorf("%s: parquet: schema: %w", src.Path, err)
	}
	source := src
	source.Format = FormatParquet
	r = &parquetReader{src: &source, f: c, object: ra, props: props, pf: pf, fr: fr, progress: opts.Progress, reported: reported, size: size}
	if err := r.selectFields(opts.Select, opts.Bytes); err != nil {
		return nil, fmt.Errorf("%s: %w", src.Path, err)
	}
	if err := r.readFooter(); err != nil {
		return nil, fmt.Errorf("%s: %w", src.Path, err)
	}
	r.stop = len(r.groups)
	if rg := src.Range; rg != nil {
		if rg.Start < 0 || rg.End <= rg.Start || rg.End > int64(len(r.groups)) {
			return nil, fmt.Errorf("%s: %s: not a run of the file's %d row groups", src.Path, rg.String(FormatParquet), len(r.groups))
		}
		r.stop = int(rg.End)
		if at == nil {
			r.group = int(rg.Start)
			r.row = r.groups[r.group].first
			if r.group > 0 {
				r.report(r.groups[r.group-1].end)
			}
		}
	}
	if at != nil {
		if err := r.seek(ctx, at); err != nil {
			if isContextError(ctx, err) {
				return nil, err
			}
			return nil, fmt.Errorf("%s: %w", src.Path, err)
		}
	}
	return r, nil
}

// parquetError words the errors of the Parquet library that a user meets.
func parquetError(err error) error {
	if bytes.HasPrefix([]byte(err.Error()), []byte("parquet")) {
		return err
	}
	return fmt.Errorf("parquet: %w", err)
}

// recoverParquet turns a panic of the Parquet library on malformed data
// into an error saying where it happened.
func recoverParquet(where string, err *error) {
	if p := recover(); p != nil {
		*err = fmt.Errorf("%s: the file is malformed or uses a feature this reader does not support (%v)", where, p)
	}
}

// selectFields picks the top-level columns to read: the names in sel in
// the order of the file, or all of them. The byte arrays of the columns
// named in binary are read as bytes (Options.Bytes).
func (r *parquetReader) selectFields(sel, binary []string) error {
	manifest := r.fr.Manifest
	descr := r.pf.MetaData().Schema
	hints := typeHints{unwrap: make(map[arrow.DataType]bool), naive: make(map[arrow.DataType]bool), descr: descr}
	for k := range manifest.Fields {
		findLegacyListElements(&manifest.Fields[k], descr, hints.unwrap)
		findNaiveTimestamps(&manifest.Fields[k], descr, hints.naive)
	}
	want := make(map[string]bool, len(sel))
	for _, name := range sel {
		want[name] = true
	}
	asBytes := make(map[string]bool, len(binary))
	for _, name := range binary {
		asBytes[name] = true
	}
	for k := range manifest.Fields {
		sf := &manifest.Fields[k]
		name := sf.Field.Name
		if sel != nil && !want[name] {
			continue
		}
		pf := parquetField{name: name, index: k, leaves: leafColumns(sf, nil), nested: hasStruct(sf.Field.Type)}
		if len(sf.Children) == 0 {
			col := descr.Column(sf.ColIndex)
			pf.int96 = col.PhysicalType() == parquet.Types.Int96 && col.MaxRepetitionLevel() == 0
		}
		h := hints
		h.bytes = asBytes[name]
		conv, err := newConverter(sf.Field.Type, sf, pf.int96, h)
		if err != nil {
			return fmt.Errorf("parquet: column %q: %w", name, err)
		}
		pf.conv = conv
		r.fields = append(r.fields, pf)
		r.names = append(r.names, name)
	}
	return nil
}

// findLegacyListElements marks the struct types that Arrow makes of a
// legacy two-level list element which is itself a list:
//
//	optional group a (LIST) {
//	  repeated group array (LIST) {
//	    repeated int32 array;
//	  }
//	}
//
// is a list of lists of int32 ([[1,2],[3,4]]), which Arrow reads as a
// list of structs with one field named "array".
func findLegacyListElements(sf *pqarrow.SchemaField, descr *schema.Schema, out map[arrow.DataType]bool) {
	for k := range sf.Children {
		findLegacyListElements(&sf.Children[k], descr, out)
	}
	st, ok := sf.Field.Type.(*arrow.StructType)
	if !ok || st.NumFields() != 1 || len(sf.Children) != 1 {
		return
	}
	leaves := leafColumns(sf, nil)
	if len(leaves) == 0 || leaves[0] < 0 || leaves[0] >= descr.NumColumns() {
		return
	}
	for n := descr.Column(leaves[0]).SchemaNode().Parent(); n != nil; n = n.Parent() {
		g, ok := n.(*schema.GroupNode)
		if !ok || n.Name() != sf.Field.Name {
			continue
		}
		_, list := n.LogicalType().(*schema.ListLogicalType)
		if n.RepetitionType() == parquet.Repetitions.Repeated && g.NumFields() == 1 &&
			(list || n.ConvertedType() == schema.ConvertedTypes.List) {
			out[st] = true
		}
		return
	}
}

// findNaiveTimestamps marks the timestamp types of leaf columns whose
// Parquet type says they are not adjusted to UTC.
func findNaiveTimestamps(sf *pqarrow.SchemaField, descr *schema.Schema, out map[arrow.DataType]bool) {
	for k := range sf.Children {
		findNaiveTimestamps(&sf.Children[k], descr, out)
	}
	if len(sf.Children) > 0 || sf.ColIndex < 0 || sf.ColIndex >= descr.NumColumns() {
		return
	}
	t := sf.Field.Type
	if d, ok := t.(*arrow.DictionaryType); ok {
		t = d.ValueType
	}
	if _, ok := t.(*arrow.TimestampType); !ok {
		return
	}
	if lt, ok := descr.Column(sf.ColIndex).LogicalType().(*schema.TimestampLogicalType); ok && !lt.IsAdjustedToUTC() {
		out[t] = true
	}
}

// hasStruct reports whether t is or holds a struct (maps hold structs of
// key and value).
func hasStruct(t arrow.DataType) bool {
	switch t := t.(type) {
	case *arrow.StructType, *arrow.MapType:
		return true
	case arrow.ListLikeType:
		return hasStruct(t.Elem())
	}
	return false
}

// leafColumns lists the leaf columns of a field. (The manifest marks
// parents with column 0, not -1: leaves are the fields without children.)
func leafColumns(sf *pqarrow.SchemaField, out []int) []int {
	if len(sf.Children) == 0 {
		return append(out, sf.ColIndex)
	}
	for k := range sf.Children {
		out = leafColumns(&sf.Children[k], out)
	}
	return out
}

// readFooter lists the row groups and checks, before any row is read,
// that every column chunk to read uses a codec and encodings this reader
// has and is not too large to read.
func (r *parquetReader) readFooter() error {
	md := r.pf.MetaData()
	var first int64
	for g := range r.pf.NumRowGroups() {
		rg := md.RowGroup(g)
		info := rowGroup{rows: rg.NumRows(), first: first}
		if info.rows < 0 {
			return fmt.Errorf("parquet: row group %d: negative row count %d", g, info.rows)
		}
		first += info.rows
		for c := range rg.NumColumns() {
			cc, err := rg.ColumnChunk(c)
			if err != nil {
				return fmt.Errorf("parquet: row group %d: column %d: %w", g, c, err)
			}
			info.end = max(info.end, chunkExtent(cc).end)
		}
		info.end = min(info.end, r.size)
		for _, f := range r.fields {
			for _, c := range f.leaves {
				cc, err := rg.ColumnChunk(c)
				if err != nil {
					return fmt.Errorf("parquet: row group %d: column %q: %w", g, f.name, err)
				}
				path := cc.PathInSchema().String()
				if _, err := compress.GetCodec(cc.Compression()); err != nil {
					return fmt.Errorf("parquet: column %s is compressed with %s, which this reader does not support", path, cc.Compression())
				}
				for _, enc := range cc.Encodings() {
					if !supportedEncoding(enc) {
						return fmt.Errorf("parquet: column %s uses the %s encoding, which this reader does not support", path, enc)
					}
				}
				info.maxChunk = max(info.maxChunk, cc.TotalCompressedSize())
				if r.object != nil {
					info.chunks = append(info.chunks, chunkExtent(cc))
				}
				if n := cc.TotalUncompressedSize(); n > maxColumnChunkBytes {
					return fmt.Errorf("parquet: row group %d: column %s holds %d bytes uncompressed, over the %d this reader accepts in one column of one row group", g, path, n, maxColumnChunkBytes)
				}
			}
		}
		r.groups = append(r.groups, info)
	}
	return nil
}

// chunkExtent is where a column chunk is in the file: from its
// dictionary page, if it has one, or its first data page, for its
// compressed size.
func chunkExtent(cc *metadata.ColumnChunkMetaData) extent {
	start := cc.DataPageOffset()
	if cc.HasDictionaryPage() && cc.DictionaryPageOffset() > 0 && cc.DictionaryPageOffset() < start {
		start = cc.DictionaryPageOffset()
	}
	return extent{start: start, end: start + cc.TotalCompressedSize()}
}

// supportedEncoding reports the encodings the Parquet library decodes.
func supportedEncoding(enc parquet.Encoding) bool {
	switch enc {
	case parquet.Encodings.Plain, parquet.Encodings.PlainDict, parquet.Encodings.RLE, parquet.Encodings.RLEDict,
		parquet.Encodings.BitPacked, parquet.Encodings.DeltaByteArray, parquet.Encodings.DeltaBinaryPacked,
		parquet.Encodings.DeltaLengthByteArray:
		return true
	}
	return false
}

// seek positions the reader at the row at: its row group, then the rows
// before it in that group, decoded and dropped.
func (r *parquetReader) seek(ctx context.Context, at *Position) error {
	if at.Row < 1 {
		return fmt.Errorf("resume: invalid position (row %d)", at.Row)
	}
	if at.Line != 0 || at.Offset != 0 {
		return fmt.Errorf("resume: a Parquet position has no line or offset (line %d, offset %d)", at.Line, at.Offset)
	}
	g := at.RowGroup
	if g < 0 || g >= len(r.groups) {
		return fmt.Errorf("resume: row group %d is not in the file, which has %d", g, len(r.groups))
	}
	if rg := r.src.Range; rg != nil && (int64(g) < rg.Start || int64(g) >= rg.End) {
		return fmt.Errorf("resume: row group %d is not in %s", g, rg.String(FormatParquet))
	}
	info := r.groups[g]
	if at.Row <= info.first || at.Row > info.first+info.rows {
		if info.rows == 0 {
			return fmt.Errorf("resume: row %d is not in row group %d, which has no rows", at.Row, g)
		}
		return fmt.Errorf("resume: row %d is not in row group %d, which holds rows %d to %d", at.Row, g, info.first+1, info.first+info.rows)
	}
	r.group = g
	r.row = info.first
	if g > 0 {
		r.report(r.groups[g-1].end)
	}
	if err := r.startGroup(ctx); err != nil {
		return err
	}
	for skip := at.Row - 1 - info.first; skip > 0; {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(skip, parquetBatchRows)
		if err := r.loadBatch(n, false); err != nil {
			return err
		}
		skip -= n
		r.row += n
	}
	return nil
}

// Schema returns the names of the top-level columns read.
func (r *parquetReader) Schema() []string { return r.names }

// Next returns the next row; see Reader.
func (r *parquetReader) Next(ctx context.Context) (row Row, err error) {
	if r.err != nil {
		return Row{}, r.err
	}
	r.calls++
	if r.calls&63 == 1 {
		if err := ctx.Err(); err != nil {
			return Row{}, err
		}
	}
	defer func() {
		if p := recover(); p != nil {
			row, err = Row{}, r.fail(fmt.Errorf("%s: parquet: row %d: the file is malformed or uses a feature this reader does not support (%v)", r.src.Path, r.row, p))
		}
	}()
	for r.i >= r.n {
		if err := r.load(ctx); err != nil {
			if !isContextError(ctx, err) {
				err = r.objectCause(err)
				r.err = err
			}
			return Row{}, err
		}
	}
	i := r.i
	r.i++
	r.row++
	pos := Position{File: r.src.Path, Row: r.row, RowGroup: r.group}
	values := r.arena.newValues(len(r.values))
	var (
		texts []string
		bad   *RowError
	)
	for k, value := range r.values {
		v, err := value(i, &r.text)
		if _, ok := v.(inTexts); ok {
			if texts == nil {
				texts = r.arena.newTexts(len(r.values))
			}
			texts[k] = r.text
		}
		if err != nil {
			var ve *valueError
			if !errors.As(err, &ve) {
				return Row{}, r.fail(fmt.Errorf("%s: row %d: column %q: %w", r.src.Path, r.row, r.names[k], err))
			}
			if bad == nil {
				bad = &RowError{Pos: pos, Reason: ve.reason, Err: fmt.Errorf("column %q: %w", r.names[k], ve.err)}
			}
			v = ve.text
		}
		values[k] = v
	}
	row = Row{Pos: pos, Source: r.src, names: r.names, values: values, texts: texts}
	if bad != nil {
		bad.Raw = appendRowJSON(nil, r.names, row.AllValues())
		return Row{}, bad
	}
	return row, nil
}

func (r *parquetReader) fail(err error) error {
	err = r.objectCause(err)
	r.err = err
	return err
}

// objectCause returns, for an object in a bucket whose range read failed
// (replaced, denied), that failure, named, in place of err, which is how
// the Parquet library worded it.
func (r *parquetReader) objectCause(err error) error {
	if r.object == nil {
		return err
	}
	if cause := r.object.failure(); cause != nil {
		return fileError(r.src.Path, cause)
	}
	return err
}

// load decodes the next batch of rows, moving on to the next row group
// when the current one is done. io.EOF after the last row group.
func (r *parquetReader) load(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for r.columns == nil || r.left == 0 {
		if r.columns != nil {
			r.endGroup()
			r.group++
		}
		if r.group >= r.stop {
			r.report(r.size)
			return io.EOF
		}
		if err := r.startGroup(ctx); err != nil {
			return fmt.Errorf("%s: %w", r.src.Path, err)
		}
	}
	if err := r.loadBatch(min(r.left, parquetBatchRows), true); err != nil {
		return fmt.Errorf("%s: %w", r.src.Path, err)
	}
	return nil
}

// startGroup sets up the column readers of row group r.group.
func (r *parquetReader) startGroup(ctx context.Context) (err error) {
	defer recoverParquet(fmt.Sprintf("parquet: row group %d", r.group), &err)
	g := r.group
	r.left = r.groups[g].rows
	r.columns = make([]columnBatcher, 0, len(r.fields))
	// Each column read gets a buffer: no larger than the group's chunks.
	r.props.BufferSize = min(max(r.groups[g].maxChunk, 4<<10), parquetBufferSize)
	if r.object != nil {
		r.object.readChunks(r.groups[g].chunks)
	}
	for _, f := range r.fields {
		if f.nested {
			if err := r.checkLeaves(g, f); err != nil {
				r.releaseColumns()
				return fmt.Errorf("parquet: row group %d: %w", g, err)
			}
		}
	}
	for _, f := range r.fields {
		var (
			col columnBatcher
			err error
		)
		if f.int96 {
			col, err = newInt96Batcher(r.pf, g, f.leaves[0])
		} else {
			col, err = newArrowBatcher(ctx, r.fr, g, f)
		}
		if err != nil {
			r.releaseColumns()
			return fmt.Errorf("parquet: row group %d: column %q: %w", g, f.name, err)
		}
		r.columns = append(r.columns, col)
	}
	return nil
}

// checkLeaves decodes every value of the leaf columns of f in row group
// g, and reports the first that fails.
func (r *parquetReader) checkLeaves(g int, f parquetField) (err error) {
	rg := r.pf.RowGroup(g)
	for _, c := range f.leaves {
		path := r.pf.MetaData().Schema.Column(c).Path()
		if err := checkLeaf(rg, c); err != nil {
			return fmt.Errorf("column %s: %w", path, err)
		}
	}
	return nil
}

// checkLeaf decodes one column chunk and drops its values.
func checkLeaf(rg *file.RowGroupReader, c int) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("the data is malformed (%v)", p)
		}
	}()
	cc, err := rg.MetaData().ColumnChunk(c)
	if err != nil {
		return err
	}
	cr, err := rg.Column(c)
	if err != nil {
		return err
	}
	want := cc.NumValues()
	var n int64
	switch cr := cr.(type) {
	case *file.BooleanColumnChunkReader:
		n, err = drain(cr, want, cr.ReadBatch)
	case *file.Int32ColumnChunkReader:
		n, err = drain(cr, want, cr.ReadBatch)
	case *file.Int64ColumnChunkReader:
		n, err = drain(cr, want, cr.ReadBatch)
	case *file.Int96ColumnChunkReader:
		n, err = drain(cr, want, cr.ReadBatch)
	case *file.Float32ColumnChunkReader:
		n, err = drain(cr, want, cr.ReadBatch)
	case *file.Float64ColumnChunkReader:
		n, err = drain(cr, want, cr.ReadBatch)
	case *file.ByteArrayColumnChunkReader:
		n, err = drain(cr, want, cr.ReadBatch)
	case *file.FixedLenByteArrayColumnChunkReader:
		n, err = drain(cr, want, cr.ReadBatch)
	default:
		return fmt.Errorf("no reader for %s values", cr.Type())
	}
	if err != nil {
		return fmt.Errorf("the data is malformed: %w", err)
	}
	if n != want {
		return fmt.Errorf("the data is malformed: %d values decoded, the metadata says %d", n, want)
	}
	return nil
}

// drain reads up to want levels of a column chunk in batches and drops
// them, returning how many there were.
func drain[T any](cr file.ColumnChunkReader, want int64, read func(int64, []T, []int16, []int16) (int64, int, error)) (int64, error) {
	const batch = 1024
	var (
		vals = make([]T, batch)
		defs = make([]int16, batch)
		reps = make([]int16, batch)
		n    int64
	)
	for n < want {
		got, _, err := read(min(batch, want-n), vals, defs, reps)
		if err != nil {
			return n, err
		}
		if got == 0 {
			break
		}
		n += got
	}
	return n, cr.Err()
}

// endGroup releases the current row group and counts it as read.
func (r *parquetReader) endGroup() {
	r.releaseColumns()
	if r.group < len(r.groups) {
		r.report(r.groups[r.group].end)
	}
}

// releaseColumns releases the batch and the column readers.
func (r *parquetReader) releaseColumns() {
	r.releaseBatch()
	for _, c := range r.columns {
		c.release()
	}
	r.columns = nil
}

// loadBatch decodes the next n rows of the current row group. Unless
// bind is set they are dropped (when resuming) without being converted.
func (r *parquetReader) loadBatch(n int64, bind bool) (err error) {
	defer recoverParquet(fmt.Sprintf("parquet: row group %d", r.group), &err)
	r.releaseBatch()
	arrays := r.arrays[:0]
	for k, col := range r.columns {
		arr, err := col.next(n)
		if err != nil {
			releaseAll(arrays)
			return fmt.Errorf("parquet: row group %d: column %q: %w", r.group, r.fields[k].name, err)
		}
		arrays = append(arrays, arr)
		if got := int64(arr.Len()); got != n {
			releaseAll(arrays)
			first := r.groups[r.group].rows - r.left + 1
			return fmt.Errorf("parquet: row group %d: column %q: %d values for its rows %d to %d: the data is corrupt or uses an encoding this reader does not support",
				r.group, r.fields[k].name, got, first, first+n-1)
		}
	}
	r.left -= n
	if !bind {
		releaseAll(arrays)
		r.arrays = arrays[:0]
		return nil
	}
	r.arrays = arrays
	r.values = r.values[:0]
	for k, arr := range arrays {
		r.values = append(r.values, r.fields[k].conv(arr))
	}
	r.n, r.i = int(n), 0
	return nil
}

func (r *parquetReader) releaseBatch() {
	releaseAll(r.arrays)
	clear(r.arrays)
	r.arrays = r.arrays[:0]
	r.values = r.values[:0]
	r.n, r.i = 0, 0
}

func releaseAll(arrays []arrow.Array) {
	for _, a := range arrays {
		if a != nil {
			a.Release()
		}
	}
}

// report counts the file up to offset off as read.
func (r *parquetReader) report(off int64) {
	if off > r.reported {
		if r.progress != nil {
			r.progress.Add(off - r.reported)
		}
		r.reported = off
	}
}

// CutRows ends a run of rows; see Recycler.
func (r *parquetReader) CutRows() *RowMemory { return r.arena.cut() }

// Close releases the file. It is safe to call more than once.
func (r *parquetReader) Close() error {
	if r.err == nil || r.err == io.EOF {
		r.err = errClosed
	}
	r.releaseColumns()
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	return err
}

// arrowBatcher reads one top-level field of one row group through Arrow.
type arrowBatcher struct {
	col *pqarrow.ColumnReader
}

func newArrowBatcher(ctx context.Context, fr *pqarrow.FileReader, group int, f parquetField) (*arrowBatcher, error) {
	leaves := make(map[int]bool, len(f.leaves))
	for _, c := range f.leaves {
		leaves[c] = true
	}
	col, err := fr.GetFieldReader(ctx, f.index, leaves, []int{group})
	if err != nil {
		return nil, err
	}
	if col == nil {
		return nil, errors.New("no column reader")
	}
	return &arrowBatcher{col: col}, nil
}

func (b *arrowBatcher) next(n int64) (arrow.Array, error) {
	chunked, err := b.col.NextBatch(n)
	if err != nil {
		return nil, err
	}
	defer chunked.Release()
	chunks := chunked.Chunks()
	switch len(chunks) {
	case 0:
		return array.MakeArrayOfNull(memory.DefaultAllocator, chunked.DataType(), 0), nil
	case 1:
		chunks[0].Retain()
		return chunks[0], nil
	}
	return array.Concatenate(chunks, memory.DefaultAllocator)
}

func (b *arrowBatcher) release() { b.col.Release() }

// int96Batcher reads a top-level INT96 column of one row group as raw
// 12-byte values.
type int96Batcher struct {
	cr     *file.Int96ColumnChunkReader
	maxDef int16
	vals   []parquet.Int96
	defs   []int16
}

func newInt96Batcher(pf *file.Reader, group, column int) (*int96Batcher, error) {
	cr, err := pf.RowGroup(group).Column(column)
	if err != nil {
		return nil, err
	}
	ir, ok := cr.(*file.Int96ColumnChunkReader)
	if !ok {
		return nil, fmt.Errorf("column %d is not INT96", column)
	}
	return &int96Batcher{cr: ir, maxDef: cr.Descriptor().MaxDefinitionLevel()}, nil
}

func (b *int96Batcher) next(n int64) (arrow.Array, error) {
	bld := array.NewFixedSizeBinaryBuilder(memory.DefaultAllocator, int96Type)
	defer bld.Release()
	bld.Reserve(int(n))
	if cap(b.vals) < int(n) {
		b.vals = make([]parquet.Int96, n)
		b.defs = make([]int16, n)
	}
	for got := int64(0); got < n; {
		levels, nvals, err := b.cr.ReadBatch(n-got, b.vals[:n-got], b.defs[:n-got], nil)
		if err != nil {
			return nil, err
		}
		if levels == 0 {
			if err := b.cr.Err(); err != nil {
				return nil, err
			}
			break
		}
		if b.maxDef == 0 {
			for _, v := range b.vals[:nvals] {
				bld.Append(v[:])
			}
		} else {
			v := 0
			for _, d := range b.defs[:levels] {
				if d == b.maxDef {
					bld.Append(b.vals[v][:])
					v++
				} else {
					bld.AppendNull()
				}
			}
		}
		got += levels
	}
	return bld.NewArray(), nil
}

func (b *int96Batcher) release() {}
