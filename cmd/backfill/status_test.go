package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

func TestStatusShowsProgressAndHowToResume(t *testing.T) {
	dir := t.TempDir()
	var nd strings.Builder
	for i := range 3000 {
		fmt.Fprintf(&nd, `{"type":"track","messageId":"s-%d","userId":"u","event":"E","timestamp":"2024-03-01T12:00:00Z"}`+"\n", i)
	}
	a := filepath.Join(dir, "a.ndjson")
	b := filepath.Join(dir, "b.ndjson")
	writeFile(t, a, []byte(nd.String()))
	writeFile(t, b, []byte(nd.String()))

	// The write key is refused after two batches: the import stops there.
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if requests.Add(1) > 2 {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, `{"success":true}`)
	}))
	defer srv.Close()
	t.Setenv("SEGMENT_WRITE_KEY", "status-key")
	cp := filepath.Join(dir, "cp.json")
	args := []string{"import", "--endpoint", srv.URL, "--progress", "never", "--concurrency", "1",
		"--max-batch-messages", "1000", "--checkpoint", cp, "--rejects", filepath.Join(dir, "r.ndjson"), a, b}
	var stdout, stderr lockedBuffer
	if code := run(context.Background(), args, &stdout, &stderr); code != exitFailed {
		t.Fatalf("import exited with %d, want %d: %s", code, exitFailed, stderr.String())
	}
	if !strings.Contains(stderr.String(), "write key rejected") || !strings.Contains(stderr.String(), "to resume, run the same command again") {
		t.Fatalf("stderr does not say what happened and how to resume:\n%s", stderr.String())
	}
	if strings.Contains(stderr.String()+stdout.String(), "status-key") {
		t.Fatal("the write key was printed")
	}

	stdout, stderr = lockedBuffer{}, lockedBuffer{}
	if code := run(context.Background(), []string{"status", "--checkpoint", cp}, &stdout, &stderr); code != exitOK {
		t.Fatalf("status exited with %d: %s", code, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{
		"in progress",
		"partial", "resumes at row 2001", // two batches of 1000 settled
		"pending", "0%",
		"total: 2000 rows settled: 2000 delivered",
		"to resume, run in " + testDir + ":",
		"backfill import --endpoint " + srv.URL,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}
}

func TestProgressIsLoggedWhenStderrIsNotATerminal(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "a.ndjson")
	writeFile(t, src, []byte(`{"type":"track","userId":"u","event":"E","timestamp":"2024-03-01T12:00:00Z"}`+"\n"))
	var stdout, stderr lockedBuffer
	code := run(context.Background(), []string{"import", "--stub", "--no-checkpoint", "--rejects", filepath.Join(dir, "r.ndjson"), src}, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	// --stub sends nothing: it counts the rows it would send.
	if !strings.Contains(stderr.String(), "msg=progress") || !strings.Contains(stderr.String(), "would_send=1") || !strings.Contains(stderr.String(), "final=true") {
		t.Fatalf("no final progress log line on stderr:\n%s", stderr.String())
	}
	if !strings.Contains(stdout.String(), "would send 1") {
		t.Fatalf("no report on stdout:\n%s", stdout.String())
	}
}
