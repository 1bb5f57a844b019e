package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"
	"github.com/apache/arrow/go/v15/parquet"
	"github.com/apache/arrow/go/v15/parquet/pqarrow"
	"gocloud.dev/blob"
)

// archiveDays are the day folders of the bucket's Segment archive, by the
// day Segment received their events.
var archiveDays = []time.Time{
	time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC),
	time.Date(2024, 5, 2, 0, 0, 0, 0, time.UTC),
	time.Date(2024, 5, 3, 0, 0, 0, 0, time.UTC),
	time.Date(2024, 5, 4, 0, 0, 0, 0, time.UTC),
}

// bucketEvents is what fillArchiveBucket put in the bucket: the time of
// every event by its messageId.
type bucketEvents map[string]time.Time

// fillArchiveBucket puts into the bucket of b, under segment-logs/src-1/,
// two gzipped NDJSON objects of Segment messages in each day folder of
// archiveDays, perObject messages each, stamped within the folder's day,
// except that the last day's second object holds events that arrived late:
// stamped on the day before. Under warehouse/ it puts two Parquet objects
// of the same columns, perObject rows each, stamped on 2024-05-03.
func fillArchiveBucket(t *testing.T, b *blob.Bucket, perObject int) bucketEvents {
	t.Helper()
	events := bucketEvents{}
	put := func(key string, data []byte) {
		if err := b.WriteAll(context.Background(), key, data, nil); err != nil {
			t.Fatal(err)
		}
	}
	for d, day := range archiveDays {
		for part := range 2 {
			var nd bytes.Buffer
			for i := range perObject {
				ts := day.Add(time.Duration(i) * time.Minute)
				if d == len(archiveDays)-1 && part == 1 {
					ts = ts.Add(-24 * time.Hour) // arrived late
				}
				id := fmt.Sprintf("nd-%d-%d-%d", d, part, i)
				events[id] = ts
				fmt.Fprintf(&nd, `{"type":"track","messageId":%q,"userId":"u%d","event":"Viewed","timestamp":%q,"properties":{"i":%d}}`+"\n",
					id, i%7, ts.Format(time.RFC3339), i)
			}
			var gz bytes.Buffer
			zw := gzip.NewWriter(&gz)
			zw.Write(nd.Bytes())
			zw.Close()
			put(fmt.Sprintf("segment-logs/src-1/%d/%d-part-%d.gz", day.UnixMilli(), day.UnixMilli(), part), gz.Bytes())
		}
	}
	for part := range 2 {
		var pq bytes.Buffer
		writeEventsParquet(t, &pq, perObject, func(i int) (string, time.Time) {
			id := fmt.Sprintf("pq-%d-%d", part, i)
			ts := archiveDays[2].Add(time.Duration(part*perObject+i) * time.Second)
			events[id] = ts
			return id, ts
		})
		put(fmt.Sprintf("warehouse/events-%d.parquet", part), pq.Bytes())
	}
	return events
}

// writeEventsParquet writes rows events to w as Parquet, in row groups of
// 100, with the columns of a Segment message the mapping names.
func writeEventsParquet(t *testing.T, w *bytes.Buffer, rows int, row func(int) (string, time.Time)) {
	t.Helper()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "type", Type: arrow.BinaryTypes.String},
		{Name: "messageId", Type: arrow.BinaryTypes.String},
		{Name: "userId", Type: arrow.BinaryTypes.String},
		{Name: "event", Type: arrow.BinaryTypes.String},
		{Name: "timestamp", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}},
	}, nil)
	fw, err := pqarrow.NewFileWriter(schema, w, parquet.NewWriterProperties(parquet.WithMaxRowGroupLength(100)), pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		t.Fatal(err)
	}
	bld := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer bld.Release()
	for i := range rows {
		id, ts := row(i)
		bld.Field(0).(*array.StringBuilder).Append("track")
		bld.Field(1).(*array.StringBuilder).Append(id)
		bld.Field(2).(*array.StringBuilder).Append(fmt.Sprintf("u%d", i%7))
		bld.Field(3).(*array.StringBuilder).Append("Viewed")
		bld.Field(4).(*array.TimestampBuilder).Append(arrow.Timestamp(ts.UnixMilli()))
	}
	rec := bld.NewRecord()
	defer rec.Release()
	if err := fw.WriteBuffered(rec); err != nil {
		t.Fatal(err)
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
}

const archiveMapping = "type: track\nmessageId: messageId\nuserId: userId\nevent: event\ntimestamp: timestamp\n"

// TestABucketImportKilledMidObjectResumes imports a bucket's Segment
// archive and Parquet objects into backfill serve, its checkpoint in the
// same bucket; kills the import with SIGKILL in the middle of an object, at
// a crash point; resumes it; and checks that every event arrived, each
// copy of one the same.
func TestABucketImportKilledMidObjectResumes(t *testing.T) {
	bin := crashBinary(t)
	q, env, b := fakeS3(t)
	const perObject = 300
	events := fillArchiveBucket(t, b, perObject)
	want := map[string]bool{}
	for id := range events {
		want[id] = true
	}
	dir := t.TempDir()
	mapping := filepath.Join(dir, "mapping.yaml")
	writeFile(t, mapping, []byte(archiveMapping))
	url, received, stopServe := serveProcess(t, bin, dir)
	report := filepath.Join(dir, "report.json")
	args := []string{"import", "--endpoint", url, "--mapping", mapping, "--progress", "never",
		"--max-batch-messages", "50", "--concurrency", "1", "--rate", "-1", "--checkpoint-interval", "0",
		"--checkpoint", "s3://bkt/jobs/archive.json" + q, "--report", report,
		"s3://bkt/segment-logs/src-1" + q, "s3://bkt/warehouse" + q}
	// The first run is killed after its 9th batch, inside the second
	// object of the first day (rows 301–600); the second after its 45th,
	// inside the first Parquet object (rows 2401–2700).
	for _, nth := range []int{9, 45} {
		code, stderr := runProcess(t, bin, args, dir, append(env, fmt.Sprintf("BACKFILL_CRASH_AT=batch-acked:%d:kill", nth))...)
		if code != -int(syscall.SIGKILL) {
			t.Fatalf("exit code %d, want the kill's: %s", code, stderr)
		}
	}
	code, stdout, stderr := runOut(t, bin, args, dir, env...)
	if code != exitOK {
		t.Fatalf("resumed: exit code %d, want 0: %s\n%s", code, stderr, stdout)
	}
	stopServe()
	checkArrivals(t, received, want)
	rep := readReport(t, report)
	if !rep.Resumed || rep.Files != 10 || rep.RowsRead != int64(len(want)) || rep.Delivered != int64(len(want)) {
		t.Fatalf("report: resumed %t, %d files, %d read, %d delivered; want 10 files, %d rows", rep.Resumed, rep.Files, rep.RowsRead, rep.Delivered, len(want))
	}
}

// TestABucketImportWithAWindowSkipsTheDaysBeforeIt imports the archive
// with a time window: the day folder that ended more than a day before
// --since is skipped without being read, the folders after --until are
// read (late events land there), and exactly the events in the window
// arrive.
func TestABucketImportWithAWindowSkipsTheDaysBeforeIt(t *testing.T) {
	bin := binary(t)
	q, env, b := fakeS3(t)
	events := fillArchiveBucket(t, b, 100)
	since, until := archiveDays[2], archiveDays[2].Add(12*time.Hour)
	want := map[string]bool{}
	for id, ts := range events {
		if strings.HasPrefix(id, "nd-") && !ts.Before(since) && ts.Before(until) {
			want[id] = true
		}
	}
	dir := t.TempDir()
	mapping := filepath.Join(dir, "mapping.yaml")
	writeFile(t, mapping, []byte(archiveMapping))
	url, received, stopServe := serveProcess(t, bin, dir)
	report := filepath.Join(dir, "report.json")
	args := []string{"import", "--endpoint", url, "--mapping", mapping, "--progress", "never", "--rate", "-1",
		"--since", since.Format(time.RFC3339), "--until", until.Format(time.RFC3339), "--report", report,
		"s3://bkt/segment-logs/src-1" + q}
	code, stdout, stderr := runOut(t, bin, args, dir, env...)
	if code != exitOK {
		t.Fatalf("exit code %d: %s\n%s", code, stderr, stdout)
	}
	stopServe()
	checkArrivals(t, received, want)
	rep := readReport(t, report)
	skipped := fmt.Sprint(archiveDays[0].UnixMilli())
	got := append([]string(nil), rep.ArchiveDaysSkipped...)
	sort.Strings(got)
	if len(got) != 1 || !strings.HasSuffix(strings.TrimSuffix(got[0], "/"), skipped) {
		t.Fatalf("report: day folders skipped %q, want the one of %s", got, archiveDays[0].Format(time.DateOnly))
	}
	// The three later days are read whole: 6 objects, 600 rows.
	if rep.Files != 6 || rep.RowsRead != 600 || rep.Delivered != int64(len(want)) || rep.Filtered != 600-int64(len(want)) {
		t.Fatalf("report: %d files, %d read, %d delivered, %d filtered; want 6 files, 600 rows, %d delivered", rep.Files, rep.RowsRead, rep.Delivered, rep.Filtered, len(want))
	}
}
