package importer

import (
	"context"
	"maps"
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

// tally counts what became of rows and, with a mapping of several
// messages per row, of their messages.
type tally struct {
	Read      int64 `json:"read"`
	Delivered int64 `json:"delivered"`
	Rejected  int64 `json:"rejected"`
	Filtered  int64 `json:"filtered"`
	// NoMessage counts the filtered rows that no entry of messages:
	// made a message of.
	NoMessage int64         `json:"filtered_no_message,omitempty"`
	Messages  MessageCounts `json:"messages,omitzero"`
}

func (t *tally) add(o tally) {
	t.Read += o.Read
	t.Delivered += o.Delivered
	t.Rejected += o.Rejected
	t.Filtered += o.Filtered
	t.NoMessage += o.NoMessage
	t.Messages.add(o.Messages)
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
	// filteredBy counts the rows of the range that a drop rule of the
	// mapping filtered, by rule; nil when none did.
	filteredBy map[string]int64
	// multi says, for each message of batch, the entry of messages: it
	// comes from and whether it is the first message of its row; nil
	// with a mapping of one message per row.
	multi []entryMessage
}

// jobRoom is the memory a job keeps per message of its batch, handed
// from the jobs sent to the next ones the assemble stage fills, so that an
// import allocates it only for as many jobs as are in flight at once.
type jobRoom struct {
	positions []readers.Position
	files     []int32
}

// newJob returns an empty job with room for about n messages, in the
// memory of a job already sent if there is one.
func (r *run) newJob(n int) *job {
	select {
	case room := <-r.rooms:
		return &job{positions: room.positions[:0], files: room.files[:0]}
	default:
		return &job{positions: make([]readers.Position, 0, n), files: make([]int32, 0, n)}
	}
}

// recycle hands the positions and files of a job whose batch was sent,
// which nothing reads once its rows are counted, to newJob.
func (r *run) recycle(j *job) {
	room := jobRoom{positions: j.positions, files: j.files}
	j.positions, j.files = nil, nil
	select {
	case r.rooms <- room:
	default:
	}
}

// entryMessage is a message of a row of a mapping of several messages
// per row: the index of its entry, and whether it is its row's first.
type entryMessage struct {
	entry int32
	first bool
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

// tracker decides, in order, which jobs are settled, and moves the
// watermark: the mark below which every row is delivered, rejected (and
// written to the rejects file) or filtered. A job is done when each of its
// rows is delivered, rejected or filtered; it becomes due once every job
// before it is done too, and is committed once the commit stage (see
// commitDue) wrote its rejects. The tracker itself does no I/O: under its
// lock it only records, counts and hands over.
//
// It also caps the jobs in flight: a job holds a slot from before it is
// handed on until it is committed, or, when a checkpoint is kept, until a
// checkpoint written to disk covers it. Safe for concurrent use.
type tracker struct {
	slots   chan struct{}
	durable bool          // slots wait for a checkpoint write
	wake    chan struct{} // signalled when jobs become due

	mu            sync.Mutex
	next          int64          // the seq of the next job to become due
	acked         map[int64]*job // done jobs waiting for those before them
	due           []*job         // due jobs, in order, not yet taken
	committed     mark
	total         tally
	byReason      map[string]int64
	filteredBy    map[string]int64 // filtered rows by drop rule
	files         []tally
	rejectsOffset int64 // the rejects file's size once the committed rejects are in it
	undurable     int   // committed jobs whose slots wait for a checkpoint write
	dirty         bool
	prefixes      []prefixTrack // per source, with a checkpoint (prefix.go)
}

// newTracker returns a tracker whose watermark starts at start, with the
// counts below it and rejectsOffset, the rejects file's size, that a
// checkpoint recorded (or zero counts and the file's size on a fresh run).
func newTracker(inFlight, sources int, durable bool, start mark, total tally, byReason map[string]int64, files []tally, rejectsOffset int64) *tracker {
	if byReason == nil {
		byReason = map[string]int64{}
	}
	if files == nil {
		files = make([]tally, sources)
	}
	return &tracker{
		slots:         make(chan struct{}, inFlight),
		durable:       durable,
		wake:          make(chan struct{}, 1),
		acked:         map[int64]*job{},
		committed:     start,
		total:         total,
		byReason:      byReason,
		filteredBy:    map[string]int64{},
		files:         files,
		rejectsOffset: rejectsOffset,
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

// done records that every row of j is settled. The jobs it completes, j
// and the done jobs after it, become due, in order, and the commit stage is
// woken.
func (t *tracker) done(j *job) {
	t.mu.Lock()
	t.acked[j.seq] = j
	due := len(t.due)
	for {
		j, ok := t.acked[t.next]
		if !ok {
			break
		}
		delete(t.acked, t.next)
		t.next++
		t.due = append(t.due, j)
	}
	woken := len(t.due) > due
	t.mu.Unlock()
	if woken {
		select {
		case t.wake <- struct{}{}:
		default:
		}
	}
}

// takeDue returns the due jobs, in order, and keeps buf (emptied) to
// gather the next ones.
func (t *tracker) takeDue(buf []*job) []*job {
	t.mu.Lock()
	defer t.mu.Unlock()
	due := t.due
	t.due = buf[:0]
	return due
}

// commit moves the watermark past j, the first due job not yet committed,
// whose rejects are written: the rejects file is now rejectsOffset long.
func (t *tracker) commit(j *job, rejectsOffset int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range j.rejects {
		if !j.rejects[i].again {
			t.byReason[j.rejects[i].Reason]++
		}
	}
	for rule, n := range j.filteredBy {
		t.filteredBy[rule] += n
	}
	for _, ft := range j.tallies {
		t.files[ft.file].add(ft.tally)
		t.total.add(ft.tally)
	}
	from := t.committed.File
	t.committed = j.end
	t.passPrefixes(from, j.end)
	t.rejectsOffset = rejectsOffset
	t.dirty = true
	if t.durable {
		t.undurable++
	} else {
		t.release(1)
	}
}

// state is what a checkpoint records: the watermark and the counts below it.
type state struct {
	committed     mark
	total         tally
	byReason      map[string]int64
	filteredBy    map[string]int64
	files         []tally
	rejectsOffset int64
	undurable     int
	prefixes      []prefixAt
}

// snapshot returns the committed state and marks it as being written.
func (t *tracker) snapshot() state {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := state{
		committed:     t.committed,
		total:         t.total,
		byReason:      maps.Clone(t.byReason),
		files:         append([]tally(nil), t.files...),
		rejectsOffset: t.rejectsOffset,
		undurable:     t.undurable,
		prefixes:      t.prefixSnapshot(),
	}
	s.filteredBy = t.filteredByRule()
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

// filteredByRule returns a copy of the filtered rows by drop rule, or nil
// if none; the caller holds t.mu.
func (t *tracker) filteredByRule() map[string]int64 {
	if len(t.filteredBy) == 0 {
		return nil
	}
	return maps.Clone(t.filteredBy)
}

// filtered returns the committed rows filtered by each drop rule, or nil.
func (t *tracker) filtered() map[string]int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.filteredByRule()
}

// counts returns the committed tally and rejects by reason.
func (t *tracker) counts() (tally, map[string]int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.total, maps.Clone(t.byReason)
}
