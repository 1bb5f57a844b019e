package sink

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// Limits are the size caps of a message and of a batch, the same for the
// Batcher, the MessageWriter and the receiver. A zero field means its
// default, which is also its maximum: Segment refuses anything larger.
// Limits is a value; it is safe to share.
type Limits struct {
	// MaxBatchBytes caps a whole request body, envelope included. Default: 500,000.
	MaxBatchBytes int
	// MaxMessageBytes caps one encoded message. Default: 32,000.
	MaxMessageBytes int
	// MaxMessages caps the messages of one batch. Default: 2,500.
	MaxMessages int
}

// Default and maximum caps of Segment's batch API.
const (
	DefaultMaxBatchBytes   = 500_000
	DefaultMaxMessageBytes = 32_000
	DefaultMaxMessages     = 2_500
)

// withDefaults fills zero fields with the defaults.
func (l Limits) withDefaults() Limits {
	if l.MaxBatchBytes == 0 {
		l.MaxBatchBytes = DefaultMaxBatchBytes
	}
	if l.MaxMessageBytes == 0 {
		l.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if l.MaxMessages == 0 {
		l.MaxMessages = DefaultMaxMessages
	}
	return l
}

// WithDefaults returns l with each zero field set to its default.
func (l Limits) WithDefaults() Limits { return l.withDefaults() }

// Validate reports a cap that is negative or above Segment's maximum, naming
// the field.
func (l Limits) Validate() error {
	check := func(name string, v, max int) error {
		if v < 0 || v > max {
			return fmt.Errorf("limits: %s is %d, want 1 to %d", name, v, max)
		}
		return nil
	}
	l = l.withDefaults()
	if err := check("MaxBatchBytes", l.MaxBatchBytes, DefaultMaxBatchBytes); err != nil {
		return err
	}
	if err := check("MaxMessageBytes", l.MaxMessageBytes, DefaultMaxMessageBytes); err != nil {
		return err
	}
	if err := check("MaxMessages", l.MaxMessages, DefaultMaxMessages); err != nil {
		return err
	}
	if l.MaxBatchBytes < l.MaxMessageBytes+envelopeBytes {
		return fmt.Errorf("limits: MaxBatchBytes %d cannot hold one message of MaxMessageBytes %d", l.MaxBatchBytes, l.MaxMessageBytes)
	}
	return nil
}

// The request body is {"batch":[m1,m2,…],"sentAt":"2006-01-02T15:04:05.000Z"}.
const (
	bodyPrefix     = `{"batch":[`
	sentAtPrefix   = `],"sentAt":"`
	sentAtSuffix   = `"}`
	timestampBytes = len("2006-01-02T15:04:05.000Z")
	envelopeBytes  = len(bodyPrefix) + len(sentAtPrefix) + timestampBytes + len(sentAtSuffix)
)

// TimeLayout is how every timestamp is written: RFC 3339, UTC, milliseconds.
const TimeLayout = "2006-01-02T15:04:05.000Z"

// Batch is a set of encoded messages ready to send as one request. Each
// message was encoded once, into the batch's buffer. A Batch is not safe for
// concurrent use; a sink sends it from one goroutine at a time.
type Batch struct {
	buf  []byte // bodyPrefix, then the messages separated by commas
	ends []int  // ends[i] is the end offset in buf of message i
}

// released holds batches handed back with Release, for newBatch to reuse.
var released sync.Pool

func newBatch(capacity int) *Batch {
	if b, ok := released.Get().(*Batch); ok {
		if cap(b.buf) >= capacity {
			b.buf = append(b.buf[:0], bodyPrefix...)
			b.ends = b.ends[:0]
			return b
		}
	}
	b := &Batch{buf: make([]byte, 0, capacity)}
	b.buf = append(b.buf, bodyPrefix...)
	return b
}

// Release hands the batch's memory back, for later batches to reuse rather
// than allocate. Neither the batch nor any slice its methods returned may be
// used after. A batch that is never released is garbage like any other.
func (b *Batch) Release() {
	if b == nil || b.buf == nil {
		return
	}
	released.Put(b)
}

// Len returns the number of messages in the batch.
func (b *Batch) Len() int { return len(b.ends) }

// Size returns the request body's size in bytes, envelope included.
func (b *Batch) Size() int { return len(b.buf) + envelopeBytes - len(bodyPrefix) }

// Message returns the JSON encoding of message i. The slice aliases the
// batch's buffer.
func (b *Batch) Message(i int) []byte {
	start := len(bodyPrefix)
	if i > 0 {
		start = b.ends[i-1] + 1 // skip the comma
	}
	return b.buf[start:b.ends[i]]
}

// Body returns the request body with sentAt set to t. The slice is valid
// until the next call of Body.
func (b *Batch) Body(sentAt time.Time) []byte {
	n := len(b.buf)
	body := append(b.buf, sentAtPrefix...)
	body = sentAt.UTC().AppendFormat(body, TimeLayout)
	body = append(body, sentAtSuffix...)
	b.buf = body[:n]
	return body
}

// Split returns two batches holding the first and the second half of b's
// messages, for isolating a message the destination refuses. It panics if b
// has fewer than two messages.
func (b *Batch) Split() (first, second *Batch) {
	if len(b.ends) < 2 {
		panic("sink: Split of a batch with fewer than two messages")
	}
	mid := len(b.ends) / 2
	return b.Slice(0, mid), b.Slice(mid, len(b.ends))
}

// Slice returns a new batch holding messages i to j-1 of b. It panics if
// the range is out of bounds.
func (b *Batch) Slice(i, j int) *Batch {
	if i < 0 || i > j || j > len(b.ends) {
		panic(fmt.Sprintf("sink: Slice(%d, %d) of a batch of %d messages", i, j, len(b.ends)))
	}
	start := len(bodyPrefix)
	if i > 0 {
		start = b.ends[i-1] + 1 // skip the comma
	}
	end := start
	if j > i {
		end = b.ends[j-1]
	}
	nb := newBatch(end - start + envelopeBytes) // room for the body's tail too
	nb.buf = append(nb.buf, b.buf[start:end]...)
	nb.ends = make([]int, j-i)
	shift := start - len(bodyPrefix)
	for k := i; k < j; k++ {
		nb.ends[k-i] = b.ends[k] - shift
	}
	return nb
}

func (b *Batch) add(msg []byte) {
	if len(b.ends) > 0 {
		b.buf = append(b.buf, ',')
	}
	b.buf = append(b.buf, msg...)
	b.ends = append(b.ends, len(b.buf))
}

// ErrMessageTooLarge is wrapped by the error of Batcher.AddEncoded and of
// MessageWriter.End for a message whose encoding exceeds MaxMessageBytes.
var ErrMessageTooLarge = errors.New("message too large")

// Batcher packs encoded messages into batches that respect its Limits: it
// closes a batch before adding a message would cross MaxBatchBytes
// (500,000 by default, envelope included) or MaxMessages (2,500), and
// refuses a message over MaxMessageBytes (32,000) with a *TooLargeError,
// which is a reject, not an error of the run. Each message's bytes are
// copied once, straight into the batch's buffer.
//
// Nothing a Batcher does blocks or does I/O. A Batcher is not safe for
// concurrent use: one goroutine assembles batches, and hands each closed
// batch to the senders, which own it from then on. Make one with
// NewBatcher; the zero Batcher is not usable.
type Batcher struct {
	limits Limits
	cur    *Batch
}

// NewBatcher returns an empty Batcher with the limits l, whose zero fields
// mean the defaults.
// A MaxMessageBytes too large for MaxBatchBytes is lowered so that every
// batch fits MaxBatchBytes even with limits that Validate would refuse.
func NewBatcher(l Limits) *Batcher {
	return &Batcher{limits: l.effective()}
}

// effective fills the defaults and lowers a MaxMessageBytes too large for
// MaxBatchBytes, so that every batch fits MaxBatchBytes.
func (l Limits) effective() Limits {
	l = l.withDefaults()
	if most := l.MaxBatchBytes - envelopeBytes; l.MaxMessageBytes > most {
		l.MaxMessageBytes = most
	}
	return l
}

// AddEncoded adds a message written by a MessageWriter (valid JSON, one
// object) to the current batch: if it does not fit, the current batch is
// closed and returned as full, and the message starts the next one. A message over MaxMessageBytes is refused with a
// *TooLargeError.
func (bt *Batcher) AddEncoded(msg []byte) (full *Batch, err error) {
	if len(msg) > bt.limits.MaxMessageBytes {
		return nil, &TooLargeError{Size: len(msg), Limit: bt.limits.MaxMessageBytes}
	}
	if bt.cur == nil {
		bt.cur = newBatch(4096)
	}
	b := bt.cur
	if len(b.ends) > 0 && (len(b.ends)+1 > bt.limits.MaxMessages ||
		len(b.buf)+1+len(msg)+envelopeBytes-len(bodyPrefix) > bt.limits.MaxBatchBytes) {
		next := newBatch(cap(b.buf))
		next.add(msg)
		bt.cur = next
		return b, nil
	}
	b.add(msg)
	return nil, nil
}

// Flush closes and returns the current batch, or nil if it is empty. The
// Batcher then starts a new batch with the next message.
func (bt *Batcher) Flush() *Batch {
	b := bt.cur
	bt.cur = nil
	if b == nil || len(b.ends) == 0 {
		return nil
	}
	return b
}

// TooLargeError is a message whose encoding is over the per-message cap; it
// wraps ErrMessageTooLarge and its reason is ReasonMessageTooLarge.
type TooLargeError struct {
	Size, Limit int
}

// Error says the size and the limit.
func (e *TooLargeError) Error() string {
	return fmt.Sprintf("message too large: %d bytes encoded, the limit is %d", e.Size, e.Limit)
}

// Unwrap returns ErrMessageTooLarge.
func (e *TooLargeError) Unwrap() error { return ErrMessageTooLarge }

// RejectReason returns ReasonMessageTooLarge.
func (e *TooLargeError) RejectReason() string { return ReasonMessageTooLarge }
