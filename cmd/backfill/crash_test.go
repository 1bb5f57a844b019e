package main

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"
	"github.com/apache/arrow/go/v15/parquet"
	"github.com/apache/arrow/go/v15/parquet/compress"
	"github.com/apache/arrow/go/v15/parquet/pqarrow"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds the backfill command once for the tests that run it as a
// process.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "backfill-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "backfill")
		cmd := exec.Command("go", "build", "-o", binPath, ".")
		cmd.Dir = pkgDir
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v: %s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// crashInput writes 200,000 rows in CSV, NDJSON, gzip NDJSON and Parquet, with a few
// bad rows, and returns the sources, the mapping, the ids that must arrive
// and the rows that must be rejected.
func crashInput(t *testing.T, dir string) (sources []string, mapping string, want map[string]bool, bad int) {
	t.Helper()
	const perFile = 50_000
	want = map[string]bool{}
	row := func(file string, i int) (id string, isBad bool) {
		return fmt.Sprintf("%s-%d", file, i), i%9973 == 0
	}
	ts := func(i int) string {
		return time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second).Format(time.RFC3339)
	}
	var csvA bytes.Buffer
	for _, f := range []struct {
		name string
		buf  *bytes.Buffer
	}{{"a", &csvA}} {
		f.buf.WriteString("id,user,event,ts,n\n")
		for i := range perFile {
			id, isBad := row(f.name, i)
			stamp := ts(i)
			if isBad {
				stamp, bad = "not-a-time", bad+1
			} else {
				want[id] = true
			}
			fmt.Fprintf(f.buf, "%s,u%d,\"Event, %d\",%s,%d\n", id, i%1000, i%5, stamp, i)
		}
	}
	var nd, ndgz bytes.Buffer
	for _, f := range []struct {
		name string
		buf  *bytes.Buffer
	}{{"b", &nd}, {"c", &ndgz}} {
		for i := range perFile {
			id, isBad := row(f.name, i)
			if isBad {
				f.buf.WriteString("{broken json\n")
				bad++
				continue
			}
			want[id] = true
			fmt.Fprintf(f.buf, `{"id":%q,"user":"u%d","event":"Event, %d","ts":%q,"n":%d}`+"\n", id, i%1000, i%5, ts(i), i)
		}
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(ndgz.Bytes())
	zw.Close()
	files := map[string][]byte{"a.csv": csvA.Bytes(), "b.ndjson": nd.Bytes(), "c.ndjson.gz": gz.Bytes()}
	for _, name := range []string{"a.csv", "b.ndjson", "c.ndjson.gz", "d.parquet"} {
		p := filepath.Join(dir, "in", name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if name == "d.parquet" {
			bad += writeCrashParquet(t, p, "d", perFile, row, want)
		} else {
			writeFile(t, p, files[name])
		}
		sources = append(sources, p)
	}
	mapping = filepath.Join(dir, "mapping.yaml")
	writeFile(t, mapping, []byte("type: track\nmessageId: id\nuserId: user\nevent: event\ntimestamp: ts\ncolumns: {n: int}\n"))
	return sources, mapping, want, bad
}

// serveProcess runs "backfill serve" as a process and returns its URL, its
// output file and a function that stops it.
func serveProcess(t *testing.T, bin, dir string) (url, out string, stop func()) {
	t.Helper()
	out = filepath.Join(dir, "received.ndjson")
	urlFile := filepath.Join(dir, "url")
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--out", out, "--url-file", urlFile)
	cmd.Env = append(os.Environ(), "SEGMENT_WRITE_KEY=crash-key")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cmd.Process.Signal(os.Interrupt)
		if err := cmd.Wait(); err != nil {
			t.Errorf("serve: %v: %s", err, stderr.String())
		}
	}
	t.Cleanup(stop)
	for range 500 {
		if b, err := os.ReadFile(urlFile); err == nil && len(b) > 0 {
			return strings.TrimSpace(string(b)), out, stop
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("serve did not start: %s", stderr.String())
	return
}

// countLines counts the lines of a file as it grows.
func countLines(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return bytes.Count(b, []byte{'\n'})
}

// runKilled runs the import and, once the receiver holds at least target
// messages, sends it sig. It returns the exit code and whether the signal
// was sent before the import ended by itself.
func runKilled(t *testing.T, bin string, args []string, dir, received string, target int, sig syscall.Signal) (code int, killed bool) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SEGMENT_WRITE_KEY=crash-key")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return exitCodeOf(t, err, stderr.String()), false
		case <-tick.C:
			if countLines(received) >= target {
				cmd.Process.Signal(sig)
				err := <-done
				return exitCodeOf(t, err, stderr.String()), true
			}
		}
	}
}

func exitCodeOf(t *testing.T, err error, stderr string) int {
	t.Helper()
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return -int(ws.Signal())
		}
		return ee.ExitCode()
	}
	t.Fatalf("import: %v: %s", err, stderr)
	return 0
}

func TestCrashAndResume(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the built command 10+ times on 200,000 rows")
	}
	for _, tc := range []struct {
		name string
		sig  syscall.Signal
	}{
		{"SIGKILL", syscall.SIGKILL},
		{"SIGINT", syscall.SIGINT},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bin := binary(t)
			dir := t.TempDir()
			sources, mapping, want, bad := crashInput(t, dir)
			url, received, stopServe := serveProcess(t, bin, dir)
			const (
				batch       = 500
				concurrency = 2
				inFlight    = 8 * concurrency // the importer's default cap, in batches
			)
			args := append([]string{"import", "--endpoint", url, "--mapping", mapping, "--progress", "never",
				"--max-batch-messages", fmt.Sprint(batch), "--concurrency", fmt.Sprint(concurrency), "--rate", "100000",
				"--rejects", filepath.Join(dir, "rejects.ndjson"), "--report", filepath.Join(dir, "report.json")}, sources...)

			rng := rand.New(rand.NewPCG(42, uint64(tc.sig)))
			targets := make([]int, 10)
			for i := range targets {
				targets[i] = rng.IntN(len(want))
			}
			slices.Sort(targets)
			kills, runs := 0, 0
			for _, target := range targets {
				code, killed := runKilled(t, bin, args, dir, received, target, tc.sig)
				runs++
				if !killed {
					if code != exitRejects {
						t.Fatalf("run %d ended by itself with %d, want %d", runs, code, exitRejects)
					}
					break
				}
				kills++
				if tc.sig == syscall.SIGINT && code != exitInterrupted && code != exitRejects {
					t.Fatalf("run %d: SIGINT gave exit code %d, want %d", runs, code, exitInterrupted)
				}
			}
			// Resume until finished.
			for {
				code, _ := runKilled(t, bin, args, dir, received, 1<<62, tc.sig)
				runs++
				if code == exitRejects {
					break
				}
				if runs > 30 {
					t.Fatalf("not finished after %d runs (last exit %d)", runs, code)
				}
			}
			stopServe()

			first := map[string]map[string]any{}
			dups := 0
			eachJSONLine(t, received, func(m map[string]any) {
				id := m["messageId"].(string)
				if !want[id] {
					t.Fatalf("message %s arrived, but no such row should", id)
				}
				if prev, ok := first[id]; ok {
					dups++
					if !reflect.DeepEqual(prev, m) {
						t.Fatalf("duplicate of %s differs:\n%v\n%v", id, prev, m)
					}
					return
				}
				first[id] = m
			})
			if len(first) != len(want) {
				t.Fatalf("%d of %d rows arrived", len(first), len(want))
			}
			rejects := readRejectsLines(t, filepath.Join(dir, "rejects.ndjson"))
			if rejects != bad {
				t.Fatalf("the rejects file has %d lines, want each of the %d bad rows once", rejects, bad)
			}
			rep := readReport(t, filepath.Join(dir, "report.json"))
			if rep.RowsRead != int64(len(want)+bad) || rep.Delivered != int64(len(want)) || rep.Rejected != int64(bad) {
				t.Fatalf("final report %+v, want %d read, %d delivered, %d rejected", rep, len(want)+bad, len(want), bad)
			}
			t.Logf("%s: %d kills over %d runs, %d duplicates (%.0f a kill; the cap is %d rows in flight)",
				tc.name, kills, runs, dups, float64(dups)/float64(max(kills, 1)), inFlight*batch)
			if tc.sig == syscall.SIGINT && dups != 0 {
				t.Fatalf("%d duplicates after SIGINT, want none", dups)
			}
			if dups > kills*inFlight*batch {
				t.Fatalf("%d duplicates after %d kills: more than the %d rows that can be in flight a kill", dups, kills, inFlight*batch)
			}
		})
	}
}

// writeCrashParquet writes rows like the other crash inputs as Parquet, in
// several row groups; a NaN score makes a row bad. It returns the bad rows.
func writeCrashParquet(t *testing.T, path, name string, rows int, row func(string, int) (string, bool), want map[string]bool) (bad int) {
	t.Helper()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.BinaryTypes.String},
		{Name: "user", Type: arrow.BinaryTypes.String},
		{Name: "event", Type: arrow.BinaryTypes.String},
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}},
		{Name: "n", Type: arrow.PrimitiveTypes.Int64},
		{Name: "score", Type: arrow.PrimitiveTypes.Float64},
	}, nil)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	props := parquet.NewWriterProperties(parquet.WithMaxRowGroupLength(6000), parquet.WithCompression(compress.Codecs.Snappy))
	fw, err := pqarrow.NewFileWriter(schema, f, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	for start := 0; start < rows; start += 4096 {
		b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
		for i := start; i < min(start+4096, rows); i++ {
			id, isBad := row(name, i)
			score := float64(i) / 10
			if isBad {
				score, bad = math.NaN(), bad+1
			} else {
				want[id] = true
			}
			b.Field(0).(*array.StringBuilder).Append(id)
			b.Field(1).(*array.StringBuilder).Append(fmt.Sprintf("u%d", i%1000))
			b.Field(2).(*array.StringBuilder).Append(fmt.Sprintf("Event, %d", i%5))
			b.Field(3).(*array.TimestampBuilder).Append(arrow.Timestamp(base + int64(i)*1000))
			b.Field(4).(*array.Int64Builder).Append(int64(i))
			b.Field(5).(*array.Float64Builder).Append(score)
		}
		rec := b.NewRecord()
		if err := fw.WriteBuffered(rec); err != nil {
			t.Fatal(err)
		}
		rec.Release()
		b.Release()
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	return bad
}

func readRejectsLines(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(b, []byte{'\n'})
}
