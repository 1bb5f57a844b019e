package main

import (
	"bytes"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
)

// TestServeAnswersAsSegment: serve answers 200 to a well-formed batch
// holding messages Segment would drop, keeps the others in --out, logs each
// drop with its reason and sums them up by reason when it stops; a
// malformed batch is answered 400 and nothing of it is kept.
func TestServeAnswersAsSegment(t *testing.T) {
	url, out, stderr, stop := startServeLog(t, "")
	post := func(body string) int {
		t.Helper()
		resp, err := http.Post(url+"/v1/batch", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	good := `{"type":"track","messageId":"ok-1","userId":"u","event":"e","timestamp":"2024-01-01T00:00:00Z"}`
	noEvent := `{"type":"track","messageId":"drop-1","userId":"u","timestamp":"2024-01-01T00:00:00Z"}`
	noUser := `{"type":"identify","messageId":"drop-2","timestamp":"2024-01-01T00:00:00Z"}`
	if got := post(`{"batch":[` + good + `,` + noEvent + `,` + noUser + `]}`); got != http.StatusOK {
		t.Fatalf("well-formed batch: status %d, want 200", got)
	}
	if got := post(`{"batch":[` + good + `,`); got != http.StatusBadRequest {
		t.Fatalf("invalid JSON: status %d, want 400", got)
	}
	stop()
	kept, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if want := good + "\n"; string(kept) != want {
		t.Errorf("--out holds %q, want only %q", kept, want)
	}
	log := stderr.String()
	for _, want := range []string{
		`msg="Segment would drop this message" path=/v1/batch reason=missing_event index=1 messageId=drop-1 field=event`,
		`msg="Segment would drop this message" path=/v1/batch reason=missing_id index=2 messageId=drop-2 field=userId`,
		"received 1 messages in 1 batches, and 2 that Segment would drop (missing_event: 1, missing_id: 1)",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("stderr lacks %q:\n%s", want, log)
		}
	}
	if bytes.Contains(kept, []byte("drop-")) {
		t.Errorf("a dropped message was kept: %s", kept)
	}
}

// TestServeStopsWithAnUnusedConnection: a connection that a client dialed
// ahead and never used (as Go's HTTP transport does when two requests
// start at once) does not hold serve's shutdown up: serve stops cleanly
// instead of failing when its shutdown wait runs out.
func TestServeStopsWithAnUnusedConnection(t *testing.T) {
	url, _, stderr, stop := startServeLog(t, "")
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A request on another connection, so that the unused one is known to
	// have been accepted before serve stops.
	resp, err := http.Post(url+"/v1/batch", "application/json", strings.NewReader(`{"batch":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	stop() // fails the test if serve exits with an error
	if strings.Contains(stderr.String(), "deadline") {
		t.Errorf("serve's log: %s", stderr.String())
	}
}
