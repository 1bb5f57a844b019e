package client

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backfillhq/backfill/internal/sinktest"
	"github.com/backfillhq/backfill/sink"
	"github.com/backfillhq/backfill/sink/segment"
)

// errorLog collects what a Client reports to OnError.
type errorLog struct {
	mu   sync.Mutex
	errs []*DeliveryError
	odd  []error // errors that are not *DeliveryError
}

func (l *errorLog) onError(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var de *DeliveryError
	if errors.As(err, &de) {
		l.errs = append(l.errs, de)
	} else {
		l.odd = append(l.odd, err)
	}
}

func (l *errorLog) all(t *testing.T) []*DeliveryError {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.odd) > 0 {
		t.Errorf("OnError got errors of other types: %v", l.odd)
	}
	return slices.Clone(l.errs)
}

// ids returns the messageIds of every report, in order.
func (l *errorLog) ids(t *testing.T) []string {
	var ids []string
	for _, e := range l.all(t) {
		ids = append(ids, e.MessageIDs...)
	}
	return ids
}

// newTestClient returns a Client sending to f on clock clk, reporting to a
// new errorLog, and closes it at the end of the test.
func newTestClient(t *testing.T, f *sinktest.Server, clk *sinktest.Clock, edit func(*Config)) (*Client, *errorLog) {
	t.Helper()
	log := new(errorLog)
	cfg := Config{WriteKey: sinktest.WriteKey, OnError: log.onError, FlushInterval: time.Hour,
		Logger: slog.New(slog.DiscardHandler)}
	if f != nil {
		cfg.Endpoint = f.URL()
	}
	if clk != nil {
		cfg.Delivery.Clock = clk
	}
	if edit != nil {
		edit(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c.Shutdown(ctx)
	})
	return c, log
}

// everyType returns message i of a mix of the six types, with messageId
// prefix-i.
func everyType(prefix string, i int) Messager {
	id := fmt.Sprintf("%s-%d", prefix, i)
	ts := time.Date(2024, 5, 1, 10, 0, i%60, 0, time.UTC)
	user := fmt.Sprintf("u%d", i%7)
	switch i % 6 {
	case 0:
		return Identify{MessageID: id, Timestamp: ts, UserID: user, Traits: map[string]any{"plan": "pro", "i": i}}
	case 1:
		return Track{MessageID: id, Timestamp: ts, UserID: user, Event: "Item Purchased", Properties: map[string]any{"revenue": 39.95, "i": i}}
	case 2:
		return Page{MessageID: id, Timestamp: ts, AnonymousID: "anon-" + user, Name: "Pricing", Category: "Docs", Properties: map[string]any{"i": i}}
	case 3:
		return Screen{MessageID: id, Timestamp: ts, UserID: user, Name: "Home", Properties: map[string]any{"i": i}}
	case 4:
		return Group{MessageID: id, Timestamp: ts, UserID: user, GroupID: "g1", Traits: map[string]any{"i": i}}
	default:
		return &sink.Message{Type: sink.TypeAlias, MessageID: id, Timestamp: ts, UserID: user, PreviousID: "anon-" + user, Properties: sink.Fields{{Key: "i", Value: i}}}
	}
}

func TestClientDeliversEverythingOnce(t *testing.T) {
	f := sinktest.NewServer(t, nil, sinktest.Replies(sinktest.OK))
	c, log := newTestClient(t, f, nil, func(c *Config) {
		c.BatchSize = 10
		c.Concurrency = 3
		c.Delivery.Rate = -1
	})
	const producers, each = 4, 250
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for i := range each {
				if err := c.Enqueue(everyType(fmt.Sprintf("p%d", p), i)); err != nil {
					t.Errorf("Enqueue: %v", err)
				}
			}
		})
	}
	wg.Wait()
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	delivered := f.Delivered()
	if len(delivered) != producers*each {
		t.Errorf("%d distinct messages delivered, want %d", len(delivered), producers*each)
	}
	for p := range producers {
		for i := range each {
			if id := fmt.Sprintf("p%d-%d", p, i); delivered[id] != 1 {
				t.Fatalf("%s delivered %d times, want 1", id, delivered[id])
			}
		}
	}
	for _, r := range f.Requests() {
		if len(r.IDs) > 10 {
			t.Errorf("a batch of %d messages, BatchSize is 10", len(r.IDs))
		}
	}
	if errs := log.all(t); len(errs) != 0 {
		t.Errorf("OnError called: %v", errs)
	}
	got := c.Stats()
	if got.Enqueued != producers*each || got.Delivered != producers*each || got.Failed != 0 || got.Held != 0 {
		t.Errorf("stats %+v", got)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// TestClientWireFormat: what reaches the server for each type, with a
// missing messageId and timestamp filled in.
func TestClientWireFormat(t *testing.T) {
	clk := sinktest.NewClock()
	f := sinktest.NewServer(t, clk.Now, sinktest.Replies(sinktest.OK))
	c, _ := newTestClient(t, f, clk, nil)
	for _, m := range []Messager{
		Identify{UserID: "u1", Traits: map[string]any{"email": "a@example.com"}},
		Track{UserID: "u1", Event: "Item Purchased", Properties: map[string]any{"revenue": 39.95}, Context: map[string]any{"ip": "10.0.0.1"}},
		Page{AnonymousID: "a1", Name: "Pricing", Category: "Docs"},
		Screen{UserID: "u1", Name: "Home"},
		Group{UserID: "u1", GroupID: "g1", Traits: map[string]any{"seats": 5}, Integrations: map[string]any{"All": false}},
		Alias{UserID: "u1", PreviousID: "a1"},
	} {
		if err := c.Enqueue(m); err != nil {
			t.Fatalf("Enqueue(%T): %v", m, err)
		}
	}
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	var msgs []map[string]any
	for _, r := range f.Requests() {
		msgs = append(msgs, r.Msgs...)
		if want := "Basic " + base64.StdEncoding.EncodeToString([]byte(sinktest.WriteKey+":")); r.Header.Get("Authorization") != want {
			t.Errorf("Authorization %q", r.Header.Get("Authorization"))
		}
	}
	if len(msgs) != 6 {
		t.Fatalf("%d messages reached the server, want 6", len(msgs))
	}
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	ids := map[string]bool{}
	for _, m := range msgs {
		id, _ := m["messageId"].(string)
		if !uuid.MatchString(id) || ids[id] {
			t.Errorf("messageId %q: want a fresh random UUID", id)
		}
		ids[id] = true
		if got, want := m["timestamp"], sinktest.ClockStart.Format(sink.TimeLayout); got != want {
			t.Errorf("timestamp %v, want the clock's %s", got, want)
		}
		ctx, _ := m["context"].(map[string]any)
		if _, ok := ctx["library"]; !ok {
			t.Errorf("context %v has no library", m["context"])
		}
	}
	want := []map[string]any{
		{"type": "identify", "userId": "u1", "traits": map[string]any{"email": "a@example.com"}},
		{"type": "track", "userId": "u1", "event": "Item Purchased", "properties": map[string]any{"revenue": 39.95}},
		{"type": "page", "anonymousId": "a1", "name": "Pricing", "category": "Docs"},
		{"type": "screen", "userId": "u1", "name": "Home"},
		{"type": "group", "userId": "u1", "groupId": "g1", "traits": map[string]any{"seats": 5.0}, "integrations": map[string]any{"All": false}},
		{"type": "alias", "userId": "u1", "previousId": "a1"},
	}
	for i, w := range want {
		for k, v := range w {
			if got, _ := json.Marshal(msgs[i][k]); string(got) != mustJSON(t, v) {
				t.Errorf("message %d: %s = %s, want %s", i, k, got, mustJSON(t, v))
			}
		}
		for _, k := range []string{"properties", "traits", "integrations"} {
			if _, set := w[k]; !set && msgs[i][k] != nil {
				t.Errorf("message %d has %s %v, want none", i, k, msgs[i][k])
			}
		}
	}
	if ip := msgs[1]["context"].(map[string]any)["ip"]; ip != "10.0.0.1" {
		t.Errorf("track context ip %v", ip)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestClientEnqueueKeepsTheCallersMessage: filling in the id and timestamp
// does not modify the *Message given.
func TestClientEnqueueKeepsTheCallersMessage(t *testing.T) {
	c, _ := newTestClient(t, nil, nil, func(c *Config) { c.Stub = true })
	m := &sink.Message{Type: sink.TypeTrack, UserID: "u", Event: "e"}
	if err := c.Enqueue(m); err != nil {
		t.Fatal(err)
	}
	if m.MessageID != "" || !m.Timestamp.IsZero() {
		t.Errorf("Enqueue modified the message: %+v", m)
	}
}

func TestClientEnqueueErrors(t *testing.T) {
	for _, tc := range []struct {
		name       string
		msg        Messager
		wantField  string // of a *sink.ValidationError
		wantReason string
		tooLarge   bool
	}{
		{"no message", nil, "type", sink.ReasonInvalidType, false},
		{"nil *Message", (*sink.Message)(nil), "type", sink.ReasonInvalidType, false},
		{"no user", Track{Event: "e"}, "userId", sink.ReasonMissingID, false},
		{"track without event", Track{UserID: "u"}, "event", sink.ReasonMissingEvent, false},
		{"group without groupId", Group{UserID: "u"}, "groupId", sink.ReasonMissingID, false},
		{"alias without previousId", Alias{UserID: "u"}, "previousId", sink.ReasonMissingID, false},
		{"unknown type", &sink.Message{Type: "purchase", UserID: "u"}, "type", sink.ReasonInvalidType, false},
		{"messageId too long", Track{UserID: "u", Event: "e", MessageID: strings.Repeat("x", 101)}, "messageId", sink.ReasonInvalidMessageID, false},
		{"timestamp out of range", Track{UserID: "u", Event: "e", Timestamp: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}, "timestamp", sink.ReasonBadTimestamp, false},
		{"NaN property", Track{UserID: "u", Event: "e", Properties: map[string]any{"x": math.NaN()}}, "properties.x", sink.ReasonInvalidValue, false},
		{"too large", Track{UserID: "u", Event: "e", Properties: map[string]any{"blob": strings.Repeat("x", 32_000)}}, "", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newTestClient(t, nil, nil, func(c *Config) { c.Stub = true })
			err := c.Enqueue(tc.msg)
			if tc.tooLarge {
				var tl *sink.TooLargeError
				if !errors.As(err, &tl) || !errors.Is(err, sink.ErrMessageTooLarge) || tl.Limit != sink.DefaultMaxMessageBytes {
					t.Fatalf("Enqueue: %v, want a *TooLargeError", err)
				}
			} else {
				var ve *sink.ValidationError
				if !errors.As(err, &ve) || ve.Field != tc.wantField || ve.Reason != tc.wantReason {
					t.Fatalf("Enqueue: %#v, want a *ValidationError on %s (%s)", err, tc.wantField, tc.wantReason)
				}
			}
			if got := c.Stats(); got.Enqueued != 0 || got.Held != 0 {
				t.Errorf("a refused message was queued: %+v", got)
			}
		})
	}
}

// TestClientQueueFull: with the server stuck, Enqueue refuses beyond
// MaxQueueSize messages instead of blocking or growing, and accepts again
// once messages are delivered.
func TestClientQueueFull(t *testing.T) {
	release := make(chan struct{})
	f := sinktest.NewServer(t, nil, sinktest.Replies(sinktest.Reply{Status: 200, Hold: release}))
	c, _ := newTestClient(t, f, nil, func(c *Config) {
		c.MaxQueueSize = 5
		c.BatchSize = 2
	})
	for i := range 5 {
		if err := c.Enqueue(everyType("m", i)); err != nil {
			t.Fatalf("Enqueue %d: %v", i, err)
		}
	}
	f.WaitArrival(t) // the first batch is in flight, held
	for range 3 {
		if err := c.Enqueue(everyType("x", 0)); !errors.Is(err, ErrQueueFull) {
			t.Fatalf("Enqueue on a full queue: %v, want ErrQueueFull", err)
		}
	}
	if got := c.Stats(); got.Held != 5 || got.Enqueued != 5 {
		t.Errorf("stats %+v, want 5 held", got)
	}
	close(release)
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := c.Enqueue(everyType("m", 5)); err != nil {
		t.Fatalf("Enqueue after the queue drained: %v", err)
	}
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := c.Stats(); got.Delivered != 6 || got.Held != 0 {
		t.Errorf("stats %+v, want 6 delivered", got)
	}
}

// TestClientOnErrorRefused: a message the API refuses is isolated and
// reported alone with its status; the rest of its batch is delivered.
func TestClientOnErrorRefused(t *testing.T) {
	f := sinktest.NewServer(t, nil, sinktest.RejectMarked(400))
	c, log := newTestClient(t, f, nil, nil)
	for i := range 10 {
		props := map[string]any{"i": i}
		if i == 6 {
			props["bad"] = true
		}
		if err := c.Enqueue(Track{MessageID: fmt.Sprintf("m-%d", i), UserID: "u", Event: "e", Properties: props}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	errs := log.all(t)
	if len(errs) != 1 {
		t.Fatalf("OnError called %d times (%v), want once", len(errs), errs)
	}
	de := errs[0]
	if de.Status != 400 || !slices.Equal(de.MessageIDs, []string{"m-6"}) || len(de.Messages) != 1 {
		t.Fatalf("DeliveryError %+v, want status 400 for m-6", de)
	}
	var m map[string]any
	if err := json.Unmarshal(de.Messages[0], &m); err != nil || m["messageId"] != "m-6" {
		t.Errorf("reported message %s: %v", de.Messages[0], err)
	}
	var se *segment.StatusError
	if !errors.As(de, &se) || se.Status != 400 || !strings.Contains(de.Error(), "bad property in batch") {
		t.Errorf("error %q does not carry the API's answer", de)
	}
	delivered := f.Delivered()
	for i := range 10 {
		want := 1
		if i == 6 {
			want = 0
		}
		if got := delivered[fmt.Sprintf("m-%d", i)]; got != want {
			t.Errorf("m-%d delivered %d times, want %d", i, got, want)
		}
	}
	if got := c.Stats(); got.Delivered != 9 || got.Failed != 1 {
		t.Errorf("stats %+v, want 9 delivered, 1 failed", got)
	}
}

// TestClientOnErrorAfterRetries: a batch that still fails when its retries
// run out is reported with the last status and the cause; the queue goes
// on.
func TestClientOnErrorAfterRetries(t *testing.T) {
	clk := sinktest.NewClock()
	f := sinktest.NewServer(t, clk.Now, func(r *sinktest.Request) sinktest.Reply {
		if r.Has("a") {
			return sinktest.Reply{Status: 500, Body: "boom"}
		}
		return sinktest.OK
	})
	c, log := newTestClient(t, f, clk, func(c *Config) { c.Delivery.MaxRetries = 2 })
	for i := range 3 {
		if err := c.Enqueue(Track{MessageID: fmt.Sprintf("a-%d", i), UserID: "u", Event: "e"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	errs := log.all(t)
	if len(errs) != 1 {
		t.Fatalf("OnError called %d times, want once", len(errs))
	}
	de := errs[0]
	var re *segment.RetryError
	if de.Status != 500 || len(de.MessageIDs) != 3 || !errors.As(de, &re) || re.Attempts != 3 {
		t.Errorf("DeliveryError %+v (%v), want status 500, 3 messages, 3 attempts", de, de)
	}
	if !strings.Contains(de.Error(), "3 messages not delivered") {
		t.Errorf("error %q does not give the count", de)
	}
	if err := c.Enqueue(Track{MessageID: "b-0", UserID: "u", Event: "e"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := f.Delivered()["b-0"]; got != 1 {
		t.Errorf("the next message was delivered %d times, want 1", got)
	}
	if got := c.Stats(); got.Delivered != 1 || got.Failed != 3 || got.Transport.Retries != 2 {
		t.Errorf("stats %+v", got)
	}
}

// TestClientRetryAfter: a 429 with Retry-After holds the batch back for the
// time it names, on the Client's clock, then delivers it.
func TestClientRetryAfter(t *testing.T) {
	clk := sinktest.NewClock()
	f := sinktest.NewServer(t, clk.Now, sinktest.Replies(
		sinktest.Reply{Status: 429, Header: map[string]string{"Retry-After": "3"}},
		sinktest.OK,
	))
	c, log := newTestClient(t, f, clk, nil)
	if err := c.Enqueue(Track{UserID: "u", Event: "e"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	reqs := f.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	if gap := reqs[1].At.Sub(reqs[0].At); gap < 3*time.Second {
		t.Errorf("retried after %s, before the Retry-After of 3s", gap)
	}
	if len(log.all(t)) != 0 {
		t.Errorf("OnError called")
	}
	if got := c.Stats().Transport; got.Throttled != 1 || got.Retries != 1 || got.CurrentRate >= segment.DefaultRate {
		t.Errorf("transport %+v, want 1 throttled, 1 retry, a lowered rate", got)
	}
}

// TestClientCloseReportsUnsent: when Shutdown's context ends with the
// server stuck, every message not delivered, in flight or queued, is
// reported to OnError exactly once, and Shutdown says how many.
func TestClientCloseReportsUnsent(t *testing.T) {
	f := sinktest.NewServer(t, nil, sinktest.Replies(sinktest.Reply{Status: 200, Hold: make(chan struct{})}))
	c, log := newTestClient(t, f, nil, func(c *Config) { c.BatchSize = 2 })
	var want []string
	for i := range 5 {
		want = append(want, fmt.Sprintf("m-%d", i))
		if err := c.Enqueue(Track{MessageID: want[i], UserID: "u", Event: "e"}); err != nil {
			t.Fatal(err)
		}
	}
	f.WaitArrival(t) // the first batch is stuck in flight
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := c.Shutdown(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "5 messages not delivered") {
		t.Fatalf("Shutdown: %v, want a deadline error naming 5 messages", err)
	}
	got := log.ids(t)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("reported %v, want each of %v once", got, want)
	}
	for _, de := range log.all(t) {
		if !errors.Is(de, context.Canceled) && !errors.Is(de, context.DeadlineExceeded) {
			t.Errorf("report %v does not say the close ended it", de)
		}
	}
	if s := c.Stats(); s.Failed != 5 || s.Held != 0 || s.Delivered != 0 {
		t.Errorf("stats %+v, want 5 failed", s)
	}
	if err := c.Enqueue(Track{UserID: "u", Event: "e"}); !errors.Is(err, ErrClosed) {
		t.Errorf("Enqueue after Close: %v, want ErrClosed", err)
	}
	if err := c.Flush(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Flush after Close: %v, want ErrClosed", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v, want nil", err)
	}
	if n := len(log.ids(t)); n != 5 {
		t.Errorf("%d reports after a second Close, want 5", n)
	}
}

// TestClientCloseFlushes: Close sends a partial batch and returns once it
// is delivered.
func TestClientCloseFlushes(t *testing.T) {
	f := sinktest.NewServer(t, nil, sinktest.Replies(sinktest.OK))
	c, _ := newTestClient(t, f, nil, nil)
	for i := range 7 {
		if err := c.Enqueue(everyType("m", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if got := len(f.Delivered()); got != 7 {
		t.Errorf("%d messages delivered by Close, want 7", got)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestClientFlushInterval: a partial batch goes out on its own after the
// flush interval.
func TestClientFlushInterval(t *testing.T) {
	f := sinktest.NewServer(t, nil, sinktest.Replies(sinktest.OK))
	c, _ := newTestClient(t, f, nil, func(c *Config) { c.FlushInterval = 10 * time.Millisecond })
	for i := range 3 {
		if err := c.Enqueue(everyType("m", i)); err != nil {
			t.Fatal(err)
		}
	}
	if r := f.WaitArrival(t); len(r.IDs) != 3 {
		t.Errorf("the interval sent %d messages, want 3", len(r.IDs))
	}
}

func TestClientFlushCancelled(t *testing.T) {
	release := make(chan struct{})
	f := sinktest.NewServer(t, nil, sinktest.Replies(sinktest.Reply{Status: 200, Hold: release}))
	c, _ := newTestClient(t, f, nil, nil)
	t.Cleanup(func() { close(release) }) // before the client's cleanup
	if err := c.Enqueue(everyType("m", 1)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		f.WaitArrival(t)
		cancel()
	}()
	if err := c.Flush(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Flush: %v, want context.Canceled", err)
	}
}

// TestClientByteCap: batches of large messages close before 500,000 bytes.
func TestClientByteCap(t *testing.T) {
	f := sinktest.NewServer(t, nil, sinktest.Replies(sinktest.OK))
	c, _ := newTestClient(t, f, nil, func(c *Config) { c.Delivery.Rate = -1 })
	for i := range 40 {
		m := sinktest.SizedMessage(t, i, 31_000)
		if err := c.Enqueue(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, r := range f.Requests() {
		if len(r.Body) > sink.DefaultMaxBatchBytes {
			t.Errorf("a body of %d bytes", len(r.Body))
		}
		total += len(r.IDs)
	}
	if total != 40 || len(f.Requests()) < 3 {
		t.Errorf("%d messages in %d requests, want 40 in 3 or more", total, len(f.Requests()))
	}
}

// TestClientStub: no network; every batch counts as delivered after the
// same batching.
func TestClientStub(t *testing.T) {
	c, log := newTestClient(t, nil, nil, func(c *Config) {
		c.WriteKey = ""
		c.Stub = true
		c.Delivery.Rate = -1
	})
	for i := range 250 {
		if err := c.Enqueue(everyType("m", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	got := c.Stats()
	if got.Delivered != 250 || got.Transport.Requests != 3 || got.Transport.BytesSent == 0 {
		t.Errorf("stats %+v, want 250 delivered in 3 requests whose bodies were encoded as for sending", got)
	}
	if len(log.all(t)) != 0 {
		t.Errorf("OnError called")
	}
}

// TestClientsSideBySide: two Clients with their own write keys and servers,
// used at once, share nothing.
func TestClientsSideBySide(t *testing.T) {
	keys := []string{"wk_first_111", "wk_second_222"}
	servers := make([]*sinktest.Server, 2)
	clients := make([]*Client, 2)
	for i := range 2 {
		servers[i] = sinktest.NewServer(t, nil, sinktest.Replies(sinktest.OK))
		clients[i], _ = newTestClient(t, servers[i], nil, func(c *Config) {
			c.WriteKey = keys[i]
			c.BatchSize = 7
			c.Concurrency = 2
			c.Delivery.Rate = -1
		})
	}
	var wg sync.WaitGroup
	for i := range 2 {
		for p := range 3 {
			wg.Go(func() {
				for j := range 100 {
					if err := clients[i].Enqueue(everyType(fmt.Sprintf("c%d-p%d", i, p), j)); err != nil {
						t.Error(err)
					}
				}
			})
		}
	}
	wg.Wait()
	for i := range 2 {
		wg.Go(func() {
			if err := clients[i].Flush(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for i, f := range servers {
		auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(keys[i]+":"))
		for _, r := range f.Requests() {
			if r.Header.Get("Authorization") != auth {
				t.Errorf("server %d got a request with another write key", i)
			}
		}
		delivered := f.Delivered()
		if len(delivered) != 300 {
			t.Errorf("server %d got %d messages, want 300", i, len(delivered))
		}
		for id, n := range delivered {
			if !strings.HasPrefix(id, fmt.Sprintf("c%d-", i)) || n != 1 {
				t.Errorf("server %d got %s %d times", i, id, n)
			}
		}
		if got := clients[i].Stats(); got.Delivered != 300 || got.Transport.Messages != 300 {
			t.Errorf("client %d stats %+v", i, got)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"minimal", Config{WriteKey: sinktest.WriteKey}, ""},
		{"stub without key", Config{Stub: true}, ""},
		{"no key", Config{}, "WriteKey"},
		{"bad endpoint", Config{WriteKey: sinktest.WriteKey, Endpoint: "mars"}, "Endpoint"},
		{"negative queue", Config{WriteKey: sinktest.WriteKey, MaxQueueSize: -1}, "MaxQueueSize"},
		{"batch too big", Config{WriteKey: sinktest.WriteKey, BatchSize: 2501}, "BatchSize"},
		{"negative interval", Config{WriteKey: sinktest.WriteKey, FlushInterval: -1}, "FlushInterval"},
		{"negative concurrency", Config{WriteKey: sinktest.WriteKey, Concurrency: -1}, "Concurrency"},
		{"negative close timeout", Config{WriteKey: sinktest.WriteKey, CloseTimeout: -1}, "CloseTimeout"},
		{"key in Delivery", Config{Delivery: segment.Config{WriteKey: sinktest.WriteKey}}, "Delivery.WriteKey"},
		{"endpoint in Delivery", Config{WriteKey: sinktest.WriteKey, Delivery: segment.Config{Endpoint: "eu"}}, "Delivery.Endpoint"},
		{"stub in Delivery", Config{WriteKey: sinktest.WriteKey, Delivery: segment.Config{Stub: true}}, "Delivery.Stub"},
		{"bad delivery field", Config{WriteKey: sinktest.WriteKey, Delivery: segment.Config{MinRate: -1}}, "MinRate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("Validate: %v, want an error naming %s", err, tc.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), sinktest.WriteKey) {
				t.Errorf("error shows the write key: %v", err)
			}
			c, nerr := New(tc.cfg)
			if (nerr == nil) != (err == nil) {
				t.Errorf("New error %v, Validate error %v", nerr, err)
			}
			if c != nil {
				c.Close()
			}
		})
	}
}

func TestNewUUID(t *testing.T) {
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for range 1000 {
		id := newUUID()
		if !uuid.MatchString(id) {
			t.Fatalf("%q is not a version 4 UUID", id)
		}
		if seen[id] {
			t.Fatalf("%q twice", id)
		}
		seen[id] = true
	}
}

// TestClientConcurrentUse: Enqueue, Flush, Stats and Close from many
// goroutines at once (for the race detector); every message accepted is
// delivered or reported.
func TestClientConcurrentUse(t *testing.T) {
	f := sinktest.NewServer(t, nil, func(r *sinktest.Request) sinktest.Reply {
		if r.N%5 == 4 {
			return sinktest.Reply{Status: 503}
		}
		return sinktest.OK
	})
	var accepted atomic.Int64
	c, log := newTestClient(t, f, sinktest.NewClock(), func(c *Config) {
		c.BatchSize = 5
		c.Concurrency = 4
		c.MaxQueueSize = 50
		c.Delivery.Rate = -1
	})
	var wg sync.WaitGroup
	for p := range 6 {
		wg.Go(func() {
			for i := range 200 {
				switch err := c.Enqueue(everyType(fmt.Sprintf("p%d", p), i)); {
				case err == nil:
					accepted.Add(1)
				case errors.Is(err, ErrQueueFull), errors.Is(err, ErrClosed):
				default:
					t.Error(err)
				}
				if i%50 == 0 {
					c.Flush(context.Background())
					c.Stats()
				}
			}
		})
	}
	wg.Wait()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	got := c.Stats()
	if got.Enqueued != accepted.Load() || got.Delivered+got.Failed != got.Enqueued || got.Held != 0 {
		t.Errorf("stats %+v for %d accepted", got, accepted.Load())
	}
	if int64(len(log.ids(t))) != got.Failed {
		t.Errorf("%d reported, %d failed", len(log.ids(t)), got.Failed)
	}
	delivered := f.Delivered()
	if int64(len(delivered)) < got.Delivered {
		t.Errorf("%d distinct messages reached the server, %d counted delivered", len(delivered), got.Delivered)
	}
}

// successLog collects what a Client passes to OnSuccess.
type successLog struct {
	mu  sync.Mutex
	ids []string
}

func (l *successLog) onSuccess(d Delivery) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(d.MessageIDs) != len(d.Messages) {
		panic(fmt.Sprintf("OnSuccess: %d ids, %d messages", len(d.MessageIDs), len(d.Messages)))
	}
	for i, id := range d.MessageIDs {
		var m struct{ MessageID string }
		if err := json.Unmarshal(d.Messages[i], &m); err != nil || m.MessageID != id {
			panic(fmt.Sprintf("OnSuccess: message %s is %s (%v)", id, d.Messages[i], err))
		}
	}
	l.ids = append(l.ids, d.MessageIDs...)
}

func (l *successLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.ids)
}

// TestClientCloseUnauthorized: with the write key refused, Close returns an
// error that says so, even without OnError, and the messages count as
// failed.
func TestClientCloseUnauthorized(t *testing.T) {
	for _, status := range []int{401, 403} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			f := sinktest.NewServer(t, nil, sinktest.Replies(sinktest.Reply{Status: status, Body: `{"error":"unauthorized"}`}))
			c, _ := newTestClient(t, f, nil, func(c *Config) {
				c.OnError = nil
				c.BatchSize = 2
			})
			for i := range 5 {
				if err := c.Enqueue(everyType("m", i)); err != nil {
					t.Fatal(err)
				}
			}
			err := c.Close()
			if !errors.Is(err, sink.ErrUnauthorized) {
				t.Fatalf("Close: %v, want an error wrapping ErrUnauthorized", err)
			}
			var de *DeliveryError
			var se *segment.StatusError
			if !errors.As(err, &de) || de.Status != status || !errors.As(err, &se) || se.Status != status {
				t.Errorf("Close: %v, want the *DeliveryError of status %d", err, status)
			}
			if strings.Contains(err.Error(), sinktest.WriteKey) {
				t.Errorf("Close's error shows the write key: %v", err)
			}
			if s := c.Stats(); s.Failed != 5 || s.Delivered != 0 || s.Held != 0 {
				t.Errorf("stats %+v, want 5 failed", s)
			}
			if !strings.Contains(err.Error(), "5 messages not delivered") {
				t.Errorf("Close: %q does not give the count", err)
			}
		})
	}
}

// TestClientCloseAllDelivered: when every batch is acknowledged, Close
// returns nil and OnSuccess saw every message once, OnError none.
func TestClientCloseAllDelivered(t *testing.T) {
	f := sinktest.NewServer(t, nil, sinktest.Replies(sinktest.OK))
	var ok successLog
	c, log := newTestClient(t, f, nil, func(c *Config) {
		c.BatchSize = 7
		c.Concurrency = 2
		c.OnSuccess = ok.onSuccess
	})
	var want []string
	for i := range 50 {
		m := everyType("m", i)
		want = append(want, m.Message().MessageID)
		if err := c.Enqueue(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v, want nil", err)
	}
	got := ok.all()
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("OnSuccess saw %v, want each of %v once", got, want)
	}
	if errs := log.all(t); len(errs) != 0 {
		t.Errorf("OnError called: %v", errs)
	}
	if n := len(f.Requests()); n != 8 {
		t.Errorf("%d requests, want 8 (batches of 7)", n)
	}
}

// TestClientOnSuccessAndOnError: of a batch from which the API refuses one
// message, the others go to OnSuccess and the refused one to OnError; every
// message is in exactly one of them, and Close returns the refusal.
func TestClientOnSuccessAndOnError(t *testing.T) {
	f := sinktest.NewServer(t, nil, sinktest.RejectMarked(400))
	var ok successLog
	c, log := newTestClient(t, f, nil, func(c *Config) { c.OnSuccess = ok.onSuccess })
	for i := range 10 {
		props := map[string]any{"i": i}
		if i == 3 {
			props["bad"] = true
		}
		if err := c.Enqueue(Track{MessageID: fmt.Sprintf("m-%d", i), UserID: "u", Event: "e", Properties: props}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := log.ids(t); !slices.Equal(got, []string{"m-3"}) {
		t.Errorf("OnError saw %v, want m-3", got)
	}
	want := []string{"m-0", "m-1", "m-2", "m-4", "m-5", "m-6", "m-7", "m-8", "m-9"}
	if got := ok.all(); !slices.Equal(got, want) {
		t.Errorf("OnSuccess saw %v, want %v in order", got, want)
	}
	// A later success does not hide the earlier failure from Close.
	if err := c.Enqueue(Track{MessageID: "late", UserID: "u", Event: "e"}); err != nil {
		t.Fatal(err)
	}
	err := c.Close()
	var se *segment.StatusError
	if !errors.As(err, &se) || se.Status != 400 || !strings.Contains(err.Error(), "m-3") {
		t.Errorf("Close: %v, want the refusal of m-3", err)
	}
	if got := ok.all(); got[len(got)-1] != "late" {
		t.Errorf("OnSuccess saw %v, want the late message last", got)
	}
}

// TestClientStubOnSuccess: a stub Client passes every message to OnSuccess
// and Close returns nil.
func TestClientStubOnSuccess(t *testing.T) {
	var ok successLog
	c, _ := newTestClient(t, nil, nil, func(c *Config) {
		c.Stub = true
		c.OnSuccess = ok.onSuccess
	})
	for i := range 30 {
		if err := c.Enqueue(everyType("s", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if got := len(ok.all()); got != 30 {
		t.Errorf("OnSuccess saw %d messages, want 30", got)
	}
}

// TestClientLogs: retries are logged at Debug level, a batch that fails for
// good at Error level, a refused message at Warn; the write key appears
// nowhere, even when the server echoes it.
func TestClientLogs(t *testing.T) {
	clk := sinktest.NewClock()
	echo := "your key was " + sinktest.WriteKey
	f := sinktest.NewServer(t, clk.Now, func(r *sinktest.Request) sinktest.Reply {
		switch {
		case r.Has("fail"):
			return sinktest.Reply{Status: 500, Body: echo}
		case r.Marked():
			return sinktest.Reply{Status: 400, Body: echo}
		}
		return sinktest.OK
	})
	var buf sinktest.LockedBuffer
	c, _ := newTestClient(t, f, clk, func(c *Config) {
		c.Delivery.MaxRetries = 2
		c.Logger = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	for i := range 3 {
		if err := c.Enqueue(Track{MessageID: fmt.Sprintf("fail-%d", i), UserID: "u", Event: "e"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		props := map[string]any{"bad": i == 1}
		if err := c.Enqueue(Track{MessageID: fmt.Sprintf("ok-%d", i), UserID: "u", Event: "e", Properties: props}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(); err == nil {
		t.Fatal("Close: nil after failures")
	}
	out := buf.String()
	for _, want := range []string{
		`level=DEBUG msg="sink: retrying a batch" messages=3 attempt=2`,
		`level=DEBUG msg="sink: retrying a batch" messages=3 attempt=3`,
		`level=ERROR msg="sink client: batch not delivered" messages=3 status=500`,
		`level=WARN msg="sink client: message refused by the API, dropped" messageId=ok-1 status=400`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "your key was [write key]") {
		t.Errorf("log does not show the server's words, redacted:\n%s", out)
	}
	auth := base64.StdEncoding.EncodeToString([]byte(sinktest.WriteKey + ":"))
	if strings.Contains(out, sinktest.WriteKey) || strings.Contains(out, auth) {
		t.Errorf("log shows the write key:\n%s", out)
	}
}

// TestClientLogsToDefault: without Logger, failures go to slog.Default().
func TestClientLogsToDefault(t *testing.T) {
	var buf sinktest.LockedBuffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })
	f := sinktest.NewServer(t, nil, sinktest.Replies(sinktest.Reply{Status: 401}))
	c, _ := newTestClient(t, f, nil, func(c *Config) { c.Logger = nil })
	if err := c.Enqueue(Track{UserID: "u", Event: "e"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); !errors.Is(err, sink.ErrUnauthorized) {
		t.Fatalf("Close: %v", err)
	}
	out := buf.String()
	if !strings.Contains(out, `level=ERROR msg="sink client: batch not delivered" messages=1 status=401`) {
		t.Errorf("the default logger got:\n%s", out)
	}
	if strings.Contains(out, sinktest.WriteKey) {
		t.Errorf("log shows the write key:\n%s", out)
	}
}

// TestRedactHandler: the write key is taken out of the message, string and
// error attributes, groups and attributes added with With.
func TestRedactHandler(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(redactHandler{next: slog.NewJSONHandler(&buf, nil), secret: sinktest.WriteKey})
	log = log.With("with", "a "+sinktest.WriteKey)
	log.Info("message "+sinktest.WriteKey,
		"s", sinktest.WriteKey,
		"err", fmt.Errorf("wrapped: %w", errors.New(sinktest.WriteKey)),
		"n", 42,
		slog.Group("g", "inner", sinktest.WriteKey+sinktest.WriteKey))
	out := buf.String()
	if strings.Contains(out, sinktest.WriteKey) {
		t.Fatalf("redacted log shows the key: %s", out)
	}
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"msg": "message [write key]", "with": "a [write key]", "s": "[write key]",
		"err": "wrapped: [write key]", "n": 42.0, "g": map[string]any{"inner": "[write key][write key]"},
	}
	for k, v := range want {
		if got, _ := json.Marshal(rec[k]); string(got) != mustJSON(t, v) {
			t.Errorf("%s = %s, want %s", k, got, mustJSON(t, v))
		}
	}
}
