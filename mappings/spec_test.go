package mappings

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseSpecErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string // the error, or its start
	}{
		{"empty", ``, "events.yaml: the mapping is empty"},
		{"not a mapping", `- a`, "events.yaml:1: want a mapping, not a list"},
		{"bad yaml", "type: [", "events.yaml: yaml: line 1:"},
		{"unknown top-level key", "type: track\nuserId: u\nevent: e\ntimestamp: ts\nuserid: x\n", `events.yaml:5: unknown key "userid"`},
		{"duplicate key", "type: track\nuserId: u\nuserId: v\nevent: e\ntimestamp: ts\n", `events.yaml:3: key "userId" appears twice`},
		{"no type", "userId: u\ntimestamp: ts\n", "events.yaml:1: type: required"},
		{"no timestamp", "type: identify\nuserId: u\n", "events.yaml:1: timestamp: required"},
		{"no ids", "type: identify\ntimestamp: ts\n", "events.yaml:1: userId: userId or anonymousId is required"},
		{"unknown type", "type: trak\nuserId: u\ntimestamp: ts\n", `events.yaml:1: type: unknown message type "trak"`},
		{"unknown type in values", "type:\n  column: k\n  values:\n    click: trak\nuserId: u\ntimestamp: ts\n", `events.yaml:4: type.values.click: unknown message type "trak"`},
		{"type without column", "type:\n  values: {a: track}\nuserId: u\ntimestamp: ts\n", "events.yaml:2: type: column is required"},
		{"unknown key in type", "type:\n  column: k\n  value: x\nuserId: u\ntimestamp: ts\n", `events.yaml:3: type: unknown key "value"`},
		{"null id", "type: identify\nuserId:\ntimestamp: ts\n", "events.yaml:2: userId: want a string, not null"},
		{"id is a list", "type: identify\nuserId: [a]\ntimestamp: ts\n", "events.yaml:2: userId: want a mapping, not a list"},
		{"unknown key in field", "type: track\nuserId: u\nevent: {valu: x}\ntimestamp: ts\n", `events.yaml:3: event: unknown key "valu"`},
		{"two keys in field", "type: track\nuserId: u\nevent: {value: x, column: y}\ntimestamp: ts\n", "events.yaml:3: event: want one of column or value"},
		{"constant messageId", "type: identify\nuserId: u\nmessageId: {value: x}\ntimestamp: ts\n", "events.yaml:3: messageId: a constant would give every message the same id"},
		{"unclosed template", "type: track\nuserId: u\nevent: \"{{a} b\"\ntimestamp: ts\n", "events.yaml:3: event: template"},
		{"empty template part", "type: track\nuserId: u\nevent: \"x {{ }}\"\ntimestamp: ts\n", "events.yaml:3: event: template \"x {{ }}\": empty {{}}"},
		{"field the type lacks", "type: identify\nuserId: u\nevent: e\ntimestamp: ts\n", "events.yaml:3: event: identify messages have no event"},
		{"object the type lacks", "type: identify\nuserId: u\ntimestamp: ts\nproperties: {include: [a]}\n", "events.yaml:4: properties: identify messages have no properties"},
		{"track without event", "type: track\nuserId: u\ntimestamp: ts\n", "events.yaml:1: event: required for track messages"},
		{"alias without previousId", "type: alias\nuserId: u\ntimestamp: ts\n", "events.yaml:1: previousId: required for alias messages"},
		{"unknown timestamp key", "type: identify\nuserId: u\ntimestamp:\n  column: ts\n  fromat: unix\n", `events.yaml:5: timestamp: unknown key "fromat"`},
		{"unknown format", "type: identify\nuserId: u\ntimestamp:\n  column: ts\n  format: iso\n", `events.yaml:5: timestamp.format: unknown format "iso" (want one of rfc3339, unix, unix_ms)`},
		{"timestamp without column", "type: identify\nuserId: u\ntimestamp:\n  format: unix\n", "events.yaml:4: timestamp: column is required"},
		{"bad missing", "type: identify\nuserId: u\ntimestamp:\n  column: ts\n  missing: skip\n", `events.yaml:5: timestamp.missing: want reject or now, not "skip"`},
		{"bad timezone", "type: identify\nuserId: u\ntimestamp:\n  column: ts\n  timezone: Mars/Olympus\n", "events.yaml:5: timestamp.timezone: unknown time zone Mars/Olympus"},
		{"timezone with offset format", "type: identify\nuserId: u\ntimestamp:\n  column: ts\n  timezone: Europe/Berlin\n", "events.yaml:5: timestamp.timezone: format rfc3339 carries its own offset"},
		{"unknown column type", "type: identify\nuserId: u\ntimestamp: ts\ncolumns:\n  a: integer\n", `events.yaml:5: columns.a: unknown type "integer"`},
		{"unknown object key", "type: identify\nuserId: u\ntimestamp: ts\ntraits:\n  inclde: [a]\n", `events.yaml:5: traits: unknown key "inclde"`},
		{"include not a list", "type: identify\nuserId: u\ntimestamp: ts\ntraits:\n  include: a\n", `events.yaml:5: traits.include: want a list of columns, not "a"`},
		{"include twice", "type: identify\nuserId: u\ntimestamp: ts\ntraits:\n  include: [a, b, a]\n", `events.yaml:5: traits.include: column "a" is listed twice`},
		{"rename outside include", "type: identify\nuserId: u\ntimestamp: ts\ntraits:\n  include: [a]\n  rename: {b: c}\n", `events.yaml:6: traits.rename: column "b" is not in include`},
		{"rename collides with include", "type: identify\nuserId: u\ntimestamp: ts\ntraits:\n  include: [a, b]\n  rename: {a: b}\n", `events.yaml:5: traits.include: output key "b" is set by column "a" and by column "b"`},
		{"values collide", "type: identify\nuserId: u\ntimestamp: ts\ntraits:\n  include: [a]\n  values: {a: 1}\n", `events.yaml:6: traits.values: output key "a" is set by column "a" and by values`},
		{"value not JSON", "type: identify\nuserId: u\ntimestamp: ts\ntraits:\n  values:\n    x: .inf\n", "events.yaml:6: traits.values.x: json: unsupported value"},
		{"two objects take the rest", "type: track\nuserId: u\nevent: e\ntimestamp: ts\nproperties:\n  exclude: [a]\ncontext: {}\n", "events.yaml:7: context: takes the remaining columns, and so does properties (line 6)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSpec([]byte(tt.yaml), "events.yaml")
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error\n  %q\nwant it to start with\n  %q", err, tt.want)
			}
		})
	}
}

func TestParseSpecForms(t *testing.T) {
	s := mustSpec(t, `
type:
  column: kind
  values: {click: track, signup: identify}
messageId: {column: id}
userId: user_id
anonymousId: anon
event: "{{ action }} {{object}}!"
name: {value: Home}
timestamp:
  column: ts
  format: unix_ms
  missing: now
columns:
  amount: float
properties:
  include: [amount]
  rename: {amount: revenue}
  values: {source: legacy, nested: {a: [1, 2]}}
context: ~
`)
	if s.Name() != "events.yaml" {
		t.Errorf("Name = %q", s.Name())
	}
	if s.typ.column != "kind" || s.typ.values["signup"] != "identify" {
		t.Errorf("type = %+v", s.typ)
	}
	ev := s.fields[fieldEvent]
	if ev.kind != textTemplate || len(ev.parts) != 4 || ev.parts[0].column != "action" || ev.parts[1].text != " " || ev.parts[3].text != "!" {
		t.Errorf("event = %+v", ev)
	}
	if f := s.fields[fieldName]; f.kind != textConst || f.value != "Home" {
		t.Errorf("name = %+v", f)
	}
	if s.ts.format != "unix_ms" || !s.ts.missingNow {
		t.Errorf("timestamp = %+v", s.ts)
	}
	if s.remaining != objContext {
		t.Errorf("remaining = %d, want context", s.remaining)
	}
	props := s.objects[objProperties]
	if got := string(props.values[1].value); got != `{"a":[1,2]}` {
		t.Errorf("values.nested = %s", got)
	}
}

func TestLoadSpec(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.yaml")
	if err := os.WriteFile(path, []byte("type: identify\nuserId: u\ntimestamp: ts\nbogus: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadSpec(path)
	if err == nil || !strings.HasPrefix(err.Error(), `m.yaml:4: unknown key "bogus"`) {
		t.Errorf("LoadSpec error = %v", err)
	}
	if _, err := LoadSpec(filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("LoadSpec of a missing file: %v", err)
	}
}

func TestCompileSchemaErrors(t *testing.T) {
	spec := `type: track
userId: uid
event: "{{verb}} {{noun}}"
timestamp: ts
columns:
  amount: float
properties:
  exclude: [note]
`
	tests := []struct {
		name   string
		schema []string
		want   string
	}{
		{"missing id column", []string{"verb", "noun", "ts", "amount", "note"}, `events.yaml:2: userId: column "uid" is not in the file (columns: verb, noun, ts, amount, note)`},
		{"missing template column", []string{"uid", "verb", "ts", "amount", "note"}, `events.yaml:3: event: column "noun" is not in the file`},
		{"missing timestamp column", []string{"uid", "verb", "noun", "amount", "note"}, `events.yaml:4: timestamp: column "ts" is not in the file`},
		{"missing declared column", []string{"uid", "verb", "noun", "ts", "note"}, `events.yaml:6: columns: column "amount" is not in the file`},
		{"missing excluded column", []string{"uid", "verb", "noun", "ts", "amount"}, `events.yaml:8: properties.exclude: column "note" is not in the file`},
		{"duplicate column", []string{"uid", "verb", "noun", "ts", "amount", "note", "ts"}, `events.yaml: the file has two columns named "ts"`},
	}
	s := mustSpec(t, spec)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Compile(tt.schema, Options{})
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("Compile error\n  %v\nwant\n  %s", err, tt.want)
			}
		})
	}
	if _, err := s.Compile([]string{"uid", "verb", "noun", "ts", "amount", "note"}, Options{}); err != nil {
		t.Errorf("Compile with every column: %v", err)
	}
	if _, err := s.Compile(nil, Options{}); err != nil {
		t.Errorf("Compile schemaless: %v", err)
	}
}
