package readers

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
)

// at returns the byte offset of marker in content (which must hold it).
func at(t testing.TB, content, marker string) int64 {
	t.Helper()
	i := strings.Index(content, marker)
	if i < 0 {
		t.Fatalf("marker %q not in content", marker)
	}
	return int64(i)
}

func TestCSVRows(t *testing.T) {
	long := "1," + strings.Repeat("x", 3000)
	tests := []struct {
		name    string
		file    string
		content string
		opts    Options
		want    func(t *testing.T, c string) []item
	}{
		{
			name:    "quoted fields with delimiters, line breaks and doubled quotes",
			file:    "events.csv",
			content: "id,text\n1,\"a,b\"\n2,\"line1\nline2\"\n3,\"say \"\"hi\"\"\"\n4,plain\n5,\"\"\n6,\n",
			want: func(t *testing.T, c string) []item {
				h := []string{"id", "text"}
				return []item{
					{Pos: pos("events.csv", 1, 2, at(t, c, "1,")), Raw: `1,"a,b"`, Names: h, Values: strs("1", "a,b")},
					{Pos: pos("events.csv", 2, 3, at(t, c, "2,")), Raw: "2,\"line1\nline2\"", Names: h, Values: strs("2", "line1\nline2")},
					{Pos: pos("events.csv", 3, 5, at(t, c, "3,")), Raw: `3,"say ""hi"""`, Names: h, Values: strs("3", `say "hi"`)},
					{Pos: pos("events.csv", 4, 6, at(t, c, "4,")), Raw: "4,plain", Names: h, Values: strs("4", "plain")},
					{Pos: pos("events.csv", 5, 7, at(t, c, "5,")), Raw: `5,""`, Names: h, Values: strs("5", "")},
					{Pos: pos("events.csv", 6, 8, at(t, c, "6,")), Raw: "6,", Names: h, Values: []any{"6", nil}},
				}
			},
		},
		{
			name:    "CRLF line ends",
			file:    "events.csv",
			content: "a,b\r\n1,2\r\n\"x\r\ny\",3\r\n\"q\"\r\n",
			want: func(t *testing.T, c string) []item {
				h := []string{"a", "b"}
				return []item{
					{Pos: pos("events.csv", 1, 2, at(t, c, "1,")), Raw: "1,2", Names: h, Values: strs("1", "2")},
					{Pos: pos("events.csv", 2, 3, at(t, c, `"x`)), Raw: "\"x\r\ny\",3", Names: h, Values: strs("x\r\ny", "3")},
					{Pos: pos("events.csv", 3, 5, at(t, c, `"q"`)), Raw: `"q"`, Reason: ReasonCSVFieldCount, Err: "expected 2 fields, got 1"},
				}
			},
		},
		{
			name:    "byte order mark is skipped",
			file:    "bom.csv",
			content: "\xef\xbb\xbfa,b\n1,2\n",
			want: func(t *testing.T, c string) []item {
				return []item{{Pos: pos("bom.csv", 1, 2, 7), Raw: "1,2", Names: []string{"a", "b"}, Values: strs("1", "2")}}
			},
		},
		{
			name:    "tsv by extension",
			file:    "events.tsv.gz",
			content: "a\tb\n1\t2,3\n",
			want: func(t *testing.T, c string) []item {
				return []item{{Pos: pos("events.tsv.gz", 1, 2, 4), Raw: "1\t2,3", Names: []string{"a", "b"}, Values: strs("1", "2,3")}}
			},
		},
		{
			name:    "delimiter option",
			file:    "semi.csv",
			content: "a;b\n1;\"2;3\"\n",
			opts:    Options{Delimiter: ';'},
			want: func(t *testing.T, c string) []item {
				return []item{{Pos: pos("semi.csv", 1, 2, 4), Raw: `1;"2;3"`, Names: []string{"a", "b"}, Values: strs("1", "2;3")}}
			},
		},
		{
			name:    "headerless with columns, byte order mark, no final newline",
			file:    "data.csv",
			content: "\xef\xbb\xbf1,2\n3,4",
			opts:    Options{Columns: []string{"x", "y"}},
			want: func(t *testing.T, c string) []item {
				h := []string{"x", "y"}
				return []item{
					{Pos: pos("data.csv", 1, 1, 3), Raw: "1,2", Names: h, Values: strs("1", "2")},
					{Pos: pos("data.csv", 2, 2, 7), Raw: "3,4", Names: h, Values: strs("3", "4")},
				}
			},
		},
		{
			name:    "blank lines are not rows",
			file:    "blank.csv",
			content: "\na,b\n\n1,2\n\r\n3,4",
			want: func(t *testing.T, c string) []item {
				h := []string{"a", "b"}
				return []item{
					{Pos: pos("blank.csv", 1, 4, at(t, c, "1,")), Raw: "1,2", Names: h, Values: strs("1", "2")},
					{Pos: pos("blank.csv", 2, 6, at(t, c, "3,")), Raw: "3,4", Names: h, Values: strs("3", "4")},
				}
			},
		},
		{
			name:    "wrong field counts",
			file:    "count.csv",
			content: "a,b\n1,2,3\n4\n5,6\n",
			want: func(t *testing.T, c string) []item {
				return []item{
					{Pos: pos("count.csv", 1, 2, 4), Raw: "1,2,3", Reason: ReasonCSVFieldCount, Err: "expected 2 fields, got 3"},
					{Pos: pos("count.csv", 2, 3, 10), Raw: "4", Reason: ReasonCSVFieldCount, Err: "expected 2 fields, got 1"},
					{Pos: pos("count.csv", 3, 4, 12), Raw: "5,6", Names: []string{"a", "b"}, Values: strs("5", "6")},
				}
			},
		},
		{
			name:    "bare quote and text after a closing quote",
			file:    "quote.csv",
			content: "a,b\n1,x\"y\n\"2\"z,3\n4,5\n",
			want: func(t *testing.T, c string) []item {
				return []item{
					{Pos: pos("quote.csv", 1, 2, 4), Raw: `1,x"y`, Reason: ReasonCSVQuote, Err: "bare quote in unquoted field 2"},
					{Pos: pos("quote.csv", 2, 3, at(t, c, `"2"`)), Raw: `"2"z,3`, Reason: ReasonCSVQuote, Err: "unexpected 'z' after the closing quote of field 1"},
					{Pos: pos("quote.csv", 3, 4, at(t, c, "4,")), Raw: "4,5", Names: []string{"a", "b"}, Values: strs("4", "5")},
				}
			},
		},
		{
			name:    "unterminated quote resyncs at the next line",
			file:    "open.csv",
			content: "a,b\n1,\"oops\n2,3\n4,5\n",
			want: func(t *testing.T, c string) []item {
				h := []string{"a", "b"}
				return []item{
					{Pos: pos("open.csv", 1, 2, 4), Raw: `1,"oops`, Reason: ReasonCSVQuote, Err: "unterminated quoted field 2"},
					{Pos: pos("open.csv", 2, 3, at(t, c, "2,")), Raw: "2,3", Names: h, Values: strs("2", "3")},
					{Pos: pos("open.csv", 3, 4, at(t, c, "4,")), Raw: "4,5", Names: h, Values: strs("4", "5")},
				}
			},
		},
		{
			name:    "quoted field spanning lines within the limit",
			file:    "span.csv",
			content: "a,b\n1,\"x\n2,3\n4,5\n6,7\n8,9\"\n10,11\n",
			want: func(t *testing.T, c string) []item {
				h := []string{"a", "b"}
				return []item{
					{Pos: pos("span.csv", 1, 2, 4), Raw: "1,\"x\n2,3\n4,5\n6,7\n8,9\"", Names: h, Values: strs("1", "x\n2,3\n4,5\n6,7\n8,9")},
					{Pos: pos("span.csv", 2, 7, at(t, c, "10,")), Raw: "10,11", Names: h, Values: strs("10", "11")},
				}
			},
		},
		{
			name:    "quoted field not closed within MaxLineBytes gives up at the first line",
			file:    "span.csv",
			content: "a,b\n1,\"x\n2,3\n4,5\n6,7\n8,9\"\n10,11\n",
			opts:    Options{MaxLineBytes: 12},
			want: func(t *testing.T, c string) []item {
				h := []string{"a", "b"}
				return []item{
					{Pos: pos("span.csv", 1, 2, 4), Raw: `1,"x`, Reason: ReasonCSVQuote, Err: "quoted field 2 not closed within 12 bytes"},
					{Pos: pos("span.csv", 2, 3, at(t, c, "2,")), Raw: "2,3", Names: h, Values: strs("2", "3")},
					{Pos: pos("span.csv", 3, 4, at(t, c, "4,")), Raw: "4,5", Names: h, Values: strs("4", "5")},
					{Pos: pos("span.csv", 4, 5, at(t, c, "6,")), Raw: "6,7", Names: h, Values: strs("6", "7")},
					{Pos: pos("span.csv", 5, 6, at(t, c, "8,")), Raw: `8,9"`, Reason: ReasonCSVQuote, Err: "bare quote in unquoted field 2"},
					{Pos: pos("span.csv", 6, 7, at(t, c, "10,")), Raw: "10,11", Names: h, Values: strs("10", "11")},
				}
			},
		},
		{
			name:    "invalid UTF-8",
			file:    "utf.csv",
			content: "a,b\n\xff,1\n2,3\n",
			want: func(t *testing.T, c string) []item {
				return []item{
					{Pos: pos("utf.csv", 1, 2, 4), Raw: "\xff,1", Reason: ReasonInvalidUTF8, Err: "invalid UTF-8 at byte 0"},
					{Pos: pos("utf.csv", 2, 3, 8), Raw: "2,3", Names: []string{"a", "b"}, Values: strs("2", "3")},
				}
			},
		},
		{
			name:    "record over MaxLineBytes",
			file:    "long.csv",
			content: "a,b\n1,xxxxxxxxxxxxxxxxxxxx\n\"2\",\"yyyyyyyyyyyyyyyyyyyy\"\n3,4\n",
			opts:    Options{MaxLineBytes: 10},
			want: func(t *testing.T, c string) []item {
				return []item{
					{Pos: pos("long.csv", 1, 2, 4), Raw: "1,xxxxxxxxxxxxxxxxxxxx", Reason: ReasonLineTooLong, Err: "record longer than 10 bytes"},
					{Pos: pos("long.csv", 2, 3, at(t, c, `"2"`)), Raw: `"2","yyyyyyyyyyyyyyyyyyyy"`, Reason: ReasonCSVQuote, Err: "quoted field 2 not closed within 10 bytes"},
					{Pos: pos("long.csv", 3, 4, at(t, c, "3,")), Raw: "3,4", Names: []string{"a", "b"}, Values: strs("3", "4")},
				}
			},
		},
		{
			name:    "over-long record keeps its first KiB",
			file:    "long.csv",
			content: "a,b\n" + long + "\n3,4\n",
			want: func(t *testing.T, c string) []item {
				return []item{
					{Pos: pos("long.csv", 1, 2, 4), Raw: long[:1024], Reason: ReasonLineTooLong, Err: "record longer than 2000 bytes"},
					{Pos: pos("long.csv", 2, 3, at(t, c, "3,")), Raw: "3,4", Names: []string{"a", "b"}, Values: strs("3", "4")},
				}
			},
			opts: Options{MaxLineBytes: 2000},
		},
		{
			name:    "empty file",
			file:    "empty.csv",
			content: "",
			want:    func(t *testing.T, c string) []item { return nil },
		},
		{
			name:    "header only",
			file:    "header.csv",
			content: "a,b\n",
			want:    func(t *testing.T, c string) []item { return nil },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := []byte(tt.content)
			if strings.HasSuffix(tt.file, ".gz") {
				data = gzipped(t, data)
			}
			path := writeFile(t, t.TempDir(), tt.file, data)
			got := mustReadAll(t, path, tt.opts, nil)
			want := tt.want(t, tt.content)
			for i := range want {
				want[i].Pos.File = path
			}
			diffItems(t, got, want)
		})
	}
}

func TestCSVHeaderErrors(t *testing.T) {
	tests := []struct {
		name    string
		content string
		opts    Options
		want    string
	}{
		{"empty column", "a,b,,d\n1,2,3,4\n", Options{}, "events.csv: header: column 3 is empty"},
		{"blank column", "a, \n", Options{}, "events.csv: header: column 2 is empty"},
		{"duplicate column", "id,ts,a,b,ts\n", Options{}, `events.csv: header: duplicate column "ts" (columns 2 and 5)`},
		{"bad quote", "a,\"b\n", Options{}, "events.csv: header: unterminated quoted field 2"},
		{"invalid UTF-8", "a,\xfe\n", Options{}, "events.csv: header: invalid UTF-8 at byte 2"},
		{"empty column given", "1,2\n", Options{Columns: []string{"a", ""}}, "events.csv: columns: column 2 is empty"},
		{"duplicate column given", "1,2\n", Options{Columns: []string{"a", "a"}}, `events.csv: columns: duplicate column "a" (columns 1 and 2)`},
		{"quote delimiter", "a\n", Options{Delimiter: '"'}, `readers: Delimiter '"': want a single-byte character other than a quote or a line break`},
		{"multi-byte delimiter", "a\n", Options{Delimiter: '¦'}, `readers: Delimiter '¦': want a single-byte character other than a quote or a line break`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, "events.csv", []byte(tt.content))
			t.Chdir(dir)
			_, err := Open(context.Background(), Source{Path: "events.csv"}, tt.opts, nil)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("Open: %v, want %q", err, tt.want)
			}
		})
	}
}

func TestCSVSchema(t *testing.T) {
	path := writeFile(t, t.TempDir(), "events.csv", []byte("ts,event\n1,a\n"))
	r := openT(t, path, Options{}, nil)
	s, ok := r.(Schemer)
	if !ok {
		t.Fatal("CSV reader is not a Schemer")
	}
	if got := s.Schema(); strings.Join(got, "|") != "ts|event" {
		t.Fatalf("Schema() = %q", got)
	}
	row, err := r.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if &row.names[0] != &s.Schema()[0] {
		t.Error("rows do not share the header slice")
	}
	if _, err := r.Next(context.Background()); err != io.EOF {
		t.Fatalf("Next after the last row: %v, want io.EOF", err)
	}
	if _, err := r.Next(context.Background()); err != io.EOF {
		t.Fatalf("Next after EOF: %v, want io.EOF again", err)
	}
}

func TestCSVNull(t *testing.T) {
	content := "a,b,c\n,\"\",NULL\nx,\"NULL\",\\N\n\"\",,\"\"\"\"\n,,\n"
	tests := []struct {
		name string
		null []string
		want [][]any
	}{
		{"default: unquoted empty cells", nil, [][]any{
			{nil, "", "NULL"},
			{"x", "NULL", `\N`},
			{"", nil, `"`},
			{nil, nil, nil},
		}},
		{"no null tokens", []string{}, [][]any{
			{"", "", "NULL"},
			{"x", "NULL", `\N`},
			{"", "", `"`},
			{"", "", ""},
		}},
		{"several tokens, quoted cells are never null", []string{"NULL", `\N`}, [][]any{
			{"", "", nil},
			{"x", "NULL", nil},
			{"", "", `"`},
			{"", "", ""},
		}},
		{"empty string among the tokens", []string{"NULL", ""}, [][]any{
			{nil, "", nil},
			{"x", "NULL", `\N`},
			{"", nil, `"`},
			{nil, nil, nil},
		}},
	}
	path := writeFile(t, t.TempDir(), "null.csv", []byte(content))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			items := mustReadAll(t, path, Options{Null: tt.null}, nil)
			if len(items) != len(tt.want) {
				t.Fatalf("read %d items, want %d: %v", len(items), len(tt.want), items)
			}
			for i, it := range items {
				if it.Reason != "" || !reflect.DeepEqual(it.Values, tt.want[i]) {
					t.Errorf("row %d: %#v (%s), want %#v", i+1, it.Values, it.Err, tt.want[i])
				}
			}
		})
	}
	t.Run("header cells are never null", func(t *testing.T) {
		p := writeFile(t, t.TempDir(), "h.csv", []byte("NULL,b\n1,2\n"))
		r := openT(t, p, Options{Null: []string{"NULL"}}, nil)
		if got := r.(Schemer).Schema(); !reflect.DeepEqual(got, []string{"NULL", "b"}) {
			t.Fatalf("Schema() = %q", got)
		}
	})
}

// TestIndexSpecial puts delimiters and quotes at every offset of lines
// long enough for the word-at-a-time scan, among bytes of several kinds,
// and checks indexSpecial against a byte-at-a-time search.
func TestIndexSpecial(t *testing.T) {
	for _, delim := range []byte{',', '\t', ';', '|', 0x01, 0x7f} {
		t.Run(fmt.Sprintf("delimiter %#x", delim), func(t *testing.T) {
			c := &csvReader{delim: delim}
			for _, fill := range []byte{'a', 0x00, 0x80, 0xff, delim + 1, delim - 1, '"' + 1, '"' - 1} {
				if fill == delim || fill == '"' {
					continue
				}
				for n := 0; n <= 20; n++ {
					for at := -1; at < n; at++ {
						for _, special := range []byte{delim, '"'} {
							line := bytes.Repeat([]byte{fill}, n)
							if at >= 0 {
								line[at] = special
							}
							for from := 0; from <= n; from++ {
								want := len(line)
								for k := from; k < len(line); k++ {
									if line[k] == delim || line[k] == '"' {
										want = k
										break
									}
								}
								if got := c.indexSpecial(line, from); got != want {
									t.Fatalf("%q from %d: %d, want %d", line, from, got, want)
								}
							}
						}
					}
				}
			}
		})
	}
}
