package mappings

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xitongsys/parquet-go/writer"

	"github.com/backfillhq/backfill/readers"
)

// Golden cases with an input.parquet are read with the Parquet reader
// (a case named preset_NAME_parquet with the preset NAME),
// as an import reads them: with the mapping's bytes columns as
// readers.Options.Bytes. Their inputs are written by goldenParquetInputs
// (rewritten with -update): strings as Impala, Hive and Spark without
// binaryAsString write them, plain BYTE_ARRAY without a logical type.

// isParquetCase reports whether dir is a golden case with an
// input.parquet.
func isParquetCase(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "input.parquet"))
	return err == nil
}

type plainItem struct {
	Name string `parquet:"name=name, type=BYTE_ARRAY"`
}

// plainEvent is a row of parquet_plain_byte_arrays.
type plainEvent struct {
	Kind   string     `parquet:"name=kind, type=BYTE_ARRAY"`
	ID     string     `parquet:"name=id, type=BYTE_ARRAY"`
	UID    string     `parquet:"name=uid, type=BYTE_ARRAY"`
	Action *string    `parquet:"name=action, type=BYTE_ARRAY"`
	TS     string     `parquet:"name=ts, type=BYTE_ARRAY"`
	Plan   string     `parquet:"name=plan, type=BYTE_ARRAY"`
	Sig    string     `parquet:"name=sig, type=BYTE_ARRAY"`
	Code   string     `parquet:"name=code, type=FIXED_LEN_BYTE_ARRAY, length=2"`
	Tags   []string   `parquet:"name=tags, type=MAP, convertedtype=LIST, valuetype=BYTE_ARRAY"`
	Item   *plainItem `parquet:"name=item"`
}

type plainProps struct {
	Plan string   `parquet:"name=plan, type=BYTE_ARRAY"`
	Tags []string `parquet:"name=tags, type=MAP, convertedtype=LIST, valuetype=BYTE_ARRAY"`
}

// plainMessage is a row of parquet_passthrough_byte_arrays: Segment
// messages whose properties are a struct.
type plainMessage struct {
	Type       string      `parquet:"name=type, type=BYTE_ARRAY"`
	MessageID  string      `parquet:"name=messageId, type=BYTE_ARRAY"`
	UserID     string      `parquet:"name=userId, type=BYTE_ARRAY"`
	Event      string      `parquet:"name=event, type=BYTE_ARRAY"`
	Timestamp  string      `parquet:"name=timestamp, type=BYTE_ARRAY"`
	Properties *plainProps `parquet:"name=properties"`
}

// ga4Value, ga4Param and ga4Event are rows of expr_parquet_ga4: the
// shape of GA4's BigQuery export, event_params a list of key and typed
// value records.
type ga4Value struct {
	StringValue *string `parquet:"name=string_value, type=BYTE_ARRAY, convertedtype=UTF8"`
	IntValue    *int64  `parquet:"name=int_value, type=INT64"`
}

type ga4Param struct {
	Key   string    `parquet:"name=key, type=BYTE_ARRAY, convertedtype=UTF8"`
	Value *ga4Value `parquet:"name=value"`
}

type ga4Event struct {
	EventName      string     `parquet:"name=event_name, type=BYTE_ARRAY, convertedtype=UTF8"`
	EventTimestamp int64      `parquet:"name=event_timestamp, type=INT64"`
	UserID         *string    `parquet:"name=user_id, type=BYTE_ARRAY, convertedtype=UTF8"`
	UserPseudoID   string     `parquet:"name=user_pseudo_id, type=BYTE_ARRAY, convertedtype=UTF8"`
	EventParams    []ga4Param `parquet:"name=event_params, type=MAP, convertedtype=LIST"`
}

// ga4TypedValue, ga4TypedParam, ga4Geo and ga4Row are rows of
// preset_ga4_parquet: GA4's BigQuery export with every kind of typed
// value, read by preset:ga4.
type ga4TypedValue struct {
	StringValue *string  `parquet:"name=string_value, type=BYTE_ARRAY, convertedtype=UTF8"`
	IntValue    *int64   `parquet:"name=int_value, type=INT64"`
	FloatValue  *float64 `parquet:"name=float_value, type=DOUBLE"`
	DoubleValue *float64 `parquet:"name=double_value, type=DOUBLE"`
}

type ga4TypedParam struct {
	Key   string         `parquet:"name=key, type=BYTE_ARRAY, convertedtype=UTF8"`
	Value *ga4TypedValue `parquet:"name=value"`
}

type ga4Geo struct {
	City    *string `parquet:"name=city, type=BYTE_ARRAY, convertedtype=UTF8"`
	Country *string `parquet:"name=country, type=BYTE_ARRAY, convertedtype=UTF8"`
	Region  *string `parquet:"name=region, type=BYTE_ARRAY, convertedtype=UTF8"`
}

type ga4Row struct {
	EventDate      string          `parquet:"name=event_date, type=BYTE_ARRAY, convertedtype=UTF8"`
	EventTimestamp int64           `parquet:"name=event_timestamp, type=INT64"`
	EventName      string          `parquet:"name=event_name, type=BYTE_ARRAY, convertedtype=UTF8"`
	EventParams    []ga4TypedParam `parquet:"name=event_params, type=MAP, convertedtype=LIST"`
	UserID         *string         `parquet:"name=user_id, type=BYTE_ARRAY, convertedtype=UTF8"`
	UserPseudoID   *string         `parquet:"name=user_pseudo_id, type=BYTE_ARRAY, convertedtype=UTF8"`
	UserProperties []ga4TypedParam `parquet:"name=user_properties, type=MAP, convertedtype=LIST"`
	Geo            *ga4Geo         `parquet:"name=geo"`
	Platform       string          `parquet:"name=platform, type=BYTE_ARRAY, convertedtype=UTF8"`
}

func f64(f float64) *float64 { return &f }

func i64(i int64) *int64 { return &i }

func str(s string) *string { return &s }

// goldenParquetInputs are the rows of each Parquet golden case.
var goldenParquetInputs = map[string]struct {
	schema any
	rows   []any
}{
	"parquet_plain_byte_arrays": {new(plainEvent), []any{
		plainEvent{Kind: "track", ID: "b1", UID: "user-1", Action: str("Order Completed"), TS: "2023-11-14T22:13:20Z",
			Plan: "pro", Sig: "\x00\xff\x10", Code: "US", Tags: []string{"a", "\u00fc"}, Item: &plainItem{Name: "n1"}},
		plainEvent{Kind: "identify", ID: "b2", UID: "user-2", TS: "2023-11-14T22:13:21.5Z",
			Plan: "free", Sig: "s2", Code: "DE", Item: &plainItem{Name: "n2"}},
		// plan is not UTF-8: the reader refuses the row.
		plainEvent{Kind: "track", ID: "b3", UID: "user-3", Action: str("Signed Up"), TS: "2023-11-14T22:13:22Z",
			Plan: "\xffpro", Sig: "s3", Code: "FR", Item: &plainItem{Name: "n3"}},
		// sig is not UTF-8, and declared bytes; a tag is not UTF-8.
		plainEvent{Kind: "track", ID: "b4", UID: "user-4", Action: str("Signed Up"), TS: "2023-11-14T22:13:23Z",
			Plan: "team", Sig: "\xfe", Code: "IT", Tags: []string{"\xc3"}, Item: &plainItem{Name: "n4"}},
	}},
	"expr_parquet_ga4": {new(ga4Event), []any{
		ga4Event{EventName: "page_view", EventTimestamp: 1709294400123456, UserPseudoID: "123.456", EventParams: []ga4Param{
			{Key: "page_title", Value: &ga4Value{StringValue: str("Home")}},
			{Key: "engagement_time_msec", Value: &ga4Value{IntValue: i64(1200)}},
		}},
		ga4Event{EventName: "purchase", EventTimestamp: 1709294460000000, UserID: str("U-9"), UserPseudoID: "123.456", EventParams: []ga4Param{
			{Key: "value", Value: &ga4Value{IntValue: i64(30)}},
		}},
		ga4Event{EventName: "session_start", EventTimestamp: 1709294470000000, UserPseudoID: "789.1"},
	}},
	"preset_ga4_parquet": {new(ga4Row), []any{
		ga4Row{EventDate: "20240301", EventTimestamp: 1709294400123456, EventName: "page_view", UserPseudoID: str("1234567890.1709294000"), EventParams: []ga4TypedParam{
			{Key: "page_location", Value: &ga4TypedValue{StringValue: str("https://example.com/pricing")}},
			{Key: "page_title", Value: &ga4TypedValue{StringValue: str("Pricing")}},
			{Key: "ga_session_id", Value: &ga4TypedValue{IntValue: i64(1709294000)}},
			{Key: "engagement_time_msec", Value: &ga4TypedValue{IntValue: i64(1200)}},
		}, Geo: &ga4Geo{City: str("Lisbon"), Country: str("Portugal"), Region: str("Lisbon")}, Platform: "WEB"},
		ga4Row{EventDate: "20240301", EventTimestamp: 1709294460000000, EventName: "purchase", UserID: str("U-9"), UserPseudoID: str("1234567890.1709294000"), EventParams: []ga4TypedParam{
			{Key: "transaction_id", Value: &ga4TypedValue{StringValue: str("T-1001")}},
			{Key: "value", Value: &ga4TypedValue{DoubleValue: f64(129.95)}},
			{Key: "tax", Value: &ga4TypedValue{FloatValue: f64(21.5)}},
			{Key: "items_count", Value: &ga4TypedValue{IntValue: i64(2)}},
		}, UserProperties: []ga4TypedParam{
			{Key: "plan", Value: &ga4TypedValue{StringValue: str("pro")}},
			{Key: "lifetime_orders", Value: &ga4TypedValue{IntValue: i64(7)}},
		}, Platform: "WEB"},
		ga4Row{EventDate: "20240301", EventTimestamp: 1709294480000000, EventName: "screen_view", UserID: str("U-42"), UserPseudoID: str("f1e2d3c4b5a69788"), EventParams: []ga4TypedParam{
			{Key: "firebase_screen", Value: &ga4TypedValue{StringValue: str("Checkout")}},
			{Key: "engagement_time_msec", Value: &ga4TypedValue{IntValue: i64(850)}},
		}, Platform: "ANDROID"},
		// Neither user_id nor user_pseudo_id: a reject.
		ga4Row{EventDate: "20240301", EventTimestamp: 1709294490000000, EventName: "user_engagement", Platform: "WEB"},
	}},
	"parquet_passthrough_byte_arrays": {new(plainMessage), []any{
		plainMessage{Type: "track", MessageID: "b1", UserID: "user-1", Event: "Order Completed", Timestamp: "2023-11-14T22:13:20Z",
			Properties: &plainProps{Plan: "pro", Tags: []string{"a", "b"}}},
		plainMessage{Type: "track", MessageID: "b2", UserID: "user-2", Event: "Order Completed", Timestamp: "2023-11-14T22:13:21Z",
			Properties: &plainProps{Plan: "\xff"}},
	}},
}

// writeGoldenParquet writes the rows of case name to dir/input.parquet.
func writeGoldenParquet(t *testing.T, dir, name string) {
	t.Helper()
	in, ok := goldenParquetInputs[name]
	if !ok {
		t.Fatalf("no rows for the Parquet case %s in goldenParquetInputs", name)
	}
	f, err := os.Create(filepath.Join(dir, "input.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pw, err := writer.NewParquetWriterFromWriter(f, in.schema, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range in.rows {
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
}

// TestGoldenParquet maps the input.parquet of each Parquet golden case,
// read as an import reads it, and compares the messages and rejects (of
// the reader and of the mapping) with want.ndjson.
func TestGoldenParquet(t *testing.T) {
	n := 0
	for name := range goldenParquetInputs {
		n++
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(goldenDir, name)
			if *update {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				writeGoldenParquet(t, dir, name)
			}
			opts := loadGoldenOptions(t, dir)
			var ropts readers.Options
			specPath := filepath.Join(dir, "mapping.yaml")
			if preset, ok := strings.CutPrefix(name, "preset_"); ok {
				specPath = "preset:" + strings.TrimSuffix(preset, "_parquet")
			}
			spec, err := LoadSpec(specPath)
			switch {
			case err == nil:
				ropts.Bytes = spec.BytesColumns()
			case !errors.Is(err, fs.ErrNotExist):
				t.Fatal(err)
			}
			ctx := context.Background()
			r, err := readers.Open(ctx, readers.Source{Path: filepath.Join(dir, "input.parquet")}, ropts, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			m := Passthrough(opts)
			if spec != nil {
				if m, err = spec.Compile(r.(readers.Schemer).Schema(), opts); err != nil {
					t.Fatal(err)
				}
			}
			var got []byte
			for {
				row, err := r.Next(ctx)
				if err == io.EOF {
					break
				}
				var re *readers.RowError
				switch {
				case errors.As(err, &re):
					re.Pos.File = "input.parquet"
					b, _ := json.Marshal(map[string]string{"reject": re.Reason, "error": re.Error(), "raw": string(re.Raw)})
					got = append(got, b...)
				case err != nil:
					t.Fatal(err)
				default:
					row.Pos.File = "input.parquet"
					got = append(got, goldenLine(t, m, &row)...)
				}
				got = append(got, '\n')
			}
			wantPath := filepath.Join(dir, "want.ndjson")
			if *update {
				if err := os.WriteFile(wantPath, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(wantPath)
			if err != nil {
				t.Fatalf("%v (run with -update to write it)", err)
			}
			compareNDJSON(t, got, want)
		})
	}
	entries, err := os.ReadDir(goldenDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if isParquetCase(filepath.Join(goldenDir, e.Name())) {
			if _, ok := goldenParquetInputs[e.Name()]; !ok {
				t.Errorf("%s has an input.parquet but no rows in goldenParquetInputs", e.Name())
			}
		}
	}
}
