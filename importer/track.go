package importer

import (
	"context"
	"sync"

	"github.com/backfillhq/backfill/readers"
	"github.com/backfillhq/backfill/sink"
)

// mark is a place in the ordered stream of a run's rows: the index of a
// source and the position of a row in it. A mark with File equal to the
// number of sources is the end of the input.
type mark struct {
	File int
	Pos  readers.Position
}

// tally counts what became of rows.
type tally struct {
	Read      int64 `json:"read"`
	Delivered int64 `json:"delivered"`
	Rejected  int64 `json:"rejected"`
	Filtered  int64 `json:"filtered"`
}

func (t *tally) add(o tally) {
	t.Read += o.Read
	t.Delivered += o.Delivered
	t.Rejected += o.Rejected
	t.Filtered += o.Filtered
}

// fileTally is the tally of one source's rows within a job.
type fileTally struct {
	file int
	tally
}

// job is a contiguous range of rows: the messages of one batch (nil when the
// range has none) and the rows rejected or filtered among them. The range
// ends just before the row at end. A job settles all its rows when it is
// committed, which happens in order: job n commits only after job n-1.
type job struct {
	seq       int64
	batch     *sink.Batch
	positions []readers.Position // of each message of batch
	files     []int32            // source index of each message of batch
	end       mark
	rejects   []Reject // written to the rejects file when the job commits
	rawBytes  int      // the size of the rejects' raw rows
	tallies   []fileTally
}

// count adds to the tally of source file within the job.
func (j *job) count(file int, f func(*tally)) {
	for i := len(j.tallies) - 1; i >= 0; i-- {
		if j.tallies[i].file == file {
			f(&j.tallies[i].tally)
			return
		}
	}
	j.tallies = append(j.tallies, fileTally{file: file})
	f(&j.tallies[len(j.tallies)-1].tally)
}

// addReject keeps a reject until the job commits.
func (j *job) addReject(r Reject) {
	j.rejects = append(j.rejects, r)
	j.rawBytes += len(r.Raw) + len(r.RawBase64)
}

// tracker commits jobs in order as they are acknowledged, moving the
// watermark: the mark below which every row is delivered, rejected (and
// written to the rejects file) or filtered. It also caps the jobs in flight:
// a job holds a slot from before it is handed on until it is committed, or,
// when a checkpoint is kept, until a checkpoint written to disk covers it.
// Safe for concurrent use.
type tracker struct {
	slots   chan struct{}
	rejects *rejectsFile
	durable bool // slots wait for a checkpoint write
	wake    chan struct{}

	mu        sync.Mutex
	next      int64
	acked     map[int64]*job
	committed mark
	total     tally
	byReason  map[string]int64
	files     []tally
	undurable int // committed jobs whose slots wait for a checkpoint write
	dirty     bool
}

func newTracker(inFlight, sources int, rejects *rejectsFile, durable bool, start mark, total tally, byReason map[string]int64, files []tally) *tracker {
	if byReason == nil {
		byReason = map[string]int64{}
	}
	if files == nil {
		files = make([]tally, sources)
	}
	return &tracker{
		slots:     make(chan struct{}, inFlight),
		rejects:   rejects,
		durable:   durable,
		wake:      make(chan struct{}, 1),
		acked:     map[int64]*job{},
		committed: start,
		total:     total,
		byReason:  byReason,
		files:     files,
	}
}

// acquire takes a slot for a job, blocking while the cap is reached.
func (t *tracker) acquire(ctx context.Context) error {
	select {
	case t.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (t *tracker) release(n int) {
	for range n {
		<-t.slots
	}
}

// done records that every row of j is settled and commits the jobs it
// completes, writing their rejects. An error is a failed write of the
// rejects file.
func (t *tracker) done(j *job) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.acked[j.seq] = j
	for {
		j, ok := t.acked[t.next]
		if !ok {
			break
		}
		for i := range j.rejects {
			if err := t.rejects.write(j.rejects[i]); err != nil {
				return err
			}
			t.byReason[j.rejects[i].Reason]++
		}
		for _, ft := range j.tallies {
			t.files[ft.file].add(ft.tally)
			t.total.add(ft.tally)
		}
		delete(t.acked, t.next)
		t.next++
		t.committed = j.end
		t.dirty = true
		if t.durable {
			t.undurable++
		} else {
			t.release(1)
		}
	}
	select {
	case t.wake <- struct{}{}:
	default:
	}
	return nil
}

// state is what a checkpoint records: the watermark and the counts below it.
type state struct {
	committed     mark
	total         tally
	byReason      map[string]int64
	files         []tally
	rejectsOffset int64
	undurable     int
}

// snapshot returns the committed state and marks it as being written.
func (t *tracker) snapshot() state {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := state{
		committed:     t.committed,
		total:         t.total,
		byReason:      make(map[string]int64, len(t.byReason)),
		files:         append([]tally(nil), t.files...),
		rejectsOffset: t.rejects.size(),
		undurable:     t.undurable,
	}
	for k, v := range t.byReason {
		s.byReason[k] = v
	}
	t.undurable = 0
	t.dirty = false
	return s
}

// pending reports whether anything was committed since the last snapshot,
// and how many committed jobs wait for a checkpoint write.
func (t *tracker) pending() (dirty bool, undurable int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.dirty, t.undurable
}

// counts returns the committed tally and rejects by reason.
func (t *tracker) counts() (tally, map[string]int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	byReason := make(map[string]int64, len(t.byReason))
	for k, v := range t.byReason {
		byReason[k] = v
	}
	return t.total, byReason
}
