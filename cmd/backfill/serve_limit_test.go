package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/backfillhq/backfill/importer"
)

// TestServeMaxRPS: serve --max-rps 1 answers a second request within a
// second 429 with Retry-After: 1 and the limit stated, and says how many it
// answered so when it stops. Requests go until one is refused (at most 50),
// so that a slow machine does not make the test fail.
func TestServeMaxRPS(t *testing.T) {
	url, _, stderr, stop := startServeLog(t, "", "--max-rps", "1")
	var refused *http.Response
	for i := 0; i < 50 && refused == nil; i++ {
		body := fmt.Sprintf(`{"batch":[{"type":"track","messageId":"m%d","userId":"u","event":"e","timestamp":"2024-01-01T00:00:00Z"}]}`, i)
		resp, err := http.Post(url+"/v1/batch", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
		case http.StatusTooManyRequests:
			refused = resp
		default:
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	stop()
	if refused == nil {
		t.Fatal("50 requests and none refused at 1 request a second")
	}
	for name, want := range map[string]string{"Retry-After": "1", "X-RateLimit-Limit": "1", "X-RateLimit-Remaining": "0", "RateLimit-Policy": "1;w=1"} {
		if got := refused.Header.Get(name); got != want {
			t.Errorf("429: %s %q, want %q", name, got, want)
		}
	}
	if log := stderr.String(); !strings.Contains(log, "answered 1 requests 429 over the limit of 1 a second") {
		t.Errorf("stderr lacks the count of 429s:\n%s", log)
	}
}

// TestServeMaxRPSUsage: a negative --max-rps, and --hide-limit without
// --max-rps, are usage errors.
func TestServeMaxRPSUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--max-rps", "-1"}, "backfill serve: --max-rps is -1: want a number of requests a second, or 0 for no limit\n"},
		{[]string{"--hide-limit"}, "backfill serve: --hide-limit needs --max-rps\n"},
	} {
		var stdout, stderr bytes.Buffer
		args := append([]string{"serve", "--addr", "127.0.0.1:0"}, tc.args...)
		if code := run(context.Background(), args, &stdout, &stderr); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", tc.args, code, exitUsage)
		}
		if got := stderr.String(); got != tc.want {
			t.Errorf("%v: stderr %q, want %q", tc.args, got, tc.want)
		}
	}
}

// TestImportIntoMaxRPS: an import with --rate -1 into serve --max-rps 20
// delivers every message once, finds the limit the receiver states, and
// says so in its report and summary.
func TestImportIntoMaxRPS(t *testing.T) {
	url, out, stop := startServe(t, "rate-key", "--max-rps", "20")
	dir := t.TempDir()
	var nd bytes.Buffer
	for i := range 400 {
		fmt.Fprintf(&nd, `{"type":"track","messageId":"m-%d","userId":"u","event":"E","timestamp":"2024-01-02T03:04:05Z"}`+"\n", i)
	}
	src := filepath.Join(dir, "events.ndjson")
	writeFile(t, src, nd.Bytes())
	report := filepath.Join(dir, "report.json")
	var stdout, stderr lockedBuffer
	args := []string{"import", "--endpoint", url, "--progress", "never", "--no-checkpoint", "--rate", "-1",
		"--max-batch-messages", "10", "--report", report, src}
	if code := run(context.Background(), args, &stdout, &stderr); code != 0 {
		t.Fatalf("import exited with %d: %s", code, stderr.String())
	}
	stop()
	rep := readReport(t, report)
	if rep.Delivered != 400 || !rep.Complete || rep.FoundLimit != 20 {
		t.Errorf("report: delivered %d, complete %t, found limit %g; want 400, true, 20", rep.Delivered, rep.Complete, rep.FoundLimit)
	}
	if !strings.Contains(stdout.String(), "limit found 20.0 req/s") {
		t.Errorf("the summary does not name the limit found:\n%s", stdout.String())
	}
	kept, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(kept)), "\n") {
		var m struct{ MessageID string }
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatal(err)
		}
		if seen[m.MessageID] {
			t.Errorf("%s received twice", m.MessageID)
		}
		seen[m.MessageID] = true
	}
	if len(seen) != 400 {
		t.Errorf("%d messages received, want 400", len(seen))
	}
}

// TestProgressShowsTheRate: once the server throttled the import, the
// progress line shows the rate in force, the limit found, the 429s and
// the share of the time paused.
func TestProgressShowsTheRate(t *testing.T) {
	p := importer.Progress{RowsRead: 5000, Delivered: 4000, Elapsed: 20 * time.Second, Transport: importer.Transport{
		Retries: 3, Throttled: 3, CurrentRate: 9.6, FoundLimit: 10, PausedSeconds: 2}}
	const want = "200 ev/s  read 5000  delivered 4000  rejected 0  retries 3  rate 9.6 req/s, limit found 10.0 req/s, 429s 3, paused 10 %"
	if got := describe(p, "delivered"); got != want {
		t.Errorf("describe = %q, want %q", got, want)
	}
}
