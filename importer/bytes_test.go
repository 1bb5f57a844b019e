package importer

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/parquet"
	"github.com/apache/arrow/go/v15/parquet/pqarrow"

	"github.com/backfillhq/backfill/mappings"
)

// writePlainBinaryParquet writes rows of byte arrays without a logical
// type (plain BYTE_ARRAY, no Arrow schema in the file), as Impala, Hive
// and Spark without binaryAsString write strings.
func writePlainBinaryParquet(t *testing.T, path string, names []string, rows [][]string) {
	t.Helper()
	fields := make([]arrow.Field, len(names))
	for i, name := range names {
		fields[i] = arrow.Field{Name: name, Type: arrow.BinaryTypes.Binary}
	}
	writeParquet(t, path, arrow.NewSchema(fields, nil), parquet.NewWriterProperties(), pqarrow.NewArrowWriterProperties(), func(b *array.RecordBuilder) {
		for _, row := range rows {
			for i, v := range row {
				b.Field(i).(*array.BinaryBuilder).Append([]byte(v))
			}
		}
	})
}

// TestRunParquetByteArraysAreText imports byte arrays without a logical
// type: they are sent as the text they hold, a column declared bytes as
// base64, and a row whose text is not UTF-8 is rejected as invalid_utf8
// with its raw row.
func TestRunParquetByteArraysAreText(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "impala.parquet")
	writePlainBinaryParquet(t, src, []string{"id", "uid", "ts", "sig"}, [][]string{
		{"b1", "user-1", "2023-11-14T22:13:20Z", "\x00\xff"},
		{"b2", "\xffx", "2023-11-14T22:13:21Z", "s2"},
	})
	spec, err := mappings.ParseSpec([]byte("type: track\nmessageId: id\nuserId: uid\nevent: {value: Synced}\ntimestamp: ts\ncolumns:\n  uid: string\n  sig: bytes\n"), "m.yaml")
	if err != nil {
		t.Fatal(err)
	}
	fs := &fakeSink{send: accept}
	rejects := filepath.Join(dir, "rejects.ndjson")
	rep, err := Run(context.Background(), Config{Sources: []string{src}, Spec: spec, Sink: fs, RejectsPath: rejects, MaxRejectRate: 1})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Delivered != 1 || rep.Rejected != 1 || len(fs.messages) != 1 {
		t.Fatalf("delivered %d, rejected %d, messages %v; want one of each", rep.Delivered, rep.Rejected, fs.messages)
	}
	m := fs.messages[0]
	if m["messageId"] != "b1" || m["userId"] != "user-1" || !reflect.DeepEqual(m["properties"], map[string]any{"sig": "AP8="}) {
		t.Fatalf("message %v, want messageId b1, userId user-1, properties {sig: AP8=}", m)
	}
	want := []Reject{{File: src, Row: 2, Reason: "invalid_utf8",
		Error: src + `: row 2: invalid_utf8: column "uid": invalid UTF-8 at byte 0: a byte array without a logical type is read as text; if the column holds binary data, declare it bytes (it is then sent as base64)`,
		Run:   rep.RunID, Format: "parquet",
		Raw: "{\"id\":\"b2\",\"uid\":\"\uFFFDx\",\"ts\":\"2023-11-14T22:13:21Z\",\"sig\":\"czI=\"}"}}
	got := readRejectsFile(t, rejects)
	for i := range got {
		if got[i].Time.IsZero() {
			t.Fatalf("reject %d has no time", i)
		}
		got[i].Time = time.Time{}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("rejects\n %+v\nwant\n %+v", got, want)
	}
}
