package importer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/backfillhq/backfill/mappings"
	"github.com/backfillhq/backfill/sink"
)

// multiSpec makes a track of every row and an identify of the rows with
// a plan; a row of kind "internal" is dropped.
const multiSpec = `timestamp: ts
userId: user
columns: {n: int}
drop:
  internal: 'kind == "internal"'
messages:
  - when: 'kind != "none"'
    type: track
    event: event
    properties: {include: [n]}
  - when: 'plan != nil'
    type: identify
    traits: {include: [plan]}
`

func parseMultiSpec(t *testing.T) *mappings.Spec {
	t.Helper()
	spec, err := mappings.ParseSpec([]byte(multiSpec), "m.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

// TestRunCountsMessagesBesideRows imports rows of one and two messages,
// a row of none, a dropped row, a row the mapping rejects and a row one
// of whose messages the destination refuses: the rows add up as ever,
// the messages are counted beside them, and the rejects file has a line
// for the refused message naming its entry.
func TestRunCountsMessagesBesideRows(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "events.csv")
	csv := "ts,user,kind,event,n,plan\n" +
		"2024-03-01T12:00:00Z,u1,web,Signed Up,1,pro\n" + // track + identify
		"2024-03-01T12:01:00Z,u2,web,Viewed,2,\n" + // track
		"2024-03-01T12:02:00Z,u3,none,Viewed,3,\n" + // no message
		"2024-03-01T12:03:00Z,u4,internal,Viewed,4,pro\n" + // dropped
		"2024-03-01T12:04:00Z,u5,web,Viewed,five,pro\n" + // rejected: n
		"2024-03-01T12:05:00Z,u6,web,Bought,6,refused\n" + // identify refused
		"2024-03-01T12:06:00Z,u7,none,Viewed,7,team\n" + // identify only
		"2024-03-01T12:07:00Z,u8,web,Refused,8,refused\n" // both refused
	if err := os.WriteFile(src, []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	fs := &fakeSink{send: func(_ context.Context, b *sink.Batch) error {
		var rej sink.RejectedError
		for i := range b.Len() {
			if msg := string(b.Message(i)); strings.Contains(msg, `"plan":"refused"`) || strings.Contains(msg, `"event":"Refused"`) {
				rej.Messages = append(rej.Messages, sink.RejectedMessage{Index: i, Reason: sink.ReasonServerRejected, Detail: "bad trait"})
			}
		}
		if rej.Messages != nil {
			return &rej
		}
		return nil
	}}
	cfg := Config{
		Sources:        []string{src},
		Spec:           parseMultiSpec(t),
		Sink:           fs,
		RejectsPath:    filepath.Join(dir, "r.ndjson"),
		CheckpointPath: filepath.Join(dir, "cp.json"),
	}
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.Check(); err != nil {
		t.Fatal(err)
	}
	if rep.RowsRead != 8 || rep.Delivered != 3 || rep.Rejected != 3 || rep.Filtered != 2 || rep.FilteredNoMessage != 1 {
		t.Errorf("rows: %d read, %d delivered, %d rejected, %d filtered (%d of no message); want 8, 3, 3, 2 (1)",
			rep.RowsRead, rep.Delivered, rep.Rejected, rep.Filtered, rep.FilteredNoMessage)
	}
	wantMsgs := MessageCounts{Delivered: 5, Rejected: 3, Filtered: 4}
	if rep.Messages == nil || *rep.Messages != wantMsgs {
		t.Errorf("messages %+v, want %+v", rep.Messages, wantMsgs)
	}
	wantReasons := map[string]int64{sink.ReasonInvalidValue: 1, sink.ReasonServerRejected: 2}
	if !reflect.DeepEqual(rep.RejectedByReason, wantReasons) || !reflect.DeepEqual(rep.FilteredByRule, map[string]int64{"internal": 1}) {
		t.Errorf("rejected by reason %v, filtered by rule %v", rep.RejectedByReason, rep.FilteredByRule)
	}
	var users []string
	for _, m := range fs.messages {
		users = append(users, fmt.Sprint(m["type"], " ", m["userId"]))
	}
	wantUsers := []string{"track u1", "identify u1", "track u2", "track u6", "identify u7"}
	if !slices.Equal(users, wantUsers) {
		t.Errorf("delivered %q, want %q", users, wantUsers)
	}
	rejects := readRejectsFile(t, cfg.RejectsPath)
	if len(rejects) != 4 {
		t.Fatalf("%d rejects, want 4: %+v", len(rejects), rejects)
	}
	if r := rejects[0]; r.Line != 6 || r.Reason != sink.ReasonInvalidValue || r.Message != "messages[0]" ||
		r.Error != src+`:6: messages[0].properties.n: column "n": value "five": declared int: not an integer` {
		t.Errorf("mapping reject %+v", r)
	}
	if r := rejects[1]; r.Line != 7 || r.Reason != sink.ReasonServerRejected || r.Message != "messages[1]" || r.RawIs != RawIsMessage ||
		r.Error != src+":7: messages[1]: refused by the destination: bad trait" || !strings.Contains(r.Raw, `"type":"identify"`) {
		t.Errorf("refused message %+v", r)
	}
	// Both messages of row 9 were refused: a line each, one row rejected.
	for i, entry := range []string{"messages[0]", "messages[1]"} {
		if r := rejects[2+i]; r.Line != 9 || r.Reason != sink.ReasonServerRejected || r.Message != entry {
			t.Errorf("refused message %d of row 9: %+v", i, r)
		}
	}
	text := rep.Summary()
	for _, line := range []string{"    no message             1\n", "  messages: delivered 5, rejected 3, not made 4 (when false or outside the time window)\n"} {
		if !strings.Contains(text, line) {
			t.Errorf("report text lacks %q:\n%s", line, text)
		}
	}
	cp, err := LoadCheckpoint(cfg.CheckpointPath)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Totals.Messages == nil || *cp.Totals.Messages != wantMsgs || cp.Totals.FilteredNoMessage != 1 {
		t.Errorf("checkpoint totals %+v", cp.Totals)
	}
	// A second run finds the import complete, with the same counts.
	rep2, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !rep2.AlreadyComplete || rep2.Messages == nil || *rep2.Messages != wantMsgs || rep2.FilteredNoMessage != 1 {
		t.Errorf("second run: %+v", rep2)
	}
}

// writeMultiCSV writes n rows, each making a track and an identify
// (every third only a track), and returns the messages they make, as
// "type userId".
func writeMultiCSV(t *testing.T, dir string, n int) (string, []string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("ts,user,kind,event,n,plan\n")
	var want []string
	for i := 1; i <= n; i++ {
		plan := "pro"
		if i%3 == 0 {
			plan = ""
		}
		fmt.Fprintf(&b, "2024-03-01T12:00:00Z,u%d,web,E,%d,%s\n", i, i, plan)
		want = append(want, fmt.Sprintf("track u%d", i))
		if plan != "" {
			want = append(want, fmt.Sprintf("identify u%d", i))
		}
	}
	path := filepath.Join(dir, "events.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, want
}

// wholeRows fails a test whose batch holds part of a row's messages: the
// identify of a row goes with its track.
func wholeRows(t *testing.T, b *sink.Batch) {
	for i := range b.Len() {
		var m struct{ Type, UserID string }
		if err := json.Unmarshal(b.Message(i), &m); err != nil {
			t.Error(err)
			return
		}
		if m.Type == "identify" && (i == 0 || !strings.Contains(string(b.Message(i-1)), `"userId":"`+m.UserID+`"`)) {
			t.Errorf("the identify of %s is not in the batch of its track", m.UserID)
		}
	}
}

// TestAResumeSendsEachMessageOfARowOnce interrupts an import of rows of
// two messages at its third batch, whose batches (of at most 5
// messages) end between rows, then resumes it: every message is
// delivered once, with the ids of the first run.
func TestAResumeSendsEachMessageOfARowOnce(t *testing.T) {
	dir := t.TempDir()
	src, want := writeMultiCSV(t, dir, 30)
	ctx, cancel := context.WithCancel(context.Background())
	interrupt := interruptAtSend(cancel, 3)
	first := &fakeSink{send: func(ctx context.Context, b *sink.Batch) error {
		wholeRows(t, b)
		return interrupt(ctx, b)
	}}
	cfg := checkpointConfig(dir, []string{src}, first)
	cfg.Spec, cfg.Limits = parseMultiSpec(t), sink.Limits{MaxMessages: 5}
	if _, err := Run(ctx, cfg); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want the run interrupted", err)
	}
	if first.batches < 3 || len(first.messages) == 0 {
		t.Fatalf("the first run sent %d batches", first.batches)
	}
	second := &fakeSink{send: func(_ context.Context, b *sink.Batch) error { wholeRows(t, b); return nil }}
	cfg.Sink = second
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.Check(); err != nil {
		t.Fatal(err)
	}
	var got []string
	ids := map[string]int{}
	for _, m := range append(first.messages, second.messages...) {
		got = append(got, fmt.Sprint(m["type"], " ", m["userId"]))
		ids[m["messageId"].(string)]++
	}
	if !slices.Equal(got, want) {
		t.Errorf("delivered over both runs:\n%q\nwant\n%q", got, want)
	}
	if len(ids) != len(want) {
		t.Errorf("%d distinct messageIds for %d messages", len(ids), len(want))
	}
	wantMsgs := MessageCounts{Delivered: int64(len(want)), Filtered: 10}
	if !rep.Resumed || rep.RowsRead != 30 || rep.Delivered != 30 || rep.Messages == nil || *rep.Messages != wantMsgs {
		t.Errorf("report after resuming: resumed %v, %d rows read, %d delivered, messages %+v; want 30, 30, %+v",
			rep.Resumed, rep.RowsRead, rep.Delivered, rep.Messages, wantMsgs)
	}
}

// TestACrashAfterACheckpointResendsNoRowItCovers stops an import as a
// kill would once its second checkpoint is on disk, and resumes from
// what the crash left: the rows the checkpoint covers are not sent
// again, every other message is, and none is lost.
func TestACrashAfterACheckpointResendsNoRowItCovers(t *testing.T) {
	dir := t.TempDir()
	src, want := writeMultiCSV(t, dir, 30)
	cfg := checkpointConfig(dir, []string{src}, &fakeSink{send: func(_ context.Context, b *sink.Batch) error { wholeRows(t, b); return nil }})
	cfg.Spec, cfg.Limits = parseMultiSpec(t), sink.Limits{MaxMessages: 5}
	crashed := filepath.Join(dir, "crashed.json")
	hits := 0
	cfg.crashHook = func(point string) {
		if point == crashCheckpointRenamed {
			if hits++; hits == 2 {
				b, err := os.ReadFile(cfg.CheckpointPath)
				if err != nil {
					t.Error(err)
				}
				os.WriteFile(crashed, b, 0o600)
			}
		}
	}
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(crashed)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg.CheckpointPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cp, err := LoadCheckpoint(cfg.CheckpointPath)
	if err != nil {
		t.Fatal(err)
	}
	covered := cp.Totals.Messages.Delivered
	if cp.Totals.Read == 0 || cp.Totals.Read == 30 || covered == 0 {
		t.Fatalf("the checkpoint of the crash covers %d rows, %d messages", cp.Totals.Read, covered)
	}
	cfg.crashHook = nil
	resumed := &fakeSink{send: func(_ context.Context, b *sink.Batch) error { wholeRows(t, b); return nil }}
	cfg.Sink = resumed
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range resumed.messages {
		got = append(got, fmt.Sprint(m["type"], " ", m["userId"]))
	}
	if !slices.Equal(got, want[covered:]) {
		t.Errorf("resumed run sent\n%q\nwant the messages after the %d the checkpoint covers\n%q", got, covered, want[covered:])
	}
	if rep.RowsRead != 30 || rep.Delivered != 30 || rep.Messages == nil || rep.Messages.Delivered != int64(len(want)) {
		t.Errorf("report after resuming: %d rows read, %d delivered, messages %+v", rep.RowsRead, rep.Delivered, rep.Messages)
	}
}

// A mapping whose rows may make more messages than a batch holds is
// refused before anything is read.
func TestMoreMessagesPerRowThanABatchHolds(t *testing.T) {
	cfg := Config{Sources: []string{"x.csv"}, Sink: &fakeSink{send: accept}, Spec: parseMultiSpec(t), Limits: sink.Limits{MaxMessages: 1}}
	err := cfg.Validate()
	want := "config: Limits.MaxMessages is 1, fewer than the 2 messages a row of the mapping may make (messages:), which are sent in one batch"
	if err == nil || err.Error() != want {
		t.Errorf("Validate = %v, want %s", err, want)
	}
}

// A row whose messages together do not fit in one batch is rejected
// whole, with its row as read.
func TestARowWhoseMessagesDoNotFitInABatchIsRejected(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "events.csv")
	long := strings.Repeat("x", 700)
	csv := "ts,user,kind,event,n,plan\n" +
		"2024-03-01T12:00:00Z,u1,web,E,1,pro\n" +
		"2024-03-01T12:00:00Z,u2,web," + long + ",2," + long + "\n"
	if err := os.WriteFile(src, []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	fs := &fakeSink{send: accept}
	cfg := Config{Sources: []string{src}, Spec: parseMultiSpec(t), Sink: fs, RejectsPath: filepath.Join(dir, "r.ndjson"),
		Limits: sink.Limits{MaxBatchBytes: 1500, MaxMessageBytes: 1000}}
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Delivered != 1 || rep.Rejected != 1 || len(fs.messages) != 2 {
		t.Fatalf("report %+v, %d messages sent", rep, len(fs.messages))
	}
	rejects := readRejectsFile(t, cfg.RejectsPath)
	if len(rejects) != 1 || rejects[0].Line != 3 || rejects[0].Reason != sink.ReasonMessageTooLarge || !strings.HasPrefix(rejects[0].Raw, "2024-03-01T12:00:00Z,u2,") ||
		!strings.HasSuffix(rejects[0].Error, "do not fit in one batch of at most 1500 bytes and 2500 messages, and the messages of a row are sent together") {
		t.Errorf("rejects %+v", rejects)
	}
}
