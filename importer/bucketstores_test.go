package importer

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/backfillhq/backfill/internal/blobtest"
)

// TestACheckpointInEachStoreIsLockedSavedAndRead takes the lock of a
// checkpoint in each object store, checks that a second run is refused
// while it is held (the lock object is created only if absent), saves the
// checkpoint, reads it back by its URL, and takes the lock again once it
// is released. Azure runs where Azurite is installed (make test).
func TestACheckpointInEachStoreIsLockedSavedAndRead(t *testing.T) {
	for _, tc := range []struct {
		name  string
		store func(t *testing.T) *blobtest.Server
	}{
		{"s3", func(t *testing.T) *blobtest.Server { return blobtest.S3(t, "bkt", blobtest.S3Options{}) }},
		{"gcs", func(t *testing.T) *blobtest.Server { return blobtest.GCS(t, "bkt") }},
		{"azure", func(t *testing.T) *blobtest.Server { return blobtest.Azure(t, "bkt") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.store(t)
			ctx := context.Background()
			cpURL := s.URL("jobs/cp.json")
			started := time.Now()
			held, err := lockBucketCheckpoint(ctx, cpURL, started, "run-held")
			if err != nil {
				t.Fatal(err)
			}
			_, err = lockBucketCheckpoint(ctx, cpURL, started, "run-second")
			var le *LockedError
			if !errors.As(err, &le) || le.Holder == nil || le.Holder.Run != "run-held" || le.Path != s.Name("jobs/cp.json") {
				t.Fatalf("err = %v, want a *LockedError naming run-held and %s", err, s.Name("jobs/cp.json"))
			}
			cp := &Checkpoint{Options: map[string]string{"destination": "stub"}, Files: []CheckpointFile{{Path: "/a.csv", Status: StatusPending}}}
			if err := held.save(cp, func(string) {}); err != nil {
				t.Fatal(err)
			}
			held.unlock()
			if ok, err := s.Blob().Exists(ctx, "jobs/.cp.json.lock"); ok || err != nil {
				t.Fatalf("the lock object is left after its release: %v, %v", ok, err)
			}
			got, err := LoadCheckpoint(cpURL)
			if err != nil || got.Options["destination"] != "stub" || len(got.Files) != 1 {
				t.Fatalf("LoadCheckpoint = %+v, %v", got, err)
			}
			again, err := lockBucketCheckpoint(ctx, cpURL, started, "run-third")
			if err != nil {
				t.Fatalf("the released lock is not free: %v", err)
			}
			again.unlock()
		})
	}
}

// TestAnImportOfABucketSkipsItsCheckpointInIt imports a folder of a bucket
// that also holds the import's checkpoint (and its lock and copy of the
// rejects, hidden): the checkpoint object is never read as a source, so
// the resumed run finds the same one source the first saw.
func TestAnImportOfABucketSkipsItsCheckpointInIt(t *testing.T) {
	s := blobtest.S3(t, "bkt", blobtest.S3Options{})
	dir := t.TempDir()
	a := writeNDJSON(t, dir, "a.ndjson", 500, map[int]string{20: `{"broken`})
	body, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	s.Put(t, "data/a.ndjson", body)
	cfg := checkpointConfig(dir, []string{s.URL("data")}, &fakeSink{send: failAfter(2)})
	cfg.CheckpointPath = s.URL("data/cp.json")
	if _, err := Run(context.Background(), cfg); err == nil {
		t.Fatal("the first run did not stop")
	}
	sink := &fakeSink{send: accept}
	cfg.Sink = sink
	rep, err := Run(context.Background(), cfg)
	if err != nil || !rep.Resumed || rep.Files != 1 || len(sink.messages) != 299 {
		t.Fatalf("resume: %v: resumed %t, %d files, %d messages sent; want 1 file, 299 messages", err, rep.Resumed, rep.Files, len(sink.messages))
	}
}
