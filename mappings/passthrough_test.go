package mappings

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/backfillhq/backfill/readers"
	"github.com/backfillhq/backfill/sink"
)

func TestPassthrough(t *testing.T) {
	type want struct {
		msg        sink.Message // string fields and Timestamp
		properties string       // JSON text
		traits     string
		context    string
		extra      string
	}
	tests := []struct {
		name string
		line string
		want want
	}{
		{
			name: "track with every field",
			line: `{"type":"track","messageId":"m1","userId":"u1","anonymousId":"a1","event":"Order Completed",` +
				`"timestamp":"2024-03-01T12:00:00.123+02:00","properties":{"revenue":9.99,"big":9007199254740993},` +
				`"context":{"ip":"1.2.3.4","library":{"name":"analytics.js"}},"integrations":{"All":true}}`,
			want: want{
				msg: sink.Message{Type: "track", MessageID: "m1", UserID: "u1", AnonymousID: "a1", Event: "Order Completed",
					Timestamp: time.Date(2024, 3, 1, 10, 0, 0, 123e6, time.UTC)},
				properties: `{"revenue":9.99,"big":9007199254740993}`,
				context:    `{"ip":"1.2.3.4","library":{"name":"analytics.js"}}`,
			},
		},
		{
			name: "dropped fields and extra kept in order",
			line: `{"type":"identify","userId":"u1","channel":"server","sentAt":"2024-03-01T12:00:01Z",` +
				`"receivedAt":"2024-03-01T12:00:02Z","writeKey":"secret","projectId":"src1","timestamp":"2024-03-01T12:00:00Z",` +
				`"originalTimestamp":"2024-03-01T11:00:00Z","version":2,"_metadata":{"bundled":["x"]},"traits":{"plan":"pro"}}`,
			want: want{
				msg:    sink.Message{Type: "identify", UserID: "u1", Timestamp: time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)},
				traits: `{"plan":"pro"}`,
				extra:  `{"channel":"server","version":2,"_metadata":{"bundled":["x"]}}`,
			},
		},
		{
			name: "originalTimestamp when timestamp is missing",
			line: `{"type":"page","anonymousId":"a1","name":"Home","category":"Docs","originalTimestamp":"2023-12-31T23:59:59.5-05:00"}`,
			want: want{msg: sink.Message{Type: "page", AnonymousID: "a1", Name: "Home", Category: "Docs",
				Timestamp: time.Date(2024, 1, 1, 4, 59, 59, 5e8, time.UTC)}},
		},
		{
			name: "originalTimestamp when timestamp is null",
			line: `{"type":"screen","userId":"u1","name":"Cart","timestamp":null,"originalTimestamp":"2024-01-01T00:00:00Z"}`,
			want: want{msg: sink.Message{Type: "screen", UserID: "u1", Name: "Cart", Timestamp: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}},
		},
		{
			name: "numeric ids keep their text",
			line: `{"type":"group","userId":123,"groupId":9007199254740993,"anonymousId":null,"timestamp":"2024-01-01T00:00:00Z"}`,
			want: want{msg: sink.Message{Type: "group", UserID: "123", GroupID: "9007199254740993", Timestamp: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}},
		},
		{
			name: "alias and null objects",
			line: `{"type":"alias","userId":"u2","previousId":"a9","timestamp":"2024-01-01T00:00:00Z","properties":null,"context":{}}`,
			want: want{
				// The empty context gets only the library, as one left out.
				msg: sink.Message{Type: "alias", UserID: "u2", PreviousID: "a9", Timestamp: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)},
			},
		},
	}
	m := Passthrough(Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			row := ndjsonRow(t, 7, tt.line)
			var msg sink.Message
			if err := mapInto(m, row, &msg); err != nil {
				t.Fatalf("Map: %v", err)
			}
			wantID := tt.want.msg.MessageID
			if wantID == "" {
				wantID = contentID(t, &msg)
			}
			w := tt.want.msg
			w.MessageID = wantID
			if !msg.Timestamp.Equal(w.Timestamp) {
				t.Errorf("timestamp = %v, want %v", msg.Timestamp, w.Timestamp)
			}
			if g, w := stringFields(&msg), stringFields(&w); g != w {
				t.Errorf("message = %v\nwant %v", g, w)
			}
			if s := jsonText(t, msg.Properties); s != tt.want.properties {
				t.Errorf("properties = %s, want %s", s, tt.want.properties)
			}
			if s := jsonText(t, msg.Traits); s != tt.want.traits {
				t.Errorf("traits = %s, want %s", s, tt.want.traits)
			}
			if s := jsonText(t, msg.Context); s != tt.want.context {
				t.Errorf("context = %s, want %s", s, tt.want.context)
			}
			if lib := encodedLibrary(t, &msg); tt.want.context != "" && strings.Contains(tt.want.context, `"library"`) {
				if lib != `{"name":"analytics.js"}` {
					t.Errorf("context.library = %s, want the message's own", lib)
				}
			} else if want := `{"name":"backfill","version":"` + sink.Version + `"}`; lib != want {
				t.Errorf("context.library = %s, want %s", lib, want)
			}
			var extra string
			if msg.Extra != nil {
				extra = jsonText(t, msg.Extra)
			}
			if extra != tt.want.extra {
				t.Errorf("extra = %s, want %s", extra, tt.want.extra)
			}
			if raw, ok := msg.Properties.(json.RawMessage); ok && !strings.Contains(tt.line, string(raw)) {
				t.Errorf("properties %s are not the input's bytes", raw)
			}
		})
	}
}

// encodedLibrary encodes msg and returns the JSON text of its
// context.library.
func encodedLibrary(t *testing.T, msg *sink.Message) string {
	t.Helper()
	b, _ := msg.Context.(json.RawMessage)
	if b == nil {
		b = json.RawMessage("{" + libraryJSON + "}")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("context %s: %v", b, err)
	}
	return string(m["library"])
}

func TestPassthroughRejects(t *testing.T) {
	tests := []struct {
		name   string
		line   string
		reason string
		field  string
		inErr  string
	}{
		{"no timestamp", `{"type":"track","userId":"u","event":"e"}`, sink.ReasonMissingTimestamp, "timestamp", "no timestamp"},
		{"null timestamps", `{"type":"track","userId":"u","event":"e","timestamp":null,"originalTimestamp":null}`, sink.ReasonMissingTimestamp, "timestamp", ""},
		{"receivedAt is not a timestamp", `{"type":"track","userId":"u","event":"e","receivedAt":"2024-01-01T00:00:00Z"}`, sink.ReasonMissingTimestamp, "timestamp", ""},
		{"bad timestamp", `{"type":"track","userId":"u","event":"e","timestamp":"2024-13-01T00:00:00Z"}`, sink.ReasonBadTimestamp, "timestamp", "month out of range"},
		{"bad timestamp does not fall back", `{"type":"track","userId":"u","event":"e","timestamp":"yesterday","originalTimestamp":"2024-01-01T00:00:00Z"}`, sink.ReasonBadTimestamp, "timestamp", `"yesterday"`},
		{"timestamp without offset", `{"type":"track","userId":"u","event":"e","timestamp":"2024-01-01T00:00:00"}`, sink.ReasonBadTimestamp, "timestamp", ""},
		{"numeric timestamp", `{"type":"track","userId":"u","event":"e","timestamp":1700000000}`, sink.ReasonBadTimestamp, "timestamp", "RFC 3339"},
		{"bad originalTimestamp", `{"type":"track","userId":"u","event":"e","originalTimestamp":"x"}`, sink.ReasonBadTimestamp, "timestamp", `column "originalTimestamp"`},
		{"no type", `{"userId":"u","timestamp":"2024-01-01T00:00:00Z"}`, sink.ReasonInvalidType, "type", "no message type"},
		{"unknown type", `{"type":"Track","userId":"u","timestamp":"2024-01-01T00:00:00Z"}`, sink.ReasonInvalidType, "type", `"Track"`},
		{"no ids", `{"type":"track","event":"e","timestamp":"2024-01-01T00:00:00Z"}`, sink.ReasonMissingID, "userId", ""},
		{"empty ids", `{"type":"track","event":"e","userId":"","anonymousId":null,"timestamp":"2024-01-01T00:00:00Z"}`, sink.ReasonMissingID, "userId", ""},
		{"object id", `{"type":"track","event":"e","userId":{"id":1},"timestamp":"2024-01-01T00:00:00Z"}`, sink.ReasonInvalidField, "userId", ""},
		{"bool id", `{"type":"track","event":"e","anonymousId":true,"timestamp":"2024-01-01T00:00:00Z"}`, sink.ReasonInvalidField, "anonymousId", ""},
		{"properties not an object", `{"type":"track","event":"e","userId":"u","properties":[1,2],"timestamp":"2024-01-01T00:00:00Z"}`, sink.ReasonInvalidField, "properties", "not an object"},
		{"traits a string", `{"type":"identify","userId":"u","traits":"x","timestamp":"2024-01-01T00:00:00Z"}`, sink.ReasonInvalidField, "traits", ""},
		{"context a number", `{"type":"track","event":"e","userId":"u","context":1,"timestamp":"2024-01-01T00:00:00Z"}`, sink.ReasonInvalidField, "context", ""},
		{"integrations a bool", `{"type":"track","event":"e","userId":"u","integrations":true,"timestamp":"2024-01-01T00:00:00Z"}`, sink.ReasonInvalidField, "integrations", ""},
		{"messageId too long", `{"type":"track","event":"e","userId":"u","messageId":"` + strings.Repeat("x", 101) + `","timestamp":"2024-01-01T00:00:00Z"}`, sink.ReasonInvalidMessageID, "messageId", "…"},
	}
	m := Passthrough(Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var msg sink.Message
			err := mapInto(m, ndjsonRow(t, 42, tt.line), &msg)
			if err == nil {
				t.Fatalf("Map: no error, message %+v", msg)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %T %v is not a *FieldError", err, err)
			}
			if fe.Reason != tt.reason || reasonOf(err) != tt.reason {
				t.Errorf("reason = %q, want %q (%v)", fe.Reason, tt.reason, err)
			}
			if fe.Field != tt.field {
				t.Errorf("field = %q, want %q (%v)", fe.Field, tt.field, err)
			}
			if !strings.HasPrefix(err.Error(), "events.ndjson:42: ") {
				t.Errorf("error %q does not start with the position", err)
			}
			if !strings.Contains(err.Error(), tt.inErr) {
				t.Errorf("error %q does not contain %q", err, tt.inErr)
			}
		})
	}
}

// TestPassthroughReusedMessage checks that Map sets every field of a message
// that held another one.
func TestPassthroughReusedMessage(t *testing.T) {
	m := Passthrough(Options{})
	var msg sink.Message
	first := `{"type":"track","userId":"u","event":"e","messageId":"m1","timestamp":"2024-01-01T00:00:00Z","properties":{"a":1},"channel":"web"}`
	second := `{"type":"identify","anonymousId":"a","timestamp":"2024-01-02T00:00:00Z"}`
	if err := mapInto(m, ndjsonRow(t, 1, first), &msg); err != nil {
		t.Fatal(err)
	}
	row := ndjsonRow(t, 2, second)
	if err := mapInto(m, row, &msg); err != nil {
		t.Fatal(err)
	}
	want := sink.Message{Type: "identify", AnonymousID: "a", MessageID: contentID(t, &msg), Timestamp: time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)}
	if msg.Properties != nil || msg.Extra != nil || msg.UserID != "" || msg.Event != "" {
		t.Errorf("fields of the first message remain: %+v", msg)
	}
	msg.Timestamp = msg.Timestamp.UTC()
	if msg.Type != want.Type || msg.MessageID != want.MessageID || !msg.Timestamp.Equal(want.Timestamp) {
		t.Errorf("message = %+v, want %+v", msg, want)
	}
}

// TestPassthroughGoValues checks rows whose values are Go values rather than
// raw JSON (as a reader of another format hands them on).
func TestPassthroughGoValues(t *testing.T) {
	ts := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	row := newRow(readers.Position{File: "x.parquet", Row: 3}, &readers.Source{Path: "x.parquet", Fingerprint: "abc"}, nil,
		[]string{"type", "userId", "event", "timestamp", "properties"},
		[]any{"track", int64(77), "Clicked", ts, map[string]any{"a": 1.5}})
	var msg sink.Message
	if err := mapInto(Passthrough(Options{}), row, &msg); err != nil {
		t.Fatal(err)
	}
	if msg.UserID != "77" || msg.Event != "Clicked" || !msg.Timestamp.Equal(ts) || msg.MessageID != contentID(t, &msg) {
		t.Errorf("message = %+v", msg)
	}
	if p, _ := msg.Properties.(json.RawMessage); string(p) != `{"a":1.5}` {
		t.Errorf("properties = %s, want {\"a\":1.5}", msg.Properties)
	}
}

// stringFields returns the string fields of a message, for comparisons.
func stringFields(m *sink.Message) [9]string {
	return [9]string{m.Type, m.MessageID, m.UserID, m.AnonymousID, m.Event, m.Name, m.Category, m.GroupID, m.PreviousID}
}

// TestPassthroughDerivedIDs checks the ids of passed-through messages
// without one: from the content by default, from the position or in a
// namespace when the mapping says so.
func TestPassthroughDerivedIDs(t *testing.T) {
	line := `{"type":"track","userId":"u","event":"e","timestamp":"2024-01-01T00:00:00Z","properties":{"b":1.50,"a":"\u00fc"},"context":{"ip":"1.2.3.4"}}`
	canonical := `{"type":"track","timestamp":"2024-01-01T00:00:00.000Z","userId":"u","event":"e","properties":{"a":"ü","b":1.5}`
	row := ndjsonRow(t, 7, line)
	for _, c := range []struct {
		spec string
		opts Options
		want string
	}{
		{"passthrough: true\n", Options{}, canonicalID("", canonical)},
		{"passthrough: true\nmessageId: {derive: content}\n", Options{}, canonicalID("", canonical)},
		{"passthrough: true\n", Options{IDNamespace: "n1"}, canonicalID("n1", canonical)},
		{"passthrough: true\nmessageId: {namespace: n1}\n", Options{}, canonicalID("n1", canonical)},
		{"passthrough: true\nmessageId: {derive: position}\n", Options{}, RowMessageID(row)},
	} {
		var msg sink.Message
		if err := mapInto(mustCompile(t, c.spec, nil, c.opts), row, &msg); err != nil {
			t.Fatal(err)
		}
		if msg.MessageID != c.want {
			t.Errorf("%q %+v: messageId %q, want %q", c.spec, c.opts, msg.MessageID, c.want)
		}
	}
	var msg sink.Message
	if err := mapInto(Passthrough(Options{}), row, &msg); err != nil || msg.MessageID != canonicalID("", canonical) {
		t.Errorf("Passthrough: messageId %q (%v), want %q", msg.MessageID, err, canonicalID("", canonical))
	}
	if _, err := ParseSpec([]byte("passthrough: true\nmessageId: id\n"), "m.yaml"); err == nil ||
		err.Error() != `m.yaml:2: "messageId" cannot go with passthrough: true, which takes the rows as Segment messages as they are` {
		t.Errorf("a messageId column with passthrough: %v", err)
	}
}

// TestPassthroughNoZoneAdvice: a passed-through timestamp without a zone
// is refused with advice that works for passthrough, which takes no
// timezone:, and matches ErrNoZone.
func TestPassthroughNoZoneAdvice(t *testing.T) {
	var msg sink.Message
	err := mapInto(Passthrough(Options{}), ndjsonRow(t, 42, `{"type":"track","userId":"u","event":"e","timestamp":"2024-01-01T00:00:00"}`), &msg)
	want := `events.ndjson:42: timestamp: value "2024-01-01T00:00:00": no zone in value: a Segment message passed through must carry its zone (2023-11-14T22:13:20Z, or an offset such as +01:00); add it to the value, or import these rows with a mapping whose timestamp: gives timezone:`
	if err == nil || err.Error() != want {
		t.Fatalf("Map: %v\nwant %s", err, want)
	}
	if !errors.Is(err, ErrNoZone) {
		t.Errorf("error %v does not match ErrNoZone", err)
	}
	if reasonOf(err) != sink.ReasonBadTimestamp {
		t.Errorf("reason %q, want %q", reasonOf(err), sink.ReasonBadTimestamp)
	}
}

// TestPassthroughMessageIDWrittenLength: a messageId is measured as it is
// written, each byte that is not UTF-8 as the three of U+FFFD, so that an
// id of 98 bytes that would be written as 102 is refused, not sent over
// Segment's limit.
func TestPassthroughMessageIDWrittenLength(t *testing.T) {
	ts := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	for _, tt := range []struct {
		id     string
		reject bool
	}{
		{strings.Repeat("x", 96) + "\xff\xfe", true},  // 98 bytes, written as 102
		{strings.Repeat("x", 94) + "\xff\xfe", false}, // 96 bytes, written as 100
	} {
		row := newRow(readers.Position{File: "x.parquet", Row: 3}, &readers.Source{Path: "x.parquet", Fingerprint: "abc"}, nil,
			[]string{"type", "userId", "event", "timestamp", "messageId"},
			[]any{"track", "u", "Clicked", ts, tt.id})
		var msg sink.Message
		err := mapInto(Passthrough(Options{}), row, &msg)
		if got := reasonOf(err) == sink.ReasonInvalidMessageID; got != tt.reject {
			t.Errorf("messageId of %d bytes: error %v, want a reject: %t", len(tt.id), err, tt.reject)
		}
	}
}
