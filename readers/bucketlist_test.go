package readers

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backfillhq/backfill/internal/blobtest"
)

// requestLog records the requests a fake S3 store is asked, in the order
// they come: "HEAD key", "LIST prefix" (flat, every key under it), "DIR
// prefix" (one folder, delimiter "/"), "GET key".
type requestLog struct {
	mu   sync.Mutex
	reqs []string
	// deny, if set, answers the requests it returns true for with 403
	// AccessDenied.
	deny func(req string) bool
}

// intercept records r and lets the store answer it, unless deny refuses
// it.
func (l *requestLog) intercept(w http.ResponseWriter, r *http.Request) bool {
	key := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/"), "logs")
	key = strings.TrimPrefix(key, "/")
	q := r.URL.Query()
	var req string
	switch {
	case r.Method == http.MethodHead:
		req = "HEAD " + key
	case r.Method == http.MethodGet && q.Has("list-type") && q.Get("delimiter") != "":
		req = "DIR " + q.Get("prefix")
	case r.Method == http.MethodGet && q.Has("list-type"):
		req = "LIST " + q.Get("prefix")
	case r.Method == http.MethodGet:
		req = "GET " + key
	default:
		return false
	}
	l.mu.Lock()
	l.reqs = append(l.reqs, req)
	deny := l.deny != nil && l.deny(req)
	l.mu.Unlock()
	if deny {
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`)
	}
	return deny
}

// take returns the requests so far and forgets them.
func (l *requestLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	reqs := l.reqs
	l.reqs = nil
	return reqs
}

// checkRounds fails the test unless the requests before the first GET
// among reqs are those of want, round by round, each round's in any
// order: the folders of one level are listed side by side.
func checkRounds(t *testing.T, what string, reqs []string, want [][]string) {
	t.Helper()
	if i := slices.IndexFunc(reqs, func(r string) bool { return strings.HasPrefix(r, "GET ") }); i >= 0 {
		reqs = reqs[:i]
	} else {
		t.Errorf("%s: no GET in %q", what, reqs)
	}
	var got [][]string
	for _, round := range want {
		n := min(len(round), len(reqs))
		r := slices.Clone(reqs[:n])
		slices.Sort(r)
		got = append(got, r)
		reqs = reqs[n:]
	}
	if len(reqs) > 0 {
		got = append(got, reqs)
	}
	for _, round := range want {
		slices.Sort(round)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s: the requests before the first GET, by round:\n got %q\nwant %q", what, got, want)
	}
}

// withFlatListPage sets how many keys the flat listing of a source asks
// for, until the test ends.
func withFlatListPage(t *testing.T, n int) {
	t.Helper()
	old := flatListPage
	flatListPage = n
	t.Cleanup(func() { flatListPage = old })
}

// expandKeys expands arg and returns the keys of its sources.
func expandKeys(t *testing.T, s *blobtest.Server, arg string, opts Options) []string {
	t.Helper()
	srcs, err := ExpandContext(context.Background(), []string{s.URL(arg)}, opts)
	if err != nil {
		t.Fatalf("Expand(%s): %v", arg, err)
	}
	var keys []string
	for _, src := range srcs {
		keys = append(keys, strings.TrimPrefix(src.Path, s.Name("")))
	}
	return keys
}

// TestRequestsBeforeTheFirstRead: the requests that come before the
// first byte of a source's first object, each round waiting for the one
// before: one flat listing for a folder (with or without its "/"), a
// single object and a pattern; the key, the folder and then its day
// folders side by side for Segment's archive with ArchiveSince, which
// skips the days before it without listing them.
func TestRequestsBeforeTheFirstRead(t *testing.T) {
	var log requestLog
	s := blobtest.S3(t, "logs", blobtest.S3Options{Intercept: log.intercept})
	day := func(d int) string { return fmt.Sprint(time.Date(2024, 5, d, 0, 0, 0, 0, time.UTC).UnixMilli()) }
	var all []string
	for d := 1; d <= 4; d++ {
		for p := range 2 {
			key := fmt.Sprintf("segment-logs/src/%s/part-%03d.ndjson.gz", day(d), p)
			s.Put(t, key, gzipped(t, []byte("{\"n\":1}\n")))
			all = append(all, key)
		}
	}
	root := "segment-logs/src/"
	var skipped []string
	archive := Options{
		ArchiveSince:   time.Date(2024, 5, 3, 12, 0, 0, 0, time.UTC),
		ArchiveSkipped: func(d ArchiveDay) { skipped = append(skipped, d.Folder) },
	}
	for _, c := range []struct {
		name, arg string
		opts      Options
		want      []string
		rounds    [][]string
	}{
		{"folder", "segment-logs/src", Options{}, all, [][]string{{"LIST segment-logs/src"}}},
		{"folder/", root, Options{}, all, [][]string{{"LIST " + root}}},
		{"object", all[2], Options{}, all[2:3], [][]string{{"LIST " + all[2]}}},
		{"glob", root + "*/part-001.ndjson.gz", Options{}, []string{all[1], all[3], all[5], all[7]}, [][]string{{"LIST " + root}}},
		{"glob in a folder", root + day(2) + "/*.gz", Options{}, all[2:4], [][]string{{"LIST " + root + day(2) + "/"}}},
		{"archive since", "segment-logs/src", archive, all[2:], [][]string{
			{"HEAD segment-logs/src"},
			{"DIR " + root},
			{"DIR " + root + day(2) + "/", "DIR " + root + day(3) + "/", "DIR " + root + day(4) + "/"},
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			log.take()
			skipped = nil
			srcs, err := ExpandContext(context.Background(), []string{s.URL(c.arg)}, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, src := range srcs {
				got = append(got, strings.TrimPrefix(src.Path, s.Name("")))
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Fatalf("sources %q, want %q", got, c.want)
			}
			if _, err := readSource(t, srcs[0], Options{}, nil); err != nil {
				t.Fatal(err)
			}
			checkRounds(t, c.arg, log.take(), c.rounds)
			if c.opts.ArchiveSince.IsZero() {
				return
			}
			if want := []string{s.Name(root + day(1) + "/")}; fmt.Sprint(skipped) != fmt.Sprint(want) {
				t.Errorf("archive days skipped %q, want %q", skipped, want)
			}
		})
	}
}

// TestObjectBesideItsFolder: a key names the object of that key, if there
// is one, even beside a folder of the same name; else the folder, and
// never the keys that only start as it does ("key-old", "key.bak/…",
// "keyz"), which its flat listing holds too.
func TestObjectBesideItsFolder(t *testing.T) {
	var log requestLog
	s := blobtest.S3(t, "logs", blobtest.S3Options{Intercept: log.intercept})
	ndjson := Options{Format: FormatNDJSON} // no read to tell the format of "key"
	for _, key := range []string{"key", "key-old", "key.bak/x.ndjson", "key/a.ndjson", "key/b/c.ndjson", "keyz"} {
		s.Put(t, key, []byte("{}\n"))
	}
	if got, want := expandKeys(t, s, "key", ndjson), []string{"key"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("key beside key/: %q, want %q", got, want)
	}
	if got, want := log.take(), []string{"LIST key"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("key beside key/: requests %q, want %q", got, want)
	}
	if got, want := expandKeys(t, s, "key/", ndjson), []string{"key/a.ndjson", "key/b/c.ndjson"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("key/: %q, want %q", got, want)
	}
	s.Delete(t, "key")
	log.take()
	if got, want := expandKeys(t, s, "key", ndjson), []string{"key/a.ndjson", "key/b/c.ndjson"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("key, no object: %q, want %q", got, want)
	}
	if got, want := log.take(), []string{"LIST key"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("key, no object: requests %q, want %q", got, want)
	}
}

// TestFlatListingFallsBackToTheWalk: where the first page of the flat
// listing cannot tell what a source names (more keys that only start as
// the key does than a page holds, before its folder; a tree larger than
// a page), the tree is walked folder by folder, with the same result,
// and without asking again about an object of the key, which the page
// showed there is not. A page that ends past the folder's keys tells.
func TestFlatListingFallsBackToTheWalk(t *testing.T) {
	withFlatListPage(t, 2)
	for _, c := range []struct {
		name string
		keys []string
		want []string
		reqs []string
	}{
		{"siblings fill the page", []string{"key-0", "key-1", "key-2", "key/a", "key/b"}, []string{"key/a", "key/b"},
			[]string{"LIST key", "DIR key/"}},
		{"object among many siblings", []string{"key", "key-0", "key-1", "key-2", "key/a"}, []string{"key"},
			[]string{"LIST key"}},
		{"tree larger than the page", []string{"key/a", "key/b", "key/c/d"}, []string{"key/a", "key/b", "key/c/d"},
			[]string{"LIST key", "DIR key/", "DIR key/c/"}},
		{"page ends past the tree", []string{"key/a", "keyz", "keyzz"}, []string{"key/a"},
			[]string{"LIST key"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var log requestLog
			s := blobtest.S3(t, "logs", blobtest.S3Options{Intercept: log.intercept})
			for _, key := range c.keys {
				s.Put(t, key, []byte("{}\n"))
			}
			log.take()
			if got := expandKeys(t, s, "key", Options{Format: FormatNDJSON}); fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("sources %q, want %q", got, c.want)
			}
			if got := log.take(); fmt.Sprint(got) != fmt.Sprint(c.reqs) {
				t.Errorf("requests %q, want %q", got, c.reqs)
			}
		})
	}
}

// TestFlatListingDenied: a store that refuses to list a whole tree (a
// grant to read objects, or to list folder by folder only) is asked as
// without the flat listing: the object by its key, the folders one by
// one; nothing refused for good is tried again.
func TestFlatListingDenied(t *testing.T) {
	log := requestLog{deny: func(req string) bool { return strings.HasPrefix(req, "LIST ") }}
	s := blobtest.S3(t, "logs", blobtest.S3Options{Intercept: log.intercept})
	s.Put(t, "a.ndjson", []byte("{}\n"))
	s.Put(t, "in/b.ndjson", []byte("{}\n"))
	waits := countWaits(t)
	for _, c := range []struct {
		arg  string
		want []string
		reqs []string
	}{
		{"a.ndjson", []string{"a.ndjson"}, []string{"LIST a.ndjson", "HEAD a.ndjson"}},
		{"in", []string{"in/b.ndjson"}, []string{"LIST in", "HEAD in", "DIR in/"}},
		{"in/", []string{"in/b.ndjson"}, []string{"LIST in/", "DIR in/"}},
		{"in/*.ndjson", []string{"in/b.ndjson"}, []string{"LIST in/", "DIR in/"}},
	} {
		log.take()
		if got := expandKeys(t, s, c.arg, Options{}); fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s: sources %q, want %q", c.arg, got, c.want)
		}
		if got := log.take(); fmt.Sprint(got) != fmt.Sprint(c.reqs) {
			t.Errorf("%s: requests %q, want %q", c.arg, got, c.reqs)
		}
	}
	if *waits != 0 {
		t.Errorf("%d waits: a refusal was tried again", *waits)
	}
}

// TestObjectFingerprintOfASingleObject: the single object a key names has
// the version, and so the checkpoint's fingerprint, that the store's
// Attributes give, in each store, though it is found by a listing (whose
// ETags Google and Azure give without quotes).
func TestObjectFingerprintOfASingleObject(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			s := st.start(t)
			s.Put(t, "a.ndjson", []byte("{\"n\":1}\n"))
			s.Put(t, "a.ndjson.old", []byte("{\"n\":0}\n"))
			srcs, err := ExpandContext(context.Background(), []string{s.URL("a.ndjson")}, Options{})
			if err != nil || len(srcs) != 1 {
				t.Fatalf("sources %q, %v", sourcePaths(srcs), err)
			}
			l, err := attributesOf(context.Background(), s.Blob(), "a.ndjson")
			if err != nil {
				t.Fatal(err)
			}
			got := srcs[0].obj
			if got.size != l.size || got.etag != l.etag || got.generation != l.generation {
				t.Errorf("listed size %d, etag %q, generation %d; Attributes give %d, %q, %d", got.size, got.etag, got.generation, l.size, l.etag, l.generation)
			}
			if items, err := readSource(t, srcs[0], Options{}, nil); err != nil || len(items) != 1 {
				t.Errorf("read %v, %v", items, err)
			}
		})
	}
}

// TestFlatListingTakesWhatTheWalkTakes: in each store, every form of
// source finds the same objects, or the same error, whether its tree is
// listed flat or walked folder by folder: hidden objects and folders,
// this tool's own files, folders' marker objects, empty path elements,
// keys that only start as the source does, and patterns.
func TestFlatListingTakesWhatTheWalkTakes(t *testing.T) {
	keys := []string{
		"in/a.ndjson", "in/.hidden.ndjson", "in/.backfill/x.ndjson", "in/run.rejects.ndjson",
		"in/sub/", "in/sub/c.ndjson", "in/sub/.h/d.ndjson", "in/sub/e.csv", "in//f.ndjson",
		"in/deep/er/g.ndjson", "in/deep/.x/h.ndjson", "in/deep/er/i.rejects.ndjson", "in/d1/j.csv",
		"in-old.ndjson", "in.bak/k.ndjson", "in0.ndjson", "top.ndjson", ".top.ndjson",
	}
	args := []string{
		"", "in", "in/", "in/sub", "in/deep/", "in/**/*.ndjson", "in/*/c.*", "in/d*", "in/d*/**",
		"in/**", "*.ndjson", "in*", "in/.h*", "in/sub/.h/*", "in/*.csv", "nothing", "nothing/*",
	}
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			s := st.start(t)
			for _, key := range keys {
				s.Put(t, key, []byte("{}\n"))
			}
			expand := func(arg string) string {
				srcs, err := ExpandContext(context.Background(), []string{s.URL(arg)}, Options{Format: FormatNDJSON})
				if err != nil {
					return "error " + err.Error()
				}
				return fmt.Sprint(sourcePaths(srcs))
			}
			flat := make(map[string]string)
			for _, arg := range args {
				flat[arg] = expand(arg)
			}
			// A page of one key walks the trees after it; a page of none
			// is refused by gocloud before any request, as a store may
			// refuse a flat listing: then every source is found without
			// one.
			for _, page := range []int{1, 0} {
				withFlatListPage(t, page)
				for _, arg := range args {
					if walked := expand(arg); walked != flat[arg] {
						t.Errorf("%q, a page of %d:\n  flat %s\nwalked %s", arg, page, flat[arg], walked)
					}
				}
			}
			if want := fmt.Sprint([]string{s.Name("in/a.ndjson") + " ndjson", s.Name("in/d1/j.csv") + " ndjson", s.Name("in/deep/er/g.ndjson") + " ndjson",
				s.Name("in/sub/c.ndjson") + " ndjson", s.Name("in/sub/e.csv") + " ndjson"}); flat["in"] != want {
				t.Errorf("in: %s, want %s", flat["in"], want)
			}
		})
	}
}

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

// BenchmarkFirstRowFromBucket measures the time from the expansion of a
// folder in a store 20ms away (16 objects in 4 day folders, given
// without its "/", as the object-storage section of make bench has them)
// to the first row of its first object: after one flat listing, and
// after the requests made without it (the key's HEAD, then the folder's
// listing and its day folders').
func BenchmarkFirstRowFromBucket(b *testing.B) {
	s := blobtest.S3(b, "logs", blobtest.S3Options{Latency: 20 * time.Millisecond})
	for d := range 4 {
		for p := range 4 {
			s.Put(b, fmt.Sprintf("segment-logs/src/%d/part-%03d.ndjson.gz", 1714521600000+int64(d)*86400000, p), gzipped(b, []byte("{\"n\":1}\n")))
		}
	}
	for _, c := range []struct {
		name string
		page int // 0: the flat listing is refused before any request
	}{{"flat", 1000}, {"without", 0}} {
		b.Run(c.name, func(b *testing.B) {
			old := flatListPage
			flatListPage = c.page
			defer func() { flatListPage = old }()
			for b.Loop() {
				ctx := context.Background()
				srcs, err := ExpandContext(ctx, []string{s.URL("segment-logs/src")}, Options{})
				if err != nil || len(srcs) != 16 {
					b.Fatalf("%d sources, %v", len(srcs), err)
				}
				r, err := Open(ctx, srcs[0], Options{}, nil)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := r.Next(ctx); err != nil {
					b.Fatal(err)
				}
				r.Close()
			}
		})
	}
}
