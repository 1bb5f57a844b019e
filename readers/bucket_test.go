package readers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backfillhq/backfill/internal/blobtest"
)

// stores starts each of the three object stores, for table tests.
var stores = []struct {
	name  string
	start func(t *testing.T) *blobtest.Server
}{
	{"s3", func(t *testing.T) *blobtest.Server { return blobtest.S3(t, "logs", blobtest.S3Options{}) }},
	{"gcs", func(t *testing.T) *blobtest.Server { return blobtest.GCS(t, "logs") }},
	{"azure", func(t *testing.T) *blobtest.Server { return blobtest.Azure(t, "logs") }},
}

// readSource reads src whole from at.
func readSource(t *testing.T, src Source, opts Options, at *Position) ([]item, error) {
	t.Helper()
	r, err := Open(context.Background(), src, opts, at)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return readItems(t, r)
}

func sourcePaths(srcs []Source) []string {
	var out []string
	for _, s := range srcs {
		out = append(out, s.Path+" "+s.Format)
	}
	return out
}

// TestObjectSources lists a bucket as a folder and as a pattern, and
// reads plain, gzip and zstd NDJSON, CSV and Parquet objects from each
// store, streamed, with the rows' positions naming the objects.
func TestObjectSources(t *testing.T) {
	parquet, err := os.ReadFile(eventsFile(t, 300, 100))
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			s := st.start(t)
			s.Put(t, "in/a.ndjson", []byte("{\"n\":1}\n{\"n\":2}\n"))
			s.Put(t, "in/b.csv.gz", gzipped(t, []byte("n,m\n3,x\n")))
			s.Put(t, "in/sub/c.jsonl.zst", zstded(t, []byte("{\"n\":4}\n")))
			s.Put(t, "in/sub/d.parquet", parquet)
			s.Put(t, "in/e", []byte("{\"n\":5}\n")) // format from its content
			s.Put(t, "in/.hidden.ndjson", []byte("{}\n"))
			s.Put(t, "in/.backfill/x.ndjson", []byte("{}\n"))
			s.Put(t, "in/run.rejects.ndjson", []byte("{}\n"))
			s.Put(t, "other/f.ndjson", []byte("{}\n"))

			srcs, err := ExpandContext(context.Background(), []string{s.URL("in")}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			want := []string{
				s.Name("in/a.ndjson") + " ndjson",
				s.Name("in/b.csv.gz") + " csv",
				s.Name("in/e") + " ndjson",
				s.Name("in/sub/c.jsonl.zst") + " ndjson",
				s.Name("in/sub/d.parquet") + " parquet",
			}
			if got := sourcePaths(srcs); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("sources:\n got %q\nwant %q", got, want)
			}
			for _, src := range srcs {
				if !src.IsObject() || !IsObjectFingerprint(src.Fingerprint) || src.Fingerprint == "object:etag " {
					t.Errorf("%s: fingerprint %q, object %v", src.Path, src.Fingerprint, src.IsObject())
				}
			}
			wantRows := map[string][]string{
				"in/a.ndjson":        {`1 {"n":1}`, `2 {"n":2}`},
				"in/b.csv.gz":        {`1 3,x`},
				"in/e":               {`1 {"n":5}`},
				"in/sub/c.jsonl.zst": {`1 {"n":4}`},
			}
			for _, src := range srcs {
				items, err := readSource(t, src, Options{}, nil)
				if err != nil {
					t.Fatalf("read %s: %v", src.Path, err)
				}
				key := strings.TrimPrefix(src.Path, s.Name(""))
				if src.Format == FormatParquet {
					if len(items) != 300 || items[299].Pos.Row != 300 || items[0].Pos.File != src.Path {
						t.Errorf("%s: %d rows, last at %+v", src.Path, len(items), items[len(items)-1].Pos)
					}
					continue
				}
				var got []string
				for _, it := range items {
					if it.Pos.File != src.Path {
						t.Errorf("%s: row at %+v", src.Path, it.Pos)
					}
					got = append(got, fmt.Sprintf("%d %s", it.Pos.Row, it.Raw))
				}
				if fmt.Sprint(got) != fmt.Sprint(wantRows[key]) {
					t.Errorf("%s: rows %q, want %q", src.Path, got, wantRows[key])
				}
			}

			srcs, err = ExpandContext(context.Background(), []string{s.URL("in/**/*.ndjson"), s.URL("in/sub/d.parquet"), s.URL("in/a.ndjson")}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			want = []string{s.Name("in/a.ndjson") + " ndjson", s.Name("in/sub/d.parquet") + " parquet"}
			if got := sourcePaths(srcs); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("pattern sources:\n got %q\nwant %q", got, want)
			}
		})
	}
}

// TestObjectExpandErrors: a prefix or pattern with nothing under it, and a
// bucket that does not exist, are errors naming them.
func TestObjectExpandErrors(t *testing.T) {
	s := blobtest.S3(t, "logs", blobtest.S3Options{})
	s.Put(t, "in/a.ndjson", []byte("{}\n"))
	for _, c := range []struct{ arg, want string }{
		{s.URL("nothing"), "s3://logs/nothing: no objects found"},
		{s.URL("in/*.csv"), "glob s3://logs/in/*.csv: no objects match"},
		{strings.Replace(s.URL("in"), "s3://logs", "s3://missing", 1), "s3://missing/in/: not found: "},
		{"s3:///in", "source s3:///in: the URL names no bucket (want s3://BUCKET/PREFIX)"},
	} {
		_, err := ExpandContext(context.Background(), []string{c.arg}, Options{})
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("Expand(%s): %v, want %q", c.arg, err, c.want)
		}
	}
}

// TestObjectResume resumes plain and gzip objects in the middle, in each
// store: a plain one with a range read at the offset, a gzip one by
// reading again.
func TestObjectResume(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) { testObjectResume(t, st.start(t)) })
	}
}

func testObjectResume(t *testing.T, s *blobtest.Server) {
	var body strings.Builder
	for i := 1; i <= 50; i++ {
		fmt.Fprintf(&body, "{\"n\":%d}\n", i)
	}
	s.Put(t, "plain.ndjson", []byte(body.String()))
	s.Put(t, "packed.ndjson.gz", gzipped(t, []byte(body.String())))
	for _, key := range []string{"plain.ndjson", "packed.ndjson.gz"} {
		srcs, err := ExpandContext(context.Background(), []string{s.URL(key)}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		full, err := readSource(t, srcs[0], Options{}, nil)
		if err != nil || len(full) != 50 {
			t.Fatalf("%s: %d rows, %v", key, len(full), err)
		}
		for _, i := range []int{1, 17, 49} {
			at := full[i].Pos
			got, err := readSource(t, srcs[0], Options{}, &at)
			if err != nil {
				t.Fatalf("%s at %+v: %v", key, at, err)
			}
			diffItems(t, got, full[i:])
		}
	}
}

// TestObjectReplaced: an object replaced after it was listed is not read:
// the read asks for the listed version, and the store refuses it, in each
// store.
func TestObjectReplaced(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			s := st.start(t)
			s.Put(t, "a.ndjson", []byte("{\"n\":1}\n{\"n\":2}\n"))
			srcs, err := ExpandContext(context.Background(), []string{s.URL("a.ndjson")}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			s.Put(t, "a.ndjson", []byte("{\"n\":7}\n{\"n\":8}\n"))
			_, err = readSource(t, srcs[0], Options{}, nil)
			var ce *ChangedError
			if !errors.As(err, &ce) || !errors.Is(err, ErrChanged) || !strings.HasPrefix(err.Error(), s.Name("a.ndjson")+": ") {
				t.Fatalf("read of a replaced object: %v, want a *ChangedError naming %s", err, s.Name("a.ndjson"))
			}
			if !strings.Contains(err.Error(), "it was replaced or deleted after it was listed") {
				t.Errorf("error %q does not say the object was replaced", err)
			}
		})
	}
}

// TestObjectReplacedParquet: a Parquet object replaced between the range
// reads of its footer and of its rows fails rather than mixing versions.
func TestObjectReplacedParquet(t *testing.T) {
	s := blobtest.S3(t, "logs", blobtest.S3Options{})
	parquet, err := os.ReadFile(eventsFile(t, 300, 100))
	if err != nil {
		t.Fatal(err)
	}
	s.Put(t, "e.parquet", parquet)
	srcs, err := ExpandContext(context.Background(), []string{s.URL("e.parquet")}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := Open(context.Background(), srcs[0], Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s.Put(t, "e.parquet", parquet[:len(parquet)-1]) // another version
	_, err = readItems(t, r)
	if !errors.Is(err, ErrChanged) || !strings.Contains(err.Error(), s.Name("e.parquet")) {
		t.Fatalf("read of a replaced Parquet object: %v, want ErrChanged naming it", err)
	}
}

// TestObjectErrors: permission denied stops at once with the cause;
// server errors are tried again with back-off until they pass.
func TestObjectErrors(t *testing.T) {
	var failures atomic.Int64
	var mode atomic.Value
	mode.Store("")
	s := blobtest.S3(t, "logs", blobtest.S3Options{Intercept: func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "a.ndjson") {
			return false
		}
		switch mode.Load() {
		case "denied":
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`)
			return true
		case "flaky":
			// The SDK tries each request once: six failures are six
			// attempts that fail, each waited for as the policy says.
			if failures.Add(1) <= 6 {
				w.WriteHeader(http.StatusServiceUnavailable)
				fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`)
				return true
			}
		}
		return false
	}})
	s.Put(t, "a.ndjson", []byte("{\"n\":1}\n"))
	var waits []time.Duration
	old := objectSleep
	objectSleep = func(ctx context.Context, d time.Duration) error { waits = append(waits, d); return nil }
	defer func() { objectSleep = old }()
	srcs, err := ExpandContext(context.Background(), []string{s.URL("a.ndjson")}, Options{})
	if err != nil {
		t.Fatal(err)
	}

	mode.Store("denied")
	_, err = readSource(t, srcs[0], Options{}, nil)
	if err == nil || !strings.HasPrefix(err.Error(), s.Name("a.ndjson")+": permission denied") || len(waits) != 0 {
		t.Fatalf("read denied: %v after %d waits, want a permission error at once", err, len(waits))
	}

	mode.Store("flaky")
	items, err := readSource(t, srcs[0], Options{}, nil)
	if err != nil || len(items) != 1 {
		t.Fatalf("read with six 503s: %d rows, %v", len(items), err)
	}
	if want := "[100ms 200ms 400ms 800ms 1.6s 3.2s]"; fmt.Sprint(waits) != want {
		t.Errorf("waits %v, want %s", waits, want)
	}
}

// TestArchiveDays: with ArchiveSince, the day folders of Segment's
// archive layout that end more than a day before it are skipped without
// being listed, and reported; later ones, and other folders, are kept.
func TestArchiveDays(t *testing.T) {
	var (
		mu     sync.Mutex
		listed []string
	)
	s := blobtest.S3(t, "logs", blobtest.S3Options{Intercept: func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodGet && r.URL.Query().Has("prefix") {
			mu.Lock()
			listed = append(listed, r.URL.Query().Get("prefix"))
			mu.Unlock()
		}
		return false
	}})
	day := func(d int) string { return fmt.Sprint(time.Date(2024, 1, d, 0, 0, 0, 0, time.UTC).UnixMilli()) }
	for _, d := range []int{1, 2, 3, 4, 9} {
		s.Put(t, "segment-logs/src1/"+day(d)+"/1704067200000.abc.gz", gzipped(t, []byte("{}\n")))
	}
	s.Put(t, "segment-logs/src1/notes/x.ndjson", []byte("{}\n"))
	since := time.Date(2024, 1, 3, 12, 0, 0, 0, time.UTC)
	var skipped []string
	opts := Options{ArchiveSince: since, ArchiveSkipped: func(d ArchiveDay) {
		skipped = append(skipped, d.Folder+" "+d.Day.Format(time.DateOnly))
	}}
	srcs, err := ExpandContext(context.Background(), []string{s.URL("segment-logs/")}, opts)
	if err != nil {
		t.Fatal(err)
	}
	// Day 1 ends on the 2nd at 0:00, more than a day before the 3rd at
	// 12:00; day 2 ends on the 3rd at 0:00, less than a day before.
	wantSkipped := []string{s.Name("segment-logs/src1/"+day(1)+"/") + " 2024-01-01"}
	if fmt.Sprint(skipped) != fmt.Sprint(wantSkipped) {
		t.Errorf("skipped %q, want %q", skipped, wantSkipped)
	}
	var got []string
	for _, src := range srcs {
		got = append(got, strings.TrimPrefix(src.Path, s.Name("segment-logs/src1/")))
	}
	want := []string{day(2) + "/1704067200000.abc.gz", day(3) + "/1704067200000.abc.gz", day(4) + "/1704067200000.abc.gz", day(9) + "/1704067200000.abc.gz", "notes/x.ndjson"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("sources %q, want %q", got, want)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, p := range listed {
		if strings.Contains(p, day(1)) {
			t.Errorf("the skipped folder was listed: prefix %q", p)
		}
	}
	if !slices.Contains(listed, "segment-logs/src1/"+day(2)+"/") {
		t.Errorf("listed %q, not the folder of day 2", listed)
	}
}

// TestObjectPrefetch: an object opened ahead of time is read through that
// first request, not a second one; one never read is closed when the
// context ends.
func TestObjectPrefetch(t *testing.T) {
	var gets atomic.Int64
	s := blobtest.S3(t, "logs", blobtest.S3Options{Intercept: func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/b.ndjson") {
			gets.Add(1)
		}
		return false
	}})
	s.Put(t, "a.ndjson", []byte("{\"n\":1}\n"))
	s.Put(t, "b.ndjson", []byte("{\"n\":2}\n"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srcs, err := ExpandContext(ctx, []string{s.URL("")}, Options{})
	if err != nil || len(srcs) != 2 {
		t.Fatalf("sources %v, %v", sourcePaths(srcs), err)
	}
	Prefetch(ctx, Options{}, srcs[1])
	Prefetch(ctx, Options{}, srcs[1]) // once is enough
	items, err := readSource(t, srcs[1], Options{}, nil)
	if err != nil || len(items) != 1 || items[0].Raw != `{"n":2}` {
		t.Fatalf("read %v, %v", items, err)
	}
	if n := gets.Load(); n != 1 {
		t.Errorf("%d reads of b.ndjson, want the one opened ahead", n)
	}
	if srcs[1].obj.pre != nil {
		t.Error("the read opened ahead was not taken")
	}
}

// TestObjectErrorsNotRetried: what trying again cannot fix fails at once:
// an unknown host and missing credentials.
func TestObjectErrorsNotRetried(t *testing.T) {
	s := blobtest.S3(t, "logs", blobtest.S3Options{})
	s.Put(t, "a.ndjson", []byte("{}\n"))
	var waits int
	old := objectSleep
	objectSleep = func(ctx context.Context, d time.Duration) error { waits++; return nil }
	defer func() { objectSleep = old }()

	_, err := ExpandContext(context.Background(), []string{"s3://logs/a.ndjson?endpoint=http://no-such-host.invalid&use_path_style=true&region=us-east-1"}, Options{})
	if err == nil || !strings.HasPrefix(err.Error(), "s3://logs/a.ndjson: ") || !strings.Contains(err.Error(), "no-such-host.invalid") || waits != 0 {
		t.Errorf("unknown host: %v after %d waits, want an error at once naming the object and the host", err, waits)
	}

	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	_, err = ExpandContext(context.Background(), []string{s.URL("a.ndjson")}, Options{})
	if err == nil || !strings.Contains(err.Error(), "get credentials") || waits != 0 {
		t.Errorf("no credentials: %v after %d waits, want an error at once", err, waits)
	}
}

// TestObjectBodyCutShort: a body cut off before its end (the connection
// closed) is read on from where it stopped, and every line is read once.
func TestObjectBodyCutShort(t *testing.T) {
	var lines []string
	for i := range 200 {
		lines = append(lines, fmt.Sprintf(`{"n":%d}`, i))
	}
	body := strings.Join(lines, "\n") + "\n"
	var cut atomic.Bool
	var ranges []string
	var mu sync.Mutex
	s := blobtest.S3(t, "logs", blobtest.S3Options{Intercept: func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/a.ndjson") {
			return false
		}
		mu.Lock()
		ranges = append(ranges, r.Header.Get("Range"))
		mu.Unlock()
		if !cut.CompareAndSwap(false, true) {
			return false
		}
		// The first read is answered with the object's length and its
		// first 500 bytes, and the connection is closed.
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.Header().Set("Content-Type", "application/octet-stream")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte(body[:500]))
		w.(http.Flusher).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
		return true
	}})
	s.Put(t, "a.ndjson", []byte(body))
	old := objectSleep
	objectSleep = func(context.Context, time.Duration) error { return nil }
	defer func() { objectSleep = old }()
	srcs, err := ExpandContext(context.Background(), []string{s.URL("a.ndjson")}, Options{})
	if err != nil || len(srcs) != 1 {
		t.Fatalf("sources %v, %v", sourcePaths(srcs), err)
	}
	items, err := readSource(t, srcs[0], Options{}, nil)
	if err != nil || len(items) != len(lines) {
		t.Fatalf("read %d rows, %v; want %d", len(items), err, len(lines))
	}
	for i, it := range items {
		if it.Raw != lines[i] {
			t.Fatalf("row %d = %q, want %q", i+1, it.Raw, lines[i])
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ranges) != 2 || ranges[1] != "bytes=500-" {
		t.Errorf("reads with ranges %q, want a second from byte 500", ranges)
	}
}
