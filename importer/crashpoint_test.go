package importer

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/backfillhq/backfill/sink"
)

func TestOpenRejectsCutsWhatTheCheckpointDoesNotCover(t *testing.T) {
	const kept = `{"file":"a.ndjson","row":1,"reason":"invalid_json"}` + "\n"
	for _, tc := range []struct {
		name    string
		content string
		resume  bool
		offset  int64
		want    string
	}{
		{"fresh, no file", "", false, 0, ""},
		{"fresh, complete lines are kept", kept + kept, false, 0, kept + kept},
		{"fresh, a torn last line is cut", kept + `{"file":"a.nd`, false, 0, kept},
		{"fresh, nothing but a torn line", `{"file":"a.nd`, false, 0, ""},
		{"resume, rejects past the offset are cut", kept + kept + kept, true, int64(len(kept)), kept},
		{"resume, a torn line past the offset is cut", kept + `{"fi`, true, int64(len(kept)), kept},
		{"resume at the end", kept, true, int64(len(kept)), kept},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "rejects.ndjson")
			if tc.content != "" {
				if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			r, err := openRejects(path, tc.resume, tc.offset)
			if err != nil {
				t.Fatal(err)
			}
			if r.size() != int64(len(tc.want)) {
				t.Fatalf("the next reject goes at %d, want %d", r.size(), len(tc.want))
			}
			got, err := os.ReadFile(path)
			if err != nil && tc.want != "" {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Fatalf("rejects file holds %q, want %q", got, tc.want)
			}
		})
	}
}

func TestOpenRejectsRefusesAFileShorterThanTheCheckpointSays(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rejects.ndjson")
	os.WriteFile(path, []byte("{}\n"), 0o600)
	if _, err := openRejects(path, true, 100); err == nil {
		t.Fatal("a rejects file shorter than the checkpoint's offset was accepted")
	}
}

func TestTheCheckpointIsWrittenBeforeTheFirstRowIsRead(t *testing.T) {
	dir := t.TempDir()
	src := writeNDJSON(t, dir, "a.ndjson", 500, map[int]string{7: "not json"})
	earlier := []byte(`{"file":"earlier.csv","row":3,"reason":"bad_timestamp"}` + "\n")
	fs := &fakeSink{send: accept}
	cfg := checkpointConfig(dir, []string{src}, fs)
	if err := os.WriteFile(cfg.RejectsPath, earlier, 0o600); err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		first *Checkpoint
		err   error
	)
	cfg.crashHook = func(point string) {
		mu.Lock()
		defer mu.Unlock()
		if point == crashCheckpointRenamed && first == nil {
			first, err = LoadCheckpoint(cfg.CheckpointPath)
		}
	}
	if _, rerr := Run(context.Background(), cfg); rerr != nil {
		t.Fatal(rerr)
	}
	if err != nil {
		t.Fatal(err)
	}
	if first.RejectsOffset != 0 || first.Totals.Read != 0 || first.Files[0].Status != StatusPending {
		t.Fatalf("first checkpoint: rejects offset %d (want 0), %d rows read, status %s; want it written before any row",
			first.RejectsOffset, first.Totals.Read, first.Files[0].Status)
	}
	// A run that resumes nothing starts its own rejects file: the one an
	// earlier import left is moved aside, whole.
	got, _ := os.ReadFile(cfg.RejectsPath)
	if bytes.Contains(got, earlier) || bytes.Count(got, []byte{'\n'}) != 1 {
		t.Fatalf("rejects file:\n%s\nwant this run's one reject only", got)
	}
	aside, _ := os.ReadFile(strings.TrimSuffix(cfg.RejectsPath, ".ndjson") + ".1.ndjson")
	if !bytes.Equal(aside, earlier) {
		t.Fatalf("rejects file moved aside holds %q, want %q", aside, earlier)
	}
}

// TestACrashAtEachPointResumesToTheSameResult stops a run at each crash
// point, keeps the files as a kill there would leave them (what was
// written to them, not what was buffered), and resumes from them.
func TestACrashAtEachPointResumesToTheSameResult(t *testing.T) {
	bad := map[int]string{}
	for i := 40; i < 2000; i += 37 {
		bad[i] = `{"broken` + string(bytes.Repeat([]byte("x"), 3000))
	}
	// A run of long rejects that a single range commits, more than the
	// rejects file's buffer holds: a line of it straddles the buffer.
	for i := 1000; i < 1100; i++ {
		bad[i] = `{"broken` + string(bytes.Repeat([]byte("y"), 3001))
	}
	wantRejects := len(bad)
	for _, tc := range []struct {
		point string
		nth   int
	}{
		{crashBeforeFirstCheckpoint, 1},
		{crashCheckpointWritten, 1},
		{crashCheckpointWritten, 4},
		{crashCheckpointRenamed, 1},
		{crashCheckpointRenamed, 4},
		{crashRejectsFlushed, 3},
		{crashBatchAcked, 5},
		{crashRejectsTornLine, 1},
		{crashRunEnded, 1},
	} {
		t.Run(tc.point, func(t *testing.T) {
			dir := t.TempDir()
			src := writeNDJSON(t, dir, "a.ndjson", 2000, bad)
			cfg := checkpointConfig(dir, []string{src}, &fakeSink{send: accept})
			cfg.Concurrency = 2
			crashed := filepath.Join(dir, "crashed")
			var (
				mu   sync.Mutex
				hits int
			)
			// At the crash point, copy what is on disk: what a kill there
			// leaves for the next run.
			cfg.crashHook = func(point string) {
				mu.Lock()
				defer mu.Unlock()
				if point != tc.point {
					return
				}
				if hits++; hits != tc.nth {
					return
				}
				os.MkdirAll(crashed, 0o755)
				for _, p := range []string{cfg.CheckpointPath, cfg.RejectsPath} {
					if b, err := os.ReadFile(p); err == nil {
						os.WriteFile(filepath.Join(crashed, filepath.Base(p)), b, 0o600)
					}
				}
			}
			if _, err := Run(context.Background(), cfg); err != nil {
				t.Fatal(err)
			}
			if hits < tc.nth {
				t.Fatalf("crash point %s reached %d times, want %d", tc.point, hits, tc.nth)
			}
			// Put the files back as the crash left them, and resume.
			for _, p := range []string{cfg.CheckpointPath, cfg.RejectsPath} {
				os.Remove(p)
				if b, err := os.ReadFile(filepath.Join(crashed, filepath.Base(p))); err == nil {
					os.WriteFile(p, b, 0o600)
				}
			}
			cfg.crashHook = nil
			fs := &fakeSink{send: accept}
			cfg.Sink = fs
			rep, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if rep.RowsRead != 2000 || rep.Rejected != int64(wantRejects) || rep.Delivered != int64(2000-wantRejects) {
				t.Fatalf("report after resuming: %+v", rep)
			}
			b, err := os.ReadFile(cfg.RejectsPath)
			if err != nil {
				t.Fatal(err)
			}
			if len(b) > 0 && b[len(b)-1] != '\n' {
				t.Fatal("the rejects file ends with a torn line")
			}
			rows := map[int64]int{}
			for _, r := range readRejectsFile(t, cfg.RejectsPath) {
				rows[r.Line]++
			}
			if len(rows) != wantRejects {
				t.Fatalf("%d rows in the rejects file, want %d", len(rows), wantRejects)
			}
			for line, n := range rows {
				if n != 1 || bad[int(line)] == "" {
					t.Fatalf("line %d rejected %d times, want once and only if bad", line, n)
				}
			}
		})
	}
}

var _ sink.Sink = (*fakeSink)(nil)

// TestAnInterruptBeforeTheFirstRowSettlesNothing cancels the run where the
// first checkpoint is about to be written: no row is read, and none may be
// recorded as settled, or the resume would skip them.
func TestAnInterruptBeforeTheFirstRowSettlesNothing(t *testing.T) {
	for range 20 { // the stages see the end of ctx in any order
		dir := t.TempDir()
		src := writeNDJSON(t, dir, "a.ndjson", 300, nil)
		cfg := checkpointConfig(dir, []string{src}, &fakeSink{send: accept})
		ctx, cancel := context.WithCancel(context.Background())
		cfg.crashHook = func(point string) {
			if point == crashBeforeFirstCheckpoint {
				cancel()
			}
		}
		rep, err := Run(ctx, cfg)
		if !errors.Is(err, context.Canceled) || rep.Complete {
			t.Fatalf("interrupted run: err %v, complete %v; want it interrupted", err, rep.Complete)
		}
		cp, err := LoadCheckpoint(cfg.CheckpointPath)
		if err != nil {
			t.Fatal(err)
		}
		if cp.Files[0].Status == StatusDone || cp.Totals.Read != 0 {
			t.Fatalf("checkpoint after an interrupt before the first row: status %s, %d rows read", cp.Files[0].Status, cp.Totals.Read)
		}
		cfg.crashHook = nil
		fs := &fakeSink{send: accept}
		cfg.Sink = fs
		rep, err = Run(context.Background(), cfg)
		if err != nil || rep.Delivered != 300 || len(fs.messages) != 300 {
			t.Fatalf("resumed: err %v, %d delivered, %d sent; want 300", err, rep.Delivered, len(fs.messages))
		}
	}
}
