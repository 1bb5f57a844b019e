package readers

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/backfillhq/backfill/internal/blobtest"
)

// countWaits replaces the retries' waits with none, counting them.
func countWaits(t *testing.T) *int {
	t.Helper()
	var waits int
	old := objectSleep
	objectSleep = func(context.Context, time.Duration) error { waits++; return nil }
	t.Cleanup(func() { objectSleep = old })
	return &waits
}

// listedSource is the source a.ndjson of the bucket at arg, as a listing
// would have found it: for a read that meets the store's errors.
func listedSource(t *testing.T, arg string) Source {
	t.Helper()
	ref, key, err := parseObjectURL(bucketSet{}, arg)
	if err != nil {
		t.Fatal(err)
	}
	obj := &object{bucket: ref, key: key, size: 100, etag: `"e"`}
	return Source{Path: obj.name(), Format: FormatNDJSON, Size: obj.size, obj: obj, Fingerprint: objectFingerprintPrefix + obj.version()}
}

// readWithin reads src whole, giving up when ctx ends.
func readWithin(ctx context.Context, t *testing.T, src Source, opts Options) ([]item, error) {
	t.Helper()
	r, err := Open(ctx, src, opts, nil)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return readItems(t, r)
}

// TestAStoreThatCannotBeReachedGivesUpAfterThePolicy: with every store, a
// listing and a read of an object on an endpoint where nothing listens
// fail after the attempts that Options.ObjectRetry allows, no more (the
// SDKs' own retries are off: Google's would try forever), with an error
// that names the object and the cause.
func TestAStoreThatCannotBeReachedGivesUpAfterThePolicy(t *testing.T) {
	for _, scheme := range objectSchemes {
		t.Run(scheme, func(t *testing.T) {
			arg := blobtest.At(t, scheme, blobtest.ClosedPort(t), "a.ndjson")
			waits := countWaits(t)
			opts := Options{ObjectRetry: ObjectRetry{MaxRetries: 3}}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_, err := ExpandContext(ctx, []string{arg}, opts)
			name := scheme + "://logs/a.ndjson"
			check := func(what string, err error) {
				t.Helper()
				if err == nil || !strings.HasPrefix(err.Error(), name+": 4 attempts failed") || !strings.Contains(err.Error(), "connection refused") {
					t.Errorf("%s: %v; want an error naming %s, the 4 attempts and the cause", what, err, name)
				}
				if *waits != 3 {
					t.Errorf("%s: %d waits between attempts, want 3", what, *waits)
				}
			}
			check("listing", err)

			*waits = 0
			_, err = readWithin(ctx, t, listedSource(t, arg), opts)
			check("read", err)
		})
	}
}

// TestEachStoreTriesARequestAsThePolicySays: a store that answers 503 to
// everything gets as many requests as Options.ObjectRetry allows
// attempts, for a listing and for a read: the SDKs add none of their own.
func TestEachStoreTriesARequestAsThePolicySays(t *testing.T) {
	for _, scheme := range objectSchemes {
		t.Run(scheme, func(t *testing.T) {
			addr, requests := blobtest.Unavailable(t)
			arg := blobtest.At(t, scheme, addr, "a.ndjson")
			waits := countWaits(t)
			opts := Options{ObjectRetry: ObjectRetry{MaxRetries: 2}}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			name := scheme + "://logs/a.ndjson"
			check := func(what string, err error) {
				t.Helper()
				if err == nil || !strings.HasPrefix(err.Error(), name+": 3 attempts failed") || !strings.Contains(err.Error(), "503") {
					t.Errorf("%s: %v; want an error naming %s, the 3 attempts and the 503", what, err, name)
				}
				if n := requests.Load(); n != 3 || *waits != 2 {
					t.Errorf("%s: %d requests, %d waits; want 3 requests, 2 waits", what, n, *waits)
				}
			}
			_, err := ExpandContext(ctx, []string{arg}, opts)
			check("listing", err)

			requests.Store(0)
			*waits = 0
			_, err = readWithin(ctx, t, listedSource(t, arg), opts)
			check("read", err)
		})
	}
}

// fakeRetryClock makes the retries' waits advance a clock of their own,
// which they read, and counts the waits.
func fakeRetryClock(t *testing.T) *int {
	t.Helper()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var waits int
	oldSleep, oldNow := objectSleep, objectNow
	objectSleep = func(_ context.Context, d time.Duration) error { waits++; now = now.Add(d); return nil }
	objectNow = func() time.Time { return now }
	t.Cleanup(func() { objectSleep, objectNow = oldSleep, oldNow })
	return &waits
}

// TestAStoreNeverReachedGivesUpAfterTheRefusedTime: as for HTTP sends, a
// store that refused every connection before any request reached it is
// given up on after refusedTime, however many retries the policy allows:
// its endpoint is most likely wrong. Once a request has reached it,
// refusals are retried as the policy says.
func TestAStoreNeverReachedGivesUpAfterTheRefusedTime(t *testing.T) {
	arg := blobtest.At(t, "gs", blobtest.ClosedPort(t), "a.ndjson")
	waits := fakeRetryClock(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Tries at 0, 0.1, 0.3, 0.7, 1.5, 3.1, 6.3, 12.7 and 25.5 s, then at
	// 30 s, the end of the refused time rather than 51.1 s.
	_, err := ExpandContext(ctx, []string{arg}, Options{})
	want := "gs://logs/a.ndjson: cannot reach the store: connection refused on every attempt for 30s (10 attempts; check the endpoint), the last: "
	if err == nil || !strings.HasPrefix(err.Error(), want) || *waits != 9 {
		t.Errorf("listing: %v after %d waits; want %q… after 9 waits", err, *waits, want)
	}

	src := listedSource(t, arg)
	src.obj.bucket.reached.Store(true)
	*waits = 0
	_, err = readWithin(ctx, t, src, Options{ObjectRetry: ObjectRetry{MaxRetries: 20, MaxRetryTime: -1}})
	if err == nil || !strings.HasPrefix(err.Error(), "gs://logs/a.ndjson: 21 attempts failed") || *waits != 20 {
		t.Errorf("read of a store reached before: %v after %d waits; want 21 attempts", err, *waits)
	}
}
