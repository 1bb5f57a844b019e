package importer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCase7EditedCheckpointIsRefused stops an import with a reject behind
// it, edits its checkpoint by hand as a user might (marking it complete,
// lowering the rejects offset, changing a count), and runs it again: each
// edit is refused before anything is sent, naming the file and the way
// forward, the checkpoint and the rejects file left as they were; with
// Restart, the import starts over.
func TestCase7EditedCheckpointIsRefused(t *testing.T) {
	for _, tc := range []struct{ name, from, to string }{
		{"complete", `"complete": false`, `"complete": true`},
		{"rejects offset lowered", `"rejects_offset": `, `"rejects_offset": 1`},
		{"count changed", `"delivered": 300`, `"delivered": 301`},
		{"whitespace only", "\n  \"files\"", "\n    \"files\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			src := writeNDJSON(t, dir, "a.ndjson", 1000, map[int]string{50: `not json`})
			cfg := checkpointConfig(dir, []string{src}, &fakeSink{send: failAfter(3)})
			if _, err := Run(context.Background(), cfg); err == nil {
				t.Fatal("the first run should stop")
			}
			saved, err := os.ReadFile(cfg.CheckpointPath)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(saved, []byte(tc.from)) {
				t.Fatalf("the checkpoint lacks %q:\n%s", tc.from, saved)
			}
			edited := bytes.Replace(saved, []byte(tc.from), []byte(tc.to), 1)
			if err := os.WriteFile(cfg.CheckpointPath, edited, 0o600); err != nil {
				t.Fatal(err)
			}
			rejectsBefore, _ := os.ReadFile(cfg.RejectsPath)

			fs := &fakeSink{send: accept}
			cfg.Sink = fs
			rep, err := Run(context.Background(), cfg)
			want := "checkpoint " + cfg.CheckpointPath + " was modified outside backfill (its content does not match its checksum); it cannot be trusted: run with --restart to discard it and import everything again"
			if !errors.Is(err, ErrCheckpointModified) || err.Error() != want {
				t.Fatalf("err %v, want %s", err, want)
			}
			if fs.batches != 0 || rep.AlreadyComplete || rep.Complete {
				t.Fatalf("an edited checkpoint was trusted: %d batches sent, report %+v", fs.batches, rep)
			}
			if after, _ := os.ReadFile(cfg.CheckpointPath); !bytes.Equal(after, edited) {
				t.Fatal("the refused run changed the checkpoint")
			}
			if after, _ := os.ReadFile(cfg.RejectsPath); !bytes.Equal(after, rejectsBefore) {
				t.Fatal("the refused run changed the rejects file")
			}
			if _, err := LoadCheckpoint(cfg.CheckpointPath); !errors.Is(err, ErrCheckpointModified) {
				t.Fatalf("LoadCheckpoint: %v, want ErrCheckpointModified", err)
			}

			cfg.Restart = true
			rep, err = Run(context.Background(), cfg)
			if err != nil || !rep.Complete || rep.Resumed || rep.Delivered != 999 || rep.Rejected != 1 {
				t.Fatalf("restart: err %v, report %+v", err, rep)
			}
		})
	}
}

// TestACheckpointOfVersion1IsResumedAndSealed resumes from a checkpoint
// of version 1, which has no checksum: it is trusted as before, and the
// checkpoint the run writes is of the current version, with a checksum.
func TestACheckpointOfVersion1IsResumedAndSealed(t *testing.T) {
	dir := t.TempDir()
	src := writeNDJSON(t, dir, "a.ndjson", 1000, nil)
	cfg := checkpointConfig(dir, []string{src}, &fakeSink{send: failAfter(3)})
	if _, err := Run(context.Background(), cfg); err == nil {
		t.Fatal("the first run should stop")
	}
	var cp map[string]any
	b, _ := os.ReadFile(cfg.CheckpointPath)
	if err := json.Unmarshal(b, &cp); err != nil {
		t.Fatal(err)
	}
	cp["version"] = 1
	delete(cp, "checksum")
	b, _ = json.MarshalIndent(cp, "", "  ")
	if err := os.WriteFile(cfg.CheckpointPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	fs := &fakeSink{send: accept}
	cfg.Sink = fs
	rep, err := Run(context.Background(), cfg)
	if err != nil || !rep.Resumed || !rep.Complete || rep.Delivered != 1000 || len(fs.messages) != 700 {
		t.Fatalf("resume of a version 1 checkpoint: err %v, %d messages sent, report %+v", err, len(fs.messages), rep)
	}
	got, err := LoadCheckpoint(cfg.CheckpointPath)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != CheckpointVersion || !strings.HasPrefix(got.Checksum, "sha256:") || len(got.Checksum) != len("sha256:")+64 {
		t.Fatalf("the checkpoint written: version %d, checksum %q", got.Version, got.Checksum)
	}
}

// TestCheckpointRecordsAbsolutePaths runs an import whose source is named
// relative to the working folder: the checkpoint records its absolute
// path, and a run with the source spelled another way (./a.ndjson, or
// from the folder above) resumes it.
func TestCheckpointRecordsAbsolutePaths(t *testing.T) {
	dir := t.TempDir()
	work := filepath.Join(dir, "work")
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	writeNDJSON(t, work, "a.ndjson", 1000, nil)
	t.Chdir(work)
	cfg := checkpointConfig(dir, []string{"a.ndjson"}, &fakeSink{send: failAfter(3)})
	if _, err := Run(context.Background(), cfg); err == nil {
		t.Fatal("the first run should stop")
	}
	cp, err := LoadCheckpoint(cfg.CheckpointPath)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(work, "a.ndjson"); cp.Files[0].Path != want || cp.Dir != work {
		t.Fatalf("checkpoint records %s run in %s, want %s run in %s", cp.Files[0].Path, cp.Dir, want, work)
	}
	cfg.Sources = []string{"./a.ndjson"}
	cfg.Sink = &fakeSink{send: failAfter(2)}
	if rep, err := Run(context.Background(), cfg); err == nil || !rep.Resumed || rep.Delivered != 500 {
		t.Fatalf("resume as ./a.ndjson: err %v, report %+v", err, rep)
	}
	t.Chdir(dir)
	cfg.Sources = []string{"work/a.ndjson"}
	fs := &fakeSink{send: accept}
	cfg.Sink = fs
	if rep, err := Run(context.Background(), cfg); err != nil || !rep.Resumed || rep.Delivered != 1000 || len(fs.messages) != 500 {
		t.Fatalf("resume from the folder above: err %v, %d messages sent, report %+v", err, len(fs.messages), rep)
	}
}

// TestAnOlderCheckpointWithRelativePathsResumesFromItsFolder resumes a
// checkpoint of version 1, which records the sources as the command named
// them: run from the folder it ran in, it resumes; from another folder,
// it is refused, saying where to run it.
func TestAnOlderCheckpointWithRelativePathsResumesFromItsFolder(t *testing.T) {
	dir := t.TempDir()
	work := filepath.Join(dir, "work")
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	writeNDJSON(t, work, "a.ndjson", 1000, nil)
	t.Chdir(work)
	cfg := checkpointConfig(dir, []string{"a.ndjson"}, &fakeSink{send: failAfter(3)})
	if _, err := Run(context.Background(), cfg); err == nil {
		t.Fatal("the first run should stop")
	}
	var cp map[string]any
	b, _ := os.ReadFile(cfg.CheckpointPath)
	if err := json.Unmarshal(b, &cp); err != nil {
		t.Fatal(err)
	}
	cp["version"] = 1
	delete(cp, "checksum")
	delete(cp, "dir")
	cp["files"].([]any)[0].(map[string]any)["path"] = "a.ndjson"
	b, _ = json.MarshalIndent(cp, "", "  ")
	if err := os.WriteFile(cfg.CheckpointPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	older, _ := os.ReadFile(cfg.CheckpointPath)

	t.Chdir(dir)
	cfg.Sources = []string{"work/a.ndjson"}
	fs := &fakeSink{send: accept}
	cfg.Sink = fs
	_, err := Run(context.Background(), cfg)
	want := "file 1 was a.ndjson, relative to the folder that import ran in (a checkpoint of an older backfill), is now " + filepath.Join(work, "a.ndjson") + "; run the import from that folder"
	var mismatch *CheckpointMismatchError
	if !errors.As(err, &mismatch) || len(mismatch.Details) != 1 || mismatch.Details[0] != want || fs.batches != 0 {
		t.Fatalf("resume from another folder: %v (%d batches), want %s", err, fs.batches, want)
	}
	if after, _ := os.ReadFile(cfg.CheckpointPath); !bytes.Equal(after, older) {
		t.Fatal("the refused run changed the checkpoint")
	}

	t.Chdir(work)
	cfg.Sources = []string{"a.ndjson"}
	if rep, err := Run(context.Background(), cfg); err != nil || !rep.Resumed || rep.Delivered != 1000 || len(fs.messages) != 700 {
		t.Fatalf("resume from its folder: err %v, %d messages sent, report %+v", err, len(fs.messages), rep)
	}
}
