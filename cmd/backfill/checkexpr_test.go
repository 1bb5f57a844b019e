package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckNamesDropRulesAndFailingExpressions checks that check shows,
// for each sampled row, the drop rule that filtered it or the expression
// that rejected it, and counts the filtered rows by rule.
func TestCheckNamesDropRulesAndFailingExpressions(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	src := filepath.Join(dir, "events.ndjson")
	writeFile(t, src, []byte(`{"event":"Viewed","user":"u1","ts":"2024-03-01T12:00:00Z","signup":"01/03/2024"}
{"event":"$merge","user":"u2","ts":"2024-03-01T12:01:00Z"}
{"event":"Viewed","user":"u3","ts":"2024-03-01T12:02:00Z","signup":"2024-03-01"}
{"event":"$merge","user":"u4","ts":"2024-03-01T12:03:00Z"}
`))
	mapping := filepath.Join(dir, "m.yaml")
	writeFile(t, mapping, []byte(`type: track
userId: user
event: event
timestamp: ts
drop:
  merges: 'event == "$merge"'
properties:
  include: []
  values:
    signed_up: {expr: 'parseTime(signup, "%d/%m/%Y", "UTC")'}
`))
	var stdout, stderr lockedBuffer
	code := run(context.Background(), []string{"check", "--rows", "4", "--mapping", mapping, src}, &stdout, &stderr)
	if code != exitRejects {
		t.Fatalf("exit %d, want %d: %s", code, exitRejects, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{
		`"signed_up": "2024-03-01T00:00:00.000Z"`,
		"/events.ndjson:2\nrow:     {\"event\":\"$merge\",\"user\":\"u2\",\"ts\":\"2024-03-01T12:01:00Z\"}\n",
		"outcome: filtered by drop rule \"merges\"\n",
		"outcome: rejected (expression_failed): " + src + ":3: properties.values.signed_up: expression \"parseTime(signup, \\\"%d/%m/%Y\\\", \\\"UTC\\\")\" (line 10): parseTime: does not match format \"%d/%m/%Y\"",
		"== 4 rows in 1 file: 1 would be sent, 1 rejected, 2 filtered\n",
		"== filtered by drop rule:\n  merges                      2\n",
		"expression_failed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestImportCountsFilteredRowsByDropRule checks that an import's summary
// and status count the rows each drop rule filtered.
func TestImportCountsFilteredRowsByDropRule(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	src := filepath.Join(dir, "events.ndjson")
	writeFile(t, src, []byte(`{"event":"Viewed","user":"u1","ts":"2024-03-01T12:00:00Z"}
{"event":"$merge","user":"u2","ts":"2024-03-01T12:01:00Z"}
{"event":"Viewed","user":"qa-3","ts":"2024-03-01T12:02:00Z"}
{"event":"$merge","user":"u4","ts":"2024-03-01T12:03:00Z"}
`))
	mapping := filepath.Join(dir, "m.yaml")
	writeFile(t, mapping, []byte(`type: track
userId: user
event: event
timestamp: ts
drop:
  merges: 'event == "$merge"'
  qa: 'user startsWith "qa-"'
`))
	cp := filepath.Join(dir, "cp.json")
	var stdout, stderr lockedBuffer
	code := run(context.Background(), []string{"import", "--stub", "--progress", "never", "--checkpoint", cp, "--mapping", mapping, src}, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	for _, want := range []string{"  filtered   3\n", "    drop: merges           2\n", "    drop: qa               1\n"} {
		if !strings.Contains(stdout.String()+stderr.String(), want) {
			t.Errorf("summary lacks %q:\n%s%s", want, stdout.String(), stderr.String())
		}
	}
	var out, errs lockedBuffer
	if code := run(context.Background(), []string{"status", "--checkpoint", cp}, &out, &errs); code != exitOK {
		t.Fatalf("status exit %d: %s", code, errs.String())
	}
	if want := "  filtered by drop rule: merges 2, qa 1\n"; !strings.Contains(out.String(), want) {
		t.Errorf("status lacks %q:\n%s", want, out.String())
	}
}
