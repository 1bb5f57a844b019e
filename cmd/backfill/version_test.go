package main

import (
	"path/filepath"
	"runtime"
	"testing"
)

// TestVersionStamped builds the command as a release build outside a
// checkout does, with the version given at link time, and reads it back
// from backfill version, backfill --version and the context.library of
// the messages it writes, where the message has none of its own.
func TestVersionStamped(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "backfill")
	build := goBuild("-ldflags=-X github.com/backfillhq/backfill/internal/version.stamp=v1.2.3-test", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v: %s", err, out)
	}
	dir := t.TempDir()
	want := "backfill v1.2.3-test\n  go        " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + "\n"
	for _, args := range [][]string{{"version"}, {"--version"}} {
		stdout, stderr, code := runBinary(t, bin, dir, args...)
		if code != exitOK || stdout != want || stderr != "" {
			t.Errorf("backfill %s: exit %d, stdout %q, stderr %q; want exit 0, stdout %q", args[0], code, stdout, stderr, want)
		}
	}

	writeFile(t, filepath.Join(dir, "events.ndjson"), []byte(
		`{"type":"track","userId":"u1","event":"E","timestamp":"2024-03-01T10:30:00Z","messageId":"m1"}`+"\n"+
			`{"type":"track","userId":"u2","event":"E","timestamp":"2024-03-01T10:30:00Z","messageId":"m2","context":{"library":{"name":"analytics.js","version":"4.1.0"}}}`+"\n"))
	stdout, stderr, code := runBinary(t, bin, dir, "import", "--dry-run", "--progress", "never", "events.ndjson")
	wantOut := `{"type":"track","messageId":"m1","timestamp":"2024-03-01T10:30:00.000Z","userId":"u1","event":"E","context":{"library":{"name":"backfill","version":"v1.2.3-test"}}}` + "\n" +
		`{"type":"track","messageId":"m2","timestamp":"2024-03-01T10:30:00.000Z","userId":"u2","event":"E","context":{"library":{"name":"analytics.js","version":"4.1.0"}}}` + "\n"
	if code != exitOK || stdout != wantOut {
		t.Errorf("import --dry-run: exit %d, stdout\n%s\nwant\n%s\nstderr:\n%s", code, stdout, wantOut, stderr)
	}
}
