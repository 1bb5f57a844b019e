package importer

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/backfillhq/backfill/sink"
	"github.com/backfillhq/backfill/sink/segment"
)

// The fault-injection tests run imports through the real Segment sink chain
// against a scripted server on 127.0.0.1 that misbehaves, and check that
// every row is delivered at least once, duplicates carry the same messageId
// and content, and the report's counts add up. Time goes by a fake clock
// whose waits return at once, so minutes of back-off take milliseconds;
// only the request timeout runs on the real clock.

// faultKind is how the server answers one request.
type faultKind int

const (
	faultNone       faultKind = iota
	fault500                  // 500 Internal Server Error
	fault429After             // 429 with a Retry-After of 1 to 5 seconds
	fault429Bare              // 429 without Retry-After
	faultLostAck              // the batch is accepted, then the connection closes without an answer
	faultSlow                 // the batch is accepted, the answer comes after the client gave up
	faultReset                // the connection is reset while the body arrives
	faultDown503              // the server is down: 503
	faultDownHangup           // the server is down: the connection is reset as the request arrives
	faultKinds
)

var faultNames = [faultKinds]string{
	"ok", "500", "429 with Retry-After", "429 without Retry-After", "lost ack",
	"slow past the timeout", "reset mid-body", "down: 503", "down: hang-up",
}

func (k faultKind) String() string { return faultNames[k] }

// accepts reports whether the server keeps the batch of a request so
// answered.
func (k faultKind) accepts() bool { return k == faultNone || k == faultLostAck || k == faultSlow }

// faultScript decides the answer to each request: during a downtime, the
// down fault; else a fault drawn at random from mix, the same for the same
// batch and attempt whatever the order requests arrive in.
type faultScript struct {
	seed uint64
	mix  map[faultKind]float64 // probability of each fault per attempt
	// maxFaults is the most faults one batch meets outside a downtime.
	maxFaults int
	// down, if set, makes the server down for downFor from its first
	// request, or from request downAfter on if downFor is zero (until
	// upAgain is set).
	down      faultKind
	downFor   time.Duration
	downAfter int64
}

// faultServer is a stand-in for Segment's batch endpoint that injects the
// faults of its script and records what it accepted.
type faultServer struct {
	t      *testing.T
	srv    *httptest.Server
	clock  *faultClock
	script faultScript
	stats  atomic.Pointer[segment.Stats] // to watch the rate in force
	done   chan struct{}

	requests atomic.Int64
	gone     atomic.Int64 // requests whose client went away mid-body

	// What the client saw: the requests it sent, the 429s among the
	// answers it received, and its attempts that got no answer (a
	// timeout, a reset). An answer the server wrote after the client gave
	// up is counted by the server and not here.
	sent, seen429, unanswered atomic.Int64
	upAgain                   atomic.Bool

	mu        sync.Mutex
	downFrom  time.Time
	attempts  map[string]int             // requests of each batch outside a downtime, by its first messageId
	accepted  map[string]json.RawMessage // first accepted copy of each message
	copies    map[string]int             // times each message was accepted
	conflicts []string                   // messages accepted with another content
	injected  [faultKinds]int
	minRate   float64
}

func newFaultServer(t *testing.T, clock *faultClock, script faultScript) *faultServer {
	t.Helper()
	f := &faultServer{
		t: t, clock: clock, script: script, done: make(chan struct{}),
		attempts: map[string]int{}, accepted: map[string]json.RawMessage{}, copies: map[string]int{},
		minRate: math.Inf(1),
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	t.Cleanup(func() { close(f.done) }) // runs first: held answers give up
	return f
}

// decide returns the fault of a request at request number req whose batch
// starts with message id. Outside a downtime, the fault depends only on the
// seed, the batch and how many requests of the batch came outside a
// downtime before: the same whatever order requests arrive in.
func (f *faultServer) decide(id string, req int64, now time.Time) faultKind {
	s := f.script
	f.mu.Lock()
	defer f.mu.Unlock()
	if s.down != faultNone && !f.upAgain.Load() {
		if f.downFrom.IsZero() {
			f.downFrom = now
		}
		switch {
		case s.downFor > 0 && now.Before(f.downFrom.Add(s.downFor)):
			return s.down
		case s.downFor == 0 && req >= s.downAfter:
			return s.down
		}
	}
	f.attempts[id]++
	n := f.attempts[id]
	if n > s.maxFaults {
		return faultNone
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%s/%d", s.seed, id, n)
	u := float64(mix64(h.Sum64())>>11) / (1 << 53)
	for k := fault500; k < faultDown503; k++ {
		if u < s.mix[k] {
			return k
		}
		u -= s.mix[k]
	}
	return faultNone
}

func (f *faultServer) serve(w http.ResponseWriter, r *http.Request) {
	req := f.requests.Add(1)
	if s := f.stats.Load(); s != nil {
		f.mu.Lock()
		f.minRate = min(f.minRate, s.CurrentRate())
		f.mu.Unlock()
	}
	if r.URL.Path != "/v1/batch" || r.Header.Get("Content-Encoding") != "gzip" {
		f.t.Errorf("request %s %s, encoding %q", r.Method, r.URL.Path, r.Header.Get("Content-Encoding"))
		http.Error(w, "unexpected request", http.StatusNotFound)
		return
	}
	// bad answers a body that could not be read: a test failure unless the
	// client went away (a request cancelled when a run stops).
	bad := func(what string, err error) {
		if clientGone(err) {
			f.gone.Add(1)
			return
		}
		f.t.Errorf("%s: %v", what, err)
		http.Error(w, "bad body", http.StatusBadRequest)
	}
	zr, err := gzip.NewReader(r.Body)
	if err != nil {
		bad("gunzip", err)
		return
	}
	// Read the batch one message at a time: the fault is decided on the
	// first, while the rest of the body is still unread.
	dec := json.NewDecoder(zr)
	expect := func(want ...any) bool {
		for _, w := range want {
			tok, err := dec.Token()
			if err == nil && tok != w {
				err = fmt.Errorf("token %v, want %v", tok, w)
			}
			if err != nil {
				bad("body", err)
				return false
			}
		}
		return true
	}
	if !expect(json.Delim('{'), "batch", json.Delim('[')) {
		return
	}
	var (
		msgs  []json.RawMessage
		ids   []string
		fault faultKind
	)
	for dec.More() {
		var raw json.RawMessage
		var head struct {
			MessageID string `json:"messageId"`
		}
		if err := dec.Decode(&raw); err != nil {
			bad(fmt.Sprintf("message %d of a batch", len(msgs)), err)
			return
		}
		if err := json.Unmarshal(raw, &head); err != nil || head.MessageID == "" {
			bad(fmt.Sprintf("message %d of a batch has no messageId", len(msgs)), err)
			return
		}
		msgs, ids = append(msgs, raw), append(ids, head.MessageID)
		if len(msgs) == 1 {
			fault = f.decide(head.MessageID, req, f.clock.Now())
			f.mu.Lock()
			f.injected[fault]++
			f.mu.Unlock()
			if fault == faultReset || fault == faultDownHangup {
				hangUp(w, true)
				return
			}
		}
	}
	if !expect(json.Delim(']'), "sentAt") {
		return
	}
	var sentAt string
	if err := dec.Decode(&sentAt); err != nil {
		bad("sentAt", err)
		return
	}
	if !expect(json.Delim('}')) {
		return
	}
	if n, err := io.Copy(io.Discard, zr); err != nil || n > 0 {
		bad(fmt.Sprintf("%d bytes after the body", n), err)
		return
	}
	if fault.accepts() {
		f.accept(ids, msgs)
	}
	switch fault {
	case faultNone:
		w.Write([]byte(`{"success":true}`))
	case fault500:
		http.Error(w, "internal error", http.StatusInternalServerError)
	case fault429After:
		w.Header().Set("Retry-After", fmt.Sprint(1+int(req%5)))
		http.Error(w, "too many requests", http.StatusTooManyRequests)
	case fault429Bare:
		http.Error(w, "too many requests", http.StatusTooManyRequests)
	case faultDown503:
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
	case faultLostAck:
		hangUp(w, false)
	case faultSlow:
		select {
		case <-r.Context().Done(): // the client gave up
		case <-f.done:
		}
		w.Write([]byte(`{"success":true}`))
	}
}

// mix64 scrambles the bits of x (the finalizer of SplitMix64), so that
// hashes of similar strings spread evenly.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// clientGone reports whether err, from reading a request body, means that
// the client went away in the middle.
func clientGone(err error) bool {
	var ne net.Error
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.As(err, &ne) || errors.Is(err, syscall.ECONNRESET)
}

// hangUp closes the connection of w without an answer; with reset, at once
// (a TCP reset, whatever is still unread).
func hangUp(w http.ResponseWriter, reset bool) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		return
	}
	if tcp, ok := conn.(*net.TCPConn); ok && reset {
		tcp.SetLinger(0)
	}
	conn.Close()
}

func (f *faultServer) accept(ids []string, msgs []json.RawMessage) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, id := range ids {
		if prev, ok := f.accepted[id]; ok && string(prev) != string(msgs[i]) {
			f.conflicts = append(f.conflicts, id)
		} else if !ok {
			f.accepted[id] = slices.Clone(msgs[i])
		}
		f.copies[id]++
	}
}

// count returns how many faults of kind k were injected.
func (f *faultServer) count(k faultKind) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.injected[k]
}

// lowestRate returns the lowest request rate in force seen by a request.
func (f *faultServer) lowestRate() float64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.minRate
}

// faultClock is a segment.Clock whose Sleep moves its time ahead at once.
type faultClock struct {
	mu sync.Mutex
	t  time.Time
}

var faultEpoch = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

func (c *faultClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *faultClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	c.t = c.t.Add(max(d, 0))
	c.mu.Unlock()
	return nil
}

// faultStats reports the sink's counters to the importer.
type faultStats struct{ s *segment.Stats }

func (f faultStats) Transport() Transport {
	snap := f.s.Snapshot()
	return Transport{Requests: snap.Requests, Retries: snap.Retries, Throttled: snap.Throttled, BytesSent: snap.BytesSent}
}

// writeFaultInput writes files of rows track messages each, with a padding
// of random text so that compressed bodies span several reads, and returns
// their paths and the messageIds in order.
func writeFaultInput(t *testing.T, dir string, files, rows int) (paths, ids []string) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	for f := range files {
		var b strings.Builder
		for i := range rows {
			id := fmt.Sprintf("f%d-%05d", f, i)
			ids = append(ids, id)
			note := make([]byte, 120)
			for j := range note {
				note[j] = "abcdefghijklmnopqrstuvwxyz0123456789"[rng.IntN(36)]
			}
			fmt.Fprintf(&b, `{"type":"track","messageId":%q,"userId":"user-%d","event":"Order Completed","timestamp":"2023-11-%02dT%02d:%02d:00.250Z","properties":{"i":%d,"total":%d.5,"note":%q}}`+"\n",
				id, i%97, 1+i%28, i%24, i%60, i, i, note)
		}
		path := filepath.Join(dir, fmt.Sprintf("events-%d.ndjson", f))
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, path)
	}
	return paths, ids
}

// faultTimeout is the request timeout of the fault tests: long enough that
// only the slow answers meet it, even on a loaded machine.
const faultTimeout = 5 * time.Second

// faultImport sets up an import of the files at paths to f, on f's clock.
func faultImport(t *testing.T, f *faultServer, paths []string, edit func(*segment.Config)) (Config, *segment.Stats) {
	t.Helper()
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = 64
	seg := segment.Config{
		WriteKey:       "wk_fault_test",
		Endpoint:       f.srv.URL,
		Clock:          f.clock,
		RequestTimeout: faultTimeout,
		HTTPClient:     &http.Client{Transport: &faultClientView{base: transport, f: f}},
	}
	if edit != nil {
		edit(&seg)
	}
	snk, stats, err := segment.New(seg)
	if err != nil {
		t.Fatal(err)
	}
	f.stats.Store(stats)
	return Config{
		Sources:     paths,
		Sink:        snk,
		Stats:       faultStats{stats},
		RejectsPath: filepath.Join(t.TempDir(), "rejects.ndjson"),
		Concurrency: 4,
		Limits:      sink.Limits{MaxMessages: 40},
	}, stats
}

// faultClientView counts what the client of a faultServer sent and saw.
type faultClientView struct {
	base http.RoundTripper
	f    *faultServer
}

func (v *faultClientView) RoundTrip(r *http.Request) (*http.Response, error) {
	v.f.sent.Add(1)
	resp, err := v.base.RoundTrip(r)
	switch {
	case err != nil:
		v.f.unanswered.Add(1)
	case resp.StatusCode == http.StatusTooManyRequests:
		v.f.seen429.Add(1)
	}
	return resp, err
}

// checkDelivered checks that the server accepted every id at least once,
// nothing else, and each duplicate with the same content; it returns the
// number of duplicate copies.
func (f *faultServer) checkDelivered(t *testing.T, ids []string) (duplicates int) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, id := range ids {
		if f.copies[id] == 0 {
			t.Errorf("row %s was never delivered", id)
		}
		duplicates += max(f.copies[id]-1, 0)
	}
	if len(f.accepted) != len(ids) {
		t.Errorf("the server accepted %d distinct messages, the input has %d", len(f.accepted), len(ids))
	}
	if len(f.conflicts) > 0 {
		t.Errorf("messages accepted twice with different content: %v", f.conflicts)
	}
	return duplicates
}

// logFaults prints what the server injected and what the report showed.
func (f *faultServer) logFaults(t *testing.T, rep Report, duplicates int) int {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	var parts []string
	faults := 0
	for k := fault500; k < faultKinds; k++ {
		if n := f.injected[k]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, n))
			faults += n
		}
	}
	minRate := "not lowered"
	if f.minRate < math.Inf(1) {
		minRate = fmt.Sprintf("%g req/s", f.minRate)
	}
	t.Logf("injected %d faults in %d requests (%s); fake time %s",
		faults, f.requests.Load(), strings.Join(parts, ", "), f.clock.Now().Sub(faultEpoch).Round(time.Second))
	if n := f.gone.Load(); n > 0 {
		t.Logf("%d requests cut off by the client mid-body", n)
	}
	t.Logf("report: %d rows read, %d delivered, %d rejected, %d unsettled, %d batches; %d requests, %d retries, %d throttled; %d duplicate copies accepted; lowest rate %s",
		rep.RowsRead, rep.Delivered, rep.Rejected, rep.Unsettled, rep.Batches, rep.Requests, rep.Retries, rep.Throttled, duplicates, minRate)
	return faults
}

func TestFaultInjection(t *testing.T) {
	const files, rows = 2, 1000 // 2,000 rows in 50 batches of 40
	for _, tc := range []struct {
		name    string
		script  faultScript
		want    []faultKind   // faults that must have been injected
		timeout time.Duration // of a request; 0: faultTimeout
	}{
		{"random 500s", faultScript{mix: map[faultKind]float64{fault500: 0.4}}, []faultKind{fault500}, 0},
		{"429s with Retry-After", faultScript{mix: map[faultKind]float64{fault429After: 0.4}}, []faultKind{fault429After}, 0},
		{"429s without Retry-After", faultScript{mix: map[faultKind]float64{fault429Bare: 0.4}}, []faultKind{fault429Bare}, 0},
		{"lost acks", faultScript{mix: map[faultKind]float64{faultLostAck: 0.4}}, []faultKind{faultLostAck}, 0},
		{"slow answers past the timeout", faultScript{mix: map[faultKind]float64{faultSlow: 0.1}}, []faultKind{faultSlow}, 500 * time.Millisecond},
		{"resets mid-body", faultScript{mix: map[faultKind]float64{faultReset: 0.4}}, []faultKind{faultReset}, 0},
		{"down a minute with 503s", faultScript{down: faultDown503, downFor: time.Minute}, []faultKind{faultDown503}, 0},
		{"down a minute hanging up", faultScript{down: faultDownHangup, downFor: time.Minute}, []faultKind{faultDownHangup}, 0},
		{"everything at once", faultScript{
			mix: map[faultKind]float64{
				fault500: 0.1, fault429After: 0.08, fault429Bare: 0.08, faultLostAck: 0.08, faultSlow: 0.04, faultReset: 0.1,
			},
			down: faultDown503, downFor: time.Minute,
		}, []faultKind{fault500, fault429After, fault429Bare, faultLostAck, faultSlow, faultReset, faultDown503}, 500 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.script.seed = 42
			tc.script.maxFaults = 5
			clock := &faultClock{t: faultEpoch}
			f := newFaultServer(t, clock, tc.script)
			paths, ids := writeFaultInput(t, t.TempDir(), files, rows)
			cfg, _ := faultImport(t, f, paths, func(c *segment.Config) {
				if tc.timeout > 0 {
					c.RequestTimeout = tc.timeout
				}
			})

			rep, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			duplicates := f.checkDelivered(t, ids)
			faults := f.logFaults(t, rep, duplicates)

			if cerr := rep.Check(); cerr != nil {
				t.Error(cerr)
			}
			if !rep.Complete || rep.RowsRead != int64(len(ids)) || rep.Delivered != int64(len(ids)) || rep.Rejected != 0 || rep.Unsettled != 0 {
				t.Errorf("report %+v, want all %d rows delivered", rep, len(ids))
			}
			for _, k := range tc.want {
				if f.count(k) == 0 {
					t.Errorf("no %q fault injected", k)
				}
			}
			// Every fault cost one retry. A request that times out on a
			// loaded machine costs one too, so exact counts hold only when
			// nothing but the faults failed.
			throttled := f.count(fault429After) + f.count(fault429Bare)
			spurious := rep.Retries - int64(faults)
			if spurious < 0 || rep.Requests < f.requests.Load() || rep.Throttled > int64(throttled) {
				t.Errorf("%d retries, %d requests, %d throttled; the server injected %d faults in %d requests, %d of them 429s",
					rep.Retries, rep.Requests, rep.Throttled, faults, f.requests.Load(), throttled)
			}
			// The report counts every request the client sent and every
			// 429 it received. A 429 the server wrote after the client's
			// timeout was never received: that attempt failed without an
			// answer, and was retried as such.
			if rep.Requests != f.sent.Load() || rep.Throttled != f.seen429.Load() {
				t.Errorf("report: %d requests and %d throttled; the client sent %d and received %d 429s",
					rep.Requests, rep.Throttled, f.sent.Load(), f.seen429.Load())
			}
			if missed := int64(throttled) - f.seen429.Load(); missed > f.unanswered.Load() {
				t.Errorf("%d of the %d 429s injected were not received, but only %d attempts went unanswered", missed, throttled, f.unanswered.Load())
			}
			if spurious == 0 && rep.Requests != f.requests.Load() {
				t.Errorf("%d requests, want %d", rep.Requests, f.requests.Load())
			}
			if spurious > 0 {
				t.Logf("%d attempts failed besides the injected faults (timeouts of a loaded machine)", spurious)
			}
			if low := f.lowestRate(); rep.Throttled > 0 && !(low < segment.DefaultRate) {
				t.Errorf("429s left the rate at %g", low)
			}
			if acceptedTwice := f.count(faultLostAck) + f.count(faultSlow); acceptedTwice > 0 && duplicates == 0 {
				t.Errorf("%d lost answers and no duplicate: the batches were not sent again", acceptedTwice)
			}
			if tc.script.downFor > 0 {
				if got := clock.Now().Sub(faultEpoch); got < tc.script.downFor {
					t.Errorf("the import ended %s after it began, while the server was down for %s", got, tc.script.downFor)
				}
			}
		})
	}
}

// TestFaultMaxRetryTime: a server down for longer than MaxRetryTime stops
// the run with a clear error and the checkpoint written, and drops nothing:
// the same import, run again once the server is back, delivers every row.
func TestFaultMaxRetryTime(t *testing.T) {
	clock := &faultClock{t: faultEpoch}
	f := newFaultServer(t, clock, faultScript{down: faultDown503, downAfter: 10})
	dir := t.TempDir()
	paths, ids := writeFaultInput(t, dir, 2, 600)
	checkpoint := filepath.Join(dir, "import.checkpoint.json")

	cfg, _ := faultImport(t, f, paths, func(c *segment.Config) { c.MaxRetryTime = 3 * time.Minute })
	cfg.CheckpointPath = checkpoint
	// One sender: the waits of others would move the shared fake clock
	// during this one's, by as much as the goroutines happen to overlap.
	cfg.Concurrency = 1
	rep, err := Run(context.Background(), cfg)
	var re *segment.RetryError
	if !errors.As(err, &re) || !re.TimeLimit {
		t.Fatalf("Run: %v, want a *segment.RetryError on the max retry time", err)
	}
	// The rate limiter's waits move the clock too: the limit is passed
	// by a little.
	if re.Failing < 3*time.Minute || !strings.Contains(err.Error(), "still failing after 3m") || !strings.Contains(err.Error(), "http 503") {
		t.Errorf("error %q does not say the batch failed for 3m with 503s", err)
	}
	if cerr := rep.Check(); cerr != nil {
		t.Error(cerr)
	}
	if rep.Complete || rep.Delivered == 0 || rep.Delivered+rep.Unsettled != rep.RowsRead || rep.Rejected != 0 {
		t.Errorf("report %+v, want an incomplete run with delivered and unsettled rows", rep)
	}
	if _, err := os.Stat(checkpoint); err != nil {
		t.Errorf("no checkpoint after the run stopped: %v", err)
	}
	f.logFaults(t, rep, 0)

	// The server is back: the import resumes and completes.
	f.upAgain.Store(true)
	cfg2, _ := faultImport(t, f, paths, nil)
	cfg2.CheckpointPath = checkpoint
	cfg2.RejectsPath = cfg.RejectsPath
	rep2, err := Run(context.Background(), cfg2)
	if err != nil {
		t.Fatalf("resumed Run: %v", err)
	}
	if cerr := rep2.Check(); cerr != nil {
		t.Error(cerr)
	}
	if !rep2.Complete || rep2.Delivered != int64(len(ids)) {
		t.Errorf("resumed report %+v, want all %d rows delivered", rep2, len(ids))
	}
	duplicates := f.checkDelivered(t, ids)
	f.logFaults(t, rep2, duplicates)
}
