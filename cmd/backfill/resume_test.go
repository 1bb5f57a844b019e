package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestImportRefusesAnEditedMapping imports with a mapping, edits the
// mapping file, and imports again with the same command: the default
// checkpoint is found and refused, with what changed and the way forward.
func TestImportRefusesAnEditedMapping(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "a.csv")
	writeFile(t, src, []byte("id,user,ts\n1,u1,2024-03-01T12:00:00Z\n2,u2,2024-03-01T12:00:01Z\n"))
	mapping := filepath.Join(dir, "m.yaml")
	writeFile(t, mapping, []byte("type: track\nevent: {value: Signed Up}\nmessageId: id\nuserId: user\ntimestamp: ts\n"))
	url, _, _ := startServe(t, "resume-key")
	t.Chdir(dir) // the default checkpoint goes to .backfill/ there
	args := []string{"import", "--endpoint", url, "--progress", "never", "--mapping", mapping,
		"--rejects", filepath.Join(dir, "r.ndjson"), src}
	var stdout, stderr lockedBuffer
	if code := run(context.Background(), args, &stdout, &stderr); code != exitOK {
		t.Fatalf("import exited with %d: %s", code, stderr.String())
	}
	writeFile(t, mapping, []byte("type: track\nevent: {value: Registered}\nmessageId: id\nuserId: user\ntimestamp: ts\n"))
	stdout, stderr = lockedBuffer{}, lockedBuffer{}
	if code := run(context.Background(), args, &stdout, &stderr); code != exitFailed {
		t.Fatalf("import with an edited mapping exited with %d, want %d: %s", code, exitFailed, stderr.String())
	}
	out := stderr.String()
	for _, want := range []string{"the mapping changed", "--restart"} {
		if !strings.Contains(out, want) {
			t.Errorf("stderr lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "to resume, run the same command again") {
		t.Errorf("stderr says to resume with the command that was refused:\n%s", out)
	}
}
