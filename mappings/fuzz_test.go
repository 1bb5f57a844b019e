package mappings

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/backfillhq/backfill/internal/jsontext"
	"github.com/backfillhq/backfill/readers"
	"github.com/backfillhq/backfill/sink"
)

const fuzzSpec = `
type: {column: kind, values: {p: track, s: identify, g: group}}
messageId: id
userId: uid
anonymousId: aid
event: "{{verb}} {{noun}}"
groupId: gid
timestamp: {column: ts, format: unix_ms}
columns:
  n: int
  f: float
  b: bool
  j: json
  uid: int
  rest: bytes
properties:
  exclude: [x]
  rename: {f: ff}
  values: {k: 1}
context: {include: [ip]}
`

var fuzzSchema = []string{"kind", "id", "uid", "aid", "verb", "noun", "gid", "ts", "n", "f", "b", "j", "ip", "x", "rest"}

// FuzzMap feeds random CSV-ish rows (fields split on commas) through a
// compiled spec, with a schema and schemaless, and through Passthrough as
// NDJSON-ish members; each outcome must keep the invariants of
// checkOneRow, and a track carries the spec's constant member.
func FuzzMap(f *testing.F) {
	for _, seed := range []string{
		"p,e1,42,,Order,Done,,1700000000000,3,1.5,yes,{},1.2.3.4,y,z",
		"s,,,a1,,,,1700000000000.5,,,,,,,",
		"g,id,7,,,,g1,-1,9223372036854775807,NaN,maybe,{x,,,",
		"x,,,,,,,,,,,,,,",
		",,,,,,,,",
		"p,e,1e3,a,\"v\",n,,1e30,1.0,1e400,TRUE,null,,,",
		`p,"q",9007199254740993,,{{,}},,1700000000000,-0,0x1,1,[1,{"a":1}],,,`,
	} {
		f.Add(seed)
	}
	spec := mustSpec(f, fuzzSpec)
	withSchema, err := spec.Compile(fuzzSchema, Options{Now: time.Now})
	if err != nil {
		f.Fatal(err)
	}
	schemaless, err := spec.Compile(nil, Options{})
	if err != nil {
		f.Fatal(err)
	}
	pass := Passthrough(Options{})
	f.Fuzz(func(t *testing.T, line string) {
		fields := strings.Split(line, ",")
		values := make([]any, len(fuzzSchema))
		raws := make([]any, len(fuzzSchema))
		for i := range values {
			if i < len(fields) {
				values[i] = fields[i]
				if json.Valid([]byte(fields[i])) {
					raws[i] = json.RawMessage(fields[i])
				} else {
					raws[i] = fields[i]
				}
			}
		}
		src := &readers.Source{Fingerprint: "f"}
		csv := newRow(readers.Position{File: "f.csv", Row: 1, Line: 2}, src, []byte(line), fuzzSchema, values)
		// A schemaless row may lack columns or have them in another order.
		n := len(fields)
		if n > len(fuzzSchema) {
			n = len(fuzzSchema)
		}
		nd := newRow(readers.Position{File: "f.ndjson", Row: 1, Line: 1}, nil, []byte(line), fuzzSchema[:n], raws[:n])
		passNames := []string{"type", "userId", "anonymousId", "event", "timestamp", "properties", "context", "messageId", "originalTimestamp", "extra"}
		pn := n
		if pn > len(passNames) {
			pn = len(passNames)
		}
		passRow := newRow(nd.Pos, nil, nd.Raw, passNames[:pn], raws[:pn])

		for _, m := range []struct {
			m   Mapper
			row *readers.Row
		}{{withSchema, csv}, {schemaless, nd}, {schemaless, csv}, {pass, passRow}} {
			b, err := checkOneRow(t, m.m, m.row, sink.Limits{})
			if err != nil {
				continue
			}
			// A track gets the constant member of properties.values.
			if m.m != pass && strings.HasPrefix(string(b), `{"type":"track"`) {
				var got struct {
					Properties struct {
						K json.RawMessage `json:"k"`
					} `json:"properties"`
				}
				if json.Unmarshal(b, &got) != nil || string(got.Properties.K) != "1" {
					t.Fatalf("properties.k is %s, want 1, in %s", got.Properties.K, b)
				}
			}
		}
	})
}

// FuzzParseSpec feeds random YAML to ParseSpec: it must never panic, every
// error must name the spec, and a spec it accepts must compile.
func FuzzParseSpec(f *testing.F) {
	f.Add(fuzzSpec)
	f.Add(csvSpec)
	f.Add("type: identify\nuserId: u\ntimestamp: ts\ntraits: ~\n")
	f.Add("type: track\nuserId: u\nevent: \"{{a}}{{\"\ntimestamp: {column: t, format: unix}\n")
	f.Add("a: &x [1]\nb: *x\n")
	f.Add("type: identify\nuserId: u\ntimestamp: {column: ts, format: [rfc3339, unix, \"%d/%m/%Y %H:%M\"], timezone: UTC, range: {min: 1970-01-01}}\n")
	f.Add("type: identify\nuserId: u\ntimestamp: {column: ts, format: local_unix_ms, timezone: Europe/Berlin}\ncolumns:\n  b: {type: timestamp, format: [unix, unix_ms], range: {max: 2030-01-01}}\n")
	f.Add(fuzzFeatureSpec)
	f.Add(multiBenchSpec)
	f.Add("timestamp: ts\nuserId: u\ndrop: {x: 'a == 1'}\nmessages:\n  - {type: track, event: e, when: 'b != nil'}\n  - {type: alias, previousId: p, messageId: {derive: position}}\n")
	for _, name := range Presets() {
		src, err := PresetSource(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(src))
	}
	f.Fuzz(func(t *testing.T, text string) {
		s, err := ParseSpec([]byte(text), "f.yaml")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.yaml") {
				t.Fatalf("error does not name the spec: %v", err)
			}
			return
		}
		if _, err := s.Compile(nil, Options{}); err != nil {
			t.Fatalf("schemaless Compile of an accepted spec: %v", err)
		}
	})
}

const fuzzFeatureSpec = `
type: {column: meta.kind, values: {p: page, s: identify, a: alias}, default: track}
messageId: {column: [meta.id, id]}
userId: {column: [user.id, uid]}
anonymousId: user.devices.0
previousId: prev
event: "{{action.verb}} {{action.object}}"
name: page.title
timestamp: {column: [meta.ts, ts], format: "%Y-%m-%d %H:%M:%S", timezone: Europe/Berlin}
columns:
  props.n: int
  props.when: {type: timestamp, format: unix_ms}
  amount: float
properties:
  from: props
  exclude: [props.secret]
  rename: {props.b: bee.hive}
traits:
  from: profile
context:
  rename: {client.ip: ip, client.os: os.name, amount: order.total}
  values: {os.family: unix, app.name: fuzz}
integrations:
  values: {All: true}
`

var fuzzFeatureSchema = []string{"meta", "id", "user", "uid", "prev", "action", "page", "ts", "props", "profile", "client", "amount", "meta.kind"}

// FuzzMapFeatures feeds random rows (fields split on "|", so that JSON
// objects keep their commas) through a spec that uses nested paths, column
// lists, templates, from, dotted keys, declared timestamps, a strftime
// format in a timezone with daylight saving time, a type default and a
// time window, with a schema and without. Map must never panic; a row is
// a complete message, a reject with a reason, or filtered.
func FuzzMapFeatures(f *testing.F) {
	for _, seed := range []string{
		`{"kind":"x","ts":"2024-03-31 02:30:00"}|i1|{"id":"u1","devices":["d1"]}||||{"title":"T"}|||||`,
		`{"kind":"p","id":"m"}||"{\"id\":7}"|u|p|{"verb":"V","object":"O"}|{"title":"Home"}|2024-10-27 02:30:00|{"n":"3","b":1,"secret":2,"when":1709294400123}|{"email":"e"}|{"ip":"1.2.3.4","os":"iOS"}|9.5|s`,
		`|||u2|||||[1,2]|"str"|5|x|a`,
		`{"ts":"2024-01-01 00:00:00"}||{"id":null}|u3|prev|{"verb":1}|null|bad|{"n":1.5}|{}|{"ip":{}}|NaN|`,
		`{"ts":"1999-12-31 23:59:59","id":"` + strings.Repeat("x", 120) + `"}||{"id":"u"}|||{"verb":"a","object":"b"}||||||1e400|`,
	} {
		f.Add(seed)
	}
	spec := mustSpec(f, fuzzFeatureSpec)
	now := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	opts := Options{Now: func() time.Time { return now }, Since: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)}
	withSchema, err := spec.Compile(fuzzFeatureSchema, opts)
	if err != nil {
		f.Fatal(err)
	}
	schemaless, err := spec.Compile(nil, opts)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, line string) {
		fields := strings.Split(line, "|")
		strs := make([]any, len(fuzzFeatureSchema))
		raws := make([]any, len(fuzzFeatureSchema))
		for i := range strs {
			if i < len(fields) {
				strs[i] = fields[i]
				if json.Valid([]byte(fields[i])) {
					raws[i] = json.RawMessage(fields[i])
				} else {
					raws[i] = fields[i]
				}
			}
		}
		n := len(fields)
		if n > len(fuzzFeatureSchema) {
			n = len(fuzzFeatureSchema)
		}
		src := &readers.Source{Fingerprint: "f"}
		rows := []struct {
			m   Mapper
			row *readers.Row
		}{
			{withSchema, newRow(readers.Position{File: "f.csv", Row: 1, Line: 2}, src, []byte(line), fuzzFeatureSchema, strs)},
			{withSchema, newRow(readers.Position{File: "f.csv", Row: 1, Line: 2}, src, []byte(line), fuzzFeatureSchema, raws)},
			{schemaless, newRow(readers.Position{File: "f.ndjson", Row: 1, Line: 1}, nil, []byte(line), fuzzFeatureSchema[:n], raws[:n])},
		}
		for _, c := range rows {
			b, err := checkOneRow(t, c.m, c.row, sink.Limits{MaxMessageBytes: 1000})
			if err != nil {
				var fe *FieldError
				if !errors.Is(err, ErrFiltered) && errors.As(err, &fe) && fe.Pos != c.row.Pos {
					t.Fatalf("error does not name the row: %v", err)
				}
				continue
			}
			var msg sink.Message
			if err := decodeMessage(b, &msg); err != nil {
				t.Fatal(err)
			}
			if msg.Timestamp.Before(opts.Since) || msg.Timestamp.After(now.Add(DefaultFutureTolerance)) {
				t.Fatalf("timestamp %v outside the window", msg.Timestamp)
			}
		}
	})
}

// FuzzEncodeRow feeds random JSON objects, as the NDJSON reader hands them
// on, to the passthrough mapper: each outcome keeps the invariants of
// checkOneRow, and a message carries the row's string fields, objects and
// other members as they were.
func FuzzEncodeRow(f *testing.F) {
	for _, seed := range []string{
		`{"type":"track","messageId":"m1","userId":"u1","event":"Order","timestamp":"2024-01-02T03:04:05.678Z","sentAt":"2024-01-02T03:04:06Z","context":{"ip":"1.2.3.4","library":{"name":"x"}},"properties":{"a":1}}`,
		`{"type":"identify","anonymousId":"a","originalTimestamp":"2024-01-02T03:04:05+02:00","traits":{"plan":"pro"},"context":null,"channel":"server","_metadata":{"x":[1,2]}}`,
		`{"type":"alias","userId":"u","previousId":"p","timestamp":"2024-01-02T03:04:05Z","context":{}}`,
		`{"type":"group","userId":"u","groupId":"","timestamp":"2024-01-02T03:04:05Z"}`,
		`{"type":"page","userId":"u\u00e9","name":"Home","timestamp":"2024-01-02T03:04:05Z","properties":[1]}`,
		`{"type":"screen","userId":7,"timestamp":"2024-01-02 03:04:05Z","integrations":{"All":false},"extra":"a\tb"}`,
		`{"type":"track","userId":"u","event":"E","timestamp":"9999-12-31T23:59:59.999Z","messageId":""}`,
		`{"type":"track","userId":"u","event":"E","timestamp":"2024-01-02T03:04:05Z","context":{"library":1},"properties":{"b":
 2}}`,
	} {
		f.Add(seed)
	}
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	pass := Passthrough(Options{Now: func() time.Time { return now }, Since: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)})
	f.Fuzz(func(t *testing.T, line string) {
		var names []string
		var vals []json.RawMessage
		if err := jsontext.ObjectMembers([]byte(line), func(k string, v json.RawMessage) bool {
			names = append(names, k)
			vals = append(vals, v)
			return true
		}); err != nil {
			return
		}
		r := readers.NewJSONRow(readers.Position{File: "f.ndjson", Row: 1, Line: 1}, names, vals)
		r.Source, r.Raw = &readers.Source{Fingerprint: "f"}, []byte(line)
		row := &r
		b, err := checkOneRow(t, pass, row, sink.Limits{})
		if err != nil {
			return
		}
		var got map[string]json.RawMessage
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		textFields := []string{"messageId", "userId", "anonymousId", "event", "name", "category", "groupId", "previousId"}
		for i, name := range names {
			if dropped(name) || name == "type" || name == "timestamp" || slices.Index(names, name) != i ||
				slices.Contains(names[i+1:], name) || !utf8.ValidString(name) {
				continue // dropped, read apart, repeated in the row, or written with U+FFFD
			}
			in := vals[i]
			known := slices.Contains(textFields, name) || slices.Contains(objectNames[:], name)
			if known && (rawNull(in) || string(in) == `""`) {
				if _, ok := got[name]; ok && name != "context" && name != "messageId" { // both get a value
					t.Fatalf("%s is null or empty in the row, but in the message: %s", name, b)
				}
				continue
			}
			out, ok := got[name]
			if !ok {
				t.Fatalf("%s is missing from %s", name, b)
			}
			if name == "context" && !jsontext.HasMember(in, "library") {
				continue // the library member was added
			}
			if rawKind(in) == '"' || rawKind(in) == '{' || name == "channel" {
				if !sameJSON(in, out) {
					t.Fatalf("%s is %s in the row, %s in the message", name, in, out)
				}
			}
		}
	})
}

// sameJSON reports whether two JSON texts hold the same value.
func sameJSON(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// checkOneRow maps row with m into a writer with limits and checks the
// invariants of the one path every row takes:
//
//   - Map returns nil with exactly one message in the writer, or an error
//     that is ErrFiltered or has a reject reason, leaving the writer empty.
//   - The message is valid JSON on one line, at most the per-message cap.
//   - Its members come in Segment's order (type, messageId, timestamp,
//     userId, anonymousId, event, name, category, groupId, previousId,
//     properties, traits, context, integrations, then any others), each
//     of Segment's fields at most once.
//   - type is one of the six types; timestamp is a string in
//     sink.TimeLayout; messageId is set and at most 100 bytes; userId or
//     anonymousId is set; a track has an event, a group a groupId, an
//     alias a userId and a previousId.
//   - context is an object with a "library" member; the other objects,
//     when present, are objects.
//   - Mapping the row again gives the same bytes or the same error.
func checkOneRow(t *testing.T, m Mapper, row *readers.Row, limits sink.Limits) ([]byte, error) {
	t.Helper()
	w := sink.NewMessageWriter(limits)
	w.Begin(sink.TypeTrack, time.Time{}) // left unfinished: Map drops it
	err := m.Map(row, w)
	b := w.Bytes()
	again := sink.NewMessageWriter(limits)
	againErr := m.Map(row, again)
	if string(again.Bytes()) != string(b) || fmt.Sprint(againErr) != fmt.Sprint(err) {
		t.Fatalf("the row mapped again gives %s (%v), first %s (%v)", again.Bytes(), againErr, b, err)
	}
	if err != nil {
		if len(b) != 0 {
			t.Fatalf("Map refused the row (%v) but left %s", err, b)
		}
		if !errors.Is(err, ErrFiltered) && reasonOf(err) == "" && !hasReason(err) {
			t.Fatalf("error without a reason: %v", err)
		}
		return nil, err
	}
	max := limits.MaxMessageBytes
	if max == 0 {
		max = sink.DefaultMaxMessageBytes
	}
	if len(b) == 0 || len(b) > max || strings.ContainsAny(string(b), "\n\r") {
		t.Fatalf("message of %d bytes (cap %d) or on several lines: %q", len(b), max, b)
	}
	order := []string{"type", "messageId", "timestamp", "userId", "anonymousId", "event", "name", "category",
		"groupId", "previousId", "properties", "traits", "context", "integrations"}
	last := -1
	got := map[string]json.RawMessage{}
	if err := jsontext.ObjectMembers(b, func(key string, v json.RawMessage) bool {
		if _, dup := got[key]; dup && slices.Contains(order, key) {
			t.Fatalf("%s twice in %s", key, b)
		}
		got[key] = v
		i := slices.Index(order, key)
		if i < 0 {
			i = len(order)
		}
		if i < last {
			t.Fatalf("%s out of order in %s", key, b)
		}
		last = i
		return true
	}); err != nil {
		t.Fatalf("message is not a JSON object (%v): %s", err, b)
	}
	var msg sink.Message
	if err := decodeMessage(b, &msg); err != nil {
		t.Fatal(err)
	}
	if ts, err := time.Parse(sink.TimeLayout, strings.Trim(string(got["timestamp"]), `"`)); err != nil || !ts.Equal(msg.Timestamp) {
		t.Fatalf("timestamp %s is not in sink.TimeLayout: %v", got["timestamp"], err)
	}
	if typeIndex(msg.Type) < 0 || msg.MessageID == "" || len(msg.MessageID) > maxMessageID ||
		msg.UserID == "" && msg.AnonymousID == "" ||
		msg.Type == sink.TypeTrack && msg.Event == "" ||
		msg.Type == sink.TypeGroup && msg.GroupID == "" ||
		msg.Type == sink.TypeAlias && (msg.UserID == "" || msg.PreviousID == "") {
		t.Fatalf("message breaks the spec: %s", b)
	}
	if !jsontext.HasMember(got["context"], "library") || rawKind(got["context"]) != '{' {
		t.Fatalf("context without library: %s", b)
	}
	for _, o := range objectNames {
		if v, ok := got[o]; ok && rawKind(v) != '{' {
			t.Fatalf("%s is not an object: %s", o, b)
		}
	}
	w.Reset(nil)
	if err := m.Map(row, w); err != nil || string(w.Bytes()) != string(b) {
		t.Fatalf("mapped again: %s (%v), first %s", w.Bytes(), err, b)
	}
	return b, nil
}

// hasReason reports whether an error wraps one with a reject reason.
func hasReason(err error) bool {
	var r interface{ RejectReason() string }
	return errors.As(err, &r)
}
