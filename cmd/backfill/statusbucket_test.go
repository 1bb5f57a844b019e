package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/backfillhq/backfill/importer"
	"github.com/backfillhq/backfill/internal/blobtest"
)

// TestStatusOfShardsInABucket runs shards 0 and 1 of 3 of an import whose
// checkpoints are in a bucket, shard 1 stopped by --limit, and shows the
// bucket's folder through the built binary, named with and without its
// final slash: the checkpoints directly in it are shown together as those
// of a local folder are (the same text, but for their names), the shard
// without a checkpoint as not started; lock objects, the hidden copies
// of the rejects, subfolders and other objects are left out. 10 minutes
// later the stopped shard stands out as stalled.
func TestStatusOfShardsInABucket(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	s := blobtest.S3(t, "bkt", blobtest.S3Options{})
	var lines bytes.Buffer
	for i := range 30 {
		fmt.Fprintf(&lines, `{"type":"track","messageId":"m%d","userId":"u","event":"E","timestamp":"2024-01-01T00:00:00Z"}`+"\n", i)
	}
	writeFile(t, filepath.Join(dir, "in.ndjson"), lines.Bytes())
	for _, args := range [][]string{{"--shard", "0/3"}, {"--shard", "1/3", "--limit", "2"}} {
		args = append([]string{"import", "--stub", "--progress", "never", "--checkpoint", s.URL("ckpt/imp.json"), "--shard-split-bytes", "1"}, args...)
		if code, _, stderr := runShard(t, bin, dir, append(args, "in.ndjson"), s.Env()...); code != exitOK {
			t.Fatalf("%q: exit %d: %s", args, code, stderr)
		}
	}
	s.Put(t, "ckpt/.imp.shard-2-of-3.json.lock", []byte(`{"pid":1}`))
	s.Put(t, "ckpt/notes.txt", []byte("not a checkpoint"))
	s.Put(t, "ckpt/old/imp.shard-0-of-2.json", []byte("{}"))
	s.Put(t, "ckpt/.imp.shard-0-of-3.json.rejects/00000000000000000000.json", []byte("{}"))

	// The same checkpoints in a local folder.
	local := filepath.Join(dir, "ckpt")
	if err := os.Mkdir(local, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"imp.shard-0-of-3.json", "imp.shard-1-of-3.json"} {
		b, err := s.Blob().ReadAll(context.Background(), "ckpt/"+k)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(local, k), b)
	}
	code, want, stderr := runShard(t, bin, dir, []string{"status", "ckpt"})
	if code != exitOK {
		t.Fatalf("status of the local folder: exit %d: %s", code, stderr)
	}
	ago := regexp.MustCompile(`\(\w+ ago\)`)
	want = ago.ReplaceAllString(want, "(ago)")

	for _, folder := range []string{"ckpt/", "ckpt"} {
		code, out, stderr := runShard(t, bin, dir, []string{"status", s.URL(folder)}, s.Env()...)
		if code != exitOK || stderr != "" {
			t.Fatalf("status %s: exit %d: %s", folder, code, stderr)
		}
		if !strings.HasPrefix(out, "import s3://bkt/ckpt/imp.json in 3 shards: 1 of 3 shards complete\n") ||
			!regexp.MustCompile(`(?m)^  1/3 +in progress +0/1 files +2 +2 +0 +0 +\S+ \(\w+ ago\) +s3://bkt/ckpt/imp.shard-1-of-3.json$`).MatchString(out) ||
			!regexp.MustCompile(`(?m)^  2/3 +not started +\(no checkpoint: not run yet, or no part of the sources falls to it\)$`).MatchString(out) {
			t.Fatalf("status %s:\n%s", folder, out)
		}
		if got := strings.ReplaceAll(ago.ReplaceAllString(out, "(ago)"), "s3://bkt/ckpt/", "ckpt/"); got != want {
			t.Fatalf("status %s:\n%s\nwant it as the local folder's, but for the names:\n%s", folder, out, want)
		}
	}

	// 10 minutes after shard 1's last write, it is stalled or stopped.
	cp1, err := importer.LoadCheckpoint(s.URL("ckpt/imp.shard-1-of-3.json"))
	if err != nil {
		t.Fatal(err)
	}
	var stdout, errb bytes.Buffer
	if code := runStatus(context.Background(), []string{s.URL("ckpt/")}, cp1.Updated.Add(10*time.Minute), &stdout, &errb); code != exitOK ||
		!strings.HasPrefix(stdout.String(), "import s3://bkt/ckpt/imp.json in 3 shards: 1 of 3 shards complete, 1 stalled or stopped (no checkpoint written for 5m0s or more: run those shards again, they resume)\n") ||
		!regexp.MustCompile(`(?m)^  1/3 +STALLED OR STOPPED +0/1 files +2 +2 +0 +0 +\S+ \(10m ago\) +s3://bkt/ckpt/imp.shard-1-of-3.json$`).MatchString(stdout.String()) {
		t.Fatalf("status 10 minutes later: exit %d:\n%s%s", code, stdout.String(), errb.String())
	}

	// A folder with no checkpoint in it, and a name with nothing at it
	// or under it.
	code, out, stderr := runShard(t, bin, dir, []string{"status", s.URL("ckpt/old/nothing/")}, s.Env()...)
	if code != exitOK || out != "no checkpoints in "+s.URL("ckpt/old/nothing/")+"\n" {
		t.Fatalf("status of an empty folder: exit %d: %s%s", code, out, stderr)
	}
	code, _, stderr = runShard(t, bin, dir, []string{"status", s.URL("ckpt/none.json")}, s.Env()...)
	if code != exitFailed || stderr != "backfill status: checkpoint: s3://bkt/ckpt/none.json: file does not exist\n" {
		t.Fatalf("status of a missing checkpoint: exit %d: %s", code, stderr)
	}
}
