package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"
	"github.com/apache/arrow/go/v15/parquet"
	"github.com/apache/arrow/go/v15/parquet/compress"
	"github.com/apache/arrow/go/v15/parquet/pqarrow"
	"github.com/klauspost/compress/gzip"
	"golang.org/x/sync/errgroup"
)

// The generated events. Every format holds the same rows: an id, a user
// id, an event name, a timestamp (RFC 3339, UTC, milliseconds) and ten
// properties: a float, two ints, a bool and six strings.
var (
	eventNames = []string{"Order Completed", "Product Viewed", "Cart Updated", "Checkout Started", "Signed Up"}
	plans      = []string{"free", "pro", "team", "enterprise"}
	countries  = []string{"DE", "US", "FR", "GB", "JP", "BR", "IN"}
	browsers   = []string{"Firefox", "Chrome", "Safari", "Edge"}
	baseTime   = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
)

// csvHeader names the columns of the CSV and Parquet files and the keys of
// the flat NDJSON objects, in order.
var csvHeader = []string{"id", "user_id", "event", "ts", "amount", "quantity", "active", "page_views",
	"plan", "country", "browser", "campaign", "referrer", "sku"}

// event is generated row i.
type event struct {
	id, userID, name string
	ts               time.Time
	amount           float64
	quantity         int64
	active           bool
	pageViews        int64
	plan, country    string
	browser          string
	campaign         string
	referrer         string
	sku              string
}

func makeEvent(i int) event {
	return event{
		id:        "evt-" + strconv.Itoa(i),
		userID:    "user-" + strconv.Itoa(i*7919%100_003),
		name:      eventNames[i%len(eventNames)],
		ts:        baseTime.Add(time.Duration(i) * 1537 * time.Millisecond),
		amount:    float64(i%100_000) / 100,
		quantity:  int64(i%9 + 1),
		active:    i%3 != 0,
		pageViews: int64(i * 31 % 1000),
		plan:      plans[i%len(plans)],
		country:   countries[i%len(countries)],
		browser:   browsers[i/3%len(browsers)],
		campaign:  "spring-" + strconv.Itoa(i%40),
		referrer:  "https://example.com/p/" + strconv.Itoa(i%1000),
		sku:       "SKU-" + strconv.Itoa(i%5000),
	}
}

// The mappings of the mapped inputs. Every column the mapping does not
// name becomes a property, but id: the messageId is derived from each
// message's content, as for a source without an id column, so that the
// mapped paths measure the hashing. CSV cells are text, so the CSV mapping
// declares the types of the columns that are not strings.
const (
	ndjsonMapping = `type: track
userId: user_id
event: event
timestamp: {column: ts, format: rfc3339}
properties: {exclude: [id]}
`
	csvMapping = ndjsonMapping + `columns: {amount: float, quantity: int, page_views: int, active: bool}
`
	// The Parquet file's ts is a TIMESTAMP(MILLIS, UTC) column, which the
	// mapping takes as an instant whatever the format says.
	parquetMapping = ndjsonMapping
	// csvExprMapping is csvMapping with one drop rule and two fields
	// computed by expressions, which match no row and change no value of
	// the generated file: every message is the one csvMapping makes, and
	// what the expressions cost is the rate of its path against the CSV
	// path's.
	csvExprMapping = `type: track
userId: {expr: 'lower(user_id)'}
event: {expr: 'coalesce(event, "Unknown")'}
timestamp: {column: ts, format: rfc3339}
properties: {exclude: [id]}
columns: {amount: float, quantity: int, page_views: int, active: bool}
drop:
  internal: 'plan == "internal"'
`
)

// exprKey is the key, among files.mappings, of csvExprMapping.
const exprKey = "csv.expr"

// inputKind is one kind of generated file.
type inputKind struct {
	key     string // short name, for flags and file names
	title   string
	format  string // "ndjson", "csv" or "parquet"
	ext     string
	mapping string // YAML; empty for passthrough
	write   func(w io.Writer, rows int) error
}

var kinds = []inputKind{
	{key: "segment", title: "NDJSON of Segment messages (passthrough)", format: "ndjson", ext: ".ndjson", write: writeSegmentNDJSON},
	{key: "ndjson", title: "NDJSON with a YAML mapping", format: "ndjson", ext: ".ndjson", mapping: ndjsonMapping, write: writeFlatNDJSON},
	{key: "csv", title: "CSV with a YAML mapping (typed columns)", format: "csv", ext: ".csv", mapping: csvMapping, write: writeCSV},
	{key: "parquet", title: "Parquet with a YAML mapping", format: "parquet", ext: ".parquet", mapping: parquetMapping},
}

// files are the generated inputs of one row count, by kind key.
type files struct {
	rows     int
	plain    map[string]string // kind key → path
	gz       map[string]string // kind key → path of the gzip file, for text formats
	mappings map[string]string // kind key → mapping path; exprKey → the CSV mapping with expressions
}

// fileName is the name of the file of kind k with rows rows.
func fileName(k inputKind, rows int) string {
	return fmt.Sprintf("%s-%d%s", k.key, rows, k.ext)
}

// generate writes the files of the given kinds with rows rows each into
// dir (with gzip copies of the text formats when withGzip is set), and the
// mappings. Files that are already there with the same name are reused:
// names carry the row count, and the content depends on nothing else.
func generate(dir string, rows int, want []inputKind, withGzip bool, rowGroup int) (*files, error) {
	fs := &files{rows: rows, plain: map[string]string{}, gz: map[string]string{}, mappings: map[string]string{}}
	var g errgroup.Group
	g.SetLimit(2)
	for _, k := range want {
		path := filepath.Join(dir, fileName(k, rows))
		fs.plain[k.key] = path
		gzPath := ""
		if withGzip && k.format != "parquet" {
			gzPath = path + ".gz"
			fs.gz[k.key] = gzPath
		}
		if k.mapping != "" {
			mp := filepath.Join(dir, k.key+".yaml")
			if err := os.WriteFile(mp, []byte(k.mapping), 0o644); err != nil {
				return nil, err
			}
			fs.mappings[k.key] = mp
		}
		if k.key == "csv" {
			mp := filepath.Join(dir, "csv-expr.yaml")
			if err := os.WriteFile(mp, []byte(csvExprMapping), 0o644); err != nil {
				return nil, err
			}
			fs.mappings[exprKey] = mp
		}
		if exists(path) && (gzPath == "" || exists(gzPath)) {
			continue
		}
		g.Go(func() error {
			var err error
			if k.format == "parquet" {
				err = writeFile(path, func(w io.Writer) error { return writeParquet(w, rows, rowGroup) })
			} else {
				err = writeText(path, gzPath, func(w io.Writer) error { return k.write(w, rows) })
			}
			if err != nil {
				return fmt.Errorf("generate %s: %w", path, err)
			}
			return nil
		})
	}
	return fs, g.Wait()
}

func exists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Size() > 0
}

// writeFile writes path through fn, atomically: a half-written file never
// has the final name.
func writeFile(path string, fn func(io.Writer) error) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	if err := fn(bw); err != nil {
		f.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// writeText writes the text fn produces to path and, if gzPath is not
// empty, gzip-compressed (default level, as gzip(1) writes) to gzPath.
func writeText(path, gzPath string, fn func(io.Writer) error) error {
	if gzPath == "" {
		return writeFile(path, fn)
	}
	return writeFile(gzPath, func(gzw io.Writer) error {
		return writeFile(path, func(w io.Writer) error {
			zw := gzip.NewWriter(gzw)
			if err := fn(io.MultiWriter(w, zw)); err != nil {
				return err
			}
			return zw.Close()
		})
	})
}

// appendProps appends the ten properties as JSON object members.
func appendProps(b []byte, e *event) []byte {
	b = append(b, `"amount":`...)
	b = strconv.AppendFloat(b, e.amount, 'f', -1, 64)
	b = append(b, `,"quantity":`...)
	b = strconv.AppendInt(b, e.quantity, 10)
	b = append(b, `,"active":`...)
	b = strconv.AppendBool(b, e.active)
	b = append(b, `,"page_views":`...)
	b = strconv.AppendInt(b, e.pageViews, 10)
	b = append(b, `,"plan":"`...)
	b = append(b, e.plan...)
	b = append(b, `","country":"`...)
	b = append(b, e.country...)
	b = append(b, `","browser":"`...)
	b = append(b, e.browser...)
	b = append(b, `","campaign":"`...)
	b = append(b, e.campaign...)
	b = append(b, `","referrer":"`...)
	b = append(b, e.referrer...)
	b = append(b, `","sku":"`...)
	b = append(b, e.sku...)
	return append(b, '"')
}

const tsLayout = "2006-01-02T15:04:05.000Z"

// writeSegmentNDJSON writes rows track messages as an export of Segment's
// archive has them: with sentAt, context and properties.
func writeSegmentNDJSON(w io.Writer, rows int) error {
	b := make([]byte, 0, 1024)
	for i := range rows {
		e := makeEvent(i)
		b = append(b[:0], `{"type":"track","messageId":"`...)
		b = append(b, e.id...)
		b = append(b, `","userId":"`...)
		b = append(b, e.userID...)
		b = append(b, `","event":"`...)
		b = append(b, e.name...)
		b = append(b, `","timestamp":"`...)
		b = e.ts.AppendFormat(b, tsLayout)
		b = append(b, `","sentAt":"`...)
		b = e.ts.Add(90*time.Second).AppendFormat(b, tsLayout)
		b = append(b, `","context":{"ip":"203.0.113.7","library":{"name":"legacy","version":"1.0"}},"properties":{`...)
		b = appendProps(b, &e)
		b = append(b, "}}\n"...)
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// writeFlatNDJSON writes rows flat objects, one member per column.
func writeFlatNDJSON(w io.Writer, rows int) error {
	b := make([]byte, 0, 1024)
	for i := range rows {
		e := makeEvent(i)
		b = append(b[:0], `{"id":"`...)
		b = append(b, e.id...)
		b = append(b, `","user_id":"`...)
		b = append(b, e.userID...)
		b = append(b, `","event":"`...)
		b = append(b, e.name...)
		b = append(b, `","ts":"`...)
		b = e.ts.AppendFormat(b, tsLayout)
		b = append(b, `",`...)
		b = appendProps(b, &e)
		b = append(b, "}\n"...)
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// writeCSV writes a header and rows records; no field needs quoting.
func writeCSV(w io.Writer, rows int) error {
	b := make([]byte, 0, 1024)
	for i, name := range csvHeader {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, name...)
	}
	b = append(b, '\n')
	if _, err := w.Write(b); err != nil {
		return err
	}
	for i := range rows {
		e := makeEvent(i)
		b = append(b[:0], e.id...)
		b = append(b, ',')
		b = append(b, e.userID...)
		b = append(b, ',')
		b = append(b, e.name...)
		b = append(b, ',')
		b = e.ts.AppendFormat(b, tsLayout)
		b = append(b, ',')
		b = strconv.AppendFloat(b, e.amount, 'f', -1, 64)
		b = append(b, ',')
		b = strconv.AppendInt(b, e.quantity, 10)
		b = append(b, ',')
		b = strconv.AppendBool(b, e.active)
		b = append(b, ',')
		b = strconv.AppendInt(b, e.pageViews, 10)
		for _, s := range [...]string{e.plan, e.country, e.browser, e.campaign, e.referrer, e.sku} {
			b = append(b, ',')
			b = append(b, s...)
		}
		b = append(b, '\n')
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// parquetSchema is the Arrow schema of the Parquet file: typed columns, ts
// a UTC timestamp in milliseconds.
var parquetSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.BinaryTypes.String},
	{Name: "user_id", Type: arrow.BinaryTypes.String},
	{Name: "event", Type: arrow.BinaryTypes.String},
	{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}},
	{Name: "amount", Type: arrow.PrimitiveTypes.Float64},
	{Name: "quantity", Type: arrow.PrimitiveTypes.Int64},
	{Name: "active", Type: arrow.FixedWidthTypes.Boolean},
	{Name: "page_views", Type: arrow.PrimitiveTypes.Int64},
	{Name: "plan", Type: arrow.BinaryTypes.String},
	{Name: "country", Type: arrow.BinaryTypes.String},
	{Name: "browser", Type: arrow.BinaryTypes.String},
	{Name: "campaign", Type: arrow.BinaryTypes.String},
	{Name: "referrer", Type: arrow.BinaryTypes.String},
	{Name: "sku", Type: arrow.BinaryTypes.String},
}, nil)

// writeParquet writes rows events as Parquet (Snappy, dictionary encoding
// where the writer chooses it), rowGroup rows to a row group.
func writeParquet(w io.Writer, rows, rowGroup int) error {
	props := parquet.NewWriterProperties(
		parquet.WithCompression(compress.Codecs.Snappy),
		parquet.WithMaxRowGroupLength(int64(rowGroup)),
	)
	fw, err := pqarrow.NewFileWriter(parquetSchema, w, props, pqarrow.DefaultWriterProps())
	if err != nil {
		return err
	}
	bld := array.NewRecordBuilder(memory.DefaultAllocator, parquetSchema)
	defer bld.Release()
	col := func(i int) array.Builder { return bld.Field(i) }
	str := func(i int) *array.StringBuilder { return col(i).(*array.StringBuilder) }
	i64 := func(i int) *array.Int64Builder { return col(i).(*array.Int64Builder) }
	for start := 0; start < rows; start += rowGroup {
		n := min(rowGroup, rows-start)
		for i := start; i < start+n; i++ {
			e := makeEvent(i)
			str(0).Append(e.id)
			str(1).Append(e.userID)
			str(2).Append(e.name)
			col(3).(*array.TimestampBuilder).Append(arrow.Timestamp(e.ts.UnixMilli()))
			col(4).(*array.Float64Builder).Append(e.amount)
			i64(5).Append(e.quantity)
			col(6).(*array.BooleanBuilder).Append(e.active)
			i64(7).Append(e.pageViews)
			str(8).Append(e.plan)
			str(9).Append(e.country)
			str(10).Append(e.browser)
			str(11).Append(e.campaign)
			str(12).Append(e.referrer)
			str(13).Append(e.sku)
		}
		rec := bld.NewRecord()
		err := fw.Write(rec)
		rec.Release()
		if err != nil {
			fw.Close()
			return err
		}
	}
	return fw.Close()
}
