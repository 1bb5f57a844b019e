package mappings

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/backfillhq/backfill/readers"
	"github.com/backfillhq/backfill/sink"
)

func TestCoerceBytes(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want any // nil: no value
		err  string
	}{
		{"byte array", []byte{0x00, 0xff, 0x10}, "AP8Q", ""},
		{"empty byte array", []byte{}, "", ""},
		{"text", "user-1", "dXNlci0x", ""},
		{"text kept untrimmed", " b1 ", "IGIxIA==", ""},
		{"empty text", "", "", ""},
		{"non-ASCII text, as UTF-8", "é", "w6k=", ""},
		{"JSON string", json.RawMessage(`"b1"`), "YjE=", ""},
		{"JSON string with escapes", json.RawMessage(`"a\u00e9\n"`), "YcOpCg==", ""},
		{"JSON null", json.RawMessage(`null`), nil, ""},
		{"nil", nil, nil, ""},
		{"JSON list kept", json.RawMessage(`["YQ=="]`), json.RawMessage(`["YQ=="]`), ""},
		{"JSON object kept", json.RawMessage(`{"a":"YQ=="}`), json.RawMessage(`{"a":"YQ=="}`), ""},
		{"JSON number", json.RawMessage(`5`), nil, "want a string or a byte array"},
		{"JSON bool", json.RawMessage(`true`), nil, "want a string or a byte array"},
		{"int", int64(5), nil, "want a string or a byte array"},
		{"float", 1.5, nil, "want a string or a byte array"},
		{"bool", true, nil, "want a string or a byte array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := coerce(tt.v, typeBytes)
			if errText(err) != tt.err {
				t.Fatalf("coerce(%#v, bytes) error = %v, want %q", tt.v, err, tt.err)
			}
			if ok != (tt.want != nil) || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("coerce(%#v, bytes) = %#v, %v; want %#v", tt.v, got, ok, tt.want)
			}
		})
	}
}

// TestCoerceByteArray checks what other declared types make of a byte
// array read as bytes: json sends it as base64 too, the others refuse it.
func TestCoerceByteArray(t *testing.T) {
	got, ok, err := coerce([]byte("b1"), typeJSON)
	if err != nil || !ok || got != "YjE=" {
		t.Fatalf("coerce(b1, json) = %#v, %v, %v; want YjE=", got, ok, err)
	}
	_, _, err = coerce([]byte("b1"), typeString)
	if want := "want a string, not a byte array (the column is read as bytes: declare it bytes)"; errText(err) != want {
		t.Fatalf("coerce(b1, string) error = %v, want %s", err, want)
	}
	if s, ok, err := toText([]byte("b1")); s != "YjE=" || !ok || err != nil {
		t.Fatalf("toText(b1) = %q, %v, %v; want YjE=", s, ok, err)
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

const bytesSpec = `
type: track
messageId: id
userId: uid
event: action
timestamp: ts
columns:
  sig: bytes
  raw: bytes
`

// TestMapBytes maps rows whose declared bytes columns hold a Parquet
// byte array read as bytes, CSV text and JSON values.
func TestMapBytes(t *testing.T) {
	schema := []string{"id", "uid", "action", "ts", "sig", "raw", "blob"}
	m := mustCompile(t, bytesSpec, schema, Options{})
	pos := readers.Position{File: "events.parquet", Row: 1}
	src := &readers.Source{Path: "events.parquet", Format: readers.FormatParquet}
	t.Run("parquet", func(t *testing.T) {
		row := newRow(pos, src, nil, schema, []any{"b1", "user-1", "Order Completed", "2023-11-14T22:13:20Z",
			[]byte{0x00, 0xff, 0x10}, json.RawMessage(`["YQ==","/w=="]`), []byte("undeclared")})
		var msg sink.Message
		if err := mapInto(m, row, &msg); err != nil {
			t.Fatal(err)
		}
		want := `{"blob":"dW5kZWNsYXJlZA==","raw":["YQ==","/w=="],"sig":"AP8Q"}`
		if msg.MessageID != "b1" || msg.UserID != "user-1" || jsonText(t, msg.Properties) != want {
			t.Fatalf("messageId %q, userId %q, properties %s; want b1, user-1, %s", msg.MessageID, msg.UserID, jsonText(t, msg.Properties), want)
		}
	})
	t.Run("csv", func(t *testing.T) {
		var msg sink.Message
		if err := mapInto(m, csvRow(2, schema, "b1", "user-1", "Order Completed", "2023-11-14T22:13:20Z", "s1", " r ", "text"), &msg); err != nil {
			t.Fatal(err)
		}
		if want := `{"blob":"text","raw":"IHIg","sig":"czE="}`; jsonText(t, msg.Properties) != want {
			t.Fatalf("properties %s, want %s", jsonText(t, msg.Properties), want)
		}
	})
	t.Run("ndjson", func(t *testing.T) {
		nm := mustCompile(t, bytesSpec, nil, Options{})
		row := ndjsonRow(t, 3, `{"id":"b1","uid":"user-1","action":"Order Completed","ts":"2023-11-14T22:13:20Z","sig":"s1","raw":5}`)
		err := mapInto(nm, row, &sink.Message{})
		want := `events.ndjson:3: properties.raw: column "raw": value "5": declared bytes: want a string or a byte array`
		if reasonOf(err) != sink.ReasonInvalidValue || errText(err) != want {
			t.Fatalf("error %v (%s), want %s (%s)", err, reasonOf(err), want, sink.ReasonInvalidValue)
		}
	})
}

func TestBytesColumns(t *testing.T) {
	if got, want := mustSpec(t, bytesSpec).BytesColumns(), []string{"raw", "sig"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("BytesColumns() = %q, want %q", got, want)
	}
	if got := mustSpec(t, "type: identify\nuserId: u\ntimestamp: ts\ncolumns: {a: string}\n").BytesColumns(); got != nil {
		t.Fatalf("BytesColumns() = %q, want nil", got)
	}
}

func TestParseBytesDeclarations(t *testing.T) {
	spec := mustSpec(t, "type: identify\nuserId: u\ntimestamp: ts\ncolumns:\n  a: {type: bytes}\n  b: bytes\n")
	if got, want := spec.BytesColumns(), []string{"a", "b"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("BytesColumns() = %q, want %q", got, want)
	}
	tests := []struct{ name, yaml, want string }{
		{"unknown type", "type: identify\nuserId: u\ntimestamp: ts\ncolumns:\n  a: byte\n",
			`events.yaml:5: columns.a: unknown type "byte" (want string, int, float, bool, json, timestamp or bytes)`},
		{"unknown type in a declaration", "type: identify\nuserId: u\ntimestamp: ts\ncolumns:\n  a: {type: binary}\n",
			`events.yaml:5: columns.a.type: unknown type "binary" (want string, int, float, bool, json, timestamp or bytes)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSpec([]byte(tt.yaml), "events.yaml")
			if errText(err) != tt.want {
				t.Fatalf("ParseSpec error\n  %v\nwant\n  %s", err, tt.want)
			}
		})
	}
}
