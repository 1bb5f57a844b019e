package readers

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"
	"github.com/apache/arrow/go/v15/parquet"
	"github.com/apache/arrow/go/v15/parquet/compress"
	"github.com/apache/arrow/go/v15/parquet/pqarrow"
)

// TestCase17ParquetPageContentIsNotVerified documents what the README
// says of Parquet integrity: the pages' content is not checked against a
// checksum (the Parquet library neither writes nor verifies page CRCs), so
// a value changed inside an uncompressed page is read as it now is, with
// no error. (The parquet-testing suite's datapage_v1-corrupt-checksum.parquet
// shows the same with a CRC in the page header; it is not bundled here.)
func TestCase17ParquetPageContentIsNotVerified(t *testing.T) {
	const marked = int64(0x0102030405060708)
	schema := arrow.NewSchema([]arrow.Field{{Name: "n", Type: arrow.PrimitiveTypes.Int64}}, nil)
	path := filepath.Join(t.TempDir(), "n.parquet")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	// Uncompressed, plain and without statistics: the value's 8 bytes
	// occur once in the file, in its data page.
	props := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Uncompressed),
		parquet.WithDictionaryDefault(false), parquet.WithStats(false))
	fw, err := pqarrow.NewFileWriter(schema, f, props, pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	b.Field(0).(*array.Int64Builder).AppendValues([]int64{1001, marked, 1003}, nil)
	rec := b.NewRecord()
	if err := fw.Write(rec); err != nil {
		t.Fatal(err)
	}
	rec.Release()
	b.Release()
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var le [8]byte
	binary.LittleEndian.PutUint64(le[:], uint64(marked))
	if n := bytes.Count(data, le[:]); n != 1 {
		t.Fatalf("the value occurs %d times in the file, want once", n)
	}
	data[bytes.Index(data, le[:])] ^= 0x01 // 0x…08 becomes 0x…09
	writeFile(t, filepath.Dir(path), "n.parquet", data)

	items := mustReadAll(t, path, Options{}, nil)
	var got []any
	for _, it := range items {
		got = append(got, it.Values...)
	}
	if want := []any{int64(1001), marked + 1, int64(1003)}; !reflect.DeepEqual(got, want) {
		t.Fatalf("values %v, want %v: the changed value read without an error", got, want)
	}
}
