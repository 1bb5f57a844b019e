package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"gocloud.dev/blob"

	"github.com/backfillhq/backfill/internal/blobtest"
)

// fakeS3 starts a fake S3 store on 127.0.0.1 holding the bucket "bkt"
// (see blobtest.S3), and returns the query its URLs need, the environment
// a child process needs to reach it, and the bucket, open.
func fakeS3(t *testing.T) (query string, env []string, b *blob.Bucket) {
	t.Helper()
	srv := blobtest.S3(t, "bkt", blobtest.S3Options{})
	return strings.TrimPrefix(srv.BucketURL(), "s3://bkt"), srv.Env(), srv.Blob()
}

func TestACheckpointInABucketThroughTheCommand(t *testing.T) {
	bin := binary(t)
	q, env, b := fakeS3(t)
	dir := t.TempDir()
	var nd strings.Builder
	for i := range 30 {
		if i == 7 {
			nd.WriteString("{broken\n")
			continue
		}
		fmt.Fprintf(&nd, `{"type":"track","messageId":"s-%d","userId":"u","event":"E","timestamp":"2024-03-01T12:00:00Z"}`+"\n", i)
	}
	a := filepath.Join(dir, "a.ndjson")
	writeFile(t, a, []byte(nd.String()))
	cp := "s3://bkt/jobs/import.json" + q

	url, _, _ := serveProcess(t, bin, dir)
	importArgs := []string{"import", "--endpoint", url, "--progress", "never", "--checkpoint", cp, a}
	code, stdout, stderr := runOut(t, bin, importArgs, dir, env...)
	if code != exitRejects {
		t.Fatalf("import exited with %d, want %d: %s", code, exitRejects, stderr)
	}
	// The rejects go to a local file named after the checkpoint's key.
	rejects := filepath.Join(".backfill", "s3-bkt", "jobs", "import.rejects.ndjson")
	if !strings.Contains(stdout, "rejects written to "+rejects) {
		t.Fatalf("the summary does not name the local rejects file %s:\n%s", rejects, stdout)
	}
	if b, err := os.ReadFile(filepath.Join(dir, rejects)); err != nil || strings.Count(string(b), "\n") != 1 {
		t.Fatalf("rejects file: %q, %v", b, err)
	}

	code, stdout, stderr = runOut(t, bin, []string{"status", cp}, dir, env...)
	if code != exitOK {
		t.Fatalf("status exited with %d: %s", code, stderr)
	}
	for _, want := range []string{"checkpoint s3://bkt/jobs/import.json" + q + ": complete", "total: 30 rows settled: 29 delivered, 1 rejected, 0 filtered", "rejects: " + rejects} {
		if !strings.Contains(stdout, want) {
			t.Errorf("status output lacks %q:\n%s", want, stdout)
		}
	}
	// The lock object is gone once the run ended.
	if ok, err := b.Exists(context.Background(), "jobs/.import.json.lock"); ok || err != nil {
		t.Fatalf("the lock object is left: %v, %v", ok, err)
	}

	code, stdout, _ = runOut(t, bin, importArgs, dir, env...)
	if code != exitRejects || !strings.Contains(stdout, "nothing to do: this import already finished (checkpoint "+cp+")") {
		t.Fatalf("the finished import ran again: exit %d:\n%s", code, stdout)
	}
}

func TestBucketPathsTheCommandRefuses(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	a := filepath.Join(dir, "a.ndjson")
	writeFile(t, a, []byte(`{"type":"track","userId":"u","event":"E","timestamp":"2024-03-01T12:00:00Z"}`+"\n"))
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"rejects in a bucket", []string{"import", "--stub", "--rejects", "s3://bkt/r.ndjson", a},
			"backfill import: --rejects s3://bkt/r.ndjson: the rejects file is appended to as rows are rejected, which an object in a bucket cannot be: name a local file (with a --checkpoint in a bucket, the default is .backfill/<store>-<bucket>/<key>.rejects.ndjson in the working folder)\n"},
		{"checkpoint without a key", []string{"import", "--stub", "--checkpoint", "gs://bkt/", a},
			"backfill import: --checkpoint: checkpoint gs://bkt/: want gs://BUCKET/PATH/NAME.json, the object that holds the checkpoint\n"},
		{"status of a checkpoint file that is not there, beside one in a bucket", []string{"status", "--checkpoint", "a.json", "s3://bkt/cp.json"},
			"backfill status: --checkpoint a.json: no such checkpoint file\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runOut(t, bin, tc.args, dir)
			if code != exitUsage || stderr != tc.want {
				t.Fatalf("exit %d, stderr:\n%s\nwant %d:\n%s", code, stderr, exitUsage, tc.want)
			}
		})
	}
}

// TestAKilledImportResumesFromItsCheckpointInABucket kills an import whose
// checkpoint is in a bucket where a kill matters (its lock object is left
// behind, fresh), resumes it on the same host, and checks that every row
// arrived, duplicates identical, every bad row is rejected once, and the
// report adds up.
func TestAKilledImportResumesFromItsCheckpointInABucket(t *testing.T) {
	bin := crashBinary(t)
	q, env, _ := fakeS3(t)
	inputs := t.TempDir()
	sources, mapping, rows := crashInput(t, inputs, 1000)
	for _, tc := range []struct {
		point string
		nth   int
	}{
		{"checkpoint-written", 3},
		{"checkpoint-renamed", 4},
		{"batch-acked", 6},
	} {
		t.Run(fmt.Sprintf("%s-%d", tc.point, tc.nth), func(t *testing.T) {
			dir := t.TempDir()
			url, received, stopServe := serveProcess(t, bin, dir)
			rejectsPath := filepath.Join(dir, "rejects.ndjson")
			writeFile(t, rejectsPath, []byte(earlierReject+earlierTorn))
			reportPath := filepath.Join(dir, "report.json")
			cp := fmt.Sprintf("s3://bkt/%s-%d/import.json%s", tc.point, tc.nth, q)
			args := append([]string{"import", "--endpoint", url, "--mapping", mapping, "--progress", "never",
				"--max-batch-messages", "50", "--concurrency", "2", "--rate", "-1",
				"--checkpoint-interval", "0", "--checkpoint", cp, "--rejects", rejectsPath, "--report", reportPath}, sources...)
			code, stderr := runProcess(t, bin, args, dir, append(env, fmt.Sprintf("BACKFILL_CRASH_AT=%s:%d:kill", tc.point, tc.nth))...)
			if code != -int(syscall.SIGKILL) {
				t.Fatalf("exit code %d, want the kill's: %s", code, stderr)
			}
			if code, stderr := runProcess(t, bin, args, dir, env...); code != exitRejects {
				t.Fatalf("resumed: exit code %d, want %d: %s", code, exitRejects, stderr)
			}
			stopServe()
			if dups := checkArrivals(t, received, rows.want); dups > 16*50 {
				t.Fatalf("%d duplicates: more than can be in flight", dups)
			}
			checkRejectsOnce(t, rejectsPath, rows.bad, earlierReject+earlierTorn)
			rep := readReport(t, reportPath)
			if !rep.Resumed || rep.RowsRead != int64(len(rows.want)+len(rows.bad)) || rep.Delivered != int64(len(rows.want)) || rep.Rejected != int64(len(rows.bad)) {
				t.Fatalf("final report %+v, want %d read, %d delivered, %d rejected", rep, len(rows.want)+len(rows.bad), len(rows.want), len(rows.bad))
			}
		})
	}
}

// TestAnImportResumedInAnotherFolderRestoresItsRejectsFromTheBucket kills
// an import whose checkpoint is in a bucket, and resumes it from another
// working folder, as on a machine without the first one's disk: the
// rejects of the killed run come back from the bucket, each bad row is in
// the new rejects file once, and every good row arrived.
func TestAnImportResumedInAnotherFolderRestoresItsRejectsFromTheBucket(t *testing.T) {
	bin := crashBinary(t)
	q, env, _ := fakeS3(t)
	sources, mapping, rows := crashInput(t, t.TempDir(), 1000)
	first, second := t.TempDir(), t.TempDir()
	url, received, stopServe := serveProcess(t, bin, t.TempDir())
	cp := "s3://bkt/moved/import.json" + q
	args := append([]string{"import", "--endpoint", url, "--mapping", mapping, "--progress", "never",
		"--max-batch-messages", "50", "--concurrency", "2", "--rate", "-1", "--checkpoint-interval", "0", "--checkpoint", cp}, sources...)
	code, stderr := runProcess(t, bin, args, first, append(env, "BACKFILL_CRASH_AT=checkpoint-renamed:8:kill")...)
	if code != -int(syscall.SIGKILL) {
		t.Fatalf("exit code %d, want the kill's: %s", code, stderr)
	}
	rejects := filepath.Join(".backfill", "s3-bkt", "moved", "import.rejects.ndjson")
	if st, err := os.Stat(filepath.Join(first, rejects)); err != nil || st.Size() == 0 {
		t.Fatalf("the killed run wrote no rejects to %s (%v); kill it later", rejects, err)
	}
	code, stdout, stderr := runOut(t, bin, args, second, env...)
	if code != exitRejects {
		t.Fatalf("resumed: exit code %d, want %d: %s", code, exitRejects, stderr)
	}
	if want := "rejects of the earlier runs copied from s3://bkt/moved/.import.json.rejects/"; !strings.Contains(stdout, want) {
		t.Fatalf("the summary does not say %q:\n%s", want, stdout)
	}
	stopServe()
	checkArrivals(t, received, rows.want)
	b, err := os.ReadFile(filepath.Join(second, rejects))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		seen[rowID.FindString(line)]++
	}
	for id := range rows.bad {
		if seen[id] != 1 {
			t.Fatalf("row %s is in the rejects file %d times, want once", id, seen[id])
		}
	}
	if len(seen) != len(rows.bad) {
		t.Fatalf("the rejects file holds %d rows, want the %d bad ones", len(seen), len(rows.bad))
	}
}
