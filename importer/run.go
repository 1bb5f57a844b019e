package importer

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/backfillhq/backfill/mappings"
	"github.com/backfillhq/backfill/readers"
)

// run holds the state of one import shared by its stages.
type run struct {
	cfg         Config
	bucket      *bucketCheckpoint // the checkpoint, when it is kept in a bucket
	sources     []readers.Source
	files       []CheckpointFile // nil without a checkpoint
	options     map[string]string
	started     time.Time
	dir         string // the working folder, for the checkpoint
	rejects     *rejectsFile
	tracker     *tracker
	bytes       atomic.Int64
	interrupted func() bool
	// startDelivered is the count of rows delivered by earlier runs.
	startDelivered int64

	// read counts the rows read (by the assemble stage, in order), and
	// batches the batches sent; what became of the rows the tracker
	// counts, once they are settled: that count alone is shown, reported
	// and recorded in the checkpoint.
	read, batches atomic.Int64
	// rejectsSeen counts the rejects of the import as they happen, for
	// the error budget, before they are settled.
	rejectsSeen atomic.Int64
	// budgetStop is the error budget's verdict once it is spent, and
	// stopMapping stops the read and map stages then.
	budgetStop  atomic.Pointer[BudgetError]
	stopMapping context.CancelFunc
	// checkpointSaved is when the checkpoint was last written, in Unix
	// nanoseconds; 0 before the first write.
	checkpointSaved atomic.Int64
	// reasons counts the rejects of this run by reason, with examples.
	reasons reasons
	// repeats counts the messages whose content-derived id repeats.
	repeats *repeats
	// blocks counts the blocks the read stage handed on.
	blocks int64
	// readStopped is set when reading stopped before the end of the
	// input without failing the stages after it: a source changed.
	readStopped atomic.Bool
	// brokenLinks are the links in folders and globs that lead nowhere.
	brokenLinks []string
	// archiveDays are the day folders of Segment's archive that the time
	// window skipped.
	archiveDays []string
	// limit is the read stage's count towards cfg.Limit.
	limit limitState

	// selectCols are the columns the spec reads, for readers that can
	// skip the others; nil when it needs them all.
	selectCols []string

	// prefixes are the digests of the sources' prefixes that the resumed
	// checkpoint holds, and resumePrefix the running hash up to the
	// resume position, for the reader that resumes there (prefix.go).
	prefixes     []prefixTrack
	resumePrefix *readers.Prefix

	itemsPool  sync.Pool // of *[]item; see newItems
	mappedPool sync.Pool // of *mapped; see newMapped

	// id is the run's id, in every line it writes to the rejects file,
	// and runs the ids of the import's runs, this one last.
	id   string
	runs []string
	// rejectsMoved is where the run moved an earlier rejects file aside
	// to, and rejectsCopied the rejects file of the earlier runs it
	// continues; empty if none.
	rejectsMoved, rejectsCopied string
	// inputs are, for each source, what a reject needs to write its row
	// back out; set by the read stage before it hands on the source's rows.
	inputs []inputInfo
}

// Run imports cfg.Sources into cfg.Sink and reports what became of every row.
//
// It blocks until every row is delivered, rejected or filtered, the run
// fails, or ctx ends. When ctx ends, Run stops reading, lets the batches
// being sent finish for up to cfg.DrainTimeout, writes the checkpoint and
// returns an error wrapping ctx.Err(). With cfg.CheckpointPath, Run writes
// the checkpoint, with the rejects file's size, before it reads the first
// row, so that each reject is in the rejects file once however the run
// ends. With a checkpoint that matches, Run resumes where the acknowledged
// rows end; one of another import (its identity is computed from cfg: the
// sources, the spec's fingerprint, the time window, the destination, the
// reader options, the limits) is refused before anything is sent, with a
// *CheckpointMismatchError (ErrCheckpointMismatch), and one whose content
// does not match its checksum with an error wrapping ErrCheckpointModified.
// Before reading the first row, Run checks that the rejects file can be
// written. A source whose size or modification time changes while it is
// read stops the reading there: the batches of the rows before are sent,
// the checkpoint keeps the file partial, and Run returns an error wrapping
// readers.ErrChanged. Before that, and
// before anything is sent, Run checks cfg.Spec against every source (each
// CSV header and Parquet schema, and the first PrecheckRows rows of the
// NDJSON input) and refuses a spec that does not fit one of them with a
// *PrecheckError naming every source at fault. First of all, Run takes an
// exclusive lock on the checkpoint and on the rejects file (see LockPath),
// and releases them when it returns; a run that finds either held by
// another stops before reading anything, with a *LockedError (ErrLocked)
// naming the file and the other run's process and host. When the error
// budget (MaxRejects, MaxRejectRate) is spent, Run stops reading after the
// row that spent it, settles every row it read (the batches made are
// sent, the rejects written, the checkpoint moved past that row) and
// returns a *BudgetError (ErrTooManyRejects). The returned
// Report is meaningful in every case and its counts add up. Errors name the
// file, the row and the cause; a refused write key wraps sink.ErrUnauthorized.
func Run(ctx context.Context, cfg Config) (Report, error) {
	start := time.Now()
	if err := cfg.Validate(); err != nil {
		return Report{}, err
	}
	cfg = cfg.withDefaults()
	// One run at a time per checkpoint and per rejects file, before
	// anything is read.
	id := newRunID()
	unlock, bucket, err := cfg.lockFiles(ctx, start, id)
	if err != nil {
		return Report{}, err
	}
	defer unlock()
	r := &run{cfg: cfg, started: start.UTC(), interrupted: func() bool { return ctx.Err() != nil },
		repeats: newRepeats(cfg.RepeatedIDLimit), id: id, bucket: bucket}
	if cfg.Spec != nil && cfg.Reader.Select == nil {
		// Formats that can skip columns (Parquet) read only those the
		// mapping uses. The choice follows from the spec, which the
		// checkpoint records, so it is not an option of its own.
		if cols, all := cfg.Spec.Columns(); !all {
			r.selectCols = cols
		}
	}
	if cfg.Spec != nil && cfg.Reader.Bytes == nil {
		// Parquet byte arrays of the columns the mapping declares
		// bytes are binary data, which the mapping sends as base64;
		// those of the other columns are text.
		r.cfg.Reader.Bytes = cfg.Spec.BytesColumns()
	}
	if r.cfg.Reader.Progress == nil {
		r.cfg.Reader.Progress = &r.bytes
	}
	r.cfg.Reader.BrokenLink = r.recordBrokenLink(cfg.Reader.BrokenLink)
	if r.cfg.Reader.ArchiveSince.IsZero() {
		r.cfg.Reader.ArchiveSince = cfg.Mapping.Since
	}
	r.cfg.Reader.ArchiveSkipped = r.recordArchiveDay(cfg.Reader.ArchiveSkipped)
	sources, err := readers.ExpandContext(ctx, cfg.Sources, r.cfg.Reader)
	if err != nil {
		return Report{}, err
	}
	if r.sources, err = r.withoutOwnFiles(sources); err != nil {
		return Report{}, err
	}
	if cfg.Shard.active() {
		if err := checkShardCount(ctx, cfg.CheckpointPath, cfg.Shard); err != nil {
			return Report{}, err
		}
		shard := cfg.Shard
		if cfg.Spec != nil && cfg.Spec.PositionIDs() {
			// A byte range that starts mid-file does not know the
			// ordinals of its rows, which their messageIds hold.
			shard.SplitBytes = math.MaxInt64
		}
		if r.sources, err = Parts(cfg.Sources, r.sources, r.cfg.Reader, shard); err != nil {
			return Report{}, err
		}
		if len(r.sources) == 0 {
			// No part of the sources falls to this shard: it has
			// nothing to read, and keeps no checkpoint.
			return Report{Complete: true, DeliveredLabel: cfg.DeliveredLabel, BrokenLinks: r.brokenLinks, Shard: cfg.Shard.String()}, nil
		}
	}
	sources = r.sources
	r.inputs = make([]inputInfo, len(sources))
	r.options = r.optionSet()
	r.dir, _ = os.Getwd()
	var total int64
	for _, s := range sources {
		total += partBytes(s)
	}
	// Check the mapping against every source before anything is sent,
	// or a checkpoint written.
	if err := r.precheck(ctx); err != nil {
		return Report{}, err
	}

	// Refuse a spec that cannot work before reading any data.
	var schemaless mappings.Mapper
	if cfg.Spec == nil {
		schemaless = mappings.Passthrough(cfg.Mapping)
	}

	cp, from, err := r.resume(ctx)
	if err != nil {
		return Report{}, err
	}
	if cp != nil && (cp.Complete || from.File == len(sources)) {
		rep := reportFrom(cp, len(sources), total)
		rep.AlreadyComplete = true
		rep.DeliveredLabel = cfg.DeliveredLabel
		rep.BrokenLinks = r.brokenLinks
		rep.ArchiveDaysSkipped = r.archiveDays
		rep.CheckpointPath = cfg.CheckpointPath
		return rep, nil
	}
	if err := r.restore(cp, from); err != nil {
		return Report{}, err
	}
	// What the run writes is writable before anything is sent.
	if err := r.checkWritable(); err != nil {
		return Report{}, err
	}
	if r.files != nil {
		// The checkpoint, with the rejects file's size, exists before the
		// first row is read: whatever this run appends to the rejects file
		// lies past the offset it records, and a resume cuts it back.
		r.crash(crashBeforeFirstCheckpoint)
		if err := r.writeCheckpoint(false); err != nil {
			return Report{}, err
		}
	}

	stopProgress := r.startProgress(total, start)
	err = r.pipeline(ctx, from, schemaless)
	if cerr := r.rejects.close(); err == nil {
		err = cerr
	}
	complete := err == nil && !r.limit.reached
	saved := false
	if r.files != nil {
		cerr := r.writeCheckpoint(complete)
		if err == nil && cerr != nil {
			err, complete = cerr, false
		}
		saved = cerr == nil
	}
	r.crash(crashRunEnded)
	stopProgress()

	rep := r.report(len(sources), total, time.Since(start))
	rep.Complete = complete
	if cfg.Shard.active() {
		rep.Shard = cfg.Shard.String()
	}
	rep.Limit, rep.LimitReached = cfg.Limit, r.limit.reached
	rep.Resumed = cp != nil
	rep.CheckpointPath = cfg.CheckpointPath
	rep.CheckpointSaved = saved
	if r.files == nil {
		rep.CheckpointPath = ""
	}
	if err != nil {
		rep.Error = err.Error()
	}
	if cerr := rep.Check(); cerr != nil && err == nil {
		err = cerr
	}
	r.progress(total, start, true)
	return rep, err
}

// pipeline runs the stages: read → map → assemble → send, which settle
// jobs with the tracker, and the commit stage beside them, which writes
// their rejects and the checkpoint.
func (r *run) pipeline(ctx context.Context, from mark, schemaless mappings.Mapper) error {
	// Failures cancel base; the end of ctx only stops reading, and, after
	// the drain timeout, sending.
	base, fail := context.WithCancelCause(context.WithoutCancel(ctx))
	defer fail(nil)
	g, gctx := errgroup.WithContext(base)
	readCtx, cancelRead := context.WithCancel(gctx)
	defer cancelRead()
	// The read and map stages stop when the error budget is spent too;
	// the assemble stage hands on what it made, and the senders send it.
	mapCtx, stopMapping := context.WithCancel(readCtx)
	defer stopMapping()
	r.stopMapping = stopMapping
	sendCtx, cancelSend := context.WithCancel(gctx)
	defer cancelSend()
	if ctx.Err() != nil {
		// Interrupted before the first row: read none. Later, the
		// goroutine below stops reading, and the stages see it in any
		// order; now none may start first.
		cancelRead()
	}
	finished := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			cancelRead()
			t := time.NewTimer(r.cfg.DrainTimeout)
			defer t.Stop()
			select {
			case <-t.C:
				cancelSend()
			case <-finished:
			}
		case <-finished:
		}
	}()

	// The commit stage writes the rejects, and the checkpoint if kept, in
	// order, outside the tracker's lock.
	var commitErr error
	committed := make(chan struct{})
	go func() {
		defer close(committed)
		if err := r.commitLoop(finished); err != nil {
			commitErr = err
			fail(err)
		}
	}()

	workers := max(1, runtime.GOMAXPROCS(0))
	blocks := make(chan block, 2*workers)
	results := make(chan *mapped, 2*workers)
	jobs := make(chan *job, r.cfg.Concurrency)
	// An error of a source (one that changed while it was read, a
	// damaged compressed stream, a failed read, a mapping that does not
	// fit the next file) stops the reading only: the batches of the rows
	// read before it are sent and settled, then the run fails with it
	// (see assembler.run). Batches cut off in flight could be delivered
	// without being recorded, and be sent again on resume.
	var sourceErr error
	g.Go(func() error {
		defer close(blocks)
		err := r.readAll(mapCtx, from, blocks)
		if err != nil && mapCtx.Err() == nil {
			sourceErr = err
			r.readStopped.Store(true)
			return nil
		}
		return r.quiet(err)
	})
	var mappers sync.WaitGroup
	cache := &mapperCache{}
	for range workers {
		mappers.Add(1)
		g.Go(func() error {
			defer mappers.Done()
			return r.quiet(r.mapWorker(mapCtx, blocks, results, schemaless, cache))
		})
	}
	g.Go(func() error {
		mappers.Wait()
		close(results)
		return nil
	})
	g.Go(func() error {
		defer close(jobs)
		return r.quiet(newAssembler(r, jobs).run(readCtx, results))
	})
	for range r.cfg.Concurrency {
		g.Go(func() error { return r.sendAll(readCtx, sendCtx, jobs) })
	}
	err := g.Wait()
	if cause := context.Cause(base); cause != nil && !errors.Is(cause, context.Canceled) {
		err = cause
	}
	// Stop the drain timer, and let the commit stage commit what is due
	// and stop, before the final write.
	close(finished)
	<-committed
	if commitErr != nil {
		err = commitErr
	}
	if stop := r.budgetStop.Load(); stop != nil && (err == nil || errors.Is(err, context.Canceled)) {
		err = stop
	}
	if err == nil && sourceErr != nil {
		err = sourceErr
	}
	if ctx.Err() != nil && (err == nil || errors.Is(err, context.Canceled)) {
		err = fmt.Errorf("interrupted: %w", ctx.Err())
	}
	return err
}

// stopByBudget records the error budget's verdict, which becomes the run's
// error, and stops reading and mapping rows.
func (r *run) stopByBudget(stop *BudgetError) {
	r.budgetStop.Store(stop)
	r.stopMapping()
}

// quiet turns the error of a stage stopped by the end of the run's context
// into nil, so that the batches already being sent can drain.
func (r *run) quiet(err error) error {
	if err != nil && (r.interrupted() || r.budgetStop.Load() != nil) && errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
