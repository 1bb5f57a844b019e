package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestCheckNamesMappedColumnsNoRowHas runs the built binary's check on
// NDJSON rows and a mapping with three typos in it: it exits 64 and names
// each column with the one meant; with the columns listed as optional
// the same check passes.
func TestCheckNamesMappedColumnsNoRowHas(t *testing.T) {
	bin := buildBinary(t, "")
	dir := t.TempDir()
	rows := `{"user_id":"u1","device_id":"d1","event":"Order Completed","ts":"2024-03-01T12:00:00Z","revenue":19.99,"ip":"1.2.3.4"}
{"user_id":"u2","device_id":"d2","event":"Order Completed","ts":"2024-03-01T12:01:00Z","revenue":5,"ip":"5.6.7.8"}
`
	mapping := `type: track
userId: usr_id
anonymousId: device_id
event: event
timestamp: ts
properties:
  include: [revnue]
context:
  rename: {ipp: ip}
`
	writeFile(t, filepath.Join(dir, "events.ndjson"), []byte(rows))
	writeFile(t, filepath.Join(dir, "m.yaml"), []byte(mapping))
	cmd := exec.Command(bin, "check", "--mapping", "m.yaml", "events.ndjson")
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitUsage {
		t.Fatalf("check: %v, want exit %d\nstderr: %s", err, exitUsage, stderr.String())
	}
	want := `backfill check: the mapping does not fit the data (checked before sending anything):
  events.ndjson: m.yaml:2: userId: column "usr_id" occurs in none of the 2 rows read; did you mean "user_id"?
  events.ndjson: m.yaml:7: properties.include: column "revnue" occurs in none of the 2 rows read; did you mean "revenue"?
  events.ndjson: m.yaml:9: context.rename: column "ipp" occurs in none of the 2 rows read; did you mean "ip"?
`
	if stderr.String() != want {
		t.Fatalf("stderr:\n%s\nwant:\n%s", stderr.String(), want)
	}
	left, _ := os.ReadDir(dir)
	if len(left) != 2 {
		t.Fatalf("check left files behind: %v", left)
	}

	writeFile(t, filepath.Join(dir, "m.yaml"), []byte(mapping+"optional: [usr_id, revnue, ipp]\n"))
	cmd = exec.Command(bin, "check", "--rows", "0", "--mapping", "m.yaml", "events.ndjson")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("== 2 rows in 1 file: 2 would be sent, 0 rejected, 0 filtered")) {
		t.Fatalf("check with optional columns: %v\n%s", err, out)
	}
}
