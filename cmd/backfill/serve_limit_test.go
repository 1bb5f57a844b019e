package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
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
