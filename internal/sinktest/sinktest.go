package sinktest

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

	"github.com/backfillhq/backfill/sink"
)

// Server is an httptest stand-in for Segment's batch endpoint. It
// records every request, decoded, and answers as its script says.
type Server struct {
	srv    *httptest.Server
	clock  func() time.Time
	script func(r *Request) Reply
	done   chan struct{} // closed at cleanup: held replies give up

	mu       sync.Mutex
	requests []*Request
	arrived  chan *Request
	conns    atomic.Int64 // connections opened by clients
}

// Request is one request the fake server received.
type Request struct {
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

// Has reports whether the batch holds a message whose id starts with prefix.
func (r *Request) Has(prefix string) bool {
	return slices.ContainsFunc(r.IDs, func(id string) bool { return strings.HasPrefix(id, prefix) })
}

// Marked reports whether a message of the batch has properties.bad = true.
func (r *Request) Marked() bool {
	for _, m := range r.Msgs {
		if p, ok := m["properties"].(map[string]any); ok && p["bad"] == true {
			return true
		}
	}
	return false
}

// Reply is a scripted response.
type Reply struct {
	Status int
	Header map[string]string
	Body   string
	Hold   <-chan struct{} // if set, answer only once it is closed
	Hangup bool            // close the connection without answering
	Stall  bool            // send the status line and headers, then nothing more
}

// OK is the answer of a success.
var OK = Reply{Status: http.StatusOK, Body: `{"success":true}`}

// Replies answers the n-th request with rs[n], and later ones with the last.
func Replies(rs ...Reply) func(*Request) Reply {
	return func(r *Request) Reply { return rs[min(r.N, len(rs)-1)] }
}

// RejectMarked answers 400 (or status, if given) to any batch holding a
// marked message and 200 to the others.
func RejectMarked(status int) func(*Request) Reply {
	return func(r *Request) Reply {
		if r.Marked() {
			return Reply{Status: status, Body: `{"code":"invalid_request","message":"bad property in batch"}`}
		}
		return OK
	}
}

// NewServer starts a fake Segment that answers as script says and stamps
// each request with clock (default: time.Now); it stops when t ends.
func NewServer(t *testing.T, clock func() time.Time, script func(*Request) Reply) *Server {
	t.Helper()
	if clock == nil {
		clock = time.Now
	}
	f := &Server{clock: clock, script: script, done: make(chan struct{}), arrived: make(chan *Request, 1024)}
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

// URL returns the base URL of the server, an Endpoint for the sender.
func (f *Server) URL() string { return f.srv.URL }

// Conns returns how many connections clients have opened to the server.
func (f *Server) Conns() int64 { return f.conns.Load() }

func (f *Server) serve(w http.ResponseWriter, req *http.Request) {
	rec := &Request{Method: req.Method, Path: req.URL.Path, Header: req.Header.Clone()}
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

	reply := Reply{Status: http.StatusBadRequest, Body: rec.Err}
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
func (f *Server) Requests() []*Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

// WaitArrival returns the next request to arrive.
func (f *Server) WaitArrival(t *testing.T) *Request {
	t.Helper()
	select {
	case r := <-f.arrived:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no request arrived")
		return nil
	}
}

// Delivered counts, per messageId, how often it was in a batch answered 2xx.
func (f *Server) Delivered() map[string]int {
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

// Clock is a test clock that moves only when a wait moves it.
type Clock struct {
	mu     sync.Mutex
	t      time.Time
	sleeps []time.Duration
}

// ClockStart is the time a NewClock starts at.
var ClockStart = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

// NewClock returns a Clock at ClockStart.
func NewClock() *Clock { return &Clock{t: ClockStart} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// AdvanceTo moves the clock to t unless it is already later.
func (c *Clock) AdvanceTo(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.t) {
		c.t = t
	}
}

// Sleep records d and moves the clock d ahead at once.
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	c.sleeps = append(c.sleeps, d)
	c.t = c.t.Add(d)
	c.mu.Unlock()
	return nil
}

// Sleeps returns every d that Sleep was called with, in order.
func (c *Clock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.sleeps)
}

// SendFunc is a Sink made of a function.
type SendFunc func(ctx context.Context, b *sink.Batch) error

// Send calls f.
func (f SendFunc) Send(ctx context.Context, b *sink.Batch) error { return f(ctx, b) }

// BuildBatch returns a batch of n track messages whose ids are prefix-0,
// prefix-1, …; the messages at the indexes in bad carry properties.bad = true.
func BuildBatch(t *testing.T, prefix string, n int, bad ...int) *sink.Batch {
	t.Helper()
	bt := sink.NewBatcher(sink.Limits{})
	for i := range n {
		props := sink.Fields{{Key: "i", Value: i}}
		if slices.Contains(bad, i) {
			props = append(props, sink.Field{Key: "bad", Value: true})
		}
		full, err := Add(bt, &sink.Message{
			Type:       sink.TypeTrack,
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

// WriteKey is the write key of the tests; no error may show it.
const WriteKey = "wk_TESTKEY_7f3a9c"

// SizedMessage returns track message number i, padded so that its
// encoding is exactly size bytes. Its messageId is "m" and i in six digits.
func SizedMessage(t testing.TB, i, size int) *sink.Message {
	t.Helper()
	m := &sink.Message{
		Type: sink.TypeTrack, MessageID: fmt.Sprintf("m%06d", i), UserID: "u", Event: "e",
		Timestamp:  time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		Properties: sink.Fields{{Key: "pad", Value: ""}},
	}
	b, err := Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	if size < len(b) {
		t.Fatalf("SizedMessage: %d bytes is below the smallest message of %d", size, len(b))
	}
	m.Properties = sink.Fields{{Key: "pad", Value: strings.Repeat("x", size-len(b))}}
	if b, _ = Encode(m); len(b) != size {
		t.Fatalf("SizedMessage: made %d bytes, want %d", len(b), size)
	}
	return m
}

// Encode returns the bytes a MessageWriter with the default limits writes
// for m, or its error.
func Encode(m *sink.Message) ([]byte, error) {
	b, err := sink.NewMessageWriter(sink.Limits{}).WriteMessage(m)
	return bytes.Clone(b), err
}

// LockedBuffer is a bytes.Buffer safe for concurrent use, for a log that
// several goroutines write.
type LockedBuffer struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
}

// Write appends p to the buffer.
func (b *LockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.writes++
	return b.buf.Write(p)
}

// Writes returns how many calls of Write there were.
func (b *LockedBuffer) Writes() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.writes
}

// String returns what was written.
func (b *LockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Add writes m with a MessageWriter and adds its bytes to bt, as the
// importer and the Client do.
func Add(bt *sink.Batcher, m *sink.Message) (*sink.Batch, error) {
	msg, err := Encode(m)
	if err != nil {
		return nil, err
	}
	return bt.AddEncoded(msg)
}
