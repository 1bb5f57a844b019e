package mappings

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

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
			m   Mapper
			row *readers.Row
		}{{withSchema, csv}, {schemaless, nd}, {schemaless, csv}, {pass, passRow}} {
			var msg sink.Message
			err := c.m.Map(c.row, &msg)
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

// FuzzParseSpec feeds random YAML to ParseSpec: it must never panic, every
// error must name the spec, and a spec it accepts must compile.
func FuzzParseSpec(f *testing.F) {
	f.Add(fuzzSpec)
	f.Add(csvSpec)
	f.Add("type: identify\nuserId: u\ntimestamp: ts\ntraits: ~\n")
	f.Add("type: track\nuserId: u\nevent: \"{{a}}{{\"\ntimestamp: {column: t, format: unix}\n")
	f.Add("a: &x [1]\nb: *x\n")
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
