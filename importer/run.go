package importer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/backfillhq/backfill/mappings"
	"github.com/backfillhq/backfill/readers"
	"github.com/backfillhq/backfill/sink"
)

// blockSize is how many rows the read stage hands on at once.
const blockSize = 512

// A range of rows is cut early when the rejects it holds (kept in memory
// until the range is settled) reach either bound.
const (
	maxRangeRejects     = 1000
	maxRangeRejectBytes = 4 << 20
)

// item is one row read, or the error that made it malformed.
type item struct {
	row readers.Row
	err *readers.RowError
}

func (it *item) pos() readers.Position {
	if it.err != nil {
		return it.err.Pos
	}
	return it.row.Pos
}

// block is a run of rows of one source, handed from the read stage to the map
// stage in one channel send.
type block struct {
	seq    int64 // the block's place among all blocks of the run
	file   int   // index of the source
	src    *readers.Source
	schema []string
	items  []item
}

// run holds the state of one import shared by its stages.
type run struct {
	cfg         Config
	sources     []readers.Source
	files       []CheckpointFile // nil without a checkpoint
	options     map[string]string
	started     time.Time
	rejects     *rejectsFile
	tracker     *tracker
	bytes       atomic.Int64
	interrupted func() bool
	// startDelivered is the count of rows delivered by earlier runs.
	startDelivered int64

	// Live counts, for progress: rows read, and settled as they happen.
	read, delivered, rejected, filtered, batches atomic.Int64
	// reasons counts the rejects of this run by reason, with examples.
	reasons reasons
	// blocks counts the blocks the read stage handed on.
	blocks int64

	// selectCols are the columns the spec reads, for readers that can
	// skip the others; nil when it needs them all.
	selectCols []string

	itemsPool  sync.Pool // of *[]item; see newItems
	mappedPool sync.Pool // of *mapped; see newMapped
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
// *CheckpointMismatchError (ErrCheckpointMismatch). The returned
// Report is meaningful in every case and its counts add up. Errors name the
// file, the row and the cause; a refused write key wraps sink.ErrUnauthorized.
func Run(ctx context.Context, cfg Config) (Report, error) {
	start := time.Now()
	if err := cfg.Validate(); err != nil {
		return Report{}, err
	}
	cfg = cfg.withDefaults()
	r := &run{cfg: cfg, started: start.UTC(), interrupted: func() bool { return ctx.Err() != nil }}
	if cfg.Spec != nil && cfg.Reader.Select == nil {
		// Formats that can skip columns (Parquet) read only those the
		// mapping uses. The choice follows from the spec, which the
		// checkpoint records, so it is not an option of its own.
		if cols, all := cfg.Spec.Columns(); !all {
			r.selectCols = cols
		}
	}
	if r.cfg.Reader.Progress == nil {
		r.cfg.Reader.Progress = &r.bytes
	}
	sources, err := readers.Expand(cfg.Sources, cfg.Reader)
	if err != nil {
		return Report{}, err
	}
	r.sources = sources
	r.options = r.optionSet()
	var total int64
	for _, s := range sources {
		total += s.Size
	}

	// Refuse a spec that cannot work before reading any data.
	var schemaless mappings.Mapper
	if cfg.Spec == nil {
		schemaless = mappings.Passthrough(cfg.Mapping)
	}

	cp, from, err := r.resume()
	if err != nil {
		return Report{}, err
	}
	if cp != nil && (cp.Complete || from.File == len(sources)) {
		rep := reportFrom(cp, len(sources), total)
		rep.AlreadyComplete = true
		rep.CheckpointPath = cfg.CheckpointPath
		return rep, nil
	}
	var offset int64
	var total0 tally
	var byReason map[string]int64
	var fileTallies []tally
	if cp != nil {
		offset = cp.RejectsOffset
		total0 = tally{Read: cp.Totals.Read, Delivered: cp.Totals.Delivered, Rejected: cp.Totals.Rejected, Filtered: cp.Totals.Filtered}
		byReason = cp.Totals.RejectedByReason
		fileTallies = make([]tally, len(sources))
		for i, f := range cp.Files {
			fileTallies[i] = tally{Read: f.Read, Delivered: f.Delivered, Rejected: f.Rejected, Filtered: f.Filtered}
			if i < from.File {
				r.cfg.Reader.Progress.Add(sources[i].Size)
			}
		}
		r.startDelivered = total0.Delivered
		r.read.Store(total0.Read)
		r.delivered.Store(total0.Delivered)
		r.rejected.Store(total0.Rejected)
		r.filtered.Store(total0.Filtered)
	}
	r.rejects, err = openRejects(cfg.RejectsPath, cp != nil, offset)
	if err != nil {
		return Report{}, err
	}
	r.rejects.crash = r.crash
	r.tracker = newTracker(r.cfg.MaxInFlight, len(sources), r.rejects, r.files != nil, from, total0, byReason, fileTallies)
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
	complete := err == nil
	if r.files != nil {
		if cerr := r.writeCheckpoint(complete); err == nil && cerr != nil {
			err, complete = cerr, false
		}
	}
	r.crash(crashRunEnded)
	stopProgress()

	rep := r.report(len(sources), total, time.Since(start))
	rep.Complete = complete
	rep.Resumed = cp != nil
	rep.CheckpointPath = cfg.CheckpointPath
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

// optionSet returns the options a checkpoint must match: the caller's,
// then the identity of the import that Run computes itself, which no
// caller's option overrides: the mapping, the time window, the
// destination, and the options of reading and batching. The keys and
// values are those the command recorded before Run computed them, so that
// older checkpoints still match.
func (r *run) optionSet() map[string]string {
	o := map[string]string{}
	for k, v := range r.cfg.Options {
		o[k] = v
	}
	o["mapping"] = "passthrough"
	if r.cfg.Spec != nil {
		o["mapping"] = r.cfg.Spec.Fingerprint()
	}
	delete(o, "since")
	delete(o, "until")
	delete(o, "future_tolerance")
	if m := r.cfg.Mapping; !m.Since.IsZero() {
		o["since"] = m.Since.UTC().Format(time.RFC3339Nano)
	}
	if m := r.cfg.Mapping; !m.Until.IsZero() {
		o["until"] = m.Until.UTC().Format(time.RFC3339Nano)
	}
	if ft := r.cfg.Mapping.FutureTolerance; ft != 0 {
		o["future_tolerance"] = ft.String()
	}
	o["destination"] = r.cfg.Destination
	ro := r.cfg.Reader
	o["format"] = ro.Format
	o["max_line_bytes"] = strconv.Itoa(ro.MaxLineBytes)
	if ro.Delimiter != 0 {
		o["delimiter"] = string(ro.Delimiter)
	}
	if len(ro.Columns) > 0 {
		b, _ := json.Marshal(ro.Columns)
		o["columns"] = string(b)
	}
	if ro.Null != nil {
		b, _ := json.Marshal(ro.Null)
		o["null"] = string(b)
	}
	if ro.Select != nil {
		b, _ := json.Marshal(ro.Select)
		o["select"] = string(b)
	}
	l := r.cfg.Limits
	o["limits"] = fmt.Sprintf("%d/%d/%d", l.MaxBatchBytes, l.MaxMessageBytes, l.MaxMessages)
	return o
}

// resume loads the checkpoint, if the run keeps one, and returns it with the
// mark to start reading from. A checkpoint of another import is an error.
func (r *run) resume() (*Checkpoint, mark, error) {
	path := r.cfg.CheckpointPath
	if path == "" {
		return nil, mark{}, nil
	}
	for _, s := range r.sources {
		if s.Path == "-" {
			return nil, mark{}, nil // stdin cannot be read again: no checkpoint
		}
	}
	r.files = make([]CheckpointFile, len(r.sources))
	for i, s := range r.sources {
		f, err := fileOf(s)
		if err != nil {
			return nil, mark{}, err
		}
		r.files[i] = f
	}
	if r.cfg.Restart {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, mark{}, fmt.Errorf("checkpoint: %w", err)
		}
		return nil, mark{}, nil
	}
	cp, err := LoadCheckpoint(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, mark{}, nil
	}
	if err != nil {
		return nil, mark{}, err
	}
	if err := cp.match(path, r.files, r.options, r.cfg.RejectsPath); err != nil {
		return nil, mark{}, err
	}
	r.started = cp.Started
	for i, f := range cp.Files {
		switch f.Status {
		case StatusPartial:
			return cp, mark{File: i, Pos: *f.Resume}, nil
		case StatusPending:
			return cp, mark{File: i}, nil
		}
	}
	return cp, mark{File: len(r.sources)}, nil
}

// pipeline runs the stages: read → map and batch → send, with the
// checkpoint writer beside them.
func (r *run) pipeline(ctx context.Context, from mark, schemaless mappings.Mapper) error {
	// Failures cancel base; the end of ctx only stops reading, and, after
	// the drain timeout, sending.
	base, fail := context.WithCancelCause(context.WithoutCancel(ctx))
	defer fail(nil)
	g, gctx := errgroup.WithContext(base)
	readCtx, cancelRead := context.WithCancel(gctx)
	defer cancelRead()
	sendCtx, cancelSend := context.WithCancel(gctx)
	defer cancelSend()
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

	var ckErr error
	ckDone := make(chan struct{})
	if r.files != nil {
		go func() {
			defer close(ckDone)
			if err := r.checkpointLoop(finished); err != nil {
				ckErr = err
				fail(err)
			}
		}()
	} else {
		close(ckDone)
	}

	workers := max(1, runtime.GOMAXPROCS(0))
	blocks := make(chan block, 2*workers)
	results := make(chan *mapped, 2*workers)
	jobs := make(chan *job, r.cfg.Concurrency)
	g.Go(func() error {
		defer close(blocks)
		return r.quiet(r.readAll(readCtx, from, blocks))
	})
	var mappers sync.WaitGroup
	cache := &mapperCache{}
	for range workers {
		mappers.Add(1)
		g.Go(func() error {
			defer mappers.Done()
			return r.quiet(r.mapWorker(readCtx, blocks, results, schemaless, cache))
		})
	}
	g.Go(func() error {
		mappers.Wait()
		close(results)
		return nil
	})
	g.Go(func() error {
		defer close(jobs)
		return r.quiet(r.assemble(readCtx, results, jobs))
	})
	for range r.cfg.Concurrency {
		g.Go(func() error { return r.sendAll(readCtx, sendCtx, jobs) })
	}
	err := g.Wait()
	if cause := context.Cause(base); cause != nil && !errors.Is(cause, context.Canceled) {
		err = cause
	}
	// Stop the drain timer and the checkpoint writer before the final write.
	close(finished)
	<-ckDone
	if ckErr != nil {
		err = ckErr
	}
	if ctx.Err() != nil && (err == nil || errors.Is(err, context.Canceled)) {
		err = fmt.Errorf("interrupted: %w", ctx.Err())
	}
	return err
}

// quiet turns the error of a stage stopped by the end of the run's context
// into nil, so that the batches already being sent can drain.
func (r *run) quiet(err error) error {
	if err != nil && r.interrupted() && errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// readAll reads the sources from the mark on and hands their rows on in
// blocks.
func (r *run) readAll(ctx context.Context, from mark, out chan<- block) error {
	for i := from.File; i < len(r.sources); i++ {
		var at *readers.Position
		if i == from.File && from.Pos.Row > 0 {
			at = &from.Pos
		}
		if err := r.readSource(ctx, i, at, out); err != nil {
			return err
		}
	}
	return nil
}

func (r *run) readSource(ctx context.Context, file int, at *readers.Position, out chan<- block) error {
	src := &r.sources[file]
	opts := r.cfg.Reader
	if r.selectCols != nil {
		opts.Select = r.selectCols
	}
	rd, err := readers.Open(ctx, *src, opts, at)
	if err != nil {
		return err
	}
	defer rd.Close()
	var schema []string
	if s, ok := rd.(readers.Schemer); ok {
		schema = s.Schema()
	}
	blk := block{file: file, src: src, schema: schema, items: r.newItems()}
	send := func() error {
		if len(blk.items) == 0 {
			return nil
		}
		blk.seq = r.blocks
		r.blocks++
		select {
		case out <- blk:
		case <-ctx.Done():
			return ctx.Err()
		}
		blk.items = r.newItems()
		return nil
	}
	for {
		row, err := rd.Next(ctx)
		if err == io.EOF {
			return send()
		}
		if err == nil {
			blk.items = append(blk.items, item{row: row})
		} else if rowErr, ok := errors.AsType[*readers.RowError](err); ok {
			blk.items = append(blk.items, item{err: rowErr})
		} else {
			return err
		}
		if len(blk.items) == blockSize {
			if err := send(); err != nil {
				return err
			}
		}
	}
}

// Outcomes of a row in the map stage.
const (
	outMessage = iota
	outReject
	outFiltered
)

// outcome is what the map stage made of one row: a message (its JSON at
// buf[start:end] of its block), or why there is none.
type outcome struct {
	kind       uint8
	pos        readers.Position
	start, end int
	err        error
	raw        []byte // for rejects, and for samples
}

// mapped is a block of rows as the map workers leave it.
type mapped struct {
	seq  int64
	file int
	buf  []byte // the JSON of the block's messages, one after the other
	outs []outcome
}

// The stages hand blocks of rows and of mapped messages on through free
// lists rather than allocating (and the runtime clearing) new ones for
// every block: most of what an import allocates otherwise. A reused items
// slice keeps the rows it last held reachable until they are overwritten,
// which the few blocks in flight bound.

// newItems returns an empty items slice with room for a block.
func (r *run) newItems() []item {
	if p, ok := r.itemsPool.Get().(*[]item); ok {
		return (*p)[:0]
	}
	return make([]item, 0, blockSize)
}

// freeItems hands the items slice of a block that was mapped back.
func (r *run) freeItems(items []item) {
	r.itemsPool.Put(&items)
}

// newMapped returns a mapped block with n outcomes, to be set, and an empty
// buffer.
func (r *run) newMapped(seq int64, file, n int) *mapped {
	m, ok := r.mappedPool.Get().(*mapped)
	if !ok {
		m = &mapped{buf: make([]byte, 0, 384*n)}
	}
	m.seq, m.file, m.buf = seq, file, m.buf[:0]
	if cap(m.outs) < n {
		m.outs = make([]outcome, n)
	}
	m.outs = m.outs[:n]
	return m
}

// freeMapped hands a block back once its messages were copied into
// batches and its rejects recorded.
func (r *run) freeMapped(m *mapped) {
	r.mappedPool.Put(m)
}

// mapperCache compiles the spec once per source file, for every worker.
type mapperCache struct {
	mu      sync.Mutex
	mappers map[int]mappings.Mapper
}

func (c *mapperCache) get(r *run, blk *block) (mappings.Mapper, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m, ok := c.mappers[blk.file]; ok {
		return m, nil
	}
	m, err := r.cfg.Spec.Compile(blk.schema, r.cfg.Mapping)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", blk.src.Path, err)
	}
	if c.mappers == nil {
		c.mappers = map[int]mappings.Mapper{}
	}
	c.mappers[blk.file] = m
	return m, nil
}

// mapWorker maps and encodes blocks of rows. Several run at once; the
// assembler puts their blocks back in order.
func (r *run) mapWorker(ctx context.Context, in <-chan block, out chan<- *mapped, schemaless mappings.Mapper, cache *mapperCache) error {
	keepRaw := r.cfg.Sample != nil
	w := sink.NewMessageWriter(r.cfg.Limits)
	for {
		var blk block
		var ok bool
		select {
		case blk, ok = <-in:
		case <-ctx.Done():
			return ctx.Err()
		}
		if !ok {
			return nil
		}
		mapper := schemaless
		if r.cfg.Spec != nil {
			var err error
			if mapper, err = cache.get(r, &blk); err != nil {
				return err
			}
		}
		m := r.newMapped(blk.seq, blk.file, len(blk.items))
		// Every row goes the same way, previews and imports alike: the
		// mapper writes its message into the block's buffer.
		w.Reset(m.buf)
		for i := range blk.items {
			it, o := &blk.items[i], &m.outs[i]
			*o = outcome{pos: it.pos()}
			if it.err != nil {
				o.kind, o.err, o.raw = outReject, it.err, it.err.Raw
				continue
			}
			row := &it.row
			start := w.Len()
			if err := mapper.Map(row, w); err != nil {
				o.kind, o.err = outReject, err
				if errors.Is(err, mappings.ErrFiltered) {
					o.kind = outFiltered
				}
				if o.kind == outReject || keepRaw {
					o.raw = rawRow(row)
				}
				continue
			}
			o.kind, o.start, o.end = outMessage, start, w.Len()
			if keepRaw {
				o.raw = rawRow(row)
			}
		}
		m.buf = w.Bytes()
		r.freeItems(blk.items)
		select {
		case out <- m:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

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
			j.addReject(newReject(pos, m.Reason, cause, j.batch.Message(m.Index)))
			refused[m.Index] = m.Reason
			r.reasons.add(m.Reason, cause.Error())
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
	r.delivered.Add(int64(n - len(refused)))
	r.rejected.Add(int64(len(refused)))
	r.batches.Add(1)
	return r.tracker.done(j)
}

// topReasons returns the five most frequent reject reasons of this run.
func (r *run) topReasons() []ReasonCount { return r.reasons.top(5) }

// ReasonInvalidRow is the reject reason of a row refused with an error
// that carries no reason of its own (no RejectReason method). Every error
// of readers, mappings and sink carries one, so this reason in a rejects
// file points to a gap in them; the row's error says what went wrong.
const ReasonInvalidRow = "invalid_row"

// reasonOf returns the stable reject reason an error carries, or
// ReasonInvalidRow.
func reasonOf(err error) string {
	var rr interface{ RejectReason() string }
	if errors.As(err, &rr) {
		return rr.RejectReason()
	}
	return ReasonInvalidRow
}

// rawRow returns the row's bytes as read, or for formats without them a JSON
// object of its columns.
func rawRow(row *readers.Row) []byte {
	if row.Raw != nil {
		return row.Raw
	}
	obj := make(sink.Fields, row.Len())
	for i, name := range row.Names() {
		obj[i] = sink.Field{Key: name, Value: row.Value(i)}
	}
	b, err := sink.AppendValue(nil, obj)
	if err != nil {
		b, _ = json.Marshal(fmt.Sprint(row.AllValues()))
	}
	return b
}

// checkpointLoop writes a checkpoint when batches were acknowledged and
// either the interval passed or half the in-flight slots wait for a write,
// until stop is closed.
func (r *run) checkpointLoop(stop <-chan struct{}) error {
	interval := r.cfg.CheckpointInterval
	var tick <-chan time.Time
	if interval > 0 {
		t := time.NewTicker(interval)
		defer t.Stop()
		tick = t.C
	}
	last := time.Now()
	for {
		select {
		case <-stop:
			return nil
		case <-r.tracker.wake:
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
		Options:       r.options,
		Files:         make([]CheckpointFile, len(r.files)),
		RejectsFile:   r.cfg.RejectsPath,
		RejectsOffset: s.rejectsOffset,
		Complete:      complete && s.committed.File == len(r.files),
		Started:       r.started,
		Updated:       time.Now().UTC(),
		Totals: CheckpointTotals{
			Read: s.total.Read, Delivered: s.total.Delivered, Rejected: s.total.Rejected,
			RejectedByReason: s.byReason, Filtered: s.total.Filtered,
		},
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
		cp.Files[i] = f
	}
	if err := cp.save(r.cfg.CheckpointPath, r.crash); err != nil {
		return err
	}
	r.tracker.release(s.undurable)
	return nil
}

func (r *run) transport() Transport {
	if r.cfg.Stats == nil {
		return Transport{}
	}
	return r.cfg.Stats.Transport()
}

// report sums up the run. Rejects and filtered rows count once settled;
// delivered rows count once acknowledged.
func (r *run) report(files int, total int64, d time.Duration) Report {
	committed, byReason := r.tracker.counts()
	rep := Report{
		Files:            files,
		BytesTotal:       total,
		RowsRead:         r.read.Load(),
		Delivered:        r.delivered.Load(),
		Rejected:         committed.Rejected,
		RejectedByReason: byReason,
		Filtered:         committed.Filtered,
		Batches:          r.batches.Load(),
		Transport:        r.transport(),
		DurationSeconds:  d.Seconds(),
		RejectsFile:      r.cfg.RejectsPath,
		TopReasons:       r.reasons.top(10),
	}
	rep.Unsettled = rep.RowsRead - rep.Delivered - rep.Rejected - rep.Filtered
	if d > 0 {
		rep.EventsPerSecond = float64(rep.Delivered-r.startDelivered) / d.Seconds()
	}
	return rep
}

// reportFrom sums up an import that a checkpoint says is finished.
func reportFrom(cp *Checkpoint, files int, total int64) Report {
	byReason := cp.Totals.RejectedByReason
	if byReason == nil {
		byReason = map[string]int64{}
	}
	return Report{
		Files:            files,
		BytesTotal:       total,
		RowsRead:         cp.Totals.Read,
		Delivered:        cp.Totals.Delivered,
		Rejected:         cp.Totals.Rejected,
		RejectedByReason: byReason,
		Filtered:         cp.Totals.Filtered,
		RejectsFile:      cp.RejectsFile,
		Complete:         true,
	}
}

// startProgress calls cfg.Progress every interval until the returned function
// is called.
func (r *run) startProgress(total int64, start time.Time) (stop func()) {
	if r.cfg.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(r.cfg.ProgressInterval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				r.progress(total, start, false)
			case <-done:
				return
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func (r *run) progress(total int64, start time.Time, final bool) {
	if r.cfg.Progress == nil {
		return
	}
	r.cfg.Progress(Progress{
		BytesRead:  r.cfg.Reader.Progress.Load(),
		BytesTotal: total,
		RowsRead:   r.read.Load(),
		Delivered:  r.delivered.Load(),
		Rejected:   r.rejected.Load(),
		Filtered:   r.filtered.Load(),
		Transport:  r.transport(),
		Elapsed:    time.Since(start),
		Final:      final,
	})
}
