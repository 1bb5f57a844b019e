package importer

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/backfillhq/backfill/internal/blobtest"
	"github.com/backfillhq/backfill/readers"
)

// TestACheckpointInAStoreThatFailsGivesUpAfterThePolicy: the requests of
// a checkpoint in a bucket are tried as often as the policy says, no more
// (Google's SDK alone would try forever), and the error names the
// checkpoint and the cause.
func TestACheckpointInAStoreThatFailsGivesUpAfterThePolicy(t *testing.T) {
	old := checkpointRetry
	checkpointRetry = readers.ObjectRetry{MaxRetries: 2, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond}
	defer func() { checkpointRetry = old }()
	// Azure's SDK takes its retries from each request's context, which
	// the checkpoint's requests do not set: its own bounded default
	// applies, and is not counted here.
	for _, scheme := range []string{"s3", "gs"} {
		t.Run(scheme, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			name := "checkpoint: " + scheme + "://logs/cp.json: "

			addr, requests := blobtest.Unavailable(t)
			_, err := CheckpointExists(ctx, blobtest.At(t, scheme, addr, "cp.json"))
			if err == nil || !strings.HasPrefix(err.Error(), name) || !strings.Contains(err.Error(), "503") {
				t.Errorf("503s: %v; want an error naming the checkpoint and the 503", err)
			}
			if n := requests.Load(); n != 3 {
				t.Errorf("503s: %d requests, want 3", n)
			}

			_, err = CheckpointExists(ctx, blobtest.At(t, scheme, blobtest.ClosedPort(t), "cp.json"))
			if err == nil || !strings.HasPrefix(err.Error(), name) || !strings.Contains(err.Error(), "connection refused") {
				t.Errorf("closed port: %v; want an error naming the checkpoint and the cause", err)
			}
			if ctx.Err() != nil {
				t.Errorf("closed port: the requests went on until the test's deadline")
			}
		})
	}
}
