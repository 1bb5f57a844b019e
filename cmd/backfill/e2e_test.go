package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backfillhq/backfill/importer"
)

// lockedBuffer is a bytes.Buffer safe for concurrent use.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startServe runs "backfill serve" in-process on a free port and returns its
// URL, the file it writes, and a function that stops it and waits. extra
// are more flags for serve.
func startServe(t *testing.T, key string, extra ...string) (url, out string, stop func()) {
	t.Helper()
	url, out, _, stop = startServeLog(t, key, extra...)
	return url, out, stop
}

// startServeLog is startServe that also returns what serve writes to
// stderr.
func startServeLog(t *testing.T, key string, extra ...string) (url, out string, stderr *lockedBuffer, stop func()) {
	t.Helper()
	stderr = new(lockedBuffer)
	dir := t.TempDir()
	out = filepath.Join(dir, "received.ndjson")
	urlFile := filepath.Join(dir, "url")
	if key != "" {
		t.Setenv("SEGMENT_WRITE_KEY", key)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var stdout lockedBuffer
	done := make(chan int)
	go func() {
		args := append([]string{"serve", "--addr", "127.0.0.1:0", "--out", out, "--url-file", urlFile}, extra...)
		done <- run(ctx, args, &stdout, stderr)
	}()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if b, err := os.ReadFile(urlFile); err == nil && len(b) > 0 {
			url = strings.TrimSpace(string(b))
			break
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited with %d: %s", code, stderr.String())
		case <-deadline.C:
			t.Fatal("serve did not start")
		case <-tick.C:
		}
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if code := <-done; code != 0 {
				t.Errorf("serve exited with %d: %s", code, stderr.String())
			}
		})
	}
	t.Cleanup(stop)
	return url, out, stderr, stop
}

// eachJSONLine decodes every line of an NDJSON file (numbers kept as
// json.Number) and hands it to fn, failing the test on a line that is not
// a JSON object.
func eachJSONLine(t *testing.T, path string, fn func(m map[string]any)) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("%s: line is not JSON: %v: %s", path, err, sc.Text())
		}
		fn(m)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
}

// received reads the receiver's NDJSON output, keyed by messageId, and fails
// on any messageId that arrived twice.
func received(t *testing.T, path string) map[string]map[string]any {
	t.Helper()
	got := map[string]map[string]any{}
	eachJSONLine(t, path, func(m map[string]any) {
		id, _ := m["messageId"].(string)
		if _, dup := got[id]; dup {
			t.Fatalf("messageId %q arrived twice", id)
		}
		got[id] = m
	})
	return got
}

func readReport(t *testing.T, path string) importer.Report {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rep importer.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if err := rep.Check(); err != nil {
		t.Fatal(err)
	}
	return rep
}

const e2eRows = 50_000

var e2eBase = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

// e2eTime is the instant of generated row i, with milliseconds.
func e2eTime(i int) time.Time {
	return e2eBase.Add(time.Duration(i)*time.Second + time.Duration(i%1000)*time.Millisecond)
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestServeDiscard imports into "serve --discard": the import completes,
// a wrong key is still refused, and nothing is written.
func TestServeDiscard(t *testing.T) {
	url, out, stop := startServe(t, "discard-key", "--discard")
	dir := t.TempDir()
	var nd bytes.Buffer
	for i := range 1000 {
		fmt.Fprintf(&nd, `{"type":"track","userId":"u-%d","event":"E","timestamp":"2024-01-02T03:04:05Z"}`+"\n", i)
	}
	src := filepath.Join(dir, "events.ndjson")
	writeFile(t, src, nd.Bytes())
	report := filepath.Join(dir, "report.json")
	var stdout, stderr lockedBuffer
	args := []string{"import", "--endpoint", url, "--progress", "never", "--no-checkpoint", "--report", report, src}
	if code := run(context.Background(), args, &stdout, &stderr); code != 0 {
		t.Fatalf("import exited with %d: %s", code, stderr.String())
	}
	if rep := readReport(t, report); rep.Delivered != 1000 || !rep.Complete {
		t.Errorf("report %+v, want 1000 delivered", rep)
	}
	t.Setenv("SEGMENT_WRITE_KEY", "another-key")
	args = []string{"import", "--endpoint", url, "--progress", "never", "--no-checkpoint", src}
	if code := run(context.Background(), args, &stdout, &stderr); code == 0 {
		t.Error("an import with a wrong key succeeded")
	}
	stop()
	if _, err := os.Stat(out); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("--discard wrote %s: %v", out, err)
	}
}

func TestEndToEndCSVAndNDJSON(t *testing.T) {
	url, out, stop := startServe(t, "e2e-key")
	dir := t.TempDir()

	var csv bytes.Buffer
	csv.WriteString("id,user,event,ts,amount,plan,qty\n")
	for i := range e2eRows {
		// Timestamps with an offset: the instant must survive, in UTC.
		ts := e2eTime(i).In(time.FixedZone("", -5*3600)).Format("2006-01-02T15:04:05.000-07:00")
		fmt.Fprintf(&csv, "c-%d,user-%d,\"Order, %d\",%s,%d.25,\"p \"\"%d\"\"\",%d\n", i, i%977, i%7, ts, i%500, i%3, i)
	}
	writeFile(t, filepath.Join(dir, "events.csv"), csv.Bytes())
	writeFile(t, filepath.Join(dir, "events.yaml"), []byte(`type: track
messageId: id
userId: user
event: event
timestamp: {column: ts, format: rfc3339}
columns: {amount: float, qty: int}
properties: {rename: {amount: revenue}}
`))

	var nd bytes.Buffer
	for i := range e2eRows {
		fmt.Fprintf(&nd, `{"type":"track","messageId":"n-%d","userId":"user-%d","event":"Viewed %d","timestamp":%q,"sentAt":"2020-01-01T00:00:00Z","properties":{"i":%d,"big":9007199254740993,"nested":{"ok":true}}}`+"\n",
			i, i%977, i%7, e2eTime(i).Format(time.RFC3339Nano), i)
	}
	writeFile(t, filepath.Join(dir, "archive.ndjson"), nd.Bytes())

	for _, tc := range []struct {
		name string
		args []string
	}{
		{"csv", []string{"--mapping", filepath.Join(dir, "events.yaml"), filepath.Join(dir, "events.csv")}},
		{"ndjson", []string{filepath.Join(dir, "archive.ndjson")}},
	} {
		report := filepath.Join(dir, tc.name+".report.json")
		args := append([]string{"import", "--endpoint", url, "--progress", "never", "--report", report,
			"--rejects", filepath.Join(dir, tc.name+".rejects.ndjson")}, tc.args...)
		var stdout, stderr lockedBuffer
		if code := run(context.Background(), args, &stdout, &stderr); code != 0 {
			t.Fatalf("%s: import exited with %d: %s", tc.name, code, stderr.String())
		}
		rep := readReport(t, report)
		if rep.RowsRead != e2eRows || rep.Delivered != e2eRows || rep.Rejected != 0 || !rep.Complete {
			t.Fatalf("%s: report %+v, want %d rows read and delivered", tc.name, rep, e2eRows)
		}
	}
	stop()

	got := received(t, out)
	if len(got) != 2*e2eRows {
		t.Fatalf("received %d messages, want %d", len(got), 2*e2eRows)
	}
	for i := range e2eRows {
		want := e2eTime(i).Format("2006-01-02T15:04:05.000Z")
		c := got[fmt.Sprintf("c-%d", i)]
		if c == nil {
			t.Fatalf("csv row %d did not arrive", i)
		}
		props, _ := c["properties"].(map[string]any)
		if c["userId"] != fmt.Sprintf("user-%d", i%977) || c["event"] != fmt.Sprintf("Order, %d", i%7) ||
			c["timestamp"] != want || c["type"] != "track" ||
			props["revenue"] != json.Number(fmt.Sprintf("%d.25", i%500)) ||
			props["qty"] != json.Number(fmt.Sprint(i)) ||
			props["plan"] != fmt.Sprintf(`p "%d"`, i%3) {
			t.Fatalf("csv row %d arrived as %v", i, c)
		}
		if _, ok := props["amount"]; ok {
			t.Fatalf("csv row %d kept the renamed column: %v", i, props)
		}
		n := got[fmt.Sprintf("n-%d", i)]
		if n == nil {
			t.Fatalf("ndjson row %d did not arrive", i)
		}
		np, _ := n["properties"].(map[string]any)
		if n["userId"] != fmt.Sprintf("user-%d", i%977) || n["timestamp"] != want ||
			np["i"] != json.Number(fmt.Sprint(i)) || np["big"] != json.Number("9007199254740993") {
			t.Fatalf("ndjson row %d arrived as %v", i, n)
		}
		if _, ok := n["sentAt"]; ok && n["sentAt"] == "2020-01-01T00:00:00Z" {
			t.Fatalf("ndjson row %d kept its old sentAt", i)
		}
		ctx, _ := n["context"].(map[string]any)
		lib, _ := ctx["library"].(map[string]any)
		if lib["name"] != "backfill" {
			t.Fatalf("ndjson row %d: context.library = %v", i, ctx["library"])
		}
	}
}
