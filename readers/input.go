package readers

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

const (
	// bufferSize is the initial size of a stream's buffer. It grows only
	// as far as a record of MaxLineBytes needs.
	bufferSize = 256 << 10
	// fileBufferSize is the size of the buffer in front of the file (or
	// the decompressor's input); large plain reads bypass it.
	fileBufferSize = 64 << 10
	// rawPrefixSize is how much of an over-long row is kept for rejects.
	rawPrefixSize = 1 << 10
	// defaultMaxLineBytes is the default of Options.MaxLineBytes.
	defaultMaxLineBytes = 1 << 20
)

var (
	gzipMagic    = []byte{0x1f, 0x8b}
	zstdMagic    = []byte{0x28, 0xb5, 0x2f, 0xfd}
	parquetMagic = []byte("PAR1")
	// bzip2Magic is "BZh", a block size digit and the magic of the first
	// block (or of the end of an empty stream).
	bzip2Magic = []byte("BZh91AY&SY")
	utf8BOM    = []byte{0xef, 0xbb, 0xbf}
)

// countingReader counts the bytes read from a file into a progress counter.
// It adds only what lies beyond the furthest offset reached so far, so a
// seek back (resuming a CSV file after its header) does not count twice and
// a seek forward counts the skipped bytes as done.
type countingReader struct {
	r        io.Reader
	progress *atomic.Int64
	pos      int64 // offset of the next byte of the file
	high     int64 // furthest offset reported
	limit    int64 // if positive, no offset past it is reported (the end of a range read)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.pos += int64(n)
		c.report()
	}
	return n, err
}

func (c *countingReader) report() {
	pos := c.pos
	if c.limit > 0 && pos > c.limit {
		pos = c.limit
	}
	if pos > c.high {
		if c.progress != nil {
			c.progress.Add(pos - c.high)
		}
		c.high = pos
	}
}

// codecError is a decompression error: corrupt or truncated data.
type codecError struct {
	codec string
	err   error
}

func (e *codecError) Error() string {
	msg := e.err.Error()
	if strings.HasPrefix(msg, e.codec+":") {
		return msg
	}
	return e.codec + ": " + msg
}

func (e *codecError) Unwrap() error { return e.err }

// Is reports whether target is ErrDamaged.
func (e *codecError) Is(target error) bool { return target == ErrDamaged }

// ErrDamaged is what the error of a compressed file that is corrupt or
// truncated is (errors.Is): reading it again gives the same error.
var ErrDamaged = errors.New("damaged compressed data")

// codecReader marks the errors of a decompressor as codec errors. A
// truncated stream surfaces as io.ErrUnexpectedEOF, never as a clean io.EOF.
type codecReader struct {
	codec string
	r     io.Reader
}

func (c codecReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err != nil && err != io.EOF && !errors.Is(err, ErrChanged) {
		err = &codecError{codec: c.codec, err: err}
	}
	return n, err
}

// input is an open source file: the file, the progress counter over it and
// the decompressor, if its first bytes name one.
type input struct {
	path     string
	file     *os.File
	owned    bool // the file is closed with the input (not stdin)
	count    countingReader
	br       *bufio.Reader
	gz       *gzip.Reader
	ra       *readAhead // over gz
	zs       *zstd.Decoder
	codec    string      // "", "gzip", "zstd" or "bzip2"
	r        io.Reader   // the uncompressed stream
	seekable bool        // a plain regular file: resuming may seek
	stable   *stableFile // over file, if it is a regular file
	size     int64       // size of a plain regular file, else 0

	member     io.Closer // the member of a zip archive or the object read, closed with the input; nil for a file
	fileBacked bool      // a regular file, a zip member or an object: a read never waits for a writer
	seeker     io.Seeker // an object's stream, which seek moves; nil for a file
	object     bool      // an object in a bucket
}

// openInput opens path ("-" is standard input) and sets up decompression by
// the magic bytes of its content.
func openInput(path string, progress *atomic.Int64) (*input, error) {
	in := &input{path: path}
	if path == "-" {
		in.file = os.Stdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		in.file, in.owned = f, true
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, err
		}
		in.seekable = fi.Mode().IsRegular()
		in.fileBacked = in.seekable
		if in.seekable {
			in.size = fi.Size()
			in.stable = newStableFile(f, path, fi)
		}
	}
	in.count = countingReader{r: in.file, progress: progress}
	if in.stable != nil {
		in.count.r = in.stable
	}
	return in, in.decompress()
}

// openSourceInput opens src: its file, its member of a zip archive, or its
// object in a bucket (streamed within ctx).
func openSourceInput(ctx context.Context, src Source, opts Options, progress *atomic.Int64) (*input, error) {
	if src.obj != nil {
		return openObjectInput(ctx, src, opts, progress)
	}
	if src.Archive == "" {
		return openInput(src.Path, progress)
	}
	m, err := openMember(src)
	if err != nil {
		return nil, err
	}
	return newInput(src.Path, m, m, progress)
}

// newInput reads r, the content of a member of a zip archive named path,
// closed with closer, and sets up decompression by the magic bytes of its
// content.
func newInput(path string, r io.Reader, closer io.Closer, progress *atomic.Int64) (*input, error) {
	in := &input{path: path, member: closer, fileBacked: true}
	in.count = countingReader{r: r, progress: progress}
	return in, in.decompress()
}

// decompress sets up the decompressor that the first bytes of the input
// name, if any. On error, the input is closed.
func (in *input) decompress() error {
	path := in.path
	in.br = bufio.NewReaderSize(&in.count, fileBufferSize)
	magic, err := in.br.Peek(len(bzip2Magic))
	if err != nil && err != io.EOF {
		in.Close()
		return fileError(path, err)
	}
	switch {
	case isZipHead(magic):
		member := in.member != nil
		in.Close()
		switch {
		case member:
			return zipInZipError(path)
		case !in.seekable:
			if path == "-" {
				path = "standard input"
			}
			return fmt.Errorf("%s: %w", path, errZipStream)
		}
		return fmt.Errorf("%s: a zip archive: give it as a source (Expand lists its members)", path)
	case bytes.HasPrefix(magic, gzipMagic):
		gz, err := gzip.NewReader(in.br)
		if err != nil {
			in.Close()
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("%s: %w", path, &codecError{codec: "gzip", err: err})
		}
		in.gz, in.codec = gz, "gzip"
		in.r = codecReader{codec: "gzip", r: gz}
		if in.fileBacked {
			// A regular file (or a member of a zip archive) is
			// decompressed on a goroutine of its own, while the rows
			// of what is already decompressed are parsed. Not a pipe
			// or stdin: a read of one may wait for ever, and Close
			// waits for the goroutine's read to return.
			in.ra = newReadAhead(gz)
			in.r = codecReader{codec: "gzip", r: in.ra}
		}
		in.seekable, in.size = false, 0
	case bytes.HasPrefix(magic, zstdMagic):
		zs, err := zstd.NewReader(in.br, zstd.WithDecoderConcurrency(1))
		if err != nil {
			in.Close()
			return fmt.Errorf("%s: %w", path, &codecError{codec: "zstd", err: err})
		}
		in.zs, in.codec = zs, "zstd"
		in.r = codecReader{codec: "zstd", r: zs}
		in.seekable, in.size = false, 0
	case isBzip2Head(magic):
		in.codec = "bzip2"
		bz := bzip2.NewReader(in.br)
		in.r = codecReader{codec: "bzip2", r: bz}
		if in.fileBacked {
			// bzip2 is slow to decompress: as gzip, on a goroutine of
			// its own.
			in.ra = newReadAhead(bz)
			in.r = codecReader{codec: "bzip2", r: in.ra}
		}
		in.seekable, in.size = false, 0
	default:
		in.r = in.br
	}
	return nil
}

// seek moves a plain file to offset off; the stream over it must be reset.
func (in *input) seek(off int64) error {
	sk := io.Seeker(in.file)
	if in.seeker != nil {
		sk = in.seeker
	}
	if _, err := sk.Seek(off, io.SeekStart); err != nil {
		return err
	}
	if in.stable != nil {
		in.stable.seeked(off)
	}
	in.count.pos = off
	in.count.report()
	in.br.Reset(&in.count)
	return nil
}

// Close releases the decompressor and closes the file (never stdin). It is
// safe to call more than once.
func (in *input) Close() error {
	if st, ok := in.member.(*objectStream); ok {
		st.cancel() // ends a read of the read-ahead below that waits for the store
	}
	if in.ra != nil {
		in.ra.Close() // before gz, which it reads
		in.ra = nil
	}
	if in.gz != nil {
		in.gz.Close()
		in.gz = nil
	}
	if in.zs != nil {
		in.zs.Close()
		in.zs = nil
	}
	if in.member != nil {
		err := in.member.Close()
		in.member = nil
		return err
	}
	if in.owned && in.file != nil {
		err := in.file.Close()
		in.file = nil
		return err
	}
	return nil
}

// stream is the buffer the parsers frame records in. Unlike bufio it keeps
// the record being framed contiguous, growing up to limit for long records,
// and it tracks the offset of its first unread byte in the uncompressed
// stream.
type stream struct {
	src   io.Reader
	buf   []byte
	r, w  int   // buf[r:w] is read but not consumed
	off   int64 // stream offset of buf[r]
	limit int   // the buffer never grows beyond this
	err   error // sticky error of src (io.EOF at its end)

	// hash is the running hash of the consumed bytes, once a digest is
	// asked for (prefix.go).
	hash prefixHash

	// m maps the offsets of decoded UTF-16 back to the source; nil for a
	// stream of the source's own bytes.
	m *srcMap
}

// newStream buffers src for records of up to maxRecord bytes. sizeHint, if
// positive, is the size of src: a small source gets a small buffer.
func newStream(src io.Reader, maxRecord int, sizeHint int64) *stream {
	limit := bufferSize
	if need := maxRecord + 64; need > limit {
		limit = need
	}
	size := bufferSize
	if sizeHint > 0 && sizeHint < int64(size) {
		size = max(int(sizeHint)+1, 4<<10)
	}
	return &stream{src: src, buf: make([]byte, size), limit: limit}
}

var errBufferLimit = errors.New("record does not fit the read buffer")

// fill reads more of src into the buffer, keeping the unconsumed bytes. It
// returns nil if it added at least one byte; otherwise the context's error
// or the sticky error of src (io.EOF at its end).
func (s *stream) fill(ctx context.Context) error {
	if s.err != nil {
		return s.err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.m != nil {
		s.m.advance(s) // before the consumed bytes are dropped
	}
	if s.r > 0 {
		if s.hash.h != nil {
			s.hashConsumed()
			s.hash.hashed = 0
		}
		s.w = copy(s.buf, s.buf[s.r:s.w])
		s.r = 0
	}
	if s.w == len(s.buf) {
		if len(s.buf) >= s.limit {
			return errBufferLimit
		}
		n := min(2*len(s.buf), s.limit)
		buf := make([]byte, n)
		copy(buf, s.buf[:s.w])
		s.buf = buf
	}
	for range 100 {
		n, err := s.src.Read(s.buf[s.w:])
		s.w += n
		if err != nil {
			s.err = err
			if n > 0 {
				return nil
			}
			return err
		}
		if n > 0 {
			return nil
		}
	}
	s.err = io.ErrNoProgress
	return s.err
}

// consume marks n buffered bytes as read.
func (s *stream) consume(n int) {
	s.r += n
	s.off += int64(n)
}

// peek returns at least n unconsumed bytes, or fewer at the end of src.
func (s *stream) peek(ctx context.Context, n int) ([]byte, error) {
	for s.w-s.r < n {
		if err := s.fill(ctx); err != nil {
			if err == io.EOF {
				break
			}
			return nil, err
		}
	}
	return s.buf[s.r:s.w], nil
}

// discard skips n bytes; io.ErrUnexpectedEOF if src ends first.
func (s *stream) discard(ctx context.Context, n int64) error {
	for n > 0 {
		if s.r == s.w {
			if err := s.fill(ctx); err != nil {
				if err == io.EOF {
					return io.ErrUnexpectedEOF
				}
				return err
			}
		}
		k := int(min(n, int64(s.w-s.r)))
		s.consume(k)
		n -= int64(k)
	}
	return nil
}

// skipLineKeep discards bytes up to and including the next newline, or to
// the end of src, appending them to keep while it holds fewer than
// rawPrefixSize bytes. If keep then holds the whole line, its trailing
// carriage return is dropped, so that the kept prefix is the same however
// the line was buffered.
func (s *stream) skipLineKeep(ctx context.Context, keep []byte) ([]byte, error) {
	complete := len(keep) < rawPrefixSize
	for {
		avail := s.buf[s.r:s.w]
		i := bytes.IndexByte(avail, '\n')
		seg := avail
		if i >= 0 {
			seg = avail[:i]
		}
		if room := rawPrefixSize - len(keep); room < len(seg) {
			complete = false
		}
		keep = appendCapped(keep, seg)
		if i >= 0 {
			s.consume(i + 1)
			break
		}
		s.consume(len(avail))
		if err := s.fill(ctx); err != nil {
			if err != io.EOF {
				return keep, err
			}
			break
		}
	}
	if complete {
		keep = trimCR(keep)
	}
	return keep, nil
}

// appendCapped appends src to dst while dst holds fewer than rawPrefixSize
// bytes.
func appendCapped(dst, src []byte) []byte {
	if room := rawPrefixSize - len(dst); room > 0 {
		dst = append(dst, src[:min(room, len(src))]...)
	}
	return dst
}

// reset empties the buffer after the source was moved to offset off.
// The bytes skipped are not in the running hash, which holds no longer.
func (s *stream) reset(off int64) {
	s.r, s.w, s.off, s.err = 0, 0, off, nil
	s.hash.hashed, s.hash.ok = 0, false
}

// seekTo positions the stream at offset off (not before the current one):
// a seek for plain files when off lies beyond the buffer, otherwise
// discarding the bytes in between.
func (s *stream) seekTo(ctx context.Context, in *input, off int64) error {
	if off < s.off {
		return fmt.Errorf("offset %d is behind the read position %d", off, s.off)
	}
	if in.seekable && off > s.off+int64(s.w-s.r) {
		if err := in.seek(off); err != nil {
			return err
		}
		s.reset(off)
		return nil
	}
	return s.discard(ctx, off-s.off)
}

// positionAt moves the stream to the row at offset off for resuming. The
// first row may start at dataStart; any later row of a line-based format
// follows a newline, which is checked when afterNewline is set.
func positionAt(ctx context.Context, in *input, s *stream, off, dataStart int64, afterNewline bool) error {
	if s.m != nil {
		return s.m.positionAt(ctx, in, s, off, dataStart, afterNewline)
	}
	if off < dataStart {
		return fmt.Errorf("resume: offset %d is before the first row (offset %d)", off, dataStart)
	}
	if off == dataStart {
		return s.seekTo(ctx, in, off)
	}
	if !afterNewline {
		if err := s.seekTo(ctx, in, off); err != nil {
			return resumeError(off, err)
		}
		return nil
	}
	if err := s.seekTo(ctx, in, off-1); err != nil {
		return resumeError(off, err)
	}
	return s.consumeNewline(ctx, off)
}

// consumeNewline consumes the newline that must end the row before the
// resume offset off.
func (s *stream) consumeNewline(ctx context.Context, off int64) error {
	b, err := s.peek(ctx, 1)
	if err != nil {
		return resumeError(off, err)
	}
	if len(b) == 0 {
		return resumeError(off, io.ErrUnexpectedEOF)
	}
	if b[0] != '\n' {
		return fmt.Errorf("resume: offset %d is not the start of a row", off)
	}
	s.consume(1)
	return nil
}

func resumeError(off int64, err error) error {
	if err == io.ErrUnexpectedEOF {
		return fmt.Errorf("resume: offset %d is past the end of the file", off)
	}
	return fmt.Errorf("resume at offset %d: %w", off, err)
}

// isContextError reports whether err is ctx's own error: such errors are
// returned as they are and do not end the reader.
func isContextError(ctx context.Context, err error) bool {
	cerr := ctx.Err()
	return cerr != nil && errors.Is(err, cerr)
}

// clonePrefix copies at most n bytes of b.
func clonePrefix(b []byte, n int) []byte {
	if len(b) > n {
		b = b[:n]
	}
	return bytes.Clone(b)
}

// trimCR drops one trailing carriage return.
func trimCR(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\r' {
		return b[:n-1]
	}
	return b
}

// isBzip2Head reports whether head starts a bzip2 stream: "BZh", a block
// size from 1 to 9, then the magic of a block or of the stream's end.
func isBzip2Head(head []byte) bool {
	if len(head) < len(bzip2Magic) || string(head[:3]) != "BZh" || head[3] < '1' || head[3] > '9' {
		return false
	}
	m := string(head[4:10])
	return m == "1AY&SY" || m == "\x17\x72\x45\x38\x50\x90"
}
