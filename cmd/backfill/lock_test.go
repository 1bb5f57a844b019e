package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gofrs/flock"

	"github.com/backfillhq/backfill/importer"
)

// TestASecondImportOfOneCheckpointStopsAtOnce holds the lock of a
// checkpoint, as a first import would, and runs the same import: it stops
// with exit code 1, names the other run's process and host, and sends
// nothing.
func TestASecondImportOfOneCheckpointStopsAtOnce(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	url, received, stopServe := serveProcess(t, bin, dir)
	src := filepath.Join(dir, "a.ndjson")
	writeFile(t, src, []byte(`{"type":"track","messageId":"m1","userId":"u1","event":"E","timestamp":"2024-03-01T12:00:00Z"}`+"\n"))
	checkpoint := filepath.Join(dir, "checkpoint.json")

	lock := flock.New(importer.LockPath(checkpoint))
	if ok, err := lock.TryLock(); err != nil || !ok {
		t.Fatalf("lock: %v, %v", ok, err)
	}
	defer lock.Unlock()
	writeFile(t, importer.LockPath(checkpoint), []byte(` {"pid":4242,"host":"build-7","since":"2026-12-06T02:50:00Z"}`+"\n"))

	args := []string{"import", "--endpoint", url, "--progress", "never", "--checkpoint", checkpoint,
		"--rejects", filepath.Join(dir, "rejects.ndjson"), src}
	code, stderr := runProcess(t, bin, args, dir)
	if code != exitFailed {
		t.Fatalf("exit code %d, want %d: %s", code, exitFailed, stderr)
	}
	want := "backfill import: checkpoint " + checkpoint + " is in use by another run (pid 4242 on host build-7, since 2026-12-06T02:50:00Z); wait for it to end, or stop it\n"
	if stderr != want {
		t.Fatalf("stderr:\n%s\nwant:\n%s", stderr, want)
	}
	stopServe()
	if n := countLines(received); n != 0 {
		t.Fatalf("the receiver got %d messages, want none", n)
	}
	if _, err := os.Stat(checkpoint); !os.IsNotExist(err) {
		t.Fatalf("checkpoint: %v, want none written", err)
	}

	// Once the first run is over, the same command runs.
	lock.Unlock()
	url, received, stopServe = serveProcess(t, bin, t.TempDir())
	args[2] = url
	if code, stderr := runProcess(t, bin, args, dir); code != exitOK || strings.Contains(stderr, "in use") {
		t.Fatalf("exit code %d: %s", code, stderr)
	}
	stopServe()
	if n := countLines(received); n != 1 {
		t.Fatalf("the receiver got %d messages, want 1", n)
	}
}
