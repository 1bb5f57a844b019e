package importer

import (
	"bytes"
	"context"
	"fmt"

	"github.com/backfillhq/backfill/readers"
	"github.com/backfillhq/backfill/sink"
)

// A range of rows is cut early when the rejects it holds (kept in memory
// until the range is settled) reach either bound.
const (
	maxRangeRejects     = 1000
	maxRangeRejectBytes = 4 << 20
)

// assemble takes the mapped blocks in row order and packs their messages
// into batches, cutting the rows into jobs: contiguous ranges that settle as
// one.
func (r *run) assemble(ctx context.Context, in <-chan *mapped, out chan<- *job) error {
	batcher := sink.NewBatcher(r.cfg.Limits)
	var (
		cur     = &job{}
		seq     int64
		cut     bool
		next    int64
		waiting = map[int64]*mapped{}
	)
	// emit hands on the current job, ending its range before end.
	emit := func(b *sink.Batch, end mark) error {
		j := cur
		j.batch, j.end, j.seq = b, end, seq
		seq++
		// The next job likely holds as many messages as this one.
		n := len(j.positions)
		cur = &job{positions: make([]readers.Position, 0, n), files: make([]int32, 0, n)}
		if err := r.tracker.acquire(ctx); err != nil {
			return err
		}
		if b == nil {
			return r.tracker.done(j)
		}
		select {
		case out <- j:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	budget := newBudget(r.cfg.MaxRejects, r.cfg.MaxRejectRate, r.cfg.RejectWindow)
	reject := func(file int, o *outcome) error {
		rej := newReject(o.pos, reasonOf(o.err), o.err, o.raw)
		cur.addReject(rej)
		cur.count(file, func(t *tally) { t.Read++; t.Rejected++ })
		r.rejected.Add(1)
		r.reasons.add(rej.Reason, rej.Error)
		if len(cur.rejects) >= maxRangeRejects || cur.rawBytes >= maxRangeRejectBytes {
			cut = true
		}
		budget.row(true)
		return budget.check(r.rejected.Load(), r.topReasons)
	}
	sampled := 0
	sample := func(m *mapped, o *outcome) {
		if r.cfg.Sample == nil || sampled >= r.cfg.SampleRows {
			return
		}
		sampled++
		s := Sample{Pos: o.pos, Raw: o.raw}
		if o.kind == outMessage {
			s.Message = bytes.Clone(m.buf[o.start:o.end]) // m.buf is reused
		} else {
			s.Err = o.err
		}
		r.cfg.Sample(s)
	}
	process := func(m *mapped) error {
		for i := range m.outs {
			o := &m.outs[i]
			if cut {
				cut = false
				if err := emit(batcher.Flush(), mark{File: m.file, Pos: o.pos}); err != nil {
					return err
				}
			}
			r.read.Add(1)
			sample(m, o)
			switch o.kind {
			case outReject:
				if err := reject(m.file, o); err != nil {
					return err
				}
				continue
			case outFiltered:
				cur.count(m.file, func(t *tally) { t.Read++; t.Filtered++ })
				r.filtered.Add(1)
				budget.row(false)
				continue
			}
			full, err := batcher.AddEncoded(m.buf[o.start:o.end])
			if err != nil {
				o.err = fmt.Errorf("%s: %w", o.pos, err)
				if err := reject(m.file, o); err != nil {
					return err
				}
				continue
			}
			budget.row(false)
			if full != nil {
				// The message starts the next batch, and its row the next range.
				if err := emit(full, mark{File: m.file, Pos: o.pos}); err != nil {
					return err
				}
			}
			cur.positions = append(cur.positions, o.pos)
			cur.files = append(cur.files, int32(m.file))
			cur.count(m.file, func(t *tally) { t.Read++ })
		}
		return nil
	}
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
		waiting[m.seq] = m
		for {
			m, ok := waiting[next]
			if !ok {
				break
			}
			delete(waiting, next)
			next++
			if err := process(m); err != nil {
				return err
			}
			r.freeMapped(m)
		}
	}
	if err := ctx.Err(); err != nil {
		// Reading stopped early: the input did not end here. The last
		// range is left open, its rows read again on resume; ending it at
		// the end of the input would settle rows never read.
		return err
	}
	if len(waiting) > 0 {
		return fmt.Errorf("map stage: %d blocks of rows out of order", len(waiting))
	}
	return emit(batcher.Flush(), mark{File: len(r.sources)})
}
