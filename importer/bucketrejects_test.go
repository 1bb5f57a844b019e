package importer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"gocloud.dev/blob"

	"github.com/backfillhq/backfill/internal/blobtest"
	"github.com/backfillhq/backfill/sink"
)

func TestSettleParts(t *testing.T) {
	p := func(start, size int64) rejectsPart {
		return rejectsPart{key: fmt.Sprintf("%020d.ndjson", start), start: start, size: size}
	}
	for _, tc := range []struct {
		name        string
		parts       []rejectsPart
		offset      int64
		kept, stale []rejectsPart
	}{
		{"a fresh run deletes all", []rejectsPart{p(0, 10), p(10, 5)}, 0, nil, []rejectsPart{p(0, 10), p(10, 5)}},
		{"parts past the offset", []rejectsPart{p(0, 10), p(10, 5), p(15, 5)}, 15, []rejectsPart{p(0, 10), p(10, 5)}, []rejectsPart{p(15, 5)}},
		{"parts a merged one covers", []rejectsPart{p(0, 30), p(10, 5), p(15, 15), p(30, 5)}, 35, []rejectsPart{p(0, 30), p(30, 5)}, []rejectsPart{p(10, 5), p(15, 15)}},
		{"a merged part past the offset is kept", []rejectsPart{p(0, 30), p(10, 5), p(15, 5)}, 20, []rejectsPart{p(0, 30)}, []rejectsPart{p(10, 5), p(15, 5)}},
		{"a part that reaches past an earlier one", []rejectsPart{p(0, 30), p(20, 20)}, 40, []rejectsPart{p(0, 30), p(20, 20)}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kept, stale := settleParts(tc.parts, tc.offset)
			if !reflect.DeepEqual(kept, tc.kept) || !reflect.DeepEqual(stale, tc.stale) {
				t.Fatalf("kept %v, stale %v\nwant %v, %v", kept, stale, tc.kept, tc.stale)
			}
		})
	}
}

func TestRestorePlan(t *testing.T) {
	p := func(start, size int64) rejectsPart {
		return rejectsPart{key: fmt.Sprintf("p/%020d.ndjson", start), start: start, size: size}
	}
	for _, tc := range []struct {
		name   string
		parts  []rejectsPart
		offset int64
		want   []partRead
		err    string
	}{
		{"one part after another", []rejectsPart{p(0, 10), p(10, 5)}, 15,
			[]partRead{{p(0, 10), 0, 10}, {p(10, 5), 10, 15}}, ""},
		{"a part cut at the offset", []rejectsPart{p(0, 10), p(10, 5)}, 12,
			[]partRead{{p(0, 10), 0, 10}, {p(10, 5), 10, 12}}, ""},
		{"parts a merged one covers are skipped", []rejectsPart{p(0, 30), p(10, 5), p(15, 15), p(30, 5)}, 35,
			[]partRead{{p(0, 30), 0, 30}, {p(30, 5), 30, 35}}, ""},
		{"a part that reaches past an earlier one gives the rest", []rejectsPart{p(0, 30), p(20, 20)}, 40,
			[]partRead{{p(0, 30), 0, 30}, {p(20, 20), 30, 40}}, ""},
		{"nothing is read past the offset", []rejectsPart{p(0, 10), p(10, 5)}, 10,
			[]partRead{{p(0, 10), 0, 10}}, ""},
		{"a gap", []rejectsPart{p(0, 10), p(12, 5)}, 17,
			nil, "no object holds bytes 10 to 12 (the next, 00000000000000000012.ndjson, starts at 12)"},
		{"a gap at the start", []rejectsPart{p(5, 10)}, 15,
			nil, "no object holds bytes 0 to 5 (the next, 00000000000000000005.ndjson, starts at 5)"},
		{"too few bytes", []rejectsPart{p(0, 10), p(10, 5)}, 20, nil, "its objects hold 15 bytes"},
		{"no parts", nil, 20, nil, "its objects hold 0 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := restorePlan(tc.parts, tc.offset)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("err = %v, want %s", err, tc.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("plan %v, %v\nwant %v", got, err, tc.want)
			}
		})
	}
}

// rejectsLines appends n lines of varied lengths, drawn from rng, to the
// local rejects file at path, tagged with run, and returns its size.
func rejectsLines(t *testing.T, path, run string, n int, rng *rand.Rand) int64 {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for range n {
		fmt.Fprintf(f, `{"run":%q,"raw":%q}`+"\n", run, strings.Repeat("x", rng.IntN(300)))
	}
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// listParts returns the parts of the copy of the rejects of the
// checkpoint jobs/import.json in b.
func listParts(t *testing.T, c *bucketCheckpoint) []rejectsPart {
	t.Helper()
	parts, err := c.rejectsParts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return parts
}

// restoredRejects restores the first offset bytes of the rejects file from
// the copy in c's bucket, as a run resumed on another machine does, and
// returns them.
func restoredRejects(t *testing.T, c *bucketCheckpoint, offset int64) []byte {
	t.Helper()
	local := filepath.Join(t.TempDir(), "rejects.ndjson")
	cp := &Checkpoint{RejectsFile: filepath.Join(t.TempDir(), "gone.ndjson"), RejectsOffset: offset}
	from, err := c.prepareRejectsCopy(context.Background(), cp, local)
	if err != nil {
		t.Fatal(err)
	}
	if from != c.rejectsName() || cp.RejectsFile != local {
		t.Fatalf("restored from %q into %s", from, cp.RejectsFile)
	}
	b, err := os.ReadFile(local)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func noCrash(string) {}

// TestTheRejectsCopyStaysAFewObjects copies a rejects file that grows by a
// few lines at each of many checkpoint writes: the copy never has more
// than maxRejectsParts objects, each byte is written a few times, not
// once per merge, and a restore gives back the file byte for byte.
func TestTheRejectsCopyStaysAFewObjects(t *testing.T) {
	q, _ := fakeS3(t)
	ctx := context.Background()
	c, err := openBucketCheckpoint(ctx, "s3://bkt/jobs/import.json"+q)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	local := filepath.Join(t.TempDir(), "rejects.ndjson")
	if _, err := c.prepareRejectsCopy(ctx, nil, local); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	const writes = 600
	var offset, written, most int64
	for i := range writes {
		offset = rejectsLines(t, local, "r1", 1+rng.IntN(3), rng)
		if err := c.copyRejects(ctx, local, offset, noCrash); err != nil {
			t.Fatal(err)
		}
		parts := listParts(t, c)
		if len(parts) > maxRejectsParts {
			t.Fatalf("after %d copies the copy has %d objects, want at most %d", i+1, len(parts), maxRejectsParts)
		}
		if !reflect.DeepEqual(parts, c.parts) {
			t.Fatalf("after %d copies the bucket holds %v, the run counts %v", i+1, parts, c.parts)
		}
		last := parts[len(parts)-1]
		if last.end() != offset {
			t.Fatalf("after %d copies the copy ends at %d, want %d", i+1, last.end(), offset)
		}
		written += last.size
		most = max(most, int64(len(parts)))
	}
	if most < maxRejectsParts {
		t.Fatalf("the copy had at most %d objects: the merges were not exercised", most)
	}
	// A merge of all parts at each 16th write would write each byte
	// about writes/32 times; merges of the last, small parts, a few.
	t.Logf("%d copies, %d bytes copied in %d bytes written (%.1f times), at most %d objects", writes, offset, written, float64(written)/float64(offset), most)
	if amp := float64(written) / float64(offset); amp > 8 {
		t.Fatalf("%d bytes written to copy %d: each byte %.1f times", written, offset, amp)
	}
	want, err := os.ReadFile(local)
	if err != nil {
		t.Fatal(err)
	}
	if got := restoredRejects(t, c, offset); !bytes.Equal(got, want) {
		t.Fatalf("restored %d bytes, not those of the rejects file (%d)", len(got), len(want))
	}
}

// bucketSnapshot is what a kill leaves in a bucket: each object under a
// prefix, by key.
type bucketSnapshot map[string][]byte

// snapshotBucket reads every object under prefix in b.
func snapshotBucket(t *testing.T, b *blob.Bucket, prefix string) bucketSnapshot {
	t.Helper()
	s := bucketSnapshot{}
	it := b.List(&blob.ListOptions{Prefix: prefix})
	for {
		o, err := it.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return s
		}
		if err != nil {
			t.Fatal(err)
		}
		if s[o.Key], err = b.ReadAll(context.Background(), o.Key); err != nil {
			t.Fatal(err)
		}
	}
}

// putBack makes the objects under prefix in b those of s.
func (s bucketSnapshot) putBack(t *testing.T, b *blob.Bucket, prefix string) {
	t.Helper()
	for key := range snapshotBucket(t, b, prefix) {
		if err := b.Delete(context.Background(), key); err != nil {
			t.Fatal(err)
		}
	}
	for key, body := range s {
		if err := b.WriteAll(context.Background(), key, body, nil); err != nil {
			t.Fatal(err)
		}
	}
}

// TestAKillWhileTheRejectsCopyIsMergedLosesNothing stops the copy of a
// rejects file at each step of a merge (before the merged object is
// written, once it is, after each delete of a part it replaces), keeps the
// bucket as a kill there leaves it, with the checkpoint of the write
// before, and resumes on another machine: the restored file is the first
// run's up to the checkpoint, byte for byte. The resumed run then appends
// rejects of its own, which differ from those the killed run copied past
// the checkpoint, and copies them on: its copy restores as its file.
func TestAKillWhileTheRejectsCopyIsMergedLosesNothing(t *testing.T) {
	q, b := fakeS3(t)
	ctx := context.Background()
	for _, tc := range []struct {
		point string
		nth   int
	}{
		{crashRejectsMerging, 1},
		{crashRejectsMerging, 3},
		{crashRejectsMerged, 1},
		{crashRejectsMerged, 2},
		{crashRejectsPartDeleted, 1},
		{crashRejectsPartDeleted, 7},
		{crashRejectsPartDeleted, 20},
	} {
		t.Run(fmt.Sprintf("%s-%d", tc.point, tc.nth), func(t *testing.T) {
			prefix := fmt.Sprintf("%s-%d/", tc.point, tc.nth)
			cpURL := "s3://bkt/" + prefix + "import.json" + q
			c, err := openBucketCheckpoint(ctx, cpURL)
			if err != nil {
				t.Fatal(err)
			}
			defer c.close()
			local := filepath.Join(t.TempDir(), "rejects.ndjson")
			if _, err := c.prepareRejectsCopy(ctx, nil, local); err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(3, uint64(tc.nth)))
			var (
				hits      int
				saved     int64 // the offset of the last checkpoint written
				crashed   bucketSnapshot
				crashedAt int64
				file      []byte
			)
			crash := func(point string) {
				if point != tc.point {
					return
				}
				if hits++; hits == tc.nth {
					crashed, crashedAt = snapshotBucket(t, b, prefix), saved
					file, _ = os.ReadFile(local)
				}
			}
			for i := 0; crashed == nil; i++ {
				if i == 200 {
					t.Fatalf("crash point %s reached %d times in %d copies, want %d", tc.point, hits, i, tc.nth)
				}
				offset := rejectsLines(t, local, "r1", 1+rng.IntN(3), rng)
				if err := c.copyRejects(ctx, local, offset, crash); err != nil {
					t.Fatal(err)
				}
				saved = offset
			}

			// Another machine resumes from the checkpoint written before
			// the kill.
			crashed.putBack(t, b, prefix)
			c2, err := openBucketCheckpoint(ctx, cpURL)
			if err != nil {
				t.Fatal(err)
			}
			defer c2.close()
			got := restoredRejects(t, c2, crashedAt)
			if !bytes.Equal(got, file[:crashedAt]) {
				t.Fatalf("restored %d bytes, not the first %d of the killed run's rejects file", len(got), crashedAt)
			}
			var reach int64
			for _, p := range listParts(t, c2) {
				if p.start >= crashedAt || p.end() <= reach {
					t.Fatalf("the resumed run left %s (bytes %d to %d), which the checkpoint at %d does not need", p.key, p.start, p.end(), crashedAt)
				}
				reach = p.end()
			}
			// It writes rejects of its own, copies them on, and is
			// restored in turn: after its first copy, and after more
			// copies than make a merge.
			local2 := filepath.Join(t.TempDir(), "rejects.ndjson")
			if err := os.WriteFile(local2, got, 0o600); err != nil {
				t.Fatal(err)
			}
			c3, err := openBucketCheckpoint(ctx, cpURL)
			if err != nil {
				t.Fatal(err)
			}
			defer c3.close()
			for i := range 40 {
				offset := rejectsLines(t, local2, "r2", 1+rng.IntN(3), rng)
				if err := c2.copyRejects(ctx, local2, offset, noCrash); err != nil {
					t.Fatal(err)
				}
				if n := len(listParts(t, c2)); n > maxRejectsParts {
					t.Fatalf("the copy has %d objects, want at most %d", n, maxRejectsParts)
				}
				if i != 0 && i != 39 {
					continue
				}
				want, err := os.ReadFile(local2)
				if err != nil {
					t.Fatal(err)
				}
				if got := restoredRejects(t, c3, offset); !bytes.Equal(got, want) {
					t.Fatalf("after %d copies, restored %d bytes, not those of the resumed run's rejects file (%d)", i+1, len(got), len(want))
				}
			}
		})
	}
}

// TestARestoreReadsThePartsAtOnce restores a copy of 16 parts from a store
// that holds each read of a part until rejectsReads of them are under way:
// a restore that read one part at a time would never finish. No more than
// rejectsReads are read at once, and the file comes back in order.
func TestARestoreReadsThePartsAtOnce(t *testing.T) {
	var (
		mu       sync.Mutex
		inFlight int
		most     int
	)
	all := make(chan struct{})
	srv := blobtest.S3(t, "bkt", blobtest.S3Options{Intercept: func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodGet || !strings.Contains(r.URL.Path, ".rejects/") {
			return false
		}
		mu.Lock()
		inFlight++
		most = max(most, inFlight)
		if inFlight == rejectsReads {
			close(all)
		}
		mu.Unlock()
		select {
		case <-all:
		case <-r.Context().Done():
		}
		mu.Lock()
		inFlight--
		mu.Unlock()
		return false
	}})
	var want []byte
	for i := range 16 {
		part := fmt.Appendf(nil, `{"part":%d,"raw":%q}`+"\n", i, strings.Repeat("z", i*7))
		srv.Put(t, fmt.Sprintf("jobs/.import.json.rejects/%020d.ndjson", len(want)), part)
		want = append(want, part...)
	}
	c, err := openBucketCheckpoint(context.Background(), srv.URL("jobs/import.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	if got := restoredRejects(t, c, int64(len(want))); !bytes.Equal(got, want) {
		t.Fatalf("restored %q\nwant %q", got, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if most != rejectsReads {
		t.Fatalf("%d parts read at once, want %d", most, rejectsReads)
	}
}

// TestAnImportKilledWhileItsRejectsCopyIsMergedResumesElsewhere runs an
// import whose checkpoint is in a bucket through many checkpoint writes
// with rejects, stops it at each step of a merge of the rejects' copy
// (keeping the bucket and the rejects file as a kill there leaves them),
// and resumes it on another machine: the rejects file it restores is the
// killed run's up to what the checkpoint covers, byte for byte; each bad
// row is rejected once; and the copy stays a few objects.
func TestAnImportKilledWhileItsRejectsCopyIsMergedResumesElsewhere(t *testing.T) {
	q, b := fakeS3(t)
	dir := t.TempDir()
	bad := map[int]string{}
	for i := 5; i <= 2000; i += 11 {
		bad[i] = `{"broken` + strings.Repeat("r", i%97)
	}
	src := writeNDJSON(t, dir, "a.ndjson", 2000, bad)
	for _, tc := range []struct {
		point string
		nth   int
	}{
		{crashRejectsMerging, 2},
		{crashRejectsMerged, 1},
		{crashRejectsMerged, 3},
		{crashRejectsPartDeleted, 1},
		{crashRejectsPartDeleted, 12},
	} {
		t.Run(fmt.Sprintf("%s-%d", tc.point, tc.nth), func(t *testing.T) {
			prefix := fmt.Sprintf("%s-%d/", tc.point, tc.nth)
			var (
				mu      sync.Mutex
				hits    int
				writes  int
				wrote   = make(chan struct{}) // closed at the next write
				sent    int
				crashed bucketSnapshot
				file    []byte
			)
			// Each batch is sent once the checkpoint that covers the one
			// before it is written: a checkpoint write per batch, however
			// fast the sends are.
			send := func(ctx context.Context, _ *sink.Batch) error {
				mu.Lock()
				sent++
				n := sent
				for writes < n {
					ch := wrote
					mu.Unlock()
					select {
					case <-ch:
					case <-ctx.Done():
						return ctx.Err()
					}
					mu.Lock()
				}
				mu.Unlock()
				return nil
			}
			first := t.TempDir()
			cfg := checkpointConfig(first, []string{src}, &fakeSink{send: send})
			cfg.Limits.MaxMessages = 20
			cfg.CheckpointPath = "s3://bkt/" + prefix + "import.json" + q
			cfg.crashHook = func(point string) {
				mu.Lock()
				defer mu.Unlock()
				if point == crashCheckpointRenamed {
					writes++
					close(wrote)
					wrote = make(chan struct{})
				}
				if point != tc.point {
					return
				}
				if hits++; hits == tc.nth {
					crashed = snapshotBucket(t, b, prefix)
					delete(crashed, prefix+".import.json.lock") // taken over: its run is gone
					file, _ = os.ReadFile(cfg.RejectsPath)
				}
			}
			if _, err := Run(context.Background(), cfg); err != nil {
				t.Fatal(err)
			}
			if hits < tc.nth {
				t.Fatalf("crash point %s reached %d times in %d checkpoint writes, want %d", tc.point, hits, writes, tc.nth)
			}
			if n := len(snapshotBucket(t, b, prefix+".import.json.rejects/")); n > maxRejectsParts {
				t.Fatalf("after %d checkpoint writes the copy of the rejects has %d objects, want at most %d", writes, n, maxRejectsParts)
			}

			crashed.putBack(t, b, prefix)
			cp, err := LoadCheckpoint(cfg.CheckpointPath)
			if err != nil {
				t.Fatal(err)
			}
			if cp.RejectsOffset == 0 || cp.Complete {
				t.Fatalf("the kill left a checkpoint with %d bytes of rejects, complete %v", cp.RejectsOffset, cp.Complete)
			}
			if err := os.Remove(cfg.RejectsPath); err != nil {
				t.Fatal(err)
			}
			cfg.crashHook = nil
			cfg.RejectsPath = filepath.Join(t.TempDir(), "rejects.ndjson")
			cfg.Sink = &fakeSink{send: accept}
			rep, err := Run(context.Background(), cfg)
			if err != nil || !rep.Complete {
				t.Fatalf("resume: %v", err)
			}
			if rep.RejectsCopiedFrom != "s3://bkt/"+prefix+".import.json.rejects/" {
				t.Fatalf("report: rejects copied from %q", rep.RejectsCopiedFrom)
			}
			got, err := os.ReadFile(cfg.RejectsPath)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(got, file[:cp.RejectsOffset]) {
				t.Fatalf("the resumed run's rejects file does not start with the %d bytes of the killed run's that the checkpoint covers", cp.RejectsOffset)
			}
			rows := map[int64]int{}
			for _, r := range readRejectsFile(t, cfg.RejectsPath) {
				rows[r.Line]++
			}
			if len(rows) != len(bad) || rep.Rejected != int64(len(bad)) || rep.Delivered != int64(2000-len(bad)) {
				t.Fatalf("%d rows in the rejects file; report %+v; want %d rejected", len(rows), rep, len(bad))
			}
			for line, n := range rows {
				if n != 1 || bad[int(line)] == "" {
					t.Fatalf("line %d rejected %d times, want once and only if bad", line, n)
				}
			}
			if n := len(snapshotBucket(t, b, prefix+".import.json.rejects/")); n > maxRejectsParts {
				t.Fatalf("after the resume the copy of the rejects has %d objects, want at most %d", n, maxRejectsParts)
			}
		})
	}
}
