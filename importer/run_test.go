package importer

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backfillhq/backfill/mappings"
	"github.com/backfillhq/backfill/sink"
)

// fakeSink is a Sink made of a function field, recording what it accepted.
type fakeSink struct {
	send func(ctx context.Context, b *sink.Batch) error

	mu       sync.Mutex
	messages []map[string]any
	batches  int
}

func (f *fakeSink) Send(ctx context.Context, b *sink.Batch) error {
	err := f.send(ctx, b)
	var rej *sink.RejectedError
	if err != nil && !errors.As(err, &rej) {
		return err
	}
	refused := map[int]bool{}
	if rej != nil {
		for _, m := range rej.Messages {
			refused[m.Index] = true
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.batches++
	for i := range b.Len() {
		if refused[i] {
			continue
		}
		var m map[string]any
		if jerr := json.Unmarshal(b.Message(i), &m); jerr != nil {
			return jerr
		}
		f.messages = append(f.messages, m)
	}
	return err
}

func accept(context.Context, *sink.Batch) error { return nil }

// writeNDJSON writes n track messages, one a line, and returns the path.
func writeNDJSON(t *testing.T, dir, name string, n int, bad map[int]string) string {
	t.Helper()
	var b strings.Builder
	for i := 1; i <= n; i++ {
		if line, ok := bad[i]; ok {
			b.WriteString(line + "\n")
			continue
		}
		fmt.Fprintf(&b, `{"type":"track","messageId":"%s-%d","userId":"u-%d","event":"E","timestamp":"2024-03-01T12:00:00Z","properties":{"i":%d}}`+"\n", name, i, i, i)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func readRejectsFile(t *testing.T, path string) []Reject {
	t.Helper()
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []Reject
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r Reject
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func TestRunDeliversEveryRowAndCountsAddUp(t *testing.T) {
	dir := t.TempDir()
	src := writeNDJSON(t, dir, "in.ndjson", 5000, map[int]string{
		17:   `{"type":"track"`,
		4000: `{"type":"track","messageId":"m-4000","event":"E","timestamp":"2024-03-01T12:00:00Z"}`,
	})
	fs := &fakeSink{send: accept}
	var finals int
	cfg := Config{
		Sources:     []string{src},
		Sink:        fs,
		Limits:      sink.Limits{MaxMessages: 100},
		RejectsPath: filepath.Join(dir, "rejects.ndjson"),
		Progress: func(p Progress) {
			if p.Final {
				finals++
			}
		},
	}
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.Check(); err != nil {
		t.Fatal(err)
	}
	if rep.RowsRead != 5000 || rep.Delivered != 4998 || rep.Rejected != 2 || !rep.Complete || rep.Unsettled != 0 {
		t.Fatalf("report %+v", rep)
	}
	if rep.RejectedByReason["invalid_json"] != 1 || rep.RejectedByReason["missing_id"] != 1 {
		t.Fatalf("rejects by reason %v", rep.RejectedByReason)
	}
	if finals != 1 {
		t.Fatalf("progress called %d times with Final, want 1", finals)
	}
	if len(fs.messages) != 4998 || fs.batches != 50 {
		t.Fatalf("sink got %d messages in %d batches", len(fs.messages), fs.batches)
	}
	seen := map[string]bool{}
	for _, m := range fs.messages {
		id := m["messageId"].(string)
		if seen[id] {
			t.Fatalf("%s delivered twice", id)
		}
		seen[id] = true
	}
	rejects := readRejectsFile(t, cfg.RejectsPath)
	if len(rejects) != 2 || rejects[0].Line != 17 || rejects[1].Line != 4000 || rejects[0].File != src {
		t.Fatalf("rejects %+v", rejects)
	}
}

func TestRunRejectsWhatTheDestinationRefuses(t *testing.T) {
	dir := t.TempDir()
	src := writeNDJSON(t, dir, "in.ndjson", 300, nil)
	fs := &fakeSink{send: func(_ context.Context, b *sink.Batch) error {
		var rej sink.RejectedError
		for i := range b.Len() {
			if strings.Contains(string(b.Message(i)), `"in.ndjson-150"`) {
				rej.Messages = append(rej.Messages, sink.RejectedMessage{Index: i, Reason: "server_rejected", Detail: "bad property"})
			}
		}
		if len(rej.Messages) > 0 {
			return &rej
		}
		return nil
	}}
	cfg := Config{Sources: []string{src}, Sink: fs, RejectsPath: filepath.Join(dir, "rejects.ndjson")}
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Delivered != 299 || rep.Rejected != 1 || rep.RejectedByReason["server_rejected"] != 1 {
		t.Fatalf("report %+v", rep)
	}
	rejects := readRejectsFile(t, cfg.RejectsPath)
	if len(rejects) != 1 || rejects[0].Line != 150 || rejects[0].Row != 150 || !strings.Contains(rejects[0].Raw, `"in.ndjson-150"`) ||
		!strings.Contains(rejects[0].Error, "bad property") {
		t.Fatalf("rejects %+v", rejects)
	}
}

func TestRunStopsWhenABatchCannotBeDelivered(t *testing.T) {
	dir := t.TempDir()
	src := writeNDJSON(t, dir, "in.ndjson", 1000, nil)
	var calls sync.Mutex
	n := 0
	fs := &fakeSink{send: func(context.Context, *sink.Batch) error {
		calls.Lock()
		defer calls.Unlock()
		n++
		if n == 3 {
			return fmt.Errorf("after 10 attempts: %w", sink.ErrUnauthorized)
		}
		return nil
	}}
	cfg := Config{Sources: []string{src}, Sink: fs, Limits: sink.Limits{MaxMessages: 50}, Concurrency: 1,
		RejectsPath: filepath.Join(dir, "rejects.ndjson")}
	rep, err := Run(context.Background(), cfg)
	if !errors.Is(err, sink.ErrUnauthorized) {
		t.Fatalf("err = %v, want ErrUnauthorized", err)
	}
	if !strings.Contains(err.Error(), src) {
		t.Fatalf("error %q does not name the file", err)
	}
	if rep.Complete || rep.Delivered != 100 || rep.Unsettled == 0 {
		t.Fatalf("report %+v", rep)
	}
	if cerr := rep.Check(); cerr != nil {
		t.Fatal(cerr)
	}
}

func TestRunCancelledContextStopsEveryStage(t *testing.T) {
	dir := t.TempDir()
	src := writeNDJSON(t, dir, "in.ndjson", 20000, nil)
	ctx, cancel := context.WithCancel(context.Background())
	// The sink never answers: only the end of the drain stops it.
	fs := &fakeSink{send: func(ctx context.Context, _ *sink.Batch) error {
		cancel()
		<-ctx.Done()
		return ctx.Err()
	}}
	rep, err := Run(ctx, Config{Sources: []string{src}, Sink: fs, Limits: sink.Limits{MaxMessages: 10},
		DrainTimeout: time.Millisecond, RejectsPath: filepath.Join(dir, "rejects.ndjson")})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if rep.Complete || rep.Delivered != 0 {
		t.Fatalf("report %+v", rep)
	}
	if cerr := rep.Check(); cerr != nil {
		t.Fatal(cerr)
	}
}

func TestRunInterruptedDrainsBatchesInFlight(t *testing.T) {
	dir := t.TempDir()
	src := writeNDJSON(t, dir, "in.ndjson", 20000, nil)
	ctx, cancel := context.WithCancel(context.Background())
	release := make(chan struct{})
	var once sync.Once
	fs := &fakeSink{send: func(ctx context.Context, _ *sink.Batch) error {
		// The first batches to arrive cancel the run, then wait to be
		// released: they are in flight when the interruption comes.
		once.Do(func() {
			cancel()
			go func() { time.Sleep(20 * time.Millisecond); close(release) }()
		})
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}}
	cp := filepath.Join(dir, "cp.json")
	rep, err := Run(ctx, Config{Sources: []string{src}, Sink: fs, Limits: sink.Limits{MaxMessages: 10}, Concurrency: 2,
		RejectsPath: filepath.Join(dir, "rejects.ndjson"), CheckpointPath: cp})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if rep.Delivered == 0 || rep.Delivered != int64(len(fs.messages)) {
		t.Fatalf("delivered %d, the sink accepted %d: in-flight batches did not drain", rep.Delivered, len(fs.messages))
	}
	saved, err := LoadCheckpoint(cp)
	if err != nil {
		t.Fatal(err)
	}
	if saved.Totals.Delivered != rep.Delivered || saved.Files[0].Status != StatusPartial {
		t.Fatalf("checkpoint %+v does not cover the %d delivered rows", saved.Totals, rep.Delivered)
	}
}

func TestRunWithSpecCompilesPerFile(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.csv")
	b := filepath.Join(dir, "b.csv")
	os.WriteFile(a, []byte("id,user,ts\n1,u1,2024-03-01T12:00:00Z\n"), 0o644)
	// Same columns in another order: indexes must be resolved per file.
	os.WriteFile(b, []byte("ts,user,id\n2024-03-02T12:00:00Z,u2,2\n"), 0o644)
	spec, err := mappings.ParseSpec([]byte("type: identify\nmessageId: id\nuserId: user\ntimestamp: ts\n"), "m.yaml")
	if err != nil {
		t.Fatal(err)
	}
	fs := &fakeSink{send: accept}
	rep, err := Run(context.Background(), Config{Sources: []string{a, b}, Spec: spec, Sink: fs, RejectsPath: filepath.Join(dir, "r.ndjson")})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Delivered != 2 || len(fs.messages) != 2 {
		t.Fatalf("report %+v", rep)
	}
	for _, m := range fs.messages {
		if m["userId"] != "u"+m["messageId"].(string) {
			t.Fatalf("message %v mixes columns", m)
		}
	}
}

func TestRunRefusesASpecThatNamesAMissingColumn(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.csv")
	os.WriteFile(a, []byte("id,user,ts\n1,u1,2024-03-01T12:00:00Z\n"), 0o644)
	spec, err := mappings.ParseSpec([]byte("type: identify\nuserId: uid\ntimestamp: ts\n"), "m.yaml")
	if err != nil {
		t.Fatal(err)
	}
	fs := &fakeSink{send: accept}
	_, err = Run(context.Background(), Config{Sources: []string{a}, Spec: spec, Sink: fs, RejectsPath: filepath.Join(dir, "r.ndjson")})
	if err == nil || !strings.Contains(err.Error(), "uid") || !strings.Contains(err.Error(), "a.csv") {
		t.Fatalf("err = %v, want an error naming the file and the column", err)
	}
	if fs.batches != 0 {
		t.Fatal("sent something")
	}
}

func TestRunStopsWhenTheErrorBudgetIsSpent(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  func(*Config)
		want string
	}{
		{"max rejects", func(c *Config) { c.MaxRejects = 50 }, "51 rows rejected, more than --max-rejects 50 allows"},
		{"reject rate", func(c *Config) { c.MaxRejectRate = 0.2; c.RejectWindow = 100 }, "of the last 100 rows were rejected (21%), more than --max-reject-rate 20% allows"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			bad := map[int]string{}
			for i := 500; i <= 5000; i += 2 { // from row 500 on, every other row is broken
				bad[i] = `{"type":"track","userId":"u","event":"E","timestamp":"yesterday"}`
			}
			src := writeNDJSON(t, dir, "in.ndjson", 5000, bad)
			fs := &fakeSink{send: accept}
			cfg := Config{Sources: []string{src}, Sink: fs, RejectsPath: filepath.Join(dir, "r.ndjson"), Limits: sink.Limits{MaxMessages: 10}}
			tc.cfg(&cfg)
			rep, err := Run(context.Background(), cfg)
			if !errors.Is(err, ErrTooManyRejects) {
				t.Fatalf("err = %v, want ErrTooManyRejects", err)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "bad_timestamp") || !strings.Contains(err.Error(), "in.ndjson:") {
				t.Fatalf("err = %v, want it to say %q and name the top reason with an example", err, tc.want)
			}
			if rep.RowsRead >= 5000 || rep.Complete {
				t.Fatalf("report %+v: the run did not stop early", rep)
			}
			if cerr := rep.Check(); cerr != nil {
				t.Fatal(cerr)
			}
		})
	}
}

func TestLongRunsOfRejectsAreSettledInRanges(t *testing.T) {
	dir := t.TempDir()
	bad := map[int]string{}
	for i := 1; i <= 2500; i++ {
		bad[i] = `{"broken`
	}
	src := writeNDJSON(t, dir, "in.ndjson", 2501, bad)
	cfg := Config{Sources: []string{src}, Sink: &fakeSink{send: accept}, RejectsPath: filepath.Join(dir, "r.ndjson"),
		CheckpointPath: filepath.Join(dir, "cp.json"), CheckpointInterval: -1, MaxInFlight: 1, MaxRejectRate: -1}
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rejected != 2500 || rep.Delivered != 1 {
		t.Fatalf("report %+v", rep)
	}
	rejects := readRejectsFile(t, cfg.RejectsPath)
	if len(rejects) != 2500 {
		t.Fatalf("%d rejects written, want 2500", len(rejects))
	}
	for i, r := range rejects {
		if r.Line != int64(i+1) {
			t.Fatalf("reject %d is of line %d: out of order", i, r.Line)
		}
	}
}
