package importer

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/backfillhq/backfill/sink"
	"github.com/backfillhq/backfill/sink/receiver"
	"github.com/backfillhq/backfill/sink/segment"
)

// TestRunIsolatesWhatTheReceiverRefuses imports into a receiver.Receiver over
// HTTP, which answers as Segment does: a batch holding a message over its
// per-message cap is malformed and answered 400. The Segment sink splits
// the batch until that message is alone; the importer writes it to the
// rejects file as server_rejected and delivers every other row once.
func TestRunIsolatesWhatTheReceiverRefuses(t *testing.T) {
	dir := t.TempDir()
	big := fmt.Sprintf(`{"type":"track","messageId":"big","userId":"u","event":"E","timestamp":"2024-03-01T12:00:00Z","properties":{"pad":"%s"}}`,
		strings.Repeat("x", 2000))
	src := writeNDJSON(t, dir, "in.ndjson", 300, map[int]string{120: big})
	var out bytes.Buffer
	rcv := receiver.New(receiver.Config{WriteKey: "wk_test", Out: &out, Limits: sink.Limits{MaxMessageBytes: 1000}})
	srv := httptest.NewServer(rcv)
	t.Cleanup(srv.Close)
	snk, _, err := segment.New(segment.Config{WriteKey: "wk_test", Endpoint: srv.URL, Rate: -1})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Sources: []string{src}, Sink: snk, Limits: sink.Limits{MaxMessages: 50},
		RejectsPath: filepath.Join(dir, "rejects.ndjson")}
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.Check(); err != nil {
		t.Fatal(err)
	}
	if rep.Delivered != 299 || rep.Rejected != 1 || rep.RejectedByReason["server_rejected"] != 1 {
		t.Fatalf("report %+v", rep)
	}
	rejects := readRejectsFile(t, cfg.RejectsPath)
	if len(rejects) != 1 || rejects[0].Line != 120 || !strings.Contains(rejects[0].Error, "message_too_large") {
		t.Fatalf("rejects %+v", rejects)
	}
	if st := rcv.Stats(); st.Messages != 299 || st.Dropped != 0 || st.Rejected == 0 {
		t.Errorf("receiver stats %+v, want 299 kept and the 400s counted", st)
	}
	if n := strings.Count(out.String(), "\n"); n != 299 || strings.Contains(out.String(), `"big"`) {
		t.Errorf("the receiver kept %d lines, want the 299 others", n)
	}
}
