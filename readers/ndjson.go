package readers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"unicode/utf8"

	"github.com/backfillhq/backfill/internal/jsontext"
)

// Array states of a .json file holding one top-level array.
const (
	arrayFirst = iota // after '[': an element or ']'
	arrayElem         // after ',': an element
	arrayNext         // after an element: ',' or ']'
	arrayDone         // after ']': only whitespace may follow
)

// maxInterned caps the key strings an NDJSON reader keeps for reuse.
const maxInterned = 4096

// ndjsonReader reads one JSON object per line, or the objects of one
// top-level JSON array.
type ndjsonReader struct {
	src   *Source
	in    *input
	s     *stream
	max   int
	row   int64 // ordinal of the last row returned
	line  int64 // line of the next unconsumed byte; 0 in a range that starts mid-file
	end   int64 // a range's end: rows that start here or later are not read; 0: none
	calls uint
	err   error // sticky: io.EOF or a fatal error

	array bool
	state int

	keys  map[string]string // interned keys
	names []string          // scratch: the current row's keys
	vals  []json.RawMessage // scratch: the current row's values
	spans []uint32          // scratch: where in the row's text each value is, as Row.spans
	last  []string          // the previous row's names, shared when equal
	// lastPlain reports that the keys of last are written in JSON
	// without escapes, so that the text of each is the key in quotes.
	lastPlain bool

	arena rowArena // the rows' bytes and values

	// text decodes the lines of an encoding other than UTF-8 and UTF-16;
	// nil otherwise.
	text *rowDecoder
}

var _ Reader = (*ndjsonReader)(nil)

func newNDJSONReader(ctx context.Context, src *Source, in *input, s *stream, opts Options, at *Position) (*ndjsonReader, error) {
	r := &ndjsonReader{
		src:  src,
		in:   in,
		s:    s,
		max:  opts.MaxLineBytes,
		line: 1,
		keys: make(map[string]string),
		text: newRowDecoder(opts.text),
	}
	dataStart := s.offset()
	if !isLineJSON(src.Path) {
		c, err := firstNonSpace(ctx, s)
		if err != nil {
			return nil, openErr(ctx, src.Path, err)
		}
		if c == '[' {
			if _, err := r.skipSpace(ctx); err != nil {
				return nil, openErr(ctx, src.Path, err)
			}
			if err := checkArrayEncoding(src.Path, r.text); err != nil {
				return nil, err
			}
			r.array = true
			r.s.consume(1)
			r.state = arrayFirst
			dataStart = s.offset()
		}
	}
	if at == nil {
		return r, nil
	}
	if at.Row < 1 || at.Line < 1 {
		return nil, fmt.Errorf("%s: resume: invalid position (row %d, line %d)", src.Path, at.Row, at.Line)
	}
	if err := positionAt(ctx, in, s, at.Offset, dataStart, !r.array); err != nil {
		return nil, openErr(ctx, src.Path, err)
	}
	r.row, r.line = at.Row-1, at.Line
	if r.array {
		r.state = arrayElem
	}
	return r, nil
}

// Next returns the next row; see Reader.
func (r *ndjsonReader) Next(ctx context.Context) (Row, error) {
	if r.err != nil {
		return Row{}, r.err
	}
	r.calls++
	if r.calls&63 == 1 {
		if err := ctx.Err(); err != nil {
			return Row{}, err
		}
	}
	var (
		row Row
		err error
	)
	if r.array {
		row, err = r.nextElement(ctx)
	} else {
		row, err = r.nextLine(ctx)
	}
	if err != nil {
		if _, ok := err.(*RowError); !ok {
			// Context errors stick too: the context may have ended a
			// read half way through a line.
			r.err = err
		}
	}
	return row, err
}

func (r *ndjsonReader) nextLine(ctx context.Context) (Row, error) {
	for {
		pos := Position{File: r.src.Path, Line: r.line, Offset: r.s.offset()}
		if r.end > 0 && pos.Offset >= r.end {
			return Row{}, io.EOF
		}
		data, tooLong, err := r.readLine(ctx)
		if err != nil {
			return Row{}, r.fatal(ctx, err)
		}
		if r.line > 0 {
			r.line++
		}
		if tooLong {
			r.row++
			pos.Row = r.row
			if r.text != nil {
				data = r.text.decodeShown(data)
			}
			return Row{}, &RowError{Pos: pos, Reason: ReasonLineTooLong, Raw: data,
				Err: fmt.Errorf("line longer than %d bytes", r.max)}
		}
		if isBlank(data) {
			continue
		}
		r.row++
		pos.Row = r.row
		if r.text != nil {
			return r.decodeLine(data, pos)
		}
		return r.parse(r.arena.copyBytes(data), pos)
	}
}

// readLine returns the next line without its "\n" or "\r\n"; the slice is
// valid until the next read. A line longer than r.max is returned as a copy
// of its first bytes with tooLong set, the rest discarded without being
// buffered. io.EOF after the last line.
func (r *ndjsonReader) readLine(ctx context.Context) (line []byte, tooLong bool, err error) {
	s := r.s
	scanned := 0
	for {
		if i := bytes.IndexByte(s.buf[s.r+scanned:s.w], '\n'); i >= 0 {
			end := s.r + scanned + i
			line = trimCR(s.buf[s.r:end])
			s.consume(end + 1 - s.r)
			if len(line) > r.max {
				return clonePrefix(line, rawPrefixSize), true, nil
			}
			return line, false, nil
		}
		scanned = s.w - s.r
		if scanned >= r.max+2 {
			prefix, err := s.skipLineKeep(ctx, nil)
			return prefix, true, err
		}
		if err := s.fill(ctx); err != nil {
			if err != io.EOF || s.r == s.w {
				return nil, false, err
			}
			line = trimCR(s.buf[s.r:s.w])
			s.consume(s.w - s.r)
			if len(line) > r.max {
				return clonePrefix(line, rawPrefixSize), true, nil
			}
			return line, false, nil
		}
	}
}

func isBlank(b []byte) bool {
	for _, c := range b {
		if !jsontext.IsSpace(c) {
			return false
		}
	}
	return true
}

// parse turns the text of one row (owned by the row, never written again)
// into a Row or a RowError.
func (r *ndjsonReader) parse(raw []byte, pos Position) (Row, error) {
	rowErr := func(reason string, err error) (Row, error) {
		return Row{}, &RowError{Pos: pos, Reason: reason, Raw: raw, Err: err}
	}
	if !utf8.Valid(raw) {
		return Row{}, invalidTextError(pos, raw, r.s)
	}
	var it jsontext.ObjectIter
	if err := it.Reset(raw); err != nil {
		if verr := jsontext.Valid(raw); verr != nil {
			return rowErr(ReasonInvalidJSON, verr)
		}
		return rowErr(ReasonNotObject, fmt.Errorf("JSON %s is not an object", jsonKind(raw)))
	}
	r.names, r.vals, r.spans = r.names[:0], r.vals[:0], r.spans[:0]
	var seen [4]uint64 // a 256-bit filter of key hashes to find duplicates cheaply
	// Rows mostly repeat the keys of the row before: while they do, each
	// key is expected to be the next of r.last and needs no scan.
	repeating := true
	for {
		var hint string
		if k := len(r.names); repeating && r.lastPlain && k < len(r.last) {
			hint = r.last[k]
		}
		key, escaped, matched, value, ok, err := it.NextHint(hint)
		if err != nil {
			return rowErr(ReasonInvalidJSON, err)
		}
		if !ok {
			break
		}
		var name string
		switch k := len(r.names); {
		case matched:
			name = hint
		case escaped:
			name = jsontext.UnquoteBody(key)
		case k < len(r.last) && r.last[k] == string(key):
			name = r.last[k]
		default:
			name = r.intern(key)
		}
		repeating = repeating && matched
		h := keyHash(name)
		if !matched && seen[h>>6]&(1<<(h&63)) != 0 {
			// A key matching r.last is distinct from the ones before it,
			// which matched r.last too.
			if j := indexOf(r.names, name); j >= 0 {
				r.vals[j] = value // the last of duplicate keys wins
				end := it.End()
				r.spans[2*j], r.spans[2*j+1] = uint32(end-len(value)), uint32(end)
				continue
			}
		}
		seen[h>>6] |= 1 << (h & 63)
		r.names = append(r.names, name)
		r.vals = append(r.vals, value)
		end := it.End()
		r.spans = append(r.spans, uint32(end-len(value)), uint32(end))
	}
	if len(r.names) == 0 {
		return Row{Pos: pos, Source: r.src, Raw: raw}, nil
	}
	names := r.last
	if !(repeating && len(r.names) == len(names)) && !equalNames(names, r.names) {
		names = make([]string, len(r.names))
		copy(names, r.names)
		r.last, r.lastPlain = names, plainKeys(names)
	}
	values := marks(jsonMarks, len(r.vals), &r.arena, inJSON{})
	row := Row{Pos: pos, Source: r.src, Raw: raw, names: names, values: values, plain: plainStrings(raw)}
	if len(raw) <= math.MaxUint32 {
		row.spans = r.arena.newSpans(len(r.spans))
		copy(row.spans, r.spans)
	} else {
		row.raws = r.arena.newJSON(len(r.vals))
		copy(row.raws, r.vals)
	}
	return row, nil
}

// plainStrings reports whether the valid UTF-8 JSON text raw holds no
// backslash, U+2028 or U+2029: none of its strings has an escape or a
// character that jsontext.AppendString would escape.
func plainStrings(raw []byte) bool {
	if bytes.IndexByte(raw, '\\') >= 0 {
		return false
	}
	for b := raw; ; {
		i := bytes.IndexByte(b, 0xe2) // U+2028 and U+2029 are E2 80 A8 and E2 80 A9
		if i < 0 {
			return true
		}
		if i+2 < len(b) && b[i+1] == 0x80 && (b[i+2] == 0xa8 || b[i+2] == 0xa9) {
			return false
		}
		b = b[i+1:]
	}
}

// plainKeys reports whether every key in names is JSON string text that
// needs no escapes: no quote, backslash or control character.
func plainKeys(names []string) bool {
	for _, n := range names {
		if !jsontext.IsPlainString(n) {
			return false
		}
	}
	return true
}

func (r *ndjsonReader) intern(b []byte) string {
	if s, ok := r.keys[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(r.keys) < maxInterned && len(b) <= 256 {
		r.keys[s] = s
	}
	return s
}

func keyHash(k string) uint {
	n := len(k)
	if n == 0 {
		return 0
	}
	return (uint(n)*131 + uint(k[0])*31 + uint(k[n/2])*7 + uint(k[n-1])) & 255
}

func indexOf(names []string, name string) int {
	for i, n := range names {
		if n == name {
			return i
		}
	}
	return -1
}

func equalNames(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return -1
}

// jsonKind names the kind of a valid JSON value.
func jsonKind(raw []byte) string {
	i := jsontext.SkipSpace(raw, 0)
	switch raw[i] {
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	default:
		return "number"
	}
}

// fatal turns a read error into the reader's error.
func (r *ndjsonReader) fatal(ctx context.Context, err error) error {
	if err == io.EOF || isContextError(ctx, err) {
		return err
	}
	return fileError(r.src.Path, err)
}

// firstNonSpace returns the first byte of the stream that is not JSON
// whitespace, without consuming anything; 0 if the first buffer holds
// nothing else.
func firstNonSpace(ctx context.Context, s *stream) (byte, error) {
	for n := 512; ; n *= 2 {
		b, err := s.peek(ctx, n)
		if err != nil {
			return 0, err
		}
		if i := jsontext.SkipSpace(b, 0); i < len(b) {
			return b[i], nil
		}
		if len(b) < n || n >= bufferSize {
			return 0, nil
		}
	}
}

// skipSpace consumes JSON whitespace, counting lines, and returns the next
// byte without consuming it; io.EOF at the end.
func (r *ndjsonReader) skipSpace(ctx context.Context) (byte, error) {
	s := r.s
	for {
		for s.r < s.w {
			switch c := s.buf[s.r]; c {
			case '\n':
				r.line++
				s.consume(1)
			case ' ', '\t', '\r':
				s.consume(1)
			default:
				return c, nil
			}
		}
		if err := s.fill(ctx); err != nil {
			return 0, err
		}
	}
}

// nextElement returns the next element of a top-level array.
func (r *ndjsonReader) nextElement(ctx context.Context) (Row, error) {
	for {
		c, err := r.skipSpace(ctx)
		if err != nil && err != io.EOF {
			return Row{}, r.fatal(ctx, err)
		}
		eof := err == io.EOF
		switch r.state {
		case arrayDone:
			if eof {
				return Row{}, io.EOF
			}
			return Row{}, r.arrayError("unexpected data after the top-level array")
		case arrayNext:
			switch {
			case eof:
				return Row{}, r.arrayError("unexpected end of file: the top-level array is not closed")
			case c == ',':
				r.s.consume(1)
				r.state = arrayElem
			case c == ']':
				r.s.consume(1)
				r.state = arrayDone
			default:
				return Row{}, r.arrayError(fmt.Sprintf("invalid character %s after an array element", jsontext.QuoteByte(c)))
			}
		default: // arrayFirst, arrayElem
			switch {
			case eof:
				return Row{}, r.arrayError("unexpected end of file: the top-level array is not closed")
			case c == ']' && r.state == arrayFirst:
				r.s.consume(1)
				r.state = arrayDone
			case c == ']' || c == ',':
				return Row{}, r.arrayError(fmt.Sprintf("invalid character %s looking for an array element", jsontext.QuoteByte(c)))
			default:
				return r.element(ctx)
			}
		}
	}
}

func (r *ndjsonReader) arrayError(msg string) error {
	return fmt.Errorf("%s:%d: %s", r.src.Path, r.line, msg)
}

// element reads the array element starting at the next byte.
func (r *ndjsonReader) element(ctx context.Context) (Row, error) {
	pos := Position{File: r.src.Path, Line: r.line, Offset: r.s.offset()}
	n, lines, prefix, err := r.elementExtent(ctx)
	if err != nil {
		if err == io.EOF {
			return Row{}, fmt.Errorf("%s:%d: unexpected end of file inside an array element", r.src.Path, pos.Line)
		}
		return Row{}, r.fatal(ctx, err)
	}
	r.line += lines
	r.row++
	pos.Row = r.row
	r.state = arrayNext
	if prefix != nil {
		if r.text != nil {
			prefix = r.text.decodeShown(prefix)
		}
		return Row{}, &RowError{Pos: pos, Reason: ReasonLineTooLong, Raw: prefix,
			Err: fmt.Errorf("array element longer than %d bytes", r.max)}
	}
	if r.text != nil {
		row, err := r.decodeLine(r.s.buf[r.s.r:r.s.r+n], pos)
		r.s.consume(n)
		return row, err
	}
	raw := r.arena.copyBytes(r.s.buf[r.s.r : r.s.r+n])
	r.s.consume(n)
	return r.parse(raw, pos)
}

// elementExtent finds the end of the array element starting at the next
// byte by bracket and string matching (it is validated afterwards). It
// returns the element's length, still unconsumed, and the line breaks in
// it. An element longer than r.max is consumed as it is scanned, never
// buffered whole, and returned as a copy of its first bytes in prefix.
func (r *ndjsonReader) elementExtent(ctx context.Context) (n int, lines int64, prefix []byte, err error) {
	s := r.s
	first := s.buf[s.r]
	scalar := first != '{' && first != '[' && first != '"'
	var (
		i, depth   int
		inStr, esc bool
		discarding bool
	)
	for {
		if i > r.max {
			discarding = true
		}
		if s.r+i == s.w {
			if discarding {
				prefix = appendCapped(prefix, s.buf[s.r:s.r+i])
				s.consume(i)
				i = 0
			}
			if err := s.fill(ctx); err != nil {
				if err == io.EOF && scalar {
					break
				}
				return 0, lines, nil, err
			}
			continue
		}
		c := s.buf[s.r+i]
		if scalar {
			if jsontext.IsSpace(c) || c == ',' || c == ']' || c == '}' {
				break
			}
			i++
			continue
		}
		i++
		if c == '\n' {
			lines++
		}
		if inStr {
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
				if depth == 0 {
					return r.endExtent(i, lines, prefix, discarding)
				}
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return r.endExtent(i, lines, prefix, discarding)
			}
		}
	}
	return r.endExtent(i, lines, prefix, discarding)
}

func (r *ndjsonReader) endExtent(i int, lines int64, prefix []byte, discarding bool) (int, int64, []byte, error) {
	if discarding || i > r.max {
		prefix = appendCapped(prefix, r.s.buf[r.s.r:r.s.r+i])
		r.s.consume(i)
		return 0, lines, prefix, nil
	}
	return i, lines, nil, nil
}

// CutRows ends a run of rows; see Recycler.
func (r *ndjsonReader) CutRows() *RowMemory { return r.arena.cut() }

// Close releases the file. It is safe to call more than once.
func (r *ndjsonReader) Close() error {
	if r.err == nil || r.err == io.EOF {
		r.err = errClosed
	}
	return r.in.Close()
}
