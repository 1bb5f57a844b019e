package importer

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"
	"github.com/apache/arrow/go/v15/parquet"
	"github.com/apache/arrow/go/v15/parquet/pqarrow"

	"github.com/backfillhq/backfill/mappings"
)

// writeWideParquet writes n rows of id, user, ts, amount and an unused
// column whose value is NaN (which no row can carry) in every third row.
func writeWideParquet(t *testing.T, path string, n int) {
	t.Helper()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.BinaryTypes.String},
		{Name: "user", Type: arrow.BinaryTypes.String},
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}},
		{Name: "amount", Type: arrow.PrimitiveTypes.Int64},
		{Name: "unused", Type: arrow.PrimitiveTypes.Float64},
	}, nil)
	writeParquet(t, path, schema, parquet.NewWriterProperties(parquet.WithMaxRowGroupLength(100)), pqarrow.DefaultWriterProps(), func(b *array.RecordBuilder) {
		base := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
		for i := range n {
			b.Field(0).(*array.StringBuilder).Append(fmt.Sprintf("id-%d", i))
			b.Field(1).(*array.StringBuilder).Append(fmt.Sprintf("u%d", i%7))
			b.Field(2).(*array.TimestampBuilder).Append(arrow.Timestamp(base + int64(i)*1000))
			b.Field(3).(*array.Int64Builder).Append(int64(i))
			v := float64(i)
			if i%3 == 0 {
				v = math.NaN()
			}
			b.Field(4).(*array.Float64Builder).Append(v)
		}
	})
}

// writeParquet writes one record of schema, which fill appends the rows
// of, to a Parquet file at path.
func writeParquet(t *testing.T, path string, schema *arrow.Schema, props *parquet.WriterProperties, aprops pqarrow.ArrowWriterProperties, fill func(*array.RecordBuilder)) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fw, err := pqarrow.NewFileWriter(schema, f, props, aprops)
	if err != nil {
		t.Fatal(err)
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	fill(b)
	rec := b.NewRecord()
	defer rec.Release()
	if err := fw.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestRunReadsOnlyTheColumnsTheSpecUses imports a Parquet file with a
// column the mapping does not use and that holds values no row can carry:
// with a mapping that lists its members, the column is not read and every
// row is delivered; with one that takes the remaining columns, it is read
// and its bad rows are rejected.
func TestRunReadsOnlyTheColumnsTheSpecUses(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "wide.parquet")
	const n = 300
	writeWideParquet(t, src, n)
	for _, tc := range []struct {
		name, spec          string
		delivered, rejected int64
	}{
		{"members listed", "type: track\nmessageId: id\nuserId: user\nevent: {value: E}\ntimestamp: ts\nproperties: {include: [amount]}\n", n, 0},
		{"remaining columns", "type: track\nmessageId: id\nuserId: user\nevent: {value: E}\ntimestamp: ts\n", n - n/3, n / 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec, err := mappings.ParseSpec([]byte(tc.spec), "m.yaml")
			if err != nil {
				t.Fatal(err)
			}
			fs := &fakeSink{send: accept}
			rep, err := Run(context.Background(), Config{Sources: []string{src}, Spec: spec, Sink: fs,
				RejectsPath: filepath.Join(dir, tc.name+".rejects.ndjson"), MaxRejectRate: 1})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Delivered != tc.delivered || rep.Rejected != tc.rejected {
				t.Fatalf("delivered %d, rejected %d; want %d and %d", rep.Delivered, rep.Rejected, tc.delivered, tc.rejected)
			}
			if int64(len(fs.messages)) != tc.delivered {
				t.Fatalf("the sink accepted %d messages, want %d", len(fs.messages), tc.delivered)
			}
			for _, m := range fs.messages {
				props, _ := m["properties"].(map[string]any)
				_, hasAmount := props["amount"]
				_, hasUnused := props["unused"]
				if !hasAmount || hasUnused != (tc.rejected > 0) {
					t.Fatalf("properties %v", props)
				}
			}
		})
	}
}
