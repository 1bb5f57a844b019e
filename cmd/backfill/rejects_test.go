package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/gofrs/flock"

	"github.com/backfillhq/backfill/importer"
)

// runOut runs the command with args in dir, and returns its exit code, its
// stdout and its stderr.
func runOut(t *testing.T, bin string, args []string, dir string, env ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "SEGMENT_WRITE_KEY=crash-key"), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return exitCodeOf(t, err, errb.String()), out.String(), errb.String()
}

// rejectsByRaw returns the lines of a rejects file, keyed by the raw row;
// a row rejected twice fails the test.
func rejectsByRaw(t *testing.T, path string) map[string]map[string]any {
	t.Helper()
	got := map[string]map[string]any{}
	eachJSONLine(t, path, func(m map[string]any) {
		raw, _ := m["raw"].(string)
		if got[raw] != nil {
			t.Fatalf("%s: row %q is rejected twice", path, raw)
		}
		got[raw] = m
	})
	return got
}

// trackLines returns n NDJSON track messages of prefix, those numbered in
// bad with a timestamp that cannot be parsed.
func trackLines(prefix string, n int, bad ...int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		ts := "2024-03-01T12:00:00Z"
		for _, j := range bad {
			if i == j {
				ts = "yesterday"
			}
		}
		fmt.Fprintf(&b, `{"type":"track","messageId":"%s-%d","userId":"u","event":"E","timestamp":"%s"}`+"\n", prefix, i, ts)
	}
	return b.String()
}

// oneRejectsFile returns the one rejects file of the default layout in
// dir/.backfill, failing the test unless there is exactly one.
func rejectsFilesIn(t *testing.T, dir string) []string {
	t.Helper()
	got, err := filepath.Glob(filepath.Join(dir, importer.DefaultCheckpointDir, "*.rejects*.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(got)
	return got
}

// TestCase1RejectsOnceAfterARestartOrADeletedCheckpoint: by default an
// import keeps its rejects beside its checkpoint; a --restart, and a run
// whose checkpoint was deleted, start a rejects file of their own (the
// earlier one is moved aside, numbered), so each bad row is in it once.
// (A kill before the first checkpoint, and a line torn at the rejects
// buffer's end, are TestCrashPoints' before-first-checkpoint and
// rejects-torn-line cases.)
func TestCase1RejectsOnceAfterARestartOrADeletedCheckpoint(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	url, received, stopServe := serveProcess(t, bin, t.TempDir())
	writeFile(t, filepath.Join(dir, "a.ndjson"), []byte(trackLines("a", 30, 4, 17, 29)))
	args := []string{"import", "--endpoint", url, "--progress", "never", "a.ndjson"}
	var rejects string
	for i, step := range []string{"first", "restart", "checkpoint deleted"} {
		run := args
		switch step {
		case "restart":
			run = append([]string{"import", "--restart"}, args[1:]...)
		case "checkpoint deleted":
			cps, _ := filepath.Glob(filepath.Join(dir, importer.DefaultCheckpointDir, "*.json"))
			if len(cps) != 1 {
				t.Fatalf("checkpoints: %v, want one", cps)
			}
			if err := os.Remove(cps[0]); err != nil {
				t.Fatal(err)
			}
		}
		code, stdout, stderr := runOut(t, bin, run, dir)
		if code != exitRejects {
			t.Fatalf("%s: exit code %d, want %d: %s", step, code, exitRejects, stderr)
		}
		files := rejectsFilesIn(t, dir)
		if len(files) == 0 {
			t.Fatalf("%s: no rejects file in %s", step, importer.DefaultCheckpointDir)
		}
		rejects = files[len(files)-1] // NAME.rejects.ndjson sorts after NAME.rejects.N.ndjson
		rel, _ := filepath.Rel(dir, rejects)
		if !strings.Contains(stdout, "rejects written to "+rel) {
			t.Fatalf("%s: the summary does not name the rejects file %s:\n%s", step, rel, stdout)
		}
		if got := rejectsByRaw(t, rejects); len(got) != 3 {
			t.Fatalf("%s: %d rejects, want the 3 bad rows once: %v", step, len(got), keys(got))
		}
		if len(files) != i+1 {
			t.Fatalf("%s: rejects files %v, want this run's and %d moved aside", step, files, i)
		}
		if i > 0 {
			aside := strings.TrimSuffix(rejects, ".ndjson") + fmt.Sprintf(".%d.ndjson", i)
			if !strings.Contains(stdout, "an earlier rejects file was moved aside to "+strings.TrimPrefix(aside, dir+string(filepath.Separator))) {
				t.Fatalf("%s: the summary does not say the earlier rejects file was moved aside to %s:\n%s", step, aside, stdout)
			}
		}
	}
	stopServe()
	if n := countLines(received); n != 3*27 {
		t.Fatalf("the receiver got %d messages, want 3 × 27", n)
	}
}

// TestCase1TwoImportsOfOneRejectsFileAreRefused: an import given the
// --rejects file another run holds stops at once, naming that run, and
// sends nothing.
func TestCase1TwoImportsOfOneRejectsFileAreRefused(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	url, received, stopServe := serveProcess(t, bin, t.TempDir())
	writeFile(t, filepath.Join(dir, "b.ndjson"), []byte(trackLines("b", 5, 2)))
	rejects := filepath.Join(dir, "shared.ndjson")
	lock := flock.New(importer.LockPath(rejects))
	if ok, err := lock.TryLock(); err != nil || !ok {
		t.Fatalf("lock: %v, %v", ok, err)
	}
	defer lock.Unlock()
	writeFile(t, importer.LockPath(rejects), []byte(` {"pid":4243,"host":"build-8","since":"2026-12-06T02:50:00Z"}`+"\n"))
	code, _, stderr := runOut(t, bin, []string{"import", "--endpoint", url, "--progress", "never", "--rejects", rejects, "b.ndjson"}, dir)
	if code != exitFailed {
		t.Fatalf("exit code %d, want %d: %s", code, exitFailed, stderr)
	}
	if want := "backfill import: rejects file " + rejects + " is in use by another run (pid 4243 on host build-8, since 2026-12-06T02:50:00Z); wait for it to end, or stop it\n"; stderr != want {
		t.Fatalf("stderr:\n%s\nwant:\n%s", stderr, want)
	}
	stopServe()
	if n := countLines(received); n != 0 {
		t.Fatalf("the receiver got %d messages, want none", n)
	}
}

// TestCase2ResumingOneImportKeepsAnothersRejects: import a is killed, import
// b runs in the same folder, a resumes: each has a rejects file of its own,
// b's keeps its 10 rejects, a's holds its bad rows once, and status names
// each. Resumed with another --rejects, an import continues in that file,
// the earlier rejects copied in, and says so.
func TestCase2ResumingOneImportKeepsAnothersRejects(t *testing.T) {
	bin := crashBinary(t)
	dir := t.TempDir()
	url, received, stopServe := serveProcess(t, bin, t.TempDir())
	writeFile(t, filepath.Join(dir, "a.ndjson"), []byte(trackLines("a", 200, 3, 150, 190)))
	writeFile(t, filepath.Join(dir, "b.ndjson"), []byte(trackLines("b", 20, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19)))
	writeFile(t, filepath.Join(dir, "c.ndjson"), []byte(trackLines("c", 200, 2, 120)))
	common := []string{"import", "--endpoint", url, "--progress", "never", "--max-batch-messages", "10", "--concurrency", "1", "--checkpoint-interval", "0"}
	importOf := func(src string, extra ...string) []string {
		return append(append(append([]string{}, common...), extra...), src)
	}

	if code, _, stderr := runOut(t, bin, importOf("a.ndjson"), dir, "BACKFILL_CRASH_AT=checkpoint-renamed:3:kill"); code != -9 {
		t.Fatalf("a: exit code %d, want killed: %s", code, stderr)
	}
	if code, _, stderr := runOut(t, bin, importOf("b.ndjson"), dir); code != exitRejects {
		t.Fatalf("b: exit code %d, want %d: %s", code, exitRejects, stderr)
	}
	files := rejectsFilesIn(t, dir)
	if len(files) != 2 {
		t.Fatalf("rejects files %v, want a's and b's", files)
	}
	var aRejects, bRejects string
	for _, f := range files {
		if _, ok := rejectsByRaw(t, f)[`{"type":"track","messageId":"b-1","userId":"u","event":"E","timestamp":"yesterday"}`]; ok {
			bRejects = f
		} else {
			aRejects = f
		}
	}
	if bRejects == "" || aRejects == "" {
		t.Fatalf("rejects files %v: want one of a and one of b", files)
	}
	if code, _, stderr := runOut(t, bin, importOf("a.ndjson"), dir); code != exitRejects {
		t.Fatalf("a resumed: exit code %d, want %d: %s", code, exitRejects, stderr)
	}
	if got := rejectsByRaw(t, bRejects); len(got) != 10 {
		t.Fatalf("b's rejects file holds %d rejects after a resumed, want its 10", len(got))
	}
	if got := rejectsByRaw(t, aRejects); len(got) != 3 {
		t.Fatalf("a's rejects file holds %d rejects, want 3 once: %v", len(got), keys(got))
	}
	code, stdout, stderr := runOut(t, bin, []string{"status"}, dir)
	if code != exitOK {
		t.Fatalf("status: exit code %d: %s", code, stderr)
	}
	for _, f := range []string{aRejects, bRejects} {
		rel, _ := filepath.Rel(dir, f)
		if !strings.Contains(stdout, "  rejects: "+rel+" (see them with: backfill rejects "+rel+")\n") {
			t.Fatalf("status does not name %s:\n%s", rel, stdout)
		}
	}

	// c is killed once a checkpoint covers its first reject, and resumed
	// with another rejects file.
	if code, _, stderr := runOut(t, bin, importOf("c.ndjson"), dir, "BACKFILL_CRASH_AT=checkpoint-renamed:3:kill"); code != -9 {
		t.Fatalf("c: exit code %d, want killed: %s", code, stderr)
	}
	files = rejectsFilesIn(t, dir)
	if len(files) != 3 {
		t.Fatalf("rejects files %v, want a's, b's and c's", files)
	}
	var cRejects string
	for _, f := range files {
		if f != aRejects && f != bRejects {
			cRejects = f
		}
	}
	elsewhere := filepath.Join(dir, "c-rejects.ndjson")
	code, stdout, stderr = runOut(t, bin, importOf("c.ndjson", "--rejects", elsewhere), dir)
	if code != exitRejects {
		t.Fatalf("c resumed: exit code %d, want %d: %s", code, exitRejects, stderr)
	}
	rel, _ := filepath.Rel(dir, cRejects)
	if !strings.Contains(stdout, "  rejects of the earlier runs copied from "+rel+"\n") || !strings.Contains(stdout, "rejects written to "+elsewhere) {
		t.Fatalf("the summary does not say where c's rejects are:\n%s", stdout)
	}
	got := rejectsByRaw(t, elsewhere)
	if len(got) != 2 {
		t.Fatalf("%s holds %d rejects, want c's 2 once: %v", elsewhere, len(got), keys(got))
	}
	stopServe()
	if n := countLines(received); n < 197+10+198 {
		t.Fatalf("the receiver got %d messages, want at least %d", n, 197+10+198)
	}
}

// TestCase3OwnFilesAreNotReadAsInput: a folder source that holds the
// import's rejects file, report and checkpoint, whatever their names,
// reads none of them, run after run; previews write no rejects file
// unless asked; each line carries the run's id and time.
func TestCase3OwnFilesAreNotReadAsInput(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	os.Mkdir(data, 0o755)
	url, received, stopServe := serveProcess(t, bin, t.TempDir())
	writeFile(t, filepath.Join(data, "a.ndjson"), []byte(trackLines("a", 11, 6)))
	args := []string{"import", "--endpoint", url, "--progress", "never", "--rejects", "data/bad.json",
		"--report", "data/summary.json", "--checkpoint", "data/state.json", "--restart", "data"}
	for i := range 3 {
		code, _, stderr := runOut(t, bin, args, dir)
		if code != exitRejects {
			t.Fatalf("run %d: exit code %d, want %d: %s", i+1, code, exitRejects, stderr)
		}
		rep := readReport(t, filepath.Join(data, "summary.json"))
		if rep.Files != 1 || rep.RowsRead != 11 || rep.Rejected != 1 {
			t.Fatalf("run %d: %d files, %d rows read, %d rejected; want a.ndjson alone: 11 rows, 1 rejected", i+1, rep.Files, rep.RowsRead, rep.Rejected)
		}
		var n int
		eachJSONLine(t, filepath.Join(data, "bad.json"), func(m map[string]any) {
			n++
			if m["run"] != rep.RunID || m["time"] == nil {
				t.Fatalf("run %d: reject %v, want run %s and a time", i+1, m, rep.RunID)
			}
		})
		if n != 1 {
			t.Fatalf("run %d: %d rejects, want 1", i+1, n)
		}
	}
	stopServe()
	if n := countLines(received); n != 30 {
		t.Fatalf("the receiver got %d messages, want 3 × 10", n)
	}

	// Previews count rejects, and write them only where --rejects says.
	for _, preview := range [][]string{{"--dry-run"}, {"--stub"}, {"--output", "out.ndjson"}} {
		code, _, stderr := runOut(t, bin, append(append([]string{"import", "--progress", "never"}, preview...), "data/a.ndjson"), dir)
		if code != exitRejects {
			t.Fatalf("%v: exit code %d, want %d: %s", preview, code, exitRejects, stderr)
		}
		if files := rejectsFilesIn(t, dir); len(files) != 0 {
			t.Fatalf("%v wrote rejects files %v", preview, files)
		}
		if _, err := os.Stat(filepath.Join(dir, importer.DefaultRejectsPath)); !os.IsNotExist(err) {
			t.Fatalf("%v: %s: %v, want none", preview, importer.DefaultRejectsPath, err)
		}
	}
	code, _, stderr := runOut(t, bin, []string{"import", "--progress", "never", "--stub", "--no-checkpoint", "--rejects", "preview.ndjson", "data/a.ndjson"}, dir)
	if code != exitRejects {
		t.Fatalf("--stub --rejects: exit code %d, want %d: %s", code, exitRejects, stderr)
	}
	if n := countLines(filepath.Join(dir, "preview.ndjson")); n != 1 {
		t.Fatalf("--stub --rejects wrote %d rejects, want 1", n)
	}
}

// TestRejectsFixAndReimport: an import with content-derived messageIds
// rejects rows of a CSV and an NDJSON file; "backfill rejects" writes them
// back out, the test fixes them and imports them with the same mapping,
// and the receiver has every row exactly once.
func TestRejectsFixAndReimport(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	os.Mkdir(data, 0o755)
	url, received, stopServe := serveProcess(t, bin, t.TempDir())
	writeFile(t, filepath.Join(dir, "events.yaml"), []byte("type: track\nuserId: user\nevent: event\ntimestamp: ts\n"))
	writeFile(t, filepath.Join(data, "signups.csv"), []byte("user,event,ts\n"+
		"u1,Signed Up,2024-03-01T12:00:00Z\n"+
		"u2,Signed Up,yesterday\n"+
		"u3,\"Signed, Up\",2024-03-01T12:00:03Z\n"+
		"u4,\"Signed, Up\",03/01/2024\n"+
		"u5,Signed Up,2024-03-01T12:00:05Z\n"))
	writeFile(t, filepath.Join(data, "orders.ndjson"), []byte(
		`{"user":"u6","event":"Order Completed","ts":"2024-03-01T12:00:06Z"}`+"\n"+
			`{"user":"u7","event":"Order Completed","ts":"last week"}`+"\n"+
			`{"user":"u8","event":"Order Completed","ts":"2024-03-01T12:00:08Z"}`+"\n"))
	rejects := filepath.Join(dir, "rejects.ndjson")
	code, _, stderr := runOut(t, bin, []string{"import", "--endpoint", url, "--progress", "never", "--mapping", "events.yaml", "--rejects", rejects, "data"}, dir)
	if code != exitRejects {
		t.Fatalf("import: exit code %d, want %d: %s", code, exitRejects, stderr)
	}

	code, stdout, stderr := runOut(t, bin, []string{"rejects", "--write-rows", "fix", rejects}, dir)
	if code != exitOK {
		t.Fatalf("rejects: exit code %d: %s", code, stderr)
	}
	for _, want := range []string{
		"      3  bad_timestamp\n",
		"wrote 1 row of data/orders.ndjson to fix/orders.ndjson (ndjson)\n",
		"wrote 2 rows of data/signups.csv to fix/signups.csv (csv)\n",
		"fix the rows in fix, then import them with the same mapping and flags:\n",
	} {
		if !strings.Contains(stdout, want) {
			t.Fatalf("rejects printed:\n%s\nwant it to hold %q", stdout, want)
		}
	}
	csvRows, err := os.ReadFile(filepath.Join(dir, "fix", "signups.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "user,event,ts\nu2,Signed Up,yesterday\nu4,\"Signed, Up\",03/01/2024\n"; string(csvRows) != want {
		t.Fatalf("fix/signups.csv holds\n%q\nwant\n%q", csvRows, want)
	}
	fixed := strings.NewReplacer("yesterday", "2024-03-01T12:00:02Z", "03/01/2024", "2024-03-01T12:00:04Z", "last week", "2024-03-01T12:00:07Z")
	for _, name := range []string{"signups.csv", "orders.ndjson"} {
		p := filepath.Join(dir, "fix", name)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, p, []byte(fixed.Replace(string(b))))
	}

	code, _, stderr = runOut(t, bin, []string{"import", "--endpoint", url, "--progress", "never", "--mapping", "events.yaml", "fix"}, dir)
	if code != exitOK {
		t.Fatalf("import of the fixed rows: exit code %d, want %d: %s", code, exitOK, stderr)
	}
	stopServe()
	users := map[string]int{}
	ids := map[string]bool{}
	eachJSONLine(t, received, func(m map[string]any) {
		users[m["userId"].(string)]++
		id := m["messageId"].(string)
		if ids[id] {
			t.Fatalf("messageId %s arrived twice", id)
		}
		ids[id] = true
	})
	want := map[string]int{"u1": 1, "u2": 1, "u3": 1, "u4": 1, "u5": 1, "u6": 1, "u7": 1, "u8": 1}
	if fmt.Sprint(users) != fmt.Sprint(want) {
		t.Fatalf("the receiver got the users %v, want each of u1 to u8 once", users)
	}
}

// TestRejectsCommandOutput: the summary of a rejects file, the rows written
// back out, and the usage errors, word for word.
func TestRejectsCommandOutput(t *testing.T) {
	dir := t.TempDir()
	rejects := filepath.Join(dir, "r.ndjson")
	writeFile(t, rejects, []byte(strings.Join([]string{
		`{"file":"in/a.csv","line":3,"row":2,"offset":20,"reason":"bad_timestamp","error":"in/a.csv:3: timestamp: bad","run":"r1","format":"csv","header":"id,ts","raw":"2,yesterday"}`,
		`{"file":"in/b.ndjson","line":1,"row":1,"offset":0,"reason":"invalid_json","error":"in/b.ndjson:1: invalid_json","run":"r1","format":"ndjson","raw":"{\"id\":"}`,
		`{"file":"in/a.csv","line":5,"row":4,"offset":40,"reason":"bad_timestamp","error":"in/a.csv:5: timestamp: bad","run":"r2","format":"csv","header":"id,ts","raw":"4,soon"}`,
		`{"file":"in/b.ndjson","line":2,"row":2,"offset":9,"reason":"server_rejected","error":"in/b.ndjson:2: refused","run":"r2","format":"ndjson","raw":"{\"type\":\"track\"}","raw_is":"message"}`,
	}, "\n")+"\n"))
	var stdout, stderr lockedBuffer
	if code := run(t.Context(), []string{"rejects", "--write-rows", filepath.Join(dir, "fix"), rejects}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit code %d: %s", code, stderr.String())
	}
	fix := filepath.Join(dir, "fix")
	want := rejects + ": 4 rejects from 2 files, written by 2 runs (r1, r2)\n" +
		"         2  bad_timestamp\n" +
		"            e.g. in/a.csv row 2: in/a.csv:3: timestamp: bad\n" +
		"         1  invalid_json\n" +
		"            e.g. in/b.ndjson row 1: in/b.ndjson:1: invalid_json\n" +
		"         1  server_rejected\n" +
		"            e.g. in/b.ndjson row 2: in/b.ndjson:2: refused\n" +
		"         2  from in/a.csv\n" +
		"         2  from in/b.ndjson\n" +
		"wrote 2 rows of in/a.csv to " + filepath.Join(fix, "a.csv") + " (csv)\n" +
		"wrote 1 row of in/b.ndjson to " + filepath.Join(fix, "b.ndjson") + " (ndjson)\n" +
		"not written: 1 message the destination refused (the rejects file holds the message, not its row): fix them in the source\n" +
		"fix the rows in " + fix + ", then import them with the same mapping and flags:\n" +
		"  backfill import [the same flags] " + fix + "\n"
	if stdout.String() != want {
		t.Fatalf("stdout:\n%s\nwant:\n%s", stdout.String(), want)
	}
	if got, _ := os.ReadFile(filepath.Join(fix, "a.csv")); string(got) != "id,ts\n2,yesterday\n4,soon\n" {
		t.Fatalf("a.csv holds %q", got)
	}

	for _, tc := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"rejects"}, exitUsage, "backfill rejects: name one rejects FILE (an import's summary and \"backfill status\" name it); see --help\n"},
		{[]string{"rejects", "a", "b"}, exitUsage, "backfill rejects: name one rejects FILE (an import's summary and \"backfill status\" name it); see --help\n"},
		{[]string{"rejects", filepath.Join(dir, "none.ndjson")}, exitFailed, "backfill rejects: open " + filepath.Join(dir, "none.ndjson") + ": no such file or directory\n"},
		{[]string{"rejects", "--write-rows", fix, rejects}, exitFailed, "backfill rejects: " + filepath.Join(fix, "a.csv") + " exists: write the rows to an empty folder, or move it away\n"},
	} {
		var stdout, stderr lockedBuffer
		if code := run(t.Context(), tc.args, &stdout, &stderr); code != tc.code || stderr.String() != tc.stderr {
			t.Errorf("%v: exit code %d, stderr %q; want %d, %q", tc.args, code, stderr.String(), tc.code, tc.stderr)
		}
	}
}
