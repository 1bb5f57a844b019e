package sink

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of ClientConfig.
const (
	// DefaultMaxQueueSize is the default number of messages a Client holds
	// before Enqueue refuses more.
	DefaultMaxQueueSize = 10_000
	// DefaultBatchSize is the default number of messages a Client sends in
	// one request.
	DefaultBatchSize = 100
	// DefaultFlushInterval is the default longest time a message waits in
	// a Client's queue before it is sent in a partial batch.
	DefaultFlushInterval = 5 * time.Second
	// DefaultClientConcurrency is the default number of requests a Client
	// has in flight at once.
	DefaultClientConcurrency = 1
	// DefaultCloseTimeout is the default time Close gives the queue to
	// drain.
	DefaultCloseTimeout = 10 * time.Second
)

// Errors of Client.Enqueue and Client.Flush.
var (
	// ErrQueueFull is returned by Enqueue when MaxQueueSize messages are
	// held already; the message is not queued.
	ErrQueueFull = errors.New("sink client: queue full")
	// ErrClosed is returned by Enqueue and Flush once Close or Shutdown
	// has been called.
	ErrClosed = errors.New("sink client: closed")
)

// ClientConfig configures a Client. A zero field means its documented
// default.
type ClientConfig struct {
	// WriteKey is the source's write key. Required unless Stub is set.
	WriteKey string
	// Endpoint is where batches go, as in SegmentConfig: an http(s) URL or
	// "eu". Default: SegmentEndpoint.
	Endpoint string
	// OnError, if set, is called with a *DeliveryError for messages that
	// were not delivered: refused by the API, in a batch that failed for
	// good, or still held when Close or Shutdown ended. It is called from
	// the Client's goroutines, one call at a time, and should return
	// quickly: sending waits for it. It may call Enqueue, but not Flush,
	// Close or Shutdown, which wait for it. Without OnError, failures are
	// only counted (ClientStats.Failed).
	OnError func(error)
	// Stub sends nothing: every batch is answered as a success, without
	// any network, after the same batching and rate limits.
	Stub bool
	// MaxQueueSize is the most messages the Client holds at once, queued
	// or being sent; Enqueue returns ErrQueueFull beyond. Default: 10,000.
	MaxQueueSize int
	// BatchSize is the most messages in one request, at most 2,500.
	// Batches also respect Segment's 500,000-byte cap on a request.
	// Default: 100.
	BatchSize int
	// FlushInterval is how often the messages queued are sent even when
	// they do not fill a batch. It runs on the system clock. Default: 5s.
	FlushInterval time.Duration
	// Concurrency is the number of requests in flight at once. With 1,
	// batches are delivered in the order their messages were queued.
	// Default: 1.
	Concurrency int
	// CloseTimeout bounds Close. Default: 10s.
	CloseTimeout time.Duration
	// Delivery tunes the sending engine, the same as the importer's: Rate,
	// MinRate, EventsRate, MaxRetries, MaxRetryTime, MinBackoff,
	// MaxBackoff, RequestTimeout, NoGzip, HTTPClient and Clock (which also
	// gives the timestamp of messages enqueued without one). Leave its
	// WriteKey, Endpoint and Stub empty: the fields above set them.
	Delivery SegmentConfig
}

// Validate reports the first field that is missing or out of range, naming
// it. It never quotes the write key.
func (c ClientConfig) Validate() error {
	switch {
	case c.Delivery.WriteKey != "":
		return errors.New("client config: Delivery.WriteKey is set; set WriteKey instead")
	case c.Delivery.Endpoint != "":
		return errors.New("client config: Delivery.Endpoint is set; set Endpoint instead")
	case c.Delivery.Stub:
		return errors.New("client config: Delivery.Stub is set; set Stub instead")
	case c.MaxQueueSize < 0:
		return fmt.Errorf("client config: MaxQueueSize is %d, want 0 (default) or more", c.MaxQueueSize)
	case c.BatchSize < 0 || c.BatchSize > DefaultMaxMessages:
		return fmt.Errorf("client config: BatchSize is %d, want 0 (default) to %d", c.BatchSize, DefaultMaxMessages)
	case c.FlushInterval < 0:
		return fmt.Errorf("client config: FlushInterval is %s, want 0 (default) or more", c.FlushInterval)
	case c.Concurrency < 0:
		return fmt.Errorf("client config: Concurrency is %d, want 0 (default) or more", c.Concurrency)
	case c.CloseTimeout < 0:
		return fmt.Errorf("client config: CloseTimeout is %s, want 0 (default) or more", c.CloseTimeout)
	}
	if err := c.segment().Validate(); err != nil {
		return fmt.Errorf("client config: %w", err)
	}
	return nil
}

// segment returns the configuration of the Client's sink.
func (c ClientConfig) segment() SegmentConfig {
	s := c.Delivery
	s.WriteKey, s.Endpoint, s.Stub = c.WriteKey, c.Endpoint, c.Stub
	return s
}

func (c ClientConfig) withDefaults() ClientConfig {
	if c.MaxQueueSize == 0 {
		c.MaxQueueSize = DefaultMaxQueueSize
	}
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.FlushInterval == 0 {
		c.FlushInterval = DefaultFlushInterval
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultClientConcurrency
	}
	if c.CloseTimeout == 0 {
		c.CloseTimeout = DefaultCloseTimeout
	}
	return c
}

// DeliveryError reports messages of a Client that were not delivered, to
// OnError:
//
//   - a message the API refused for good: Status is 400 (or 413), one
//     message, and Err is the *StatusError with the API's words;
//   - a batch that failed for good (retries or retry time used up, the
//     write key refused): Status is the last HTTP status, 0 for a network
//     error, and Err says why (a *RetryError, or wraps ErrUnauthorized);
//   - messages still held when Close or Shutdown ended: Err wraps the
//     context's error.
type DeliveryError struct {
	// Status is the HTTP status of the answer, 0 if there was none.
	Status int
	// MessageIDs are the messageIds of the messages not delivered.
	MessageIDs []string
	// Messages are their JSON encodings, in the order of MessageIDs, to log
	// or send again.
	Messages []json.RawMessage
	// Err is the cause.
	Err error
}

func (e *DeliveryError) Error() string {
	if len(e.MessageIDs) == 1 {
		return fmt.Sprintf("message %s not delivered: %v", e.MessageIDs[0], e.Err)
	}
	return fmt.Sprintf("%d messages not delivered: %v", len(e.MessageIDs), e.Err)
}

func (e *DeliveryError) Unwrap() error { return e.Err }

// ClientStats are the counts of a Client since it was made.
type ClientStats struct {
	// Enqueued counts the messages Enqueue accepted.
	Enqueued int64
	// Delivered counts the messages the API acknowledged.
	Delivered int64
	// Failed counts the messages reported as not delivered.
	Failed int64
	// Held is the number of messages held now, queued or being sent:
	// Enqueued - Delivered - Failed.
	Held int64
	// Transport are the counters of the sending engine.
	Transport StatsSnapshot
}

// Client sends Segment messages from a Go program, on the sending engine of
// the importer: Enqueue validates and encodes a message and queues it at
// once; background workers pack the queue into batches and send them with
// the same caps, gzip, retries, Retry-After pauses and adaptive rate limits
// as the importer. Several Clients, with different write keys, work side by
// side and share no state (beyond a pool of idle gzip compressors). A Client
// is safe for concurrent use.
//
// Every message Enqueue accepts is, in the end, delivered or reported to
// OnError: none is lost without a word.
type Client struct {
	cfg         ClientConfig
	sink        Sink
	stats       *Stats
	now         func() time.Time
	newID       func() string
	cancelSends context.CancelFunc
	stopTicks   chan struct{}
	done        chan struct{} // closed once the workers have stopped

	mu          sync.Mutex
	queue       []queued // waiting to be sent, in order
	queuedBytes int
	inFlight    map[*clientBatch]struct{}
	held        int    // messages queued or in flight
	nextSeq     uint64 // of the next message enqueued, from 1
	flushTo     uint64 // messages up to this one are to be sent now
	closing     bool
	aborted     bool
	changed     chan struct{} // closed and replaced at every change of the above

	reportMu                    sync.Mutex // one OnError call at a time
	enqueued, delivered, failed atomic.Int64
}

// queued is a message encoded and waiting to be sent.
type queued struct {
	seq  uint64
	id   string
	data []byte
}

// clientBatch is a batch in flight and the messages it holds.
type clientBatch struct {
	batch  *Batch
	items  []queued
	minSeq uint64
}

// NewClient returns a Client configured by cfg and starts its workers. Call
// Close or Shutdown to send what is queued and stop them.
func NewClient(cfg ClientConfig) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	snk, stats, err := NewSegmentSink(cfg.segment())
	if err != nil {
		return nil, fmt.Errorf("client config: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Client{
		cfg:         cfg,
		sink:        snk,
		stats:       stats,
		now:         orSystem(cfg.Delivery.Clock).Now,
		newID:       newUUID,
		cancelSends: cancel,
		stopTicks:   make(chan struct{}),
		done:        make(chan struct{}),
		inFlight:    map[*clientBatch]struct{}{},
		nextSeq:     1,
		changed:     make(chan struct{}),
	}
	var wg sync.WaitGroup
	for range cfg.Concurrency {
		wg.Go(func() { c.work(ctx) })
	}
	wg.Go(c.tick)
	go func() {
		wg.Wait()
		cancel()
		close(c.done)
	}()
	return c, nil
}

// Enqueue validates m, fills in a missing messageId (a random UUID) and
// timestamp (now), encodes it and queues it for sending. It returns at
// once: nil when the message is queued, a *ValidationError naming the field
// for a message that breaks Segment's spec, a *TooLargeError (wrapping
// ErrMessageTooLarge) for one whose encoding is over 32,000 bytes,
// ErrQueueFull when MaxQueueSize messages are held, or ErrClosed after
// Close. Only a nil error means the message will be delivered or reported
// to OnError.
func (c *Client) Enqueue(m Messager) error {
	var p *Message
	if m != nil {
		p = m.Message()
	}
	if p == nil {
		return &ValidationError{Field: "type", Reason: ReasonInvalidType, Detail: "no message"}
	}
	msg := *p
	if msg.MessageID == "" {
		msg.MessageID = c.newID()
	}
	if msg.Timestamp.IsZero() {
		msg.Timestamp = c.now()
	}
	// The writer checks the message and its size; data is its own.
	var w MessageWriter
	w.Reset(make([]byte, 0, 512))
	data, err := w.WriteMessage(&msg)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return ErrClosed
	}
	if c.held >= c.cfg.MaxQueueSize {
		return ErrQueueFull
	}
	c.queue = append(c.queue, queued{seq: c.nextSeq, id: msg.MessageID, data: data})
	c.nextSeq++
	c.queuedBytes += len(data) + 1
	c.held++
	c.enqueued.Add(1)
	if c.fullBatch() {
		c.broadcast()
	}
	return nil
}

// Flush sends every message queued so far, even in partial batches, and
// blocks until each is delivered or reported to OnError, or until ctx ends
// (the error then wraps ctx.Err(); the messages stay queued). It returns
// ErrClosed after Close.
func (c *Client) Flush(ctx context.Context) error {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return ErrClosed
	}
	target := c.nextSeq - 1
	if target > c.flushTo {
		c.flushTo = target
		c.broadcast()
	}
	for !c.settledUpTo(target) {
		ch := c.changed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("sink client: flush: %w", ctx.Err())
		}
		c.mu.Lock()
	}
	c.mu.Unlock()
	return nil
}

// Close is Shutdown bounded by CloseTimeout, for use with defer and as an
// io.Closer.
func (c *Client) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.CloseTimeout)
	defer cancel()
	return c.Shutdown(ctx)
}

// Shutdown stops the Client: Enqueue and Flush refuse from then on, the
// messages held are sent, and Shutdown blocks until each is delivered or
// reported to OnError. If ctx ends first, the sends in flight are cancelled
// and every message not delivered is reported to OnError, with the count;
// Shutdown then returns an error wrapping ctx.Err() that gives the count.
// Calling it again waits for the first call to finish and returns nil.
func (c *Client) Shutdown(ctx context.Context) error {
	c.mu.Lock()
	first := !c.closing
	if first {
		c.closing = true
		close(c.stopTicks)
		c.broadcast()
	}
	c.mu.Unlock()
	var (
		cause        error
		failedBefore int64
	)
	select {
	case <-c.done:
	case <-ctx.Done():
		cause = ctx.Err()
		failedBefore = c.failed.Load()
		c.mu.Lock()
		c.aborted = true
		c.broadcast()
		c.mu.Unlock()
		c.cancelSends()
		<-c.done
	}
	// Only an aborted shutdown leaves messages queued.
	c.mu.Lock()
	left := c.queue
	c.queue, c.queuedBytes = nil, 0
	c.mu.Unlock()
	if len(left) > 0 {
		c.report(&DeliveryError{Err: fmt.Errorf("not sent before the client was closed: %w", cause)}, left)
		c.mu.Lock()
		c.held -= len(left)
		c.broadcast()
		c.mu.Unlock()
	}
	if cause == nil || !first {
		return nil
	}
	return fmt.Errorf("sink client: close: %w: %d messages not delivered, reported to OnError",
		cause, c.failed.Load()-failedBefore)
}

// Stats returns the counts so far.
func (c *Client) Stats() ClientStats {
	s := ClientStats{
		Enqueued:  c.enqueued.Load(),
		Delivered: c.delivered.Load(),
		Failed:    c.failed.Load(),
		Transport: c.stats.Snapshot(),
	}
	c.mu.Lock()
	s.Held = int64(c.held)
	c.mu.Unlock()
	return s
}

// work sends batches until the Client is closed and its queue empty, or
// aborted.
func (c *Client) work(ctx context.Context) {
	for {
		cb := c.next()
		if cb == nil {
			return
		}
		c.settle(cb, c.sink.Send(ctx, cb.batch))
	}
}

// tick asks for the queue to be sent every FlushInterval.
func (c *Client) tick() {
	t := time.NewTicker(c.cfg.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			c.mu.Lock()
			if last := c.nextSeq - 1; last > c.flushTo {
				c.flushTo = last
				c.broadcast()
			}
			c.mu.Unlock()
		case <-c.stopTicks:
			return
		}
	}
}

// next blocks until a batch is due and takes it from the queue. It returns
// nil when there will be none: the Client is aborted, or closed with an
// empty queue.
func (c *Client) next() *clientBatch {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		switch {
		case c.aborted:
			return nil
		case len(c.queue) > 0 && (c.closing || c.fullBatch() || c.queue[0].seq <= c.flushTo):
			return c.cut()
		case c.closing:
			return nil
		}
		ch := c.changed
		c.mu.Unlock()
		<-ch
		c.mu.Lock()
	}
}

// fullBatch reports whether the queue holds a full batch.
func (c *Client) fullBatch() bool {
	return len(c.queue) >= c.cfg.BatchSize || c.queuedBytes-1+envelopeBytes > DefaultMaxBatchBytes
}

// cut takes the longest batch that respects the caps from the head of the
// queue and counts it in flight.
func (c *Client) cut() *clientBatch {
	n, size := 0, envelopeBytes-1
	for n < len(c.queue) && n < c.cfg.BatchSize {
		add := len(c.queue[n].data) + 1 // with a comma
		if n > 0 && size+add > DefaultMaxBatchBytes {
			break
		}
		size += add
		n++
	}
	b := newBatch(size)
	for _, q := range c.queue[:n] {
		b.add(q.data)
	}
	cb := &clientBatch{batch: b, items: append([]queued(nil), c.queue[:n]...), minSeq: c.queue[0].seq}
	clear(c.queue[:n])
	c.queue = c.queue[n:]
	c.queuedBytes -= size - envelopeBytes + 1
	c.inFlight[cb] = struct{}{}
	return cb
}

// settle counts and reports the outcome of a batch, then takes it out of
// flight.
func (c *Client) settle(cb *clientBatch, err error) {
	n := len(cb.items)
	var rej *RejectedError
	switch {
	case err == nil:
		c.delivered.Add(int64(n))
	case errors.As(err, &rej):
		for _, m := range rej.Messages {
			status := http.StatusBadRequest
			if m.Reason == "message_too_large" {
				status = http.StatusRequestEntityTooLarge
			}
			c.report(&DeliveryError{Status: status, Err: &StatusError{Status: status, Body: m.Detail}}, cb.items[m.Index:m.Index+1])
		}
		c.delivered.Add(int64(n - len(rej.Messages)))
	default:
		de := &DeliveryError{Err: err}
		var se *StatusError
		if errors.As(err, &se) {
			de.Status = se.Status
		}
		c.mu.Lock()
		aborted := c.aborted
		c.mu.Unlock()
		if aborted {
			de.Err = fmt.Errorf("sending when the client was closed: %w", err)
		}
		c.report(de, cb.items)
	}
	c.mu.Lock()
	delete(c.inFlight, cb)
	c.held -= n
	c.broadcast()
	c.mu.Unlock()
}

// report fills in the messages of e, counts them as failed and calls
// OnError.
func (c *Client) report(e *DeliveryError, items []queued) {
	e.MessageIDs = make([]string, len(items))
	e.Messages = make([]json.RawMessage, len(items))
	for i, q := range items {
		e.MessageIDs[i], e.Messages[i] = q.id, q.data
	}
	c.failed.Add(int64(len(items)))
	if c.cfg.OnError == nil {
		return
	}
	c.reportMu.Lock()
	defer c.reportMu.Unlock()
	c.cfg.OnError(e)
}

// settledUpTo reports whether every message up to seq is delivered or
// reported.
func (c *Client) settledUpTo(seq uint64) bool {
	if len(c.queue) > 0 && c.queue[0].seq <= seq {
		return false
	}
	for cb := range c.inFlight {
		if cb.minSeq <= seq {
			return false
		}
	}
	return true
}

// broadcast wakes every goroutine waiting for a change. c.mu must be held.
func (c *Client) broadcast() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails: see crypto/rand.Read
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}
