package readers

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/backfillhq/backfill/internal/jsontext"
)

// openBytes opens data as the content of a file named name, without a
// file: resuming then skips bytes as for compressed files.
func openBytes(name string, data []byte, opts Options, at *Position) (Reader, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	in := &input{path: name, r: bytes.NewReader(data), size: int64(len(data))}
	return openReader(context.Background(), Source{Path: name}, formatByName(name).format, in, opts, at)
}

// readAllBytes reads every item of data; a fatal error ends the list.
func readAllBytes(t *testing.T, name string, data []byte, opts Options, at *Position) ([]item, error) {
	t.Helper()
	r, err := openBytes(name, data, opts, at)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var items []item
	for range len(data) + 2 {
		got, err := readN(r, 1)
		items = append(items, got...)
		if err == io.EOF {
			return items, nil
		}
		if err != nil {
			return items, err
		}
	}
	t.Fatalf("reader did not end after %d items from %d bytes", len(items), len(data))
	return nil, nil
}

// checkResume opens data at the position of every item (of up to 32
// spread over the read) and compares what follows with the uninterrupted
// read.
func checkResume(t *testing.T, name string, data []byte, opts Options, full []item, fatal error) {
	t.Helper()
	step := max(1, len(full)/32)
	for i := 0; i < len(full); i += step {
		got, err := readAllBytes(t, name, data, opts, &full[i].Pos)
		if errStr(err) != errStr(fatal) {
			t.Fatalf("resuming at %v: error %v, want %v", full[i].Pos, err, fatal)
		}
		diffItems(t, got, full[i:])
		if t.Failed() {
			t.FailNow()
		}
	}
}

func FuzzCSV(f *testing.F) {
	seeds := []string{
		"a,b\n1,2\n",
		"a,b\r\n\"x\r\ny\",\"\"\"q\"\"\"\r\n",
		"\xef\xbb\xbfa,b\n\n1,2,3\n4\n",
		"a,b\n1,\"open\n2,3\n4,5",
		"a,b\n1,x\"y\n\"2\"z,3\n",
		"a,b\n\xff,1\n",
		"a\n\"\"\n\n\"\n\"\n",
		"a,b\n1,\"" + strings.Repeat("ab\n", 20) + "\",end\n2,3\n",
		"a,a\n",
		",\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, small bool) {
		// Small records are read with the default null token, the
		// others without any, to compare them with encoding/csv.
		opts := Options{Null: []string{}}
		if small {
			opts = Options{MaxLineBytes: 16}
		}
		r, err := openBytes("f.csv", data, opts, nil)
		if err != nil {
			return // a bad header is fatal
		}
		header := r.(Schemer).Schema()
		r.Close()
		items, fatal := readAllBytes(t, "f.csv", data, opts, nil)
		if fatal != nil {
			t.Fatalf("fatal error on in-memory data: %v", fatal)
		}
		prev := Position{Offset: -1}
		for i, it := range items {
			if it.Pos.Offset <= prev.Offset || it.Pos.Line <= prev.Line {
				t.Fatalf("item %d at %+v after %+v", i, it.Pos, prev)
			}
			if it.Pos.Row != int64(i+1) {
				t.Fatalf("item %d has row %d", i, it.Pos.Row)
			}
			if it.Reason == "" && len(it.Values) != len(header) {
				t.Fatalf("item %d: %d values for %d columns", i, len(it.Values), len(header))
			}
			if it.Reason == "" && !bytes.HasPrefix(data[it.Pos.Offset:], []byte(it.Raw)) {
				t.Fatalf("item %d: raw %q is not the data at offset %d", i, it.Raw, it.Pos.Offset)
			}
			prev = it.Pos
		}
		checkResume(t, "f.csv", data, opts, items, nil)
		// Lines with quotes frame the same on the fast path and byte by
		// byte.
		r, err = openBytes("f.csv", data, opts, nil)
		if err != nil {
			t.Fatalf("open again: %v", err)
		}
		r.(*csvReader).byteByByte = true
		slow, err := readN(r, len(data)+2)
		r.Close()
		if err != io.EOF {
			t.Fatalf("reading byte by byte: %v", err)
		}
		diffItems(t, slow, items)
		if !small {
			compareWithEncodingCSV(t, data, header, items)
		}
	})
}

// compareWithEncodingCSV checks the rows against encoding/csv where both
// define the same thing: valid UTF-8 without carriage returns or a byte
// order mark that encoding/csv reads without any error.
func compareWithEncodingCSV(t *testing.T, data []byte, header []string, items []item) {
	if !utf8.Valid(data) || bytes.IndexByte(data, '\r') >= 0 || bytes.HasPrefix(data, utf8BOM) {
		return
	}
	cr := csv.NewReader(bytes.NewReader(data))
	var (
		records [][]string
		lines   []int
	)
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return
		}
		line, _ := cr.FieldPos(0)
		records = append(records, rec)
		lines = append(lines, line)
	}
	if len(records) == 0 {
		if len(items) != 0 || header != nil {
			t.Fatalf("encoding/csv reads nothing, we read header %q and %d items", header, len(items))
		}
		return
	}
	if !reflect.DeepEqual(records[0], header) {
		t.Fatalf("header %q, encoding/csv says %q", header, records[0])
	}
	if len(items) != len(records)-1 {
		t.Fatalf("%d rows, encoding/csv reads %d", len(items), len(records)-1)
	}
	for i, it := range items {
		if !reflect.DeepEqual(it.Values, strs(records[i+1]...)) || it.Pos.Line != int64(lines[i+1]) {
			t.Fatalf("row %d: %q at line %d, encoding/csv reads %q at line %d", i+1, it.Values, it.Pos.Line, records[i+1], lines[i+1])
		}
	}
}

func FuzzNDJSON(f *testing.F) {
	seeds := []string{
		`{"a":1,"b":"x"}`,
		`{ "a" : [1, {"b": null}] , "a": true }`,
		`{"k\u00e9\ud83d\ude00":"\ud83d"}`,
		`{"n":-0.5e+10,"big":9007199254740993}`,
		`[1,2]`, `"s"`, `{"a":}`, `{"a":1}x`, `{"a" 1}`, `{"a":01}`,
		"{\"a\":\"\xff\"}",
		"{\"a\":1}\n\n  \n[1]\n{\"b\":\n",
		strings.Repeat("[", 1001) + strings.Repeat("]", 1001),
		"{\"a\":\"\x00\"}",
		`"\ud800\udc00"`,
		"{\"a\":1,\"b\":2}\n{\"a\":3,\"b\":4}\n{\"a\":5,\"a\":6}\n{\"\\u0061\":1,\"b\":2}\n{\"a\":1,\"b\":2,\"c\":3}\n{\"a\" :1}\n{\"a\":1,\"b\":2}\n{\"ab\":1,\"b\":2}\n{\"a\":1,\"bc\":2}\n{\"a\":1,\"b\"}\n",
		"{\"k\\\"\":1}\n{\"k\\\"\":2}\n{\"k\\\"\":3,\"k\\\"\":4}\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// The scanner's verdict is encoding/json's, up to the depth cap.
		deep := bytes.Count(data, []byte("["))+bytes.Count(data, []byte("{")) > jsontext.MaxDepth
		valid := jsontext.Valid(data) == nil
		if !deep && valid != json.Valid(data) {
			t.Fatalf("valid = %v, encoding/json says %v", valid, !valid)
		}
		if valid {
			if s, ok := jsontext.Unquote(bytes.TrimSpace(data)); ok {
				var std string
				if err := json.Unmarshal(data, &std); err != nil || std != s {
					t.Fatalf("Unquote = %q, encoding/json gives %q (%v)", s, std, err)
				}
			}
		}
		// A valid object splits into the members encoding/json decodes.
		if valid && utf8.Valid(data) && data[jsontext.SkipSpace(data, 0)] == '{' {
			r := &ndjsonReader{keys: make(map[string]string), src: &Source{Path: "f"}}
			row, err := r.parse(bytes.Clone(data), Position{File: "f", Row: 1, Line: 1})
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			checkMembers(t, row.Names(), row.AllValues(), data)
		}
		// As a file, every line is a row, a row error or blank.
		items, fatal := readAllBytes(t, "f.ndjson", data, Options{}, nil)
		if fatal != nil {
			t.Fatalf("fatal error: %v", fatal)
		}
		var (
			want []item
			off  int64
		)
		lines := bytes.Split(data, []byte("\n"))
		if len(data) > 0 && data[len(data)-1] == '\n' {
			lines = lines[:len(lines)-1]
		}
		for n, line := range lines {
			start := off
			off += int64(len(line)) + 1
			text := line
			if n == 0 {
				text = bytes.TrimPrefix(text, utf8BOM)
				start += int64(len(line) - len(text))
			}
			text = trimCR(text)
			if isBlank(text) {
				continue
			}
			it := item{Pos: Position{File: "f.ndjson", Row: int64(len(want) + 1), Line: int64(n + 1), Offset: start}, Raw: string(text)}
			switch {
			case !utf8.Valid(text):
				it.Reason = ReasonInvalidUTF8
			case jsontext.Valid(text) != nil:
				it.Reason = ReasonInvalidJSON
			case text[jsontext.SkipSpace(text, 0)] != '{':
				it.Reason = ReasonNotObject
			}
			want = append(want, it)
		}
		if len(items) != len(want) {
			t.Fatalf("%d items, want %d", len(items), len(want))
		}
		for i := range items {
			if items[i].Pos != want[i].Pos || items[i].Raw != want[i].Raw || items[i].Reason != want[i].Reason {
				t.Fatalf("item %d: %v, want %v", i, items[i], want[i])
			}
			if items[i].Reason == "" {
				checkMembers(t, items[i].Names, items[i].Values, []byte(items[i].Raw))
			}
		}
		checkResume(t, "f.ndjson", data, Options{}, items, nil)
		// As a .json file it may be an array; it must not panic or hang.
		if items, err := readAllBytes(t, "f.json", data, Options{MaxLineBytes: 64}, nil); err == nil {
			checkResume(t, "f.json", data, Options{MaxLineBytes: 64}, items, nil)
		} else if err != nil && errors.Is(err, io.EOF) {
			t.Fatalf("fatal error wraps io.EOF: %v", err)
		}
	})
}

// checkMembers checks that names and values are the members encoding/json
// decodes from the object text, the last of duplicate keys counting.
func checkMembers(t *testing.T, names []string, values []any, text []byte) {
	t.Helper()
	var want map[string]json.RawMessage
	if err := json.Unmarshal(text, &want); err != nil {
		t.Fatalf("encoding/json: %v", err)
	}
	if len(names) != len(want) || len(values) != len(names) {
		t.Fatalf("names %q, %d values; encoding/json has %d keys", names, len(values), len(want))
	}
	for i, name := range names {
		if w, ok := want[name]; !ok || !bytes.Equal(values[i].(json.RawMessage), w) {
			t.Fatalf("%q = %s, encoding/json says %s", name, values[i], w)
		}
	}
}
