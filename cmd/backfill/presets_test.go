package main

import (
	"strings"
	"testing"

	"github.com/backfillhq/backfill/mappings"
)

// TestPresetsListAndPrint runs backfill presets: alone it lists every
// preset with one line each; with a name it prints the preset, which is
// a mapping that parses as it is (a user's copy to edit); an unknown name
// is a usage error naming the presets.
func TestPresetsListAndPrint(t *testing.T) {
	dir := t.TempDir()
	stdout, stderr, code := cliRun(t, dir, nil, "presets")
	want := `presets (use with --mapping preset:NAME; print one to copy and edit with backfill presets NAME):
  amplitude        Amplitude's Export API (a .zip of gzipped NDJSON files).
  ga4              Google Analytics 4's BigQuery export (events_*), as NDJSON or Parquet.
  mixpanel         Mixpanel's raw event export (NDJSON of /api/2.0/export).
  mixpanel-people  Mixpanel's user profiles (Engage API export).
  posthog          PostHog's event export (batch exports to S3, file downloads).
  segment          Segment messages already (Segment's S3 archive, --output files).
`
	if code != exitOK || stderr != "" || stdout != want {
		t.Errorf("backfill presets: exit %d, stderr %q, stdout\n%s\nwant\n%s", code, stderr, stdout, want)
	}
	for _, name := range mappings.Presets() {
		for _, arg := range []string{name, "preset:" + name} {
			stdout, stderr, code := cliRun(t, dir, nil, "presets", arg)
			src, err := mappings.PresetSource(name)
			if err != nil {
				t.Fatal(err)
			}
			if code != exitOK || stderr != "" || stdout != string(src) {
				t.Errorf("backfill presets %s: exit %d, stderr %q, and not the preset's text", arg, code, stderr)
			}
			if _, err := mappings.ParseSpec([]byte(stdout), name+".yaml"); err != nil {
				t.Errorf("backfill presets %s prints no mapping: %v", arg, err)
			}
		}
	}
	_, stderr, code = cliRun(t, dir, nil, "presets", "heap")
	wantErr := `backfill presets: unknown mapping preset "heap" (want one of amplitude, ga4, mixpanel, mixpanel-people, posthog, segment)`
	if code != exitUsage || !strings.Contains(stderr, wantErr) {
		t.Errorf("backfill presets heap: exit %d, stderr %q; want %d and %q", code, stderr, exitUsage, wantErr)
	}
}
