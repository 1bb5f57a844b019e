package importer

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/backfillhq/backfill/readers"
)

func pos(row int64) readers.Position {
	return readers.Position{File: "f", Row: row, Line: row, Offset: row * 10}
}

// newTestTracker returns a tracker and the committer that writes the
// rejects of the jobs it finds due, as the commit stage does.
func newTestTracker(t *testing.T, inFlight int, durable bool) (*tracker, *committer) {
	t.Helper()
	rj, err := openRejects(filepath.Join(t.TempDir(), "rejects.ndjson"), false, 0)
	if err != nil {
		t.Fatal(err)
	}
	tr := newTracker(inFlight, 2, durable, mark{}, tally{}, nil, nil, rj.size())
	return tr, &committer{r: &run{tracker: tr, rejects: rj}}
}

// settle marks j done and commits what became due.
func settle(t *testing.T, c *committer, j *job) {
	t.Helper()
	c.r.tracker.done(j)
	if err := c.commitDue(); err != nil {
		t.Fatal(err)
	}
}

func TestTrackerCommitsInOrderWhateverOrderAcksCome(t *testing.T) {
	tr, c := newTestTracker(t, 10, false)
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
		settle(t, c, jobs[step.ack])
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
	tr, c := newTestTracker(t, 10, false)
	first := &job{seq: 0, end: mark{Pos: pos(10)}}
	second := &job{seq: 1, end: mark{Pos: pos(20)}, rejects: []Reject{{File: "f", Row: 15, Reason: "bad_timestamp", Raw: "x"}}}
	second.count(0, func(c *tally) { c.Read++; c.Rejected++ })
	for range 2 {
		if err := tr.acquire(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	settle(t, c, second)
	if c.r.rejects.size() != 0 {
		t.Fatal("a reject was written before the rows before it were settled")
	}
	settle(t, c, first)
	s := tr.snapshot()
	if s.rejectsOffset == 0 || s.rejectsOffset != c.r.rejects.size() || s.total.Rejected != 1 || s.byReason["bad_timestamp"] != 1 || s.committed.Pos.Row != 20 {
		t.Fatalf("state %+v", s)
	}
}

// TestTrackerOnlyHandsOverDueJobs checks that marking jobs done writes
// nothing and moves no watermark: the jobs become due, in order, and only
// the commit stage writes their rejects and commits them.
func TestTrackerOnlyHandsOverDueJobs(t *testing.T) {
	tr, c := newTestTracker(t, 10, false)
	jobs := make([]*job, 3)
	for i := range jobs {
		if err := tr.acquire(context.Background()); err != nil {
			t.Fatal(err)
		}
		jobs[i] = &job{seq: int64(i), end: mark{Pos: pos(int64(i+1) * 10)}, rejects: []Reject{{File: "f", Row: int64(i*10 + 1), Reason: "bad_timestamp"}}}
		jobs[i].count(0, func(c *tally) { c.Read++; c.Rejected++ })
	}
	for _, i := range []int{2, 0, 1} {
		tr.done(jobs[i])
	}
	if s := tr.snapshot(); s.committed.Pos.Row != 0 || s.total.Rejected != 0 || c.r.rejects.size() != 0 {
		t.Fatalf("after done: watermark at row %d, %d rejected, %d bytes of rejects; want nothing committed or written", s.committed.Pos.Row, s.total.Rejected, c.r.rejects.size())
	}
	due := tr.takeDue(nil)
	if len(due) != 3 || due[0] != jobs[0] || due[1] != jobs[1] || due[2] != jobs[2] {
		t.Fatalf("due: %v, want the three jobs in order", due)
	}
	tr.due = append(tr.due, due...) // hand them back to the committer
	if err := c.commitDue(); err != nil {
		t.Fatal(err)
	}
	if s := tr.snapshot(); s.committed.Pos.Row != 30 || s.total.Rejected != 3 || s.rejectsOffset != c.r.rejects.size() {
		t.Fatalf("after the commit: %+v", s)
	}
	if err := c.r.rejects.flush(); err != nil {
		t.Fatal(err)
	}
	var rows []int64
	for _, r := range readRejectsFile(t, c.r.rejects.path) {
		rows = append(rows, r.Row)
	}
	if len(rows) != 3 || rows[0] != 1 || rows[1] != 11 || rows[2] != 21 {
		t.Fatalf("rejects written for rows %v, want 1, 11, 21 in order", rows)
	}
	if len(tr.slots) != 0 {
		t.Fatalf("%d slots still held after every job committed", len(tr.slots))
	}
}

func TestTrackerCapsJobsInFlight(t *testing.T) {
	tr, c := newTestTracker(t, 2, true)
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
	settle(t, c, &job{seq: 0, end: mark{Pos: pos(5)}})
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

// TestTheTrackersLockIsFreeWhileRejectsAreWritten stops the commit stage
// in the middle of writing a reject (where a line straddles the rejects
// file's buffer, which goes to disk there) and checks that the tracker's
// lock is free: senders never wait for the disk.
func TestTheTrackersLockIsFreeWhileRejectsAreWritten(t *testing.T) {
	tr, c := newTestTracker(t, 10, false)
	hits := 0
	c.r.rejects.crash = func(point string) {
		if point != crashRejectsTornLine {
			return
		}
		hits++
		if !tr.mu.TryLock() {
			t.Error("the tracker's lock is held while a reject is written")
			return
		}
		tr.mu.Unlock()
	}
	j := &job{seq: 0, end: mark{Pos: pos(100)}}
	raw := strings.Repeat("x", 3000)
	for i := range 40 { // 120 KB of rejects: more than the buffer holds
		j.addReject(Reject{File: "f", Row: int64(i + 1), Reason: "invalid_json", Raw: raw})
		j.count(0, func(c *tally) { c.Read++; c.Rejected++ })
	}
	if err := tr.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	settle(t, c, j)
	if hits == 0 {
		t.Fatal("no reject's line straddled the rejects file's buffer")
	}
	if s := tr.snapshot(); s.total.Rejected != 40 || s.rejectsOffset != c.r.rejects.size() {
		t.Fatalf("after the commit: %+v", s)
	}
}
