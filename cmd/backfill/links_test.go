package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// runBinary runs the built command in dir with the test's write key and
// returns its stdout, its stderr and its exit code.
func runBinary(t *testing.T, bin, dir string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SEGMENT_WRITE_KEY=crash-key")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), exitCodeOf(t, err, errb.String())
}

// receivedIDs returns the sorted messageIds the receiver wrote to out.
func receivedIDs(t *testing.T, out string) []string {
	t.Helper()
	var ids []string
	for id := range received(t, out) {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// TestCase16SymlinkedFolderSource imports, through the built command, a
// folder given as a symbolic link without a trailing slash, whose files
// sit in a linked sub-folder, beside a link to the folder itself (a loop)
// and a dangling link: every file is read once, and the dangling link is
// named once on stderr and in the report.
func TestCase16SymlinkedFolderSource(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	url, out, stop := serveProcess(t, bin, dir)
	for _, d := range []string{"real/events", "shared"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(dir, "real/events/a.ndjson"),
		[]byte(`{"type":"track","messageId":"a-1","userId":"u1","event":"E","timestamp":"2024-03-01T12:00:00Z"}`+"\n"))
	writeFile(t, filepath.Join(dir, "shared/b.ndjson"),
		[]byte(`{"type":"track","messageId":"b-1","userId":"u2","event":"E","timestamp":"2024-03-01T12:00:01Z"}`+"\n"))
	for _, l := range [][2]string{
		{"real", "linked"},                        // the source
		{"../../shared", "real/events/more"},      // a linked sub-folder
		{"../../shared", "real/events/again"},     // the same folder again
		{"..", "real/events/up"},                  // a loop
		{"gone.ndjson", "real/events/old.ndjson"}, // dangling
	} {
		if err := os.Symlink(l[0], filepath.Join(dir, l[1])); err != nil {
			t.Skip("no symbolic links:", err)
		}
	}
	_, stderr, code := runBinary(t, bin, dir, "import", "--endpoint", url, "--progress", "never",
		"--report", "report.json", "linked")
	if code != exitOK {
		t.Fatalf("import exited with %d: %s", code, stderr)
	}
	stop()
	if got, want := receivedIDs(t, out), []string{"a-1", "b-1"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("received %q, want %q", got, want)
	}
	warning := "backfill import: warning: skipped linked/events/old.ndjson, a symbolic link to gone.ndjson that leads to no file: no such file or directory\n"
	if strings.Count(stderr, "warning:") != 1 || !strings.Contains(stderr, warning) {
		t.Fatalf("stderr:\n%s\nwant the warning once:\n%s", stderr, warning)
	}
	rep := readReport(t, filepath.Join(dir, "report.json"))
	if rep.Files != 2 || rep.Delivered != 2 || !reflect.DeepEqual(rep.BrokenLinks, []string{"linked/events/old.ndjson"}) {
		t.Fatalf("report: %d files, %d delivered, broken links %q; want 2, 2, [linked/events/old.ndjson]", rep.Files, rep.Delivered, rep.BrokenLinks)
	}
}
