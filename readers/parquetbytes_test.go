package readers

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/xitongsys/parquet-go/writer"
)

// Byte arrays without a logical type, written as Impala, Hive and Spark
// without binaryAsString write strings: plain BYTE_ARRAY (and
// FIXED_LEN_BYTE_ARRAY) with no UTF8 annotation, top-level and nested,
// beside BSON byte arrays (binary data, base64), top-level, in a struct
// and as map values.

type plainItem struct {
	Name string `parquet:"name=name, type=BYTE_ARRAY"`
	Raw  string `parquet:"name=raw, type=BYTE_ARRAY"`
	Bin  string `parquet:"name=bin, type=BYTE_ARRAY, convertedtype=BSON"`
}

type plainRow struct {
	UID   string            `parquet:"name=uid, type=BYTE_ARRAY"`
	ID    *string           `parquet:"name=id, type=BYTE_ARRAY"`
	Code  string            `parquet:"name=code, type=FIXED_LEN_BYTE_ARRAY, length=2"`
	Sig   string            `parquet:"name=sig, type=BYTE_ARRAY"`
	Doc   string            `parquet:"name=doc, type=BYTE_ARRAY, convertedtype=BSON"`
	Tags  []string          `parquet:"name=tags, type=MAP, convertedtype=LIST, valuetype=BYTE_ARRAY"`
	Attrs map[string]string `parquet:"name=attrs, type=MAP, convertedtype=MAP, keytype=BYTE_ARRAY, valuetype=BYTE_ARRAY"`
	Item  *plainItem        `parquet:"name=item"`
	Docs  map[string]string `parquet:"name=docs, type=MAP, convertedtype=MAP, keytype=BYTE_ARRAY, valuetype=BYTE_ARRAY, valueconvertedtype=BSON"`
}

var plainColumns = []string{"uid", "id", "code", "sig", "doc", "tags", "attrs", "item", "docs"}

// plainRows are the rows of the fixture: the second has a sig that is
// not UTF-8, the third a tag that is not.
var plainRows = []plainRow{
	{UID: "user-1", ID: ptr("b1"), Code: "US", Sig: "s1", Doc: "\x05\x00", Tags: []string{"a", "b"},
		Attrs: map[string]string{"k": "v"}, Item: &plainItem{Name: "n1", Raw: "r1", Bin: "\x01"}, Docs: map[string]string{"d": "\x02"}},
	{UID: "user-2", Code: "DE", Sig: "\xff\xfe", Doc: "\x05\x01", Tags: []string{"c"},
		Attrs: map[string]string{}, Item: &plainItem{Name: "n2", Raw: "\x00\x80"}},
	{UID: "user-3", ID: ptr("b3"), Code: "FR", Sig: "s3", Doc: "\x05\x02", Tags: []string{"ok", "\xc3"},
		Attrs: map[string]string{}, Item: &plainItem{Name: "n3", Raw: "r3"}},
}

// writePlainFixture writes plainRows to a file in dir and returns its path.
func writePlainFixture(t testing.TB, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "plain.parquet")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pw, err := writer.NewParquetWriterFromWriter(f, new(plainRow), 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range plainRows {
		if err := pw.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := pw.WriteStop(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestParquetByteArraysWithoutLogicalType(t *testing.T) {
	path := writePlainFixture(t, t.TempDir())
	const hint = ": a byte array without a logical type is read as text; if the column holds binary data, declare it bytes (it is then sent as base64)"
	tests := []struct {
		name string
		opts Options
		want []item
	}{
		{
			name: "text",
			want: []item{
				{Pos: Position{File: path, Row: 1}, Names: plainColumns, Values: []any{"user-1", "b1", "US", "s1", "BQA=",
					raw(`["a","b"]`), raw(`{"k":"v"}`), raw(`{"name":"n1","raw":"r1","bin":"AQ=="}`), raw(`{"d":"Ag=="}`)}},
				{Pos: Position{File: path, Row: 2}, Reason: ReasonInvalidUTF8, Err: `column "sig": invalid UTF-8 at byte 0` + hint,
					Raw: replacement(`{"uid":"user-2","id":null,"code":"DE","sig":"\ufffd","doc":"BQE=","tags":["c"],"attrs":{},"item":"\u0000\ufffd","docs":{}}`)},
				{Pos: Position{File: path, Row: 3}, Reason: ReasonInvalidUTF8, Err: `column "tags": invalid UTF-8 at byte 0` + hint,
					Raw: replacement(`{"uid":"user-3","id":"b3","code":"FR","sig":"s3","doc":"BQI=","tags":"\ufffd","attrs":{},"item":{"name":"n3","raw":"r3","bin":""},"docs":{}}`)},
			},
		},
		{
			name: "bytes",
			opts: Options{Bytes: []string{"sig", "code", "tags", "item", "absent"}},
			want: []item{
				{Pos: Position{File: path, Row: 1}, Names: plainColumns, Values: []any{"user-1", "b1", []byte("US"), []byte("s1"), "BQA=",
					raw(`["YQ==","Yg=="]`), raw(`{"k":"v"}`), raw(`{"name":"bjE=","raw":"cjE=","bin":"AQ=="}`), raw(`{"d":"Ag=="}`)}},
				{Pos: Position{File: path, Row: 2}, Names: plainColumns, Values: []any{"user-2", nil, []byte("DE"), []byte("\xff\xfe"), "BQE=",
					raw(`["Yw=="]`), raw(`{}`), raw(`{"name":"bjI=","raw":"AIA=","bin":""}`), raw(`{}`)}},
				{Pos: Position{File: path, Row: 3}, Names: plainColumns, Values: []any{"user-3", "b3", []byte("FR"), []byte("s3"), "BQI=",
					raw(`["b2s=","ww=="]`), raw(`{}`), raw(`{"name":"bjM=","raw":"cjM=","bin":""}`), raw(`{}`)}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustReadAll(t, path, tt.opts, nil)
			if len(got) != len(tt.want) {
				t.Fatalf("%d items, want %d: %v", len(got), len(tt.want), got)
			}
			for i := range tt.want {
				if !reflect.DeepEqual(got[i], tt.want[i]) {
					t.Errorf("item %d:\n got %v\nwant %v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

// TestParquetRawRowOfBytes checks that a column read as bytes appears as
// base64 in the raw row of a reject.
func TestParquetRawRowOfBytes(t *testing.T) {
	path := writePlainFixture(t, t.TempDir())
	got := mustReadAll(t, path, Options{Bytes: []string{"sig"}}, nil)
	want := replacement(`{"uid":"user-3","id":"b3","code":"FR","sig":"czM=","doc":"BQI=","tags":"\ufffd","attrs":{},"item":{"name":"n3","raw":"r3","bin":""},"docs":{}}`)
	if len(got) != 3 || got[2].Raw != want {
		t.Fatalf("items %v\nwant the third a reject with the raw row %s", got, want)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(got[2].Raw), &v); err != nil {
		t.Fatalf("raw row %s: %v", got[2].Raw, err)
	}
}

func TestOptionsValidateBytes(t *testing.T) {
	err := Options{Bytes: []string{"a", ""}}.Validate()
	if want := "readers: Bytes[1]: empty column name"; errStr(err) != want {
		t.Fatalf("Validate() = %v, want %s", err, want)
	}
}

// replacement replaces the escape \ufffd in s with the character U+FFFD
// that the raw row of a reject holds for bytes that are not UTF-8.
func replacement(s string) string { return strings.ReplaceAll(s, `\ufffd`, "\uFFFD") }
