package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"gocloud.dev/blob"
	_ "gocloud.dev/blob/s3blob" // uploads to the fake S3 server
)

// fakeS3Arg, as the first argument, makes the command a fake S3 server:
// backfill-bench -internal-fake-s3 URL_FILE LATENCY serves an in-memory
// store with the bucket objectBucket on 127.0.0.1, every request delayed
// by LATENCY, writes its URL and a newline to URL_FILE, and stops at
// SIGINT or SIGTERM. It runs as a process of its own so that its CPU time
// can be measured apart from the import's.
const fakeS3Arg = "-internal-fake-s3"

// objectBucket is the bucket of the object-storage section.
const objectBucket = "bench"

// objectLatency is the delay the fake S3 server adds to every request,
// about that of a store in the same region.
const objectLatency = 20 * time.Millisecond

// objectMaxSlowdown is the target of the object-storage section: an
// import from the bucket at most 15 % slower than of the same files read
// locally.
const objectMaxSlowdown = 0.15

// objectEnv is the environment that points the AWS SDK at nothing but the
// fake server: dummy keys, no instance metadata, no profile.
var objectEnv = []string{"AWS_ACCESS_KEY_ID=bench", "AWS_SECRET_ACCESS_KEY=bench", "AWS_EC2_METADATA_DISABLED=true",
	"AWS_CONFIG_FILE=" + os.DevNull, "AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull}

// fakeS3Main runs the fake S3 server (see fakeS3Arg) and returns the exit
// code.
func fakeS3Main(args []string) int {
	if len(args) != 2 {
		fmt.Fprintf(os.Stderr, "backfill-bench %s: want URL_FILE LATENCY\n", fakeS3Arg)
		return 64
	}
	latency, err := time.ParseDuration(args[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "backfill-bench %s: %v\n", fakeS3Arg, err)
		return 64
	}
	backend := s3mem.New()
	if err := backend.CreateBucket(objectBucket); err != nil {
		fmt.Fprintf(os.Stderr, "backfill-bench %s: %v\n", fakeS3Arg, err)
		return 1
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintf(os.Stderr, "backfill-bench %s: %v\n", fakeS3Arg, err)
		return 1
	}
	srv := &http.Server{Handler: withLatency(gofakes3.New(backend).Server(), latency)}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	if err := os.WriteFile(args[0], []byte("http://"+ln.Addr().String()+"\n"), 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "backfill-bench %s: %v\n", fakeS3Arg, err)
		return 1
	}
	select {
	case <-ctx.Done():
		srv.Close()
		return 0
	case err := <-served:
		fmt.Fprintf(os.Stderr, "backfill-bench %s: %v\n", fakeS3Arg, err)
		return 1
	}
}

// withLatency delays every request to h by d, as a store's round trip
// would, before h answers it.
func withLatency(h http.Handler, d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			h.ServeHTTP(w, r)
		case <-r.Context().Done():
		}
	})
}

// startFakeS3 starts the fake S3 server as a process (see fakeS3Arg) and
// waits until it listens. Its stop method stops it; its cpu method reads
// its CPU time.
func startFakeS3(ctx context.Context, dir string, latency time.Duration) (*receiver, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	urlFile := filepath.Join(dir, "bench-fake-s3.url")
	os.Remove(urlFile)
	r := &receiver{}
	r.cmd = exec.Command(exe, fakeS3Arg, urlFile, latency.String())
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return r.start(ctx, urlFile, "the fake S3 server")
}

// objectSet is the fixed set of objects of the section: count gzipped
// NDJSON files of Segment messages in day folders, as Segment's S3
// destination writes them, rows in all.
type objectSet struct {
	count, rows int
	local       string   // the folder that holds them on disk
	prefix      string   // their common key prefix in the bucket
	keys        []string // relative to local and to the bucket's root
	bytes       int64    // compressed, in all
}

// writeObjects writes the objects of the section under dir/objects,
// reusing them when they are there.
func writeObjects(dir string, count, rows int) (*objectSet, error) {
	s := &objectSet{count: count, rows: rows, prefix: "segment-logs/bench-source"}
	s.local = filepath.Join(dir, fmt.Sprintf("objects-%d-%d", count, rows))
	day0 := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	per := rows / count
	for i := range count {
		n := per
		if i == count-1 {
			n = rows - per*(count-1)
		}
		day := day0.Add(time.Duration(i/4) * 24 * time.Hour).UnixMilli()
		key := path.Join(s.prefix, fmt.Sprint(day), fmt.Sprintf("part-%03d.ndjson.gz", i))
		p := filepath.Join(s.local, filepath.FromSlash(key))
		if !exists(p) {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			if err := writeSegmentNDJSON(zw, n); err != nil {
				return nil, err
			}
			if err := zw.Close(); err != nil {
				return nil, err
			}
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return nil, err
			}
			if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
				return nil, err
			}
		}
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		s.bytes += st.Size()
		s.keys = append(s.keys, key)
	}
	return s, nil
}

// upload puts the objects into the bucket of the fake server at endpoint.
func (s *objectSet) upload(ctx context.Context, endpoint string) error {
	b, err := blob.OpenBucket(ctx, bucketURL(endpoint, ""))
	if err != nil {
		return err
	}
	defer b.Close()
	for _, key := range s.keys {
		data, err := os.ReadFile(filepath.Join(s.local, filepath.FromSlash(key)))
		if err != nil {
			return err
		}
		if err := b.WriteAll(ctx, key, data, nil); err != nil {
			return fmt.Errorf("upload %s: %w", key, err)
		}
	}
	return nil
}

// bucketURL is the URL of prefix in the bench's bucket on the fake server
// at endpoint.
func bucketURL(endpoint, prefix string) string {
	u := "s3://" + objectBucket
	if prefix != "" {
		u += "/" + prefix
	}
	return u + "?endpoint=" + endpoint + "&use_path_style=true&region=us-east-1"
}

// objectResult is one round of the section: the import of the local files
// and of the objects, and the fake server's CPU time during the latter.
type objectResult struct {
	local, remote importResult
	serverCPU     time.Duration
}

// objectSection imports the objects of the section with --stub, from the
// local folder and from the fake S3 server with objectLatency added to
// every request, runs times each, interleaved, and prints the rates, the
// median of the paired ratios against the target, and the CPU time of the
// import and of the server.
func objectSection(ctx context.Context, w io.Writer, rn *runner, bin, dir string, count, rows, runs int) error {
	for _, kv := range objectEnv {
		k, v, _ := strings.Cut(kv, "=")
		os.Setenv(k, v)
	}
	set, err := writeObjects(dir, count, rows)
	if err != nil {
		return err
	}
	srv, err := startFakeS3(ctx, dir, objectLatency)
	if err != nil {
		return err
	}
	defer srv.stop()
	if err := set.upload(ctx, srv.url); err != nil {
		return err
	}
	var results []objectResult
	for run := 1; run <= runs; run++ {
		var res objectResult
		local := importRun{bin: bin, dir: dir, source: filepath.Join(set.local, filepath.FromSlash(set.prefix)), rows: rows}
		if res.local, err = local.run(ctx, rn); err != nil {
			return fmt.Errorf("local files: %w", err)
		}
		remote := importRun{bin: bin, dir: dir, source: bucketURL(srv.url, set.prefix), rows: rows, env: objectEnv}
		before, err := srv.cpu()
		if err != nil {
			return err
		}
		if res.remote, err = remote.run(ctx, rn); err != nil {
			return fmt.Errorf("objects: %w", err)
		}
		after, err := srv.cpu()
		if err != nil {
			return err
		}
		res.serverCPU = after - before
		fmt.Fprintf(os.Stderr, "objects run %d/%d: local %5.2fs  bucket %5.2fs (server CPU %.2fs)\n",
			run, runs, res.local.wall.Seconds(), res.remote.wall.Seconds(), res.serverCPU.Seconds())
		results = append(results, res)
	}
	printObjects(w, set, results)
	return nil
}

// printObjects prints the object-storage section's table.
func printObjects(w io.Writer, set *objectSet, results []objectResult) {
	fmt.Fprintf(w, "From object storage: %d gzipped NDJSON objects of Segment messages in %d day folders, %s rows, %s in all (%s an object),\n",
		set.count, (set.count+3)/4, thousands(int64(set.rows)), megabytes(set.bytes), megabytes(set.bytes/int64(set.count)))
	fmt.Fprintf(w, "imported with --stub from a fake S3 server on 127.0.0.1 that adds %s to every request, against the same files on disk\n", objectLatency)
	fmt.Fprintln(w)
	var locals, remotes []importResult
	for _, r := range results {
		locals, remotes = append(locals, r.local), append(remotes, r.remote)
	}
	bl, br := best(locals), best(remotes)
	slower := 1 - pairedRatio(locals, remotes)
	t := &table{
		header: []string{"source", "events/s", "import CPU", "server CPU", "peak RSS", "target", "met"},
		right:  []bool{false, true, true, true, true, false, false},
	}
	t.add("local files", rate(locals[bl].eventsPerSecond(set.rows)), fmt.Sprintf("%.2f s", locals[bl].cpu.Seconds()), "", megabytes(peakRSS(locals)), "", "")
	t.add("bucket (s3://)", rate(remotes[br].eventsPerSecond(set.rows)), fmt.Sprintf("%.2f s", remotes[br].cpu.Seconds()),
		fmt.Sprintf("%.2f s", results[br].serverCPU.Seconds()), megabytes(peakRSS(remotes)),
		fmt.Sprintf("≤ %.0f %% slower than local", 100*objectMaxSlowdown), fmt.Sprintf("%s (%s)", yesNo(slower <= objectMaxSlowdown), slowerText(slower)))
	t.print(w)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "events/s and CPU: the best run of each; slower: the median over the rounds of the paired ratios; server CPU: the fake")
	fmt.Fprintln(w, "server's user + system time during that import, spent on the same two cores as the import's")
}

// errNoObjects is the error of an object-storage section without objects.
var errNoObjects = errors.New("-objects must be at least 1, or 0 for no object-storage section")
