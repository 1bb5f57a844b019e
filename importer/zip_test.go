package importer

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/backfillhq/backfill/sink"
	"github.com/backfillhq/backfill/sink/receiver"
	"github.com/backfillhq/backfill/sink/segment"

	"github.com/klauspost/compress/gzip"
)

// exportMember is one gzipped NDJSON member of a test export: n track
// messages whose messageIds are its name and line, with bad lines.
type exportMember struct {
	name string
	n    int
	bad  map[int]string
}

// writeExport writes a zip archive as Amplitude's Export API returns one
// (members stored, each a gzip file), members in the order given.
func writeExport(t *testing.T, path string, members ...exportMember) {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, m := range members {
		var b bytes.Buffer
		gz := gzip.NewWriter(&b)
		for i := 1; i <= m.n; i++ {
			if line, ok := m.bad[i]; ok {
				fmt.Fprintln(gz, line)
				continue
			}
			fmt.Fprintf(gz, `{"type":"track","messageId":"%s-%d","userId":"u-%d","event":"E","timestamp":"2024-03-01T12:00:00Z","properties":{"i":%d}}`+"\n", m.name, i, i, i)
		}
		if err := gz.Close(); err != nil {
			t.Fatal(err)
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: m.name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b.Bytes())
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// failingAfter passes the first n batches on to s, then fails every one,
// as a destination that goes away would.
type failingAfter struct {
	s  sink.Sink
	mu sync.Mutex
	n  int
}

func (f *failingAfter) Send(ctx context.Context, b *sink.Batch) error {
	f.mu.Lock()
	f.n--
	n := f.n
	f.mu.Unlock()
	if n < 0 {
		return errors.New("http 503: after 10 attempts")
	}
	return f.s.Send(ctx, b)
}

// TestZipExportResumesInsideAMember imports a zip archive into the
// receiver; the destination goes away in the middle of its second member.
// The checkpoint names the member and the row to resume at; the resumed
// run reads the rest of that member and the next, and the receiver gets
// every row once, the bad one in the rejects file under its member's name.
func TestZipExportResumesInsideAMember(t *testing.T) {
	dir := t.TempDir()
	archive := filepath.Join(dir, "export.zip")
	day1, day1b, day2 := "1234/1234_2024-01-01_0#0.json.gz", "1234/1234_2024-01-01_1#0.json.gz", "1234/1234_2024-01-02_0#0.json.gz"
	bad := map[int]string{50: `{"type":"track"`}
	members := []exportMember{{name: day2, n: 500}, {name: day1b, n: 1000, bad: bad}, {name: day1, n: 1000}}
	writeExport(t, archive, members...)

	var out bytes.Buffer
	rcv := receiver.New(receiver.Config{WriteKey: "wk_test", Out: &out})
	srv := httptest.NewServer(rcv)
	t.Cleanup(srv.Close)
	snk, _, err := segment.New(segment.Config{WriteKey: "wk_test", Endpoint: srv.URL, Rate: -1})
	if err != nil {
		t.Fatal(err)
	}

	cfg := checkpointConfig(dir, []string{archive}, &failingAfter{s: snk, n: 13})
	rep1, err := Run(context.Background(), cfg)
	if err == nil || rep1.Complete {
		t.Fatalf("first run: err %v, report %+v; want it stopped", err, rep1)
	}
	cp, err := LoadCheckpoint(cfg.CheckpointPath)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, f := range cp.Files {
		files = append(files, f.Path+" "+f.Status)
	}
	want := []string{archive + "!" + day1 + " done", archive + "!" + day1b + " partial", archive + "!" + day2 + " pending"}
	if strings.Join(files, "\n") != strings.Join(want, "\n") {
		t.Fatalf("checkpoint files:\n%s\nwant:\n%s", strings.Join(files, "\n"), strings.Join(want, "\n"))
	}
	if r := cp.Files[1].Resume; r == nil || r.File != archive+"!"+day1b || r.Line != 302 {
		t.Fatalf("checkpoint resumes at %+v, want line 302 of %s", r, day1b)
	}
	if cp.Totals.Delivered != 1300 || cp.Totals.Rejected != 1 {
		t.Fatalf("checkpoint totals %+v, want the 13 acknowledged batches and the reject among them", cp.Totals)
	}

	cfg.Sink = snk
	rep2, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !rep2.Resumed || !rep2.Complete || rep2.RowsRead != 2500 || rep2.Delivered != 2499 || rep2.Rejected != 1 {
		t.Fatalf("resumed report %+v, want the whole import counted", rep2)
	}
	got := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		i := strings.Index(line, `"messageId":"`)
		if i < 0 {
			t.Fatalf("receiver line without a messageId: %s", line)
		}
		id := line[i+len(`"messageId":"`):]
		got[id[:strings.IndexByte(id, '"')]]++
	}
	if len(got) != 2499 {
		t.Fatalf("the receiver got %d distinct messages, want 2499", len(got))
	}
	for _, m := range members {
		for i := 1; i <= m.n; i++ {
			id := fmt.Sprintf("%s-%d", m.name, i)
			want := 1
			if _, isBad := m.bad[i]; isBad {
				want = 0
			}
			if n := got[id]; n != want {
				t.Fatalf("%s delivered %d times, want %d", id, n, want)
			}
		}
	}
	rejects := readRejectsFile(t, cfg.RejectsPath)
	if len(rejects) != 1 || rejects[0].File != archive+"!"+day1b || rejects[0].Line != 50 {
		t.Fatalf("rejects %+v, want line 50 of %s once", rejects, day1b)
	}
}

// TestZipMemberChangedSinceTheCheckpointIsRefused downloads the export
// again with other content in a member already read: the resume is refused,
// naming the member. An archive whose members are the same resumes.
func TestZipMemberChangedSinceTheCheckpointIsRefused(t *testing.T) {
	dir := t.TempDir()
	archive := filepath.Join(dir, "export.zip")
	a, b := exportMember{name: "p/a.json.gz", n: 1000}, exportMember{name: "p/b.json.gz", n: 1000}
	writeExport(t, archive, a, b)
	cfg := checkpointConfig(dir, []string{archive}, &fakeSink{send: failAfter(13)})
	if _, err := Run(context.Background(), cfg); err == nil {
		t.Fatal("first run did not stop")
	}

	// The same members, written again: the archive's time is not compared.
	writeExport(t, archive, a, b)
	cfg.Sink = &fakeSink{send: failAfter(2)}
	if _, err := Run(context.Background(), cfg); err == nil || errors.Is(err, ErrCheckpointMismatch) {
		t.Fatalf("resume of the same archive: %v, want it resumed (and stopped by the sink)", err)
	}

	a.bad = map[int]string{7: `{"type":"track","messageId":"other","userId":"u","event":"E","timestamp":"2024-03-01T12:00:00Z"}`}
	writeExport(t, archive, a, b)
	cfg.Sink = &fakeSink{send: accept}
	_, err := Run(context.Background(), cfg)
	want := archive + "!p/a.json.gz changed: the zip archive's directory records another CRC-32 or size for it than the checkpoint saw"
	if !errors.Is(err, ErrCheckpointMismatch) || !strings.Contains(err.Error(), want) {
		t.Fatalf("resume of a changed archive: %v, want the mismatch %q", err, want)
	}
}
