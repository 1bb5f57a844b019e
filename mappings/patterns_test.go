package mappings

import (
	"reflect"
	"strings"
	"testing"

	"github.com/backfillhq/backfill/sink"
)

// TestPatternErrors checks the patterns of include, exclude and rename
// that are refused, when the spec is parsed or compiled against a header.
func TestPatternErrors(t *testing.T) {
	head := "type: track\nuserId: u\nevent: e\ntimestamp: ts\n"
	header := []string{"u", "e", "ts", "utm_source", "plan"}
	for _, tc := range []struct {
		name, spec string
		schema     []string
		want       string
	}{
		{"exclude matches nothing in the header", head + "properties:\n  exclude: [\"$mp_*\"]\n", header,
			`m.yaml:6: properties.exclude: pattern "$mp_*" matches no column of the file (columns: u, e, ts, utm_source, plan)`},
		{"include matches nothing in the header", head + "context:\n  include: [\"gclid*\"]\n", header,
			`m.yaml:6: context.include: pattern "gclid*" matches no column of the file (columns: u, e, ts, utm_source, plan)`},
		{"rename matches nothing in the header", head + "properties:\n  rename: {\"x_*\": \"y_*\"}\n", header,
			`m.yaml:6: properties.rename: pattern "x_*" matches no column of the file (columns: u, e, ts, utm_source, plan)`},
		{"include pattern without a header", head + "context:\n  include: [\"utm_*\"]\n", nil,
			`m.yaml:6: context.include: pattern "utm_*": include patterns need a header (CSV, Parquet)`},
		{"rename target without a star", head + "properties:\n  rename: {\"utm_*\": campaign}\n", header,
			`m.yaml:6: properties.rename: pattern "utm_*" is renamed to "campaign": the new key needs one * for the part the pattern's * matched`},
		{"rename target with a dot", head + "properties:\n  rename: {\"utm_*\": campaign.*}\n", header,
			`m.yaml:6: properties.rename: pattern "utm_*" is renamed to "campaign.*": a pattern renames to a flat key, without dots`},
		{"rename pattern with two stars", head + "properties:\n  rename: {\"*_*\": \"x_*\"}\n", header,
			`m.yaml:6: properties.rename: pattern "*_*": a rename pattern has exactly one * (and no ? or [)`},
		{"malformed pattern", head + "properties:\n  exclude: [\"utm_[\"]\n", header,
			`m.yaml:6: properties.exclude: pattern "utm_[": syntax error in pattern`},
		{"included twice under one key", head + "context:\n  include: [plan, \"utm_*\"]\n  rename: {\"utm_*\": \"pl*\"}\n", []string{"u", "e", "ts", "utm_an", "plan"},
			`m.yaml:6: context.include: column "utm_an", which a pattern includes, goes under the key "plan", which "plan" has already`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec, err := ParseSpec([]byte(tc.spec), "m.yaml")
			if err == nil {
				_, err = spec.Compile(tc.schema, Options{})
			}
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("error\n  %v\nwant it to start with\n  %s", err, tc.want)
			}
		})
	}
}

// TestPatternsColumnsReadAll checks that a spec with include patterns
// asks the reader for every column, since which ones match is known per
// file.
func TestPatternsColumnsReadAll(t *testing.T) {
	spec, err := ParseSpec([]byte("type: track\nuserId: u\nevent: e\ntimestamp: ts\nproperties:\n  include: [\"utm_*\"]\n"), "m.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cols, all := spec.Columns()
	if cols != nil || !all {
		t.Fatalf("Columns() = %q, %v; want nil, true", cols, all)
	}
	got := (&globPattern{pattern: "utm_*", to: "campaign_*"}).renamed("utm_source")
	if !reflect.DeepEqual(got, "campaign_source") {
		t.Fatalf("renamed %q", got)
	}
}

// TestExcludePatternOfAnotherObject checks that an exclude pattern of an
// object with include leaves the columns it matches out of the default
// object that takes the remaining columns.
func TestExcludePatternOfAnotherObject(t *testing.T) {
	schema := []string{"u", "e", "ts", "$mp_lib", "plan", "os"}
	m := mustCompile(t, "type: track\nuserId: u\nevent: e\ntimestamp: ts\ncontext:\n  include: [plan]\n  exclude: [\"$mp_*\"]\n", schema, Options{})
	w := sink.NewMessageWriter(sink.Limits{})
	if err := m.Map(csvRow(2, schema, "u1", "E", "2024-03-01T12:00:00Z", "web", "pro", "mac"), w); err != nil {
		t.Fatal(err)
	}
	want := `"properties":{"os":"mac"},"context":{"plan":"pro",`
	if got := string(w.Bytes()); !strings.Contains(got, want) {
		t.Fatalf("message %s\nwant it to hold %s", got, want)
	}
}

// TestExcludePatternKeepsToItsContainer checks that an exclude pattern of
// an object that takes the row's columns leaves the members of a from
// column alone, as a plain exclude of the row's columns does, and that
// one of an object with from applies to that column's members.
func TestExcludePatternKeepsToItsContainer(t *testing.T) {
	for _, c := range []struct{ spec, want string }{
		{"traits: {exclude: [\"x_*\"]}\ncontext: {from: payload}\n", `"traits":{"plan":"pro"},"context":{"x_m":1,"y":2,`},
		{"context: {from: payload, exclude: [\"x_*\"]}\n", `"traits":{"plan":"pro","x_col":"c"},"context":{"y":2,`},
	} {
		m := mustCompile(t, "type: identify\nuserId: u\ntimestamp: ts\n"+c.spec, nil, Options{})
		w := sink.NewMessageWriter(sink.Limits{})
		row := ndjsonRow(t, 1, `{"u":"u1","ts":"2024-03-01T12:00:00Z","plan":"pro","x_col":"c","payload":{"x_m":1,"y":2}}`)
		if err := m.Map(row, w); err != nil {
			t.Fatal(err)
		}
		if got := string(w.Bytes()); !strings.Contains(got, c.want) {
			t.Errorf("%s: message %s\nwant it to hold %s", c.spec, got, c.want)
		}
	}
}

// TestCheckOptionsNeedsNoHeader checks the id namespace of a mapping whose
// include pattern only a header can resolve: Compile without a schema
// refuses the pattern, CheckOptions looks at the options alone.
func TestCheckOptionsNeedsNoHeader(t *testing.T) {
	s, err := ParseSpec([]byte("type: track\nuserId: u\nevent: e\ntimestamp: ts\nproperties: {include: [\"utm_*\"]}\n"), "m.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CheckOptions(Options{IDNamespace: "trial"}); err != nil {
		t.Fatalf("CheckOptions: %v", err)
	}
	s, err = ParseSpec([]byte("type: track\nuserId: u\nevent: e\ntimestamp: ts\nmessageId: {derive: content, namespace: real}\n"), "m.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := `m.yaml: the id namespace is "real" in the mapping and "trial" in the options: give one`
	if err := s.CheckOptions(Options{IDNamespace: "trial"}); err == nil || err.Error() != want {
		t.Fatalf("CheckOptions: %v, want %s", err, want)
	}
}
