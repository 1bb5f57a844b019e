package readers

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
	"slices"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/backfillhq/backfill/internal/jsontext"
)

// States of the CSV record scanner.
const (
	csvFieldStart    = iota // at the start of a field
	csvUnquoted             // inside an unquoted field
	csvQuoted               // inside a quoted field
	csvQuoteInQuoted        // just after a quote inside a quoted field
	csvQuoteCR              // after a closing quote and a carriage return
	csvBad                  // after a quote error: skipping to the end of the line
)

// csvReader reads CSV (or TSV) records with a header row or given columns.
type csvReader struct {
	src     *Source
	in      *input
	s       *stream
	delim   byte
	special [256]bool // the bytes that end an unquoted field: delimiter, quote, newline
	max     int
	header  []string
	nulled  []int // scratch: the null fields of the current record
	row     int64 // ordinal of the last row returned
	line    int64 // line of the next unconsumed byte
	calls   uint
	err     error // sticky: io.EOF or a fatal error
	fields  []csvField
	nulls   []string // unquoted cell texts that are absent values
	arena   rowArena // the rows' bytes, strings and values

	// text decodes the records of an encoding other than UTF-8 and
	// UTF-16; nil otherwise.
	text *rowDecoder

	// byteByByte frames every record with quotes byte by byte, as the
	// tests do to compare splitQuoted with frameQuoted.
	byteByByte bool
}

var (
	_ Reader  = (*csvReader)(nil)
	_ Schemer = (*csvReader)(nil)
)

// csvField locates a field in its record: the bytes [start, end) of the
// record, between the quotes of a quoted field; escaped marks doubled
// quotes inside.
type csvField struct {
	start, end int
	escaped    bool
}

// csvRecord is one framed record. Unless owned, data lies in the stream's
// buffer and is valid only until the next read.
type csvRecord struct {
	offset int64
	lines  int64 // line breaks consumed with the record
	data   []byte
	owned  bool
	reason string // set for a malformed record
	err    error
	blank  bool
}

func newCSVReader(ctx context.Context, src *Source, in *input, s *stream, opts Options, at *Position) (*csvReader, error) {
	delim := byte(',')
	if opts.Delimiter != 0 {
		delim = byte(opts.Delimiter)
	} else if formatByName(src.Path).tab {
		delim = '\t'
	}
	c := &csvReader{src: src, in: in, s: s, delim: delim, max: opts.MaxLineBytes, line: 1, nulls: opts.Null, text: newRowDecoder(opts.text)}
	if c.nulls == nil {
		c.nulls = defaultNull
	}
	c.special[delim], c.special['"'], c.special['\n'] = true, true, true
	if len(opts.Columns) > 0 {
		if err := checkColumns(opts.Columns); err != nil {
			return nil, fmt.Errorf("%s: columns: %w", src.Path, err)
		}
		c.header = append([]string(nil), opts.Columns...)
	} else if err := c.readHeader(ctx); err != nil {
		return nil, err
	}
	if at == nil {
		return c, nil
	}
	if at.Row < 1 || at.Line < 1 {
		return nil, fmt.Errorf("%s: resume: invalid position (row %d, line %d)", src.Path, at.Row, at.Line)
	}
	if err := positionAt(ctx, in, s, at.Offset, s.offset(), true); err != nil {
		return nil, openErr(ctx, src.Path, err)
	}
	c.row, c.line = at.Row-1, at.Line
	return c, nil
}

// readHeader reads the first record that is not blank as the column names.
func (c *csvReader) readHeader(ctx context.Context) error {
	for {
		rec, err := c.frame(ctx)
		if err == io.EOF {
			c.err = io.EOF // an empty file has no rows
			return nil
		}
		if err != nil {
			return openErr(ctx, c.src.Path, err)
		}
		c.line += rec.lines
		if rec.blank {
			continue
		}
		if c.text != nil {
			c.decodeRecord(&rec)
		}
		if rec.reason != "" {
			return fmt.Errorf("%s: header: %w", c.src.Path, rec.err)
		}
		if !utf8.Valid(rec.data) {
			return fmt.Errorf("%s: header: invalid UTF-8 at byte %d", c.src.Path, invalidUTF8At(rec.data))
		}
		_, names := c.strings(rec.data, "", nil)
		header := slices.Clone(names)
		if err := checkColumns(header); err != nil {
			return fmt.Errorf("%s: header: %w", c.src.Path, err)
		}
		c.header = header
		return nil
	}
}

// checkColumns refuses empty and duplicate column names.
func checkColumns(names []string) error {
	seen := make(map[string]int, len(names))
	for i, n := range names {
		if strings.TrimSpace(n) == "" {
			return fmt.Errorf("column %d is empty", i+1)
		}
		if j, ok := seen[n]; ok {
			return fmt.Errorf("duplicate column %q (columns %d and %d)", n, j+1, i+1)
		}
		seen[n] = i
	}
	return nil
}

// Schema returns the column names: the header, or Options.Columns.
func (c *csvReader) Schema() []string { return c.header }

// Next returns the next row; see Reader.
func (c *csvReader) Next(ctx context.Context) (Row, error) {
	if c.err != nil {
		return Row{}, c.err
	}
	c.calls++
	if c.calls&63 == 1 {
		if err := ctx.Err(); err != nil {
			return Row{}, err
		}
	}
	for {
		rec, err := c.frame(ctx)
		if err != nil {
			if err != io.EOF && !isContextError(ctx, err) {
				err = fileError(c.src.Path, err)
			}
			// Context errors stick too: the context may have ended a
			// read half way through a record.
			c.err = err
			return Row{}, err
		}
		pos := Position{File: c.src.Path, Line: c.line, Offset: rec.offset}
		c.line += rec.lines
		if rec.blank {
			continue
		}
		c.row++
		pos.Row = c.row
		if c.text != nil {
			c.decodeRecord(&rec)
		}
		// The record's text is copied once, out of the stream's buffer:
		// the row's Raw and its fields' strings share that copy.
		raw, text := rec.data, ""
		if rec.reason == "" && c.arena.reserveText(2*len(raw)) {
			text = c.arena.string(raw)
			raw = unsafe.Slice(unsafe.StringData(text), len(text))
		} else if !rec.owned {
			raw = c.arena.copyBytes(rec.data)
		}
		if rec.reason != "" {
			return Row{}, &RowError{Pos: pos, Reason: rec.reason, Raw: raw, Err: rec.err}
		}
		if !utf8.Valid(raw) {
			return Row{}, invalidTextError(pos, raw, c.s)
		}
		if len(c.fields) != len(c.header) {
			return Row{}, &RowError{Pos: pos, Reason: ReasonCSVFieldCount, Raw: raw,
				Err: fmt.Errorf("expected %d fields, got %d", len(c.header), len(c.fields))}
		}
		values, texts := c.strings(raw, text, c.nulls)
		return Row{Pos: pos, Source: c.src, Raw: raw, names: c.header, values: values, texts: texts}, nil
	}
}

// defaultNull is the default of Options.Null: an empty unquoted cell is
// absent.
var defaultNull = []string{""}

// strings returns the fields of the record raw as Row values held in
// texts. The strings of a record share one copy of it: text, when the
// caller made it in the arena's current block with room for as much
// again, else a copy of their own; a field with doubled quotes is one
// more string. An unquoted field whose text is one of nulls is nil.
func (c *csvReader) strings(raw []byte, text string, nulls []string) (values []any, texts []string) {
	texts = c.arena.newTexts(len(c.fields))
	null := c.nulled[:0] // the fields that are null
	if len(text) != len(raw) {
		text = string(raw)
	}
	for k, f := range c.fields {
		if len(nulls) > 0 && !(f.start > 0 && raw[f.start-1] == '"') && isNullToken(raw[f.start:f.end], nulls) {
			null = append(null, k)
			continue
		}
		v := text[f.start:f.end]
		if f.escaped {
			v = c.unescape(raw[f.start:f.end], len(raw))
		}
		texts[k] = v
	}
	c.nulled = null
	if len(null) == 0 {
		return marks(textMarks, len(texts), &c.arena, inTexts{}), texts
	}
	values = marks(nil, len(texts), &c.arena, inTexts{}) // a slice of its own
	for _, k := range null {
		values[k] = nil
	}
	return values, texts
}

// unescape returns the text of a quoted field, b, with its doubled quotes
// made single. n is the length of the field's record: the arena has room
// for the text if it had room for twice the record.
func (c *csvReader) unescape(b []byte, n int) string {
	if 2*n > arenaSmall {
		return strings.ReplaceAll(string(b), `""`, `"`)
	}
	return c.arena.unquotedCSV(b)
}

// isNullToken reports whether the cell text b is one of the null tokens.
func isNullToken(b []byte, nulls []string) bool {
	for _, n := range nulls {
		if len(n) == len(b) && string(b) == n {
			return true
		}
	}
	return false
}

// frame reads the next record, splitting it into c.fields. A record is
// framed the same way whatever the buffering, so that resuming at its
// offset frames it again identically. io.EOF after the last record.
func (c *csvReader) frame(ctx context.Context) (csvRecord, error) {
	s := c.s
	c.fields = c.fields[:0]
	rec := csvRecord{offset: s.offset()}
	for {
		avail := s.buf[s.r:s.w]
		if nl := bytes.IndexByte(avail, '\n'); nl >= 0 {
			line := avail[:nl]
			if bytes.IndexByte(line, '"') >= 0 {
				// A line with quotes is one record if its quoted fields
				// end on it and are well formed; anything else is
				// framed byte by byte.
				if nl > c.max || c.byteByByte {
					break
				}
				line = trimCR(line)
				if !c.splitQuoted(line) {
					c.fields = c.fields[:0]
					break
				}
				s.consume(nl + 1)
				rec.lines, rec.data = 1, line
				return rec, nil
			}
			// The common case: a whole line without quotes is one record.
			line = trimCR(line)
			s.consume(nl + 1)
			rec.lines = 1
			switch {
			case len(line) > c.max:
				rec.data, rec.owned = clonePrefix(line, rawPrefixSize), true
				rec.reason, rec.err = ReasonLineTooLong, fmt.Errorf("record longer than %d bytes", c.max)
			case len(line) == 0:
				rec.blank = true
			default:
				rec.data = line
				c.split(line)
			}
			return rec, nil
		}
		if len(avail) >= c.max+2 {
			break
		}
		if err := s.fill(ctx); err != nil {
			if err != io.EOF {
				return rec, err
			}
			if s.r == s.w {
				return rec, io.EOF
			}
			break
		}
	}
	return rec, c.frameQuoted(ctx, &rec)
}

// split splits a record without quotes at the delimiter.
func (c *csvReader) split(line []byte) {
	pos := 0
	for {
		end := c.indexSpecial(line, pos)
		c.fields = append(c.fields, csvField{start: pos, end: end})
		if end == len(line) {
			return
		}
		pos = end + 1
	}
}

// Constants of the word-at-a-time field scan.
const (
	lowBits  = 0x0101010101010101 // 0x01 in every byte
	highBits = 0x8080808080808080 // 0x80 in every byte
)

// indexSpecial returns the index of the first delimiter or quote in
// line[i:], or len(line).
func (c *csvReader) indexSpecial(line []byte, i int) int {
	d := c.delim
	dw, qw := lowBits*uint64(d), lowBits*uint64('"')
	for ; i+8 <= len(line); i += 8 {
		w := binary.LittleEndian.Uint64(line[i:])
		x, y := w^dw, w^qw
		// The lowest byte flagged is the first that is zero in x or y.
		if m := ((x-lowBits)&^x | (y-lowBits)&^y) & highBits; m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for ; i < len(line); i++ {
		if b := line[i]; b == d || b == '"' {
			return i
		}
	}
	return len(line)
}

// splitQuoted splits a line with quotes into fields as frameQuoted would,
// if the line is one well-formed record: every quoted field closes on the
// line and is followed by a delimiter or the end of the line, and no
// unquoted field holds a quote. It reports false otherwise, leaving the
// line to frameQuoted.
func (c *csvReader) splitQuoted(line []byte) bool {
	d := c.delim
	pos := 0
	for {
		if pos < len(line) && line[pos] == '"' {
			start, j := pos+1, pos+1
			escaped := false
			for {
				k := bytes.IndexByte(line[j:], '"')
				if k < 0 {
					return false // the field goes on past the line
				}
				j += k + 1
				if j < len(line) && line[j] == '"' {
					escaped = true
					j++
					continue
				}
				break
			}
			c.fields = append(c.fields, csvField{start: start, end: j - 1, escaped: escaped})
			if j == len(line) {
				return true
			}
			if line[j] != d {
				return false
			}
			pos = j + 1
			continue
		}
		end := c.indexSpecial(line, pos)
		if end < len(line) && line[end] == '"' {
			return false // a bare quote
		}
		c.fields = append(c.fields, csvField{start: pos, end: end})
		if end == len(line) {
			return true
		}
		pos = end + 1
	}
}

// frameQuoted frames a record byte by byte: one with quotes, at the end of
// the file, or too long to be found in the buffer. It gives up on a record
// at c.max bytes: inside a quoted field that spans lines, the record is
// taken to be its first line (an unterminated quote) and reading resumes at
// the next line; otherwise the rest of the line is skipped.
func (c *csvReader) frameQuoted(ctx context.Context, rec *csvRecord) error {
	s := c.s
	d := c.delim
	limit := c.max + 2 // bytes after which the record is surely too long
	state := csvFieldStart
	var (
		i, fstart int
		escaped   bool
		lines     int64
		firstNL   = -1
		quoteErr  error
	)
	field := func(end int) {
		c.fields = append(c.fields, csvField{start: fstart, end: end, escaped: escaped})
	}
	for {
		if i >= limit {
			return c.giveUp(ctx, rec, state, i, lines, firstNL)
		}
		if s.r+i >= s.w {
			err := s.fill(ctx)
			if err == io.EOF {
				return c.endAtEOF(rec, state, i, fstart, escaped, lines, firstNL, quoteErr)
			}
			if err != nil {
				return err
			}
			continue
		}
		ch := s.buf[s.r+i]
		switch state {
		case csvFieldStart:
			switch ch {
			case '"':
				state, fstart, escaped = csvQuoted, i+1, false
			case d:
				fstart, escaped = i, false
				field(i)
			case '\n':
				fstart, escaped = i, false
				field(i)
				return c.endRecord(rec, i, i+1, lines+1, quoteErr)
			default:
				state, fstart, escaped = csvUnquoted, i, false
			}
		case csvUnquoted:
			// Skip the plain bytes of the field.
			if !c.special[ch] {
				end := min(s.w, s.r+limit)
				j := s.r + i + 1
				for j < end && !c.special[s.buf[j]] {
					j++
				}
				i = j - s.r
				continue
			}
			switch ch {
			case d:
				field(i)
				state = csvFieldStart
			case '\n':
				field(i)
				return c.endRecord(rec, i, i+1, lines+1, quoteErr)
			case '"':
				quoteErr = fmt.Errorf("bare quote in unquoted field %d", len(c.fields)+1)
				state = csvBad
			}
		case csvQuoted:
			// Skip to the next quote, counting line breaks on the way.
			end := min(s.w, s.r+limit)
			seg := s.buf[s.r+i : end]
			j := bytes.IndexByte(seg, '"')
			if j < 0 {
				j = len(seg)
			}
			if n := bytes.Count(seg[:j], []byte{'\n'}); n > 0 {
				if firstNL < 0 {
					firstNL = i + bytes.IndexByte(seg[:j], '\n')
				}
				lines += int64(n)
			}
			i += j
			if j < len(seg) {
				state = csvQuoteInQuoted
				i++
			}
			continue
		case csvQuoteInQuoted:
			switch ch {
			case '"':
				escaped = true
				state = csvQuoted
			case d:
				field(i - 1)
				state = csvFieldStart
			case '\n':
				field(i - 1)
				return c.endRecord(rec, i, i+1, lines+1, quoteErr)
			case '\r':
				field(i - 1)
				state = csvQuoteCR
			default:
				quoteErr = fmt.Errorf("unexpected %s after the closing quote of field %d", jsontext.QuoteByte(ch), len(c.fields)+1)
				state = csvBad
			}
		case csvQuoteCR:
			if ch == '\n' {
				return c.endRecord(rec, i, i+1, lines+1, quoteErr)
			}
			quoteErr = fmt.Errorf("unexpected carriage return after the closing quote of field %d", len(c.fields))
			state = csvBad
		case csvBad:
			end := min(s.w, s.r+limit)
			j := bytes.IndexByte(s.buf[s.r+i:end], '\n')
			if j < 0 {
				i = end - s.r
				continue
			}
			i += j
			return c.endRecord(rec, i, i+1, lines+1, quoteErr)
		}
		i++
	}
}

// endRecord completes a record of n bytes (before its line break), of
// which consumed bytes are used up.
func (c *csvReader) endRecord(rec *csvRecord, n, consumed int, lines int64, quoteErr error) error {
	s := c.s
	data := trimCR(s.buf[s.r : s.r+n])
	if k := len(c.fields) - 1; k >= 0 && c.fields[k].end > len(data) {
		c.fields[k].end = len(data)
	}
	s.consume(consumed)
	rec.lines = lines
	switch {
	case len(data) > c.max:
		rec.data, rec.owned = clonePrefix(data, rawPrefixSize), true
		rec.reason, rec.err = ReasonLineTooLong, fmt.Errorf("record longer than %d bytes", c.max)
	case quoteErr != nil:
		rec.data = data
		rec.reason, rec.err = ReasonCSVQuote, quoteErr
	case len(data) == 0:
		rec.blank = true
	default:
		rec.data = data
	}
	return nil
}

// endAtEOF completes the last record, which has no line break.
func (c *csvReader) endAtEOF(rec *csvRecord, state, n, fstart int, escaped bool, lines int64, firstNL int, quoteErr error) error {
	if n == 0 {
		return io.EOF
	}
	field := func(end int) {
		c.fields = append(c.fields, csvField{start: fstart, end: end, escaped: escaped})
	}
	switch state {
	case csvFieldStart:
		fstart, escaped = n, false
		field(n)
	case csvUnquoted:
		field(n)
	case csvQuoteInQuoted:
		field(n - 1)
	case csvQuoted:
		err := fmt.Errorf("unterminated quoted field %d", len(c.fields)+1)
		if firstNL >= 0 {
			return c.resyncAfterFirstLine(rec, firstNL, err)
		}
		quoteErr = err
	}
	return c.endRecord(rec, n, n, lines, quoteErr)
}

// giveUp ends a record that reached the size limit without ending.
func (c *csvReader) giveUp(ctx context.Context, rec *csvRecord, state, n int, lines int64, firstNL int) error {
	if state == csvQuoted {
		err := fmt.Errorf("quoted field %d not closed within %d bytes", len(c.fields)+1, c.max)
		if firstNL >= 0 {
			return c.resyncAfterFirstLine(rec, firstNL, err)
		}
		rec.reason, rec.err = ReasonCSVQuote, err
	} else {
		rec.reason, rec.err = ReasonLineTooLong, fmt.Errorf("record longer than %d bytes", c.max)
	}
	s := c.s
	keep := clonePrefix(s.buf[s.r:s.r+n], rawPrefixSize)
	s.consume(n)
	rec.lines = lines + 1
	var err error
	rec.data, err = s.skipLineKeep(ctx, keep)
	rec.owned = true
	return err
}

// resyncAfterFirstLine reports the record's first line as a bad quote and
// goes on reading at the line after it.
func (c *csvReader) resyncAfterFirstLine(rec *csvRecord, firstNL int, err error) error {
	s := c.s
	rec.data, rec.owned = bytes.Clone(trimCR(s.buf[s.r:s.r+firstNL])), true
	rec.reason, rec.err = ReasonCSVQuote, err
	rec.lines = 1
	s.consume(firstNL + 1)
	return nil
}

// CutRows ends a run of rows; see Recycler.
func (c *csvReader) CutRows() *RowMemory { return c.arena.cut() }

// Close releases the file. It is safe to call more than once.
func (c *csvReader) Close() error {
	if c.err == nil || c.err == io.EOF {
		c.err = errClosed
	}
	return c.in.Close()
}
