package mappings

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

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
properties:
  exclude: [x]
  rename: {f: ff}
  values: {k: 1}
context: {include: [ip]}
`

var fuzzSchema = []string{"kind", "id", "uid", "aid", "verb", "noun", "gid", "ts", "n", "f", "b", "j", "ip", "x", "rest"}

// FuzzMap feeds random CSV-ish rows (fields split on commas) through a
// compiled spec, with a schema and schemaless, and through Passthrough as
// NDJSON-ish members. Map must never panic, must return either a message
// or an error with a reject reason, and every message must have a type,
// an id, a timestamp and a messageId of at most 100 bytes, pass
// sink.Validate and encode.
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
	// The same mappers building objects as sink.Fields: the encoded
	// messages must be the same bytes.
	fieldsWithSchema, _ := spec.Compile(fuzzSchema, Options{Now: time.Now})
	fieldsWithSchema.(*specMapper).fieldsOnly = true
	fieldsSchemaless, _ := spec.Compile(nil, Options{})
	fieldsSchemaless.(*specMapper).fieldsOnly = true
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
		csv := &readers.Row{Pos: readers.Position{File: "f.csv", Row: 1, Line: 2}, Source: src, Raw: []byte(line), Names: fuzzSchema, Values: values}
		// A schemaless row may lack columns or have them in another order.
		n := len(fields)
		if n > len(fuzzSchema) {
			n = len(fuzzSchema)
		}
		nd := &readers.Row{Pos: readers.Position{File: "f.ndjson", Row: 1, Line: 1}, Raw: []byte(line), Names: fuzzSchema[:n], Values: raws[:n]}
		passNames := []string{"type", "userId", "anonymousId", "event", "timestamp", "properties", "context", "messageId", "originalTimestamp", "extra"}
		pn := n
		if pn > len(passNames) {
			pn = len(passNames)
		}
		passRow := &readers.Row{Pos: nd.Pos, Raw: nd.Raw, Names: passNames[:pn], Values: raws[:pn]}

		for _, c := range []struct {
			m, fields Mapper
			row       *readers.Row
		}{{withSchema, fieldsWithSchema, csv}, {schemaless, fieldsSchemaless, nd}, {schemaless, fieldsSchemaless, csv}, {pass, nil, passRow}} {
			var msg sink.Message
			err := c.m.Map(c.row, &msg)
			if c.fields != nil {
				sameAsFields(t, c.fields, c.row, &msg, err)
			}
			sameAsEncodeRow(t, c.m, unboxed(c.row), err)
			if err != nil {
				if reasonOf(err) == "" {
					t.Fatalf("error without a reason: %v", err)
				}
				continue
			}
			if typeIndex(msg.Type) < 0 || (msg.UserID == "" && msg.AnonymousID == "") ||
				msg.Timestamp.IsZero() || msg.MessageID == "" || len(msg.MessageID) > maxMessageID {
				t.Fatalf("incomplete message %+v from %q", msg, line)
			}
			if err := sink.Validate(&msg); err != nil {
				t.Fatalf("mapped message fails validation: %v (from %q)", err, line)
			}
			if _, err := sink.AppendMessage(nil, &msg); err != nil {
				t.Fatalf("mapped message does not encode: %v (from %q)", err, line)
			}
		}
	})
}

// sameAsFields maps row with a mapper that builds its objects as
// sink.Fields and checks that the outcome is that of msg and err: the same
// error, or the same encoded bytes (or the same encoding error).
func sameAsFields(t *testing.T, m Mapper, row *readers.Row, msg *sink.Message, err error) {
	t.Helper()
	var want sink.Message
	wantErr := m.Map(row, &want)
	if (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
		t.Fatalf("Map error %v, with sink.Fields %v", err, wantErr)
	}
	if err != nil {
		return
	}
	got, gotErr := sink.AppendMessage(nil, msg)
	exp, expErr := sink.AppendMessage(nil, &want)
	if string(got) != string(exp) || fmt.Sprint(gotErr) != fmt.Sprint(expErr) {
		t.Fatalf("encoded\n %s (%v)\nwith sink.Fields\n %s (%v)", got, gotErr, exp, expErr)
	}
}

// sameAsEncodeRow checks that a row EncodeRow takes is one Map accepts
// (mapErr is Map's outcome) and that it gives the bytes of Map's message,
// encoded.
func sameAsEncodeRow(t *testing.T, m Mapper, row *readers.Row, mapErr error) {
	t.Helper()
	enc, ok := m.(RowEncoder)
	if !ok {
		return
	}
	out, took := enc.EncodeRow(nil, row)
	if !took {
		return
	}
	var msg sink.Message
	if err := m.Map(row, &msg); err != nil || mapErr != nil {
		t.Fatalf("EncodeRow took a row Map refuses: %v", errors.Join(err, mapErr))
	}
	if err := sink.Validate(&msg); err != nil {
		t.Fatalf("EncodeRow took a row whose message is invalid: %v", err)
	}
	want, err := sink.AppendMessage(nil, &msg)
	if err != nil || string(out) != string(want) {
		t.Fatalf("EncodeRow gives\n%s\nMap and AppendMessage give (%v)\n%s", out, err, want)
	}
}

// FuzzParseSpec feeds random YAML to ParseSpec: it must never panic, every
// error must name the spec, and a spec it accepts must compile.
func FuzzParseSpec(f *testing.F) {
	f.Add(fuzzSpec)
	f.Add(csvSpec)
	f.Add("type: identify\nuserId: u\ntimestamp: ts\ntraits: ~\n")
	f.Add("type: track\nuserId: u\nevent: \"{{a}}{{\"\ntimestamp: {column: t, format: unix}\n")
	f.Add("a: &x [1]\nb: *x\n")
	f.Add(fuzzFeatureSpec)
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
	fieldsWithSchema, _ := spec.Compile(fuzzFeatureSchema, opts)
	fieldsWithSchema.(*specMapper).fieldsOnly = true
	fieldsSchemaless, _ := spec.Compile(nil, opts)
	fieldsSchemaless.(*specMapper).fieldsOnly = true
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
			m, fields Mapper
			row       *readers.Row
		}{
			{withSchema, fieldsWithSchema, &readers.Row{Pos: readers.Position{File: "f.csv", Row: 1, Line: 2}, Source: src, Raw: []byte(line), Names: fuzzFeatureSchema, Values: strs}},
			{withSchema, fieldsWithSchema, &readers.Row{Pos: readers.Position{File: "f.csv", Row: 1, Line: 2}, Source: src, Raw: []byte(line), Names: fuzzFeatureSchema, Values: raws}},
			{schemaless, fieldsSchemaless, &readers.Row{Pos: readers.Position{File: "f.ndjson", Row: 1, Line: 1}, Raw: []byte(line), Names: fuzzFeatureSchema[:n], Values: raws[:n]}},
		}
		for _, c := range rows {
			var msg sink.Message
			err := c.m.Map(c.row, &msg)
			sameAsFields(t, c.fields, c.row, &msg, err)
			sameAsEncodeRow(t, c.m, unboxed(c.row), err)
			if errors.Is(err, ErrFiltered) {
				continue
			}
			if err != nil {
				if reasonOf(err) == "" {
					t.Fatalf("error without a reason: %v", err)
				}
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Pos != c.row.Pos {
					t.Fatalf("error does not name the row: %v", err)
				}
				continue
			}
			if msg.Timestamp.Before(opts.Since) || msg.Timestamp.After(now.Add(DefaultFutureTolerance)) {
				t.Fatalf("timestamp %v outside the window", msg.Timestamp)
			}
			if typeIndex(msg.Type) < 0 || (msg.UserID == "" && msg.AnonymousID == "") || msg.MessageID == "" || len(msg.MessageID) > maxMessageID {
				t.Fatalf("incomplete message %+v from %q", msg, line)
			}
			if err := sink.Validate(&msg); err != nil {
				t.Fatalf("mapped message fails validation: %v (from %q)", err, line)
			}
			if _, err := sink.AppendMessage(nil, &msg); err != nil {
				t.Fatalf("mapped message does not encode: %v (from %q)", err, line)
			}
		}
	})
}

// FuzzEncodeRow feeds random JSON objects, as the NDJSON reader hands them
// on, to the passthrough mapper's EncodeRow: whenever it takes a row, Map
// must accept the row too, and the message it makes must encode to the
// same bytes.
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
	enc := pass.(RowEncoder)
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
		row := &readers.Row{Pos: readers.Position{File: "f.ndjson", Row: 1, Line: 1},
			Source: &readers.Source{Fingerprint: "f"}, Raw: []byte(line), Names: names,
			Values: make([]any, len(vals)), JSON: vals}
		for i := range row.Values {
			row.Values[i] = readers.InJSON{}
		}
		out, ok := enc.EncodeRow(nil, row)
		if !ok {
			return
		}
		var msg sink.Message
		if err := pass.Map(row, &msg); err != nil {
			t.Fatalf("EncodeRow took a row Map refuses (%v): %s", err, line)
		}
		if err := sink.Validate(&msg); err != nil {
			t.Fatalf("EncodeRow took a row whose message is invalid (%v): %s", err, line)
		}
		want, err := sink.AppendMessage(nil, &msg)
		if err != nil || string(out) != string(want) {
			t.Fatalf("EncodeRow gives\n%s\nAppendMessage gives (%v)\n%s", out, err, want)
		}
	})
}
