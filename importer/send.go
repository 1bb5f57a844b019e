package importer

import (
	"context"
	"errors"
	"fmt"

	"github.com/backfillhq/backfill/sink"
)

// sendAll sends batches until there are no more, or until reading was
// interrupted, and settles their rows.
//
// A job taken from in is always sent, even when reading was interrupted
// meanwhile: the jobs before it may be in flight on other senders, and
// dropping it would leave a gap that keeps the checkpoint from recording
// them. Jobs not yet taken are left, and read again on resume.
func (r *run) sendAll(readCtx, sendCtx context.Context, in <-chan *job) error {
	for {
		if readCtx.Err() != nil {
			return nil
		}
		var j *job
		var ok bool
		select {
		case j, ok = <-in:
		case <-sendCtx.Done():
			return r.quiet(sendCtx.Err())
		}
		if !ok {
			return nil
		}
		if err := r.send(sendCtx, j); err != nil {
			return r.quiet(err)
		}
	}
}

// send sends the batch of j and settles its rows: delivered, or rejected
// when the destination refused their messages. An error is one that
// retrying within the sink did not cure; it ends the run.
func (r *run) send(ctx context.Context, j *job) error {
	n := j.batch.Len()
	err := r.cfg.Sink.Send(ctx, j.batch)
	var rej *sink.RejectedError
	refused := map[int]string{}
	switch {
	case err == nil:
	case errors.As(err, &rej):
		if j.multi != nil {
			r.refuseMessages(j, rej, refused)
			break
		}
		for _, m := range rej.Messages {
			pos := j.positions[m.Index]
			cause := fmt.Errorf("%s: refused by the destination: %s", pos, m.Detail)
			rej := newReject(pos, m.Reason, cause, j.batch.Message(m.Index))
			rej.Format, rej.RawIs = r.inputs[j.files[m.Index]].format, RawIsMessage
			j.addReject(rej)
			refused[m.Index] = m.Reason
			r.reasons.add(m.Reason, cause)
		}
	default:
		first, last := j.positions[0], j.positions[n-1]
		return fmt.Errorf("send batch of %d messages (%s to %s): %w", n, first, last, err)
	}
	r.crash(crashBatchAcked)
	rowsRefused := int64(len(refused))
	if j.multi != nil {
		rowsRefused = settleRows(j, refused)
	} else {
		for i, f := range j.files {
			if _, ok := refused[i]; ok {
				j.count(int(f), func(t *tally) { t.Rejected++ })
			} else {
				j.count(int(f), func(t *tally) { t.Delivered++ })
			}
		}
	}
	j.batch.Release()
	j.batch = nil
	r.recycle(j)
	r.rejectsSeen.Add(rowsRefused)
	r.batches.Add(1)
	r.tracker.done(j)
	return nil
}

// refuseMessages records the messages of a mapping of several messages
// per row that the destination refused: a rejects line for each, naming
// its entry, of which the first of each row counts the row's reason.
func (r *run) refuseMessages(j *job, rej *sink.RejectedError, refused map[int]string) {
	counted := map[int]bool{} // rows (by their first message) with a reason counted
	for _, m := range rej.Messages {
		pos, at := j.positions[m.Index], fmt.Sprintf("messages[%d]", j.multi[m.Index].entry)
		cause := fmt.Errorf("%s: %s: refused by the destination: %s", pos, at, m.Detail)
		rj := newReject(pos, m.Reason, cause, j.batch.Message(m.Index))
		rj.Format, rj.RawIs, rj.Message = r.inputs[j.files[m.Index]].format, RawIsMessage, at
		row := rowStart(j.multi, m.Index)
		rj.again = counted[row]
		if !rj.again {
			counted[row] = true
			r.reasons.add(m.Reason, cause)
		}
		j.addReject(rj)
		refused[m.Index] = m.Reason
	}
}

// rowStart returns the index of the first message of the row of message i.
func rowStart(multi []entryMessage, i int) int {
	for i > 0 && !multi[i].first {
		i--
	}
	return i
}

// settleRows counts the rows and messages of a job of a mapping of
// several messages per row once its batch is sent: a message is
// delivered or, when the destination refused it, rejected; a row is
// rejected when any of its messages is, else delivered. It returns the
// rows rejected.
func settleRows(j *job, refused map[int]string) int64 {
	var rows int64
	for i := 0; i < len(j.multi); {
		end := i + 1
		for end < len(j.multi) && !j.multi[end].first {
			end++
		}
		var delivered, rejected int64
		for k := i; k < end; k++ {
			if _, ok := refused[k]; ok {
				rejected++
			} else {
				delivered++
			}
		}
		j.count(int(j.files[i]), func(t *tally) {
			t.Messages.Delivered += delivered
			t.Messages.Rejected += rejected
			if rejected > 0 {
				t.Rejected++
			} else {
				t.Delivered++
			}
		})
		if rejected > 0 {
			rows++
		}
		i = end
	}
	return rows
}
