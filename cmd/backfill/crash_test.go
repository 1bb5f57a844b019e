package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
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

// builds holds the command built once per set of build tags for the tests
// that run it as a process.
var builds struct {
	sync.Mutex
	bins map[string]string
}

// binary builds the backfill command once for the tests that run it as a
// process.
func binary(t *testing.T) string { return buildBinary(t, "") }

// crashBinary builds the command with the tag crashpoints: with
// BACKFILL_CRASH_AT set, it stops at a crash point (see crashpoints.go).
func crashBinary(t *testing.T) string { return buildBinary(t, "crashpoints") }

func buildBinary(t *testing.T, tags string) string {
	t.Helper()
	builds.Lock()
	defer builds.Unlock()
	if bin, ok := builds.bins[tags]; ok {
		return bin
	}
	dir, err := os.MkdirTemp(testDir, "bin-")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "backfill")
	cmd := goBuild("-tags", tags, "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build -tags %q: %v: %s", tags, err, out)
	}
	if builds.bins == nil {
		builds.bins = map[string]string{}
	}
	builds.bins[tags] = bin
	return bin
}

// goBuild returns the go build command of the tests' binaries, in the
// package's folder: built as releases and the image build them (no cgo,
// -trimpath), so that the packages compiled for one serve the others
// from the build cache; and without the checkout's revision, so that the
// binary reports the version the tests' own build does, (devel).
func goBuild(args ...string) *exec.Cmd {
	cmd := exec.Command("go", append([]string{"build", "-buildvcs=false", "-trimpath"}, args...)...)
	cmd.Dir = pkgDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	return cmd
}

// crashRows is what crashInput wrote: the ids of the rows that must arrive
// and of those that must be rejected.
type crashRows struct {
	want map[string]bool
	bad  map[string]bool
}

// crashInput writes perFile rows to each of a CSV, an NDJSON, a gzip NDJSON
// and a Parquet file, a few of them bad, and in the NDJSON file a run of
// long bad lines that is more than the rejects file's buffer holds. It
// returns the sources, the mapping and the rows.
func crashInput(t *testing.T, dir string, perFile int) (sources []string, mapping string, rows crashRows) {
	t.Helper()
	rows = crashRows{want: map[string]bool{}, bad: map[string]bool{}}
	row := func(file string, i int) (id string, isBad bool) {
		id = fmt.Sprintf("%s-%d", file, i)
		isBad = i%97 == 0 || (file == "b" && i >= perFile/2 && i < perFile/2+100)
		if isBad {
			rows.bad[id] = true
		} else {
			rows.want[id] = true
		}
		return id, isBad
	}
	ts := func(i int) string {
		return time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second).Format(time.RFC3339)
	}
	var csvA bytes.Buffer
	csvA.WriteString("id,user,event,ts,n\n")
	for i := range perFile {
		id, isBad := row("a", i)
		stamp := ts(i)
		if isBad {
			stamp = "not-a-time"
		}
		fmt.Fprintf(&csvA, "%s,u%d,\"Event, %d\",%s,%d\n", id, i%1000, i%5, stamp, i)
	}
	var nd, ndgz bytes.Buffer
	for _, f := range []struct {
		name string
		buf  *bytes.Buffer
	}{{"b", &nd}, {"c", &ndgz}} {
		for i := range perFile {
			id, isBad := row(f.name, i)
			if isBad {
				fmt.Fprintf(f.buf, "{broken json %s %s\n", id, strings.Repeat("x", 3001))
				continue
			}
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
			writeCrashParquet(t, p, "d", perFile, row)
		} else {
			writeFile(t, p, files[name])
		}
		sources = append(sources, p)
	}
	mapping = filepath.Join(dir, "mapping.yaml")
	writeFile(t, mapping, []byte("type: track\nmessageId: id\nuserId: user\nevent: event\ntimestamp: ts\ncolumns: {n: int}\n"))
	return sources, mapping, rows
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

// runProcess runs the command with args and extra environment, and returns
// its exit code (the negated signal if a signal ended it) and its stderr.
func runProcess(t *testing.T, bin string, args []string, dir string, env ...string) (code int, stderr string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "SEGMENT_WRITE_KEY=crash-key"), env...)
	var buf bytes.Buffer
	cmd.Stderr = &buf
	err := cmd.Run()
	return exitCodeOf(t, err, buf.String()), buf.String()
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

// earlierRejects is what the rejects file holds before the import: a
// reject of an earlier import, then a line a crash of it tore; the import
// moves it aside, whole.
const (
	earlierReject = `{"file":"earlier.csv","row":1,"reason":"bad_timestamp","error":"earlier import"}` + "\n"
	earlierTorn   = `{"file":"earlier.csv","row":2,"rea`
)

// TestCrashPoints stops an import at each crash point (a kill, a graceful
// interrupt, or a second interrupt that quits at once), resumes it, and
// checks that every good row arrived, every bad row is in the rejects file
// exactly once, no line of it is torn, and the report adds up.
func TestCrashPoints(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the built command about 40 times")
	}
	bin := crashBinary(t)
	inputs := t.TempDir()
	sources, mapping, rows := crashInput(t, inputs, 2000)
	const (
		batch       = 50
		concurrency = 2
		inFlight    = 8 * concurrency // the importer's default cap, in batches
	)
	for _, tc := range []struct {
		point  string
		nth    int
		action string
	}{
		{"before-first-checkpoint", 1, "kill"},
		{"checkpoint-written", 1, "kill"}, // the first checkpoint
		{"checkpoint-written", 5, "kill"},
		{"checkpoint-renamed", 1, "kill"},
		{"checkpoint-renamed", 5, "kill"},
		{"rejects-flushed", 3, "kill"},
		{"rejects-torn-line", 1, "kill"},
		{"batch-acked", 4, "kill"},
		{"run-ended", 1, "kill"},
		{"before-first-checkpoint", 1, "interrupt"},
		{"batch-acked", 4, "interrupt"},
		{"checkpoint-renamed", 3, "interrupt"},
		{"batch-acked", 4, "interrupt-twice"},
	} {
		t.Run(fmt.Sprintf("%s-%d-%s", tc.point, tc.nth, tc.action), func(t *testing.T) {
			dir := t.TempDir()
			url, received, stopServe := serveProcess(t, bin, dir)
			rejectsPath := filepath.Join(dir, "rejects.ndjson")
			writeFile(t, rejectsPath, []byte(earlierReject+earlierTorn))
			reportPath := filepath.Join(dir, "report.json")
			os.WriteFile(reportPath, []byte("{}"), 0o644) // a stale report, to be replaced
			args := append([]string{"import", "--endpoint", url, "--mapping", mapping, "--progress", "never",
				"--max-batch-messages", fmt.Sprint(batch), "--concurrency", fmt.Sprint(concurrency), "--rate", "-1",
				"--checkpoint-interval", "0", "--checkpoint", filepath.Join(dir, "checkpoint.json"),
				"--rejects", rejectsPath, "--report", reportPath}, sources...)

			code, stderr := runProcess(t, bin, args, dir, fmt.Sprintf("BACKFILL_CRASH_AT=%s:%d:%s", tc.point, tc.nth, tc.action))
			want := exitInterrupted
			if tc.action == "kill" {
				want = -int(syscall.SIGKILL)
			}
			if code != want {
				t.Fatalf("stopped at %s: exit code %d, want %d (was the point reached?): %s", tc.point, code, want, stderr)
			}
			if code, stderr := runProcess(t, bin, args, dir); code != exitRejects {
				t.Fatalf("resumed: exit code %d, want %d: %s", code, exitRejects, stderr)
			}
			stopServe()

			dups := checkArrivals(t, received, rows.want)
			if tc.action == "interrupt" && dups != 0 {
				t.Fatalf("%d duplicates after a graceful stop, want none", dups)
			}
			if dups > inFlight*batch {
				t.Fatalf("%d duplicates: more than the %d rows that can be in flight", dups, inFlight*batch)
			}
			checkRejectsOnce(t, rejectsPath, rows.bad, earlierReject+earlierTorn)
			rep := readReport(t, reportPath)
			if rep.RowsRead != int64(len(rows.want)+len(rows.bad)) || rep.Delivered != int64(len(rows.want)) || rep.Rejected != int64(len(rows.bad)) {
				t.Fatalf("final report %+v, want %d read, %d delivered, %d rejected", rep, len(rows.want)+len(rows.bad), len(rows.want), len(rows.bad))
			}
		})
	}
}

var rowID = regexp.MustCompile(`\b[abcd]-[0-9]+\b`)

// checkRejectsOnce checks that the rejects file at path holds one line for
// each bad row, each whole, and that what an earlier import had written to
// it, earlier, was moved aside, unchanged, to NAME.1.ndjson.
func checkRejectsOnce(t *testing.T, path string, bad map[string]bool, earlier string) {
	t.Helper()
	aside := strings.TrimSuffix(path, ".ndjson") + ".1.ndjson"
	if b, err := os.ReadFile(aside); err != nil || string(b) != earlier {
		t.Fatalf("%s holds %q (%v), want what the earlier import wrote, %q", aside, b, err, earlier)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte(earlierReject)) {
		t.Fatalf("the rejects file holds a reject of the earlier import: %.200s", b)
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		t.Fatal("the rejects file ends with a torn line")
	}
	seen := map[string]int{}
	for i, line := range bytes.Split(bytes.TrimSuffix(b, []byte{'\n'}), []byte{'\n'}) {
		var rej struct{ Raw string }
		if err := json.Unmarshal(line, &rej); err != nil {
			t.Fatalf("rejects line %d is not JSON (torn?): %v: %.200s", i+1, err, line)
		}
		id := rowID.FindString(rej.Raw)
		if !bad[id] {
			t.Fatalf("rejects line %d is of row %q, which is not bad: %.200s", i+1, id, line)
		}
		seen[id]++
	}
	for id := range bad {
		if seen[id] != 1 {
			t.Fatalf("row %s is in the rejects file %d times, want once", id, seen[id])
		}
	}
}

// writeCrashParquet writes rows like the other crash inputs as Parquet, in
// several row groups; a NaN score makes a row bad.
func writeCrashParquet(t *testing.T, path, name string, rows int, row func(string, int) (string, bool)) {
	t.Helper()
	writeParquetGroups(t, path, name, rows, 6000, row)
}

// writeParquetGroups writes the rows of crashInput's Parquet file in row
// groups of groupRows rows.
func writeParquetGroups(t *testing.T, path, name string, rows, groupRows int, row func(string, int) (string, bool)) {
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
	props := parquet.NewWriterProperties(parquet.WithMaxRowGroupLength(int64(groupRows)), parquet.WithCompression(compress.Codecs.Snappy))
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
				score = math.NaN()
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
}

// checkArrivals reads the messages the receiver wrote to received and
// checks that every row of want arrived, that nothing else did, and that
// each duplicate is identical to the first copy. It returns the number of
// duplicates.
func checkArrivals(t *testing.T, received string, want map[string]bool) (dups int) {
	t.Helper()
	first := map[string]map[string]any{}
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
	return dups
}
