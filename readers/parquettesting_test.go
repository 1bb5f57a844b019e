package readers

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// parquetTestingDir holds the data files of the apache/parquet-testing
// suite, next to the repository, read in place.
var parquetTestingDir = filepath.Join("..", "..", "shared", "parquet-testing")

func raw(s string) json.RawMessage { return json.RawMessage(s) }

// TestParquetTestingFiles reads every data file of the parquet-testing
// suite: each reads as its README (and *_expect.csv, or .md upstream)
// describes it, or fails with an error naming the file and the cause.
func TestParquetTestingFiles(t *testing.T) {
	if _, err := os.Stat(parquetTestingDir); err != nil {
		t.Skipf("the parquet-testing files are not at %s (%v)", parquetTestingDir, err)
	}
	tests := []struct {
		file  string
		rows  int
		err   string                                           // a substring of the error of Open, for files refused
		check func(t *testing.T, rows [][]any, names []string) // nil: the row count is the check
	}{
		{file: "alltypes_dictionary.parquet", rows: 2, check: func(t *testing.T, rows [][]any, names []string) {
			checkAlltypes(t, rows, false)
			wantRows(t, rows, [][]any{
				{int64(0), true, int64(0), int64(0), int64(0), int64(0), 0.0, 0.0, "01/01/09", "0", date(2009, 1, 1, 0, 0)},
				{int64(1), false, int64(1), int64(1), int64(1), int64(10), 1.1, 10.1, "01/01/09", "1", date(2009, 1, 1, 0, 1)},
			})
		}},
		{file: "alltypes_plain.parquet", rows: 8, check: func(t *testing.T, rows [][]any, names []string) {
			checkAlltypes(t, rows, false)
			wantColumn(t, rows, 0, int64(4), int64(5), int64(6), int64(7), int64(2), int64(3), int64(0), int64(1))
			wantColumn(t, rows, 8, "03/01/09", "03/01/09", "04/01/09", "04/01/09", "02/01/09", "02/01/09", "01/01/09", "01/01/09")
			wantColumn(t, rows, 10, date(2009, 3, 1, 0, 0), date(2009, 3, 1, 0, 1), date(2009, 4, 1, 0, 0), date(2009, 4, 1, 0, 1),
				date(2009, 2, 1, 0, 0), date(2009, 2, 1, 0, 1), date(2009, 1, 1, 0, 0), date(2009, 1, 1, 0, 1))
		}},
		{file: "alltypes_plain.snappy.parquet", rows: 2, check: func(t *testing.T, rows [][]any, names []string) {
			checkAlltypes(t, rows, false)
			wantColumn(t, rows, 0, int64(6), int64(7))
			wantColumn(t, rows, 10, date(2009, 4, 1, 0, 0), date(2009, 4, 1, 0, 1))
		}},
		{file: "alltypes_tiny_pages.parquet", rows: 7300, check: func(t *testing.T, rows [][]any, names []string) {
			checkAlltypes(t, rows, true)
			ids := make([]int, len(rows))
			for i, r := range rows {
				ids[i] = int(r[0].(int64))
			}
			slices.Sort(ids)
			for i, id := range ids {
				if id != i {
					t.Fatalf("the ids are not 0 to 7299 once each: %d at %d", id, i)
				}
			}
		}},
		{file: "binary.parquet", rows: 12, check: func(t *testing.T, rows [][]any, names []string) {
			// Byte arrays without a logical type: the bytes 0 to 11,
			// each valid UTF-8, read as text.
			for i, r := range rows {
				wantRows(t, [][]any{r}, [][]any{{string([]byte{byte(i)})}})
			}
		}},
		{file: "byte_array_decimal.parquet", rows: 24, check: checkDecimals},
		{file: "byte_stream_split.zstd.parquet", err: "byte_stream_split.zstd.parquet: parquet: column f32 uses the BYTE_STREAM_SPLIT encoding, which this reader does not support"},
		{file: "data_index_bloom_encoding_stats.parquet", rows: 14, check: func(t *testing.T, rows [][]any, names []string) {
			wantColumn(t, rows, 0, "Hello", "This is", "a", "test", "How", "are you", "doing ", "today",
				"the quick", "brown fox", "jumps", "over", "the lazy", "dog")
		}},
		{file: "datapage_v2.snappy.parquet", rows: 5, check: func(t *testing.T, rows [][]any, names []string) {
			wantRows(t, rows, [][]any{
				{"abc", int64(1), 2.0, true, raw("[1,2,3]")},
				{"abc", int64(2), 3.0, true, nil},
				{"abc", int64(3), 4.0, true, nil},
				{nil, int64(4), 5.0, false, raw("[1,2,3]")},
				{"abc", int64(5), 2.0, true, raw("[1,2]")},
			})
		}},
		{file: "delta_binary_packed.parquet", rows: 200, check: expectCSV("delta_binary_packed_expect.csv")},
		{file: "delta_byte_array.parquet", rows: 1000, check: expectCSV("delta_byte_array_expect.csv")},
		{file: "delta_encoding_optional_column.parquet", rows: 100, check: expectCSV("delta_encoding_optional_column_expect.csv")},
		{file: "delta_length_byte_array.parquet", rows: 1000, check: func(t *testing.T, rows [][]any, names []string) {
			for i, r := range rows {
				wantRows(t, [][]any{r}, [][]any{{"apple_banana_mango" + strconv.Itoa(i*i)}})
			}
		}},
		{file: "dict-page-offset-zero.parquet", rows: 39, check: func(t *testing.T, rows [][]any, names []string) {
			for _, r := range rows {
				wantRows(t, [][]any{r}, [][]any{{int64(1552)}})
			}
		}},
		{file: "fixed_length_decimal.parquet", rows: 24, check: checkDecimals},
		{file: "fixed_length_decimal_legacy.parquet", rows: 24, check: checkDecimals},
		{file: "hadoop_lz4_compressed.parquet", err: "hadoop_lz4_compressed.parquet: parquet: column c0 is compressed with LZ4, which this reader does not support"},
		{file: "int32_decimal.parquet", rows: 24, check: checkDecimals},
		{file: "int32_with_null_pages.parquet", rows: 1000, check: func(t *testing.T, rows [][]any, names []string) {
			// The footer's statistics: 275 nulls, min -2136906554, max 2145722375.
			nulls, lo, hi := 0, int64(0), int64(0)
			for _, r := range rows {
				v, ok := r[0].(int64)
				if !ok {
					nulls++
					continue
				}
				lo, hi = min(lo, v), max(hi, v)
			}
			if nulls != 275 || lo != -2136906554 || hi != 2145722375 {
				t.Errorf("%d nulls, min %d, max %d; want 275, -2136906554, 2145722375", nulls, lo, hi)
			}
			wantColumn(t, rows[:3], 0, int64(-654807448), int64(-465559769), int64(-34563097))
		}},
		{file: "int64_decimal.parquet", rows: 24, check: checkDecimals},
		{file: "int96_from_spark.parquet", rows: 6, check: func(t *testing.T, rows [][]any, names []string) {
			// int96_from_spark.md: the strings cast to timestamps by
			// Spark, the first one in its session's time zone (UTC-8).
			wantColumn(t, rows, 0,
				time.Date(2024, 1, 1, 20, 34, 56, 123456000, time.UTC),
				time.Date(2024, 1, 1, 1, 0, 0, 0, time.UTC),
				time.Date(9999, 12, 31, 3, 0, 0, 0, time.UTC),
				time.Date(2024, 12, 30, 23, 0, 0, 0, time.UTC),
				nil,
				time.Date(290000, 12, 30, 23, 0, 0, 0, time.UTC))
		}},
		{file: "large_string_map.brotli.parquet", err: "large_string_map.brotli.parquet: parquet: row group 0: column arr.key_value.key holds 2147483749 bytes uncompressed, over the 1073741824 this reader accepts in one column of one row group"},
		{file: "list_columns.parquet", rows: 3, check: func(t *testing.T, rows [][]any, names []string) {
			wantRows(t, rows, [][]any{
				{raw(`[1,2,3]`), raw(`["abc","efg","hij"]`)},
				{raw(`[null,1]`), nil},
				{raw(`[4]`), raw(`["efg",null,"hij","xyz"]`)},
			})
		}},
		{file: "lz4_raw_compressed.parquet", err: "lz4_raw_compressed.parquet: parquet: column c0 is compressed with LZ4_RAW, which this reader does not support"},
		{file: "nested_lists.snappy.parquet", rows: 3, check: func(t *testing.T, rows [][]any, names []string) {
			wantRows(t, rows, [][]any{
				{raw(`[[["a","b"],["c"]],[null,["d"]]]`), int64(1)},
				{raw(`[[["a","b"],["c","d"]],[null,["e"]]]`), int64(1)},
				{raw(`[[["a","b"],["c","d"],["e"]],[null,["f"]]]`), int64(1)},
			})
		}},
		{file: "nested_maps.snappy.parquet", rows: 6, check: func(t *testing.T, rows [][]any, names []string) {
			wantColumn(t, rows, 0, raw(`{"a":{"1":true,"2":false}}`), raw(`{"b":{"1":true}}`), raw(`{"c":null}`),
				raw(`{"d":{}}`), raw(`{"e":{"1":true}}`), raw(`{"f":{"3":true,"4":false,"5":true}}`))
			wantColumn(t, rows, 1, int64(1), int64(1), int64(1), int64(1), int64(1), int64(1))
			wantColumn(t, rows, 2, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0)
		}},
		{file: "nested_structs.rust.parquet", rows: 1, check: func(t *testing.T, rows [][]any, names []string) {
			if len(names) != 36 {
				t.Fatalf("%d columns, want 36", len(names))
			}
			want := map[string]any{
				"roll_num":   raw(`{"min":190406409000602,"max":190407175004000,"mean":190406671229999,"count":495,"sum":94251302258849568,"variance":0}`),
				"PC_CUR":     raw(`{"min":115,"max":742,"mean":416,"count":495,"sum":206195,"variance":10374}`),
				"count":      raw(`{"min":1,"max":1,"mean":1,"count":495,"sum":495,"variance":0}`),
				"SOURCE_GLA": raw(`{"min":2628,"max":16085,"mean":6698.8,"count":10,"sum":66988,"variance":28540252.400000002}`),
			}
			for name, w := range want {
				if got := rows[0][indexOf(names, name)]; !reflect.DeepEqual(got, w) {
					t.Errorf("%s = %s, want %s", name, got, w)
				}
			}
		}},
		{file: "nonnullable.impala.parquet", rows: 1, check: func(t *testing.T, rows [][]any, names []string) {
			wantRows(t, rows, [][]any{{int64(8), raw(`[-1]`), raw(`[[-1,-2],[]]`), raw(`{"k1":-1}`), raw(`[{},{"k1":1},{},{}]`),
				raw(`{"a":-1,"B":[-1],"c":{"D":[[{"e":-1,"f":"nonnullable"}]]},"G":{}}`)}})
		}},
		{file: "null_list.parquet", rows: 1, check: func(t *testing.T, rows [][]any, names []string) {
			wantRows(t, rows, [][]any{{raw(`[]`)}})
		}},
		{file: "nullable.impala.parquet", rows: 7, check: func(t *testing.T, rows [][]any, names []string) {
			wantRows(t, rows, [][]any{
				{int64(1), raw(`[1,2,3]`), raw(`[[1,2],[3,4]]`), raw(`{"k1":1,"k2":100}`), raw(`[{"k1":1}]`),
					raw(`{"A":1,"b":[1],"C":{"d":[[{"E":10,"F":"aaa"},{"E":-10,"F":"bbb"}],[{"E":11,"F":"c"}]]},"g":{"foo":{"H":{"i":[1.1]}}}}`)},
				{int64(2), raw(`[null,1,2,null,3,null]`), raw(`[[null,1,2,null],[3,null,4],[],null]`), raw(`{"k1":2,"k2":null}`), raw(`[{"k3":null,"k1":1},null,{}]`),
					raw(`{"A":null,"b":[null],"C":{"d":[[{"E":null,"F":null},{"E":10,"F":"aaa"},{"E":null,"F":null},{"E":-10,"F":"bbb"},{"E":null,"F":null}],[{"E":11,"F":"c"},null],[],null]},"g":{"g1":{"H":{"i":[2.2,null]}},"g2":{"H":{"i":[]}},"g3":null,"g4":{"H":{"i":null}},"g5":{"H":null}}}`)},
				{int64(3), raw(`[]`), raw(`[null]`), raw(`{}`), raw(`[null,null]`), raw(`{"A":null,"b":null,"C":{"d":[]},"g":{}}`)},
				{int64(4), nil, raw(`[]`), raw(`{}`), raw(`[]`), raw(`{"A":null,"b":null,"C":{"d":null},"g":null}`)},
				{int64(5), nil, nil, raw(`{}`), nil, raw(`{"A":null,"b":null,"C":null,"g":{"foo":{"H":{"i":[2.2,3.3]}}}}`)},
				{int64(6), nil, nil, nil, nil, nil},
				{int64(7), nil, raw(`[null,[5,6]]`), raw(`{"k1":null,"k3":null}`), nil, raw(`{"A":7,"b":[2,3,null],"C":{"d":[[],[null],null]},"g":null}`)},
			})
		}},
		{file: "nulls.snappy.parquet", rows: 8, check: func(t *testing.T, rows [][]any, names []string) {
			for _, r := range rows {
				wantRows(t, [][]any{r}, [][]any{{raw(`{"b_c_int":null}`)}})
			}
		}},
		{file: "old_list_structure.parquet", rows: 1, check: func(t *testing.T, rows [][]any, names []string) {
			// old_list_structure.md: LIST<LIST<INT32>> in the legacy
			// two-level structure, holding [[1, 2], [3, 4]].
			wantRows(t, rows, [][]any{{raw(`[[1,2],[3,4]]`)}})
		}},
		{file: "repeated_no_annotation.parquet", rows: 6, check: func(t *testing.T, rows [][]any, names []string) {
			wantRows(t, rows, [][]any{
				{int64(1), nil},
				{int64(2), nil},
				{int64(3), raw(`{"phone":[]}`)},
				{int64(4), raw(`{"phone":[{"number":5555555555,"kind":null}]}`)},
				{int64(5), raw(`{"phone":[{"number":1111111111,"kind":"home"}]}`)},
				{int64(6), raw(`{"phone":[{"number":1111111111,"kind":"home"},{"number":2222222222,"kind":null},{"number":3333333333,"kind":"mobile"}]}`)},
			})
		}},
		// The one value is null (the footer counts one null); its
		// statistics are what the file is about.
		{file: "single_nan.parquet", rows: 1, check: func(t *testing.T, rows [][]any, names []string) {
			wantRows(t, rows, [][]any{{nil}})
		}},
	}
	files, err := filepath.Glob(filepath.Join(parquetTestingDir, "*.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	listed := make(map[string]bool)
	for _, tt := range tests {
		listed[tt.file] = true
	}
	for _, f := range files {
		if !listed[filepath.Base(f)] {
			t.Errorf("%s is not in the table", filepath.Base(f))
		}
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join(parquetTestingDir, tt.file)
			r, err := Open(context.Background(), Source{Path: path}, Options{}, nil)
			if tt.err != "" {
				if err == nil {
					r.Close()
					t.Fatalf("Open succeeded, want an error with %q", tt.err)
				}
				if !strings.Contains(err.Error(), tt.err) || !strings.HasPrefix(err.Error(), path+": ") {
					t.Fatalf("Open: %v\nwant the path and %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer r.Close()
			names := r.(Schemer).Schema()
			items, err := readItems(t, r)
			if err != nil {
				t.Fatal(err)
			}
			rows := make([][]any, len(items))
			for i, it := range items {
				if it.Reason != "" {
					t.Fatalf("row %d: %s: %s", i+1, it.Reason, it.Err)
				}
				if it.Pos.Row != int64(i+1) {
					t.Fatalf("row %d at %+v", i+1, it.Pos)
				}
				rows[i] = it.Values
			}
			if len(rows) != tt.rows {
				t.Fatalf("read %d rows, want %d", len(rows), tt.rows)
			}
			if tt.check != nil {
				tt.check(t, rows, names)
			}
		})
	}
}

func date(y int, m time.Month, d, h, min int) time.Time {
	return time.Date(y, m, d, h, min, 0, 0, time.UTC)
}

func wantRows(t *testing.T, got, want [][]any) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d rows, want %d", len(got), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("row %d:\n got %s\nwant %s", i+1, showValues(got[i]), showValues(want[i]))
		}
	}
}

func wantColumn(t *testing.T, rows [][]any, col int, want ...any) {
	t.Helper()
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d", len(rows), len(want))
	}
	for i, w := range want {
		if !reflect.DeepEqual(rows[i][col], w) {
			t.Errorf("row %d, column %d: %s, want %s", i+1, col, showValues([]any{rows[i][col]}), showValues([]any{w}))
		}
	}
}

func showValues(vals []any) string {
	parts := make([]string, len(vals))
	for i, v := range vals {
		if r, ok := v.(json.RawMessage); ok {
			parts[i] = string(r)
			continue
		}
		parts[i] = fmt.Sprintf("%#v", v)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// checkAlltypes checks the relations between the columns of Impala's
// alltypes tables, row by row. For id n and its digit d (n%10 in alltypes,
// n%2 in alltypestiny): bool_col is n%2 == 0, the integer columns are d
// (bigint_col 10 times that), float_col 1.1 and double_col 10.1 times it,
// string_col its digit, and date_string_col the day of timestamp_col
// (within a day: the tables were made in a local time zone). tiny marks
// alltypes_tiny_pages (of the 7300-row alltypes), whose strings are
// annotated UTF-8 and which has year and month columns, those of
// date_string_col. The strings of the other files are byte arrays without
// a logical type, as Impala writes them: they read as the same text.
func checkAlltypes(t *testing.T, rows [][]any, tiny bool) {
	t.Helper()
	for i, r := range rows {
		n := r[0].(int64)
		d := n % 2
		if tiny {
			d = n % 10
		}
		f32, _ := strconv.ParseFloat(strconv.FormatFloat(float64(float32(float64(d)*1.1)), 'g', -1, 32), 64)
		ts := r[10].(time.Time)
		dayText, digit := r[8], strconv.Itoa(int(d))
		day, err := time.Parse("01/02/06", dayText.(string))
		if err != nil || ts.Before(day.Add(-24*time.Hour)) || !ts.Before(day.Add(48*time.Hour)) {
			t.Fatalf("row %d: date_string_col %q is not the day of %v", i+1, dayText, ts)
		}
		want := []any{n, n%2 == 0, d, d, d, d * 10, f32, float64(d) * 10.1, r[8], digit, ts}
		if tiny {
			want = append(want, int64(day.Year()), int64(day.Month()))
		}
		if !reflect.DeepEqual(r, want) {
			t.Fatalf("row %d:\n got %s\nwant %s", i+1, showValues(r), showValues(want))
		}
	}
}

// checkDecimals checks the 24 values 1.00 to 24.00 of the *_decimal files.
func checkDecimals(t *testing.T, rows [][]any, names []string) {
	t.Helper()
	for i, r := range rows {
		wantRows(t, [][]any{r}, [][]any{{json.Number(fmt.Sprintf("%d.00", i+1))}})
	}
}

// expectCSV compares the rows with the values of a *_expect.csv file,
// read with this package's CSV reader: an empty unquoted cell is null,
// numbers are compared as their decimal text.
func expectCSV(name string) func(t *testing.T, rows [][]any, names []string) {
	return func(t *testing.T, rows [][]any, names []string) {
		t.Helper()
		path := filepath.Join(parquetTestingDir, name)
		r := openT(t, path, Options{}, nil)
		header := r.(Schemer).Schema()
		if len(header) != len(names) {
			t.Fatalf("%s has %d columns, the file %d", name, len(header), len(names))
		}
		for k := range header {
			// One header of delta_encoding_optional_column_expect.csv
			// has a leading space.
			if strings.TrimSpace(header[k]) != names[k] {
				t.Fatalf("column %d is %q in %s, %q in the file", k+1, header[k], name, names[k])
			}
		}
		want, err := readItems(t, r)
		if err != nil {
			t.Fatal(err)
		}
		if len(want) != len(rows) {
			t.Fatalf("%s has %d rows, the file %d", name, len(want), len(rows))
		}
		for i, w := range want {
			if w.Reason != "" {
				t.Fatalf("%s row %d: %s", name, i+1, w.Err)
			}
			for k, v := range rows[i] {
				var text any
				switch v := v.(type) {
				case nil:
				case int64:
					text = strconv.FormatInt(v, 10)
				case string:
					text = v
				default:
					t.Fatalf("row %d, column %s: unexpected %T", i+1, names[k], v)
				}
				if text != w.Values[k] {
					t.Fatalf("row %d, column %s: %#v, %s says %#v", i+1, names[k], text, name, w.Values[k])
				}
			}
		}
	}
}
