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
