package readers

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"sync"

	"gocloud.dev/blob"
)

// Reads of a Parquet object in a bucket.
//
// The Parquet library reads a column chunk through a buffer of its own,
// parquetBufferSize bytes as for a local file, refilled with a ReadAt of
// the next bytes of the chunk. A request for each refill would make a
// column chunk of a few MiB dozens of round trips, one after the other;
// a buffer of the whole chunk would hold it in memory. So each refill
// reads on from an open response instead: the first read of a column
// chunk asks for the rest of the chunk (parquetChunkRequest at most) in
// one range request, and the refills after it take its next bytes as
// they come. The process holds the same buffer per column as for a local
// file; the bytes not yet read wait in the connection, whose window
// bounds them, and a chunk costs one request (one per
// parquetChunkRequest) rather than one per buffer. The requests of a row
// group's chunks are made together when it starts, so that its columns'
// first reads do not wait for a round trip each, one after the other.
const (
	// parquetChunkRequest caps the bytes one range request of a column
	// chunk asks for.
	parquetChunkRequest = 8 << 20
	// parquetChunksAhead is how many column chunks of a row group are
	// asked for at once when it starts.
	parquetChunksAhead = 16
	// parquetFooterRead is how much of the end of an object the first
	// read of its footer asks for: the footer's length, and for most
	// files the whole footer.
	parquetFooterRead = 64 << 10
)

// extent is a range of an object's bytes, [start, end).
type extent struct{ start, end int64 }

// objectReaderAt reads ranges of an object in a bucket for Parquet, which
// reads a footer and then column chunks: the footer from bytes read
// once (ahead of time if the object was prefetched), a column chunk
// through one range request that its reads go on reading. Every request
// asks for the version of the object that was listed.
type objectReaderAt struct {
	obj   *object
	ctx   context.Context // of Open, cancelled by Close: io.ReaderAt has none
	retry ObjectRetry
	// footer holds the first bytes and the footer of the object, read
	// before the Parquet library opens it; set before any concurrent use.
	footer []span

	mu      sync.Mutex
	err     error                    // the first error of a read, which the Parquet library may word as damage
	chunks  []extent                 // the column chunks of the row group being read
	streams map[int64]*chunkResponse // open responses, by the offset of their next byte
}

// span is bytes of an object read ahead, from offset off.
type span struct {
	off int64
	b   []byte
}

// chunkResponse is a range request of a column chunk being read.
type chunkResponse struct {
	r        *blob.Reader
	pos, end int64 // the offset of its next byte, and after its last
	// opened, if not nil, is closed once the request made ahead of the
	// chunk's first read has its answer: r, or err.
	opened chan struct{}
	err    error
}

// close closes the response, once it has come for one asked ahead.
func (s *chunkResponse) close() {
	if s.opened == nil {
		s.r.Close()
		return
	}
	go func() {
		<-s.opened
		if s.r != nil {
			s.r.Close()
		}
	}()
}

// fetchedFooter is the footer of an object read ahead of time, or the
// error of reading it.
type fetchedFooter struct {
	spans []span
	err   error
}

// openParquetObject opens an object of Parquet: the footer and then the
// column chunks are read by range requests, never the whole object. Its
// footer is the one read ahead of time if there is one, else it is read
// now.
func openParquetObject(ctx context.Context, src Source, opts Options) (*objectReaderAt, io.Closer) {
	ctx, cancel := context.WithCancel(ctx)
	r := &objectReaderAt{obj: src.obj, ctx: ctx, retry: opts.ObjectRetry}
	return r, closerFunc(func() error {
		cancel()
		r.closeStreams(nil)
		return nil
	})
}

// loadFooter reads the first bytes and the footer of the object, or
// takes them from a read ahead of time.
func (r *objectReaderAt) loadFooter() error {
	got, ok := r.obj.takeFooter(r.ctx)
	switch {
	case ok && got.err == nil:
		r.footer = got.spans
		return nil
	case ok && !errors.Is(got.err, context.Canceled) && !errors.Is(got.err, context.DeadlineExceeded):
		r.fail(got.err)
		return got.err
	}
	// None read ahead, or its reading was cut short: read it now.
	spans, err := fetchFooter(r.ReadAt, r.obj.size)
	r.footer = spans
	return err
}

// fetchFooter reads the footer of an object of size bytes through
// readAt: parquetFooterRead bytes of its end, and the rest of the footer
// if the length at its end says there is more; and its first four bytes,
// the magic. What it keeps is the footer (all it read where the end is
// not a footer's) and the magic.
func fetchFooter(readAt func([]byte, int64) (int, error), size int64) ([]span, error) {
	n := min(size, parquetFooterRead)
	tail := make([]byte, n)
	if _, err := readAt(tail, size-n); err != nil && err != io.EOF {
		return nil, err
	}
	foot := span{off: size - n, b: tail}
	if n >= 8 && bytes.Equal(tail[n-4:], parquetMagic) {
		// The footer ends with its length and PAR1. One that does not
		// fit after the magic at the start is damage, for the Parquet
		// library to report.
		start := size - 8 - int64(binary.LittleEndian.Uint32(tail[n-8:n-4]))
		switch {
		case start >= size-n:
			foot = span{off: start, b: tail[start-(size-n):]}
		case start >= int64(len(parquetMagic)):
			all := make([]byte, size-start)
			if _, err := readAt(all[:size-n-start], start); err != nil && err != io.EOF {
				return nil, err
			}
			copy(all[size-n-start:], tail)
			foot = span{off: start, b: all}
		}
	}
	spans := []span{foot}
	if foot.off > 0 {
		head := make([]byte, min(foot.off, int64(len(parquetMagic))))
		if _, err := readAt(head, 0); err != nil && err != io.EOF {
			return nil, err
		}
		spans = append(spans, span{off: 0, b: head})
	}
	return spans, nil
}

// prefetchFooter reads the footer of o ahead of time, on a goroutine of
// its own, for the next open of o, which takes it. A read that ctx ends
// is read again by that open.
func (o *object) prefetchFooter(ctx context.Context, p ObjectRetry) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.footer != nil {
		return
	}
	ch := make(chan fetchedFooter, 1)
	o.footer = ch
	go func() {
		ra := &objectReaderAt{obj: o, ctx: ctx, retry: p}
		spans, err := fetchFooter(ra.ReadAt, o.size)
		ch <- fetchedFooter{spans: spans, err: err}
		if footerFetched != nil {
			footerFetched(o.name())
		}
	}()
}

// footerFetched, if set, is called when a footer read ahead of time has
// arrived: a seam for tests.
var footerFetched func(name string)

// takeFooter returns the footer of o read ahead of time, waiting for it,
// if there is one.
func (o *object) takeFooter(ctx context.Context) (fetchedFooter, bool) {
	return takeAhead(ctx, &o.mu, &o.footer, func(err error) fetchedFooter { return fetchedFooter{err: err} })
}

// readChunks says which column chunks the reads from now on are of (the
// row group being read), closes the responses of others, and asks for
// the first parquetChunksAhead of those chunks at once, so that their
// first reads, column after column, do not wait for a round trip each.
func (r *objectReaderAt) readChunks(chunks []extent) {
	r.closeStreams(chunks)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.chunks = chunks
	if r.streams == nil {
		r.streams = make(map[int64]*chunkResponse)
	}
	for _, c := range chunks[:min(len(chunks), parquetChunksAhead)] {
		if r.streams[c.start] != nil || c.end <= c.start {
			continue
		}
		s := &chunkResponse{pos: c.start, end: min(c.end, c.start+parquetChunkRequest), opened: make(chan struct{})}
		r.streams[c.start] = s
		go func() {
			defer close(s.opened)
			s.r, s.err = r.obj.openRangeOnce(r.ctx, s.pos, s.end-s.pos)
		}()
	}
}

// closeStreams closes the open responses outside keep (all if nil).
func (r *objectReaderAt) closeStreams(keep []extent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for off, s := range r.streams {
		if chunkOf(keep, off) == nil {
			s.close()
			delete(r.streams, off)
		}
	}
}

// chunkOf returns the extent of chunks that holds off, or nil.
func chunkOf(chunks []extent, off int64) *extent {
	for i := range chunks {
		if c := &chunks[i]; c.start <= off && off < c.end {
			return c
		}
	}
	return nil
}

// failure returns the first error a read met, if any.
func (r *objectReaderAt) failure() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// fail records the first error of a read.
func (r *objectReaderAt) fail(err error) {
	r.mu.Lock()
	if r.err == nil {
		r.err = err
	}
	r.mu.Unlock()
}

// fromFooter copies the bytes at off from the footer read ahead, if it
// holds all of them.
func (r *objectReaderAt) fromFooter(p []byte, off int64) bool {
	for _, s := range r.footer {
		if off >= s.off && off+int64(len(p)) <= s.off+int64(len(s.b)) {
			copy(p, s.b[off-s.off:])
			return true
		}
	}
	return false
}

// take returns the open response whose next byte is at off and that
// holds n bytes from there, waiting for one asked ahead, or nil. A
// request asked ahead that failed is asked again, as any read is.
func (r *objectReaderAt) take(off, n int64) *chunkResponse {
	r.mu.Lock()
	s := r.streams[off]
	delete(r.streams, off)
	r.mu.Unlock()
	if s == nil {
		return nil
	}
	if s.opened != nil {
		<-s.opened // the request ends with r.ctx
		s.opened = nil
		if s.err != nil {
			return nil
		}
	}
	if s.end < off+n {
		s.r.Close()
		return nil
	}
	return s
}

// keep keeps s open for the read of its next byte, or closes it if it
// has given all it asked for or its chunk is no longer read.
func (r *objectReaderAt) keep(s *chunkResponse) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s.pos >= s.end || chunkOf(r.chunks, s.pos) == nil || r.ctx.Err() != nil {
		s.r.Close()
		return
	}
	if old := r.streams[s.pos]; old != nil {
		old.close()
	}
	if r.streams == nil {
		r.streams = make(map[int64]*chunkResponse)
	}
	r.streams[s.pos] = s
}

// requestEnd is where a request for n bytes at off ends: at the end of
// the column chunk that holds off (parquetChunkRequest bytes at most),
// else after those n bytes.
func (r *objectReaderAt) requestEnd(off, n int64) int64 {
	end := off + n
	r.mu.Lock()
	if c := chunkOf(r.chunks, off); c != nil {
		end = max(end, min(c.end, off+parquetChunkRequest))
	}
	r.mu.Unlock()
	return min(end, r.obj.size)
}

func (r *objectReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= r.obj.size {
		return 0, io.EOF
	}
	n := min(int64(len(p)), r.obj.size-off)
	if r.fromFooter(p[:n], off) {
		if int(n) < len(p) {
			return int(n), io.EOF
		}
		return int(n), nil
	}
	s := r.take(off, n)
	var got int
	err := retrying(r.ctx, r.retry, r.obj.bucket, func() error {
		if s == nil {
			end := r.requestEnd(off, n)
			rr, err := r.obj.openRangeOnce(r.ctx, off, end-off)
			if err != nil {
				return err
			}
			s = &chunkResponse{r: rr, pos: off, end: end}
		}
		var err error
		got, err = io.ReadFull(s.r, p[:n])
		if err != nil {
			// Another attempt asks again from off.
			s.r.Close()
			s = nil
		}
		return err
	})
	if err != nil {
		err = r.obj.readError(r.ctx, err)
		if !isContextError(r.ctx, err) {
			r.fail(err)
		}
		return got, err
	}
	s.pos += n
	r.keep(s)
	if int(n) < len(p) {
		return got, io.EOF
	}
	return got, nil
}
