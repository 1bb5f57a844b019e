package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/backfillhq/backfill/importer"
)

// TestUntrustedEndpointStopsAtTheFirstAttempt: an endpoint whose TLS
// certificate is not trusted stops the import at its first attempt, with the
// cause and what to check, and the failure exit code; nothing is retried.
func TestUntrustedEndpointStopsAtTheFirstAttempt(t *testing.T) {
	bin := binary(t)
	var handled atomic.Int64
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { handled.Add(1) }))
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	ts.StartTLS()
	defer ts.Close()

	dir := t.TempDir()
	src := filepath.Join(dir, "a.ndjson")
	writeFile(t, src, []byte(`{"type":"track","messageId":"m-1","userId":"u","event":"E","timestamp":"2024-03-01T12:00:00Z"}`+"\n"))
	report := filepath.Join(dir, "report.json")
	cmd := exec.Command(bin, "import", "--endpoint", ts.URL, "--progress", "never", "--report", report,
		"--checkpoint", filepath.Join(dir, "cp.json"), "--rejects", filepath.Join(dir, "r.ndjson"), src)
	cmd.Dir = dir
	cmd.Env = append(cmd.Environ(), "SEGMENT_WRITE_KEY=unreachable-key")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if code := exitCodeOf(t, err, stderr.String()); code != exitFailed {
		t.Fatalf("import exited with %d, want %d:\n%s", code, exitFailed, stderr.String())
	}
	want := "cannot reach " + ts.URL + ": its TLS certificate is signed by an unknown authority; check --endpoint\n"
	if !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
	}
	if strings.Contains(stderr.String(), "run the same command again") {
		t.Errorf("stderr advises the same command, which would fail the same way:\n%s", stderr.String())
	}
	var rep struct {
		Requests int64 `json:"requests"`
		Retries  int64 `json:"retries"`
	}
	data, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatalf("report: %v", err)
	}
	if rep.Requests != 1 || rep.Retries != 0 {
		t.Errorf("report: %d requests, %d retries; want 1 request, no retry", rep.Requests, rep.Retries)
	}
	if strings.Contains(stdout.String()+stderr.String(), "unreachable-key") {
		t.Error("the write key was printed")
	}
	if n := handled.Load(); n != 0 {
		t.Errorf("the server handled %d requests, want 0", n)
	}
}

func TestProgressShowsTheLastError(t *testing.T) {
	p := importer.Progress{RowsRead: 3, Delivered: 0, Transport: importer.Transport{Retries: 1, LastError: "503 Service Unavailable"}}
	const want = "0 ev/s  read 3  delivered 0  rejected 0  retries 1  last error: 503 Service Unavailable"
	if got := describe(p, "delivered"); got != want {
		t.Errorf("describe = %q, want %q", got, want)
	}
}

// TestProgressLogShowsTheLastError: a retried 503 is named in the progress
// log line, and the write key is not.
func TestProgressLogShowsTheLastError(t *testing.T) {
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if requests.Add(1) == 1 {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, `{"success":true}`)
	}))
	defer srv.Close()
	dir := t.TempDir()
	src := filepath.Join(dir, "a.ndjson")
	writeFile(t, src, []byte(`{"type":"track","messageId":"m-1","userId":"u","event":"E","timestamp":"2024-03-01T12:00:00Z"}`+"\n"))
	t.Setenv("SEGMENT_WRITE_KEY", "last-error-key")
	var stdout, stderr lockedBuffer
	code := run(context.Background(), []string{"import", "--endpoint", srv.URL, "--no-checkpoint", "--rejects", filepath.Join(dir, "r.ndjson"), src}, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), `retries=1`) || !strings.Contains(stderr.String(), `last_error="503 Service Unavailable"`) {
		t.Errorf("the progress log does not name the last error:\n%s", stderr.String())
	}
	if strings.Contains(stdout.String()+stderr.String(), "last-error-key") {
		t.Error("the write key was printed")
	}
}

// TestBarFollowsSettledRows: the bar goes as far as the share of the rows
// read that are settled, so it reaches the end with the last
// acknowledgement, not with the last row read.
func TestBarFollowsSettledRows(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    importer.Progress
		want int64
	}{
		{"nothing read", importer.Progress{BytesRead: 0, BytesTotal: 1000}, 0},
		{"all read, half settled", importer.Progress{BytesRead: 1000, BytesTotal: 1000, RowsRead: 100, Delivered: 40, Rejected: 5, Filtered: 5}, 500},
		{"all read, all settled", importer.Progress{BytesRead: 1000, BytesTotal: 1000, RowsRead: 100, Delivered: 90, Rejected: 10}, 1000},
		{"half read, all of it settled", importer.Progress{BytesRead: 500, BytesTotal: 1000, RowsRead: 50, Delivered: 50}, 500},
	} {
		if got := settledBytes(tc.p); got != tc.want {
			t.Errorf("%s: the bar is at %d, want %d", tc.name, got, tc.want)
		}
	}
}
