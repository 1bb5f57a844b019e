package readers

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
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

// retryClock is the clock of the retries in a test: their waits advance
// it, and are counted.
type retryClock struct {
	now   time.Time
	waits int
}

// fakeRetryClock makes the retries' waits advance a clock of their own,
// which they read.
func fakeRetryClock(t *testing.T) *retryClock {
	t.Helper()
	c := &retryClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	oldSleep, oldNow := objectSleep, objectNow
	objectSleep = func(_ context.Context, d time.Duration) error { c.waits++; c.now = c.now.Add(d); return nil }
	objectNow = func() time.Time { return c.now }
	t.Cleanup(func() { objectSleep, objectNow = oldSleep, oldNow })
	return c
}

// TestAStoreNeverReachedGivesUpAfterTheRefusedTime: as for HTTP sends, a
// store that refused every connection before any request reached it is
// given up on after refusedTime, however many retries the policy allows:
// its endpoint is most likely wrong. Once a request has reached it,
// refusals are retried as the policy says.
func TestAStoreNeverReachedGivesUpAfterTheRefusedTime(t *testing.T) {
	arg := blobtest.At(t, "gs", blobtest.ClosedPort(t), "a.ndjson")
	clock := fakeRetryClock(t)
	waits := &clock.waits
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

// TestAnObjectBodyThatKeepsFailingGivesUpAtThePolicy: a body cut off
// with no bytes read is asked for again from where it stopped, as often
// and as patiently as any request to the store: after a few cuts the
// read goes on from there; a body cut off on every attempt fails the read
// at Options.ObjectRetry's MaxRetryTime, its last attempt at that limit
// as an HTTP send's would be, not after its far higher MaxRetries, with
// an error naming the object and the cause.
func TestAnObjectBodyThatKeepsFailingGivesUpAtThePolicy(t *testing.T) {
	var lines []string
	for i := range 200 {
		lines = append(lines, fmt.Sprintf(`{"n":%d}`, i))
	}
	body := strings.Join(lines, "\n") + "\n"
	for _, tc := range []struct {
		name string
		cuts int // of the body after its first 500 bytes; -1: every one
		want string
	}{
		{name: "resumed", cuts: 3},
		{name: "given up", cuts: -1, want: "s3://logs/a.ndjson: 7 attempts failed in 5s, the last: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var (
				mu     sync.Mutex
				ranges []string
			)
			s := blobtest.S3(t, "logs", blobtest.S3Options{Intercept: func(w http.ResponseWriter, r *http.Request) bool {
				if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/a.ndjson") {
					return false
				}
				mu.Lock()
				ranges = append(ranges, r.Header.Get("Range"))
				n := len(ranges)
				mu.Unlock()
				switch {
				case n == 1:
					// The object's length and its first 500 bytes.
					w.Header().Set("Content-Length", fmt.Sprint(len(body)))
					w.WriteHeader(http.StatusOK)
					w.Write([]byte(body[:500]))
				case tc.cuts < 0 || n <= 1+tc.cuts:
					// The rest's headers, and none of its bytes.
					w.Header().Set("Content-Length", fmt.Sprint(len(body)-500))
					w.Header().Set("Content-Range", fmt.Sprintf("bytes 500-%d/%d", len(body)-1, len(body)))
					w.WriteHeader(http.StatusPartialContent)
				default:
					return false
				}
				w.Header().Set("Content-Type", "application/octet-stream")
				w.(http.Flusher).Flush()
				if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
					conn.Close()
				}
				return true
			}})
			s.Put(t, "a.ndjson", []byte(body))
			srcs, err := ExpandContext(context.Background(), []string{s.URL("a.ndjson")}, Options{})
			if err != nil || len(srcs) != 1 {
				t.Fatalf("sources %v, %v", sourcePaths(srcs), err)
			}
			clock := fakeRetryClock(t)
			start := clock.now
			opts := Options{ObjectRetry: ObjectRetry{MaxRetryTime: 5 * time.Second}}
			items, err := readSource(t, srcs[0], opts, nil)
			mu.Lock()
			defer mu.Unlock()
			for i, r := range ranges[1:] {
				if r != "bytes=500-" {
					t.Fatalf("read %d asked for %q, want bytes=500-", i+2, r)
				}
			}
			if tc.want == "" {
				if err != nil || len(items) != len(lines) || items[len(items)-1].Raw != lines[len(lines)-1] {
					t.Fatalf("read %d rows, %v; want %d", len(items), err, len(lines))
				}
				// A wait after the cut of the first response, and after
				// each cut of the rest.
				if len(ranges) != 2+tc.cuts || clock.waits != 1+tc.cuts {
					t.Errorf("%d reads, %d waits; want %d reads, %d waits", len(ranges), clock.waits, 2+tc.cuts, 1+tc.cuts)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) || !strings.Contains(err.Error(), "unexpected EOF") {
				t.Fatalf("read: %v; want %q… naming the cause", err, tc.want)
			}
			// Failing from 0 s, tried again after 0.1, 0.3, 0.7, 1.5 and 3.1
			// s, and last at 5 s, the limit, rather than at 6.3 s.
			if failing := clock.now.Sub(start); failing != opts.ObjectRetry.MaxRetryTime {
				t.Errorf("the read went on failing for %s, want MaxRetryTime, %s", failing, opts.ObjectRetry.MaxRetryTime)
			}
			// The first attempt of the read that fails is of the first
			// response, cut; every wait is followed by a request of the rest.
			if len(ranges) != 1+clock.waits {
				t.Errorf("%d reads after %d waits; want a read after each wait", len(ranges), clock.waits)
			}
		})
	}
}
