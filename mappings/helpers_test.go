package mappings

import (
	"bytes"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/backfillhq/backfill/internal/jsontext"
	"github.com/backfillhq/backfill/readers"
	"github.com/backfillhq/backfill/sink"
	"github.com/zeebo/xxh3"
)

// testSource is the source of the rows built by the helpers below.
var testSource = &readers.Source{
	Path:        "events.csv",
	Format:      readers.FormatCSV,
	Fingerprint: "0123456789abcdef0123456789abcdef0123456789abcdef",
}

// csvRow builds a CSV row: string values for the columns of schema.
func csvRow(line int64, schema []string, values ...string) *readers.Row {
	vs := make([]any, len(values))
	for i, v := range values {
		vs[i] = v
	}
	return newRow(readers.Position{File: "events.csv", Row: line - 1, Line: line}, testSource,
		[]byte(strings.Join(values, ",")), schema, vs)
}

// ndjsonRow builds an NDJSON row from one JSON object: its top-level
// members, in order, with their exact bytes as json.RawMessage values.
func ndjsonRow(t testing.TB, line int64, object string) *readers.Row {
	t.Helper()
	names, values, err := splitObject([]byte(object))
	if err != nil {
		t.Fatalf("bad test object %s: %v", object, err)
	}
	return newRow(readers.Position{File: "events.ndjson", Row: line, Line: line},
		&readers.Source{Path: "events.ndjson", Format: readers.FormatNDJSON, Fingerprint: "feedfacefeedfacefeedfacefeedface00"},
		[]byte(object), names, values)
}

// splitObject splits a JSON object into its top-level members.
func splitObject(data []byte) ([]string, []any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, nil, err
	}
	if tok != json.Delim('{') {
		return nil, nil, fmt.Errorf("not an object")
	}
	var names []string
	var values []any
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, err
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, nil, err
		}
		names = append(names, tok.(string))
		values = append(values, raw)
	}
	if _, err := dec.Token(); err != nil {
		return nil, nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, fmt.Errorf("trailing data")
	}
	return names, values, nil
}

func mustSpec(t testing.TB, yaml string) *Spec {
	t.Helper()
	s, err := ParseSpec([]byte(yaml), "events.yaml")
	if err != nil {
		t.Fatalf("ParseSpec: %v", err)
	}
	return s
}

func mustCompile(t testing.TB, yaml string, schema []string, opts Options) Mapper {
	t.Helper()
	m, err := mustSpec(t, yaml).Compile(schema, opts)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return m
}

// jsonText renders a value as compact JSON text for comparisons: Fields and
// raw JSON alike.
func jsonText(t testing.TB, v any) string {
	t.Helper()
	if v == nil {
		return ""
	}
	var b []byte
	var err error
	switch x := v.(type) {
	case sink.Fields:
		b, err = fieldsJSON(x)
	case json.RawMessage:
		var buf bytes.Buffer
		err = json.Compact(&buf, x)
		b = buf.Bytes()
	default:
		b, err = json.Marshal(x)
	}
	if err != nil {
		t.Fatalf("encode %#v: %v", v, err)
	}
	return string(b)
}

// fieldsJSON encodes Fields in order, independently of the sink's encoder.
func fieldsJSON(f sink.Fields) ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range f {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(m.Key)
		b.Write(k)
		b.WriteByte(':')
		var v []byte
		var err error
		switch x := m.Value.(type) {
		case sink.Fields:
			v, err = fieldsJSON(x)
		case json.RawMessage:
			var buf bytes.Buffer
			err = json.Compact(&buf, x)
			v = buf.Bytes()
		default:
			v, err = json.Marshal(x)
		}
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// reasonOf returns the reject reason of an error, or "".
func reasonOf(err error) string {
	if r, ok := err.(interface{ RejectReason() string }); ok {
		return r.RejectReason()
	}
	return ""
}

// libraryJSON is the "library" member the writer gives a context in the
// tests (see TestMain).
var libraryJSON = `"library":{"name":"backfill","version":"` + goldenLibraryVersion + `"}`

// mapInto maps row with m into a writer of its own and decodes the
// message written into msg: the string fields, the timestamp (to the
// millisecond, as written), the objects as JSON text (nil when absent; a
// context holding only the library the writer adds is nil) and the other
// top-level members, in order, in Extra.
func mapInto(m Mapper, row *readers.Row, msg *sink.Message) error {
	*msg = sink.Message{}
	var w sink.MessageWriter
	if err := m.Map(row, &w); err != nil {
		if w.Len() != 0 {
			return fmt.Errorf("a refused row left %q in the writer", w.Bytes())
		}
		return err
	}
	return decodeMessage(w.Bytes(), msg)
}

// decodeMessage decodes one written message into msg, as mapInto does.
func decodeMessage(b []byte, msg *sink.Message) error {
	if !json.Valid(b) {
		return fmt.Errorf("invalid JSON: %s", b)
	}
	texts := map[string]*string{
		"type": &msg.Type, "messageId": &msg.MessageID, "userId": &msg.UserID, "anonymousId": &msg.AnonymousID,
		"event": &msg.Event, "name": &msg.Name, "category": &msg.Category, "groupId": &msg.GroupID, "previousId": &msg.PreviousID,
	}
	objects := map[string]*any{
		"properties": &msg.Properties, "traits": &msg.Traits, "context": &msg.Context, "integrations": &msg.Integrations,
	}
	var err error
	readErr := jsontext.ObjectMembers(b, func(key string, value json.RawMessage) bool {
		switch {
		case texts[key] != nil:
			err = json.Unmarshal(value, texts[key])
		case objects[key] != nil:
			if key == "context" && string(value) == "{"+libraryJSON+"}" {
				break
			}
			*objects[key] = json.RawMessage(bytes.Clone(value))
		case key == "timestamp":
			var s string
			if err = json.Unmarshal(value, &s); err == nil {
				msg.Timestamp, err = time.Parse(time.RFC3339Nano, s)
			}
		default:
			msg.Extra = append(msg.Extra, sink.Field{Key: key, Value: json.RawMessage(bytes.Clone(value))})
		}
		return err == nil
	})
	if readErr != nil {
		return readErr
	}
	return err
}

// newRow builds a row as a reader outside the readers package does.
func newRow(pos readers.Position, src *readers.Source, raw []byte, names []string, values []any) *readers.Row {
	row := readers.NewRow(pos, names, values)
	row.Source, row.Raw = src, raw
	return &row
}

// withValue returns a copy of row with the value of column i set to v.
func withValue(row *readers.Row, i int, v any) *readers.Row {
	values := row.AllValues()
	values[i] = v
	return newRow(row.Pos, row.Source, row.Raw, row.Names(), values)
}

// contentID returns the content-derived messageId of msg: the id the
// writer derives for a message with msg's fields (its own messageId left
// out). sink's tests pin the canonical form; this says a mapper derived
// the id of the message it wrote.
func contentID(t testing.TB, msg *sink.Message) string {
	t.Helper()
	m := *msg
	m.MessageID = ""
	w := sink.NewMessageWriter(sink.Limits{})
	w.Begin(m.Type, m.Timestamp)
	w.DeriveContentID(sink.NewContentIDs(""))
	w.SetText(sink.FieldUserID, m.UserID)
	w.SetText(sink.FieldAnonymousID, m.AnonymousID)
	w.SetText(sink.FieldEvent, m.Event)
	w.SetText(sink.FieldName, m.Name)
	w.SetText(sink.FieldCategory, m.Category)
	w.SetText(sink.FieldGroupID, m.GroupID)
	w.SetText(sink.FieldPreviousID, m.PreviousID)
	w.WriteObject(sink.FieldProperties, m.Properties)
	w.WriteObject(sink.FieldTraits, m.Traits)
	b, err := w.End()
	if err != nil {
		t.Fatalf("contentID: %v", err)
	}
	var got sink.Message
	if err := decodeMessage(b, &got); err != nil {
		t.Fatal(err)
	}
	return got.MessageID
}

// canonicalID returns the content-derived messageId of a canonical form
// in a namespace, as sink.ContentIDs documents it.
func canonicalID(namespace, canonical string) string {
	b := []byte(canonical)
	if namespace != "" {
		b = append(append([]byte("ns"), byte(len(namespace))), append([]byte(namespace), b...)...)
	}
	sum := xxh3.Hash128(b).Bytes()
	return sink.ContentIDPrefix + base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding).EncodeToString(sum[:])
}

// xxh3Hex returns the XXH3-128 hash of s in hex.
func xxh3Hex(s string) string {
	sum := xxh3.HashString128(s).Bytes()
	return hex.EncodeToString(sum[:])
}
