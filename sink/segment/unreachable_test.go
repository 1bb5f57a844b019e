package segment

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/backfillhq/backfill/internal/sinktest"
	"github.com/backfillhq/backfill/sink"
)

// TestNoSuchHostStopsAtOnce: a host name that does not resolve is not
// retried; the error names the endpoint and the host.
func TestNoSuchHostStopsAtOnce(t *testing.T) {
	var calls atomic.Int64
	client := &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
		calls.Add(1)
		return nil, &net.DNSError{Err: "no such host", Name: "api.segmnet.io", IsNotFound: true}
	})}
	clk := sinktest.NewClock()
	s, stats, err := New(Config{WriteKey: sinktest.WriteKey, Endpoint: "https://api.segmnet.io", HTTPClient: client, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(context.Background(), sinktest.BuildBatch(t, "m", 2))
	const want = `cannot reach https://api.segmnet.io: no such host "api.segmnet.io"`
	if err == nil || err.Error() != want {
		t.Fatalf("Send: %v, want %s", err, want)
	}
	var ue *UnreachableError
	if !errors.As(err, &ue) {
		t.Errorf("Send: %T, want an *UnreachableError", err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("%d attempts, want 1", n)
	}
	if got := stats.Snapshot(); got.Retries != 0 || len(clk.Sleeps()) != 0 {
		t.Errorf("retried: %d retries, waits %v", got.Retries, clk.Sleeps())
	}
}

// TestUntrustedCertificateStopsAtOnce: a TLS server whose certificate the
// client does not trust is not retried.
func TestUntrustedCertificateStopsAtOnce(t *testing.T) {
	var handled atomic.Int64
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { handled.Add(1) }))
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshake errors of the server side
	ts.StartTLS()
	t.Cleanup(ts.Close)
	clk := sinktest.NewClock()
	s, stats, err := New(Config{WriteKey: sinktest.WriteKey, Endpoint: ts.URL, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(context.Background(), sinktest.BuildBatch(t, "m", 2))
	want := "cannot reach " + ts.URL + ": its TLS certificate is signed by an unknown authority"
	if err == nil || err.Error() != want {
		t.Fatalf("Send: %v, want %s", err, want)
	}
	got := stats.Snapshot()
	if got.Requests != 1 || got.Retries != 0 || len(clk.Sleeps()) != 0 {
		t.Errorf("%d requests, %d retries, waits %v; want 1 request and no retry", got.Requests, got.Retries, clk.Sleeps())
	}
	if n := handled.Load(); n != 0 {
		t.Errorf("the server handled %d requests, want 0", n)
	}
}

// closedAddr returns the address of a listener on 127.0.0.1 that is closed:
// a connection to it is refused.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// TestRefusedBeforeAnySuccessStopsAfter30s: an endpoint that refuses every
// connection from the start is given up after DefaultRefusedTime on the
// clock, not MaxRetryTime.
func TestRefusedBeforeAnySuccessStopsAfter30s(t *testing.T) {
	clk := sinktest.NewClock()
	endpoint := "http://" + closedAddr(t)
	stats := new(Stats)
	s, err := NewHTTPSender(Config{WriteKey: sinktest.WriteKey, Endpoint: endpoint, Clock: clk}, stats)
	if err != nil {
		t.Fatal(err)
	}
	r := newTestRetrier(s, RetryPolicy{}, stats, clk)
	err = r.Send(context.Background(), sinktest.BuildBatch(t, "m", 2))
	want := "cannot reach " + endpoint + ": connection refused on every attempt for 30s"
	if err == nil || err.Error() != want {
		t.Fatalf("Send: %v, want %s", err, want)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("Send: %v does not wrap ECONNREFUSED", err)
	}
	ms := time.Millisecond
	wantSleeps := []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, 1600 * ms, 3200 * ms, 6400 * ms, 12800 * ms, 4500 * ms}
	if got := clk.Sleeps(); !slices.Equal(got, wantSleeps) {
		t.Errorf("waits %v, want %v", got, wantSleeps)
	}
	if got := clk.Now().Sub(sinktest.ClockStart); got != DefaultRefusedTime {
		t.Errorf("gave up after %s, want %s", got, DefaultRefusedTime)
	}
	if got := stats.Snapshot(); got.Requests != 10 || got.Retries != 9 || got.LastError != "connection refused" {
		t.Errorf("stats %+v, want 10 requests, 9 retries, last error connection refused", got)
	}
}

// scripted is a sink whose Sends answer, in turn, with errs; past the end,
// with the last one.
type scripted struct {
	errs []error
	n    int
}

func (s *scripted) Send(context.Context, *sink.Batch) error {
	err := s.errs[min(s.n, len(s.errs)-1)]
	s.n++
	return err
}

func refusedError(endpoint string) error {
	return &networkError{endpoint: endpoint, err: &url.Error{Op: "Post", URL: endpoint + "/v1/batch",
		Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}}
}

// TestRefusedAfterASuccessIsRetried: once a request has succeeded, refusals
// are retried until MaxRetryTime, as any network error.
func TestRefusedAfterASuccessIsRetried(t *testing.T) {
	clk := sinktest.NewClock()
	next := &scripted{errs: []error{nil, refusedError("http://proxy:8080")}}
	stats := new(Stats)
	r := newTestRetrier(next, RetryPolicy{MaxRetryTime: 2 * time.Minute}, stats, clk)
	if err := r.Send(context.Background(), sinktest.BuildBatch(t, "m", 1)); err != nil {
		t.Fatalf("first Send: %v", err)
	}
	err := r.Send(context.Background(), sinktest.BuildBatch(t, "n", 1))
	var re *RetryError
	if !errors.As(err, &re) || !re.TimeLimit || re.Failing != 2*time.Minute {
		t.Fatalf("second Send: %v, want a *RetryError after the max retry time of 2m", err)
	}
	if errors.As(err, new(*UnreachableError)) {
		t.Errorf("second Send: %v, want no *UnreachableError after a success", err)
	}
	if got := stats.LastError(); got != "connection refused" {
		t.Errorf("LastError %q, want connection refused", got)
	}
}

// TestRefusedThenAnotherErrorIsRetried: a batch that got anything but a
// refusal reached a server; it is retried until MaxRetryTime.
func TestRefusedThenAnotherErrorIsRetried(t *testing.T) {
	clk := sinktest.NewClock()
	next := &scripted{errs: []error{refusedError("http://x"), &StatusError{Status: 503}, refusedError("http://x")}}
	r := newTestRetrier(next, RetryPolicy{MaxRetryTime: 2 * time.Minute}, nil, clk)
	err := r.Send(context.Background(), sinktest.BuildBatch(t, "m", 1))
	var re *RetryError
	if !errors.As(err, &re) || !re.TimeLimit || re.Failing != 2*time.Minute {
		t.Fatalf("Send: %v, want a *RetryError after the max retry time of 2m", err)
	}
}

func TestShortCause(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{&StatusError{Status: 503, Body: "down"}, "503 Service Unavailable"},
		{&StatusError{Status: 429, RetryAfter: time.Second}, "429 Too Many Requests"},
		{&StatusError{Status: 599}, "http 599"},
		{refusedError("http://x"), "connection refused"},
		{&networkError{err: &url.Error{Op: "Post", URL: "http://x/v1/batch", Err: os.ErrDeadlineExceeded}}, "timed out"},
		{&networkError{err: &url.Error{Op: "Post", URL: "http://x/v1/batch", Err: io.ErrUnexpectedEOF}}, "connection closed"},
		{&networkError{err: &url.Error{Op: "Post", URL: "http://x/v1/batch", Err: &net.DNSError{Err: "server misbehaving", Name: "x"}}}, "dns: server misbehaving"},
		{&networkError{err: &url.Error{Op: "Post", URL: "http://x/v1/batch", Err: errors.New("tls: bad record MAC")}}, "tls: bad record MAC"},
	} {
		if got := shortCause(c.err); got != c.want {
			t.Errorf("shortCause(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}

// TestLastErrorOfA503: the cause of a retried 503 is kept for the progress
// line, without the response body.
func TestLastErrorOfA503(t *testing.T) {
	clk := sinktest.NewClock()
	f := sinktest.NewServer(t, clk.Now, sinktest.Replies(sinktest.Reply{Status: 503, Body: "down for " + sinktest.WriteKey}, sinktest.OK))
	s, stats := newTestSender(t, f, clk.Now, nil)
	r := newTestRetrier(s, RetryPolicy{}, stats, clk)
	if err := r.Send(context.Background(), sinktest.BuildBatch(t, "m", 1)); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if got := stats.Snapshot().LastError; got != "503 Service Unavailable" {
		t.Errorf("LastError %q, want 503 Service Unavailable", got)
	}
}
