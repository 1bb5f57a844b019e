package importer

import (
	"time"
)

// commitLoop is the commit stage, the one place where a run writes while
// its rows are imported, in order: it commits the jobs the tracker found
// settled, writing their rejects outside the tracker's lock, and, when the
// run keeps a checkpoint, writes one when batches were acknowledged and
// either the interval passed or half the in-flight slots wait for a write.
// Once stop is closed it commits the jobs still due and returns; the
// stages that settle jobs have all returned by then.
func (r *run) commitLoop(stop <-chan struct{}) error {
	c := committer{r: r}
	interval := r.cfg.CheckpointInterval
	var tick <-chan time.Time
	if r.files != nil && interval > 0 {
		t := time.NewTicker(interval)
		defer t.Stop()
		tick = t.C
	}
	last := time.Now()
	for {
		select {
		case <-stop:
			return c.commitDue()
		case <-r.tracker.wake:
			if err := c.commitDue(); err != nil {
				return err
			}
			if r.files == nil {
				continue
			}
			dirty, waiting := r.tracker.pending()
			if !dirty || (interval > 0 && 2*waiting < r.cfg.MaxInFlight && time.Since(last) < interval) {
				continue
			}
		case <-tick:
			if dirty, _ := r.tracker.pending(); !dirty {
				continue
			}
		}
		if err := r.writeCheckpoint(false); err != nil {
			return err
		}
		last = time.Now()
	}
}

// committer commits due jobs for the commit stage.
type committer struct {
	r   *run
	due []*job // reused between calls
}

// commitDue commits the due jobs in order: it writes each job's rejects to
// the rejects file, then moves the watermark past the job with the file's
// new size, so that a checkpoint never covers a reject not yet written.
func (c *committer) commitDue() error {
	r := c.r
	c.due = r.tracker.takeDue(c.due)
	for i, j := range c.due {
		for k := range j.rejects {
			if err := r.rejects.write(j.rejects[k]); err != nil {
				return err
			}
		}
		r.tracker.commit(j, r.rejects.size())
		c.due[i] = nil
	}
	return nil
}

// writeCheckpoint records the committed state: first the rejects it covers,
// then the checkpoint, and only then frees the slots of the jobs it covers.
func (r *run) writeCheckpoint(complete bool) error {
	s := r.tracker.snapshot()
	if err := r.rejects.flush(); err != nil {
		return err
	}
	r.crash(crashRejectsFlushed)
	cp := &Checkpoint{
		Version:       CheckpointVersion,
		Command:       r.cfg.Command,
		Dir:           r.dir,
		Preview:       r.cfg.Preview,
		Options:       r.options,
		Files:         make([]CheckpointFile, len(r.files)),
		RejectsFile:   r.cfg.RejectsPath,
		RejectsOffset: s.rejectsOffset,
		Runs:          r.runs,
		Complete:      complete && s.committed.File == len(r.files),
		Started:       r.started,
		Updated:       time.Now().UTC(),
		Totals: CheckpointTotals{
			Read: s.total.Read, Delivered: s.total.Delivered, Rejected: s.total.Rejected,
			RejectedByReason: s.byReason, Filtered: s.total.Filtered,
			FilteredByRule: s.filteredBy,
		},
	}
	if r.cfg.Spec != nil && r.cfg.Spec.Entries() > 0 {
		msgs := s.total.Messages
		cp.Totals.FilteredNoMessage, cp.Totals.Messages = s.total.NoMessage, &msgs
	}
	for i, f := range r.files {
		t := s.files[i]
		f.Read, f.Delivered, f.Rejected, f.Filtered = t.Read, t.Delivered, t.Rejected, t.Filtered
		switch {
		case i < s.committed.File:
			f.Status = StatusDone
		case i == s.committed.File && s.committed.Pos.Row > 0:
			f.Status = StatusPartial
			pos := s.committed.Pos
			f.Resume = &pos
		default:
			f.Status = StatusPending
		}
		if i < len(s.prefixes) && s.prefixes[i].ok && f.Status != StatusPending {
			f.Hashed, f.ContentCRC = s.prefixes[i].d.Offset, s.prefixes[i].d.Hex()
		}
		cp.Files[i] = f
	}
	if err := r.saveCheckpoint(cp); err != nil {
		return err
	}
	r.checkpointSaved.Store(time.Now().UnixNano())
	r.tracker.release(s.undurable)
	return nil
}
