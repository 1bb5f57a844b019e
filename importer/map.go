package importer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/backfillhq/backfill/mappings"
	"github.com/backfillhq/backfill/readers"
	"github.com/backfillhq/backfill/sink"
)

// Outcomes of a row in the map stage.
const (
	outMessage = iota
	outReject
	outFiltered
)

// outcome is what the map stage made of one row: a message (its JSON at
// buf[start:end] of its block), or why there is none.
type outcome struct {
	kind uint8
	// derived counts the messages of the row with a content-derived id,
	// in mapped.ids.
	derived    int32
	pos        readers.Position
	start, end int
	err        error
	raw        []byte // for rejects, and for samples
	// With a mapping of several messages per row (messages:), the row's
	// messages are mapped.msgs[first:first+n], n > 0 for a row that made
	// them, which lie between start and end; skipped counts its entries
	// that made no message on purpose.
	first, n, skipped int32
}

// mapped is a block of rows as the map workers leave it.
type mapped struct {
	seq  int64
	file int
	buf  []byte // the JSON of the block's messages, one after the other
	outs []outcome
	// ids holds the first 64 bits of the content-derived messageIds of
	// the block's messages, in their order: what the count of repeated
	// ids reads, without going through outs.
	ids []uint64
	// msgs are the messages of the rows of a mapping of several per row.
	msgs []mappings.RowMessage
	// mem is the memory of the block's rows, which outs[i].raw and
	// outs[i].err may still refer to; see assembler.take.
	mem *readers.RowMemory
}

// newMapped returns a mapped block with n outcomes, to be set, and an empty
// buffer.
func (r *run) newMapped(seq int64, file, n int) *mapped {
	m, ok := r.mappedPool.Get().(*mapped)
	if !ok {
		m = &mapped{buf: make([]byte, 0, 384*n)}
	}
	m.seq, m.file, m.buf, m.ids, m.msgs = seq, file, m.buf[:0], m.ids[:0], m.msgs[:0]
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
		m.mem = blk.mem
		// Every row goes the same way, previews and imports alike: the
		// mapper writes its message into the block's buffer.
		w.Reset(m.buf)
		if multi, ok := mapper.(mappings.MultiMapper); ok {
			mapMessages(&blk, m, w, multi, keepRaw, r.cfg.Limits)
		} else {
			mapBlock(&blk, m, w, mapper, keepRaw)
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

// mapBlock maps the rows of blk into w, their outcomes into m.
func mapBlock(blk *block, m *mapped, w *sink.MessageWriter, mapper mappings.Mapper, keepRaw bool) {
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
		if h, ok := w.ContentHash(); ok {
			m.ids = append(m.ids, h)
			o.derived = 1
		}
		if keepRaw {
			o.raw = rawRow(row)
		}
	}
}

// mapMessages maps the rows of blk, with a mapping of several messages
// per row, into w, their outcomes into m.
func mapMessages(blk *block, m *mapped, w *sink.MessageWriter, mapper mappings.MultiMapper, keepRaw bool, limits sink.Limits) {
	fit := sink.NewBatcher(limits) // always empty: does a row fit in a batch?
	for i := range blk.items {
		it, o := &blk.items[i], &m.outs[i]
		*o = outcome{pos: it.pos()}
		if it.err != nil {
			o.kind, o.err, o.raw = outReject, it.err, it.err.Raw
			continue
		}
		row := &it.row
		start, first := w.Len(), len(m.msgs)
		msgs, skipped, err := mapper.MapMessages(row, w, m.msgs)
		m.msgs = msgs
		o.skipped = int32(skipped)
		if err != nil {
			o.kind, o.err = outReject, err
			if errors.Is(err, mappings.ErrFiltered) {
				o.kind = outFiltered
			}
			if o.kind == outReject || keepRaw {
				o.raw = rawRow(row)
			}
			continue
		}
		if _, ok := fit.Fits(len(msgs)-first, w.Len()-start); !ok {
			// The messages of a row go in one batch.
			o.kind, o.err, o.raw = outReject, &rowTooLargeError{pos: o.pos, n: len(msgs) - first, size: w.Len() - start, limits: limits.WithDefaults()}, rawRow(row)
			m.msgs = msgs[:first]
			w.Truncate(start)
			continue
		}
		o.kind, o.start, o.end = outMessage, start, w.Len()
		o.first, o.n = int32(first), int32(len(msgs)-first)
		for _, rm := range msgs[first:] {
			if rm.Derived {
				m.ids = append(m.ids, rm.Hash)
				o.derived++
			}
		}
		if keepRaw {
			o.raw = rawRow(row)
		}
	}
}

// rowTooLargeError is a row whose messages, each within the cap of a
// message, do not fit in one batch together.
type rowTooLargeError struct {
	pos     readers.Position
	n, size int
	limits  sink.Limits
}

func (e *rowTooLargeError) Error() string {
	return fmt.Sprintf("%s: the row's %d messages, %d bytes in all, do not fit in one batch of at most %d bytes and %d messages, and the messages of a row are sent together",
		e.pos, e.n, e.size, e.limits.MaxBatchBytes, e.limits.MaxMessages)
}

// RejectReason is sink.ReasonMessageTooLarge.
func (e *rowTooLargeError) RejectReason() string { return sink.ReasonMessageTooLarge }

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
