package importer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/blob/memblob"

	"github.com/backfillhq/backfill/internal/blobtest"
)

// fakeS3 starts a fake S3 store on 127.0.0.1 holding the bucket "bkt"
// (see blobtest.S3), and returns the query its URLs need and the bucket,
// open.
func fakeS3(t *testing.T) (query string, b *blob.Bucket) {
	t.Helper()
	srv := blobtest.S3(t, "bkt", blobtest.S3Options{})
	return strings.TrimPrefix(srv.BucketURL(), "s3://bkt"), srv.Blob()
}

// testLock returns a lock of the checkpoint "mem://bkt/jobs/cp.json" in
// bucket for run, on host, as process pid, with the clock at *now.
func testLock(bucket *blob.Bucket, run, host string, pid int, now *time.Time) *objectLock {
	return &objectLock{
		bucket: bucket, key: "jobs/.cp.json.lock", name: "s3://bkt/jobs/cp.json", what: "checkpoint",
		now:    func() time.Time { return *now },
		alive:  func(p int) bool { return p == 7 },
		holder: LockHolder{PID: pid, Host: host, Since: now.UTC(), Run: run},
	}
}

// lockRecord returns the record in the lock object of testLock.
func lockRecord(t *testing.T, bucket *blob.Bucket) LockHolder {
	t.Helper()
	b, err := bucket.ReadAll(context.Background(), "jobs/.cp.json.lock")
	if err != nil {
		t.Fatal(err)
	}
	var h LockHolder
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestTheLockOfABucketCheckpointIsTakenOverOnlyWhenStale(t *testing.T) {
	eachStore(t, func(t *testing.T, s *blobtest.Server) {
		ctx := context.Background()
		bucket := s.Blob()
		t0 := time.Date(2026, 12, 6, 6, 0, 0, 0, time.UTC)
		nowA, nowB := t0, t0
		a := testLock(bucket, "run-a", "host-a", 7, &nowA)
		if err := a.acquire(ctx); err != nil {
			t.Fatal(err)
		}
		want := LockHolder{PID: 7, Host: "host-a", Since: t0, Run: "run-a", Heartbeat: t0}
		if got := lockRecord(t, bucket); got != want {
			t.Fatalf("lock record = %+v, want %+v", got, want)
		}

		// A refresh 30 s later moves the heartbeat.
		nowA = t0.Add(30 * time.Second)
		if err := a.refresh(ctx); err != nil {
			t.Fatal(err)
		}
		want.Heartbeat = nowA
		if got := lockRecord(t, bucket); got != want {
			t.Fatalf("lock record after the refresh = %+v, want %+v", got, want)
		}

		// Two minutes after the heartbeat, the lock is still held.
		nowB = nowA.Add(LockStaleAfter)
		b := testLock(bucket, "run-b", "host-b", 9, &nowB)
		err := b.acquire(ctx)
		wantErr := "checkpoint s3://bkt/jobs/cp.json is in use by another run (pid 7 on host host-a, since 2026-12-06T06:00:00Z, last heartbeat 2026-12-06T06:00:30Z); wait for it to end, or stop it: its lock is taken over once its heartbeat is 2m0s old"
		if err == nil || err.Error() != wantErr || !errors.Is(err, ErrLocked) {
			t.Fatalf("err = %v\nwant %s", err, wantErr)
		}

		// A second later it is stale, and taken over.
		nowB = nowB.Add(time.Second)
		if err := b.acquire(ctx); err != nil {
			t.Fatalf("the stale lock was not taken over: %v", err)
		}
		if got := lockRecord(t, bucket); got.Run != "run-b" || !got.Heartbeat.Equal(nowB) {
			t.Fatalf("lock record = %+v, want run-b's", got)
		}

		// The run that lost it finds out at its next write, and stays out.
		wantLost := "checkpoint s3://bkt/jobs/cp.json: lock lost: another run (pid 9 on host host-b, since 2026-12-06T06:02:30Z) took it over, finding its heartbeat more than 2m0s old; this run stops so as not to overwrite that run's checkpoint"
		if err := a.verify(ctx); err == nil || err.Error() != wantLost || !errors.Is(err, ErrLockLost) {
			t.Fatalf("verify = %v\nwant %s", err, wantLost)
		}
		if err := a.refresh(ctx); err == nil || err.Error() != wantLost {
			t.Fatalf("refresh = %v\nwant %s", err, wantLost)
		}
		if err := a.release(ctx); err != nil {
			t.Fatal(err)
		}
		if got := lockRecord(t, bucket); got.Run != "run-b" {
			t.Fatalf("the run that lost the lock released another's: %+v", got)
		}

		if err := b.release(ctx); err != nil {
			t.Fatal(err)
		}
		if ok, err := bucket.Exists(ctx, "jobs/.cp.json.lock"); ok || err != nil {
			t.Fatalf("the lock object is left after its release: %v, %v", ok, err)
		}
	})
}

func TestTheLockOfAKilledRunOnTheSameHostIsTakenOverAtOnce(t *testing.T) {
	eachStore(t, func(t *testing.T, s *blobtest.Server) {
		ctx := context.Background()
		bucket := s.Blob()
		now := time.Date(2026, 12, 6, 6, 0, 0, 0, time.UTC)
		// testLock's processes: 7 lives, 8 does not.
		dead := testLock(bucket, "run-dead", "host-a", 8, &now)
		if err := dead.acquire(ctx); err != nil {
			t.Fatal(err)
		}
		other := testLock(bucket, "run-other-host", "host-b", 8, &now)
		if err := other.acquire(ctx); !errors.Is(err, ErrLocked) {
			t.Fatalf("a run on another host took over a fresh lock: %v", err)
		}
		next := testLock(bucket, "run-next", "host-a", 7, &now)
		if err := next.acquire(ctx); err != nil {
			t.Fatalf("the lock of a process that no longer exists on this host was not taken over: %v", err)
		}
		if got := lockRecord(t, bucket); got.Run != "run-next" {
			t.Fatalf("lock record = %+v, want run-next's", got)
		}
		// A live process on the same host keeps it.
		third := testLock(bucket, "run-third", "host-a", 11, &now)
		if err := third.acquire(ctx); !errors.Is(err, ErrLocked) {
			t.Fatalf("a live run's lock was taken over: %v", err)
		}
	})
}

func TestARunThatCannotRefreshItsLockStops(t *testing.T) {
	ctx := context.Background()
	bucket := memblob.OpenBucket(nil)
	now := time.Date(2026, 12, 6, 6, 0, 0, 0, time.UTC)
	l := testLock(bucket, "run-a", "host-a", 7, &now)
	if err := l.acquire(ctx); err != nil {
		t.Fatal(err)
	}
	now = now.Add(LockStaleAfter + 5*time.Second)
	want := "checkpoint s3://bkt/jobs/cp.json: lock lost: its heartbeat could not be written for 2m5s, and another run may have taken the checkpoint over; this run stops so as not to overwrite it"
	if err := l.verify(ctx); err == nil || err.Error() != want || !errors.Is(err, ErrLockLost) {
		t.Fatalf("verify = %v\nwant %s", err, want)
	}
}

func TestALostLockStopsTheCheckpointWrite(t *testing.T) {
	ctx := context.Background()
	bucket := memblob.OpenBucket(nil)
	now := time.Date(2026, 12, 6, 6, 0, 0, 0, time.UTC)
	l := testLock(bucket, "run-a", "host-a", 7, &now)
	if err := l.acquire(ctx); err != nil {
		t.Fatal(err)
	}
	c := &bucketCheckpoint{url: objectURL{key: "jobs/cp.json", name: "s3://bkt/jobs/cp.json"}, bucket: bucket, lock: l}
	cp := &Checkpoint{Options: map[string]string{}, Files: []CheckpointFile{{Path: "/a.csv", Status: StatusPending}}}
	if err := c.save(cp, func(string) {}); err != nil {
		t.Fatal(err)
	}
	one, err := bucket.ReadAll(ctx, "jobs/cp.json")
	if err != nil {
		t.Fatal(err)
	}
	// Another run deletes the lock and takes it.
	if err = bucket.WriteAll(ctx, "jobs/.cp.json.lock", []byte(`{"pid":9,"host":"host-b","since":"2026-12-06T06:03:00Z","run":"run-b","heartbeat":"2026-12-06T06:03:00Z"}`), nil); err != nil {
		t.Fatal(err)
	}
	cp.Complete = true
	err = c.save(cp, func(string) {})
	if !errors.Is(err, ErrLockLost) {
		t.Fatalf("save = %v, want ErrLockLost", err)
	}
	if got, _ := bucket.ReadAll(ctx, "jobs/cp.json"); string(got) != string(one) {
		t.Fatalf("the checkpoint is\n%s\nwant the one written while the lock was held:\n%s", got, one)
	}
}

func TestParseObjectURL(t *testing.T) {
	for _, tc := range []struct {
		in, bucket, key, name, lock, rejects, err string
	}{
		{in: "s3://logs/jobs/may.json?endpoint=http://127.0.0.1:9000&use_path_style=true",
			bucket: "s3://logs?endpoint=http://127.0.0.1:9000&use_path_style=true", key: "jobs/may.json", name: "s3://logs/jobs/may.json",
			lock: "jobs/.may.json.lock", rejects: ".backfill/s3-logs/jobs/may.rejects.ndjson"},
		{in: "gs://b/cp.json", bucket: "gs://b", key: "cp.json", name: "gs://b/cp.json", lock: ".cp.json.lock", rejects: ".backfill/gs-b/cp.rejects.ndjson"},
		{in: "azblob://c/../../x/cp.json", bucket: "azblob://c", key: "../../x/cp.json", name: "azblob://c/../../x/cp.json", lock: "../../x/.cp.json.lock", rejects: ".backfill/azblob-c/x/cp.rejects.ndjson"},
		{in: "s3://logs/", err: "checkpoint s3://logs/: want s3://BUCKET/PATH/NAME.json, the object that holds the checkpoint"},
		{in: "s3://logs", err: "checkpoint s3://logs: want s3://BUCKET/PATH/NAME.json, the object that holds the checkpoint"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			o, err := parseObjectURL(tc.in)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("err = %v, want %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if o.bucket != tc.bucket || o.key != tc.key || o.name != tc.name || o.lockKey() != tc.lock {
				t.Fatalf("got %+v (lock %s)", o, o.lockKey())
			}
			if got := RejectsPathFor(tc.in); got != filepath.FromSlash(tc.rejects) {
				t.Fatalf("RejectsPathFor = %s, want %s", got, tc.rejects)
			}
		})
	}
}

func TestARejectsFileInABucketIsRefused(t *testing.T) {
	cfg := Config{Sources: []string{"a.ndjson"}, Sink: &fakeSink{send: accept}, RejectsPath: "s3://bkt/rejects.ndjson"}
	want := "config: RejectsPath s3://bkt/rejects.ndjson is in a bucket, but the rejects file is appended to as rows are rejected, which an object cannot be: name a local file"
	if err := cfg.Validate(); err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
}

func TestACheckpointInABucketResumesAndHoldsItsLockWhileTheRunLives(t *testing.T) {
	q, b := fakeS3(t)
	dir := t.TempDir()
	a := writeNDJSON(t, dir, "a.ndjson", 1000, map[int]string{250: `{"type":"track"`})
	cpURL := "s3://bkt/jobs/import.json" + q
	cfg := checkpointConfig(dir, []string{a}, &fakeSink{send: failAfter(4)})
	cfg.CheckpointPath = cpURL
	rep1, err := Run(context.Background(), cfg)
	if err == nil || rep1.Complete {
		t.Fatalf("the first run did not stop: %v", err)
	}
	if rep1.CheckpointPath != cpURL || !rep1.CheckpointSaved {
		t.Fatalf("report: checkpoint %q saved %v", rep1.CheckpointPath, rep1.CheckpointSaved)
	}
	cp, err := LoadCheckpoint(cpURL)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Complete || cp.Totals.Delivered != 400 || cp.Totals.Rejected != 1 || cp.Files[0].Status != StatusPartial || cp.RejectsFile != cfg.RejectsPath {
		t.Fatalf("checkpoint after the first run: %+v", cp)
	}
	if ok, err := CheckpointExists(context.Background(), cpURL); !ok || err != nil {
		t.Fatalf("CheckpointExists = %v, %v", ok, err)
	}
	// The lock was released.
	if ok, err := b.Exists(context.Background(), "jobs/.import.json.lock"); ok || err != nil {
		t.Fatalf("the lock object is left after the run: %v, %v", ok, err)
	}

	// While another run on another host holds the lock, a run is refused.
	hb := time.Now().UTC().Truncate(time.Second)
	rec := `{"pid":4242,"host":"build-7","since":"2026-12-06T02:50:00Z","run":"other","heartbeat":"` + hb.Format(time.RFC3339) + `"}`
	if err := b.WriteAll(context.Background(), "jobs/.import.json.lock", []byte(rec), nil); err != nil {
		t.Fatal(err)
	}
	s := &fakeSink{send: accept}
	cfg.Sink = s
	_, err = Run(context.Background(), cfg)
	want := "checkpoint s3://bkt/jobs/import.json is in use by another run (pid 4242 on host build-7, since 2026-12-06T02:50:00Z, last heartbeat " + hb.Format(time.RFC3339) + "); wait for it to end, or stop it: its lock is taken over once its heartbeat is 2m0s old"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
	if len(s.messages) != 0 {
		t.Fatalf("a refused run sent %d messages", len(s.messages))
	}
	if err := b.Delete(context.Background(), "jobs/.import.json.lock"); err != nil {
		t.Fatal(err)
	}

	rep2, err := Run(context.Background(), cfg)
	if err != nil || !rep2.Complete || !rep2.Resumed {
		t.Fatalf("resume: %v (%+v)", err, rep2)
	}
	if len(s.messages) != 599 || s.messages[0]["messageId"] != "a.ndjson-402" {
		t.Fatalf("the resumed run sent %d messages from %v, want 599 from a.ndjson-402", len(s.messages), s.messages[0]["messageId"])
	}
	cp, err = ReadCheckpoint(context.Background(), cpURL)
	if err != nil {
		t.Fatal(err)
	}
	if !cp.Complete || cp.Totals.Delivered != 999 || cp.Totals.Rejected != 1 {
		t.Fatalf("checkpoint after the resume: %+v", cp.Totals)
	}
	if rejects := readRejectsFile(t, cfg.RejectsPath); len(rejects) != 1 {
		t.Fatalf("rejects file holds %d rejects, want 1", len(rejects))
	}

	// --restart discards the object.
	cfg.Restart = true
	s2 := &fakeSink{send: accept}
	cfg.Sink = s2
	if _, err := Run(context.Background(), cfg); err != nil || len(s2.messages) != 999 {
		t.Fatalf("restart: %v, %d messages", err, len(s2.messages))
	}
}

func TestACheckpointInABucketThatIsMissingIsNotFound(t *testing.T) {
	q, _ := fakeS3(t)
	_, err := LoadCheckpoint("s3://bkt/none.json" + q)
	if !errors.Is(err, os.ErrNotExist) || err.Error() != "checkpoint: s3://bkt/none.json: file does not exist" {
		t.Fatalf("err = %v", err)
	}
	if ok, err := CheckpointExists(context.Background(), "s3://bkt/none.json"+q); ok || err != nil {
		t.Fatalf("CheckpointExists = %v, %v", ok, err)
	}
}

func TestARunResumedOnAnotherMachineRestoresTheRejectsFromTheBucket(t *testing.T) {
	q, b := fakeS3(t)
	dir := t.TempDir()
	bad := map[int]string{50: `{"type":"track"`, 350: `not json`, 720: `{"broken`}
	a := writeNDJSON(t, dir, "a.ndjson", 1000, bad)
	cpURL := "s3://bkt/jobs/import.json" + q
	cfg := checkpointConfig(dir, []string{a}, &fakeSink{send: failAfter(4)})
	cfg.CheckpointPath = cpURL
	if _, err := Run(context.Background(), cfg); err == nil {
		t.Fatal("the first run did not stop")
	}
	first, err := os.ReadFile(cfg.RejectsPath)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := LoadCheckpoint(cpURL)
	if err != nil {
		t.Fatal(err)
	}
	if cp.RejectsOffset != int64(len(first)) || cp.Totals.Rejected != 2 {
		t.Fatalf("the checkpoint covers %d bytes and %d rejects, the file holds %d bytes", cp.RejectsOffset, cp.Totals.Rejected, len(first))
	}
	if copied := rejectsCopy(t, b); copied != string(first) {
		t.Fatalf("the bucket's copy of the rejects is %q, want %q", copied, first)
	}
	// A part a run copied before it was killed, which no checkpoint covers.
	stale := fmt.Sprintf("jobs/.import.json.rejects/%020d.ndjson", len(first))
	if err := b.WriteAll(context.Background(), stale, []byte(`{"stale":true}`+"\n"), nil); err != nil {
		t.Fatal(err)
	}

	// Another machine: a new folder, the rejects file of the first run
	// nowhere.
	other := t.TempDir()
	if err := os.Remove(cfg.RejectsPath); err != nil {
		t.Fatal(err)
	}
	cfg.RejectsPath = filepath.Join(other, "rejects.ndjson")
	s := &fakeSink{send: accept}
	cfg.Sink = s
	rep, err := Run(context.Background(), cfg)
	if err != nil || !rep.Complete {
		t.Fatalf("resume: %v", err)
	}
	if rep.RejectsCopiedFrom != "s3://bkt/jobs/.import.json.rejects/" {
		t.Fatalf("report: rejects copied from %q", rep.RejectsCopiedFrom)
	}
	rejects := readRejectsFile(t, cfg.RejectsPath)
	if len(rejects) != 3 || rejects[0].Row != 50 || rejects[1].Row != 350 || rejects[2].Row != 720 {
		t.Fatalf("rejects file: %+v, want rows 50, 350 and 720 once each", rejects)
	}
	whole, err := os.ReadFile(cfg.RejectsPath)
	if err != nil {
		t.Fatal(err)
	}
	if copied := rejectsCopy(t, b); copied != string(whole) {
		t.Fatalf("the bucket's copy of the rejects is %q, want %q", copied, whole)
	}
}

// rejectsCopy returns the parts of the copy of the rejects file of the
// checkpoint jobs/import.json in b, one after the other, in the order of
// their keys, each checked to start where the ones before end.
func rejectsCopy(t *testing.T, b *blob.Bucket) string {
	t.Helper()
	var all []byte
	it := b.List(&blob.ListOptions{Prefix: "jobs/.import.json.rejects/"})
	for {
		o, err := it.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return string(all)
		}
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("jobs/.import.json.rejects/%020d.ndjson", len(all)); o.Key != want {
			t.Fatalf("part %s, want %s", o.Key, want)
		}
		part, err := b.ReadAll(context.Background(), o.Key)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, part...)
	}
}

// TestAStoreWithoutConditionalWritesDoesNotTakeOverALock: a store whose
// driver cannot replace an object on condition that it is unchanged (the
// in-memory store) cannot take a stale lock over safely; the run is
// refused with the way out.
func TestAStoreWithoutConditionalWritesDoesNotTakeOverALock(t *testing.T) {
	ctx := context.Background()
	bucket := memblob.OpenBucket(nil)
	now := time.Date(2026, 12, 6, 6, 0, 0, 0, time.UTC)
	if err := testLock(bucket, "run-dead", "host-a", 8, &now).acquire(ctx); err != nil {
		t.Fatal(err)
	}
	err := testLock(bucket, "run-next", "host-a", 7, &now).acquire(ctx)
	want := "checkpoint s3://bkt/jobs/cp.json: take over the stale lock jobs/.cp.json.lock: " + errNoConditionalWrite.Error() + ", which keeps two runs from both taking it over; if no run uses the checkpoint, delete that object"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
	if got := lockRecord(t, bucket); got.Run != "run-dead" {
		t.Fatalf("lock record = %+v, want run-dead's", got)
	}
}

// TestShardCheckpointPathOfABucketURL names the checkpoint of a shard in
// a bucket before the URL's query, whose endpoint may hold dots and
// slashes, and parses it back.
func TestShardCheckpointPathOfABucketURL(t *testing.T) {
	s := Shard{Index: 1, Count: 3}
	for _, tc := range []struct{ in, want string }{
		{"s3://bkt/jobs/import.json?endpoint=http://127.0.0.1:9000&use_path_style=true", "s3://bkt/jobs/import.shard-1-of-3.json?endpoint=http://127.0.0.1:9000&use_path_style=true"},
		{"gs://bkt/import.json", "gs://bkt/import.shard-1-of-3.json"},
		{"azblob://c/a.b/import.json?protocol=http&domain=127.0.0.1:10000", "azblob://c/a.b/import.shard-1-of-3.json?protocol=http&domain=127.0.0.1:10000"},
		{filepath.Join("ckpt?", "import.json"), filepath.Join("ckpt?", "import.shard-1-of-3.json")},
	} {
		got := ShardCheckpointPath(tc.in, s)
		if got != tc.want {
			t.Errorf("ShardCheckpointPath(%s) = %s, want %s", tc.in, got, tc.want)
		}
		base, sh, ok := ParseShardCheckpointPath(got)
		if !ok || base != tc.in || sh != s {
			t.Errorf("ParseShardCheckpointPath(%s) = %s, %v, %v; want %s, %v", got, base, sh, ok, tc.in, s)
		}
	}
}

// TestBucketCheckpointErrorsLeaveOutTheQuery: a checkpoint URL that is
// wrong is named in the error without its query, which may hold a token.
func TestBucketCheckpointErrorsLeaveOutTheQuery(t *testing.T) {
	const secret = "sig=SECRET"
	for _, location := range []string{
		"azblob://c/?" + secret,
		"azblob://c/%zz.json?" + secret,
	} {
		_, err := parseObjectURL(location)
		if err == nil || strings.Contains(err.Error(), "SECRET") || !strings.Contains(err.Error(), "azblob://c/") {
			t.Errorf("parseObjectURL(%q) = %v, want an error naming the URL without its query", location, err)
		}
	}
	cfg := Config{RejectsPath: "azblob://c/rejects.ndjson?" + secret, CheckpointPath: "azblob://c/cp.json?" + secret}
	if err := cfg.validateBucketPaths(); err == nil || strings.Contains(err.Error(), "SECRET") {
		t.Errorf("validateBucketPaths = %v, want an error without the query", err)
	}
}
