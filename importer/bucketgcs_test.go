package importer

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fsouza/fake-gcs-server/fakestorage"
)

// fakeGCS serves a Google Cloud Storage with the bucket "bkt" on
// 127.0.0.1 for the test, and points the client at it.
func fakeGCS(t *testing.T) {
	t.Helper()
	fs, err := fakestorage.NewServerWithOptions(fakestorage.Options{NoListener: true, Scheme: "http", PublicHost: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fs.Stop)
	fs.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: "bkt"})
	srv := httptest.NewServer(fs.HTTPHandler())
	t.Cleanup(srv.Close)
	t.Setenv("STORAGE_EMULATOR_HOST", strings.TrimPrefix(srv.URL, "http://"))
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", "")
}

func TestACheckpointInGoogleCloudStorageIsLockedAndResumed(t *testing.T) {
	fakeGCS(t)
	ctx := context.Background()
	const cpURL = "gs://bkt/jobs/cp.json"
	started := time.Now()
	held, err := lockBucketCheckpoint(ctx, cpURL, started, "run-held")
	if err != nil {
		t.Fatal(err)
	}
	// The object is created only if absent: a second run is refused.
	_, err = lockBucketCheckpoint(ctx, cpURL, started, "run-second")
	var le *LockedError
	if !errors.As(err, &le) || le.Holder == nil || le.Holder.Run != "run-held" || le.Path != cpURL {
		t.Fatalf("err = %v, want a *LockedError naming run-held", err)
	}
	cp := &Checkpoint{Options: map[string]string{"destination": "stub"}, Files: []CheckpointFile{{Path: "/a.csv", Status: StatusPending}}}
	if err := held.save(cp, func(string) {}); err != nil {
		t.Fatal(err)
	}
	held.unlock()
	got, err := LoadCheckpoint(cpURL)
	if err != nil || got.Options["destination"] != "stub" || len(got.Files) != 1 {
		t.Fatalf("LoadCheckpoint = %+v, %v", got, err)
	}
	again, err := lockBucketCheckpoint(ctx, cpURL, started, "run-third")
	if err != nil {
		t.Fatalf("the released lock is not free: %v", err)
	}
	again.unlock()
}
