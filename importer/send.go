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
	for i, f := range j.files {
		if _, ok := refused[i]; ok {
			j.count(int(f), func(t *tally) { t.Rejected++ })
		} else {
			j.count(int(f), func(t *tally) { t.Delivered++ })
		}
	}
	j.batch.Release()
	j.batch = nil
	r.rejectsSeen.Add(int64(len(refused)))
	r.batches.Add(1)
	r.tracker.done(j)
	return nil
}
