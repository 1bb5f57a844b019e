package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/backfillhq/backfill/importer"
	"github.com/backfillhq/backfill/readers"
)

// TestResumeRefusesARowChangedInTheMiddle interrupts an import of a CSV
// file, corrects one row that was sent, in the middle of the file, keeping
// its size, its first and last 64 KiB and its modification time (as cp -p
// or rsync -t leave it), and runs the same command again: the resume is
// refused with what changed, exit code 1, and the checkpoint is left as
// it was.
func TestResumeRefusesARowChangedInTheMiddle(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the built command")
	}
	bin := crashBinary(t)
	dir := t.TempDir()
	url, _, stopServe := serveProcess(t, bin, dir)
	defer stopServe()
	src := filepath.Join(dir, "events.csv")
	var csv bytes.Buffer
	csv.WriteString("id,user,event,ts\n")
	for i := range 20000 {
		fmt.Fprintf(&csv, "e-%d,u-%06d,Order Completed,2024-05-01T00:00:00Z\n", i, i)
	}
	writeFile(t, src, csv.Bytes())
	mapping := filepath.Join(dir, "mapping.yaml")
	writeFile(t, mapping, []byte("type: track\nmessageId: id\nuserId: user\nevent: event\ntimestamp: ts\n"))
	cpPath := filepath.Join(dir, "checkpoint.json")
	args := []string{"import", "--endpoint", url, "--mapping", mapping, "--progress", "never",
		"--max-batch-messages", "50", "--concurrency", "2", "--rate", "-1", "--checkpoint-interval", "0",
		"--checkpoint", cpPath, "--rejects", filepath.Join(dir, "rejects.ndjson"), src}

	if code, stderr := runProcess(t, bin, args, dir, "BACKFILL_CRASH_AT=batch-acked:100:interrupt"); code != exitInterrupted {
		t.Fatalf("interrupted import: exit code %d, want %d: %s", code, exitInterrupted, stderr)
	}
	cp, err := importer.LoadCheckpoint(cpPath)
	if err != nil {
		t.Fatal(err)
	}
	f := cp.Files[0]
	if f.Status != importer.StatusPartial || f.ContentCRC == "" {
		t.Fatalf("checkpoint of the interrupted import: %+v", f)
	}
	// The row in the middle of what the checkpoint hashed, far from both
	// ends of the file.
	data := csv.Bytes()
	at := bytes.Index(data[f.Hashed/2:], []byte(",u-")) + int(f.Hashed/2) + 1
	if at < 64<<10 || int64(at) >= f.Hashed || at > len(data)-64<<10 {
		t.Fatalf("the checkpoint hashed %d bytes: no row to change between 64 KiB and them", f.Hashed)
	}
	before, err := os.ReadFile(cpPath)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(src)
	if err != nil {
		t.Fatal(err)
	}
	fp, _, err := readers.Fingerprint(src)
	if err != nil {
		t.Fatal(err)
	}
	changed := bytes.Clone(data)
	changed[at] = 'v' // u-012345 becomes v-012345
	writeFile(t, src, changed)
	if err := os.Chtimes(src, st.ModTime(), st.ModTime()); err != nil {
		t.Fatal(err)
	}
	if fp2, _, _ := readers.Fingerprint(src); fp2 != fp {
		t.Fatal("the change reached the ends the fingerprint reads")
	}

	code, stderr := runProcess(t, bin, args, dir)
	if code != exitFailed {
		t.Fatalf("resume of a changed file: exit code %d, want %d: %s", code, exitFailed, stderr)
	}
	want := fmt.Sprintf("backfill import: %s: checkpoint does not match this import: %s changed: its first %d bytes differ from what the checkpoint saw; run the import as the checkpoint records it to resume, or with --restart (Config.Restart) to discard the checkpoint and import everything again\n",
		cpPath, src, f.Hashed)
	if !strings.Contains(stderr, want) {
		t.Fatalf("stderr:\n%s\nwant it to hold:\n%s", stderr, want)
	}
	after, err := os.ReadFile(cpPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Fatal("the refused resume changed the checkpoint")
	}
}
