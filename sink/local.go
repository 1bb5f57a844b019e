package sink

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
)

var (
	_ Sink = (*WriterSink)(nil)
	_ Sink = (*StubSink)(nil)
)

// WriterSink writes every message of a batch to an io.Writer as one line of
// NDJSON: the message's JSON exactly as it is in the batch, then "\n". Each
// batch is written with one Write call, under a mutex, so the lines of
// concurrent batches never interleave. It is safe for concurrent use.
type WriterSink struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
}

// NewWriterSink returns a sink that writes NDJSON lines to w, such as a file
// or os.Stdout.
func NewWriterSink(w io.Writer) *WriterSink {
	return &WriterSink{w: w}
}

// Send writes the messages of b, one per line. It blocks while another batch
// is being written. It returns ctx.Err() without writing if ctx has ended,
// and a wrapped error if the write fails; the writer may then hold part of
// the batch.
func (s *WriterSink) Send(ctx context.Context, b *Batch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	s.buf = s.buf[:0]
	for i := range b.Len() {
		s.buf = append(s.buf, b.Message(i)...)
		s.buf = append(s.buf, '\n')
	}
	n, err := s.w.Write(s.buf)
	if err == nil && n < len(s.buf) {
		err = io.ErrShortWrite
	}
	if err != nil {
		return fmt.Errorf("write batch of %d messages: %w", b.Len(), err)
	}
	return nil
}

// StubSink accepts every batch without doing any I/O and counts what it was
// given; it is the discard sink of dry runs and benchmarks. It is safe for
// concurrent use.
type StubSink struct {
	batches  atomic.Int64
	messages atomic.Int64
}

// NewStubSink returns a StubSink with zero counts.
func NewStubSink() *StubSink { return &StubSink{} }

// Send counts b and returns nil, or ctx.Err() without counting if ctx has
// ended.
func (s *StubSink) Send(ctx context.Context, b *Batch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.batches.Add(1)
	s.messages.Add(int64(b.Len()))
	return nil
}

// Batches returns the number of batches accepted so far.
func (s *StubSink) Batches() int64 { return s.batches.Load() }

// Messages returns the number of messages accepted so far.
func (s *StubSink) Messages() int64 { return s.messages.Load() }
