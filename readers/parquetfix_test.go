package readers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"
	"github.com/apache/arrow/go/v15/parquet"
	"github.com/apache/arrow/go/v15/parquet/compress"
	"github.com/apache/arrow/go/v15/parquet/pqarrow"
	"github.com/xitongsys/parquet-go/types"
	"github.com/xitongsys/parquet-go/writer"
)

// Parquet fixtures. Tests write their own files: typeRow covers the
// logical types the xitongsys writer can express, with nulls, several row
// groups and values a row cannot carry; eventsParquet writes large files
// of a few columns with the Arrow writer, which is much faster.

type fixtureItem struct {
	Name string `parquet:"name=name, type=BYTE_ARRAY, convertedtype=UTF8"`
	Qty  *int32 `parquet:"name=qty, type=INT32"`
}

type typeRow struct {
	ID       int64    `parquet:"name=id, type=INT64"`
	Small    int32    `parquet:"name=small, type=INT32, convertedtype=INT_8"`
	U64      int64    `parquet:"name=u64, type=INT64, convertedtype=UINT_64"`
	Score    float32  `parquet:"name=score, type=FLOAT"`
	Ratio    *float64 `parquet:"name=ratio, type=DOUBLE"`
	Active   bool     `parquet:"name=active, type=BOOLEAN"`
	Event    string   `parquet:"name=event, type=BYTE_ARRAY, convertedtype=UTF8, encoding=PLAIN_DICTIONARY"`
	Note     *string  `parquet:"name=note, type=BYTE_ARRAY, convertedtype=UTF8"`
	Blob     string   `parquet:"name=blob, type=BYTE_ARRAY"`
	Fixed    string   `parquet:"name=fixed, type=FIXED_LEN_BYTE_ARRAY, length=4"`
	Price    int64    `parquet:"name=price, type=INT64, convertedtype=DECIMAL, scale=2, precision=18"`
	Big      string   `parquet:"name=big, type=FIXED_LEN_BYTE_ARRAY, convertedtype=DECIMAL, scale=4, precision=30, length=13"`
	Day      int32    `parquet:"name=day, type=INT32, convertedtype=DATE"`
	At       int32    `parquet:"name=at, type=INT32, convertedtype=TIME_MILLIS"`
	AtMicros int64    `parquet:"name=at_micros, type=INT64, logicaltype=TIME, logicaltype.isadjustedtoutc=false, logicaltype.unit=MICROS"`
	TsMillis int64    `parquet:"name=ts_millis, type=INT64, logicaltype=TIMESTAMP, logicaltype.isadjustedtoutc=true, logicaltype.unit=MILLIS"`
	TsMicros int64    `parquet:"name=ts_micros, type=INT64, logicaltype=TIMESTAMP, logicaltype.isadjustedtoutc=true, logicaltype.unit=MICROS"`
	TsNanos  int64    `parquet:"name=ts_nanos, type=INT64, logicaltype=TIMESTAMP, logicaltype.isadjustedtoutc=true, logicaltype.unit=NANOS"`
	Local    int64    `parquet:"name=local, type=INT64, logicaltype=TIMESTAMP, logicaltype.isadjustedtoutc=false, logicaltype.unit=MILLIS"`
	// The writer sets a logical type TIMESTAMP(isAdjustedToUTC=false)
	// next to the converted type, and the logical type prevails.
	Converted int64            `parquet:"name=converted, type=INT64, convertedtype=TIMESTAMP_MICROS"`
	Legacy    string           `parquet:"name=legacy, type=INT96"`
	Tags      []string         `parquet:"name=tags, type=MAP, convertedtype=LIST, valuetype=BYTE_ARRAY, valueconvertedtype=UTF8"`
	Attrs     map[string]int32 `parquet:"name=attrs, type=MAP, convertedtype=MAP, keytype=BYTE_ARRAY, keyconvertedtype=UTF8, valuetype=INT32"`
	Item      *fixtureItem     `parquet:"name=item"`
	Items     []fixtureItem    `parquet:"name=items, type=LIST"`
}

// typeColumns are the top-level columns of typeRow, in order.
var typeColumns = []string{"id", "small", "u64", "score", "ratio", "active", "event", "note", "blob", "fixed",
	"price", "big", "day", "at", "at_micros", "ts_millis", "ts_micros", "ts_nanos", "local", "converted", "legacy",
	"tags", "attrs", "item", "items"}

// Rows of the type fixture that a reader must refuse, and why.
const (
	nanRow     = 7 // ratio is NaN
	infRow     = 8 // ratio is -Inf
	badUTF8Row = 9 // note is not UTF-8
)

var (
	baseTime  = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	bigBase   = mustBig("123456789012345678901234")
	fixEvents = []string{"Signed Up", "Order Completed", "Page Viewed"}
)

func mustBig(s string) *big.Int {
	n, ok := new(big.Int).SetString(s, 10)
	if !ok {
		panic(s)
	}
	return n
}

// makeTypeRow is row i (zero-based) of the type fixture.
func makeTypeRow(i int) typeRow {
	r := typeRow{
		ID:        int64(i + 1),
		Small:     int32(i%100 - 50),
		U64:       int64(i) * 1000,
		Score:     float32(i) + 0.1,
		Active:    i%2 == 0,
		Event:     fixEvents[i%3],
		Blob:      fmt.Sprintf("user-%d \u00e9", i), // text, as Impala writes strings
		Fixed:     fmt.Sprintf("%04d", i%10000),
		Price:     int64(i)*101 - 500,
		Big:       twosComplement(bigValue(i), 13),
		Day:       19723 + int32(i), // 2024-01-01
		At:        int32(i * 1_234_567 % 86_400_000),
		AtMicros:  int64(i) * 3_600_000_001 % 86_400_000_000,
		TsMillis:  baseTime.UnixMilli() + int64(i)*1001,
		TsMicros:  baseTime.UnixMicro() + int64(i)*1_000_001,
		TsNanos:   baseTime.UnixNano() + int64(i),
		Local:     baseTime.UnixMilli() + 123 + int64(i)*60_000,
		Converted: baseTime.UnixMicro() + int64(i)*1_500_000,
		Legacy:    types.TimeToINT96(baseTime.Add(time.Duration(i) * time.Hour)),
	}
	if i == 3 {
		r.U64 = -1 // 2^64-1 as UINT_64
	}
	switch {
	case i == nanRow:
		r.Ratio = ptr(math.NaN())
	case i == infRow:
		r.Ratio = ptr(math.Inf(-1))
	case i%5 != 0:
		r.Ratio = ptr(float64(i) / 4)
	}
	switch {
	case i == badUTF8Row:
		r.Note = ptr("bad \xff")
	case i%4 != 1:
		r.Note = ptr(fmt.Sprintf("note \u00fc \"q\"\n%d", i))
	}
	if i%3 != 0 {
		r.Tags = []string{"a", strconv.Itoa(i)}
	}
	r.Attrs = map[string]int32{}
	if i%6 != 0 {
		r.Attrs["k"] = int32(i)
	}
	if i%7 != 3 {
		item := fixtureItem{Name: "n" + strconv.Itoa(i)}
		if i%2 == 0 {
			item.Qty = ptr(int32(i))
		}
		r.Item = &item
	}
	for k := range i % 3 {
		r.Items = append(r.Items, fixtureItem{Name: fmt.Sprintf("i%d.%d", i, k)})
	}
	return r
}

func ptr[T any](v T) *T { return &v }

// bigValue is the unscaled DECIMAL(30,4) of row i: beyond int64, negative
// on odd rows.
func bigValue(i int) *big.Int {
	v := new(big.Int).Add(bigBase, big.NewInt(int64(i)))
	if i%2 == 1 {
		v.Neg(v)
	}
	return v
}

// twosComplement encodes v big-endian in n bytes.
func twosComplement(v *big.Int, n int) string {
	x := new(big.Int).Set(v)
	if x.Sign() < 0 {
		x.Add(x, new(big.Int).Lsh(big.NewInt(1), uint(8*n)))
	}
	b := x.Bytes()
	return string(append(bytes.Repeat([]byte{0}, n-len(b)), b...))
}

// wantTypeRow is what a reader must make of row i: its values and, for a
// row a reader must refuse, the column that makes it a reject (its value
// is then nil), the reason and the message of the row error.
func wantTypeRow(i int) (values []any, bad, reason, errText string) {
	r := makeTypeRow(i)
	switch i {
	case nanRow:
		bad, reason, errText = "ratio", ReasonInvalidValue, `column "ratio": NaN is not a number JSON can hold`
		r.Ratio = nil
	case infRow:
		bad, reason, errText = "ratio", ReasonInvalidValue, `column "ratio": -Inf is not a number JSON can hold`
		r.Ratio = nil
	case badUTF8Row:
		bad, reason, errText = "note", ReasonInvalidUTF8, `column "note": invalid UTF-8 at byte 4`
		r.Note = nil
	}
	var u64 any = r.U64
	if i == 3 {
		u64 = json.Number("18446744073709551615")
	}
	score, _ := strconv.ParseFloat(strconv.FormatFloat(float64(r.Score), 'g', -1, 32), 64)
	var ratio, note any
	if r.Ratio != nil {
		ratio = *r.Ratio
	}
	if r.Note != nil {
		note = *r.Note
	}
	price := fmt.Sprintf("%d.%02d", r.Price/100, abs(r.Price%100))
	if r.Price < 0 && r.Price > -100 {
		price = "-" + price
	}
	bigText := new(big.Rat).SetFrac(bigValue(i), big.NewInt(10_000)).FloatString(4)
	at := time.UnixMilli(int64(r.At)).UTC().Format("15:04:05.000")
	atMicros := time.UnixMicro(r.AtMicros).UTC().Format("15:04:05.000000")
	tags := "[]"
	if r.Tags != nil {
		tags = fmt.Sprintf(`["a","%d"]`, i)
	}
	attrs := "{}"
	if i%6 != 0 {
		attrs = fmt.Sprintf(`{"k":%d}`, i)
	}
	var item any
	if r.Item != nil {
		qty := "null"
		if r.Item.Qty != nil {
			qty = strconv.Itoa(int(*r.Item.Qty))
		}
		item = json.RawMessage(fmt.Sprintf(`{"name":"n%d","qty":%s}`, i, qty))
	}
	items := "["
	for k := range i % 3 {
		if k > 0 {
			items += ","
		}
		items += fmt.Sprintf(`{"name":"i%d.%d","qty":null}`, i, k)
	}
	items += "]"
	return []any{
		int64(i + 1),
		int64(i%100 - 50),
		u64,
		score,
		ratio,
		i%2 == 0,
		fixEvents[i%3],
		note,
		r.Blob,
		r.Fixed,
		json.Number(price),
		json.Number(bigText),
		time.Date(2024, 1, 1+i, 0, 0, 0, 0, time.UTC).Format(time.DateOnly),
		at,
		atMicros,
		time.UnixMilli(r.TsMillis).UTC(),
		time.UnixMicro(r.TsMicros).UTC(),
		time.Unix(0, r.TsNanos).UTC(),
		time.UnixMilli(r.Local).UTC().Format("2006-01-02T15:04:05.000"),
		time.UnixMicro(r.Converted).UTC().Format("2006-01-02T15:04:05.999999"),
		baseTime.Add(time.Duration(i) * time.Hour),
		json.RawMessage(tags),
		json.RawMessage(attrs),
		item,
		json.RawMessage(items),
	}, bad, reason, errText
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// writeTypeFixture writes rows rows of typeRow to a new file in dir, a
// row group every groupRows rows, and returns its path.
func writeTypeFixture(t testing.TB, dir string, rows, groupRows int) string {
	t.Helper()
	path := filepath.Join(dir, "types.parquet")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pw, err := writer.NewParquetWriterFromWriter(f, new(typeRow), 1)
	if err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		if err := pw.Write(makeTypeRow(i)); err != nil {
			t.Fatal(err)
		}
		if (i+1)%groupRows == 0 {
			if err := pw.Flush(true); err != nil {
				t.Fatal(err)
			}
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

// eventsSchema is a typical event export: ids, a UTC timestamp, an event
// name from a few, and JSON properties.
var eventsSchema = arrow.NewSchema([]arrow.Field{
	{Name: "message_id", Type: arrow.BinaryTypes.String},
	{Name: "timestamp", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}},
	{Name: "user_id", Type: arrow.BinaryTypes.String},
	{Name: "event", Type: arrow.BinaryTypes.String},
	{Name: "amount", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "properties", Type: arrow.BinaryTypes.String},
}, nil)

// writeEventsParquet writes rows events to path with the Arrow writer, in
// row groups of groupRows rows, snappy-compressed.
func writeEventsParquet(t testing.TB, path string, rows, groupRows int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	props := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Snappy),
		parquet.WithMaxRowGroupLength(int64(groupRows)), parquet.WithDictionaryDefault(true))
	fw, err := pqarrow.NewFileWriter(eventsSchema, f, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		t.Fatal(err)
	}
	mem := memory.DefaultAllocator
	const batch = 8192
	for start := 0; start < rows; start += batch {
		b := array.NewRecordBuilder(mem, eventsSchema)
		for i := start; i < min(start+batch, rows); i++ {
			b.Field(0).(*array.StringBuilder).Append(fmt.Sprintf("m-%08d", i))
			b.Field(1).(*array.TimestampBuilder).Append(arrow.Timestamp(baseTime.UnixMilli() + int64(i)*1000))
			b.Field(2).(*array.StringBuilder).Append(fmt.Sprintf("user-%d", i%5000))
			b.Field(3).(*array.StringBuilder).Append(fixEvents[i%3])
			if i%10 == 0 {
				b.Field(4).AppendNull()
			} else {
				b.Field(4).(*array.Float64Builder).Append(float64(i%1000) + 0.25)
			}
			b.Field(5).(*array.StringBuilder).Append(fmt.Sprintf(`{"plan":"pro","page":"/checkout/%d"}`, i%50))
		}
		rec := b.NewRecord()
		if err := fw.WriteBuffered(rec); err != nil {
			t.Fatal(err)
		}
		rec.Release()
		b.Release()
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
}
