package sink

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeSegment is an httptest stand-in for Segment's batch endpoint. It
// records every request, decoded, and answers as its script says.
type fakeSegment struct {
	srv    *httptest.Server
	clock  func() time.Time
	script func(r *recordedRequest) segReply
	done   chan struct{} // closed at cleanup: held replies give up

	mu       sync.Mutex
	requests []*recordedRequest
	arrived  chan *recordedRequest
	conns    atomic.Int64 // connections opened by clients
}

// recordedRequest is one request the fake server received.
type recordedRequest struct {
	N      int       // order of arrival, from 0
	At     time.Time // the test clock on arrival
	Method string
	Path   string
	Header http.Header
	Wire   []byte // the body as received
	Body   []byte // the body after gunzip
	SentAt string
	IDs    []string         // messageId of each message in the batch
	Msgs   []map[string]any // the decoded messages
	Status int              // the status it was answered with
	Err    string           // why the body could not be decoded, if so
}

// has reports whether the batch holds a message whose id starts with prefix.
func (r *recordedRequest) has(prefix string) bool {
	return slices.ContainsFunc(r.IDs, func(id string) bool { return strings.HasPrefix(id, prefix) })
}

// marked reports whether a message of the batch has properties.bad = true.
func (r *recordedRequest) marked() bool {
	for _, m := range r.Msgs {
		if p, ok := m["properties"].(map[string]any); ok && p["bad"] == true {
			return true
		}
	}
	return false
}

// segReply is a scripted response.
type segReply struct {
	Status int
	Header map[string]string
	Body   string
	Hold   <-chan struct{} // if set, answer only once it is closed
	Hangup bool            // close the connection without answering
	Stall  bool            // send the status line and headers, then nothing more
}

var okReply = segReply{Status: http.StatusOK, Body: `{"success":true}`}

// replies answers the n-th request with rs[n], and later ones with the last.
func replies(rs ...segReply) func(*recordedRequest) segReply {
	return func(r *recordedRequest) segReply { return rs[min(r.N, len(rs)-1)] }
}

// rejectMarked answers 400 (or status, if given) to any batch holding a
// marked message and 200 to the others.
func rejectMarked(status int) func(*recordedRequest) segReply {
	return func(r *recordedRequest) segReply {
		if r.marked() {
			return segReply{Status: status, Body: `{"code":"invalid_request","message":"bad property in batch"}`}
		}
		return okReply
	}
}

func newFakeSegment(t *testing.T, clock func() time.Time, script func(*recordedRequest) segReply) *fakeSegment {
	t.Helper()
	if clock == nil {
		clock = time.Now
	}
	f := &fakeSegment{clock: clock, script: script, done: make(chan struct{}), arrived: make(chan *recordedRequest, 1024)}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	f.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			f.conns.Add(1)
		}
	}
	f.srv.Start()
	t.Cleanup(f.srv.Close)
	t.Cleanup(func() { close(f.done) }) // runs first: lets held handlers return
	return f
}

func (f *fakeSegment) URL() string { return f.srv.URL }

func (f *fakeSegment) serve(w http.ResponseWriter, req *http.Request) {
	rec := &recordedRequest{Method: req.Method, Path: req.URL.Path, Header: req.Header.Clone()}
	rec.Wire, _ = io.ReadAll(req.Body)
	rec.Body = rec.Wire
	if req.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(rec.Wire))
		if err == nil {
			rec.Body, err = io.ReadAll(zr)
		}
		if err != nil {
			rec.Err = "gunzip: " + err.Error()
		}
	}
	if rec.Err == "" {
		var doc struct {
			Batch  []map[string]any `json:"batch"`
			SentAt string           `json:"sentAt"`
		}
		if err := json.Unmarshal(rec.Body, &doc); err != nil {
			rec.Err = "json: " + err.Error()
		}
		rec.Msgs, rec.SentAt = doc.Batch, doc.SentAt
		for _, m := range doc.Batch {
			id, _ := m["messageId"].(string)
			rec.IDs = append(rec.IDs, id)
		}
	}
	f.mu.Lock()
	rec.N = len(f.requests)
	rec.At = f.clock()
	f.requests = append(f.requests, rec)
	f.mu.Unlock()

	reply := segReply{Status: http.StatusBadRequest, Body: rec.Err}
	if rec.Err == "" {
		reply = f.script(rec)
	}
	f.mu.Lock()
	rec.Status = reply.Status
	f.mu.Unlock()
	select {
	case f.arrived <- rec:
	default:
	}
	if reply.Hold != nil {
		select {
		case <-reply.Hold:
		case <-req.Context().Done():
			return
		case <-f.done:
			return
		}
	}
	if reply.Hangup {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	for k, v := range reply.Header {
		w.Header().Set(k, v)
	}
	if reply.Stall {
		w.Header().Set("Content-Length", "1000")
		w.WriteHeader(reply.Status)
		io.WriteString(w, `{"partial":`)
		w.(http.Flusher).Flush()
		select {
		case <-req.Context().Done():
		case <-f.done:
		}
		return
	}
	w.WriteHeader(reply.Status)
	io.WriteString(w, reply.Body)
}

// Requests returns the requests received so far, in order of arrival.
func (f *fakeSegment) Requests() []*recordedRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

// waitArrival returns the next request to arrive.
func (f *fakeSegment) waitArrival(t *testing.T) *recordedRequest {
	t.Helper()
	select {
	case r := <-f.arrived:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no request arrived")
		return nil
	}
}

// delivered counts, per messageId, how often it was in a batch answered 2xx.
func (f *fakeSegment) delivered() map[string]int {
	n := map[string]int{}
	for _, r := range f.Requests() {
		if r.Status >= 200 && r.Status < 300 {
			for _, id := range r.IDs {
				n[id]++
			}
		}
	}
	return n
}

// fakeClock is a test clock that moves only when a wait moves it.
type fakeClock struct {
	mu     sync.Mutex
	t      time.Time
	sleeps []time.Duration
}

var clockStart = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

func newFakeClock() *fakeClock { return &fakeClock{t: clockStart} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// advanceTo moves the clock to t unless it is already later.
func (c *fakeClock) advanceTo(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.t) {
		c.t = t
	}
}

// Sleep records d and moves the clock d ahead at once.
func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	c.sleeps = append(c.sleeps, d)
	c.t = c.t.Add(d)
	c.mu.Unlock()
	return nil
}

func (c *fakeClock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.sleeps)
}

// sendFunc is a Sink made of a function.
type sendFunc func(ctx context.Context, b *Batch) error

func (f sendFunc) Send(ctx context.Context, b *Batch) error { return f(ctx, b) }

// buildBatch returns a batch of n track messages whose ids are prefix-0,
// prefix-1, …; the messages at the indexes in bad carry properties.bad = true.
func buildBatch(t *testing.T, prefix string, n int, bad ...int) *Batch {
	t.Helper()
	bt := NewBatcher(Limits{})
	for i := range n {
		props := Fields{{Key: "i", Value: i}}
		if slices.Contains(bad, i) {
			props = append(props, Field{Key: "bad", Value: true})
		}
		full, err := bt.Add(&Message{
			Type:       TypeTrack,
			MessageID:  fmt.Sprintf("%s-%d", prefix, i),
			Timestamp:  time.Date(2021, 6, 1, 0, 0, i%60, 0, time.UTC),
			UserID:     "user-1",
			Event:      "Song Played",
			Properties: props,
		})
		if err != nil {
			t.Fatalf("add message %d: %v", i, err)
		}
		if full != nil {
			t.Fatalf("batch full at message %d", i)
		}
	}
	b := bt.Flush()
	if b == nil || b.Len() != n {
		t.Fatalf("batch holds %v messages, want %d", b, n)
	}
	return b
}

// testKey is the write key of the tests; no error may show it.
const testKey = "wk_TESTKEY_7f3a9c"

// newTestSender returns an HTTPSender to f whose clock is clock.
func newTestSender(t *testing.T, f *fakeSegment, clock func() time.Time, edit func(*SegmentConfig)) (*HTTPSender, *Stats) {
	t.Helper()
	cfg := SegmentConfig{WriteKey: testKey, Endpoint: f.URL()}
	if edit != nil {
		edit(&cfg)
	}
	stats := new(Stats)
	s, err := NewHTTPSender(cfg, stats)
	if err != nil {
		t.Fatal(err)
	}
	if clock != nil {
		s.now = clock
	}
	return s, stats
}

// newTestRetrier returns a Retrier around next that runs on clock c and
// takes the longest back-off the jitter allows.
func newTestRetrier(next Sink, p RetryPolicy, stats *Stats, c *fakeClock) *Retrier {
	r := NewRetrier(next, p, stats)
	r.now = c.Now
	r.sleep = c.Sleep
	r.jitter = func(d time.Duration) time.Duration { return d }
	return r
}
