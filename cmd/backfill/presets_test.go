package main

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/backfillhq/backfill/mappings"
	"github.com/backfillhq/backfill/sink"
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

// amplitudeZip is an Amplitude Export API answer: a .zip holding one
// gzipped NDJSON file per hour.
func amplitudeZip(t *testing.T, members map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range []string{"187520/187520_2024-03-01_12#0.json.gz", "187520/187520_2024-03-01_13#0.json.gz"} {
		var gz bytes.Buffer
		w := gzip.NewWriter(&gz)
		if _, err := w.Write([]byte(members[name])); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		f, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(gz.Bytes()); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestPresetAmplitudeZip imports an Amplitude export as downloaded (a
// .zip of gzipped NDJSON) with preset:amplitude: the events of both
// members are written, a reject names the member file and its line, and
// the same .zip on standard input is refused, saying to save it to a file.
func TestPresetAmplitudeZip(t *testing.T) {
	dir := t.TempDir()
	data := amplitudeZip(t, map[string]string{
		"187520/187520_2024-03-01_12#0.json.gz": `{"event_type":"Song Played","user_id":"user_1042","device_id":"d-1","event_time":"2024-03-01 12:00:00.000000","$insert_id":"i-1","uuid":"u-1","event_properties":{"song":"Jolene"},"user_properties":{},"session_id":1709294390000}
{"event_type":"$identify","user_id":"user_1042","device_id":"d-1","event_time":"2024-03-01 12:30:00.000000","$insert_id":"i-2","uuid":"u-2","event_properties":{},"user_properties":{"plan":"pro"}}
`,
		"187520/187520_2024-03-01_13#0.json.gz": `{"event_type":"Song Skipped","user_id":"user_1042","device_id":"d-1","event_time":"2024-03-01 13:00:00.000000","insert_id":"i-3","uuid":"u-3","event_properties":{},"user_properties":{"plan":"pro"},"groups":{"company":"Acme"}}
{"event_type":"Song Played","user_id":"user_1042","device_id":"d-1","event_time":null,"uuid":"u-4","event_properties":{},"user_properties":{}}
`,
	})
	if err := os.WriteFile(filepath.Join(dir, "export.zip"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := cliRun(t, dir, nil, "import", "--mapping", "preset:amplitude", "--output", "out.ndjson", "--rejects", "rejects.ndjson", "export.zip")
	if code != exitRejects {
		t.Fatalf("exit %d, want %d: %s%s", code, exitRejects, stdout, stderr)
	}
	out, err := os.ReadFile(filepath.Join(dir, "out.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"type":"track","messageId":"i-1","timestamp":"2024-03-01T12:00:00.000Z","userId":"user_1042","anonymousId":"d-1","event":"Song Played","properties":{"song":"Jolene"},"context":{"device":{"id":"d-1"},"library":{"name":"backfill","version":"` + sink.Version + `"}},"integrations":{"Amplitude":{"session_id":1709294390000}}}
{"type":"identify","messageId":"i-2","timestamp":"2024-03-01T12:30:00.000Z","userId":"user_1042","anonymousId":"d-1","traits":{"plan":"pro"},"context":{"device":{"id":"d-1"},"library":{"name":"backfill","version":"` + sink.Version + `"}}}
{"type":"track","messageId":"i-3","timestamp":"2024-03-01T13:00:00.000Z","userId":"user_1042","anonymousId":"d-1","event":"Song Skipped","context":{"device":{"id":"d-1"},"traits":{"plan":"pro"},"library":{"name":"backfill","version":"` + sink.Version + `"}},"integrations":{"Amplitude":{"groups":{"company":"Acme"}}}}
`
	if got := string(out); got != want {
		t.Errorf("messages\n%s\nwant\n%s", got, want)
	}
	rejects, err := os.ReadFile(filepath.Join(dir, "rejects.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(rejects), `"file":"export.zip!187520/187520_2024-03-01_13#0.json.gz"`) || !strings.Contains(string(rejects), `"reason":"missing_timestamp"`) || strings.Count(string(rejects), "\n") != 1 {
		t.Errorf("rejects:\n%s", rejects)
	}

	cmd := exec.Command(binary(t), "import", "--mapping", "preset:amplitude", "--output", "-", "-")
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(data)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	err = cmd.Run()
	if code := exitCodeOf(t, err, errb.String()); code == exitOK || code == exitRejects ||
		!strings.Contains(errb.String(), "save the input to a file and import that file instead") {
		t.Errorf("a .zip on standard input: exit %d, stderr %q", code, errb.String())
	}
}
