package readers

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"
)

// toUTF16 encodes text as UTF-16 with a byte-order mark (if bom is set).
func toUTF16(text string, big, bom bool) []byte {
	var out []byte
	put := func(u uint16) {
		if big {
			out = append(out, byte(u>>8), byte(u))
		} else {
			out = append(out, byte(u), byte(u>>8))
		}
	}
	if bom {
		put(0xfeff)
	}
	for _, u := range utf16.Encode([]rune(text)) {
		put(u)
	}
	return out
}

// toCP1252 encodes text as Windows-1252 (Latin-1 and the euro sign).
func toCP1252(t testing.TB, text string) []byte {
	var out []byte
	for _, r := range text {
		switch {
		case r == '€':
			out = append(out, 0x80)
		case r < 0x80 || r >= 0xa0 && r < 0x100:
			out = append(out, byte(r))
		default:
			t.Fatalf("%q is not in windows-1252", r)
		}
	}
	return out
}

func TestEncodingRows(t *testing.T) {
	tests := []struct {
		name, file string
		data       []byte
		encoding   string
		want       []item
	}{
		{
			name: "latin1 csv", file: "l.csv", encoding: "latin1",
			data: []byte("name,city\nM\xfcller,K\xf6ln\nSch\xf6n,\"Z\xfcrich, \"\"CH\"\"\"\n"),
			want: []item{
				{Pos: pos("l.csv", 1, 2, 10), Raw: "Müller,Köln", Names: []string{"name", "city"}, Values: strs("Müller", "Köln")},
				{Pos: pos("l.csv", 2, 3, 22), Raw: `Schön,"Zürich, ""CH"""`, Names: []string{"name", "city"}, Values: strs("Schön", `Zürich, "CH"`)},
			},
		},
		{
			name: "windows-1252 euro", file: "w.csv", encoding: "windows-1252",
			data: []byte("price\n\x80 5\n\x81\n\x93q\x94\n"),
			want: []item{
				{Pos: pos("w.csv", 1, 2, 6), Raw: "€ 5", Names: []string{"price"}, Values: strs("€ 5")},
				{Pos: pos("w.csv", 2, 3, 10), Raw: "\x81", Reason: ReasonInvalidEncoding, Err: "byte 0x81 at byte 0 is not a windows-1252 character"},
				{Pos: pos("w.csv", 3, 4, 12), Raw: "“q”", Names: []string{"price"}, Values: strs("“q”")},
			},
		},
		{
			name: "utf-8 by default is strict", file: "u.csv",
			data: []byte("name\nM\xfcller\n"),
			want: []item{
				{Pos: pos("u.csv", 1, 2, 5), Raw: "M\xfcller", Reason: ReasonInvalidUTF8, Err: "invalid UTF-8 at byte 1"},
			},
		},
		{
			name: "cp1252 ndjson", file: "c.ndjson", encoding: "cp1252",
			data: []byte("{\"n\":\"M\xfcller\"}\n{\"n\":\"\x80\"}\n"),
			want: []item{
				{Pos: pos("c.ndjson", 1, 1, 0), Raw: `{"n":"Müller"}`, Names: []string{"n"}, Values: []any{"raw:\"Müller\""}},
				{Pos: pos("c.ndjson", 2, 2, 15), Raw: `{"n":"€"}`, Names: []string{"n"}, Values: []any{"raw:\"€\""}},
			},
		},
		{
			name: "shift_jis with a backslash trail byte", file: "s.csv", encoding: "shift_jis",
			// 表 is 0x95 0x5c; ｱ (half-width) is 0xb1; 0x81 0x20 is broken.
			data: []byte("id,name\n1,\"\x95\x5c\"\n2,\xb1\n3,\x81\x20\n"),
			want: []item{
				{Pos: pos("s.csv", 1, 2, 8), Raw: `1,"表"`, Names: []string{"id", "name"}, Values: strs("1", "表")},
				{Pos: pos("s.csv", 2, 3, 15), Raw: "2,ｱ", Names: []string{"id", "name"}, Values: strs("2", "ｱ")},
				{Pos: pos("s.csv", 3, 4, 19), Raw: "3,\x81\x20", Reason: ReasonInvalidEncoding, Err: "not shift_jis text: an invalid byte sequence at character 3"},
			},
		},
		{
			name: "utf-16le bom csv", file: "le.csv",
			data: toUTF16("a,b\nx,ü\ny,😀\nz,\"q\nr\"\n", false, true),
			want: []item{
				{Pos: pos("le.csv", 1, 2, 10), Raw: "x,ü", Names: []string{"a", "b"}, Values: strs("x", "ü")},
				{Pos: pos("le.csv", 2, 3, 18), Raw: "y,😀", Names: []string{"a", "b"}, Values: strs("y", "😀")},
				{Pos: pos("le.csv", 3, 4, 28), Raw: "z,\"q\nr\"", Names: []string{"a", "b"}, Values: strs("z", "q\nr")},
			},
		},
		{
			name: "utf-16be bom csv", file: "be.csv",
			data: toUTF16("a,b\nx,ü\ny,😀\nz,3\n", true, true),
			want: []item{
				{Pos: pos("be.csv", 1, 2, 10), Raw: "x,ü", Names: []string{"a", "b"}, Values: strs("x", "ü")},
				{Pos: pos("be.csv", 2, 3, 18), Raw: "y,😀", Names: []string{"a", "b"}, Values: strs("y", "😀")},
				{Pos: pos("be.csv", 3, 4, 28), Raw: "z,3", Names: []string{"a", "b"}, Values: strs("z", "3")},
			},
		},
		{
			name: "utf-16le bom ndjson", file: "le.ndjson",
			data: toUTF16("{\"a\":\"ü\"}\r\n{\"a\":\"😀\"}\r\n{\"a\":3}\r\n", false, true),
			want: []item{
				{Pos: pos("le.ndjson", 1, 1, 2), Raw: `{"a":"ü"}`, Names: []string{"a"}, Values: []any{`raw:"ü"`}},
				{Pos: pos("le.ndjson", 2, 2, 24), Raw: `{"a":"😀"}`, Names: []string{"a"}, Values: []any{`raw:"😀"`}},
				{Pos: pos("le.ndjson", 3, 3, 48), Raw: `{"a":3}`, Names: []string{"a"}, Values: []any{`raw:3`}},
			},
		},
		{
			name: "utf-16be bom ndjson", file: "be.ndjson",
			data: toUTF16("{\"a\":\"ü\"}\n{\"a\":\"😀\"}\n{\"a\":3}\n", true, true),
			want: []item{
				{Pos: pos("be.ndjson", 1, 1, 2), Raw: `{"a":"ü"}`, Names: []string{"a"}, Values: []any{`raw:"ü"`}},
				{Pos: pos("be.ndjson", 2, 2, 22), Raw: `{"a":"😀"}`, Names: []string{"a"}, Values: []any{`raw:"😀"`}},
				{Pos: pos("be.ndjson", 3, 3, 44), Raw: `{"a":3}`, Names: []string{"a"}, Values: []any{`raw:3`}},
			},
		},
		{
			name: "utf-16le named, no bom", file: "n.csv", encoding: "utf-16le",
			data: toUTF16("a\nü\n", false, false),
			want: []item{
				{Pos: pos("n.csv", 1, 2, 4), Raw: "ü", Names: []string{"a"}, Values: strs("ü")},
			},
		},
		{
			name: "utf-16 unpaired surrogate and odd end", file: "bad.csv",
			data: append(append(toUTF16("a\nx", false, true), 0x00, 0xd8), append(toUTF16("y\nz\n", false, false), 'w')...),
			want: []item{
				{Pos: pos("bad.csv", 1, 2, 6), Raw: "x\uFFFDy", Reason: ReasonInvalidEncoding, Err: "not utf-16le text: an unpaired surrogate or a truncated code unit at character 2"},
				{Pos: pos("bad.csv", 2, 3, 14), Raw: "z", Names: []string{"a"}, Values: strs("z")},
				{Pos: pos("bad.csv", 3, 4, 18), Raw: "\uFFFD", Reason: ReasonInvalidEncoding, Err: "not utf-16le text: an unpaired surrogate or a truncated code unit at character 1"},
			},
		},
		{
			// U+FFFD in its GB18030 form is text; beside a broken sequence
			// the row is not.
			name: "gb18030 replacement character", file: "g.csv", encoding: "gb18030",
			data: []byte("v\n\x84\x31\xa4\x37a\n\x84\x31\xa4\x37a\x81\x20b\n"),
			want: []item{
				{Pos: pos("g.csv", 1, 2, 2), Raw: "\uFFFDa", Names: []string{"v"}, Values: strs("\uFFFDa")},
				{Pos: pos("g.csv", 2, 3, 8), Raw: "\x84\x31\xa4\x37a\x81\x20b", Reason: ReasonInvalidEncoding, Err: "not gb18030 text: an invalid byte sequence at character 1"},
			},
		},
		{
			name: "utf-8 bom skipped", file: "b.csv",
			data: []byte("\xef\xbb\xbfa\nü\n"),
			want: []item{
				{Pos: pos("b.csv", 1, 2, 5), Raw: "ü", Names: []string{"a"}, Values: strs("ü")},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			t.Chdir(dir)
			for _, c := range compressions {
				file := tt.file + c.ext
				writeFile(t, ".", file, c.pack(t, tt.data))
				want := make([]item, len(tt.want))
				for i, it := range tt.want {
					it.Pos.File = file
					want[i] = it
				}
				got := mustReadAll(t, file, Options{Encoding: tt.encoding}, nil)
				diffItems(t, got, want)
			}
		})
	}
}

// TestEncodingOffsetsAreSourceBytes reads the third row of a file with
// dd-like slicing at its offset: the source bytes there are the row.
func TestEncodingOffsetsAreSourceBytes(t *testing.T) {
	text := "id,v\n1,é\n2,😀 \"x\"\n3,third\n"
	for _, tt := range []struct {
		name string
		data []byte
		enc  string
		row3 []byte
	}{
		{"latin1", toCP1252(t, "id,v\n1,é\n2,€ \"x\"\n3,third\n"), "latin1", []byte("3,third\n")},
		{"utf-16le", toUTF16(text, false, true), "", toUTF16("3,third\n", false, false)},
		{"utf-16be", toUTF16(text, true, true), "", toUTF16("3,third\n", true, false)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "f.csv", tt.data)
			items := mustReadAll(t, path, Options{Encoding: tt.enc}, nil)
			if len(items) != 3 {
				t.Fatalf("read %d items, want 3", len(items))
			}
			off := items[2].Pos.Offset
			if got := tt.data[off:]; !bytes.Equal(got, tt.row3) {
				t.Errorf("bytes at offset %d: %q, want %q", off, got, tt.row3)
			}
			if items[2].Raw != "3,third" {
				t.Errorf("row 3 Raw %q", items[2].Raw)
			}
		})
	}
}

// TestEncodingSameAsUTF8 reads samples transcoded to other encodings and
// expects the rows of the UTF-8 original, with offsets in the source's
// bytes, and resumes at every row.
func TestEncodingSameAsUTF8(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "testdata", "readers", "quoted.csv"))
	if err != nil {
		t.Fatal(err)
	}
	csvText := strings.ReplaceAll(string(data), "\xff", "Müller €")
	ndText := "{\"a\":\"Zürich\"}\n\n{\"b\":[1,2],\"c\":\"€\"}\r\n{bad json €}\n[1]\n  {\"d\":{\"e\":\"ß\"}}\n{\"f\":1}"
	arrayText := "[\n {\"a\":\"é\"},\n {\"b\":\"€\"} , {\"c\":1},\n 7\n]\n"
	type variant struct {
		name   string
		enc    string
		encode func(string) []byte
		// offset maps an offset in the UTF-8 text to one in the source.
		offset func(text string, off int64) int64
	}
	utf16Off := func(text string, off int64) int64 {
		return 2 + 2*int64(len(utf16.Encode([]rune(text[:off]))))
	}
	variants := []variant{
		{"utf-16le", "", func(s string) []byte { return toUTF16(s, false, true) }, utf16Off},
		{"utf-16be", "utf-16", func(s string) []byte { return toUTF16(s, true, true) }, utf16Off},
		{"windows-1252", "latin1", func(s string) []byte { return toCP1252(t, s) }, func(text string, off int64) int64 {
			return int64(utf8.RuneCountInString(text[:off]))
		}},
	}
	for _, sample := range []struct{ file, text string }{
		{"q.csv", csvText}, {"m.ndjson", ndText}, {"a.json", arrayText},
	} {
		for _, v := range variants {
			for _, c := range compressions {
				t.Run(fmt.Sprintf("%s/%s/%s", sample.file, v.name, c.name), func(t *testing.T) {
					dir := t.TempDir()
					orig := writeFile(t, dir, "orig"+c.ext, []byte(sample.text))
					path := writeFile(t, dir, sample.file+c.ext, c.pack(t, v.encode(sample.text)))
					format := formatByName(sample.file).format
					want := mustReadAll(t, orig, Options{Format: format}, nil)
					got := mustReadAll(t, path, Options{Encoding: v.enc}, nil)
					for i := range want {
						want[i].Pos.File = path
						want[i].Pos.Offset = v.offset(sample.text, want[i].Pos.Offset)
					}
					diffItems(t, got, want)
					for _, opts := range []Options{{Encoding: v.enc}, {Encoding: v.enc, MaxLineBytes: 40}} {
						full := mustReadAll(t, path, opts, nil)
						for i := range full {
							at := full[i].Pos
							diffItems(t, mustReadAll(t, path, opts, &at), full[i:])
						}
					}
				})
			}
		}
	}
}

// TestEncodingResumeLargeFile resumes UTF-16 files that span many buffers,
// where the offset map crosses buffer compactions.
func TestEncodingResumeLargeFile(t *testing.T) {
	var text strings.Builder
	text.WriteString("id,text\n")
	for i := range 20000 {
		switch i % 4 {
		case 0:
			fmt.Fprintf(&text, "%d,\"multi\nline 😀 %d\"\n", i, i)
		case 1:
			fmt.Fprintf(&text, "%d,%s\n", i, strings.Repeat("ü", i%300))
		default:
			fmt.Fprintf(&text, "%d,plain %d\n", i, i)
		}
	}
	data := toUTF16(text.String(), false, true)
	for _, c := range compressions {
		t.Run(c.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "big.csv"+c.ext, c.pack(t, data))
			full := mustReadAll(t, path, Options{}, nil)
			if len(full) != 20000 {
				t.Fatalf("read %d items, want 20000", len(full))
			}
			for i := 0; i < len(full); i += 2999 {
				r := openT(t, path, Options{}, &full[i].Pos)
				got, err := readN(r, 3)
				if err != nil {
					t.Fatal(err)
				}
				diffItems(t, got, full[i:min(i+3, len(full))])
			}
			// The offset of every row holds its source bytes.
			for i := 0; i < len(full); i += 997 {
				want := toUTF16(full[i].Raw+"\n", false, false)
				if off := full[i].Pos.Offset; c.name == "plain" && !bytes.HasPrefix(data[off:], want) {
					t.Errorf("row %d: bytes at offset %d are not the row", i+1, off)
				}
			}
		})
	}
}

func TestEncodingErrors(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	writeFile(t, ".", "le.csv", toUTF16("a\n1\n", false, true))
	writeFile(t, ".", "u8.csv", []byte("\xef\xbb\xbfa\n1\n"))
	writeFile(t, ".", "a.json", []byte("[{\"a\":1}]\n"))
	writeFile(t, ".", "u32.csv", []byte{0xff, 0xfe, 0, 0, 'a', 0, 0, 0})
	tests := []struct {
		name string
		file string
		opts Options
		want string
	}{
		{"unknown name", "le.csv", Options{Encoding: "klingon"}, `readers: Encoding "klingon": unknown encoding; want one of ` + textEncodingNames},
		{"stateful", "le.csv", Options{Encoding: "iso-2022-jp"}, `readers: Encoding "iso-2022-jp": encoding iso-2022-jp is not supported (it is stateful or not ASCII-compatible); want one of ` + textEncodingNames},
		{"ebcdic", "le.csv", Options{Encoding: "ibm037"}, `readers: Encoding "ibm037": encoding ibm037 is not supported (it is not ASCII-compatible); want one of ` + textEncodingNames},
		{"delimiter in a trail byte", "le.csv", Options{Encoding: "sjis", Delimiter: '|'}, `readers: Delimiter '|': a shift_jis character can hold that byte; use a comma, a semicolon or a tab`},
		{"bom contradicts latin1", "le.csv", Options{Encoding: "latin1"}, `le.csv: the file starts with a UTF-16LE byte-order mark, but the encoding is windows-1252: leave --encoding out, or name utf-16le`},
		{"bom contradicts utf-16be", "le.csv", Options{Encoding: "utf-16be"}, `le.csv: the file starts with a UTF-16LE byte-order mark, but the encoding is utf-16be: leave --encoding out, or name utf-16le`},
		{"bom contradicts utf-8", "le.csv", Options{Encoding: "utf-8"}, `le.csv: the file starts with a UTF-16LE byte-order mark, but the encoding is utf-8: leave --encoding out, or name utf-16le`},
		{"utf-8 bom contradicts latin1", "u8.csv", Options{Encoding: "latin1"}, `u8.csv: the file starts with a UTF-8 byte-order mark, but the encoding is windows-1252: leave --encoding out, or name utf-8`},
		{"utf-32", "u32.csv", Options{}, `u32.csv: the file starts with a UTF-32 byte-order mark: UTF-32 is not supported; convert the file to UTF-8 (iconv -f utf-32 -t utf-8)`},
		{"json array in shift_jis", "a.json", Options{Encoding: "shift_jis"}, `a.json: a JSON array file in shift_jis cannot be split into elements safely: convert it to UTF-8 (iconv -f shift_jis -t utf-8)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Open(context.Background(), Source{Path: tt.file}, tt.opts, nil)
			if err == nil {
				r.Close()
			}
			if errStr(err) != tt.want {
				t.Fatalf("Open: %v\nwant %s", err, tt.want)
			}
		})
	}
	for _, ok := range []string{"latin1", "ISO-8859-1", "windows-1252", "cp1252", "utf-16le", "UTF-16BE", "utf-16", "shift_jis", "gb18030", "euc-kr", "koi8-r", "ibm850", "iso-8859-8-i", "windows-874", "x-mac-cyrillic", "utf-8", ""} {
		if err := (Options{Encoding: ok}).Validate(); err != nil {
			t.Errorf("Encoding %q: %v", ok, err)
		}
	}
}

// TestEncodingResumeBadPositions checks that a resume position inside a
// UTF-16 character or row is refused.
func TestEncodingResumeBadPositions(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	text := toUTF16("a,b\n1,😀\n3,4\n", false, true)
	for _, file := range []string{"e.csv", "e.csv.gz"} {
		data := text
		if strings.HasSuffix(file, ".gz") {
			data = gzipped(t, text)
		}
		writeFile(t, ".", file, data)
		for _, tt := range []struct {
			at   Position
			want string
		}{
			{Position{Row: 1, Line: 2, Offset: 11}, file + ": resume: offset 11 is not the start of a row"},
			{Position{Row: 1, Line: 2, Offset: 12}, file + ": resume: offset 12 is not the start of a row"},
			{Position{Row: 2, Line: 3, Offset: 18}, file + ": resume: offset 18 is not the start of a row"},
			{Position{Row: 1, Line: 1, Offset: 2}, file + ": resume: offset 2 is before the first row (offset 10)"},
			{Position{Row: 9, Line: 9, Offset: 100}, file + ": resume: offset 100 is past the end of the file"},
		} {
			_, err := Open(context.Background(), Source{Path: file}, Options{}, &tt.at)
			if errStr(err) != tt.want {
				t.Errorf("Open at %d: %v\nwant %s", tt.at.Offset, err, tt.want)
			}
		}
		r := openT(t, file, Options{}, &Position{Row: 2, Line: 3, Offset: 20})
		got, err := readItems(t, r)
		if err != nil {
			t.Fatal(err)
		}
		diffItems(t, got, []item{{Pos: pos(file, 2, 3, 20), Raw: "3,4", Names: []string{"a", "b"}, Values: strs("3", "4")}})
	}
}

// TestSniffUTF16 detects the format of a UTF-16 file without a known
// extension by its decoded content.
func TestSniffUTF16(t *testing.T) {
	for _, tt := range []struct {
		text string
		want string
	}{{"{\"a\":1}\n", FormatNDJSON}, {"a,b\n1,2\n", FormatCSV}} {
		for _, big := range []bool{false, true} {
			path := writeFile(t, t.TempDir(), "data", toUTF16(tt.text, big, true))
			srcs, err := Expand([]string{path}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if srcs[0].Format != tt.want {
				t.Errorf("%q big=%v: format %q, want %q", tt.text, big, srcs[0].Format, tt.want)
			}
			if items := mustReadAll(t, path, Options{}, nil); len(items) != 1 || items[0].Reason != "" {
				t.Errorf("%q big=%v: %v", tt.text, big, items)
			}
		}
	}
}

// FuzzEncoding reads text as UTF-8 and as UTF-16 (both byte orders, with
// and without gzip's way of reading: no seeking) and expects the same
// items, with each offset the source offset of the UTF-8 one; a resume at
// any item gives the rest of the read.
func FuzzEncoding(f *testing.F) {
	for _, seed := range []string{
		"a,b\n1,2\n",
		"a,b\n\"x\ny\",😀\n\n3,\"q\"\"\"\r\n4\n",
		"{\"a\":\"ü\"}\n{bad}\n\n[1]\n{\"b\":1}",
		"a\n\"unterminated\nb\nc\n",
		"id\n" + strings.Repeat("é", 50) + "\n2\n",
	} {
		f.Add(seed, false, false)
		f.Add(seed, true, true)
	}
	f.Fuzz(func(t *testing.T, text string, big, ndjson bool) {
		text = strings.TrimPrefix(strings.ToValidUTF8(text, "\uFFFD"), "\uFEFF")
		if strings.HasPrefix(text, "\x00") && !big {
			return // the mark and a NUL are UTF-32's mark
		}
		name := "f.csv"
		if ndjson {
			name = "f.ndjson"
		}
		opts := Options{MaxLineBytes: 40}
		want, wantErr := readAllBytes(t, name, []byte(text), opts, nil)
		data := toUTF16(text, big, true)
		got, err := readAllBytes(t, name, data, opts, nil)
		if wantErr != nil || err != nil {
			if (wantErr == nil) != (err == nil) {
				t.Fatalf("UTF-8 read: %v; UTF-16 read: %v", wantErr, err)
			}
			return
		}
		for i := range want {
			want[i].Pos.Offset = 2 + 2*int64(len(utf16.Encode([]rune(text[:want[i].Pos.Offset]))))
		}
		diffItems(t, got, want)
		for i := range got {
			rest, err := readAllBytes(t, name, data, opts, &got[i].Pos)
			if err != nil {
				t.Fatalf("resume at %v: %v", got[i].Pos, err)
			}
			diffItems(t, rest, got[i:])
		}
	})
}

// TestEncodingRejectKeepsItsBytes reads on well past a rejected record of
// an encoded CSV file, so that the reader's buffer is refilled, and
// expects the reject's Raw to be the record's bytes still.
func TestEncodingRejectKeepsItsBytes(t *testing.T) {
	var data bytes.Buffer
	data.WriteString("a,b\nx\"\x81\"y,1\n")
	for i := range 20000 {
		fmt.Fprintf(&data, "%d,z\n", i)
	}
	path := writeFile(t, t.TempDir(), "w.csv", data.Bytes())
	r := openT(t, path, Options{Encoding: "windows-1252"}, nil)
	var rejected *RowError
	for {
		_, err := r.Next(context.Background())
		if err == io.EOF {
			break
		}
		if re, ok := err.(*RowError); ok && rejected == nil {
			rejected = re
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if rejected == nil || string(rejected.Raw) != "x\"\x81\"y,1" {
		t.Fatalf("the reject: %+v, want its Raw x\"\\x81\"y,1", rejected)
	}
}
