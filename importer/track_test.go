package importer

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/backfillhq/backfill/readers"
)

func pos(row int64) readers.Position {
	return readers.Position{File: "f", Row: row, Line: row, Offset: row * 10}
}

func newTestTracker(t *testing.T, inFlight int, durable bool) *tracker {
	t.Helper()
	rj, err := openRejects(filepath.Join(t.TempDir(), "rejects.ndjson"), false, 0)
	if err != nil {
		t.Fatal(err)
	}
	return newTracker(inFlight, 2, rj, durable, mark{}, tally{}, nil, nil)
}

func TestTrackerCommitsInOrderWhateverOrderAcksCome(t *testing.T) {
	tr := newTestTracker(t, 10, false)
	ctx := context.Background()
	jobs := make([]*job, 5)
	for i := range jobs {
		if err := tr.acquire(ctx); err != nil {
			t.Fatal(err)
		}
		jobs[i] = &job{seq: int64(i), end: mark{Pos: pos(int64(i+1) * 100)}}
		jobs[i].count(0, func(c *tally) { c.Read += 100; c.Delivered += 100 })
	}
	for _, step := range []struct {
		ack  int
		want int64 // the row the watermark is at after the ack; 0: not moved
	}{
		{ack: 2, want: 0},
		{ack: 1, want: 0},
		{ack: 0, want: 300}, // 0, 1, 2 commit together
		{ack: 4, want: 300},
		{ack: 3, want: 500},
	} {
		if err := tr.done(jobs[step.ack]); err != nil {
			t.Fatal(err)
		}
		s := tr.snapshot()
		if s.committed.Pos.Row != step.want {
			t.Fatalf("after ack %d the watermark is at row %d, want %d", step.ack, s.committed.Pos.Row, step.want)
		}
		if s.total.Delivered != step.want {
			t.Fatalf("after ack %d, %d rows are counted delivered, want %d", step.ack, s.total.Delivered, step.want)
		}
	}
	if len(tr.slots) != 0 {
		t.Fatalf("%d slots still held after every job committed", len(tr.slots))
	}
}

func TestTrackerWritesRejectsOnlyWhenTheirRangeCommits(t *testing.T) {
	tr := newTestTracker(t, 10, false)
	first := &job{seq: 0, end: mark{Pos: pos(10)}}
	second := &job{seq: 1, end: mark{Pos: pos(20)}, rejects: []Reject{{File: "f", Row: 15, Reason: "bad_timestamp", Raw: "x"}}}
	second.count(0, func(c *tally) { c.Read++; c.Rejected++ })
	for range 2 {
		if err := tr.acquire(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.done(second); err != nil {
		t.Fatal(err)
	}
	if tr.rejects.size() != 0 {
		t.Fatal("a reject was written before the rows before it were settled")
	}
	if err := tr.done(first); err != nil {
		t.Fatal(err)
	}
	s := tr.snapshot()
	if s.rejectsOffset == 0 || s.total.Rejected != 1 || s.byReason["bad_timestamp"] != 1 || s.committed.Pos.Row != 20 {
		t.Fatalf("state %+v", s)
	}
}

func TestTrackerCapsJobsInFlight(t *testing.T) {
	tr := newTestTracker(t, 2, true)
	ctx := context.Background()
	for range 2 {
		if err := tr.acquire(ctx); err != nil {
			t.Fatal(err)
		}
	}
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if err := tr.acquire(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("third acquire: %v, want it to block until its context ends", err)
	}
	// Committed but not yet covered by a checkpoint: the slot stays taken.
	if err := tr.done(&job{seq: 0, end: mark{Pos: pos(5)}}); err != nil {
		t.Fatal(err)
	}
	if len(tr.slots) != 2 {
		t.Fatalf("%d slots held, want 2 until a checkpoint covers the job", len(tr.slots))
	}
	s := tr.snapshot()
	tr.release(s.undurable)
	if len(tr.slots) != 1 {
		t.Fatalf("%d slots held after the checkpoint write, want 1", len(tr.slots))
	}
	if err := tr.acquire(ctx); err != nil {
		t.Fatal(err)
	}
}
