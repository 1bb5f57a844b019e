package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/backfillhq/backfill/sink"
	"github.com/backfillhq/backfill/sink/segment"
)

// writers are the message writers of Enqueue, reused across messages and
// clients: each is used by one call at a time.
var writers = sync.Pool{New: func() any { return new(sink.MessageWriter) }}

// Defaults of Config.
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
	// DefaultConcurrency is the default number of requests a Client
	// has in flight at once.
	DefaultConcurrency = 1
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

// Config configures a Client. A zero field means its documented
// default.
type Config struct {
	// WriteKey is the source's write key. Required unless Stub is set.
	WriteKey string
	// Endpoint is where batches go, as in segment.Config: an http(s) URL or
	// "eu". Default: segment.Endpoint.
	Endpoint string
	// OnError, if set, is called with a *DeliveryError for messages that
	// were not delivered: refused by the API, in a batch that failed for
	// good, or still held when Close or Shutdown ended. Without OnError,
	// failures are counted (Stats.Failed), logged, and the first is
	// returned by Close.
	//
	// OnError and OnSuccess are called from the Client's goroutines, one
	// call at a time (never both at once), and should return quickly:
	// sending waits for them. They may call Enqueue, but not Flush, Close
	// or Shutdown, which wait for them.
	OnError func(error)
	// OnSuccess, if set, is called with the messages the API acknowledged,
	// once per batch: all of its messages, or, when the API refused some
	// (each reported to OnError), the others. See OnError for how it is
	// called. Default: successes are only counted (Stats.Delivered).
	OnSuccess func(Delivery)
	// Logger receives the Client's log: retries at Debug level, messages
	// refused by the API at Warn, batches that failed for good and
	// messages not sent before Close at Error, with counts, messageIds
	// and causes, not the messages themselves; the write key is taken out
	// of every record, should a cause quote it. Default: slog.Default(),
	// so that a program's own logger takes the Client's log (the standard
	// logger writes to stderr, Info and above);
	// slog.New(slog.DiscardHandler) silences it.
	Logger *slog.Logger
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
	Delivery segment.Config
}

// Validate reports the first field that is missing or out of range, naming
// it. It never quotes the write key.
func (c Config) Validate() error {
	switch {
	case c.Delivery.WriteKey != "":
		return errors.New("client config: Delivery.WriteKey is set; set WriteKey instead")
	case c.Delivery.Endpoint != "":
		return errors.New("client config: Delivery.Endpoint is set; set Endpoint instead")
	case c.Delivery.Stub:
		return errors.New("client config: Delivery.Stub is set; set Stub instead")
	case c.MaxQueueSize < 0:
		return fmt.Errorf("client config: MaxQueueSize is %d, want 0 (default) or more", c.MaxQueueSize)
	case c.BatchSize < 0 || c.BatchSize > sink.DefaultMaxMessages:
		return fmt.Errorf("client config: BatchSize is %d, want 0 (default) to %d", c.BatchSize, sink.DefaultMaxMessages)
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
func (c Config) segment() segment.Config {
	s := c.Delivery
	s.WriteKey, s.Endpoint, s.Stub = c.WriteKey, c.Endpoint, c.Stub
	return s
}

func (c Config) withDefaults() Config {
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
		c.Concurrency = DefaultConcurrency
	}
	if c.CloseTimeout == 0 {
		c.CloseTimeout = DefaultCloseTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
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
//     error, and Err says why (a *RetryError, or wraps sink.ErrUnauthorized);
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

// Error names the message, or counts the messages, and gives the cause.
func (e *DeliveryError) Error() string {
	if len(e.MessageIDs) == 1 {
		return fmt.Sprintf("message %s not delivered: %v", e.MessageIDs[0], e.Err)
	}
	return fmt.Sprintf("%d messages not delivered: %v", len(e.MessageIDs), e.Err)
}

// Unwrap returns the cause, Err.
func (e *DeliveryError) Unwrap() error { return e.Err }

// Delivery reports messages of a Client that the API acknowledged, to
// OnSuccess.
type Delivery struct {
	// MessageIDs are the messageIds of the messages delivered, in the
	// order they were queued.
	MessageIDs []string
	// Messages are their JSON encodings as sent, in the order of
	// MessageIDs.
	Messages []json.RawMessage
}

// Stats are the counts of a Client since it was made.
type Stats struct {
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
	Transport segment.StatsSnapshot
}

// Client sends Segment messages from a Go program, on the sending engine of
// the importer: Enqueue validates and encodes a message and adds it at once
// to the open batch of a sink.Batcher, which closes a batch before it would
// cross BatchSize messages or Segment's caps; background workers send the
// closed batches (and the open one when it is due) with the same gzip,
// retries, Retry-After pauses and adaptive rate limits as the importer.
// Several Clients, with different write keys, work side by side and share
// no state (beyond a pool of idle gzip compressors). A Client is safe for
// concurrent use.
//
// Every message Enqueue accepts is, in the end, delivered (and passed to
// OnSuccess) or reported to OnError: none is lost without a word. Close
// returns the first delivery error, so that a program that checks it
// learns that something was not delivered even without OnError.
type Client struct {
	cfg         Config
	sink        sink.Sink
	stats       *segment.Stats
	log         *slog.Logger
	now         func() time.Time
	newID       func() string
	cancelSends context.CancelFunc
	stopTicks   chan struct{}
	done        chan struct{} // closed once the workers have stopped

	mu       sync.Mutex
	batcher  *sink.Batcher  // holds the open batch
	open     []pending      // the messages of the open batch, in order
	ready    []*clientBatch // closed batches waiting to be sent, in order
	inFlight map[*clientBatch]struct{}
	held     int    // messages queued or in flight
	nextSeq  uint64 // of the next message enqueued, from 1
	flushTo  uint64 // messages up to this one are to be sent now
	closing  bool
	aborted  bool
	changed  chan struct{} // closed and replaced at every change of the above

	reportMu                    sync.Mutex // one callback at a time
	firstErr                    error      // the first *DeliveryError, under reportMu
	enqueued, delivered, failed atomic.Int64
}

// pending is a message in a batch of a Client.
type pending struct {
	seq uint64
	id  string
}

// clientBatch is a closed batch and the messages it holds.
type clientBatch struct {
	batch  *sink.Batch
	items  []pending
	minSeq uint64
}

// New returns a Client configured by cfg and starts its workers. Call
// Close or Shutdown to send what is queued and stop them.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	log := slog.New(redactHandler{next: cfg.Logger.Handler(), secret: cfg.WriteKey})
	scfg := cfg.segment()
	scfg.Logger = log
	snk, stats, err := segment.New(scfg)
	if err != nil {
		return nil, fmt.Errorf("client config: %w", err)
	}
	now := time.Now
	if cfg.Delivery.Clock != nil {
		now = cfg.Delivery.Clock.Now
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Client{
		cfg:         cfg,
		sink:        snk,
		stats:       stats,
		log:         log,
		now:         now,
		newID:       newUUID,
		cancelSends: cancel,
		stopTicks:   make(chan struct{}),
		done:        make(chan struct{}),
		batcher:     sink.NewBatcher(sink.Limits{MaxMessages: cfg.BatchSize}),
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
// once: nil when the message is queued, a *sink.ValidationError naming the field
// for a message that breaks Segment's spec, a *sink.TooLargeError (wrapping
// sink.ErrMessageTooLarge) for one whose encoding is over 32,000 bytes,
// ErrQueueFull when MaxQueueSize messages are held, or ErrClosed after
// Close. Only a nil error means the message will be delivered or reported
// to OnError.
func (c *Client) Enqueue(m Messager) error {
	var p *sink.Message
	if m != nil {
		p = m.Message()
	}
	if p == nil {
		return &sink.ValidationError{Field: "type", Reason: sink.ReasonInvalidType, Detail: "no message"}
	}
	msg := *p
	if msg.MessageID == "" {
		msg.MessageID = c.newID()
	}
	if msg.Timestamp.IsZero() {
		msg.Timestamp = c.now()
	}
	// The writer checks the message and its size. Its bytes are copied
	// into the batch before the writer goes back to the pool.
	w := writers.Get().(*sink.MessageWriter)
	defer writers.Put(w)
	w.Reset(w.Bytes())
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
	full, err := c.batcher.AddEncoded(data)
	if err != nil {
		return err // over the per-message cap: nothing was added
	}
	if full != nil {
		// The open batch closed before this message, which opens the next.
		c.ready = append(c.ready, &clientBatch{batch: full, items: c.open, minSeq: c.open[0].seq})
		c.open = nil
		c.broadcast()
	}
	c.open = append(c.open, pending{seq: c.nextSeq, id: msg.MessageID})
	c.nextSeq++
	c.held++
	c.enqueued.Add(1)
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
// reported to OnError.
//
// It returns nil if every message the Client accepted was delivered.
// Otherwise it returns an error that wraps the first *DeliveryError the
// Client reported in its life (so errors.Is(err, sink.ErrUnauthorized) tells a
// refused write key) and gives the count of messages not delivered.
//
// If ctx ends first, the sends in flight are cancelled and every message
// not delivered is reported to OnError; the error then wraps ctx.Err() too.
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
	var cause error
	select {
	case <-c.done:
	case <-ctx.Done():
		cause = ctx.Err()
		c.mu.Lock()
		c.aborted = true
		c.broadcast()
		c.mu.Unlock()
		c.cancelSends()
		<-c.done
	}
	// Only an aborted shutdown leaves messages queued.
	c.mu.Lock()
	left := c.ready
	if len(c.open) > 0 {
		left = append(left, c.closeOpen())
	}
	c.ready = nil
	c.mu.Unlock()
	if len(left) > 0 {
		de := &DeliveryError{Err: fmt.Errorf("not sent before the client was closed: %w", cause)}
		n := 0
		for _, cb := range left {
			de.add(cb, 0, len(cb.items))
			n += len(cb.items)
		}
		c.log.Error("sink client: messages not sent before close", "messages", n, "err", cause)
		c.report(de)
		c.mu.Lock()
		c.held -= n
		c.broadcast()
		c.mu.Unlock()
	}
	if !first {
		return nil
	}
	c.reportMu.Lock()
	firstErr := c.firstErr
	c.reportMu.Unlock()
	failed := c.failed.Load()
	switch {
	case cause != nil && firstErr != nil:
		return fmt.Errorf("sink client: close: %w: %d messages not delivered; the first failure: %w", cause, failed, firstErr)
	case cause != nil:
		return fmt.Errorf("sink client: close: %w", cause)
	case firstErr != nil:
		return fmt.Errorf("sink client: close: %d messages not delivered; the first failure: %w", failed, firstErr)
	}
	return nil
}

// Stats returns the counts so far.
func (c *Client) Stats() Stats {
	s := Stats{
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

// next blocks until a batch is due and takes it, counting it in flight: a
// closed batch, else the open one once the Client is closing or a flush
// asks for its first message. The open batch goes on filling until a worker
// is free to take it. It returns nil when there will be none: the Client is
// aborted, or closed with nothing left.
func (c *Client) next() *clientBatch {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		var cb *clientBatch
		switch {
		case c.aborted:
			return nil
		case len(c.ready) > 0:
			cb = c.ready[0]
			c.ready[0] = nil
			c.ready = c.ready[1:]
		case len(c.open) > 0 && (c.closing || c.open[0].seq <= c.flushTo):
			cb = c.closeOpen()
		case c.closing:
			return nil
		}
		if cb != nil {
			c.inFlight[cb] = struct{}{}
			return cb
		}
		ch := c.changed
		c.mu.Unlock()
		<-ch
		c.mu.Lock()
	}
}

// closeOpen closes the batcher's open batch, which must hold messages, and
// returns it. c.mu must be held.
func (c *Client) closeOpen() *clientBatch {
	cb := &clientBatch{batch: c.batcher.Flush(), items: c.open, minSeq: c.open[0].seq}
	c.open = nil
	return cb
}

// settle counts and reports the outcome of a batch, then takes it out of
// flight.
func (c *Client) settle(cb *clientBatch, err error) {
	n := len(cb.items)
	var rej *sink.RejectedError
	switch {
	case err == nil:
		c.delivered.Add(int64(n))
		c.succeed(cb, nil)
	case errors.As(err, &rej):
		refused := make(map[int]bool, len(rej.Messages))
		for _, m := range rej.Messages {
			refused[m.Index] = true
			status := http.StatusBadRequest
			if m.Reason == sink.ReasonMessageTooLarge {
				status = http.StatusRequestEntityTooLarge
			}
			de := &DeliveryError{Status: status, Err: &segment.StatusError{Status: status, Body: m.Detail}}
			de.add(cb, m.Index, m.Index+1)
			c.log.Warn("sink client: message refused by the API, dropped",
				"messageId", cb.items[m.Index].id, "status", status, "err", m.Detail)
			c.report(de)
		}
		c.delivered.Add(int64(n - len(rej.Messages)))
		c.succeed(cb, refused)
	default:
		de := &DeliveryError{Err: err}
		var se *segment.StatusError
		if errors.As(err, &se) {
			de.Status = se.Status
		}
		c.mu.Lock()
		aborted := c.aborted
		c.mu.Unlock()
		if aborted {
			de.Err = fmt.Errorf("sending when the client was closed: %w", err)
		}
		de.add(cb, 0, n)
		c.log.Error("sink client: batch not delivered", "messages", n, "status", de.Status, "err", de.Err)
		c.report(de)
	}
	c.mu.Lock()
	delete(c.inFlight, cb)
	c.held -= n
	c.broadcast()
	c.mu.Unlock()
}

// add appends messages i to j-1 of cb to e.
func (e *DeliveryError) add(cb *clientBatch, i, j int) {
	for k := i; k < j; k++ {
		e.MessageIDs = append(e.MessageIDs, cb.items[k].id)
		e.Messages = append(e.Messages, clientMessage(cb, k))
	}
}

// clientMessage returns message k of cb. It aliases the batch, which a
// Client never releases; its capacity ends with it, so that appending to
// it cannot touch the next message.
func clientMessage(cb *clientBatch, k int) json.RawMessage {
	m := cb.batch.Message(k)
	return m[:len(m):len(m)]
}

// succeed passes the messages of cb that are not refused to OnSuccess.
func (c *Client) succeed(cb *clientBatch, refused map[int]bool) {
	if c.cfg.OnSuccess == nil || len(refused) == len(cb.items) {
		return
	}
	n := len(cb.items) - len(refused)
	d := Delivery{MessageIDs: make([]string, 0, n), Messages: make([]json.RawMessage, 0, n)}
	for k, p := range cb.items {
		if !refused[k] {
			d.MessageIDs = append(d.MessageIDs, p.id)
			d.Messages = append(d.Messages, clientMessage(cb, k))
		}
	}
	c.reportMu.Lock()
	defer c.reportMu.Unlock()
	c.cfg.OnSuccess(d)
}

// report counts the messages of e as failed, keeps e if it is the first,
// and calls OnError.
func (c *Client) report(e *DeliveryError) {
	c.failed.Add(int64(len(e.MessageIDs)))
	c.reportMu.Lock()
	defer c.reportMu.Unlock()
	if c.firstErr == nil {
		c.firstErr = e
	}
	if c.cfg.OnError != nil {
		c.cfg.OnError(e)
	}
}

// settledUpTo reports whether every message up to seq is delivered or
// reported. c.mu must be held.
func (c *Client) settledUpTo(seq uint64) bool {
	if len(c.open) > 0 && c.open[0].seq <= seq {
		return false
	}
	for _, cb := range c.ready {
		if cb.minSeq <= seq {
			return false
		}
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
