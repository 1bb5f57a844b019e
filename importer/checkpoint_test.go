package importer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backfillhq/backfill/mappings"
	"github.com/backfillhq/backfill/sink"
)

// failAfter returns a send function that accepts n batches, then fails every
// later one as a server that went away would, after its retries.
func failAfter(n int) func(context.Context, *sink.Batch) error {
	var mu sync.Mutex
	sent := 0
	return func(context.Context, *sink.Batch) error {
		mu.Lock()
		defer mu.Unlock()
		sent++
		if sent > n {
			return errors.New("http 503: after 10 attempts")
		}
		return nil
	}
}

func checkpointConfig(dir string, srcs []string, s sink.Sink) Config {
	return Config{
		Sources:            srcs,
		Sink:               s,
		Limits:             sink.Limits{MaxMessages: 100},
		Concurrency:        1,
		RejectsPath:        filepath.Join(dir, "rejects.ndjson"),
		CheckpointPath:     filepath.Join(dir, "cp.json"),
		CheckpointInterval: -1,
	}
}

func TestResumeDeliversEveryRowAndTheReportCoversTheWholeImport(t *testing.T) {
	dir := t.TempDir()
	bad := map[int]string{250: `{"type":"track"`, 1700: `not json`}
	a := writeNDJSON(t, dir, "a.ndjson", 1000, bad)
	b := writeNDJSON(t, dir, "b.ndjson", 2000, bad)

	first := &fakeSink{send: failAfter(13)}
	rep1, err := Run(context.Background(), checkpointConfig(dir, []string{a, b}, first))
	if err == nil || rep1.Complete {
		t.Fatalf("first run: err %v, report %+v; want it stopped", err, rep1)
	}
	cp, err := LoadCheckpoint(filepath.Join(dir, "cp.json"))
	if err != nil {
		t.Fatal(err)
	}
	if cp.Files[0].Status != StatusDone || cp.Files[1].Status != StatusPartial || cp.Complete {
		t.Fatalf("checkpoint after the failure: %+v", cp.Files)
	}
	if cp.Totals.Delivered != 1300 || cp.Totals.Rejected != 2 {
		t.Fatalf("checkpoint totals %+v, want the 13 acknowledged batches and the rejects among them", cp.Totals)
	}
	rejectsBefore := readRejectsFile(t, filepath.Join(dir, "rejects.ndjson"))

	second := &fakeSink{send: accept}
	rep2, err := Run(context.Background(), checkpointConfig(dir, []string{a, b}, second))
	if err != nil {
		t.Fatal(err)
	}
	if !rep2.Resumed || !rep2.Complete || rep2.RowsRead != 3000 || rep2.Delivered != 2997 || rep2.Rejected != 3 {
		t.Fatalf("resumed report %+v, want the whole import counted", rep2)
	}
	got := map[string]int{}
	for _, m := range append(first.messages, second.messages...) {
		got[m["messageId"].(string)]++
	}
	for _, f := range []struct {
		name string
		rows int
	}{{"a.ndjson", 1000}, {"b.ndjson", 2000}} {
		for i := 1; i <= f.rows; i++ {
			id := fmt.Sprintf("%s-%d", f.name, i)
			want := 1
			if bad[i] != "" {
				want = 0
			}
			if got[id] != want {
				t.Fatalf("%s delivered %d times, want %d", id, got[id], want)
			}
		}
	}
	rejects := readRejectsFile(t, filepath.Join(dir, "rejects.ndjson"))
	if len(rejects) != 3 || len(rejectsBefore) != 2 {
		t.Fatalf("rejects file has %d lines (before resume %d), want 3: every reject once", len(rejects), len(rejectsBefore))
	}

	// A finished import run again sends nothing.
	third := &fakeSink{send: accept}
	rep3, err := Run(context.Background(), checkpointConfig(dir, []string{a, b}, third))
	if err != nil {
		t.Fatal(err)
	}
	if !rep3.AlreadyComplete || third.batches != 0 || rep3.Delivered != 2997 {
		t.Fatalf("re-run of a finished import: report %+v, %d batches sent", rep3, third.batches)
	}
}

func TestCheckpointMismatchStopsBeforeSendingAndChangesNothing(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, dir string, cfg *Config)
		want   string
	}{
		{"source file shrank", func(t *testing.T, dir string, cfg *Config) {
			os.Truncate(cfg.Sources[0], 130000)
		}, "a.ndjson changed: size was 130679 bytes, is now 130000"},
		{"source content changed, same size", func(t *testing.T, dir string, cfg *Config) {
			b, _ := os.ReadFile(cfg.Sources[0])
			b = bytes.Replace(b, []byte(`"u-1"`), []byte(`"u-X"`), 1)
			os.WriteFile(cfg.Sources[0], b, 0o644)
		}, "a.ndjson changed: its first 33212 bytes differ from what the checkpoint saw"},
		{"mapping changed", func(t *testing.T, dir string, cfg *Config) {
			cfg.Spec = testSpec(t, "# another mapping")
		}, "the mapping changed: option mapping was"},
		{"limits changed", func(t *testing.T, dir string, cfg *Config) {
			cfg.Limits.MaxMessages = 50
		}, "option limits was"},
		{"file added", func(t *testing.T, dir string, cfg *Config) {
			cfg.Sources = append(cfg.Sources, writeNDJSON(t, dir, "extra.ndjson", 10, nil))
		}, "the sources are 2 files"},
		{"checkpoint corrupt", func(t *testing.T, dir string, cfg *Config) {
			os.WriteFile(cfg.CheckpointPath, []byte(`{"version":1,"files":[{"path":`), 0o600)
		}, "is corrupt"},
		{"checkpoint truncated to nothing", func(t *testing.T, dir string, cfg *Config) {
			os.WriteFile(cfg.CheckpointPath, nil, 0o600)
		}, "is corrupt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			src := writeNDJSON(t, dir, "a.ndjson", 1000, nil)
			cfg := checkpointConfig(dir, []string{src}, &fakeSink{send: failAfter(3)})
			if _, err := Run(context.Background(), cfg); err == nil {
				t.Fatal("first run should stop")
			}
			tc.change(t, dir, &cfg)
			before, _ := os.ReadFile(cfg.CheckpointPath)
			fs := &fakeSink{send: accept}
			cfg.Sink = fs
			_, err := Run(context.Background(), cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to say %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), "--restart") {
				t.Fatalf("err = %v does not say how to start over", err)
			}
			if fs.batches != 0 {
				t.Fatalf("%d batches sent despite the mismatch", fs.batches)
			}
			after, _ := os.ReadFile(cfg.CheckpointPath)
			if !bytes.Equal(before, after) {
				t.Fatal("the checkpoint was changed")
			}
			// --restart starts over.
			cfg.Restart = true
			rep, err := Run(context.Background(), cfg)
			if err != nil || rep.Delivered != int64(len(fs.messages)) || rep.Resumed {
				t.Fatalf("restart: err %v, report %+v", err, rep)
			}
		})
	}
}

func TestCheckpointNeverHoldsTheWriteKey(t *testing.T) {
	// The importer is never given the key; what it records comes from
	// Options, Command and the sources. The command puts no key there; this
	// guards the file's mode.
	dir := t.TempDir()
	src := writeNDJSON(t, dir, "a.ndjson", 10, nil)
	cfg := checkpointConfig(dir, []string{src}, &fakeSink{send: accept})
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(cfg.CheckpointPath)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("checkpoint mode %v, want 0600", st.Mode().Perm())
	}
}

func TestFullDiskStopsTheRunAndKeepsTheCheckpoint(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full on this system")
	}
	dir := t.TempDir()
	src := writeNDJSON(t, dir, "a.ndjson", 3000, map[int]string{2500: `{"broken`})
	cfg := checkpointConfig(dir, []string{src}, &fakeSink{send: accept})
	// The disk fills up once the first batch is acknowledged: from then
	// on, every write of the rejects file fails.
	cfg.RejectsPath = filepath.Join(dir, "rejects.ndjson")
	var once sync.Once
	cfg.crashHook = func(point string) {
		if point == crashBatchAcked {
			once.Do(func() {
				if err := os.Symlink("/dev/full", cfg.RejectsPath); err != nil {
					t.Error(err)
				}
			})
		}
	}
	rep, err := Run(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("err = %v, want the disk-full error", err)
	}
	if rep.Complete {
		t.Fatal("report says complete")
	}
	if cerr := rep.Check(); cerr != nil {
		t.Fatal(cerr)
	}
	cp, lerr := LoadCheckpoint(cfg.CheckpointPath)
	if lerr != nil {
		t.Fatal(lerr)
	}
	// The checkpoint stops before the row whose reject could not be written.
	if cp.Complete || cp.Files[0].Status == StatusDone || cp.Totals.Read >= 2500 {
		t.Fatalf("checkpoint %+v covers the reject that was never written", cp.Totals)
	}
	// With room on the disk again, the same import resumes and finishes.
	cfg.crashHook = nil
	if err := os.Remove(cfg.RejectsPath); err != nil {
		t.Fatal(err)
	}
	if rep, err = Run(context.Background(), cfg); err != nil || !rep.Complete || rep.Rejected != 1 {
		t.Fatalf("resume with room on the disk: err %v, report %+v", err, rep)
	}
}

// TestCase6ARejectsFileThatCannotBeWrittenStopsTheRunBeforeSending gives
// the run a rejects file on a device that refuses every write, and one in
// a folder that cannot take files: the run stops before it sends anything,
// naming the file and the cause, and keeps no checkpoint.
func TestCase6ARejectsFileThatCannotBeWrittenStopsTheRunBeforeSending(t *testing.T) {
	dir := t.TempDir()
	ro := filepath.Join(dir, "ro")
	if err := os.Mkdir(ro, 0o500); err != nil {
		t.Fatal(err)
	}
	cause := "permission denied"
	if f, err := os.CreateTemp(ro, "probe"); err == nil {
		// Permissions do not stop this process (root): a folder below a
		// regular file cannot take files either.
		f.Close()
		file := filepath.Join(dir, "a-file")
		if err := os.WriteFile(file, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		ro, cause = filepath.Join(file, "sub"), "not a directory"
	}
	src := writeNDJSON(t, dir, "a.ndjson", 100, nil)
	for _, tc := range []struct{ rejects, want string }{
		{"/dev/full", "rejects: /dev/full cannot be written: write /dev/full: no space left on device; nothing was sent"},
		// The lock beside the file is the first to find its folder
		// unwritable.
		{filepath.Join(ro, "rejects.ndjson"), "rejects file " + filepath.Join(ro, "rejects.ndjson") + ": lock " + filepath.Join(ro, ".rejects.ndjson.lock") + ": open " + filepath.Join(ro, ".rejects.ndjson.lock") + ": " + cause},
	} {
		if tc.rejects == "/dev/full" {
			if _, err := os.Stat("/dev/full"); err != nil {
				continue
			}
		}
		fs := &fakeSink{send: accept}
		cfg := checkpointConfig(t.TempDir(), []string{src}, fs)
		cfg.RejectsPath = tc.rejects
		_, err := Run(context.Background(), cfg)
		if err == nil || err.Error() != tc.want {
			t.Errorf("rejects %s: err %v, want %s", tc.rejects, err, tc.want)
		}
		if fs.batches != 0 {
			t.Errorf("rejects %s: %d batches sent", tc.rejects, fs.batches)
		}
		if _, err := os.Stat(cfg.CheckpointPath); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("rejects %s: a checkpoint was written (%v)", tc.rejects, err)
		}
	}
}

// testSpec returns a mapping of the messages writeNDJSON writes; extra
// lines (comments) change its fingerprint, not what it does.
func testSpec(t *testing.T, extra string) *mappings.Spec {
	t.Helper()
	spec, err := mappings.ParseSpec([]byte("type: track\nmessageId: messageId\nuserId: userId\nevent: event\ntimestamp: timestamp\n"+extra+"\n"), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

// TestRunAloneRefusesAChangedImportOnResume resumes, through Run only, an
// import whose mapping, time window or destination changed.
func TestRunAloneRefusesAChangedImportOnResume(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, cfg *Config)
		want   string
	}{
		{"spec", func(t *testing.T, cfg *Config) { cfg.Spec = testSpec(t, "# the same, edited") }, "mapping"},
		{"spec to passthrough", func(t *testing.T, cfg *Config) { cfg.Spec = nil }, "mapping"},
		{"since", func(t *testing.T, cfg *Config) {
			cfg.Mapping.Since = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
		}, "since"},
		{"destination", func(t *testing.T, cfg *Config) { cfg.Destination = "segment https://events.eu1.segmentapis.com" }, "destination"},
		{"id namespace", func(t *testing.T, cfg *Config) { cfg.Mapping.IDNamespace = "trial" }, "id_namespace"},
		{"a caller's option does not override the mapping", func(t *testing.T, cfg *Config) {
			cfg.Spec = testSpec(t, "# edited")
			cfg.Options = map[string]string{"mapping": testSpec(t, "").Fingerprint()}
		}, "mapping"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			src := writeNDJSON(t, dir, "a.ndjson", 1000, nil)
			cfg := checkpointConfig(dir, []string{src}, &fakeSink{send: failAfter(3)})
			cfg.Spec = testSpec(t, "")
			cfg.Destination = "segment https://api.segment.io"
			if _, err := Run(context.Background(), cfg); err == nil {
				t.Fatal("first run should stop")
			}
			tc.change(t, &cfg)
			fs := &fakeSink{send: accept}
			cfg.Sink = fs
			_, err := Run(context.Background(), cfg)
			var mismatch *CheckpointMismatchError
			if !errors.As(err, &mismatch) || !errors.Is(err, ErrCheckpointMismatch) {
				t.Fatalf("err = %v, want a *CheckpointMismatchError", err)
			}
			if !slices.Equal(mismatch.Changed, []string{tc.want}) || mismatch.Path != cfg.CheckpointPath {
				t.Fatalf("mismatch of %s says %v changed, want [%s]: %v", mismatch.Path, mismatch.Changed, tc.want, err)
			}
			if fs.batches != 0 {
				t.Fatalf("%d batches sent despite the mismatch", fs.batches)
			}
		})
	}
}

// writeEditedCheckpoint writes cp, a checkpoint decoded into a map and
// changed, to path with a checksum that matches, as backfill itself would
// have written it: for tests of what a run does with such content.
func writeEditedCheckpoint(t *testing.T, path string, cp map[string]any) {
	t.Helper()
	cp["checksum"] = ""
	b, err := json.MarshalIndent(cp, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, sealCheckpoint(b), 0o600); err != nil {
		t.Fatal(err)
	}
}
