package importer

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/backfillhq/backfill/mappings"
	"github.com/backfillhq/backfill/readers"
	"github.com/backfillhq/backfill/sink"
)

// A range of rows is cut early when the rejects it holds (kept in memory
// until the range is settled) reach either bound.
const (
	maxRangeRejects     = 1000
	maxRangeRejectBytes = 4 << 20
)

// assembler is the assemble stage. It takes the mapped blocks, puts them
// back in row order, packs their messages into batches and cuts the rows
// into jobs: contiguous ranges that settle as one, handed to the senders
// (or, with no message, straight to the tracker). It counts each row read
// once, samples the first rows for previews and keeps the error budget.
// One goroutine runs it.
type assembler struct {
	r       *run
	out     chan<- *job
	batcher *sink.Batcher
	budget  *budget

	// stop is the verdict of the error budget once it is spent: the
	// range is cut after the row that spent it, handed on, and reading
	// stops, so that every row counted is settled.
	stop *BudgetError

	cur     *job              // the range being filled
	seq     int64             // the seq of the next job
	cut     bool              // end the current range before the next row
	next    int64             // the seq of the next block in row order
	waiting map[int64]*mapped // blocks mapped before their turn
	sampled int               // rows passed to cfg.Sample
}

func newAssembler(r *run, out chan<- *job) *assembler {
	b := newBudget(r.cfg.MaxRejects, r.cfg.MaxRejectRate, r.cfg.RejectWindow, r.cfg.RejectWindowMin)
	// The share of rejects is of the whole import: a resumed run starts
	// from the counts of the earlier ones.
	b.rows0, b.rejected0 = r.read.Load(), r.rejectsSeen.Load()
	return &assembler{
		r:       r,
		out:     out,
		batcher: sink.NewBatcher(r.cfg.Limits),
		budget:  b,
		cur:     &job{},
		waiting: map[int64]*mapped{},
	}
}

// run assembles the blocks from in until it is closed, then hands on the
// last job, whose range ends at the end of the input. It returns early,
// with the last range left open, when ctx ends. When the error budget is
// spent, it hands on the range up to the row that spent it, records the
// budget's verdict with the run (see stopByBudget) and returns nil: the
// batches already made are sent and every row counted is settled.
func (a *assembler) run(ctx context.Context, in <-chan *mapped) error {
	for {
		var m *mapped
		var ok bool
		select {
		case m, ok = <-in:
		case <-ctx.Done():
			return ctx.Err()
		}
		if !ok {
			break
		}
		if err := a.take(ctx, m); err == errBudgetSpent {
			return nil
		} else if err != nil {
			return err
		}
	}
	if a.stop != nil {
		// The row that spent the budget was the last of the input.
		a.r.stopByBudget(a.stop)
	}
	if err := ctx.Err(); err != nil {
		// Reading stopped early: the input did not end here. The last
		// range is left open, its rows read again on resume; ending it at
		// the end of the input would settle rows never read.
		return err
	}
	if len(a.waiting) > 0 {
		return fmt.Errorf("map stage: %d blocks of rows out of order", len(a.waiting))
	}
	if a.r.readStopped.Load() {
		// Reading stopped at an error of a source: the last range is
		// left open, as above, its rows read again on resume.
		return nil
	}
	return a.emit(ctx, a.batcher.Flush(), a.r.inputEnd())
}

// take puts m in its place in row order and assembles every block whose
// turn has come.
func (a *assembler) take(ctx context.Context, m *mapped) error {
	a.waiting[m.seq] = m
	for {
		m, ok := a.waiting[a.next]
		if !ok {
			return nil
		}
		delete(a.waiting, a.next)
		a.next++
		if err := a.block(ctx, m); err != nil {
			return err
		}
		// The memory of the block's rows is released here, once: the
		// map stage read the rows, and this stage read what outcomes
		// keep of them (raw and err, the row's bytes and errors that may
		// refer to them) to make rejects and samples, which copy what
		// they keep. From here on the reader writes later rows over it.
		// So nothing that outlives this call may refer to a row's
		// memory (Row.Raw, RawJSON, the slices behind its values, a
		// RowError's Raw) without copying it: not a reject held in a
		// job (newReject copies), a sample handed to Config.Sample
		// (sample copies), an error kept as a reason's example (kept as
		// its text), a message (the writer copies it into the block's
		// buffer, the batcher into a batch) nor a mapper's state across
		// rows (which keeps strings and names, never row bytes). A
		// block that never gets here, because the run ended first,
		// leaves its memory to the garbage collector.
		m.mem.Release()
		m.mem = nil
		a.r.freeMapped(m)
	}
}

// block assembles the rows of one mapped block, in order. The derived ids
// of the rows it takes count for the repeats.
func (a *assembler) block(ctx context.Context, m *mapped) error {
	derived := 0 // the derived ids of the rows taken
	for i := range m.outs {
		o := &m.outs[i]
		if a.cut {
			a.cut = false
			if err := a.emit(ctx, a.batcher.Flush(), mark{File: m.file, Pos: o.pos}); err != nil {
				return err
			}
			if a.stop != nil {
				a.countIDs(m.ids[:derived])
				a.r.stopByBudget(a.stop)
				return errBudgetSpent
			}
		}
		derived += int(o.derived)
		a.r.read.Add(1)
		a.sample(m, o)
		var err error
		switch o.kind {
		case outReject:
			err = a.reject(m.file, o)
		case outFiltered:
			a.filter(m.file, o)
		default:
			if o.n > 0 {
				err = a.messages(ctx, m, o)
			} else {
				err = a.message(ctx, m, o)
			}
		}
		if err != nil {
			return err
		}
	}
	a.countIDs(m.ids)
	return nil
}

// countIDs adds derived ids to the count of repeats, if it is kept.
func (a *assembler) countIDs(ids []uint64) {
	if a.r.repeats != nil {
		a.r.repeats.add(ids)
	}
}

// message adds the message of a row to the batch, handing on the job it
// fills; a message the batch limits refuse makes its row a reject.
func (a *assembler) message(ctx context.Context, m *mapped, o *outcome) error {
	full, err := a.batcher.AddEncoded(m.buf[o.start:o.end])
	if err != nil {
		o.err = fmt.Errorf("%s: %w", o.pos, err)
		return a.reject(m.file, o)
	}
	a.budget.row(false)
	if full != nil {
		// The message starts the next batch, and its row the next range.
		if err := a.emit(ctx, full, mark{File: m.file, Pos: o.pos}); err != nil {
			return err
		}
	}
	a.cur.positions = append(a.cur.positions, o.pos)
	a.cur.files = append(a.cur.files, int32(m.file))
	a.cur.count(m.file, func(t *tally) { t.Read++ })
	return nil
}

// messages adds the messages of a row of a mapping of several messages
// per row to the batch, all in one: when they do not fit in the current
// batch, it is handed on first and the row starts the next range. So a
// row's messages settle together, and the checkpoint never passes a row
// with a message unsent. The map stage has rejected a row whose messages
// do not fit in an empty batch.
func (a *assembler) messages(ctx context.Context, m *mapped, o *outcome) error {
	msgs := m.msgs[o.first : o.first+o.n]
	if fits, _ := a.batcher.Fits(len(msgs), o.end-o.start); !fits {
		if full := a.batcher.Flush(); full != nil {
			if err := a.emit(ctx, full, mark{File: m.file, Pos: o.pos}); err != nil {
				return err
			}
		}
	}
	start := o.start
	for k, rm := range msgs {
		full, err := a.batcher.AddEncoded(m.buf[start:rm.End])
		if err != nil {
			return fmt.Errorf("%s: messages[%d]: %w", o.pos, rm.Entry, err)
		}
		if full != nil {
			return fmt.Errorf("%s: the messages of the row do not fit in one batch", o.pos)
		}
		a.cur.positions = append(a.cur.positions, o.pos)
		a.cur.files = append(a.cur.files, int32(m.file))
		a.cur.multi = append(a.cur.multi, entryMessage{entry: int32(rm.Entry), first: k == 0})
		start = rm.End
	}
	a.budget.row(false)
	a.cur.count(m.file, func(t *tally) { t.Read++; t.Messages.Filtered += int64(o.skipped) })
	return nil
}

// reject keeps the reject of a row in the current range, to be written
// when the range settles, and cuts the range when the rejects it keeps
// grow too many or too large. It returns the error budget's verdict.
func (a *assembler) reject(file int, o *outcome) error {
	r := a.r
	rej := newReject(o.pos, reasonOf(o.err), o.err, o.raw)
	rej.Format, rej.Header = r.inputs[file].format, r.inputs[file].header
	if r.cfg.Spec != nil && r.cfg.Spec.Entries() > 0 {
		var ee *mappings.EntryError
		if errors.As(o.err, &ee) {
			rej.Message = fmt.Sprintf("messages[%d]", ee.Entry)
		}
	}
	a.cur.addReject(rej)
	a.cur.count(file, func(t *tally) { t.Read++; t.Rejected++ })
	r.rejectsSeen.Add(1)
	r.reasons.add(rej.Reason, o.err)
	if len(a.cur.rejects) >= maxRangeRejects || a.cur.rawBytes >= maxRangeRejectBytes {
		a.cut = true
	}
	a.budget.row(true)
	if a.stop == nil {
		if a.stop = a.budget.check(r.rejectsSeen.Load()); a.stop != nil {
			a.stop.Top = r.reasons.top(3)
			a.stop.Hint = r.reasons.hint(r.cfg.Spec == nil)
			a.cut = true
		}
	}
	return nil
}

// errBudgetSpent ends the assemble stage once the range up to the row that
// spent the error budget is handed on.
var errBudgetSpent = errors.New("error budget spent")

// filter counts a row the mapping filtered out, under the drop rule that
// did it, if one did (not the time window), and, with a mapping of
// several messages per row, as a row of no message and by its entries
// that made none.
func (a *assembler) filter(file int, o *outcome) {
	if o.skipped > 0 {
		noMessage := int64(0)
		if mappings.IsNoMessage(o.err) {
			noMessage = 1
		}
		a.cur.count(file, func(t *tally) {
			t.Read++
			t.Filtered++
			t.NoMessage += noMessage
			t.Messages.Filtered += int64(o.skipped)
		})
		a.budget.row(false)
		return
	}
	a.cur.count(file, func(t *tally) { t.Read++; t.Filtered++ })
	if rule := mappings.FilterRule(o.err); rule != "" {
		if a.cur.filteredBy == nil {
			a.cur.filteredBy = map[string]int64{}
		}
		a.cur.filteredBy[rule]++
	}
	a.budget.row(false)
}

// sample passes the first cfg.SampleRows rows to cfg.Sample.
func (a *assembler) sample(m *mapped, o *outcome) {
	r := a.r
	if r.cfg.Sample == nil || a.sampled >= r.cfg.SampleRows {
		return
	}
	a.sampled++
	// The row's memory is released once its block is assembled: a sample
	// keeps copies.
	s := Sample{Pos: o.pos, Raw: bytes.Clone(o.raw), Err: ownError(o.err)}
	if o.kind == outMessage {
		s.Message = bytes.Clone(m.buf[o.start:o.end]) // m.buf is reused
		if o.n > 0 {
			start := 0
			for _, rm := range m.msgs[o.first : o.first+o.n] {
				end := rm.End - o.start
				s.Messages = append(s.Messages, s.Message[start:end:end])
				start = end
			}
			s.Message = s.Messages[0]
		}
	}
	r.cfg.Sample(s)
}

// ownError returns err, or, for a *readers.RowError, a copy that holds
// its raw bytes in memory of its own: a RowError refers to the memory of
// its row, which is released once its block is assembled. The errors of
// mappings and sink hold copies of what they show of a row.
func ownError(err error) error {
	re, ok := err.(*readers.RowError)
	if !ok {
		return err
	}
	c := *re
	c.Raw = bytes.Clone(re.Raw)
	return &c
}

// emit hands on the current job with batch b (nil when its range has no
// message), ending its range just before end, and starts the next one. It
// blocks while the jobs in flight are at their cap.
func (a *assembler) emit(ctx context.Context, b *sink.Batch, end mark) error {
	j := a.cur
	j.batch, j.end, j.seq = b, end, a.seq
	a.seq++
	// The next job likely holds as many messages as this one.
	a.cur = a.r.newJob(len(j.positions))
	if err := a.r.tracker.acquire(ctx); err != nil {
		return err
	}
	if b == nil {
		a.r.tracker.done(j)
		return nil
	}
	select {
	case a.out <- j:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
