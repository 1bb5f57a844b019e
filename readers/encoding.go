package readers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/ianaindex"
)

// ReasonInvalidEncoding is a CSV record or NDJSON line whose bytes are not
// text in the file's encoding (Options.Encoding, or UTF-16 by its
// byte-order mark): a byte a single-byte code page leaves undefined, a
// broken multi-byte sequence, an unpaired UTF-16 surrogate.
const ReasonInvalidEncoding = "invalid_encoding"

// Byte-order marks of UTF-16.
var (
	utf16LEBOM = []byte{0xff, 0xfe}
	utf16BEBOM = []byte{0xfe, 0xff}
)

// Kinds of text encoding.
const (
	encSingle = iota // one byte a character, ASCII-compatible: decoded by a table
	encMulti         // ASCII-compatible multi-byte (EUC, Shift_JIS, GBK, Big5): decoded per row
	encUTF16LE
	encUTF16BE
	encUTF16 // UTF-16 whose byte order the byte-order mark says (little-endian without one)
)

// textEncoding is a source text encoding other than UTF-8.
type textEncoding struct {
	name string // canonical name, as errors say it
	kind int
	// table decodes each byte of a single-byte encoding; "" marks a byte
	// the encoding leaves undefined.
	table *[256]string
	enc   encoding.Encoding // encMulti
	// asciiTrail marks multi-byte encodings whose trailing bytes may be
	// ASCII (from 0x40 up): such a byte can look like a CSV delimiter or
	// a JSON bracket.
	asciiTrail bool
}

// textEncodingNames lists the names Options.Encoding accepts, for errors.
const textEncodingNames = "utf-8, utf-16, utf-16le, utf-16be, windows-1250 to windows-1258 (latin1, iso-8859-1 and cp1252 are windows-1252), iso-8859-2 to iso-8859-16, koi8-r, koi8-u, ibm866, macintosh, x-mac-cyrillic, windows-874, shift_jis, euc-jp, euc-kr, gbk, gb18030, big5, and the ASCII-compatible IBM code pages of the IANA registry (ibm437, ibm850, …)"

// lookupEncoding resolves an encoding name: first as the WHATWG Encoding
// Standard names it (as browsers do, so that latin1 and iso-8859-1 are
// windows-1252), then as the IANA registry does. It returns nil for UTF-8
// (and the empty name).
func lookupEncoding(name string) (*textEncoding, error) {
	label := strings.ToLower(strings.TrimSpace(name))
	switch label {
	case "", "utf-8", "utf8":
		return nil, nil
	case "utf-16", "utf16":
		return &textEncoding{name: "utf-16", kind: encUTF16}, nil
	}
	e, err := htmlindex.Get(label)
	canonical := ""
	if err == nil {
		canonical, _ = htmlindex.Name(e)
	} else if e, err = ianaindex.IANA.Encoding(label); err == nil && e != nil {
		canonical, _ = ianaindex.IANA.Name(e)
		canonical = strings.ToLower(canonical)
	}
	if e == nil {
		return nil, fmt.Errorf("unknown encoding; want one of %s", textEncodingNames)
	}
	switch canonical {
	case "utf-8":
		return nil, nil
	case "utf-16le":
		return &textEncoding{name: canonical, kind: encUTF16LE}, nil
	case "utf-16be":
		return &textEncoding{name: canonical, kind: encUTF16BE}, nil
	case "shift_jis", "gbk", "gb18030", "big5":
		return &textEncoding{name: canonical, kind: encMulti, enc: e, asciiTrail: true}, nil
	case "euc-jp", "euc-kr":
		return &textEncoding{name: canonical, kind: encMulti, enc: e}, nil
	}
	if canonical == "iso-8859-8-i" {
		// Hebrew in logical order: the bytes are ISO-8859-8's.
		e = charmap.ISO8859_8
	}
	cm, ok := e.(*charmap.Charmap)
	if !ok {
		// ISO-2022-JP and its kind shift state across rows; the
		// "replacementChar" encoding decodes nothing.
		return nil, fmt.Errorf("encoding %s is not supported (it is stateful or not ASCII-compatible); want one of %s", canonical, textEncodingNames)
	}
	t := &textEncoding{name: canonical, kind: encSingle, table: new([256]string)}
	for b := range 256 {
		r := cm.DecodeByte(byte(b))
		if b < utf8.RuneSelf && r != rune(b) {
			// EBCDIC and its kind: a newline, a quote or a comma is not
			// the ASCII byte, so rows cannot be found.
			return nil, fmt.Errorf("encoding %s is not supported (it is not ASCII-compatible); want one of %s", canonical, textEncodingNames)
		}
		if r != utf8.RuneError {
			t.table[b] = string(r)
		}
	}
	return t, nil
}

// checkEncoding validates the encoding of opts against its other fields.
func checkEncoding(o Options) error {
	t, err := lookupEncoding(o.Encoding)
	if err != nil {
		return fmt.Errorf("readers: Encoding %q: %w", o.Encoding, err)
	}
	if t != nil && t.asciiTrail && o.Delimiter >= 0x40 {
		return fmt.Errorf("readers: Delimiter %q: a %s character can hold that byte; use a comma, a semicolon or a tab", o.Delimiter, t.name)
	}
	return nil
}

// isUTF16 reports whether t is decoded as a stream (UTF-16) rather than
// row by row.
func (t *textEncoding) isUTF16() bool {
	return t != nil && t.kind >= encUTF16LE
}

// chooseEncoding decides the encoding of a file from its first bytes and
// the one configured (nil: UTF-8, explicit if named). A byte-order mark
// names the encoding; a configured encoding it contradicts is an error. It
// returns the encoding (nil for UTF-8), whether it is big-endian UTF-16,
// and the length of the byte-order mark to skip.
func chooseEncoding(path string, head []byte, t *textEncoding, explicit bool) (*textEncoding, bool, int, error) {
	var bom string
	switch {
	case bytes.HasPrefix(head, utf8BOM):
		bom = "utf-8"
	case bytes.HasPrefix(head, []byte{0xff, 0xfe, 0, 0}):
		return nil, false, 0, fmt.Errorf("%s: the file starts with a UTF-32 byte-order mark: UTF-32 is not supported; convert the file to UTF-8 (iconv -f utf-32 -t utf-8)", path)
	case bytes.HasPrefix(head, utf16LEBOM):
		bom = "utf-16le"
	case bytes.HasPrefix(head, utf16BEBOM):
		bom = "utf-16be"
	}
	contradicts := func() error {
		return fmt.Errorf("%s: the file starts with a %s byte-order mark, but the encoding is %s: leave --encoding out, or name %s", path, strings.ToUpper(bom), encodingName(t), bom)
	}
	switch bom {
	case "utf-8":
		if t != nil {
			return nil, false, 0, contradicts()
		}
		return nil, false, len(utf8BOM), nil
	case "utf-16le", "utf-16be":
		big := bom == "utf-16be"
		switch {
		case t == nil && explicit, t != nil && !t.isUTF16(),
			t != nil && t.kind == encUTF16LE && big, t != nil && t.kind == encUTF16BE && !big:
			return nil, false, 0, contradicts()
		}
		kind := encUTF16LE
		if big {
			kind = encUTF16BE
		}
		return &textEncoding{name: bom, kind: kind}, big, len(utf16LEBOM), nil
	}
	if t.isUTF16() {
		return t, t.kind == encUTF16BE, 0, nil
	}
	return t, false, 0, nil
}

func encodingName(t *textEncoding) string {
	if t == nil {
		return "utf-8"
	}
	return t.name
}

// rowDecoder decodes the rows of an ASCII-compatible encoding to UTF-8.
// Rows are found in the source bytes (a newline, a quote and a delimiter
// are the ASCII bytes in every such encoding), so positions stay offsets
// in the file; each row's bytes are then decoded on their own.
type rowDecoder struct {
	t   *textEncoding
	dec *encoding.Decoder // encMulti
	buf []byte
}

// newRowDecoder returns a decoder for t; nil for UTF-8 and for UTF-16,
// which the stream decodes.
func newRowDecoder(t *textEncoding) *rowDecoder {
	if t == nil || t.isUTF16() {
		return nil
	}
	d := &rowDecoder{t: t}
	if t.kind == encMulti {
		d.dec = t.enc.NewDecoder()
	}
	return d
}

// decode returns raw as UTF-8: raw itself if it is ASCII, else text valid
// until the next call. A byte the encoding does not define is an error
// naming it.
func (d *rowDecoder) decode(raw []byte) ([]byte, error) {
	i := 0
	for i < len(raw) && raw[i] < utf8.RuneSelf {
		i++
	}
	if i == len(raw) {
		return raw, nil
	}
	if d.t.kind == encSingle {
		out := append(d.buf[:0], raw[:i]...)
		for ; i < len(raw); i++ {
			b := raw[i]
			if b < utf8.RuneSelf {
				out = append(out, b)
				continue
			}
			s := d.t.table[b]
			if s == "" {
				d.buf = out
				return nil, fmt.Errorf("byte 0x%02x at byte %d is not a %s character", b, i, d.t.name)
			}
			out = append(out, s...)
		}
		d.buf = out
		return out, nil
	}
	if need := 3*len(raw) + 8; cap(d.buf) < need {
		d.buf = make([]byte, need)
	}
	out := d.buf[:cap(d.buf)]
	d.dec.Reset()
	n, _, err := d.dec.Transform(out, raw, true)
	if err != nil {
		return nil, fmt.Errorf("not %s text: %w", d.t.name, err)
	}
	out = out[:n]
	// A U+FFFD that the source does not encode stands for bytes that are
	// not text. GB18030 is the one of these encodings that can encode it.
	if j := bytes.Index(out, replacementChar); j >= 0 && (d.t.name != "gb18030" || bytes.Count(out, replacementChar) > bytes.Count(raw, gb18030ReplacementChar)) {
		return nil, fmt.Errorf("not %s text: an invalid byte sequence at character %d", d.t.name, utf8.RuneCount(out[:j])+1)
	}
	return out, nil
}

// replacementChar is U+FFFD in UTF-8, and gb18030ReplacementChar in GB18030.
var (
	replacementChar        = []byte("\uFFFD")
	gb18030ReplacementChar = []byte{0x84, 0x31, 0xa4, 0x37}
)

// decodeShown returns the text of a malformed row for the rejects file:
// decoded when it decodes, else the source bytes as they are; a copy
// either way, which the row owns.
func (d *rowDecoder) decodeShown(raw []byte) []byte {
	if text, err := d.decode(raw); err == nil {
		return bytes.Clone(text)
	}
	return bytes.Clone(raw)
}

// decodeRecord turns the source bytes of a CSV record into its text and
// splits that again into fields. A record that does not decode becomes a
// row error with the source bytes as its Raw.
func (c *csvReader) decodeRecord(rec *csvRecord) {
	if rec.reason != "" {
		rec.data, rec.owned = c.text.decodeShown(rec.data), true
		return
	}
	text, err := c.text.decode(rec.data)
	if err != nil {
		rec.data, rec.owned = bytes.Clone(rec.data), true
		rec.reason, rec.err = ReasonInvalidEncoding, err
		return
	}
	if len(text) == 0 || &text[0] == &rec.data[0] {
		return // ASCII: the text is the record itself, split already
	}
	c.fields = c.fields[:0]
	if !c.splitQuoted(text) {
		// Quotes, delimiters and newlines decode to themselves: a record
		// that framed well splits the same way.
		rec.reason, rec.err = ReasonCSVQuote, errors.New("record does not split into fields after decoding")
	}
	rec.data = text
}

// decodeLine turns the source bytes of an NDJSON line or array element
// into its text and parses it.
func (r *ndjsonReader) decodeLine(data []byte, pos Position) (Row, error) {
	text, err := r.text.decode(data)
	if err != nil {
		return Row{}, &RowError{Pos: pos, Reason: ReasonInvalidEncoding, Raw: bytes.Clone(data), Err: err}
	}
	return r.parse(r.arena.copyBytes(text), pos)
}

// checkArrayEncoding refuses a top-level JSON array in an encoding whose
// characters can hold a bracket or a backslash byte.
func checkArrayEncoding(path string, d *rowDecoder) error {
	if d != nil && d.t.asciiTrail {
		return fmt.Errorf("%s: a JSON array file in %s cannot be split into elements safely: convert it to UTF-8 (iconv -f %s -t utf-8)", path, d.t.name, d.t.name)
	}
	return nil
}

// invalidTextError is the row error of a row whose text is not valid
// UTF-8: in a UTF-16 file, an unpaired surrogate (its Raw shows each as
// U+FFFD).
func invalidTextError(pos Position, raw []byte, s *stream) *RowError {
	if s.m == nil {
		return &RowError{Pos: pos, Reason: ReasonInvalidUTF8, Raw: raw,
			Err: fmt.Errorf("invalid UTF-8 at byte %d", invalidUTF8At(raw))}
	}
	at := utf8.RuneCount(raw[:invalidUTF8At(raw)]) + 1
	return &RowError{Pos: pos, Reason: ReasonInvalidEncoding, Raw: bytes.ToValidUTF8(raw, []byte("\uFFFD")),
		Err: fmt.Errorf("not %s text: an unpaired surrogate or a truncated code unit at character %d", s.m.name, at)}
}

// utf16Cost is the number of source bytes behind each byte of the UTF-8
// that utf16Reader writes: 2 for the first byte of a character of the
// Basic Multilingual Plane (and of an unpaired surrogate), 4 for the first
// byte of a character beyond it, 0 for a continuation byte, 1 for 0xff,
// which stands for an odd byte at the end of the file.
var utf16Cost = func() (c [256]uint8) {
	for b := range 256 {
		switch {
		case b >= 0x80 && b < 0xc0:
			c[b] = 0
		case b >= 0xf0 && b < 0xf8:
			c[b] = 4
		case b == 0xff:
			c[b] = 1
		default:
			c[b] = 2
		}
	}
	return c
}()

// utf16Reader decodes UTF-16 to UTF-8. An unpaired surrogate is written as
// the three bytes UTF-8 would give it, which are not valid UTF-8, so that
// its row is refused, never silently altered; an odd last byte is written
// as 0xff.
type utf16Reader struct {
	src  io.Reader
	big  bool
	in   []byte
	r, w int // in[r:w] is read and not yet decoded
	err  error
	// pend holds the bytes of a character that did not fit the last read.
	pend    []byte
	pendBuf [utf8.UTFMax]byte
}

func newUTF16Reader(src io.Reader, big bool) *utf16Reader {
	return &utf16Reader{src: src, big: big, in: make([]byte, 32<<10)}
}

// reset makes the reader decode src from its start.
func (u *utf16Reader) reset(src io.Reader) {
	u.src, u.r, u.w, u.err, u.pend = src, 0, 0, nil, nil
}

func (u *utf16Reader) unit(i int) uint16 {
	if u.big {
		return uint16(u.in[i])<<8 | uint16(u.in[i+1])
	}
	return uint16(u.in[i]) | uint16(u.in[i+1])<<8
}

// Read writes the UTF-8 of the next code units into p. It returns what
// it has rather than wait for more of the source.
func (u *utf16Reader) Read(p []byte) (int, error) {
	n := copy(p, u.pend)
	u.pend = u.pend[n:]
	for n < len(p) {
		if u.w-u.r < 4 && u.err == nil {
			if n > 0 {
				break
			}
			if u.r > 0 {
				u.w = copy(u.in, u.in[u.r:u.w])
				u.r = 0
			}
			k, err := u.src.Read(u.in[u.w:])
			u.w += k
			u.err = err
			if k == 0 && err == nil {
				return 0, nil
			}
			continue
		}
		switch u.w - u.r {
		case 0:
			if n > 0 {
				return n, nil
			}
			return 0, u.err
		case 1: // an odd last byte
			p[n] = 0xff
			n++
			u.r++
			continue
		}
		c := u.unit(u.r)
		if c < utf8.RuneSelf {
			p[n] = byte(c)
			n++
			u.r += 2
			continue
		}
		var tmp [utf8.UTFMax]byte
		var k int
		switch {
		case c >= 0xd800 && c < 0xdc00 && u.w-u.r >= 4 && u.unit(u.r+2) >= 0xdc00 && u.unit(u.r+2) < 0xe000:
			k = utf8.EncodeRune(tmp[:], utf16.DecodeRune(rune(c), rune(u.unit(u.r+2))))
			u.r += 4
		case utf16.IsSurrogate(rune(c)):
			tmp[0], tmp[1], tmp[2] = 0xe0|byte(c>>12), 0x80|byte(c>>6)&0x3f, 0x80|byte(c)&0x3f
			k = 3
			u.r += 2
		default:
			k = utf8.EncodeRune(tmp[:], rune(c))
			u.r += 2
		}
		m := copy(p[n:], tmp[:k])
		n += m
		if m < k {
			u.pend = append(u.pendBuf[:0], tmp[m:k]...)
		}
	}
	return n, nil
}

// srcMap maps the offsets of a stream of decoded UTF-16 back to offsets in
// the source, so that positions and checkpoints stay in source bytes. It
// holds one decoded offset that is still in the stream's buffer, or just
// consumed, and the source offset it stands for; the stream moves it before
// it drops consumed bytes.
type srcMap struct {
	dec  *utf16Reader
	name string
	at   int64 // a decoded offset, at or after the start of the buffer
	src  int64 // the source offset of at
}

// offset returns the offset in the source of the stream's next byte.
func (s *stream) offset() int64 {
	if s.m == nil {
		return s.off
	}
	return s.m.advance(s)
}

// advance moves the mark to the stream's read position. It is kept out
// of line, so that the parsers' hot loops stay as they are for UTF-8.
//
//go:noinline
func (m *srcMap) advance(s *stream) int64 {
	base := s.off - int64(s.r)
	for _, b := range s.buf[int(m.at-base):s.r] {
		m.src += int64(utf16Cost[b])
	}
	m.at = s.off
	return m.src
}

// openUTF16 puts a decoding stream over the stream s of the source, whose
// first skip bytes (a byte-order mark) are left out.
func openUTF16(in *input, s *stream, t *textEncoding, big bool, skip int, maxRecord int) *stream {
	s.consume(skip)
	rest := bytes.Clone(s.buf[s.r:s.w])
	var src io.Reader = in.r
	if s.err != nil {
		src = eofReader{s.err}
	}
	dec := newUTF16Reader(io.MultiReader(bytes.NewReader(rest), src), big)
	d := newStream(dec, maxRecord, in.size)
	d.m = &srcMap{dec: dec, name: t.name, src: s.off}
	return d
}

// eofReader returns its error for every read.
type eofReader struct{ err error }

func (e eofReader) Read([]byte) (int, error) { return 0, e.err }

// positionAt moves a UTF-16 stream to the row at source offset off; see
// positionAt.
func (m *srcMap) positionAt(ctx context.Context, in *input, s *stream, off, dataStart int64, afterNewline bool) error {
	if off < dataStart {
		return fmt.Errorf("resume: offset %d is before the first row (offset %d)", off, dataStart)
	}
	if off == dataStart {
		return nil
	}
	if off%2 != 0 {
		return fmt.Errorf("resume: offset %d is not the start of a row", off)
	}
	target := off
	if afterNewline {
		target -= 2 // the newline before the row
	}
	if in.seekable {
		if err := in.seek(target); err != nil {
			return resumeError(off, err)
		}
		m.dec.reset(in.br)
		s.reset(0)
		m.at, m.src = 0, target
	} else if err := m.skipTo(ctx, s, target); err != nil {
		if err == io.ErrUnexpectedEOF {
			return resumeError(off, err)
		}
		if isContextError(ctx, err) {
			return err
		}
		return fmt.Errorf("resume: offset %d is not the start of a row", off)
	}
	if !afterNewline {
		return nil
	}
	return s.consumeNewline(ctx, off)
}

var errMidCharacter = errors.New("offset inside a character")

// skipTo reads and drops decoded text up to source offset target, which
// must be the start of a character.
func (m *srcMap) skipTo(ctx context.Context, s *stream, target int64) error {
	cur := s.offset()
	if target < cur {
		return fmt.Errorf("offset %d is behind the read position %d", target, cur)
	}
	for {
		if s.r == s.w {
			if err := s.fill(ctx); err != nil {
				if err == io.EOF {
					if cur == target {
						return nil
					}
					return io.ErrUnexpectedEOF
				}
				return err
			}
		}
		c := int64(utf16Cost[s.buf[s.r]])
		if cur == target && c > 0 {
			return nil // the continuation bytes of the character before are consumed
		}
		if cur+c > target {
			return errMidCharacter
		}
		cur += c
		s.consume(1)
	}
}

// sniffUTF16 returns the UTF-8 of head if it starts with a UTF-16
// byte-order mark, so that its format can be detected.
func sniffUTF16(head []byte) ([]byte, bool) {
	var big bool
	switch {
	case bytes.HasPrefix(head, utf16LEBOM):
	case bytes.HasPrefix(head, utf16BEBOM):
		big = true
	default:
		return nil, false
	}
	u := newUTF16Reader(bytes.NewReader(head[2:len(head)&^1]), big)
	text, _ := io.ReadAll(u)
	return text, true
}
