package readers

import (
	"context"
	"strings"
	"testing"

	"github.com/backfillhq/backfill/internal/blobtest"
)

// TestFolderListingRetriedNamesTheAttempts: a folder's listing that
// failed on every attempt names the folder, the attempts and the cause.
func TestFolderListingRetriedNamesTheAttempts(t *testing.T) {
	addr, requests := blobtest.Unavailable(t)
	waits := countWaits(t)
	opts := Options{ObjectRetry: ObjectRetry{MaxRetries: 2}}
	for _, c := range []struct{ arg, name string }{
		{"in/", "s3://logs/in/"},
		{"in/*.ndjson", "s3://logs/in/"},
	} {
		requests.Store(0)
		*waits = 0
		_, err := ExpandContext(context.Background(), []string{blobtest.At(t, "s3", addr, c.arg)}, opts)
		if err == nil || !strings.HasPrefix(err.Error(), c.name+": 3 attempts failed") || !strings.Contains(err.Error(), "503") {
			t.Errorf("%s: %v; want an error naming %s, the 3 attempts and the 503", c.arg, err, c.name)
		}
		if n := requests.Load(); n != 3 || *waits != 2 {
			t.Errorf("%s: %d requests, %d waits; want 3 requests, 2 waits", c.arg, n, *waits)
		}
	}
}
