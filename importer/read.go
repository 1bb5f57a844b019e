package importer

import (
	"context"
	"errors"
	"io"

	"github.com/backfillhq/backfill/readers"
)

// blockSize is how many rows the read stage hands on at once.
const blockSize = 512

// prefetchObjects is how many objects in a bucket the read stage opens
// ahead of the source it reads.
const prefetchObjects = 2

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
	// rows is the reader, if its rows' memory can be reused; mem is the
	// memory of the block's rows, cut from it as the block is handed on
	// and released by the assemble stage (see assembler.take).
	rows readers.Recycler
	mem  *readers.RowMemory
}

// cut ends the block's run of rows in its reader's memory: the rows read
// after it use other memory, and the block holds its own in mem.
func (b *block) cut() {
	if b.rows != nil {
		b.mem = b.rows.CutRows()
	}
}

// readAll reads the sources from the mark on and hands their rows on in
// blocks.
func (r *run) readAll(ctx context.Context, from mark, out chan<- block) error {
	r.startLimit()
	for i := from.File; i < len(r.sources); i++ {
		var at *readers.Position
		if i == from.File && from.Pos.Row > 0 {
			at = &from.Pos
		}
		if r.limitAt(i, at) {
			return nil
		}
		// The first reads of the next objects in a bucket are opened
		// while this source is read, so that their latency passes.
		readers.Prefetch(ctx, r.cfg.Reader, r.sources[i+1:min(i+1+prefetchObjects, len(r.sources))]...)
		if err := r.readSource(ctx, i, at, out); err != nil {
			if err == errLimit {
				return nil
			}
			return err
		}
	}
	return nil
}

// readSource reads the source at index file, from at (nil: its start), and
// hands its rows on in blocks.
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
	r.inputs[file] = r.inputOf(src, rd, schema)
	prefix, err := r.prefixRecorder(rd, file, at)
	if err != nil {
		return err
	}
	blk := block{file: file, src: src, schema: schema, items: r.newItems()}
	if rows, ok := rd.(readers.Recycler); ok {
		// From here on the memory of each block's rows is its own.
		rows.CutRows()
		blk.rows = rows
	}
	g, err := r.newGate(src, schema)
	if err != nil {
		return err
	}
	for {
		row, err := rd.Next(ctx)
		if err == io.EOF {
			prefix.record()
			return r.pass(ctx, g, &blk, out, true)
		}
		if err == nil {
			blk.items = append(blk.items, item{row: row})
		} else if rowErr, ok := errors.AsType[*readers.RowError](err); ok {
			blk.items = append(blk.items, item{err: rowErr})
		} else if ctx.Err() != nil {
			return err
		} else {
			// An error of the source: a file that changed while it was
			// read, a damaged compressed stream, a failed read. The rows
			// before it are whole: they go on, and the file stays
			// partial, to be resumed once it is whole and stable.
			if perr := r.pass(ctx, g, &blk, out, false); perr != nil {
				return perr
			}
			return err
		}
		prefix.after(&blk.items[len(blk.items)-1])
		if r.limitRow() {
			return r.stopAtLimit(ctx, rd, file, &prefix, g, &blk, out)
		}
		if len(blk.items) == blockSize {
			if err := r.pass(ctx, g, &blk, out, false); err != nil {
				return err
			}
		}
	}
}

// handOn sends blk, unless it is empty, to the map stage with the next
// block number, and gives blk new room for the rows that follow. Only the
// read stage calls it.
func (r *run) handOn(ctx context.Context, blk *block, out chan<- block) error {
	if len(blk.items) == 0 {
		return nil
	}
	blk.seq = r.blocks
	r.blocks++
	select {
	case out <- *blk:
	case <-ctx.Done():
		return ctx.Err()
	}
	blk.items = r.newItems()
	return nil
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
