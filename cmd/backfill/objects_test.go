package main

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/backfillhq/backfill/internal/blobtest"
	"github.com/klauspost/compress/gzip"
)

// gzipBytes compresses b.
func gzipBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestImportFromS3 imports a bucket laid out as Segment's S3 destination
// writes it (gzipped NDJSON in day folders) through the built binary into
// serve: every row arrives once; with --since, the day folders that end
// more than a day before it are skipped and counted in the report, and a
// later folder holding an earlier event (one that arrived late) is read.
// A prefix with nothing under it fails, naming it.
func TestImportFromS3(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	s := blobtest.S3(t, "archive", blobtest.S3Options{})
	day := func(d int) string { return fmt.Sprint(time.Date(2024, 3, d, 0, 0, 0, 0, time.UTC).UnixMilli()) }
	n := 0
	for _, d := range []int{1, 2, 5, 6} {
		var nd bytes.Buffer
		for i := range 100 {
			ts := time.Date(2024, 3, d, 1, i, 0, 0, time.UTC)
			if d == 6 && i == 0 {
				ts = time.Date(2024, 3, 4, 23, 0, 0, 0, time.UTC) // arrived two days late
			}
			fmt.Fprintf(&nd, `{"type":"track","messageId":"m-%d-%d","userId":"u-%d","event":"E","timestamp":%q}`+"\n", d, i, i, ts.Format(time.RFC3339))
			n++
		}
		s.Put(t, "segment-logs/src1/"+day(d)+"/"+day(d)+".a1b2.gz", gzipBytes(t, nd.Bytes()))
	}
	url, out, stop := serveProcess(t, bin, dir)

	report := filepath.Join(dir, "all.json")
	code, stderr := runProcess(t, bin, []string{"import", "--endpoint", url, "--progress", "never", "--report", report,
		"--checkpoint", filepath.Join(dir, "all.ckpt"), s.URL("segment-logs/src1")}, dir, s.Env()...)
	if code != 0 {
		t.Fatalf("import exited with %d: %s", code, stderr)
	}
	if strings.Contains(stderr, "SDK") || strings.Contains(stderr, "blobtest") {
		t.Errorf("stderr shows the SDK's logs or the credentials: %s", stderr)
	}
	if rep := readReport(t, report); rep.RowsRead != int64(n) || rep.Delivered != int64(n) || len(rep.ArchiveDaysSkipped) != 0 {
		t.Fatalf("report: %+v, want %d rows delivered", rep, n)
	}

	report = filepath.Join(dir, "window.json")
	code, stderr = runProcess(t, bin, []string{"import", "--endpoint", url, "--progress", "never", "--report", report,
		"--since", "2024-03-05", "--checkpoint", filepath.Join(dir, "window.ckpt"), s.URL("segment-logs/**/*.gz")}, dir, s.Env()...)
	if code != 0 {
		t.Fatalf("windowed import exited with %d: %s", code, stderr)
	}
	rep := readReport(t, report)
	// Days 1 and 2 end more than a day before the 5th: skipped unlisted.
	// Days 5 and 6 are read; on day 6, the late event of the 4th is
	// filtered.
	wantSkipped := []string{s.Name("segment-logs/src1/" + day(1) + "/"), s.Name("segment-logs/src1/" + day(2) + "/")}
	if fmt.Sprint(rep.ArchiveDaysSkipped) != fmt.Sprint(wantSkipped) || rep.RowsRead != 200 || rep.Delivered != 199 || rep.Filtered != 1 {
		t.Fatalf("windowed report: skipped %q, read %d, delivered %d, filtered %d; want %q skipped, 200 read, 199 delivered, 1 filtered",
			rep.ArchiveDaysSkipped, rep.RowsRead, rep.Delivered, rep.Filtered, wantSkipped)
	}

	code, stderr = runProcess(t, bin, []string{"import", "--endpoint", url, "--progress", "never",
		"--checkpoint", filepath.Join(dir, "none.ckpt"), s.URL("segment-logs/nothing")}, dir, s.Env()...)
	if code != 1 || !strings.Contains(stderr, "s3://archive/segment-logs/nothing: no objects found") {
		t.Errorf("import of an empty prefix: exit %d, stderr %s; want 1 and the prefix named", code, stderr)
	}
	stop()

	got := map[string]int{}
	eachJSONLine(t, out, func(m map[string]any) { got[m["messageId"].(string)]++ })
	if len(got) != n {
		t.Fatalf("received %d distinct messages, want %d", len(got), n)
	}
	for id, k := range got {
		want := 1
		if strings.HasPrefix(id, "m-5-") || strings.HasPrefix(id, "m-6-") {
			want = 2 // imported by both runs
		}
		if id == "m-6-0" {
			want = 1 // filtered by the second
		}
		if k != want {
			t.Errorf("%s received %d times, want %d", id, k, want)
		}
	}
}
