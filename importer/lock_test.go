package importer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gofrs/flock"

	"github.com/backfillhq/backfill/sink"
)

// holdLock takes the lock of the checkpoint or rejects file at path, as
// another run would, with record (written from the file's second byte) as
// its holder; the lock is released at the end of the test.
func holdLock(t *testing.T, path, record string) {
	t.Helper()
	l := flock.New(LockPath(path))
	ok, err := l.TryLock()
	if err != nil || !ok {
		t.Fatalf("lock %s: %v, %v", path, ok, err)
	}
	t.Cleanup(func() { l.Unlock() })
	if record != "" {
		if err := os.WriteFile(LockPath(path), []byte(" "+record+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// checkUnlocked fails unless the locks of path are free.
func checkUnlocked(t *testing.T, path string) {
	t.Helper()
	l := flock.New(LockPath(path))
	ok, err := l.TryLock()
	if err != nil || !ok {
		t.Fatalf("%s is still locked after the run: %v, %v", path, ok, err)
	}
	l.Unlock()
}

const holder = `{"pid":4242,"host":"build-7","since":"2026-12-06T02:50:00Z"}`

func TestALockedCheckpointStopsTheRunBeforeReadingOrSending(t *testing.T) {
	dir := t.TempDir()
	src := writeNDJSON(t, dir, "a.ndjson", 300, map[int]string{5: `{"broken`})
	first := checkpointConfig(dir, []string{src}, &fakeSink{send: failAfter(1)})
	if _, err := Run(context.Background(), first); err == nil {
		t.Fatal("the first run did not fail")
	}
	cpBefore, err := os.ReadFile(first.CheckpointPath)
	if err != nil {
		t.Fatal(err)
	}
	rejBefore, err := os.ReadFile(first.RejectsPath)
	if err != nil {
		t.Fatal(err)
	}

	holdLock(t, first.CheckpointPath, holder)
	s := &fakeSink{send: accept}
	cfg := checkpointConfig(dir, []string{src}, s)
	rep, err := Run(context.Background(), cfg)
	want := "checkpoint " + cfg.CheckpointPath + " is in use by another run (pid 4242 on host build-7, since 2026-12-06T02:50:00Z); wait for it to end, or stop it"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
	var le *LockedError
	if !errors.As(err, &le) || !errors.Is(err, ErrLocked) {
		t.Fatalf("err = %#v, want a *LockedError matching ErrLocked", err)
	}
	if le.What != "checkpoint" || le.Path != cfg.CheckpointPath || *le.Holder != (LockHolder{PID: 4242, Host: "build-7", Since: le.Holder.Since}) {
		t.Fatalf("error = %+v", le)
	}
	if len(s.messages) != 0 || s.batches != 0 || rep.RowsRead != 0 {
		t.Fatalf("sent %d messages in %d batches, read %d rows, want none", len(s.messages), s.batches, rep.RowsRead)
	}
	if got, _ := os.ReadFile(cfg.CheckpointPath); string(got) != string(cpBefore) {
		t.Fatal("the checkpoint changed")
	}
	if got, _ := os.ReadFile(cfg.RejectsPath); string(got) != string(rejBefore) {
		t.Fatal("the rejects file changed")
	}
}

func TestALockWithoutARecordIsNamedWithoutItsHolder(t *testing.T) {
	dir := t.TempDir()
	src := writeNDJSON(t, dir, "a.ndjson", 3, nil)
	s := &fakeSink{send: accept}
	cfg := checkpointConfig(dir, []string{src}, s)
	holdLock(t, cfg.CheckpointPath, "")
	_, err := Run(context.Background(), cfg)
	want := "checkpoint " + cfg.CheckpointPath + " is in use by another run; wait for it to end, or stop it"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
	if len(s.messages) != 0 {
		t.Fatalf("sent %d messages, want none", len(s.messages))
	}
	if _, err := os.Stat(cfg.CheckpointPath); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("checkpoint: %v, want none written", err)
	}
}

// blockingSink holds its first batch until released, so that a test can
// act while a run is under way.
type blockingSink struct {
	fakeSink
	sending chan struct{} // closed when the first batch arrives
	release chan struct{}
}

func newBlockingSink() *blockingSink {
	b := &blockingSink{sending: make(chan struct{}), release: make(chan struct{})}
	first := true
	b.send = func(ctx context.Context, _ *sink.Batch) error {
		b.mu.Lock()
		wait := first
		first = false
		b.mu.Unlock()
		if wait {
			close(b.sending)
			<-b.release
		}
		return nil
	}
	return b
}

func TestTwoImportsOfOneRejectsFileDoNotRunAtOnce(t *testing.T) {
	dir := t.TempDir()
	a := writeNDJSON(t, dir, "a.ndjson", 5, map[int]string{2: `{"broken`})
	b := writeNDJSON(t, dir, "b.ndjson", 5, map[int]string{3: `{"broken`})
	blocking := newBlockingSink()
	first := checkpointConfig(dir, []string{a}, blocking)
	first.CheckpointPath = filepath.Join(dir, "a.json")
	done := make(chan error, 1)
	go func() {
		_, err := Run(context.Background(), first)
		done <- err
	}()
	<-blocking.sending

	// The running import records itself in both lock files.
	host, _ := os.Hostname()
	for _, p := range []string{first.CheckpointPath, first.RejectsPath} {
		h := readHolder(LockPath(p))
		if h == nil || h.PID != os.Getpid() || h.Host != host || h.Since.IsZero() {
			t.Fatalf("holder of %s = %+v, want pid %d on host %s", p, h, os.Getpid(), host)
		}
	}

	s := &fakeSink{send: accept}
	second := checkpointConfig(dir, []string{b}, s)
	second.CheckpointPath = filepath.Join(dir, "b.json")
	_, err := Run(context.Background(), second)
	var le *LockedError
	if !errors.As(err, &le) || le.What != "rejects file" || le.Path != second.RejectsPath || le.Holder == nil || le.Holder.PID != os.Getpid() {
		t.Fatalf("err = %v, want the rejects file in use by pid %d", err, os.Getpid())
	}
	if len(s.messages) != 0 {
		t.Fatalf("sent %d messages, want none", len(s.messages))
	}
	// The checkpoint lock taken first is let go again.
	checkUnlocked(t, second.CheckpointPath)
	if _, err := os.Stat(second.CheckpointPath); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("checkpoint: %v, want none written", err)
	}

	close(blocking.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	rep, err := Run(context.Background(), second)
	if err != nil || rep.Delivered != 4 || rep.Rejected != 1 {
		t.Fatalf("second import after the first: %+v, %v", rep, err)
	}
	// The second import starts a rejects file of its own: the first's
	// is moved aside, not appended to.
	if got := readRejectsFile(t, second.RejectsPath); len(got) != 1 || got[0].File != b {
		t.Fatalf("rejects file holds %+v, want the one reject of %s", got, b)
	}
	aside := strings.TrimSuffix(second.RejectsPath, ".ndjson") + ".1.ndjson"
	if rep.RejectsMovedTo != aside {
		t.Fatalf("report: rejects moved to %q, want %q", rep.RejectsMovedTo, aside)
	}
	if got := readRejectsFile(t, aside); len(got) != 1 || got[0].File != a {
		t.Fatalf("%s holds %+v, want the one reject of %s", aside, got, a)
	}
}

func TestTheLocksAreReleasedHoweverTheRunEnds(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		send func(context.Context, *sink.Batch) error
		fail bool
	}{
		{"finished", context.Background(), accept, false},
		{"failed", context.Background(), failAfter(0), true},
		{"interrupted", cancelled, accept, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			src := writeNDJSON(t, dir, "a.ndjson", 300, map[int]string{7: `{"broken`})
			cfg := checkpointConfig(dir, []string{src}, &fakeSink{send: tc.send})
			if _, err := Run(tc.ctx, cfg); (err != nil) != tc.fail {
				t.Fatalf("err = %v", err)
			}
			checkUnlocked(t, cfg.CheckpointPath)
			checkUnlocked(t, cfg.RejectsPath)
			s := &fakeSink{send: accept}
			cfg.Sink = s
			rep, err := Run(context.Background(), cfg)
			if err != nil || !(rep.Complete || rep.AlreadyComplete) {
				t.Fatalf("the next run: %+v, %v", rep, err)
			}
		})
	}
}

func TestARunLocksOnlyTheFilesItWrites(t *testing.T) {
	// Without a checkpoint, only the rejects file is locked.
	dir := t.TempDir()
	src := writeNDJSON(t, dir, "a.ndjson", 3, map[int]string{2: `{"broken`})
	cfg := checkpointConfig(dir, []string{src}, &fakeSink{send: accept})
	holdLock(t, cfg.CheckpointPath, holder)
	cfg.CheckpointPath = ""
	if rep, err := Run(context.Background(), cfg); err != nil || rep.Delivered != 2 {
		t.Fatalf("without a checkpoint: %+v, %v", rep, err)
	}

	// Discarding rejects, only the checkpoint is locked.
	dir = t.TempDir()
	src = writeNDJSON(t, dir, "a.ndjson", 3, map[int]string{2: `{"broken`})
	cfg = checkpointConfig(dir, []string{src}, &fakeSink{send: accept})
	holdLock(t, cfg.RejectsPath, holder)
	cfg.DiscardRejects = true
	if rep, err := Run(context.Background(), cfg); err != nil || rep.Delivered != 2 {
		t.Fatalf("discarding rejects: %+v, %v", rep, err)
	}
	checkUnlocked(t, cfg.CheckpointPath)
}

func TestAFolderSourceDoesNotReadTheLockFiles(t *testing.T) {
	dir := t.TempDir()
	writeNDJSON(t, dir, "a.ndjson", 4, map[int]string{2: `{"broken`})
	cfg := checkpointConfig(dir, []string{dir}, &fakeSink{send: accept})
	cfg.RejectsPath = filepath.Join(dir, "import.rejects.ndjson")
	for i, cp := range []string{"a.json", "b.json"} {
		cfg.CheckpointPath = filepath.Join(dir, ".backfill", cp)
		rep, err := Run(context.Background(), cfg)
		if err != nil || rep.Files != 1 || rep.RowsRead != 4 {
			t.Fatalf("run %d: %d files, %d rows read, %v; want 1 file and 4 rows", i+1, rep.Files, rep.RowsRead, err)
		}
	}
	for _, p := range []string{LockPath(cfg.RejectsPath), LockPath(cfg.CheckpointPath)} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("lock file: %v", err)
		}
	}
}
