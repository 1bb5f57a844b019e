package importer

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/parquet"
	"github.com/apache/arrow/go/v15/parquet/pqarrow"

	"github.com/backfillhq/backfill/mappings"
	"github.com/backfillhq/backfill/readers"
)

// prefixRows is how many rows the files of the content tests hold: 5,000
// lines of about 150 bytes, so that a row in the middle lies far from
// both 64 KiB ends the fingerprint reads.
const prefixRows = 5000

// eventLines returns the NDJSON lines of writeNDJSON, and the offset of
// each line.
func eventLines(name string) (data []byte, offsets []int) {
	var b bytes.Buffer
	for i := 1; i <= prefixRows; i++ {
		offsets = append(offsets, b.Len())
		fmt.Fprintf(&b, `{"type":"track","messageId":"%s-%d","userId":"u-%d","event":"E","timestamp":"2024-03-01T12:00:00Z","properties":{"i":%d}}`+"\n", name, i, i, i)
	}
	return b.Bytes(), offsets
}

// storeEvents writes data to path, gzip-compressed without compression
// when gz is set, so that a changed byte keeps the file's size.
func storeEvents(t *testing.T, path string, data []byte, gz bool) {
	t.Helper()
	if gz {
		var b bytes.Buffer
		zw, err := gzip.NewWriterLevel(&b, gzip.NoCompression)
		if err != nil {
			t.Fatal(err)
		}
		zw.Write(data)
		zw.Close()
		data = b.Bytes()
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// rewriteKeepingTime stores data at path as storeEvents does and sets the
// file's modification time back to what it was, as cp -p or rsync -t do.
func rewriteKeepingTime(t *testing.T, path string, data []byte, gz bool) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	storeEvents(t, path, data, gz)
	if err := os.Chtimes(path, st.ModTime(), st.ModTime()); err != nil {
		t.Fatal(err)
	}
}

// TestResumeRecognisesAChangedFileByContent stops an import in the middle
// of a file, changes the file, and resumes: a row corrected before the
// resume position, with the size, both ends and the modification time
// kept, is refused before anything is sent, the checkpoint left as it was;
// one corrected after it is sent as corrected; a file that grew (a row
// appended, as by a writer that was not done) resumes and sends the new
// row. Plain and gzip, whose positions count decompressed bytes.
func TestResumeRecognisesAChangedFileByContent(t *testing.T) {
	for _, gz := range []bool{false, true} {
		name := "a.ndjson"
		if gz {
			name += ".gz"
		}
		for _, tc := range []struct {
			name string
			row  int  // the row corrected, 1-based; 0: a row appended
			sent bool // whether the row lies before the resume position
		}{
			{"row corrected before the resume position", 1000, true},
			{"row corrected after the resume position", 4000, false},
			{"row appended", 0, false},
		} {
			t.Run(fmt.Sprintf("%s/%s", name, tc.name), func(t *testing.T) {
				dir := t.TempDir()
				src := filepath.Join(dir, name)
				data, offsets := eventLines(name)
				storeEvents(t, src, data, gz)
				cfg := checkpointConfig(dir, []string{src}, &fakeSink{send: failAfter(25)})
				if _, err := Run(context.Background(), cfg); err == nil {
					t.Fatal("the first run should stop")
				}
				cp, err := LoadCheckpoint(cfg.CheckpointPath)
				if err != nil {
					t.Fatal(err)
				}
				f := cp.Files[0]
				if f.Status != StatusPartial || f.ContentCRC == "" || f.Hashed > f.Resume.Offset || f.Resume.Offset-f.Hashed > prefixStep+int64(len(data)/prefixRows+10) {
					t.Fatalf("checkpoint after the first run: %+v, resume %+v; want a partial file hashed up to at most %d bytes before its resume position", f, *f.Resume, prefixStep)
				}
				before, _ := os.ReadFile(cfg.CheckpointPath)
				fpBefore, _, _ := readers.Fingerprint(src)

				changed := bytes.Clone(data)
				if tc.row > 0 {
					at := offsets[tc.row-1] + bytes.Index(data[offsets[tc.row-1]:], []byte(`"userId":"u-`)) + len(`"userId":"`)
					if tc.sent != (int64(at) < f.Hashed) || (!tc.sent && int64(at) < f.Resume.Offset) {
						t.Fatalf("row %d at offset %d: the checkpoint hashed %d bytes, resumes at %d", tc.row, at, f.Hashed, f.Resume.Offset)
					}
					if at < 64<<10 || at > len(data)-64<<10 {
						t.Fatalf("row %d at offset %d lies within 64 KiB of an end", tc.row, at)
					}
					changed[at] = 'v'
				} else {
					changed = append(changed, `{"type":"track","messageId":"late","userId":"late","event":"E","timestamp":"2024-03-01T12:00:00Z"}`+"\n"...)
				}
				rewriteKeepingTime(t, src, changed, gz)
				if fp, _, _ := readers.Fingerprint(src); tc.row > 0 && !gz && fp != fpBefore {
					t.Fatal("the change reached the ends the fingerprint reads")
				}

				fs := &fakeSink{send: accept}
				cfg.Sink = fs
				rep, err := Run(context.Background(), cfg)
				var want []string
				switch {
				case tc.sent:
					want = []string{fmt.Sprintf("%s changed: its first %d bytes differ from what the checkpoint saw", src, f.Hashed)}
				}
				if want == nil {
					if err != nil || !rep.Resumed || !rep.Complete {
						t.Fatalf("resume after a change past the resume position: err %v, report %+v", err, rep)
					}
					id, wantUser := fmt.Sprintf("%s-%d", name, tc.row), fmt.Sprintf("v-%d", tc.row)
					if tc.row == 0 {
						id, wantUser = "late", "late"
					}
					var got string
					for _, m := range fs.messages {
						if m["messageId"] == id {
							got, _ = m["userId"].(string)
						}
					}
					if got != wantUser {
						t.Fatalf("row %d was sent with userId %q, want the corrected %q", tc.row, got, wantUser)
					}
					return
				}
				var mismatch *CheckpointMismatchError
				if !errors.As(err, &mismatch) || !errors.Is(err, ErrCheckpointMismatch) {
					t.Fatalf("resume: err %v, want a *CheckpointMismatchError", err)
				}
				if !slices.Equal(mismatch.Details, want) || !slices.Equal(mismatch.Changed, []string{"sources"}) {
					t.Fatalf("mismatch %q (changed %q), want %q", mismatch.Details, mismatch.Changed, want)
				}
				if fs.batches != 0 {
					t.Fatalf("%d batches sent despite the change", fs.batches)
				}
				if after, _ := os.ReadFile(cfg.CheckpointPath); !bytes.Equal(before, after) {
					t.Fatal("the refused resume changed the checkpoint")
				}
			})
		}
	}
}

// TestCheckpointHashesAFinishedFileWhole checks that a file the import
// finished is recorded with the digest of all its (decompressed) bytes, so
// that a re-run refuses it once any byte of it changed, and that a re-run
// of the unchanged files finds the import complete.
func TestCheckpointHashesAFinishedFileWhole(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.ndjson.gz"), filepath.Join(dir, "b.ndjson")
	dataA, _ := eventLines("a.ndjson.gz")
	dataB, _ := eventLines("b.ndjson")
	storeEvents(t, a, dataA, true)
	storeEvents(t, b, dataB, false)
	cfg := checkpointConfig(dir, []string{a, b}, &fakeSink{send: accept})
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	cp, err := LoadCheckpoint(cfg.CheckpointPath)
	if err != nil {
		t.Fatal(err)
	}
	for i, data := range [][]byte{dataA, dataB} {
		if f := cp.Files[i]; f.Status != StatusDone || f.Hashed != int64(len(data)) || f.ContentCRC != contentCRC(data) {
			t.Fatalf("file %d: %+v, want done with the digest of its %d bytes, %s", i+1, f, len(data), contentCRC(data))
		}
	}
	cfg.Sink = &fakeSink{send: accept}
	if rep, err := Run(context.Background(), cfg); err != nil || !rep.AlreadyComplete {
		t.Fatalf("re-run: err %v, report %+v; want the import complete", err, rep)
	}
	changed := bytes.Clone(dataB)
	changed[len(changed)-3] = '8' // the last row's properties.i
	rewriteKeepingTime(t, b, changed, false)
	_, err = Run(context.Background(), cfg)
	var mismatch *CheckpointMismatchError
	want := []string{fmt.Sprintf("%s changed: its first %d bytes differ from what the checkpoint saw", b, len(dataB))}
	if !errors.As(err, &mismatch) || !slices.Equal(mismatch.Details, want) {
		t.Fatalf("re-run of a changed finished file: %v, want %q", err, want)
	}
}

// TestResumeAcceptsACheckpointWithoutContentHashes resumes from a
// checkpoint of an older version, whose files carry no digest: it is
// recognised by size, fingerprint and modification time as before, the
// import completes, and the checkpoint it writes holds digests.
func TestResumeAcceptsACheckpointWithoutContentHashes(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "a.ndjson")
	data, _ := eventLines("a.ndjson")
	storeEvents(t, src, data, false)
	first := &fakeSink{send: failAfter(25)}
	cfg := checkpointConfig(dir, []string{src}, first)
	if _, err := Run(context.Background(), cfg); err == nil {
		t.Fatal("the first run should stop")
	}
	var cp map[string]any
	b, _ := os.ReadFile(cfg.CheckpointPath)
	if err := json.Unmarshal(b, &cp); err != nil {
		t.Fatal(err)
	}
	for _, f := range cp["files"].([]any) {
		delete(f.(map[string]any), "hashed")
		delete(f.(map[string]any), "content_crc")
	}
	writeEditedCheckpoint(t, cfg.CheckpointPath, cp)

	second := &fakeSink{send: failAfter(10)}
	cfg.Sink = second
	if _, err := Run(context.Background(), cfg); err == nil {
		t.Fatal("the second run should stop")
	}
	got, err := LoadCheckpoint(cfg.CheckpointPath)
	if err != nil {
		t.Fatal(err)
	}
	f := got.Files[0]
	if f.Status != StatusPartial || f.Hashed <= 0 || f.Hashed > f.Resume.Offset {
		t.Fatalf("checkpoint of the resumed run: %+v; want a digest of the prefix", f)
	}
	if want := contentCRC(data[:f.Hashed]); f.ContentCRC != want {
		t.Fatalf("digest %s of %d bytes, want %s", f.ContentCRC, f.Hashed, want)
	}
	cfg.Sink = &fakeSink{send: accept}
	if rep, err := Run(context.Background(), cfg); err != nil || rep.Delivered != prefixRows {
		t.Fatalf("last run: err %v, report %+v", err, rep)
	}

	// An older checkpoint still refuses a file whose modification time
	// changed, as it did.
	dir2 := t.TempDir()
	src2 := filepath.Join(dir2, "a.ndjson")
	storeEvents(t, src2, data, false)
	cfg2 := checkpointConfig(dir2, []string{src2}, &fakeSink{send: failAfter(25)})
	if _, err := Run(context.Background(), cfg2); err == nil {
		t.Fatal("the first run should stop")
	}
	b, _ = os.ReadFile(cfg2.CheckpointPath)
	json.Unmarshal(b, &cp)
	for _, f := range cp["files"].([]any) {
		delete(f.(map[string]any), "hashed")
		delete(f.(map[string]any), "content_crc")
	}
	writeEditedCheckpoint(t, cfg2.CheckpointPath, cp)
	later := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	os.Chtimes(src2, later, later)
	cfg2.Sink = &fakeSink{send: accept}
	_, err = Run(context.Background(), cfg2)
	var mismatch *CheckpointMismatchError
	if !errors.As(err, &mismatch) || len(mismatch.Details) != 1 || !bytes.HasPrefix([]byte(mismatch.Details[0]), []byte(src2+" changed: modified 2030-01-02T03:04:05Z")) {
		t.Fatalf("resume of an older checkpoint after a touch: %v", err)
	}
}

// writeNotedParquet writes n rows of id, user and ts in row groups of 100,
// with note in the file's metadata, which only the footer holds.
func writeNotedParquet(t *testing.T, path string, n int, note string) {
	t.Helper()
	md := arrow.NewMetadata([]string{"note"}, []string{note})
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.BinaryTypes.String},
		{Name: "user", Type: arrow.BinaryTypes.String},
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}},
	}, &md)
	writeParquet(t, path, schema, parquet.NewWriterProperties(parquet.WithMaxRowGroupLength(100)), pqarrow.DefaultWriterProps(), func(b *array.RecordBuilder) {
		base := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
		for i := range n {
			b.Field(0).(*array.StringBuilder).Append(fmt.Sprintf("id-%d", i))
			b.Field(1).(*array.StringBuilder).Append(fmt.Sprintf("u%d", i%7))
			b.Field(2).(*array.TimestampBuilder).Append(arrow.Timestamp(base + int64(i)*1000))
		}
	})
}

// TestResumeRecognisesAChangedParquetFooter stops an import in a Parquet
// file, rewrites the file with the same size and modification time but
// other metadata in its footer, and checks that the resume is refused.
func TestResumeRecognisesAChangedParquetFooter(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "a.parquet")
	writeNotedParquet(t, src, 500, "aaaa")
	spec, err := mappings.ParseSpec([]byte("type: track\nmessageId: id\nuserId: user\nevent: {value: E}\ntimestamp: ts\n"), "m.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := checkpointConfig(dir, []string{src}, &fakeSink{send: failAfter(2)})
	cfg.Spec = spec
	if _, err := Run(context.Background(), cfg); err == nil {
		t.Fatal("the first run should stop")
	}
	cp, err := LoadCheckpoint(cfg.CheckpointPath)
	if err != nil {
		t.Fatal(err)
	}
	footer, err := readers.FooterDigest(src)
	if err != nil {
		t.Fatal(err)
	}
	if f := cp.Files[0]; f.Status != StatusPartial || f.FooterSHA256 != footer || f.ContentCRC != "" {
		t.Fatalf("checkpoint %+v, want a partial file with the footer's digest %s", f, footer)
	}
	before, _ := os.ReadFile(cfg.CheckpointPath)
	st, _ := os.Stat(src)
	writeNotedParquet(t, src, 500, "bbbb")
	os.Chtimes(src, st.ModTime(), st.ModTime())
	if st2, _ := os.Stat(src); st2.Size() != st.Size() {
		t.Fatalf("the rewritten file has %d bytes, want %d", st2.Size(), st.Size())
	}
	fs := &fakeSink{send: accept}
	cfg.Sink = fs
	_, err = Run(context.Background(), cfg)
	var mismatch *CheckpointMismatchError
	want := []string{src + " changed: its footer (the Parquet file's metadata) differs from what the checkpoint saw"}
	if !errors.As(err, &mismatch) || !slices.Equal(mismatch.Details, want) {
		t.Fatalf("resume: %v, want %q", err, want)
	}
	if after, _ := os.ReadFile(cfg.CheckpointPath); !bytes.Equal(before, after) || fs.batches != 0 {
		t.Fatalf("the refused resume changed the checkpoint or sent %d batches", fs.batches)
	}
}

// TestTrackerPassesPrefixesWithTheWatermark checks that each source's
// digest follows the watermark: the latest at or below its offset in the
// source it is in, the last (the whole file) of a source it passed.
func TestTrackerPassesPrefixesWithTheWatermark(t *testing.T) {
	tr := newTracker(4, 3, true, mark{}, tally{}, nil, nil, 0)
	tr.prefixes = make([]prefixTrack, 3)
	d := func(off int64) readers.PrefixDigest {
		return readers.PrefixDigest{Offset: off, CRC32C: uint32(off), CRC32: ^uint32(off)}
	}
	for _, off := range []int64{10, 100, 200} {
		tr.recordPrefix(0, d(off))
	}
	tr.recordPrefix(1, d(5))
	commitAt := func(file int, row, off int64) []prefixAt {
		tr.acquire(context.Background())
		tr.commit(&job{end: mark{File: file, Pos: readers.Position{Row: row, Offset: off}}}, 0)
		return tr.snapshot().prefixes
	}
	if got := commitAt(0, 3, 150); got[0] != (prefixAt{d(100), true}) || got[1].ok || got[2].ok {
		t.Fatalf("at offset 150 of file 1: %+v", got)
	}
	if got := commitAt(0, 4, 199); got[0] != (prefixAt{d(100), true}) {
		t.Fatalf("at offset 199 of file 1: %+v", got)
	}
	if got := commitAt(2, 0, 0); got[0] != (prefixAt{d(200), true}) || got[1] != (prefixAt{d(5), true}) || got[2].ok {
		t.Fatalf("at the start of file 3: %+v", got)
	}
}

// TestResumeRefusesACorruptContentHash checks that a checkpoint whose
// digest is not one (not hex, too short, too long: a SHA-256) is refused
// as corrupt, before anything is sent.
func TestResumeRefusesACorruptContentHash(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "a.ndjson")
	data, _ := eventLines("a.ndjson")
	storeEvents(t, src, data, false)
	cfg := checkpointConfig(dir, []string{src}, &fakeSink{send: failAfter(25)})
	if _, err := Run(context.Background(), cfg); err == nil {
		t.Fatal("the first run should stop")
	}
	saved, _ := os.ReadFile(cfg.CheckpointPath)
	for _, bad := range []string{"not-hex-not-hex!", "0123abcd", "15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225"} {
		var cp map[string]any
		if err := json.Unmarshal(saved, &cp); err != nil {
			t.Fatal(err)
		}
		cp["files"].([]any)[0].(map[string]any)["content_crc"] = bad
		writeEditedCheckpoint(t, cfg.CheckpointPath, cp)
		fs := &fakeSink{send: accept}
		cfg.Sink = fs
		_, err := Run(context.Background(), cfg)
		want := fmt.Sprintf("checkpoint %s is corrupt (the entry of %s has an invalid content_crc or hashed); run with --restart to discard it", cfg.CheckpointPath, src)
		if err == nil || err.Error() != want || fs.batches != 0 {
			t.Fatalf("resume with content_crc %q: %v (%d batches), want %s", bad, err, fs.batches, want)
		}
	}
}

// contentCRC is what a checkpoint's content_crc must hold for data: its
// CRC-32C and then its CRC-32 (IEEE), 8 hex digits each.
func contentCRC(data []byte) string {
	return fmt.Sprintf("%08x%08x", crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli)), crc32.ChecksumIEEE(data))
}
