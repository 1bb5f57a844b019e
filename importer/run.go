package importer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

// item is one row read, or the error that made it malformed.
type item struct {
	row readers.Row
	err *readers.RowError
}

// block is a run of rows of one source, handed from the read stage to the map
// stage in one channel send.
type block struct {
	src    *readers.Source
	schema []string
	items  []item
}

// job is a batch on its way to the sink, with the position of each of its
// messages (for rejects the destination reports).
type job struct {
	batch     *sink.Batch
	positions []readers.Position
}

// run holds the state of one import shared by its stages.
type run struct {
	cfg     Config
	rejects *rejectsFile
	bytes   atomic.Int64

	read, delivered, rejected, filtered, batches atomic.Int64

	mu       sync.Mutex
	byReason map[string]int64
}

// Run imports cfg.Sources into cfg.Sink and reports what became of every row.
// It blocks until every row is delivered, rejected or filtered, or until the
// run fails or ctx ends; the returned Report is meaningful in every case and
// its counts add up. Errors name the file, the row and the cause; a refused
// write key wraps sink.ErrUnauthorized, an ended ctx wraps ctx.Err().
func Run(ctx context.Context, cfg Config) (Report, error) {
	start := time.Now()
	if err := cfg.Validate(); err != nil {
		return Report{}, err
	}
	cfg = cfg.withDefaults()
	r := &run{cfg: cfg, rejects: &rejectsFile{path: cfg.RejectsPath}, byReason: map[string]int64{}}
	if cfg.Reader.Progress == nil {
		cfg.Reader.Progress = &r.bytes
		r.cfg.Reader.Progress = &r.bytes
	}
	sources, err := readers.Expand(cfg.Sources, cfg.Reader)
	if err != nil {
		return Report{}, err
	}
	var total int64
	for _, s := range sources {
		total += s.Size
	}
	// Refuse a spec that cannot work before reading any data.
	var schemaless mappings.Mapper
	if cfg.Spec == nil {
		schemaless = mappings.Passthrough(cfg.Mapping)
	}

	stopProgress := r.startProgress(total, start)

	g, gctx := errgroup.WithContext(ctx)
	blocks := make(chan block, 4)
	jobs := make(chan *job, cfg.Concurrency)
	g.Go(func() error {
		defer close(blocks)
		return r.readAll(gctx, sources, blocks)
	})
	g.Go(func() error {
		defer close(jobs)
		return r.mapAll(gctx, blocks, jobs, schemaless)
	})
	for range cfg.Concurrency {
		g.Go(func() error { return r.sendAll(gctx, jobs) })
	}
	err = g.Wait()
	if cerr := r.rejects.close(); err == nil {
		err = cerr
	}
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	stopProgress()

	rep := r.report(len(sources), total, time.Since(start))
	rep.Complete = err == nil
	if err != nil {
		rep.Error = err.Error()
	}
	if cerr := rep.Check(); cerr != nil && err == nil {
		err = cerr
	}
	r.progress(total, start, true)
	return rep, err
}

// readAll reads every source in order and hands its rows on in blocks.
func (r *run) readAll(ctx context.Context, sources []readers.Source, out chan<- block) error {
	for i := range sources {
		if err := r.readSource(ctx, &sources[i], out); err != nil {
			return err
		}
	}
	return nil
}

func (r *run) readSource(ctx context.Context, src *readers.Source, out chan<- block) error {
	rd, err := readers.Open(ctx, *src, r.cfg.Reader, nil)
	if err != nil {
		return err
	}
	defer rd.Close()
	var schema []string
	if s, ok := rd.(readers.Schemer); ok {
		schema = s.Schema()
	}
	blk := block{src: src, schema: schema, items: make([]item, 0, blockSize)}
	send := func() error {
		if len(blk.items) == 0 {
			return nil
		}
		select {
		case out <- blk:
		case <-ctx.Done():
			return ctx.Err()
		}
		blk.items = make([]item, 0, blockSize)
		return nil
	}
	for {
		row, err := rd.Next(ctx)
		if err == io.EOF {
			return send()
		}
		var rowErr *readers.RowError
		switch {
		case errors.As(err, &rowErr):
			blk.items = append(blk.items, item{err: rowErr})
		case err != nil:
			return err
		default:
			blk.items = append(blk.items, item{row: row})
		}
		if len(blk.items) == blockSize {
			if err := send(); err != nil {
				return err
			}
		}
	}
}

// mapAll maps rows to messages and packs them into batches, in row order.
func (r *run) mapAll(ctx context.Context, in <-chan block, out chan<- *job, schemaless mappings.Mapper) error {
	batcher := sink.NewBatcher(r.cfg.Limits)
	var positions []readers.Position
	emit := func(b *sink.Batch, pos []readers.Position) error {
		select {
		case out <- &job{batch: b, positions: pos}:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	var (
		mapper  = schemaless
		lastSrc *readers.Source
		msg     sink.Message
	)
	for {
		var blk block
		var ok bool
		select {
		case blk, ok = <-in:
		case <-ctx.Done():
			return ctx.Err()
		}
		if !ok {
			break
		}
		if r.cfg.Spec != nil && blk.src != lastSrc {
			m, err := r.cfg.Spec.Compile(blk.schema, r.cfg.Mapping)
			if err != nil {
				return fmt.Errorf("%s: %w", blk.src.Path, err)
			}
			mapper, lastSrc = m, blk.src
		}
		for i := range blk.items {
			it := &blk.items[i]
			r.read.Add(1)
			if it.err != nil {
				if err := r.reject(it.err.Pos, it.err, it.err.Raw); err != nil {
					return err
				}
				continue
			}
			row := &it.row
			msg = sink.Message{}
			if err := mapper.Map(row, &msg); err != nil {
				if errors.Is(err, mappings.ErrFiltered) {
					r.filtered.Add(1)
					continue
				}
				if err := r.reject(row.Pos, err, rawRow(row)); err != nil {
					return err
				}
				continue
			}
			full, err := batcher.Add(&msg)
			if err != nil {
				if err := r.reject(row.Pos, fmt.Errorf("%s: %w", row.Pos, err), rawRow(row)); err != nil {
					return err
				}
				continue
			}
			if full != nil {
				if err := emit(full, positions); err != nil {
					return err
				}
				positions = make([]readers.Position, 0, full.Len())
			}
			positions = append(positions, row.Pos)
		}
	}
	if b := batcher.Flush(); b != nil {
		return emit(b, positions)
	}
	return nil
}

// sendAll sends batches until there are no more and settles their rows.
func (r *run) sendAll(ctx context.Context, in <-chan *job) error {
	for {
		var j *job
		var ok bool
		select {
		case j, ok = <-in:
		case <-ctx.Done():
			return ctx.Err()
		}
		if !ok {
			return nil
		}
		if err := r.send(ctx, j); err != nil {
			return err
		}
	}
}

func (r *run) send(ctx context.Context, j *job) error {
	n := j.batch.Len()
	err := r.cfg.Sink.Send(ctx, j.batch)
	var rej *sink.RejectedError
	switch {
	case err == nil:
		r.delivered.Add(int64(n))
	case errors.As(err, &rej):
		for _, m := range rej.Messages {
			pos := j.positions[m.Index]
			cause := fmt.Errorf("%s: refused by the destination: %s", pos, m.Detail)
			if werr := r.writeReject(newReject(pos, m.Reason, cause, j.batch.Message(m.Index))); werr != nil {
				return werr
			}
		}
		r.delivered.Add(int64(n - len(rej.Messages)))
	default:
		first, last := j.positions[0], j.positions[n-1]
		return fmt.Errorf("send batch of %d messages (%s to %s): %w", n, first, last, err)
	}
	r.batches.Add(1)
	return nil
}

// reject records a row that will not be sent.
func (r *run) reject(pos readers.Position, err error, raw []byte) error {
	reason := "invalid_row"
	var rr interface{ RejectReason() string }
	if errors.As(err, &rr) {
		reason = rr.RejectReason()
	}
	return r.writeReject(newReject(pos, reason, err, raw))
}

func (r *run) writeReject(rej Reject) error {
	if err := r.rejects.write(rej); err != nil {
		return err
	}
	r.mu.Lock()
	r.byReason[rej.Reason]++
	r.mu.Unlock()
	r.rejected.Add(1)
	return nil
}

// rawRow returns the row's bytes as read, or for formats without them a JSON
// object of its columns.
func rawRow(row *readers.Row) []byte {
	if row.Raw != nil {
		return row.Raw
	}
	obj := make(sink.Fields, len(row.Names))
	for i, name := range row.Names {
		obj[i] = sink.Field{Key: name, Value: row.Values[i]}
	}
	b, err := sink.AppendValue(nil, obj)
	if err != nil {
		b, _ = json.Marshal(fmt.Sprint(row.Values))
	}
	return b
}

func (r *run) transport() Transport {
	if r.cfg.Stats == nil {
		return Transport{}
	}
	return r.cfg.Stats.Transport()
}

func (r *run) report(files int, total int64, d time.Duration) Report {
	r.mu.Lock()
	byReason := make(map[string]int64, len(r.byReason))
	for k, v := range r.byReason {
		byReason[k] = v
	}
	r.mu.Unlock()
	rep := Report{
		Files:            files,
		BytesTotal:       total,
		RowsRead:         r.read.Load(),
		Delivered:        r.delivered.Load(),
		Rejected:         r.rejected.Load(),
		RejectedByReason: byReason,
		Filtered:         r.filtered.Load(),
		Batches:          r.batches.Load(),
		Transport:        r.transport(),
		DurationSeconds:  d.Seconds(),
		RejectsFile:      r.cfg.RejectsPath,
	}
	rep.Unsettled = rep.RowsRead - rep.Delivered - rep.Rejected - rep.Filtered
	if d > 0 {
		rep.EventsPerSecond = float64(rep.Delivered) / d.Seconds()
	}
	return rep
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
