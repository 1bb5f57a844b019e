package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/backfillhq/backfill/importer"
)

// eventLine is row i of the event files of these tests: a Segment message
// that passes through as it is.
func eventLine(i int) string {
	return fmt.Sprintf(`{"type":"track","messageId":"e-%d","userId":"u-%d","event":"Clicked","timestamp":"2024-03-01T12:00:00Z","properties":{"pad":"%s"}}`+"\n",
		i, i, strings.Repeat("x", 40))
}

// eventRows returns rows from to to-1, and their messageIds.
func eventRows(from, to int) ([]byte, map[string]bool) {
	var b bytes.Buffer
	ids := map[string]bool{}
	for i := from; i < to; i++ {
		b.WriteString(eventLine(i))
		ids[fmt.Sprintf("e-%d", i)] = true
	}
	return b.Bytes(), ids
}

// importArgs are the flags of the imports of these tests: batches of 100,
// one at a time, a checkpoint after each.
func importArgs(url, dir string, more ...string) []string {
	return append([]string{"import", "--endpoint", url, "--progress", "never", "--max-batch-messages", "100",
		"--concurrency", "1", "--rate", "-1", "--checkpoint-interval", "0",
		"--rejects", filepath.Join(dir, "rejects.ndjson"), "--report", filepath.Join(dir, "report.json")}, more...)
}

// TestCase5TheCheckpointIsFoundFromAnotherFolderAndSpelling interrupts
// an import run in its folder as big.ndjson, resumes it there as
// ./big.ndjson, interrupts it again, and resumes it from the folder above
// as work/big.ndjson: each run resumes the one before, and every row
// arrives once.
func TestCase5TheCheckpointIsFoundFromAnotherFolderAndSpelling(t *testing.T) {
	bin := crashBinary(t)
	dir := t.TempDir()
	work := filepath.Join(dir, "work")
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	data, want := eventRows(0, 3000)
	writeFile(t, filepath.Join(work, "big.ndjson"), data)
	url, received, stopServe := serveProcess(t, bin, dir)

	for _, step := range []struct {
		dir, source, crash string
		code               int
		resumed            bool
	}{
		{work, "big.ndjson", "BACKFILL_CRASH_AT=batch-acked:5:interrupt", exitInterrupted, false},
		{work, "./big.ndjson", "BACKFILL_CRASH_AT=batch-acked:5:interrupt", exitInterrupted, true},
		{dir, "work/big.ndjson", "", exitOK, true},
	} {
		var env []string
		if step.crash != "" {
			env = append(env, step.crash)
		}
		code, stderr := runProcess(t, bin, importArgs(url, dir, step.source), step.dir, env...)
		if code != step.code {
			t.Fatalf("import %s in %s: exit code %d, want %d: %s", step.source, step.dir, code, step.code, stderr)
		}
		if rep := readReport(t, filepath.Join(dir, "report.json")); rep.Resumed != step.resumed {
			t.Fatalf("import %s in %s: resumed %v, want %v: %+v", step.source, step.dir, rep.Resumed, step.resumed, rep)
		}
	}
	stopServe()
	if dups := checkArrivals(t, received, want); dups != 0 {
		t.Fatalf("%d rows arrived twice, want none: the import was not resumed", dups)
	}
	if rep := readReport(t, filepath.Join(dir, "report.json")); rep.Delivered != 3000 || !rep.Complete {
		t.Fatalf("final report %+v, want 3000 delivered", rep)
	}
	if _, err := os.Stat(filepath.Join(dir, ".backfill")); err == nil {
		t.Fatal("the run from the folder above started a checkpoint of its own")
	}
}

// unwritableFolder returns a folder in dir that files cannot be created
// in: a read-only folder, or, where permissions do not stop this process
// (root), a path below a regular file.
func unwritableFolder(t *testing.T, dir string) string {
	t.Helper()
	ro := filepath.Join(dir, "ro")
	if err := os.Mkdir(ro, 0o500); err != nil {
		t.Fatal(err)
	}
	if f, err := os.CreateTemp(ro, "probe"); err != nil {
		return ro
	} else {
		f.Close()
		os.Remove(f.Name())
	}
	file := filepath.Join(dir, "a-file")
	writeFile(t, file, nil)
	return filepath.Join(file, "sub")
}

// TestCase6WhatCannotBeWrittenStopsTheImportBeforeSending gives an
// import a checkpoint, a rejects file and a report that cannot be
// written: each run stops before it sends anything, names what cannot be
// written, and never says a checkpoint was saved.
func TestCase6WhatCannotBeWrittenStopsTheImportBeforeSending(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	data, _ := eventRows(0, 500)
	src := filepath.Join(dir, "a.ndjson")
	writeFile(t, src, append(data, "not json\n"...))
	url, received, stopServe := serveProcess(t, bin, dir)
	bad := unwritableFolder(t, dir)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"checkpoint folder", []string{"--checkpoint", filepath.Join(bad, "cp.json")}, "checkpoint " + filepath.Join(bad, "cp.json")},
		{"rejects file", []string{"--rejects", filepath.Join(bad, "rejects.ndjson")}, filepath.Join(bad, "rejects.ndjson")},
		{"report", []string{"--report", filepath.Join(bad, "report.json")}, "--report: " + filepath.Join(bad, "report.json") + " cannot be"},
	}
	if _, err := os.Stat("/dev/full"); err == nil {
		cases = append(cases, struct {
			name string
			args []string
			want string
		}{"rejects on a full disk", []string{"--rejects", "/dev/full"}, "rejects: /dev/full cannot be written: write /dev/full: no space left on device; nothing was sent"})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := importArgs(url, dir, append(tc.args, "--checkpoint", filepath.Join(t.TempDir(), "cp.json"), src)...)
			if tc.name == "checkpoint folder" {
				args = importArgs(url, dir, append(tc.args, src)...)
			}
			code, stderr := runProcess(t, bin, args, dir)
			if code != exitFailed {
				t.Fatalf("exit code %d, want %d: %s", code, exitFailed, stderr)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr lacks %q:\n%s", tc.want, stderr)
			}
			if strings.Contains(stderr, "saved") || strings.Contains(stderr, "run the same command again") {
				t.Errorf("stderr speaks of a saved checkpoint:\n%s", stderr)
			}
		})
	}
	stopServe()
	if n := countLines(received); n != 0 {
		t.Fatalf("%d messages were sent", n)
	}
}

// TestCase7EditedCheckpointRefused interrupts an import, marks its
// checkpoint complete by hand, and runs the same command: it is refused,
// naming the file and --restart, with nothing sent; --restart imports
// everything.
func TestCase7EditedCheckpointRefused(t *testing.T) {
	bin := crashBinary(t)
	dir := t.TempDir()
	data, want := eventRows(0, 2000)
	src := filepath.Join(dir, "a.ndjson")
	writeFile(t, src, data)
	url, received, stopServe := serveProcess(t, bin, dir)
	cp := filepath.Join(dir, "cp.json")
	args := importArgs(url, dir, "--checkpoint", cp, src)
	if code, stderr := runProcess(t, bin, args, dir, "BACKFILL_CRASH_AT=batch-acked:3:interrupt"); code != exitInterrupted {
		t.Fatalf("first run: exit code %d: %s", code, stderr)
	}
	b, err := os.ReadFile(cp)
	if err != nil {
		t.Fatal(err)
	}
	edited := bytes.Replace(b, []byte(`"complete": false`), []byte(`"complete": true`), 1)
	if bytes.Equal(edited, b) {
		t.Fatalf("the checkpoint has no \"complete\": false:\n%s", b)
	}
	writeFile(t, cp, edited)
	sentBefore := readReport(t, filepath.Join(dir, "report.json")).Delivered

	code, stderr := runProcess(t, bin, args, dir)
	if code != exitFailed {
		t.Fatalf("run with an edited checkpoint: exit code %d, want %d: %s", code, exitFailed, stderr)
	}
	wantErr := "backfill import: checkpoint " + cp + " was modified outside backfill (its content does not match its checksum); it cannot be trusted: run with --restart to discard it and import everything again\n"
	if stderr != wantErr {
		t.Fatalf("stderr:\n%s\nwant:\n%s", stderr, wantErr)
	}
	code, stderr = runProcess(t, bin, []string{"status", "--checkpoint", cp}, dir)
	if code != exitFailed || !strings.Contains(stderr, "modified outside backfill") {
		t.Fatalf("status of an edited checkpoint: exit code %d: %s", code, stderr)
	}
	if code, stderr := runProcess(t, bin, append(args, "--restart"), dir); code != exitOK {
		t.Fatalf("--restart: exit code %d: %s", code, stderr)
	}
	stopServe()
	checkArrivals(t, received, want)
	if rep := readReport(t, filepath.Join(dir, "report.json")); rep.Delivered != 2000 || rep.Resumed {
		t.Fatalf("report after --restart: %+v", rep)
	}
	// The first run's messages, then those of --restart: none between.
	if n := countLines(received); int64(n) != sentBefore+2000 {
		t.Fatalf("%d messages arrived, want the first run's %d and the 2000 of --restart", n, sentBefore)
	}
}

// TestCase8FileStillBeingWritten imports a file whose last line is half
// written; the writer finishes the line when the import reaches the end
// the file had. The import stops with "file changed while being read",
// rejects nothing, says to run it again once the file is no longer being
// written; run again, it resumes and imports the rest, every row once.
func TestCase8FileStillBeingWritten(t *testing.T) {
	bin := crashBinary(t)
	dir := t.TempDir()
	data, want := eventRows(0, 5000)
	last := eventLine(5000)
	want["e-5000"] = true
	src := filepath.Join(dir, "a.ndjson")
	writeFile(t, src, append(data, last[:30]...))
	url, received, stopServe := serveProcess(t, bin, dir)
	args := importArgs(url, dir, src)

	code, stderr := runProcess(t, bin, args, dir, "BACKFILL_APPEND_AT_END="+last[30:])
	if code != exitFailed {
		t.Fatalf("exit code %d, want %d: %s", code, exitFailed, stderr)
	}
	size := len(data) + 30
	for _, w := range []string{
		fmt.Sprintf("%s: file changed while being read: its size was %d bytes when it was opened, is now %d", src, size, len(data)+len(last)),
		"to resume, run the same command again once the file is no longer being written:",
	} {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "rejects.ndjson")); err == nil {
		t.Fatal("the half-written line was rejected")
	}
	rep := readReport(t, filepath.Join(dir, "report.json"))
	if rep.Rejected != 0 || rep.Complete || rep.RowsRead != 5000 || rep.Delivered+rep.Unsettled != 5000 || rep.Delivered == 0 {
		t.Fatalf("report of the stopped run: %+v", rep)
	}

	if code, stderr := runProcess(t, bin, args, dir); code != exitOK {
		t.Fatalf("run again: exit code %d: %s", code, stderr)
	}
	stopServe()
	checkArrivals(t, received, want)
	if rep := readReport(t, filepath.Join(dir, "report.json")); !rep.Resumed || rep.Delivered != 5001 || rep.Rejected != 0 {
		t.Fatalf("report of the resumed run: %+v", rep)
	}
}

// TestCase9AdviceAfterAStopWorks stops imports for causes that the same
// command cannot get past, and checks that the advice printed is what
// works: a truncated gzip file is to be replaced with a complete copy,
// after which the same command resumes and finishes; a mapping that does
// not fit is refused with nothing to resume.
func TestCase9AdviceAfterAStopWorks(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	data, want := eventRows(0, 3000)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(data)
	zw.Close()
	src := filepath.Join(dir, "a.ndjson.gz")
	writeFile(t, src, gz.Bytes()[:gz.Len()*2/3])
	url, received, stopServe := serveProcess(t, bin, dir)
	args := importArgs(url, dir, src)

	code, stderr := runProcess(t, bin, args, dir)
	if code != exitFailed {
		t.Fatalf("truncated gzip: exit code %d, want %d: %s", code, exitFailed, stderr)
	}
	for _, w := range []string{src + ": gzip: unexpected EOF", "to resume, run the same command again once it is replaced with a complete copy:", "leave it out and add --restart"} {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, stderr)
		}
	}
	if strings.Contains(stderr, "run the same command again:") {
		t.Errorf("stderr advises the same command, which fails the same way:\n%s", stderr)
	}
	// Following the advice works.
	writeFile(t, src, gz.Bytes())
	if code, stderr := runProcess(t, bin, args, dir); code != exitOK {
		t.Fatalf("after replacing the file: exit code %d: %s", code, stderr)
	}
	if rep := readReport(t, filepath.Join(dir, "report.json")); !rep.Resumed || rep.Delivered != 3000 {
		t.Fatalf("after replacing the file: %+v", rep)
	}
	stopServe()
	if dups := checkArrivals(t, received, want); dups != 0 {
		t.Fatalf("%d rows arrived twice", dups)
	}

	// A mapping that does not fit: nothing to resume.
	csv := filepath.Join(dir, "a.csv")
	writeFile(t, csv, []byte("id,user\n1,u1\n"))
	mapping := filepath.Join(dir, "m.yaml")
	writeFile(t, mapping, []byte("type: track\nevent: {value: E}\nuserId: user\ntimestamp: ts\n"))
	code, stderr = runProcess(t, bin, importArgs(url, dir, "--mapping", mapping, csv), dir)
	if code != exitUsage || strings.Contains(stderr, "run the same command again") || strings.Contains(stderr, "saved") {
		t.Fatalf("a mapping that does not fit: exit code %d, want %d, and no advice to run it again:\n%s", code, exitUsage, stderr)
	}
}

// TestCase15SecondInterruptAndStdin quits an import at once with a second
// interrupt: it says how to resume, and the same command does. An import
// from stdin says at its start and at its stop that it cannot resume.
func TestCase15SecondInterruptAndStdin(t *testing.T) {
	bin := crashBinary(t)
	dir := t.TempDir()
	data, want := eventRows(0, 2000)
	src := filepath.Join(dir, "a.ndjson")
	writeFile(t, src, data)
	url, received, stopServe := serveProcess(t, bin, dir)
	cp := filepath.Join(dir, "cp.json")
	args := importArgs(url, dir, "--checkpoint", cp, src)
	code, stderr := runProcess(t, bin, args, dir, "BACKFILL_CRASH_AT=batch-acked:3:interrupt-twice")
	if code != exitInterrupted {
		t.Fatalf("exit code %d, want %d: %s", code, exitInterrupted, stderr)
	}
	hint := "backfill: quitting at once\nbackfill: the checkpoint " + cp + " keeps what was acknowledged up to its last write; to resume, run the same command again:\n  " + shellQuote(append([]string{"backfill"}, args...)) + "\n"
	if !strings.HasSuffix(stderr, hint) {
		t.Fatalf("stderr:\n%s\nwant it to end with:\n%s", stderr, hint)
	}
	if code, stderr := runProcess(t, bin, args, dir); code != exitOK {
		t.Fatalf("resume: exit code %d: %s", code, stderr)
	}
	if rep := readReport(t, filepath.Join(dir, "report.json")); !rep.Resumed || rep.Delivered != 2000 {
		t.Fatalf("resume: %+v", rep)
	}
	stopServe()
	checkArrivals(t, received, want)

	// From stdin.
	url2, _, stopServe2 := serveProcess(t, bin, t.TempDir())
	defer stopServe2()
	for _, action := range []string{"interrupt", "interrupt-twice"} {
		stdinArgs := importArgs(url2, dir, "-")
		in, err := os.Open(src)
		if err != nil {
			t.Fatal(err)
		}
		code, stderr := runProcessStdin(t, bin, stdinArgs, dir, in, "BACKFILL_CRASH_AT=batch-acked:3:"+action)
		in.Close()
		if code != exitInterrupted {
			t.Fatalf("%s: exit code %d: %s", action, code, stderr)
		}
		for _, w := range []string{
			"standard input cannot be read again, so this import keeps no checkpoint: if it is interrupted, it cannot resume",
			"standard input cannot be read again: this import cannot resume",
		} {
			if !strings.Contains(stderr, w) {
				t.Errorf("%s: stderr lacks %q:\n%s", action, w, stderr)
			}
		}
		if strings.Contains(stderr, "run the same command again") {
			t.Errorf("%s: stderr advises running the import of stdin again:\n%s", action, stderr)
		}
	}
}

// TestPreviewsKeepNoCheckpointUnlessAsked runs a preview twice: it keeps
// no checkpoint, so the second run previews again. With --checkpoint it
// keeps one, which status shows as a preview's, and which an import that
// sends refuses.
func TestPreviewsKeepNoCheckpointUnlessAsked(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	data, _ := eventRows(0, 300)
	src := filepath.Join(dir, "a.ndjson")
	writeFile(t, src, data)
	for _, preview := range [][]string{{"--stub"}, {"--output", filepath.Join(dir, "out.ndjson")}} {
		for range 2 {
			args := append([]string{"import", "--progress", "never", "--report", filepath.Join(dir, "report.json")}, append(preview, src)...)
			if code, stderr := runProcess(t, bin, args, dir); code != exitOK {
				t.Fatalf("%v: exit code %d: %s", preview, code, stderr)
			}
			if rep := readReport(t, filepath.Join(dir, "report.json")); rep.AlreadyComplete || rep.Delivered != 300 || rep.CheckpointPath != "" {
				t.Fatalf("%v: %+v, want 300 rows and no checkpoint", preview, rep)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(dir, importer.DefaultCheckpointDir)); err == nil {
		t.Fatal("a preview kept a checkpoint")
	}

	cp := filepath.Join(dir, "cp.json")
	if code, stderr := runProcess(t, bin, []string{"import", "--stub", "--progress", "never", "--checkpoint", cp, src}, dir); code != exitOK {
		t.Fatalf("--stub --checkpoint: exit code %d: %s", code, stderr)
	}
	out, err := runOutput(bin, dir, "status", "--checkpoint", cp)
	if err != nil || !strings.Contains(out, "complete (a preview: --dry-run, --output or --stub; nothing was sent to Segment)") {
		t.Fatalf("status of a preview's checkpoint (%v):\n%s", err, out)
	}
	url, received, stopServe := serveProcess(t, bin, dir)
	code, stderr := runProcess(t, bin, importArgs(url, dir, "--checkpoint", cp, src), dir)
	if code != exitFailed || !strings.Contains(stderr, "the checkpoint is of a preview (--dry-run, --output or --stub), which sent nothing") {
		t.Fatalf("an import that sends, with a preview's checkpoint: exit code %d: %s", code, stderr)
	}
	stopServe()
	if n := countLines(received); n != 0 {
		t.Fatalf("%d messages sent", n)
	}
}

// runProcessStdin is runProcess with stdin read from in.
func runProcessStdin(t *testing.T, bin string, args []string, dir string, in *os.File, env ...string) (code int, stderr string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "SEGMENT_WRITE_KEY=crash-key"), env...)
	cmd.Stdin = in
	var buf bytes.Buffer
	cmd.Stderr = &buf
	err := cmd.Run()
	return exitCodeOf(t, err, buf.String()), buf.String()
}

// runOutput runs the command in dir and returns its stdout.
func runOutput(bin, dir string, args ...string) (string, error) {
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	return string(out), err
}
