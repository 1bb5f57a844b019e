package readers

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// raws builds a []any of json.RawMessage values.
func raws(v ...string) []any {
	out := make([]any, len(v))
	for i, s := range v {
		out[i] = json.RawMessage(s)
	}
	return out
}

func TestNDJSONRows(t *testing.T) {
	long := `{"a":"` + strings.Repeat("x", 5000) + `"}`
	deep := strings.Repeat("[", 1001) + strings.Repeat("]", 1001)
	tests := []struct {
		name    string
		file    string
		content string
		opts    Options
		want    func(t *testing.T, c string) []item
	}{
		{
			name:    "objects, blank lines, exact values",
			file:    "events.ndjson",
			content: "{\"a\":1,\"b\":\"x\"}\n\n  \t\n{ \"c\" : [1, 2] , \"d\":{\"e\":null}, \"id\": 9007199254740993 }\n",
			want: func(t *testing.T, c string) []item {
				return []item{
					{Pos: pos("events.ndjson", 1, 1, 0), Raw: `{"a":1,"b":"x"}`, Names: []string{"a", "b"}, Values: raws("1", `"x"`)},
					{Pos: pos("events.ndjson", 2, 4, at(t, c, "{ ")), Raw: `{ "c" : [1, 2] , "d":{"e":null}, "id": 9007199254740993 }`,
						Names: []string{"c", "d", "id"}, Values: raws("[1, 2]", `{"e":null}`, "9007199254740993")},
				}
			},
		},
		{
			name:    "duplicate keys keep the last value, escaped keys are unquoted",
			file:    "dup.jsonl",
			content: "{\"a\":1,\"b\":2,\"a\":3,\"c\\u0064\":4,\"\":5}",
			want: func(t *testing.T, c string) []item {
				return []item{{Pos: pos("dup.jsonl", 1, 1, 0), Raw: c, Names: []string{"a", "b", "cd", ""}, Values: raws("3", "2", "4", "5")}}
			},
		},
		{
			name:    "CRLF, byte order mark, no final newline",
			file:    "crlf.ndjson",
			content: "\xef\xbb\xbf{\"a\":1}\r\n\r\n{\"b\":2}",
			want: func(t *testing.T, c string) []item {
				return []item{
					{Pos: pos("crlf.ndjson", 1, 1, 3), Raw: `{"a":1}`, Names: []string{"a"}, Values: raws("1")},
					{Pos: pos("crlf.ndjson", 2, 3, at(t, c, `{"b"`)), Raw: `{"b":2}`, Names: []string{"b"}, Values: raws("2")},
				}
			},
		},
		{
			name:    "bad lines",
			file:    "bad.ndjson",
			content: "{\"a\":}\n[1,2]\n\"s\"\n{\"a\":\"\xff\"}\n{\"a\":1} x\n" + deep + "\n{\"ok\":true}\n",
			want: func(t *testing.T, c string) []item {
				return []item{
					{Pos: pos("bad.ndjson", 1, 1, 0), Raw: `{"a":}`, Reason: ReasonInvalidJSON, Err: "invalid character '}' looking for beginning of value at offset 5"},
					{Pos: pos("bad.ndjson", 2, 2, 7), Raw: "[1,2]", Reason: ReasonNotObject, Err: "JSON array is not an object"},
					{Pos: pos("bad.ndjson", 3, 3, 13), Raw: `"s"`, Reason: ReasonNotObject, Err: "JSON string is not an object"},
					{Pos: pos("bad.ndjson", 4, 4, 17), Raw: "{\"a\":\"\xff\"}", Reason: ReasonInvalidUTF8, Err: "invalid UTF-8 at byte 6"},
					{Pos: pos("bad.ndjson", 5, 5, 27), Raw: `{"a":1} x`, Reason: ReasonInvalidJSON, Err: "invalid character 'x' after top-level value at offset 8"},
					{Pos: pos("bad.ndjson", 6, 6, 37), Raw: deep, Reason: ReasonInvalidJSON, Err: "exceeded max nesting depth of 1000 at offset 1000"},
					{Pos: pos("bad.ndjson", 7, 7, at(t, c, `{"ok"`)), Raw: `{"ok":true}`, Names: []string{"ok"}, Values: raws("true")},
				}
			},
		},
		{
			name:    "line over MaxLineBytes is skipped without losing the next",
			file:    "long.ndjson",
			content: "{\"a\":1}\n" + long + "\n{\"b\":2}\n" + long,
			opts:    Options{MaxLineBytes: 100},
			want: func(t *testing.T, c string) []item {
				return []item{
					{Pos: pos("long.ndjson", 1, 1, 0), Raw: `{"a":1}`, Names: []string{"a"}, Values: raws("1")},
					{Pos: pos("long.ndjson", 2, 2, 8), Raw: long[:1024], Reason: ReasonLineTooLong, Err: "line longer than 100 bytes"},
					{Pos: pos("long.ndjson", 3, 3, at(t, c, `{"b"`)), Raw: `{"b":2}`, Names: []string{"b"}, Values: raws("2")},
					{Pos: pos("long.ndjson", 4, 4, at(t, c, `{"b"`)+8), Raw: long[:1024], Reason: ReasonLineTooLong, Err: "line longer than 100 bytes"},
				}
			},
		},
		{
			name:    "short over-long line is kept whole",
			file:    "long.ndjson",
			content: "{\"a\":\"0123456789\"}\r\n{}\n",
			opts:    Options{MaxLineBytes: 10},
			want: func(t *testing.T, c string) []item {
				return []item{
					{Pos: pos("long.ndjson", 1, 1, 0), Raw: `{"a":"0123456789"}`, Reason: ReasonLineTooLong, Err: "line longer than 10 bytes"},
					{Pos: pos("long.ndjson", 2, 2, 20), Raw: `{}`},
				}
			},
		},
		{
			name:    "a .json file holding one array",
			file:    "events.json",
			content: "\n[\n  {\"a\": 1},\n  {\"b\":\n    [2]}, 3 ,{\"c\":}, \"s\"\n]\n",
			want: func(t *testing.T, c string) []item {
				return []item{
					{Pos: pos("events.json", 1, 3, at(t, c, `{"a"`)), Raw: `{"a": 1}`, Names: []string{"a"}, Values: raws("1")},
					{Pos: pos("events.json", 2, 4, at(t, c, `{"b"`)), Raw: "{\"b\":\n    [2]}", Names: []string{"b"}, Values: raws("[2]")},
					{Pos: pos("events.json", 3, 5, at(t, c, "3 ")), Raw: "3", Reason: ReasonNotObject, Err: "JSON number is not an object"},
					{Pos: pos("events.json", 4, 5, at(t, c, `{"c"`)), Raw: `{"c":}`, Reason: ReasonInvalidJSON, Err: "invalid character '}' looking for beginning of value at offset 5"},
					{Pos: pos("events.json", 5, 5, at(t, c, `"s"`)), Raw: `"s"`, Reason: ReasonNotObject, Err: "JSON string is not an object"},
				}
			},
		},
		{
			name:    "array element over MaxLineBytes",
			file:    "events.json.zst",
			content: "[" + long + ",{\"b\":2}]",
			opts:    Options{MaxLineBytes: 100},
			want: func(t *testing.T, c string) []item {
				return []item{
					{Pos: pos("events.json.zst", 1, 1, 1), Raw: long[:1024], Reason: ReasonLineTooLong, Err: "array element longer than 100 bytes"},
					{Pos: pos("events.json.zst", 2, 1, at(t, c, `{"b"`)), Raw: `{"b":2}`, Names: []string{"b"}, Values: raws("2")},
				}
			},
		},
		{
			name:    "empty array",
			file:    "empty.json",
			content: " [ ] ",
			want:    func(t *testing.T, c string) []item { return nil },
		},
		{
			name:    "a .json file holding lines",
			file:    "lines.json",
			content: "{\"a\":1}\n{\"a\":2}\n",
			want: func(t *testing.T, c string) []item {
				return []item{
					{Pos: pos("lines.json", 1, 1, 0), Raw: `{"a":1}`, Names: []string{"a"}, Values: raws("1")},
					{Pos: pos("lines.json", 2, 2, 8), Raw: `{"a":2}`, Names: []string{"a"}, Values: raws("2")},
				}
			},
		},
		{
			name:    "an .ndjson file is never an array",
			file:    "lines.ndjson",
			content: "[{\"a\":1}]\n",
			want: func(t *testing.T, c string) []item {
				return []item{{Pos: pos("lines.ndjson", 1, 1, 0), Raw: `[{"a":1}]`, Reason: ReasonNotObject, Err: "JSON array is not an object"}}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := []byte(tt.content)
			if strings.HasSuffix(tt.file, ".zst") {
				data = zstded(t, data)
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

func TestJSONArrayErrors(t *testing.T) {
	tests := []struct {
		name    string
		content string
		rows    int
		want    string
	}{
		{"missing comma", "[{\"a\":1}\n {\"b\":2}]", 1, "events.json:2: invalid character '{' after an array element"},
		{"not closed", "[{\"a\":1},\n", 1, "events.json:2: unexpected end of file: the top-level array is not closed"},
		{"trailing comma", "[{\"a\":1},]", 1, "events.json:1: invalid character ']' looking for an array element"},
		{"data after the array", "[{\"a\":1}]\n[]", 1, "events.json:2: unexpected data after the top-level array"},
		{"element not closed", "[{\"a\":\n1", 0, "events.json:1: unexpected end of file inside an array element"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Chdir(t.TempDir())
			writeFile(t, ".", "events.json", []byte(tt.content))
			r := openT(t, "events.json", Options{}, nil)
			items, err := readItems(t, r)
			if len(items) != tt.rows {
				t.Errorf("read %d items before the error, want %d", len(items), tt.rows)
			}
			if err == nil || err.Error() != tt.want {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
			if _, again := r.Next(context.Background()); again != err {
				t.Errorf("Next after a fatal error: %v, want the same error", again)
			}
		})
	}
}

func TestNDJSONLongLineIsNotBuffered(t *testing.T) {
	line := `{"a":"` + strings.Repeat("x", 8<<20) + `"}`
	path := writeFile(t, t.TempDir(), "huge.ndjson", []byte(line+"\n{\"b\":1}\n"))
	r := openT(t, path, Options{}, nil)
	items, err := readItems(t, r)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 2 || items[0].Reason != ReasonLineTooLong || items[1].Raw != `{"b":1}` {
		t.Fatalf("items %v", items)
	}
	if n := len(r.(*ndjsonReader).s.buf); n > 2*defaultMaxLineBytes {
		t.Errorf("buffer grew to %d bytes for an 8 MiB line", n)
	}
}

// TestPlainJSONStrings marks the rows none of whose strings holds an
// escape, U+2028 or U+2029, the only strings whose JSON text is not
// already as jsontext.AppendString writes it once a row is valid UTF-8.
func TestPlainJSONStrings(t *testing.T) {
	for _, c := range []struct {
		line  string
		plain bool
	}{
		{`{"a":"x","b":1.5,"c":["é"]}`, true},
		{`{"a":"x\"y"}`, false},
		{`{"a":"\u00e9"}`, false},
		{"{\"a\":\"x\u2028\"}", false},
		{"{\"a\":\"x\u2029\"}", false},
		{"{\"a\":\"\u2030 \u20ac\"}", true}, // E2 80 B0 and E2 82 AC
	} {
		path := filepath.Join(t.TempDir(), "a.ndjson")
		if err := os.WriteFile(path, []byte(c.line+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		row, err := openT(t, path, Options{}, nil).Next(context.Background())
		if err != nil {
			t.Fatalf("%s: %v", c.line, err)
		}
		if got := row.PlainJSONStrings(); got != c.plain {
			t.Errorf("%s: PlainJSONStrings() = %v, want %v", c.line, got, c.plain)
		}
	}
}
