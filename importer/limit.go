package importer

import (
	"context"
	"errors"
	"io"

	"github.com/backfillhq/backfill/readers"
)

// A run with Config.Limit reads no further than the first Limit rows of the
// import (rows earlier runs settled included), as if the input ended
// there. The read stage reads the row after the last one it hands on, to
// learn where the rest begins: that mark, not the end of the input, ends
// the last job, so that the checkpoint resumes at the next row and says
// the import is not complete.

// errLimit stops the read stage of a source at the limit.
var errLimit = errors.New("the limit of rows is reached")

// limitState is the read stage's count towards Config.Limit and where it
// stopped. The read stage writes it before it closes its output; the
// assembler and Run read it after.
type limitState struct {
	on      bool
	left    int64 // rows the read stage may still hand on
	reached bool  // rows remain after the limit
	end     mark  // with reached: where the rows after the limit begin
}

// startLimit sets how many rows the run may read: the limit less the rows
// settled before the resume mark.
func (r *run) startLimit() {
	if r.cfg.Limit > 0 {
		r.limit = limitState{on: true, left: max(0, r.cfg.Limit-r.read.Load())}
	}
}

// limitAt stops the run before any row of source file from at, when no
// row is left to read: the rest of the input begins there.
func (r *run) limitAt(file int, at *readers.Position) bool {
	if !r.limit.on || r.limit.left > 0 {
		return false
	}
	r.limit.reached, r.limit.end = true, mark{File: file}
	if at != nil {
		r.limit.end.Pos = *at
	}
	return true
}

// limitRow counts a row handed on, and reports whether it was the last
// one the limit allows.
func (r *run) limitRow() bool {
	if !r.limit.on {
		return false
	}
	r.limit.left--
	return r.limit.left == 0
}

// stopAtLimit ends the reading of source file, whose reader rd has just
// returned the last row the limit allows: it reads the next row to learn
// where the rest of the input begins, hands on the rows read, and returns
// errLimit.
func (r *run) stopAtLimit(ctx context.Context, rd readers.Reader, file int, prefix *prefixRecorder, g *gate, blk *block, out chan<- block) error {
	row, err := rd.Next(ctx)
	switch {
	case err == io.EOF:
		prefix.record()
		r.limit.reached, r.limit.end = file+1 < len(r.sources), mark{File: file + 1}
	case err == nil:
		r.limit.reached, r.limit.end = true, mark{File: file, Pos: row.Pos}
	default:
		rowErr, ok := errors.AsType[*readers.RowError](err)
		if !ok {
			return err
		}
		r.limit.reached, r.limit.end = true, mark{File: file, Pos: rowErr.Pos}
	}
	if err := r.pass(ctx, g, blk, out, true); err != nil {
		return err
	}
	return errLimit
}

// inputEnd is where the last job of the run ends: the end of the input,
// or where the rows after the limit begin.
func (r *run) inputEnd() mark {
	if r.limit.reached {
		return r.limit.end
	}
	return mark{File: len(r.sources)}
}
