package importer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/backfillhq/backfill/internal/blobtest"
)

// eachStore runs test on a bucket "bkt" of each object store: the fake
// S3, the fake Google Cloud Storage and Azurite (where it is installed).
func eachStore(t *testing.T, test func(t *testing.T, s *blobtest.Server)) {
	for _, tc := range []struct {
		name  string
		store func(t *testing.T) *blobtest.Server
	}{
		{"s3", func(t *testing.T) *blobtest.Server { return blobtest.S3(t, "bkt", blobtest.S3Options{}) }},
		{"gcs", func(t *testing.T) *blobtest.Server { return blobtest.GCS(t, "bkt") }},
		{"azure", func(t *testing.T) *blobtest.Server { return blobtest.Azure(t, "bkt") }},
	} {
		t.Run(tc.name, func(t *testing.T) { test(t, tc.store(t)) })
	}
}

// TestACheckpointInEachStoreIsLockedSavedAndRead takes the lock of a
// checkpoint in each object store, checks that a second run is refused
// while it is held (the lock object is created only if absent), saves the
// checkpoint, reads it back by its URL, and takes the lock again once it
// is released. Azure runs where Azurite is installed (make test).
func TestACheckpointInEachStoreIsLockedSavedAndRead(t *testing.T) {
	eachStore(t, func(t *testing.T, s *blobtest.Server) {
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

// TestAnImportOfABucketSkipsItsCheckpointInIt imports a folder of a bucket
// that also holds the import's checkpoint (and its lock and copy of the
// rejects, hidden): the checkpoint object is never read as a source, so
// the resumed run finds the same one source the first saw.
func TestAnImportOfABucketSkipsItsCheckpointInIt(t *testing.T) {
	s := blobtest.S3(t, "bkt", blobtest.S3Options{})
	dir := t.TempDir()
	a := writeNDJSON(t, dir, "a.ndjson", 500, map[int]string{20: `{"broken`})
	body, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	s.Put(t, "data/a.ndjson", body)
	cfg := checkpointConfig(dir, []string{s.URL("data")}, &fakeSink{send: failAfter(2)})
	cfg.CheckpointPath = s.URL("data/cp.json")
	if _, err := Run(context.Background(), cfg); err == nil {
		t.Fatal("the first run did not stop")
	}
	sink := &fakeSink{send: accept}
	cfg.Sink = sink
	rep, err := Run(context.Background(), cfg)
	if err != nil || !rep.Resumed || rep.Files != 1 || len(sink.messages) != 299 {
		t.Fatalf("resume: %v: resumed %t, %d files, %d messages sent; want 1 file, 299 messages", err, rep.Resumed, rep.Files, len(sink.messages))
	}
}

// TestTwoRunsThatFindAStaleLockDoNotBothTakeItOver interleaves two runs
// that find the same stale lock (its process gone from this host): run B
// reads it and decides it is stale, then, before B replaces it, run A
// takes it over. B's replacement is made on condition that the lock is
// unchanged since B read it, so the store refuses it and B finds the
// lock held by A.
func TestTwoRunsThatFindAStaleLockDoNotBothTakeItOver(t *testing.T) {
	eachStore(t, func(t *testing.T, s *blobtest.Server) {
		ctx := context.Background()
		now := time.Date(2026, 12, 6, 6, 0, 0, 0, time.UTC)
		// testLock's processes: 7 lives, 8 does not.
		dead := testLock(s.Blob(), "run-dead", "host-a", 8, &now)
		if err := dead.acquire(ctx); err != nil {
			t.Fatal(err)
		}
		a := testLock(s.Blob(), "run-a", "host-a", 7, &now)
		b := testLock(s.Blob(), "run-b", "host-a", 7, &now)
		interleaved := false
		b.replacing = func() {
			interleaved = true
			if err := a.acquire(ctx); err != nil {
				t.Fatalf("run A did not take over the stale lock: %v", err)
			}
		}
		err := b.acquire(ctx)
		var le *LockedError
		if !interleaved || !errors.As(err, &le) || le.Holder == nil || le.Holder.Run != "run-a" {
			t.Fatalf("run B: %v (interleaved %t), want a *LockedError naming run-a", err, interleaved)
		}
		if got := lockRecord(t, s.Blob()); got.Run != "run-a" {
			t.Fatalf("lock record = %+v, want run-a's", got)
		}
		if err := a.verify(ctx); err != nil {
			t.Fatalf("run A lost the lock: %v", err)
		}
	})
}

// TestARefreshDoesNotOverwriteALockTakenOverMeanwhile interleaves the
// refresh of run A's lock with its takeover by run B, whose clock finds
// A's heartbeat stale: B replaces the lock after A read it and before A
// writes its heartbeat. A's write is made on condition that the lock is
// unchanged since A read it, so the store refuses it, and A finds the
// lock lost rather than take it back.
func TestARefreshDoesNotOverwriteALockTakenOverMeanwhile(t *testing.T) {
	eachStore(t, func(t *testing.T, s *blobtest.Server) {
		ctx := context.Background()
		t0 := time.Date(2026, 12, 6, 6, 0, 0, 0, time.UTC)
		nowA, nowB := t0, t0.Add(LockStaleAfter+time.Second)
		a := testLock(s.Blob(), "run-a", "host-a", 7, &nowA)
		if err := a.acquire(ctx); err != nil {
			t.Fatal(err)
		}
		b := testLock(s.Blob(), "run-b", "host-b", 9, &nowB)
		interleaved := false
		a.replacing = func() {
			interleaved = true
			if err := b.acquire(ctx); err != nil {
				t.Fatalf("run B did not take over the stale lock: %v", err)
			}
		}
		nowA = t0.Add(LockRefreshInterval)
		err := a.refresh(ctx)
		if !interleaved || !errors.Is(err, ErrLockLost) {
			t.Fatalf("refresh = %v (interleaved %t), want ErrLockLost", err, interleaved)
		}
		if got := lockRecord(t, s.Blob()); got.Run != "run-b" || !got.Heartbeat.Equal(nowB) {
			t.Fatalf("lock record = %+v, want run-b's", got)
		}
		if err := b.verify(ctx); err != nil {
			t.Fatalf("run B lost the lock: %v", err)
		}
	})
}

// TestShardCountChangeIsRefusedInABucket runs shard 0 of 3 of an import
// whose checkpoint is in a bucket, then shards of 4: each finds the
// checkpoint of the other count beside its own and is refused, with or
// without a restart, before anything is sent. The checkpoints of another
// import beside them do not count.
func TestShardCountChangeIsRefusedInABucket(t *testing.T) {
	eachStore(t, func(t *testing.T, s *blobtest.Server) {
		in, _, _ := shardInput(t)
		dir := t.TempDir()
		config := func(sh Shard, snk *fakeSink) Config {
			cfg := shardConfig(dir, in, sh, snk)
			cfg.CheckpointPath = ShardCheckpointPath(s.URL("jobs/cp.json"), sh)
			cfg.RejectsPath = filepath.Join(dir, fmt.Sprintf("rejects-%d-of-%d.ndjson", sh.Index, sh.Count))
			return cfg
		}
		if _, err := Run(context.Background(), config(Shard{Index: 0, Count: 3}, &fakeSink{send: accept})); err != nil {
			t.Fatal(err)
		}
		if ok, err := s.Blob().Exists(context.Background(), "jobs/cp.shard-0-of-3.json"); !ok || err != nil {
			t.Fatalf("shard 0 of 3 kept no checkpoint at jobs/cp.shard-0-of-3.json: %v, %v", ok, err)
		}
		s.Put(t, "jobs/cpx.shard-0-of-2.json", []byte("{}"))
		s.Put(t, "jobs/old/cp.shard-0-of-2.json", []byte("{}"))
		want := fmt.Sprintf("this import is split into 3 shards (checkpoints %s), not 4: a changed shard count would move rows between shards; run each shard with --shard K/3 to finish it, or delete those checkpoints (and their rejects files) to split the import anew",
			s.Name("jobs/cp.shard-0-of-3.json"))
		for _, restart := range []bool{false, true} {
			for _, k := range []int{0, 2} {
				snk := &fakeSink{send: accept}
				cfg := config(Shard{Index: k, Count: 4}, snk)
				cfg.Restart = restart
				_, err := Run(context.Background(), cfg)
				var sce *ShardCountError
				if !errors.As(err, &sce) || !errors.Is(err, ErrCheckpointMismatch) || err.Error() != want {
					t.Fatalf("shard %d of 4, restart %v: %v, want\n%s", k, restart, err, want)
				}
				if len(snk.messages) != 0 {
					t.Fatalf("shard %d of 4 sent %d messages", k, len(snk.messages))
				}
			}
		}
		// The same count resumes.
		if _, err := Run(context.Background(), config(Shard{Index: 1, Count: 3}, &fakeSink{send: accept})); err != nil {
			t.Fatalf("shard 1 of 3: %v", err)
		}
	})
}

// TestCheckpointsInAFolderOfEachStore lists the checkpoints of a
// bucket's folder: the objects named *.json directly in it, with the
// query of the URL given, not the lock objects, the copies of the
// rejects, the objects of its subfolders or those of another name.
func TestCheckpointsInAFolderOfEachStore(t *testing.T) {
	eachStore(t, func(t *testing.T, s *blobtest.Server) {
		for _, k := range []string{"ckpt/b.json", "ckpt/a.shard-0-of-2.json", "ckpt/.a.shard-0-of-2.json.lock", "ckpt/.a.shard-0-of-2.json.rejects/00000000000000000000.ndjson",
			"ckpt/notes.txt", "ckpt/old/c.json", "ckptx/d.json", "top.json"} {
			s.Put(t, k, []byte("{}"))
		}
		inCkpt := []string{s.URL("ckpt/a.shard-0-of-2.json"), s.URL("ckpt/b.json")}
		for _, tc := range []struct {
			location string
			folder   bool
			want     []string
		}{
			{s.URL("ckpt/"), true, inCkpt},
			{s.URL("ckpt"), true, inCkpt},
			{s.URL(""), true, []string{s.URL("top.json")}},
			{s.URL("ckpt/b.json"), false, nil},
			{s.URL("ckpt/none.json"), false, nil},
			{s.URL("ckpt/old/none/"), true, nil},
		} {
			paths, folder, err := CheckpointsIn(context.Background(), tc.location)
			if err != nil || folder != tc.folder || fmt.Sprint(paths) != fmt.Sprint(tc.want) {
				t.Errorf("CheckpointsIn(%s) = %q, %t, %v; want %q, %t", tc.location, paths, folder, err, tc.want, tc.folder)
			}
		}
	})
}
