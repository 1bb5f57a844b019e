package importer

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/backfillhq/backfill/mappings"
)

// TestRunCountsFilteredRowsByDropRule runs a mapping with two drop rules
// and checks that the report, its text and the checkpoint count the
// filtered rows under each rule's name, and that the counts add up.
func TestRunCountsFilteredRowsByDropRule(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "events.csv")
	csv := "event,user,email,ts\n" +
		"Signed Up,u1,a@example.com,2024-03-01T12:00:00Z\n" +
		"$merge,u2,,2024-03-01T12:01:00Z\n" +
		"Viewed,u3,qa@test.example,2024-03-01T12:02:00Z\n" +
		"$merge,u4,,2024-03-01T12:03:00Z\n" +
		"Viewed,u5,b@example.com,2024-03-01T12:04:00Z\n" +
		"Viewed,u6,,2024-03-01T12:05:00Z\n"
	if err := os.WriteFile(src, []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	spec, err := mappings.ParseSpec([]byte(`type: track
userId: user
event: event
timestamp: ts
drop:
  merges: 'event == "$merge"'
  test_users: 'email endsWith "@test.example"'
`), "m.yaml")
	if err != nil {
		t.Fatal(err)
	}
	fs := &fakeSink{send: accept}
	cfg := Config{
		Sources:        []string{src},
		Spec:           spec,
		Sink:           fs,
		RejectsPath:    filepath.Join(dir, "r.ndjson"),
		CheckpointPath: filepath.Join(dir, "cp.json"),
	}
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.Check(); err != nil {
		t.Fatal(err)
	}
	if rep.RowsRead != 6 || rep.Delivered != 3 || rep.Filtered != 3 || rep.Rejected != 0 {
		t.Fatalf("report %+v", rep)
	}
	want := map[string]int64{"merges": 2, "test_users": 1}
	if !reflect.DeepEqual(rep.FilteredByRule, want) {
		t.Fatalf("filtered by rule %v, want %v", rep.FilteredByRule, want)
	}
	text := rep.Summary()
	for _, line := range []string{"  filtered   3\n", "    drop: merges           2\n", "    drop: test_users       1\n"} {
		if !strings.Contains(text, line) {
			t.Errorf("report text lacks %q:\n%s", line, text)
		}
	}
	cp, err := LoadCheckpoint(cfg.CheckpointPath)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cp.Totals.FilteredByRule, want) {
		t.Fatalf("checkpoint filtered by rule %v, want %v", cp.Totals.FilteredByRule, want)
	}
	// A second run finds the import complete and reports the same counts.
	rep2, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rep2.FilteredByRule, want) {
		t.Fatalf("second run: filtered by rule %v, want %v", rep2.FilteredByRule, want)
	}
}
