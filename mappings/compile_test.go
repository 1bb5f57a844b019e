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

// mapped is what a test expects of a message: its string fields, its
// timestamp and its objects as JSON text ("" for none).
type mapped struct {
	typ, messageID, userID, anonymousID, event, name, category, groupID, previousID string
	ts                                                                              time.Time
	properties, traits, context, integrations                                       string
}

func checkMessage(t *testing.T, msg *sink.Message, want mapped) {
	t.Helper()
	got := mapped{
		typ: msg.Type, messageID: msg.MessageID, userID: msg.UserID, anonymousID: msg.AnonymousID,
		event: msg.Event, name: msg.Name, category: msg.Category, groupID: msg.GroupID, previousID: msg.PreviousID,
		ts:           msg.Timestamp,
		properties:   jsonText(t, msg.Properties),
		traits:       jsonText(t, msg.Traits),
		context:      contextText(t, msg.Context),
		integrations: jsonText(t, msg.Integrations),
	}
	// Messages carry the time to the millisecond.
	if !got.ts.Equal(want.ts.Truncate(time.Millisecond)) {
		t.Errorf("timestamp = %v, want %v", got.ts, want.ts)
	}
	got.ts, want.ts = time.Time{}, time.Time{}
	if got != want {
		t.Errorf("message\n  %+v\nwant\n  %+v", got, want)
	}
	for _, o := range []any{msg.Properties, msg.Traits, msg.Context, msg.Integrations} {
		switch o := o.(type) {
		case nil:
		case sink.Fields:
			if len(o) == 0 {
				t.Errorf("object %#v is empty", o)
			}
		case json.RawMessage:
			if members(t, o) == nil {
				t.Errorf("object %s is empty", o)
			}
		default:
			t.Errorf("object %#v is neither sink.Fields nor JSON text", o)
		}
	}
}

// contextText is jsonText for a context, without the "library" member
// that the mapper adds to a context written as JSON text (and the sink
// adds to one written as sink.Fields).
func contextText(t *testing.T, v any) string {
	t.Helper()
	if raw, ok := v.(json.RawMessage); ok {
		lib := "," + libraryJSON + "}"
		s, cut := strings.CutSuffix(string(raw), lib)
		if !cut && !strings.Contains(s, `"library"`) {
			t.Errorf("context %s has no library member", raw)
		}
		if cut {
			s += "}"
		}
		return jsonText(t, json.RawMessage(s))
	}
	return jsonText(t, v)
}

// members decodes a JSON object into its members' texts.
func members(t *testing.T, raw json.RawMessage) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("object %s: %v", raw, err)
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

const csvSpec = `
type: track
messageId: event_id
userId: user_id
anonymousId: anon_id
event: event_name
timestamp: ts
columns:
  amount: float
  qty: int
  active: bool
  meta: json
  user_id: int
properties:
  exclude: [internal_note]
  rename: {amount: revenue}
  values: {source: legacy}
context:
  include: [ip]
`

var csvSchema = []string{"event_id", "user_id", "anon_id", "event_name", "ts", "amount", "qty", "active", "meta", "plan", "internal_note", "ip"}

func TestMapCSV(t *testing.T) {
	m := mustCompile(t, csvSpec, csvSchema, Options{})
	day := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		values []string
		want   mapped
	}{
		{
			name:   "all columns",
			values: []string{"e1", "42", "a1", "Order Completed", "2024-03-01T12:00:00+02:00", "9.99", "3", "TRUE", `{"k": [1, 2]}`, "pro", "secret", "1.2.3.4"},
			want: mapped{typ: "track", messageID: "e1", userID: "42", anonymousID: "a1", event: "Order Completed", ts: day,
				properties: `{"active":true,"meta":{"k":[1,2]},"plan":"pro","qty":3,"revenue":9.99,"source":"legacy"}`,
				context:    `{"ip":"1.2.3.4"}`},
		},
		{
			name:   "empty typed values are absent, empty strings are values",
			values: []string{"e2", "", "a1", "Viewed", "2024-03-01T10:00:00Z", "", " ", "", "", "", "", ""},
			want: mapped{typ: "track", messageID: "e2", anonymousID: "a1", event: "Viewed", ts: day,
				properties: `{"plan":"","source":"legacy"}`, context: `{"ip":""}`},
		},
		{
			name:   "bool spellings and negative int",
			values: []string{"e3", "-7", "", "x", "2024-03-01 10:00:00.000Z", "-0.5", "-7", "no", "null", "p", "", "ip"},
			want: mapped{typ: "track", messageID: "e3", userID: "-7", event: "x", ts: day,
				properties: `{"active":false,"plan":"p","qty":-7,"revenue":-0.5,"source":"legacy"}`, context: `{"ip":"ip"}`},
		},
		{
			name:   "int beyond 2^53 stays exact",
			values: []string{"", "9007199254740993", "", "x", "2024-03-01T10:00:00Z", "1", "9007199254740993", "1", "[]", "", "", ""},
			want: mapped{typ: "track", messageID: canonicalID("", `{"type":"track","timestamp":"2024-03-01T10:00:00.000Z","userId":"9007199254740993","event":"x",`+
				`"properties":{"active":true,"meta":[],"plan":"","qty":9007199254740993,"revenue":1,"source":"legacy"}`), userID: "9007199254740993", event: "x", ts: day,
				properties: `{"active":true,"meta":[],"plan":"","qty":9007199254740993,"revenue":1,"source":"legacy"}`, context: `{"ip":""}`},
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			row := csvRow(int64(i+2), csvSchema, tt.values...)
			var msg sink.Message
			if err := mapInto(m, row, &msg); err != nil {
				t.Fatalf("Map: %v", err)
			}
			checkMessage(t, &msg, tt.want)
		})
	}

	t.Run("declared types give JSON values", func(t *testing.T) {
		row := csvRow(2, csvSchema, "e1", "42", "", "x", "2024-03-01T10:00:00Z", " 2.50", "9007199254740993 ", "yes", `{"a": 1}`, "", "", "")
		var msg sink.Message
		if err := mapInto(m, row, &msg); err != nil {
			t.Fatal(err)
		}
		p := members(t, msg.Properties.(json.RawMessage))
		for key, want := range map[string]string{"revenue": "2.5", "qty": "9007199254740993", "active": "true", "meta": `{"a":1}`} {
			if v := string(p[key]); v != want {
				t.Errorf("%s = %s, want %s", key, v, want)
			}
		}
	})
}

func TestMapCSVRejects(t *testing.T) {
	m := mustCompile(t, csvSpec, csvSchema, Options{})
	valid := []string{"e1", "42", "a1", "Order Completed", "2024-03-01T12:00:00+02:00", "9.99", "3", "true", `{}`, "pro", "secret", "1.2.3.4"}
	tests := []struct {
		name   string
		col    int
		value  string
		reason string
		want   string // the error
	}{
		{"bad float", 5, "9,99", sink.ReasonInvalidValue, `events.csv:7: properties.revenue: column "amount": value "9,99": declared float: not a number`},
		{"float NaN", 5, "NaN", sink.ReasonInvalidValue, `events.csv:7: properties.revenue: column "amount": value "NaN": declared float: not a number`},
		{"bad int", 6, "3.5", sink.ReasonInvalidValue, `events.csv:7: properties.qty: column "qty": value "3.5": declared int: not an integer`},
		{"int overflow", 6, "9223372036854775808", sink.ReasonInvalidValue, `events.csv:7: properties.qty: column "qty": value "9223372036854775808": declared int: not an integer`},
		{"bad bool", 7, "maybe", sink.ReasonInvalidValue, `events.csv:7: properties.active: column "active": value "maybe": declared bool: not a bool`},
		{"bad json", 8, "{a:1}", sink.ReasonInvalidValue, `events.csv:7: properties.meta: column "meta": value "{a:1}": declared json: not JSON: invalid character`},
		{"bad int id", 1, "u-1", sink.ReasonInvalidValue, `events.csv:7: userId: column "user_id": value "u-1": not an integer`},
		{"bad timestamp", 4, "2024-13-01T00:00:00Z", sink.ReasonBadTimestamp, `events.csv:7: timestamp: column "ts": value "2024-13-01T00:00:00Z": month out of range`},
		{"timestamp without offset", 4, "2024-03-01T00:00:00", sink.ReasonBadTimestamp, `events.csv:7: timestamp: column "ts": value "2024-03-01T00:00:00": no zone in value and no timezone: in the mapping`},
		{"missing timestamp", 4, "", sink.ReasonMissingTimestamp, `events.csv:7: timestamp: column "ts": no value`},
		{"blank timestamp", 4, "  ", sink.ReasonMissingTimestamp, `events.csv:7: timestamp: column "ts": no value`},
		{"missing event", 3, "", sink.ReasonMissingEvent, `events.csv:7: event: column "event_name": no value (track messages need one)`},
		{"long messageId", 0, strings.Repeat("é", 60), sink.ReasonInvalidMessageID, `events.csv:7: messageId: column "event_id": value "` + strings.Repeat("é", 40) + `…": longer than 100 bytes`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			values := append([]string(nil), valid...)
			values[tt.col] = tt.value
			var msg sink.Message
			err := mapInto(m, csvRow(7, csvSchema, values...), &msg)
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Map error = %v, want a *FieldError", err)
			}
			if reasonOf(err) != tt.reason {
				t.Errorf("reason = %q, want %q", reasonOf(err), tt.reason)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error\n  %s\nwant\n  %s", err, tt.want)
			}
			if fe.Pos.Line != 7 || fe.Pos.File != "events.csv" {
				t.Errorf("position = %+v", fe.Pos)
			}
			if errors.Unwrap(err) == nil {
				t.Errorf("error has no cause")
			}
		})
	}

	t.Run("missing ids", func(t *testing.T) {
		values := append([]string(nil), valid...)
		values[1], values[2] = "", ""
		err := mapInto(m, csvRow(9, csvSchema, values...), &sink.Message{})
		if reasonOf(err) != sink.ReasonMissingID {
			t.Fatalf("error = %v, want missing_id", err)
		}
		want := `events.csv:9: userId: column "user_id": no value for userId (column "user_id") nor anonymousId (column "anon_id")`
		if err.Error() != want {
			t.Errorf("error\n  %s\nwant\n  %s", err, want)
		}
	})
}

func TestMapNDJSON(t *testing.T) {
	spec := `
type:
  column: kind
  values: {click: track, signup: identify, visit: page}
userId: uid
anonymousId: anon
event: "{{action}} {{object}}"
name: {value: Landing}
timestamp:
  column: ts
  format: unix
columns:
  count: int
  flag: bool
  payload: json
  label: string
properties:
  exclude: [debug]
  rename: {count: n}
integrations:
  values: {All: false, Mixpanel: true}
`
	m := mustCompile(t, spec, nil, Options{})
	at := time.Unix(1700000000, 0)
	tests := []struct {
		name string
		line string
		want mapped
	}{
		{
			name: "track from a mapped type, template event, exact numbers",
			line: `{"kind":"click","uid":123,"action":"Order","object":"Completed","ts":1700000000,"count":"42",` +
				`"big":9007199254740993,"flag":"true","payload":"{\"a\": 1}","label":7,"debug":"x","nothing":null,"obj":{"x":[1]}}`,
			want: mapped{typ: "track", userID: "123", event: "Order Completed", ts: at,
				properties:   `{"big":9007199254740993,"flag":true,"label":"7","n":42,"obj":{"x":[1]},"payload":{"a":1}}`,
				integrations: `{"All":false,"Mixpanel":true}`},
		},
		{
			name: "identify rows put the rest in traits, without what properties exclude",
			line: `{"kind":"signup","anon":"a1","ts":"1700000000.25","plan":"pro","debug":"x"}`,
			want: mapped{typ: "identify", anonymousID: "a1", ts: at.Add(250 * time.Millisecond),
				traits:       `{"plan":"pro"}`,
				integrations: `{"All":false,"Mixpanel":true}`},
		},
		{
			name: "page rows get the constant name and no event",
			line: `{"kind":"visit","uid":"u1","ts":1700000000.5,"action":"a","object":"b","path":"/x"}`,
			want: mapped{typ: "page", userID: "u1", name: "Landing", ts: at.Add(500 * time.Millisecond),
				properties:   `{"path":"/x"}`,
				integrations: `{"All":false,"Mixpanel":true}`},
		},
		{
			name: "a type name that is not in values passes",
			line: `{"kind":"alias","uid":"u1","ts":1700000000}`,
			want: mapped{typ: "alias", userID: "u1", ts: at, integrations: `{"All":false,"Mixpanel":true}`},
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			row := ndjsonRow(t, int64(i+1), tt.line)
			var msg sink.Message
			err := mapInto(m, row, &msg)
			if tt.want.typ == "alias" {
				// An alias needs a previousId, which this spec does not map.
				if reasonOf(err) != sink.ReasonMissingID || !strings.Contains(err.Error(), "previousId") {
					t.Fatalf("Map error = %v, want missing_id for previousId", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Map: %v", err)
			}
			tt.want.messageID = contentID(t, &msg)
			checkMessage(t, &msg, tt.want)
		})
	}

	t.Run("exact numbers are the input's bytes", func(t *testing.T) {
		row := ndjsonRow(t, 1, `{"kind":"click","uid":"u","action":"a","object":"b","ts":1700000000,"big":9007199254740993,"f":1.10}`)
		var msg sink.Message
		if err := mapInto(m, row, &msg); err != nil {
			t.Fatal(err)
		}
		p := members(t, msg.Properties.(json.RawMessage))
		if v := string(p["big"]); v != "9007199254740993" {
			t.Errorf("big = %s", v)
		}
		if v := string(p["f"]); v != "1.10" {
			t.Errorf("f = %s", v)
		}
	})

	rejects := []struct {
		name   string
		line   string
		reason string
		want   string
	}{
		{"unmapped type", `{"kind":"hover","uid":"u","ts":1700000000}`, sink.ReasonInvalidType, `events.ndjson:3: type: column "kind": value "hover": "hover" is not in type.values`},
		{"no type", `{"uid":"u","ts":1700000000}`, sink.ReasonInvalidType, `events.ndjson:3: type: column "kind": no value`},
		{"type not text", `{"kind":{"a":1},"uid":"u","ts":1700000000}`, sink.ReasonInvalidType, `events.ndjson:3: type: column "kind"`},
		{"half a template", `{"kind":"click","uid":"u","action":"Order","ts":1700000000}`, sink.ReasonMissingEvent, `events.ndjson:3: event: no value (track messages need one)`},
		{"object in a template", `{"kind":"click","uid":"u","action":"Order","object":[1],"ts":1700000000}`, sink.ReasonInvalidValue, `events.ndjson:3: event: column "object": value "[1]": want a string or a number`},
		{"bool id", `{"kind":"signup","uid":true,"ts":1700000000}`, sink.ReasonInvalidValue, `events.ndjson:3: userId: column "uid": value "true"`},
		{"bad unix", `{"kind":"signup","uid":"u","ts":"soon"}`, sink.ReasonBadTimestamp, `events.ndjson:3: timestamp: column "ts": value "soon": not a number`},
		{"unix in ms by mistake", `{"kind":"signup","uid":"u","ts":1700000000000000}`, sink.ReasonBadTimestamp, `events.ndjson:3: timestamp: column "ts": value "1700000000000000": out of range`},
		{"null timestamp", `{"kind":"signup","uid":"u","ts":null}`, sink.ReasonMissingTimestamp, `events.ndjson:3: timestamp: column "ts": no value`},
		{"bad declared int", `{"kind":"signup","uid":"u","ts":1700000000,"count":"many"}`, sink.ReasonInvalidValue, `events.ndjson:3: traits.count: column "count": value "many": declared int: not an integer`},
		{"fractional declared int", `{"kind":"signup","uid":"u","ts":1700000000,"count":1.5}`, sink.ReasonInvalidValue, `events.ndjson:3: traits.count: column "count": value "1.5": declared int`},
		{"bad declared bool", `{"kind":"signup","uid":"u","ts":1700000000,"flag":2}`, sink.ReasonInvalidValue, `events.ndjson:3: traits.flag: column "flag": value "2": declared bool`},
		{"bad declared json", `{"kind":"signup","uid":"u","ts":1700000000,"payload":"{nope"}`, sink.ReasonInvalidValue, `events.ndjson:3: traits.payload: column "payload"`},
	}
	for _, tt := range rejects {
		t.Run(tt.name, func(t *testing.T) {
			err := mapInto(m, ndjsonRow(t, 3, tt.line), &sink.Message{})
			if reasonOf(err) != tt.reason {
				t.Fatalf("error = %v, want reason %s", err, tt.reason)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error\n  %s\nwant\n  %s", err, tt.want)
			}
		})
	}
}

func TestMapTimestamps(t *testing.T) {
	clock := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	spec := func(format, missing string) string {
		return "type: identify\nuserId: u\ntimestamp:\n  column: ts\n  format: " + format + "\n  missing: " + missing + "\n"
	}
	schema := []string{"u", "ts"}
	tests := []struct {
		name    string
		format  string
		missing string
		value   any // a CSV string, or another row value
		want    time.Time
		reason  string
	}{
		{"rfc3339 Z", "rfc3339", "reject", "2024-03-01T12:00:00Z", time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC), ""},
		{"rfc3339 negative offset", "rfc3339", "reject", "2024-03-01T07:30:00-04:30", time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC), ""},
		{"rfc3339 positive offset crossing a day", "rfc3339", "reject", "2024-03-01T01:00:00+05:00", time.Date(2024, 2, 29, 20, 0, 0, 0, time.UTC), ""},
		{"rfc3339 nanoseconds", "rfc3339", "reject", "2024-03-01T12:00:00.123456789Z", time.Date(2024, 3, 1, 12, 0, 0, 123456789, time.UTC), ""},
		{"rfc3339 space", "rfc3339", "reject", "2024-03-01 12:00:00.5+00:00", time.Date(2024, 3, 1, 12, 0, 0, 5e8, time.UTC), ""},
		{"rfc3339 time.Time", "rfc3339", "reject", time.Date(2024, 3, 1, 12, 0, 0, 0, time.FixedZone("x", 3600)), time.Date(2024, 3, 1, 11, 0, 0, 0, time.UTC), ""},
		{"rfc3339 JSON string", "rfc3339", "reject", json.RawMessage(`"2024-03-01T12:00:00Z"`), time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC), ""},
		{"rfc3339 date only", "rfc3339", "reject", "2024-03-01", time.Time{}, sink.ReasonBadTimestamp},
		{"rfc3339 number", "rfc3339", "reject", json.RawMessage(`1700000000`), time.Time{}, sink.ReasonBadTimestamp},
		{"unix seconds", "unix", "reject", "1700000000", time.Unix(1700000000, 0), ""},
		{"unix decimal", "unix", "reject", "1700000000.123456", time.Unix(1700000000, 123456000), ""},
		{"unix negative decimal", "unix", "reject", "-1.5", time.Time{}, sink.ReasonBadTimestamp},
		{"unix exponent", "unix", "reject", "1.7e9", time.Unix(1700000000, 0), ""},
		{"unix int64", "unix", "reject", int64(1700000000), time.Unix(1700000000, 0), ""},
		{"unix float64", "unix", "reject", 1700000000.25, time.Unix(1700000000, 25e7), ""},
		{"unix JSON number", "unix", "reject", json.RawMessage(`1700000000.001`), time.Unix(1700000000, 1e6), ""},
		{"unix JSON numeric string", "unix", "reject", json.RawMessage(`"1700000000"`), time.Unix(1700000000, 0), ""},
		{"unix json.Number", "unix", "reject", json.Number("1700000000"), time.Unix(1700000000, 0), ""},
		{"unix not a number", "unix", "reject", "12:00", time.Time{}, sink.ReasonBadTimestamp},
		{"unix hex", "unix", "reject", "0x10", time.Time{}, sink.ReasonBadTimestamp},
		{"unix out of range", "unix", "reject", "99999999999999", time.Time{}, sink.ReasonBadTimestamp},
		{"unix huge", "unix", "reject", "1e300", time.Time{}, sink.ReasonBadTimestamp},
		{"unix bool", "unix", "reject", json.RawMessage(`true`), time.Time{}, sink.ReasonBadTimestamp},
		{"unix_ms", "unix_ms", "reject", "1700000000123", time.UnixMilli(1700000000123), ""},
		{"unix_ms decimal", "unix_ms", "reject", "1700000000123.5", time.UnixMilli(1700000000123).Add(500 * time.Microsecond), ""},
		{"unix_ms negative", "unix_ms", "reject", "-1500", time.Time{}, sink.ReasonBadTimestamp},
		{"unix_ms int64", "unix_ms", "reject", int64(1700000000123), time.UnixMilli(1700000000123), ""},
		{"unix_ms int64 negative", "unix_ms", "reject", int64(-1), time.Time{}, sink.ReasonBadTimestamp},
		{"unix_ms out of range", "unix_ms", "reject", "9223372036854775807", time.Time{}, sink.ReasonBadTimestamp},
		{"missing rejects", "rfc3339", "reject", "", time.Time{}, sink.ReasonMissingTimestamp},
		{"null rejects", "unix", "reject", json.RawMessage(`null`), time.Time{}, sink.ReasonMissingTimestamp},
		{"nil rejects", "unix", "reject", nil, time.Time{}, sink.ReasonMissingTimestamp},
		{"missing now", "rfc3339", "now", "", clock, ""},
		{"missing now, nil", "unix", "now", nil, clock, ""},
		{"missing now keeps a present value", "unix", "now", "1700000000", time.Unix(1700000000, 0), ""},
		{"missing now still rejects a bad value", "rfc3339", "now", "later", time.Time{}, sink.ReasonBadTimestamp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mustCompile(t, spec(tt.format, tt.missing), schema, Options{Now: func() time.Time { return clock }})
			row := withValue(csvRow(2, schema, "u1", ""), 1, tt.value)
			var msg sink.Message
			err := mapInto(m, row, &msg)
			if tt.reason != "" {
				if reasonOf(err) != tt.reason {
					t.Fatalf("error = %v, want reason %s", err, tt.reason)
				}
				if !strings.Contains(err.Error(), `timestamp: column "ts"`) {
					t.Errorf("error %q does not name the column", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Map: %v", err)
			}
			// The message carries the time to the millisecond (the
			// parser's own precision is tested with the parser).
			if !msg.Timestamp.Equal(tt.want.Truncate(time.Millisecond)) {
				t.Errorf("timestamp = %v, want %v", msg.Timestamp, tt.want)
			}
		})
	}
}

func TestMapRemainingColumns(t *testing.T) {
	tests := []struct {
		name   string
		spec   string
		schema []string
		values []string
		want   mapped
	}{
		{
			name:   "track: the rest goes to properties by default",
			spec:   "type: track\nuserId: u\nevent: e\ntimestamp: ts\ncontext: {include: [email]}\n",
			schema: []string{"u", "e", "ts", "email", "plan", "amount"},
			values: []string{"u1", "E", "2024-01-01T00:00:00Z", "x@y", "pro", "5"},
			want:   mapped{typ: "track", userID: "u1", event: "E", properties: `{"amount":"5","plan":"pro"}`, context: `{"email":"x@y"}`},
		},
		{
			name:   "identify: the rest goes to traits by default",
			spec:   "type: identify\nuserId: u\ntimestamp: ts\n",
			schema: []string{"u", "ts", "email", "plan"},
			values: []string{"u1", "2024-01-01T00:00:00Z", "x@y", "pro"},
			want:   mapped{typ: "identify", userID: "u1", traits: `{"email":"x@y","plan":"pro"}`},
		},
		{
			name:   "alias: the rest goes nowhere",
			spec:   "type: alias\nuserId: u\npreviousId: p\ntimestamp: ts\n",
			schema: []string{"u", "p", "ts", "other"},
			values: []string{"u1", "a1", "2024-01-01T00:00:00Z", "x"},
			want:   mapped{typ: "alias", userID: "u1", previousID: "a1"},
		},
		{
			name:   "an object with include does not take the rest",
			spec:   "type: identify\nuserId: u\ntimestamp: ts\ntraits: {include: [email]}\n",
			schema: []string{"u", "ts", "email", "plan"},
			values: []string{"u1", "2024-01-01T00:00:00Z", "x@y", "pro"},
			want:   mapped{typ: "identify", userID: "u1", traits: `{"email":"x@y"}`},
		},
		{
			name:   "empty include takes nothing",
			spec:   "type: identify\nuserId: u\ntimestamp: ts\ntraits: {include: []}\n",
			schema: []string{"u", "ts", "email"},
			values: []string{"u1", "2024-01-01T00:00:00Z", "x@y"},
			want:   mapped{typ: "identify", userID: "u1"},
		},
		{
			name:   "context takes the rest when the spec says so",
			spec:   "type: track\nuserId: u\nevent: e\ntimestamp: ts\nproperties: {include: [amount]}\ncontext: {exclude: [junk]}\n",
			schema: []string{"u", "e", "ts", "amount", "ip", "junk"},
			values: []string{"u1", "E", "2024-01-01T00:00:00Z", "5", "1.2.3.4", "j"},
			want:   mapped{typ: "track", userID: "u1", event: "E", properties: `{"amount":"5"}`, context: `{"ip":"1.2.3.4"}`},
		},
		{
			name:   "an included column is not in the rest, and may be included twice",
			spec:   "type: track\nuserId: u\nevent: e\ntimestamp: ts\ncontext: {include: [email]}\nintegrations: {include: [email]}\n",
			schema: []string{"u", "e", "ts", "email", "plan"},
			values: []string{"u1", "E", "2024-01-01T00:00:00Z", "x@y", "pro"},
			want:   mapped{typ: "track", userID: "u1", event: "E", properties: `{"plan":"pro"}`, context: `{"email":"x@y"}`, integrations: `{"email":"x@y"}`},
		},
		{
			name:   "include keeps its order, exclude wins, rename and values",
			spec:   "type: track\nuserId: u\nevent: e\ntimestamp: ts\nproperties:\n  include: [b, a, c]\n  exclude: [c]\n  rename: {a: alpha}\n  values: {k: 1, s: x}\n",
			schema: []string{"u", "e", "ts", "a", "b", "c"},
			values: []string{"u1", "E", "2024-01-01T00:00:00Z", "A", "B", "C"},
			want:   mapped{typ: "track", userID: "u1", event: "E", properties: `{"b":"B","alpha":"A","k":1,"s":"x"}`},
		},
		{
			name:   "a remaining column named like an explicit key is excluded",
			spec:   "type: track\nuserId: u\nevent: e\ntimestamp: ts\nproperties:\n  rename: {amount: revenue}\n  values: {source: legacy}\n  exclude: [revenue, source]\n",
			schema: []string{"u", "e", "ts", "amount", "revenue", "source", "plan"},
			values: []string{"u1", "E", "2024-01-01T00:00:00Z", "5", "old", "csv", "pro"},
			want:   mapped{typ: "track", userID: "u1", event: "E", properties: `{"plan":"pro","revenue":"5","source":"legacy"}`},
		},
		{
			name:   "a renamed column is taken even when a field uses it",
			spec:   "type: track\nuserId: u\nevent: e\ntimestamp: ts\nproperties:\n  rename: {e: event_name}\n",
			schema: []string{"u", "e", "ts", "x"},
			values: []string{"u1", "E", "2024-01-01T00:00:00Z", "X"},
			want:   mapped{typ: "track", userID: "u1", event: "E", properties: `{"event_name":"E","x":"X"}`},
		},
		{
			name:   "template columns are not in the rest",
			spec:   "type: track\nuserId: u\nevent: \"{{verb}}: {{noun}}\"\ntimestamp: ts\n",
			schema: []string{"u", "verb", "noun", "ts", "x"},
			values: []string{"u1", "Viewed", "Cart", "2024-01-01T00:00:00Z", "X"},
			want:   mapped{typ: "track", userID: "u1", event: "Viewed: Cart", properties: `{"x":"X"}`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check := func(t *testing.T, m Mapper, row *readers.Row) {
				var msg sink.Message
				if err := mapInto(m, row, &msg); err != nil {
					t.Fatalf("Map: %v", err)
				}
				want := tt.want
				want.messageID = contentID(t, &msg)
				want.ts = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
				checkMessage(t, &msg, want)
			}
			t.Run("schema", func(t *testing.T) {
				check(t, mustCompile(t, tt.spec, tt.schema, Options{}), csvRow(2, tt.schema, tt.values...))
			})
			t.Run("schemaless", func(t *testing.T) {
				check(t, mustCompile(t, tt.spec, nil, Options{}), csvRow(2, tt.schema, tt.values...))
			})
		})
	}
}

func TestMapTypeFromColumn(t *testing.T) {
	spec := `
type: {column: kind, values: {"1": track, "2": group}}
userId: u
event: {value: Clicked}
groupId: g
timestamp: ts
properties: {include: [p]}
traits: {include: [t]}
`
	schema := []string{"kind", "u", "g", "ts", "p", "t"}
	m := mustCompile(t, spec, schema, Options{})
	tests := []struct {
		name  string
		kind  any
		want  mapped
		error string
	}{
		{"number mapped to track", json.RawMessage(`1`), mapped{typ: "track", userID: "u1", event: "Clicked", properties: `{"p":"P"}`}, ""},
		{"string mapped to group", "2", mapped{typ: "group", userID: "u1", groupID: "g1", traits: `{"t":"T"}`}, ""},
		{"int64 mapped", int64(2), mapped{typ: "group", userID: "u1", groupID: "g1", traits: `{"t":"T"}`}, ""},
		{"type name passes", "identify", mapped{typ: "identify", userID: "u1", traits: `{"t":"T"}`}, ""},
		{"unmapped", "3", mapped{}, `events.csv:2: type: column "kind": value "3": "3" is not in type.values and is not a message type`},
		{"empty", "", mapped{}, `events.csv:2: type: column "kind": no value`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			row := withValue(csvRow(2, schema, "", "u1", "g1", "2024-01-01T00:00:00Z", "P", "T"), 0, tt.kind)
			var msg sink.Message
			err := mapInto(m, row, &msg)
			if tt.error != "" {
				if err == nil || err.Error() != tt.error || reasonOf(err) != sink.ReasonInvalidType {
					t.Fatalf("error = %v, want %s", err, tt.error)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want
			want.messageID = contentID(t, &msg)
			want.ts = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
			checkMessage(t, &msg, want)
		})
	}
}

func TestMapSetsEveryField(t *testing.T) {
	m := mustCompile(t, "type: identify\nanonymousId: a\ntimestamp: ts\ntraits: {include: []}\n", []string{"a", "ts"}, Options{})
	msg := sink.Message{Type: "track", UserID: "old", Event: "old", Properties: sink.Fields{{Key: "a", Value: 1}},
		Extra: sink.Fields{{Key: "channel", Value: "x"}}, Context: map[string]any{"a": 1}}
	if err := mapInto(m, csvRow(2, []string{"a", "ts"}, "a1", "2024-01-01T00:00:00Z"), &msg); err != nil {
		t.Fatal(err)
	}
	if msg.UserID != "" || msg.Event != "" || msg.Properties != nil || msg.Extra != nil || msg.Context != nil || msg.Traits != nil {
		t.Errorf("fields of the old message remain: %+v", msg)
	}
}

func TestMessageIDs(t *testing.T) {
	spec := "type: identify\nmessageId: id\nuserId: u\ntimestamp: ts\n"
	schema := []string{"id", "u", "ts"}
	m := mustCompile(t, spec, schema, Options{})

	t.Run("measured as written, invalid bytes as U+FFFD", func(t *testing.T) {
		var msg sink.Message
		err := mapInto(m, csvRow(2, schema, strings.Repeat("\xbc", 34), "u1", "2024-01-01T00:00:00Z"), &msg)
		if reasonOf(err) != sink.ReasonInvalidMessageID {
			t.Fatalf("a messageId of 102 bytes as written: %v, want %s", err, sink.ReasonInvalidMessageID)
		}
		if err := mapInto(m, csvRow(2, schema, strings.Repeat("\xbc", 33), "u1", "2024-01-01T00:00:00Z"), &msg); err != nil {
			t.Fatalf("a messageId of 99 bytes as written: %v", err)
		}
	})

	t.Run("from the column, numbers as text", func(t *testing.T) {
		row := withValue(csvRow(2, schema, "", "u1", "2024-01-01T00:00:00Z"), 0, json.RawMessage(`12345678901234567890`))
		var msg sink.Message
		if err := mapInto(m, row, &msg); err != nil {
			t.Fatal(err)
		}
		if msg.MessageID != "12345678901234567890" {
			t.Errorf("messageId = %q", msg.MessageID)
		}
	})
	t.Run("derived from the content when the column is empty, and stable", func(t *testing.T) {
		var a, b sink.Message
		if err := mapInto(m, csvRow(5, schema, "", "u1", "2024-01-01T00:00:00Z"), &a); err != nil {
			t.Fatal(err)
		}
		if err := mapInto(m, csvRow(9, schema, "", "u1", "2024-01-01T00:00:00Z"), &b); err != nil {
			t.Fatal(err)
		}
		want := canonicalID("", `{"type":"identify","timestamp":"2024-01-01T00:00:00.000Z","userId":"u1"`)
		if a.MessageID != want || b.MessageID != want {
			t.Errorf("messageIds = %q, %q, want %q", a.MessageID, b.MessageID, want)
		}
	})

	for _, c := range []struct {
		name, spec string
		opts       Options
		want       string
	}{
		{"derive: position", "messageId: {column: id, derive: position}", Options{}, "bf-0123456789abcdef0123456789abcdef-4"},
		{"derive: content", "messageId: {column: id, derive: content}", Options{},
			canonicalID("", `{"type":"identify","timestamp":"2024-01-01T00:00:00.000Z","userId":"u1"`)},
		{"no column", "messageId: {derive: content}\ntraits: {exclude: [id]}", Options{},
			canonicalID("", `{"type":"identify","timestamp":"2024-01-01T00:00:00.000Z","userId":"u1"`)},
		{"namespace in the mapping", "messageId: {namespace: trial-2026}\ntraits: {exclude: [id]}", Options{},
			canonicalID("trial-2026", `{"type":"identify","timestamp":"2024-01-01T00:00:00.000Z","userId":"u1"`)},
		{"namespace in the options", "messageId: id", Options{IDNamespace: "trial-2026"},
			canonicalID("trial-2026", `{"type":"identify","timestamp":"2024-01-01T00:00:00.000Z","userId":"u1"`)},
		{"namespace in both, the same", "messageId: {namespace: trial-2026}\ntraits: {exclude: [id]}", Options{IDNamespace: "trial-2026"},
			canonicalID("trial-2026", `{"type":"identify","timestamp":"2024-01-01T00:00:00.000Z","userId":"u1"`)},
		{"position in a namespace", "messageId: {derive: position, namespace: trial-2026}", Options{},
			"bf-" + xxh3Hex("ns\ntrial-20260123456789abcdef0123456789abcdef") + "-4"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := mustCompile(t, "type: identify\nuserId: u\ntimestamp: ts\n"+c.spec+"\n", schema, c.opts)
			var msg sink.Message
			if err := mapInto(m, csvRow(5, schema, "", "u1", "2024-01-01T00:00:00Z"), &msg); err != nil {
				t.Fatal(err)
			}
			if msg.MessageID != c.want {
				t.Errorf("messageId = %q, want %q", msg.MessageID, c.want)
			}
		})
	}

	t.Run("namespaces that disagree", func(t *testing.T) {
		s := mustSpec(t, "type: identify\nuserId: u\ntimestamp: ts\nmessageId: {namespace: a}\n")
		_, err := s.Compile(schema, Options{IDNamespace: "b"})
		want := `events.yaml: the id namespace is "a" in the mapping and "b" in the options: give one`
		if err == nil || err.Error() != want {
			t.Errorf("Compile error = %v, want %s", err, want)
		}
	})

	for _, c := range []struct{ spec, want string }{
		{"messageId: {derive: row}", `events.yaml:4: messageId.derive: "row": want content (a hash of the message's fields, the default) or position (the file and the row)`},
		{"messageId: {namespace: ''}", `events.yaml:4: messageId.namespace: empty: leave it out for no namespace`},
		{"messageId: {derive: position, value: x}", `events.yaml:4: messageId: a constant would give every message the same id`},
	} {
		t.Run(c.spec, func(t *testing.T) {
			_, err := ParseSpec([]byte("type: identify\nuserId: u\ntimestamp: ts\n"+c.spec+"\n"), "events.yaml")
			if err == nil || err.Error() != c.want {
				t.Errorf("ParseSpec error = %v, want %s", err, c.want)
			}
		})
	}

	tests := []struct {
		name string
		row  readers.Row
		want string
	}{
		{"fingerprint", readers.Row{Source: &readers.Source{Fingerprint: "ab12"}, Pos: readers.Position{Row: 7}}, "bf-ab12-7"},
		{"long fingerprint is cut", readers.Row{Source: &readers.Source{Fingerprint: strings.Repeat("f", 64)}, Pos: readers.Position{Row: 9223372036854775807}},
			"bf-" + strings.Repeat("f", 32) + "-9223372036854775807"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RowMessageID(&tt.row); got != tt.want {
				t.Errorf("RowMessageID = %q, want %q", got, tt.want)
			}
			if len(tt.want) > 100 {
				t.Errorf("id longer than 100")
			}
		})
	}

	t.Run("stdin rows hash their bytes and ordinal", func(t *testing.T) {
		stdin := &readers.Source{Path: "-"}
		a := RowMessageID(&readers.Row{Source: stdin, Pos: readers.Position{Row: 1}, Raw: []byte(`{"a":1}`)})
		again := RowMessageID(&readers.Row{Source: stdin, Pos: readers.Position{Row: 1}, Raw: []byte(`{"a":1}`)})
		otherRow := RowMessageID(&readers.Row{Source: stdin, Pos: readers.Position{Row: 2}, Raw: []byte(`{"a":1}`)})
		otherBytes := RowMessageID(&readers.Row{Source: stdin, Pos: readers.Position{Row: 1}, Raw: []byte(`{"a":2}`)})
		noRaw := RowMessageID(newRow(readers.Position{Row: 1}, nil, nil, []string{"a"}, []any{int64(1)}))
		noRawAgain := RowMessageID(newRow(readers.Position{Row: 1}, nil, nil, []string{"a"}, []any{int64(1)}))
		if a != again || noRaw != noRawAgain {
			t.Errorf("ids differ between runs: %s %s, %s %s", a, again, noRaw, noRawAgain)
		}
		if a == otherRow || a == otherBytes {
			t.Errorf("different rows share an id: %s %s %s", a, otherRow, otherBytes)
		}
		if !strings.HasPrefix(a, "bf-r") || !strings.HasSuffix(a, "-1") || len(a) > 100 {
			t.Errorf("id = %q", a)
		}
	})
}

func TestFieldErrorFormat(t *testing.T) {
	e := &FieldError{
		Pos:    readers.Position{File: "events.csv", Line: 1042, Row: 1041},
		Field:  "timestamp",
		Column: "ts",
		Value:  "2024-13-01",
		Reason: sink.ReasonBadTimestamp,
		Err:    errors.New("month out of range"),
	}
	want := `events.csv:1042: timestamp: column "ts": value "2024-13-01": month out of range`
	if e.Error() != want {
		t.Errorf("Error() = %s, want %s", e, want)
	}
	if e.RejectReason() != sink.ReasonBadTimestamp || !errors.Is(e, e.Err) {
		t.Errorf("RejectReason or Unwrap broken")
	}
	if got := valueText(strings.Repeat("ab", 100)); len(got) != 80+len("…") {
		t.Errorf("valueText not truncated: %d bytes", len(got))
	}
}

// TestMapConcurrent maps rows from several goroutines with one Mapper, for
// the race detector.
func TestMapConcurrent(t *testing.T) {
	for _, schema := range [][]string{csvSchema, nil} {
		m := mustCompile(t, csvSpec, schema, Options{})
		done := make(chan error)
		for g := 0; g < 4; g++ {
			go func() {
				var err error
				for i := 0; i < 50 && err == nil; i++ {
					row := csvRow(int64(i+2), csvSchema, "e1", "42", "a1", "Order Completed", "2024-03-01T12:00:00Z", "9.99", "3", "true", `{}`, "pro", "secret", "1.2.3.4")
					var msg sink.Message
					err = mapInto(m, row, &msg)
				}
				done <- err
			}()
		}
		for g := 0; g < 4; g++ {
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
	}
}
