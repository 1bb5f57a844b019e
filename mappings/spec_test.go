package mappings

import (
	"os"
	"path/filepath"
	"slices"
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
		{"type without column", "type:\n  values: {a: track}\nuserId: u\ntimestamp: ts\n", "events.yaml:2: type: column or expr is required"},
		{"unknown key in type", "type:\n  column: k\n  value: x\nuserId: u\ntimestamp: ts\n", `events.yaml:3: type: unknown key "value"`},
		{"null id", "type: identify\nuserId:\ntimestamp: ts\n", "events.yaml:2: userId: want a string, not null"},
		{"id is a list", "type: identify\nuserId: [a]\ntimestamp: ts\n", "events.yaml:2: userId: want a mapping, not a list"},
		{"unknown key in field", "type: track\nuserId: u\nevent: {valu: x}\ntimestamp: ts\n", `events.yaml:3: event: unknown key "valu"`},
		{"two keys in field", "type: track\nuserId: u\nevent: {value: x, column: y}\ntimestamp: ts\n", "events.yaml:3: event: want one of column, value or expr"},
		{"constant messageId", "type: identify\nuserId: u\nmessageId: {value: x}\ntimestamp: ts\n", "events.yaml:3: messageId: a constant would give every message the same id"},
		{"unclosed template", "type: track\nuserId: u\nevent: \"{{a} b\"\ntimestamp: ts\n", "events.yaml:3: event: template"},
		{"empty template part", "type: track\nuserId: u\nevent: \"x {{ }}\"\ntimestamp: ts\n", "events.yaml:3: event: template \"x {{ }}\": empty {{}}"},
		{"field the type lacks", "type: identify\nuserId: u\nevent: e\ntimestamp: ts\n", "events.yaml:3: event: identify messages have no event"},
		{"object the type lacks", "type: identify\nuserId: u\ntimestamp: ts\nproperties: {include: [a]}\n", "events.yaml:4: properties: identify messages have no properties"},
		{"track without event", "type: track\nuserId: u\ntimestamp: ts\n", "events.yaml:1: event: required for track messages"},
		{"alias without previousId", "type: alias\nuserId: u\ntimestamp: ts\n", "events.yaml:1: previousId: required for alias messages"},
		{"unknown timestamp key", "type: identify\nuserId: u\ntimestamp:\n  column: ts\n  fromat: unix\n", `events.yaml:5: timestamp: unknown key "fromat"`},
		{"unknown format", "type: identify\nuserId: u\ntimestamp:\n  column: ts\n  format: iso\n", `events.yaml:5: timestamp.format: unknown format "iso" (want one of rfc3339, iso8601, unix, unix_ms, unix_us, unix_ns, a Go layout`},
		{"timestamp without column", "type: identify\nuserId: u\ntimestamp:\n  format: unix\n", "events.yaml:4: timestamp: column is required"},
		{"bad missing", "type: identify\nuserId: u\ntimestamp:\n  column: ts\n  missing: skip\n", `events.yaml:5: timestamp.missing: want reject or now, not "skip"`},
		{"bad timezone", "type: identify\nuserId: u\ntimestamp:\n  column: ts\n  timezone: Mars/Olympus\n", `events.yaml:5: timestamp.timezone: unknown timezone "Mars/Olympus" (want an IANA name`},
		{"timezone with offset layout", "type: identify\nuserId: u\ntimestamp:\n  column: ts\n  format: 2006-01-02T15:04:05-07:00\n  timezone: Europe/Berlin\n", `events.yaml:6: timestamp.timezone: format "2006-01-02T15:04:05-07:00" carries its own offset`},
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

func TestParseSpecFeatureErrors(t *testing.T) {
	const head = "type: track\nuserId: u\nevent: e\ntimestamp: ts\n"
	tests := []struct {
		name string
		yaml string
		want string
	}{
		{"passthrough with other keys", "passthrough: true\ntype: track\n", `events.yaml:2: "type" cannot go with passthrough: true`},
		{"passthrough not a bool", "passthrough: yes please\n", "events.yaml:1: passthrough: want true or false"},
		{"passthrough false alone", "passthrough: false\n", "events.yaml:1: passthrough: false, and nothing else"},
		{"bad type default", "type: {column: k, default: click}\nuserId: u\ntimestamp: ts\n", `events.yaml:1: type.default: unknown message type "click"`},
		{"naive format without timezone", "type: identify\nuserId: u\ntimestamp:\n  column: ts\n  format: \"%Y-%m-%d %H:%M\"\n", `events.yaml:5: timestamp.format: format "%Y-%m-%d %H:%M" has no zone`},
		{"unsupported directive", "type: identify\nuserId: u\ntimestamp:\n  column: ts\n  format: \"%Y-%V\"\n  timezone: UTC\n", "events.yaml:5: timestamp.format: format \"%Y-%V\": directive %V is not supported"},
		{"timestamp column list empty", "type: identify\nuserId: u\ntimestamp:\n  column: []\n", "events.yaml:4: timestamp.column: want at least one column"},
		{"column list twice", "type: identify\nuserId: {column: [a, a]}\ntimestamp: ts\n", `events.yaml:2: userId.column: column "a" is listed twice`},
		{"empty path step", "type: identify\nuserId: user..id\ntimestamp: ts\n", `events.yaml:2: userId: column "user..id": a path cannot have an empty step`},
		{"template empty path step", "type: track\nuserId: u\nevent: \"{{a.}}\"\ntimestamp: ts\n", `events.yaml:3: event: template "{{a.}}": column "a.": a path cannot have an empty step`},
		{"column decl without type", "type: identify\nuserId: u\ntimestamp: ts\ncolumns:\n  a: {format: unix}\n", "events.yaml:5: columns.a: type is required"},
		{"format on a non-timestamp", "type: identify\nuserId: u\ntimestamp: ts\ncolumns:\n  a: {type: int, format: unix}\n", "events.yaml:5: columns.a: format and timezone are for columns of type timestamp"},
		{"naive declared timestamp", "type: identify\nuserId: u\ntimestamp: ts\ncolumns:\n  a: {type: timestamp, format: \"2006-01-02\"}\n", `events.yaml:5: columns.a.format: format "2006-01-02" has no zone`},
		{"declared timestamp bad timezone", "type: identify\nuserId: u\ntimestamp: ts\ncolumns:\n  a: {type: timestamp, timezone: Nowhere}\n", `events.yaml:5: columns.a.timezone: unknown timezone "Nowhere"`},
		{"unknown key in column decl", "type: identify\nuserId: u\ntimestamp: ts\ncolumns:\n  a: {type: int, fmt: x}\n", `events.yaml:5: columns.a: unknown key "fmt"`},
		{"timestamp column declared timestamp", "type: identify\nuserId: u\ntimestamp: ts\ncolumns:\n  ts: timestamp\n", "events.yaml:5: columns.ts: the timestamp column is read by timestamp:"},
		{"from with include", head + "properties:\n  from: p\n  include: [a]\n", `events.yaml:7: properties.include: an object with from takes the members of "p"`},
		{"two objects from one column", head + "properties: {from: p}\ncontext: {from: p}\n", `events.yaml:6: context: takes the members of "p", and so does properties (line 5)`},
		{"value and parent", head + "properties:\n  values: {a: 1, a.b: 2}\n", `events.yaml:6: properties.values: output key "a" is set by values, so values cannot put "a.b" inside it`},
		{"parent and value", head + "properties:\n  rename: {x: a.b}\n  values: {a: 1}\n", `events.yaml:7: properties.values: output key "a" is set by values, and column "x" puts members inside it`},
		{"include key and nested rename", head + "context:\n  include: [os]\n  rename: {os: os.name, v: os}\n", `events.yaml:7: context.rename: column "v" is not in include`},
		{"two renames to one key", head + "context:\n  rename: {a: os.name, b: os.name}\n", `events.yaml:6: context.rename: output key "os.name" is set by column "a" and by column "b"`},
		{"rename to empty part", head + "context:\n  rename: {a: os..name}\n", `events.yaml:6: context.rename: column "a" is renamed to "os..name", a key with an empty part`},
		{"values key with empty part", head + "context:\n  values: {\"a.\": 1}\n", `events.yaml:6: context.values: "a." is not a key`},
		{"unknown object key", head + "properties:\n  form: p\n", `events.yaml:6: properties: unknown key "form" (want include, exclude, rename, values or from)`},
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

func TestSpecFingerprintAndPassthrough(t *testing.T) {
	a := mustSpec(t, "type: identify\nuserId: u\ntimestamp: ts\n")
	b := mustSpec(t, "type: identify\nuserId: u\ntimestamp: ts\n")
	c := mustSpec(t, "type: identify\nuserId: v\ntimestamp: ts\n")
	if a.Fingerprint() != b.Fingerprint() || a.Fingerprint() == c.Fingerprint() || len(a.Fingerprint()) != 64 {
		t.Errorf("fingerprints %s %s %s", a.Fingerprint(), b.Fingerprint(), c.Fingerprint())
	}
	if a.Passthrough() {
		t.Errorf("a mapping reports passthrough")
	}
	p := mustSpec(t, "# Segment messages\npassthrough: true\n")
	if !p.Passthrough() {
		t.Fatal("passthrough: true is not passthrough")
	}
	m, err := p.Compile([]string{"anything"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.(*passthrough); !ok {
		t.Errorf("Compile of passthrough: true = %T", m)
	}
}

// TestSpecColumns checks the columns a spec needs rows to have.
func TestSpecColumns(t *testing.T) {
	for _, tt := range []struct {
		name, spec string
		cols       []string // nil: all
	}{
		{"remaining columns go to properties", "type: track\nuserId: u\nevent: e\ntimestamp: ts\n", nil},
		{"properties take the rest", "type: track\nuserId: u\nevent: e\ntimestamp: ts\nproperties: {exclude: [x]}\n", nil},
		{"passthrough", "passthrough: true\n", nil},
		{"include only", "type: track\nuserId: u\nevent: e\ntimestamp: {column: [ts, ts2]}\nproperties: {include: [a, b.c], rename: {a: alpha}}\n",
			[]string{"u", "e", "ts", "ts2", "a", "b.c", "b"}},
		{"template and type column", "type: {column: kind, values: {p: page}, default: track}\nanonymousId: \"{{dev}}-{{seq}}\"\nevent: e\nname: n\n" +
			"timestamp: ts\nproperties: {include: [a]}\ntraits: {include: [t]}\ncontext: {include: [ip]}\n",
			[]string{"kind", "dev", "seq", "e", "n", "ts", "a", "t", "ip"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			spec := mustSpec(t, tt.spec)
			cols, all := spec.Columns()
			if tt.cols == nil {
				if !all {
					t.Errorf("Columns() = %q, want all", cols)
				}
				return
			}
			slices.Sort(cols)
			want := slices.Clone(tt.cols)
			slices.Sort(want)
			if all || !slices.Equal(cols, want) {
				t.Errorf("Columns() = %q, %v; want %q", cols, all, want)
			}
		})
	}
}
