package importer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/backfillhq/backfill/internal/blobtest"
)

// TestObjectCheckpoint imports two objects of a bucket, stops in the
// second, and resumes: the checkpoint records each object by its URL,
// size and ETag, and the position in it; every row is delivered once. An
// object replaced since is refused as a changed file is, before anything
// is sent.
func TestObjectCheckpoint(t *testing.T) {
	dir := t.TempDir()
	s := blobtest.S3(t, "logs", blobtest.S3Options{})
	for _, name := range []string{"a.ndjson", "b.ndjson"} {
		body, err := os.ReadFile(writeNDJSON(t, dir, name, 1000, nil))
		if err != nil {
			t.Fatal(err)
		}
		s.Put(t, "in/"+name, body)
	}
	srcs := []string{s.URL("in")}

	first := &fakeSink{send: failAfter(13)}
	if _, err := Run(context.Background(), checkpointConfig(dir, srcs, first)); err == nil {
		t.Fatal("first run: no error, want it stopped by the failing sink")
	}
	cp, err := LoadCheckpoint(filepath.Join(dir, "cp.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cp.Files) != 2 {
		t.Fatalf("checkpoint files %+v", cp.Files)
	}
	a, b := cp.Files[0], cp.Files[1]
	if a.Path != s.Name("in/a.ndjson") || a.Status != StatusDone || b.Path != s.Name("in/b.ndjson") || b.Status != StatusPartial ||
		b.Resume == nil || b.Resume.Row != 301 || b.Resume.File != s.Name("in/b.ndjson") {
		t.Fatalf("checkpoint files %+v / %+v, want a done and b partial at row 301", a, b)
	}
	if !strings.HasPrefix(a.Fingerprint, "object:etag ") || a.Size == 0 || !a.ModTime.IsZero() {
		t.Errorf("object entry %+v, want its size and ETag", a)
	}

	second := &fakeSink{send: accept}
	rep, err := Run(context.Background(), checkpointConfig(dir, srcs, second))
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Resumed || !rep.Complete || rep.RowsRead != 2000 || rep.Delivered != 2000 {
		t.Fatalf("resumed report %+v", rep)
	}
	seen := map[string]int{}
	for _, f := range []*fakeSink{first, second} {
		for _, m := range f.messages {
			seen[m["messageId"].(string)]++
		}
	}
	if len(seen) != 2000 {
		t.Fatalf("%d distinct messages delivered, want 2000", len(seen))
	}
	for id, n := range seen {
		if n != 1 && strings.HasPrefix(id, "b.ndjson") {
			t.Errorf("%s delivered %d times", id, n)
		}
	}

	// Another import stops in the first object, which is then replaced
	// (same size, other content): its resume is refused, naming it.
	cfg := checkpointConfig(dir, srcs, &fakeSink{send: failAfter(3)})
	cfg.CheckpointPath = filepath.Join(dir, "cp2.json")
	if _, err := Run(context.Background(), cfg); err == nil {
		t.Fatal("third run: no error, want it stopped")
	}
	body, err := os.ReadFile(filepath.Join(dir, "a.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	s.Put(t, "in/a.ndjson", []byte(strings.Replace(string(body), `"E"`, `"F"`, 1)))
	cfg.Sink = &fakeSink{send: accept}
	_, err = Run(context.Background(), cfg)
	var me *CheckpointMismatchError
	if !errors.As(err, &me) || len(me.Details) != 1 || !strings.HasPrefix(me.Details[0], s.Name("in/a.ndjson")+" changed: it was ") {
		t.Fatalf("resume after the object was replaced: %v, want a mismatch naming %s", err, s.Name("in/a.ndjson"))
	}

	// An object removed from the prefix: the sources differ.
	s.Delete(t, "in/a.ndjson")
	_, err = Run(context.Background(), cfg)
	if !errors.As(err, &me) || !slices.Contains(me.Details, "file 1 was "+s.Name("in/a.ndjson")+", is now "+s.Name("in/b.ndjson")) {
		t.Fatalf("resume after an object was removed: %v", err)
	}
}

// TestObjectArchiveDaysReported: the day folders of Segment's archive that
// --since skips are in the report, and counted, as folders, in its
// summary.
func TestObjectArchiveDaysReported(t *testing.T) {
	dir := t.TempDir()
	s := blobtest.S3(t, "logs", blobtest.S3Options{})
	body, err := os.ReadFile(writeNDJSON(t, dir, "x.ndjson", 3, nil))
	if err != nil {
		t.Fatal(err)
	}
	// 2024-02-01 and 2024-03-01, as Segment names its day folders.
	s.Put(t, "segment-logs/src/1706745600000/1.ndjson", body)
	s.Put(t, "segment-logs/src/1709251200000/1.ndjson", body)
	cfg := checkpointConfig(dir, []string{s.URL("segment-logs")}, &fakeSink{send: accept})
	cfg.Mapping.Since = time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := s.Name("segment-logs/src/1706745600000/")
	if len(rep.ArchiveDaysSkipped) != 1 || rep.ArchiveDaysSkipped[0] != want || rep.RowsRead != 3 {
		t.Fatalf("report: skipped %q, read %d; want %s skipped and 3 rows read", rep.ArchiveDaysSkipped, rep.RowsRead, want)
	}
	line := "  skipped 1 day folder of Segment's archive before --since, without listing it: the objects in it are neither read nor counted\n"
	if !strings.Contains(rep.Summary(), line) {
		t.Fatalf("summary:\n%s\nwant it to hold\n%s", rep.Summary(), line)
	}
	rep.ArchiveDaysSkipped = nil
	if strings.Contains(rep.Summary(), "day folder") {
		t.Fatalf("summary of an import that skipped no day folder:\n%s", rep.Summary())
	}
}
