package importer

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
)

// TestLimitStopsAfterTheFirstRowsAndTheCheckpointResumesAfterThem runs
// imports with Config.Limit over two files of 5 rows (a.ndjson row 2 is
// malformed), each resuming the checkpoint of the one before, and checks
// what each sends, its report and the checkpoint it leaves.
func TestLimitStopsAfterTheFirstRowsAndTheCheckpointResumesAfterThem(t *testing.T) {
	dir := t.TempDir()
	a := writeNDJSON(t, dir, "a.ndjson", 5, map[int]string{2: `{"type":`})
	b := writeNDJSON(t, dir, "b.ndjson", 5, nil)
	type state struct {
		status []string
		resume int64 // row of the partial file's resume position, or 0
	}
	for _, step := range []struct {
		name     string
		limit    int64
		sent     []string // messageIds, sorted
		read     int64    // rows of the import read so far
		rejected int64
		reached  bool
		cp       state
	}{
		{name: "limit inside the first file", limit: 3,
			sent: []string{"a.ndjson-1", "a.ndjson-3"}, read: 3, rejected: 1, reached: true,
			cp: state{status: []string{StatusPartial, StatusPending}, resume: 4}},
		{name: "the same limit again reads nothing", limit: 3,
			read: 3, rejected: 1, reached: true,
			cp: state{status: []string{StatusPartial, StatusPending}, resume: 4}},
		{name: "a limit at the end of the first file", limit: 5,
			sent: []string{"a.ndjson-4", "a.ndjson-5"}, read: 5, rejected: 1, reached: true,
			cp: state{status: []string{StatusDone, StatusPending}}},
		{name: "a limit inside the second file", limit: 8,
			sent: []string{"b.ndjson-1", "b.ndjson-2", "b.ndjson-3"}, read: 8, rejected: 1, reached: true,
			cp: state{status: []string{StatusDone, StatusPartial}, resume: 4}},
		{name: "a limit past the end", limit: 100,
			sent: []string{"b.ndjson-4", "b.ndjson-5"}, read: 10, rejected: 1,
			cp: state{status: []string{StatusDone, StatusDone}}},
	} {
		t.Run(step.name, func(t *testing.T) {
			s := &fakeSink{send: accept}
			cfg := checkpointConfig(dir, []string{a, b}, s)
			cfg.Limit = step.limit
			rep, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			var sent []string
			for _, m := range s.messages {
				sent = append(sent, m["messageId"].(string))
			}
			sort.Strings(sent)
			if !reflect.DeepEqual(sent, step.sent) {
				t.Errorf("sent %q, want %q", sent, step.sent)
			}
			if rep.RowsRead != step.read || rep.Rejected != step.rejected || rep.Delivered != step.read-step.rejected ||
				rep.Limit != step.limit || rep.LimitReached != step.reached || rep.Complete == step.reached {
				t.Errorf("report: read %d, delivered %d, rejected %d, limit %d, reached %v, complete %v; want read %d, rejected %d, limit %d, reached %v, complete %v",
					rep.RowsRead, rep.Delivered, rep.Rejected, rep.Limit, rep.LimitReached, rep.Complete,
					step.read, step.rejected, step.limit, step.reached, !step.reached)
			}
			cp, err := LoadCheckpoint(filepath.Join(dir, "cp.json"))
			if err != nil {
				t.Fatal(err)
			}
			var got state
			for _, f := range cp.Files {
				got.status = append(got.status, f.Status)
				if f.Resume != nil {
					got.resume = f.Resume.Row
				}
			}
			if !reflect.DeepEqual(got, step.cp) || cp.Complete == step.reached || cp.Totals.Read != step.read {
				t.Errorf("checkpoint: files %+v, complete %v, %d rows read; want %+v, complete %v, %d rows read",
					got, cp.Complete, cp.Totals.Read, step.cp, !step.reached, step.read)
			}
		})
	}
	rejects := readRejectsFile(t, filepath.Join(dir, "rejects.ndjson"))
	if len(rejects) != 1 || rejects[0].Row != 2 {
		t.Fatalf("rejects %+v, want a.ndjson row 2 once", rejects)
	}
}

// TestLimitWithoutACheckpoint stops an import that keeps no checkpoint
// after its first rows.
func TestLimitWithoutACheckpoint(t *testing.T) {
	dir := t.TempDir()
	a := writeNDJSON(t, dir, "a.ndjson", 1000, nil)
	s := &fakeSink{send: accept}
	cfg := checkpointConfig(dir, []string{a}, s)
	cfg.CheckpointPath = ""
	cfg.Limit = 250
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.messages) != 250 || rep.RowsRead != 250 || rep.Delivered != 250 || !rep.LimitReached || rep.Complete {
		t.Fatalf("%d sent, report %+v; want the first 250 rows", len(s.messages), rep)
	}
	for i, m := range s.messages {
		if id := fmt.Sprintf("a.ndjson-%d", i+1); m["messageId"] != id {
			t.Fatalf("message %d is %v, want %s", i, m["messageId"], id)
		}
	}
}
