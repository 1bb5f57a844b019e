package importer

import (
	"context"
	"errors"
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
