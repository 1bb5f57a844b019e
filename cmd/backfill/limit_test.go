package main

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestCase18Limit imports the first 3 rows of two CSV files with --limit
// through the built command into serve, then runs the command without
// --limit, which imports the rest: every row arrives once, and the first
// run says in its summary and its report that it stopped at the limit.
func TestCase18Limit(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	url, out, stop := serveProcess(t, bin, dir)
	writeFile(t, filepath.Join(dir, "m.yaml"), []byte("type: track\nmessageId: id\nuserId: user\nevent: {value: E}\ntimestamp: ts\n"))
	var all []string
	for _, name := range []string{"a", "b"} {
		csv := "id,user,ts\n"
		for i := 1; i <= 2; i++ {
			id := fmt.Sprintf("%s-%d", name, i)
			csv += fmt.Sprintf("%s,u,2024-03-01T12:00:0%dZ\n", id, i)
			all = append(all, id)
		}
		if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, "logs", name+".csv"), []byte(csv))
	}
	stdout, stderr, code := runBinary(t, bin, dir, "import", "--endpoint", url, "--progress", "never",
		"--mapping", "m.yaml", "--report", "first.json", "--limit", "3", "logs")
	if code != exitOK {
		t.Fatalf("import --limit 3 exited with %d: %s", code, stderr)
	}
	want := "  stopped after the first 3 rows (--limit); the checkpoint keeps the place: run the command without --limit to import the rest\n"
	if !strings.Contains(stdout, want) || !strings.HasPrefix(stdout, "import stopped in ") {
		t.Fatalf("summary:\n%s\nwant it stopped, with the line\n%s", stdout, want)
	}
	rep := readReport(t, filepath.Join(dir, "first.json"))
	if rep.Limit != 3 || !rep.LimitReached || rep.Complete || rep.RowsRead != 3 || rep.Delivered != 3 {
		t.Fatalf("report of the first run: %+v", rep)
	}
	_, stderr, code = runBinary(t, bin, dir, "import", "--endpoint", url, "--progress", "never",
		"--mapping", "m.yaml", "--report", "second.json", "logs")
	if code != exitOK {
		t.Fatalf("import without --limit exited with %d: %s", code, stderr)
	}
	rep = readReport(t, filepath.Join(dir, "second.json"))
	if rep.Limit != 0 || rep.LimitReached || !rep.Complete || !rep.Resumed || rep.RowsRead != 4 || rep.Delivered != 4 {
		t.Fatalf("report of the second run: %+v", rep)
	}
	stop()
	if got := receivedIDs(t, out); !reflect.DeepEqual(got, all) {
		t.Fatalf("received %q, want %q once each", got, all)
	}
	_, stderr, code = runBinary(t, bin, dir, "import", "--dry-run", "--limit", "-1", "logs")
	if want := "backfill import: --limit is -1, want a number of rows (0: every row)\n"; code != exitUsage || stderr != want {
		t.Fatalf("--limit -1: exit %d, stderr %q; want %d, %q", code, stderr, exitUsage, want)
	}
}
