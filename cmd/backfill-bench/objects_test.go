package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gocloud.dev/blob"
)

func TestParseObjectOptions(t *testing.T) {
	parse := func(args ...string) (options, error) {
		fs := flag.NewFlagSet("backfill-bench", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		return parseOptions(fs, args)
	}
	o, err := parse()
	if err != nil || o.objects != 16 || o.objectRows != 500_000 || o.objectsOnly {
		t.Errorf("defaults: objects %d, rows %d, only %t, %v", o.objects, o.objectRows, o.objectsOnly, err)
	}
	o, err = parse("-objects", "4", "-object-rows", "400", "-objects-only")
	if err != nil || o.objects != 4 || o.objectRows != 400 || !o.objectsOnly {
		t.Errorf("parsed: objects %d, rows %d, only %t, %v", o.objects, o.objectRows, o.objectsOnly, err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-objects", "-1"}, errNoObjects.Error()},
		{[]string{"-objects", "0", "-objects-only"}, errNoObjects.Error()},
		{[]string{"-objects", "8", "-object-rows", "7"}, "-object-rows must be at least -objects"},
		{[]string{"-objects-only", "-rate-only"}, "-rate-only and -objects-only exclude each other"},
	} {
		if _, err := parse(tc.args...); err == nil || err.Error() != tc.want {
			t.Errorf("%q: %v, want %s", tc.args, err, tc.want)
		}
	}
}

func TestPrintObjects(t *testing.T) {
	var b strings.Builder
	secs := func(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
	set := &objectSet{count: 8, rows: 100_000, bytes: 8 << 20}
	printObjects(&b, set, []objectResult{
		{local: importResult{wall: secs(1), cpu: secs(1.5), maxRSS: 40 << 20}, remote: importResult{wall: secs(1.25), cpu: secs(1.6), maxRSS: 50 << 20}, serverCPU: secs(0.3)},
		{local: importResult{wall: secs(0.8), cpu: secs(1.4), maxRSS: 41 << 20}, remote: importResult{wall: secs(0.9), cpu: secs(1.5), maxRSS: 52 << 20}, serverCPU: secs(0.2)},
	})
	// Rounds: local/bucket 0.80 and 0.89, median 0.84: 15.6 % slower.
	want := `From object storage: 8 gzipped NDJSON objects of Segment messages in 2 day folders, 100,000 rows, 8.0 MiB in all (1.0 MiB an object),
imported with --stub from a fake S3 server on 127.0.0.1 that adds 20ms to every request, against the same files on disk

| source         | events/s | import CPU | server CPU | peak RSS | target                   | met                |
| -------------- | -------: | ---------: | ---------: | -------: | ------------------------ | ------------------ |
| local files    |  125,000 |     1.40 s |            | 41.0 MiB |                          |                    |
| bucket (s3://) |  111,111 |     1.50 s |     0.20 s | 52.0 MiB | ≤ 15 % slower than local | NO (15.6 % slower) |

events/s and CPU: the best run of each; slower: the median over the rounds of the paired ratios; server CPU: the fake
server's user + system time during that import, spent on the same two cores as the import's
`
	if got := b.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// TestFakeS3Server runs the fake S3 server as the bench does, as a process
// of the test binary, and checks that it serves the objects uploaded to it,
// listed in order, as they are on disk, and that its CPU time can be read.
func TestFakeS3Server(t *testing.T) {
	for _, kv := range objectEnv {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	dir := t.TempDir()
	srv, err := startFakeS3(context.Background(), dir, 30*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.stop()
	set, err := writeObjects(dir, 3, 10)
	if err != nil {
		t.Fatal(err)
	}
	if err := set.upload(context.Background(), srv.url); err != nil {
		t.Fatal(err)
	}
	b, err := blob.OpenBucket(context.Background(), bucketURL(srv.url, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	it := b.List(&blob.ListOptions{Prefix: set.prefix + "/"})
	var keys []string
	for {
		o, err := it.Next(context.Background())
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, o.Key)
	}
	want := []string{"segment-logs/bench-source/1714521600000/part-000.ndjson.gz", "segment-logs/bench-source/1714521600000/part-001.ndjson.gz", "segment-logs/bench-source/1714521600000/part-002.ndjson.gz"}
	if strings.Join(keys, " ") != strings.Join(want, " ") {
		t.Fatalf("keys = %q, want %q", keys, want)
	}
	got, err := b.ReadAll(context.Background(), want[2])
	local, _ := os.ReadFile(filepath.Join(set.local, filepath.FromSlash(want[2])))
	if err != nil || string(got) != string(local) {
		t.Fatalf("object %s differs from its file (%v)", want[2], err)
	}
	if _, err := srv.cpu(); err != nil {
		t.Fatal(err)
	}
}

// TestWithLatency checks that the handler wrapper holds every request
// back before it is served, and serves none whose client gave up.
func TestWithLatency(t *testing.T) {
	served := 0
	h := withLatency(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { served++ }), time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequest("GET", "/", nil).WithContext(ctx)
	h.ServeHTTP(httptest.NewRecorder(), req)
	if served != 0 {
		t.Fatal("a request whose client gave up during the latency was served")
	}
	h = withLatency(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { served++ }), 0)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	if served != 1 {
		t.Fatalf("served %d requests, want 1", served)
	}
}
