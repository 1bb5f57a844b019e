package segment

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/backfillhq/backfill/internal/sinktest"
	"github.com/backfillhq/backfill/sink"
)

func TestHTTPSenderRequest(t *testing.T) {
	for _, tc := range []struct {
		name   string
		noGzip bool
	}{
		{"gzip", false},
		{"plain", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := sinktest.NewClock()
			f := sinktest.NewServer(t, clk.Now, sinktest.Replies(sinktest.OK))
			s, stats := newTestSender(t, f, clk.Now, func(c *Config) { c.NoGzip = tc.noGzip })
			b := sinktest.BuildBatch(t, "m", 5)
			if err := s.Send(context.Background(), b); err != nil {
				t.Fatal(err)
			}
			reqs := f.Requests()
			if len(reqs) != 1 {
				t.Fatalf("got %d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if r.Err != "" {
				t.Fatalf("body not decodable: %s", r.Err)
			}
			if r.Method != http.MethodPost || r.Path != "/v1/batch" {
				t.Errorf("request %s %s, want POST /v1/batch", r.Method, r.Path)
			}
			wantAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte(sinktest.WriteKey+":"))
			for _, h := range []struct{ key, want string }{
				{"Authorization", wantAuth},
				{"Content-Type", "application/json"},
				{"User-Agent", "backfill/" + sink.Version},
			} {
				if got := r.Header.Get(h.key); got != h.want {
					t.Errorf("%s = %q, want %q", h.key, got, h.want)
				}
			}
			user, pass, ok := (&http.Request{Header: r.Header}).BasicAuth()
			if !ok || user != sinktest.WriteKey || pass != "" {
				t.Errorf("basic auth = %q, %q, %t; want the write key and an empty password", user, pass, ok)
			}
			gzipped := bytes.HasPrefix(r.Wire, []byte{0x1f, 0x8b})
			if enc := r.Header.Get("Content-Encoding"); tc.noGzip && (enc != "" || gzipped) {
				t.Errorf("NoGzip: Content-Encoding %q, gzip magic %t; want a plain body", enc, gzipped)
			} else if !tc.noGzip && (enc != "gzip" || !gzipped) {
				t.Errorf("Content-Encoding %q, gzip magic %t; want a gzip body", enc, gzipped)
			}
			if want := string(b.Body(sinktest.ClockStart)); string(r.Body) != want {
				t.Errorf("body\n got %s\nwant %s", r.Body, want)
			}
			if want := sinktest.ClockStart.Format(sink.TimeLayout); r.SentAt != want {
				t.Errorf("sentAt %q, want %q", r.SentAt, want)
			}
			got := stats.Snapshot()
			want := StatsSnapshot{Requests: 1, BytesSent: int64(len(r.Wire)), Batches: 1, Messages: 5}
			if got != want {
				t.Errorf("stats %+v, want %+v", got, want)
			}
		})
	}
}

func TestHTTPSenderResponses(t *testing.T) {
	long := strings.Repeat("x", 2000)
	for _, tc := range []struct {
		name        string
		reply       sinktest.Reply
		wantStatus  int // 0: success
		wantBody    string
		wantAfter   time.Duration
		unauthorize bool
		throttled   int64
	}{
		{name: "200", reply: sinktest.OK},
		{name: "204", reply: sinktest.Reply{Status: 204}},
		{name: "500", reply: sinktest.Reply{Status: 500, Body: "upstream broke"}, wantStatus: 500, wantBody: "upstream broke"},
		{name: "400 body", reply: sinktest.Reply{Status: 400, Body: ` {"message":"x"} `}, wantStatus: 400, wantBody: `{"message":"x"}`},
		{name: "long body cut", reply: sinktest.Reply{Status: 502, Body: long}, wantStatus: 502, wantBody: long[:maxErrorBody]},
		{name: "429 retry-after", reply: sinktest.Reply{Status: 429, Header: map[string]string{"Retry-After": "7"}},
			wantStatus: 429, wantAfter: 7 * time.Second, throttled: 1},
		{name: "503 retry-after date", reply: sinktest.Reply{Status: 503, Header: map[string]string{
			"Retry-After": sinktest.ClockStart.Add(90 * time.Second).Format(http.TimeFormat)}},
			wantStatus: 503, wantAfter: 90 * time.Second},
		{name: "401", reply: sinktest.Reply{Status: 401, Body: "invalid write key"}, wantStatus: 401, wantBody: "invalid write key", unauthorize: true},
		{name: "403 echoing the key", reply: sinktest.Reply{Status: 403, Body: "key " + sinktest.WriteKey + " is disabled"},
			wantStatus: 403, wantBody: "key [write key] is disabled", unauthorize: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := sinktest.NewClock()
			f := sinktest.NewServer(t, clk.Now, sinktest.Replies(tc.reply))
			s, stats := newTestSender(t, f, clk.Now, nil)
			err := s.Send(context.Background(), sinktest.BuildBatch(t, "m", 3))
			if tc.wantStatus == 0 {
				if err != nil {
					t.Fatalf("Send: %v", err)
				}
				if got := stats.Messages.Load(); got != 3 {
					t.Errorf("Messages = %d, want 3", got)
				}
				return
			}
			var se *StatusError
			if !errors.As(err, &se) {
				t.Fatalf("Send: %v, want a *StatusError", err)
			}
			if se.Status != tc.wantStatus || se.Body != tc.wantBody || se.RetryAfter != tc.wantAfter {
				t.Errorf("StatusError{%d, %q, %s}, want {%d, %q, %s}", se.Status, se.Body, se.RetryAfter, tc.wantStatus, tc.wantBody, tc.wantAfter)
			}
			if got := errors.Is(err, sink.ErrUnauthorized); got != tc.unauthorize {
				t.Errorf("errors.Is(err, ErrUnauthorized) = %t, want %t", got, tc.unauthorize)
			}
			if tc.unauthorize {
				want := fmt.Sprintf("write key rejected (http %d): %s", tc.wantStatus, tc.wantBody)
				if err.Error() != want {
					t.Errorf("error %q, want %q", err, want)
				}
			}
			if strings.Contains(err.Error(), sinktest.WriteKey) {
				t.Errorf("error shows the write key: %v", err)
			}
			if got := stats.Throttled.Load(); got != tc.throttled {
				t.Errorf("Throttled = %d, want %d", got, tc.throttled)
			}
			if got := stats.Batches.Load() + stats.Messages.Load(); got != 0 {
				t.Errorf("a failed request counted as delivered")
			}
		})
	}
}

func TestHTTPSenderReusesConnections(t *testing.T) {
	big := strings.Repeat("e", 100<<10)
	f := sinktest.NewServer(t, nil, sinktest.Replies(
		sinktest.Reply{Status: 500, Body: big},
		sinktest.Reply{Status: 400, Body: big},
		sinktest.Reply{Status: 200, Body: big},
		sinktest.OK,
	))
	s, _ := newTestSender(t, f, nil, nil)
	for range 4 {
		s.Send(context.Background(), sinktest.BuildBatch(t, "m", 2))
	}
	if n := len(f.Requests()); n != 4 {
		t.Fatalf("%d requests, want 4", n)
	}
	if n := f.Conns(); n != 1 {
		t.Errorf("%d connections for 4 sequential requests, want 1: response bodies are not drained", n)
	}
}

func TestHTTPSenderNetworkError(t *testing.T) {
	f := sinktest.NewServer(t, nil, sinktest.Replies(sinktest.Reply{Hangup: true}))
	s, _ := newTestSender(t, f, nil, nil)
	err := s.Send(context.Background(), sinktest.BuildBatch(t, "m", 2))
	if err == nil {
		t.Fatal("Send succeeded on a closed connection")
	}
	var ne *networkError
	if !errors.As(err, &ne) || !retryable(err) {
		t.Errorf("error %v (%T) is not a retryable network error", err, err)
	}
}

func TestHTTPSenderCancel(t *testing.T) {
	never := make(chan struct{})
	f := sinktest.NewServer(t, nil, sinktest.Replies(sinktest.Reply{Status: 200, Hold: never}))
	s, _ := newTestSender(t, f, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- s.Send(ctx, sinktest.BuildBatch(t, "m", 2)) }()
	f.WaitArrival(t)
	cancel()
	err := <-errc
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Send: %v, want context.Canceled", err)
	}
	if retryable(err) {
		t.Errorf("the caller's cancellation is retryable")
	}
}

func TestHTTPSenderRequestTimeout(t *testing.T) {
	never := make(chan struct{})
	f := sinktest.NewServer(t, nil, sinktest.Replies(sinktest.Reply{Status: 200, Hold: never}))
	s, _ := newTestSender(t, f, nil, func(c *Config) { c.RequestTimeout = 20 * time.Millisecond })
	err := s.Send(context.Background(), sinktest.BuildBatch(t, "m", 2))
	if err == nil {
		t.Fatal("Send succeeded without a response")
	}
	if !retryable(err) {
		t.Errorf("a timed-out attempt is not retryable: %v", err)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := sinktest.ClockStart
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"5", 5 * time.Second},
		{" 12 ", 12 * time.Second},
		{"0", 0},
		{"-3", 0},
		{"1.5", 0},
		{"soon", 0},
		{"99999999999999999999", maxRetryAfter},
		{"86400", maxRetryAfter},
		{now.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second},
		{now.Add(-30 * time.Second).Format(http.TimeFormat), 0},
		{now.Add(48 * time.Hour).Format(http.TimeFormat), maxRetryAfter},
		{now.Add(2 * time.Minute).Format(time.RFC850), 2 * time.Minute},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := parseRetryAfter(tc.in, now); got != tc.want {
				t.Errorf("parseRetryAfter(%q) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}

func TestResolveEndpoint(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		wantErr  bool
	}{
		{"", Endpoint, false},
		{"eu", EUEndpoint, false},
		{"EU", EUEndpoint, false},
		{"https://api.segment.io", "https://api.segment.io", false},
		{"https://events.eu1.segmentapis.com/", "https://events.eu1.segmentapis.com", false},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080", false},
		{"http://localhost:9000/proxy/segment/", "http://localhost:9000/proxy/segment", false},
		{"us-east", "", true},
		{"api.segment.io", "", true},
		{"ftp://api.segment.io", "", true},
		{"https://", "", true},
		{"https://key:@api.segment.io", "", true},
		{"https://api.segment.io?x=1", "", true},
		{"https://api.segment.io/#frag", "", true},
		{"://bad", "", true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ResolveEndpoint(tc.in)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("ResolveEndpoint(%q) = %q, %v; want %q, error %t", tc.in, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

// TestResolveEndpointNeverQuotesCredentials gives endpoints with a user
// and password that do not parse, or have a query: the error quotes the
// endpoint without them.
func TestResolveEndpointNeverQuotesCredentials(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"htps://admin:hunter2@api.segment.io", `endpoint "htps://***@api.segment.io": want "eu" or an http(s) URL`},
		{"https://admin:hunter2@api segment io", `endpoint "https://***@api segment io": want "eu" or an http(s) URL`},
		{"admin:hun/ter2@api.segment.io", `endpoint "***@api.segment.io": want "eu" or an http(s) URL`},
		{"https://admin:hunter2@api.segment.io?x=1", "endpoint: credentials in the URL are not allowed; the write key goes in WriteKey"},
		{"https://api.segment.io?key=a@b", `endpoint "https://***@b": want a URL without a query or fragment`},
	} {
		_, err := ResolveEndpoint(tc.in)
		if err == nil || err.Error() != tc.want {
			t.Errorf("ResolveEndpoint(%q): %v, want %s", tc.in, err, tc.want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		edit    func(*Config)
		wantErr string // "" for valid
	}{
		{"minimal", func(c *Config) {}, ""},
		{"everything", func(c *Config) {
			c.Endpoint, c.NoGzip, c.Rate, c.EventsRate, c.MaxRetries = "eu", true, 10, 1000, 3
			c.MinBackoff, c.MaxBackoff, c.RequestTimeout = time.Second, time.Minute, time.Minute
			c.MinRate, c.MaxRetryTime, c.Clock = 2, time.Hour, sinktest.NewClock()
		}, ""},
		{"no limits", func(c *Config) { c.Rate, c.EventsRate, c.MaxRetries, c.MaxRetryTime = -1, -1, -1, -1 }, ""},
		{"no key", func(c *Config) { c.WriteKey = "" }, "WriteKey"},
		{"stub needs no key", func(c *Config) { c.WriteKey, c.Stub = "", true }, ""},
		{"negative min rate", func(c *Config) { c.MinRate = -1 }, "MinRate"},
		{"NaN min rate", func(c *Config) { c.MinRate = math.NaN() }, "MinRate"},
		{"infinite min rate", func(c *Config) { c.MinRate = math.Inf(1) }, "MinRate"},
		{"key with newline", func(c *Config) { c.WriteKey += "\n" }, "WriteKey"},
		{"key with colon", func(c *Config) { c.WriteKey += ":x" }, "WriteKey"},
		{"bad endpoint", func(c *Config) { c.Endpoint = "mars" }, "Endpoint"},
		{"NaN rate", func(c *Config) { c.Rate = math.NaN() }, "Rate"},
		{"NaN events rate", func(c *Config) { c.EventsRate = math.NaN() }, "EventsRate"},
		{"negative min backoff", func(c *Config) { c.MinBackoff = -time.Second }, "MinBackoff"},
		{"negative max backoff", func(c *Config) { c.MaxBackoff = -time.Second }, "MaxBackoff"},
		{"min above max", func(c *Config) { c.MinBackoff, c.MaxBackoff = time.Minute, time.Second }, "MinBackoff"},
		{"min above default max", func(c *Config) { c.MinBackoff = time.Hour }, "MaxBackoff"},
		{"negative timeout", func(c *Config) { c.RequestTimeout = -1 }, "RequestTimeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{WriteKey: sinktest.WriteKey}
			tc.edit(&cfg)
			err := cfg.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("Validate: %v, want an error naming %s", err, tc.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), sinktest.WriteKey) {
				t.Errorf("error shows the write key: %v", err)
			}
			if _, _, serr := New(cfg); (serr == nil) != (err == nil) {
				t.Errorf("New error %v, Validate error %v", serr, err)
			}
		})
	}
}

func TestWriteKeyNeverPrinted(t *testing.T) {
	cfg := Config{WriteKey: sinktest.WriteKey, Endpoint: "eu"}
	s, err := NewHTTPSender(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{
		fmt.Sprint(cfg), fmt.Sprintf("%v", cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%+v", &cfg),
		fmt.Sprint(s), fmt.Sprintf("%+v", s),
	} {
		if strings.Contains(text, sinktest.WriteKey) {
			t.Errorf("printed form shows the write key: %s", text)
		}
	}
}

func TestRetryable(t *testing.T) {
	status := func(code int) error { return &StatusError{Status: code} }
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"408", status(408), true},
		{"429", status(429), true},
		{"500", status(500), true},
		{"502", status(502), true},
		{"503", status(503), true},
		{"504", status(504), true},
		{"599", status(599), true},
		{"501", status(501), false},
		{"505", status(505), false},
		{"400", status(400), false},
		{"404", status(404), false},
		{"413", status(413), false},
		{"422", status(422), false},
		{"301", status(301), false},
		{"401", &unauthorizedError{status: &StatusError{Status: 401}}, false},
		{"403", &unauthorizedError{status: &StatusError{Status: 403}}, false},
		{"wrapped 503", fmt.Errorf("rate limit: %w", status(503)), true},
		{"network", &networkError{err: io.ErrUnexpectedEOF}, true},
		{"attempt timeout", &networkError{err: context.DeadlineExceeded}, true},
		{"unexpected EOF", io.ErrUnexpectedEOF, true},
		{"connection reset", &net.OpError{Op: "read", Err: syscall.ECONNRESET}, true},
		{"canceled", context.Canceled, false},
		{"wrapped canceled", fmt.Errorf("segment request: %w", context.Canceled), false},
		{"caller deadline", context.DeadlineExceeded, false},
		{"other", errors.New("disk full"), false},
		{"rejected", &sink.RejectedError{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := retryable(tc.err); got != tc.want {
				t.Errorf("retryable(%v) = %t, want %t", tc.err, got, tc.want)
			}
		})
	}
}

func TestNew(t *testing.T) {
	f := sinktest.NewServer(t, nil, sinktest.Replies(sinktest.Reply{Status: 500}, sinktest.OK))
	snk, stats, err := New(Config{WriteKey: sinktest.WriteKey, Endpoint: f.URL() + "/", MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := snk.Send(context.Background(), sinktest.BuildBatch(t, "m", 4)); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := stats.Snapshot()
	if got.Requests != 2 || got.Retries != 1 || got.Batches != 1 || got.Messages != 4 || got.BytesSent == 0 {
		t.Errorf("stats %+v, want 2 requests, 1 retry, 1 batch of 4 messages", got)
	}
	for _, r := range f.Requests() {
		if r.Path != "/v1/batch" {
			t.Errorf("path %q, want /v1/batch", r.Path)
		}
	}

	// The chain is Splitter(Retrier(RateLimiter(HTTPSender))).
	sp, ok := snk.(*Splitter)
	if !ok {
		t.Fatalf("sink is %T, want *Splitter", snk)
	}
	re, ok := sp.next.(*Retrier)
	if !ok {
		t.Fatalf("splitter wraps %T, want *Retrier", sp.next)
	}
	rl, ok := re.next.(*RateLimiter)
	if !ok {
		t.Fatalf("retrier wraps %T, want *RateLimiter", re.next)
	}
	if _, ok := rl.next.(*HTTPSender); !ok {
		t.Fatalf("rate limiter wraps %T, want *HTTPSender", rl.next)
	}
	if rl.adapt == nil || rl.adapt.lim == nil || float64(rl.adapt.lim.Limit()) != DefaultRate || rl.events != nil {
		t.Errorf("default limits: adaptive requests %+v, events %v; want %d/s and none", rl.adapt, rl.events, DefaultRate)
	}
	if rl.adapt == nil || rl.adapt.floor != DefaultMinRate || rl.adapt.ceiling != DefaultRate {
		t.Errorf("adaptive rate %+v, want between %d and %d requests/s", rl.adapt, DefaultMinRate, DefaultRate)
	}
	if got.CurrentRate != DefaultRate {
		t.Errorf("CurrentRate = %g, want %d", got.CurrentRate, DefaultRate)
	}
	if re.policy != (RetryPolicy{MaxRetries: DefaultMaxRetries, MaxRetryTime: DefaultMaxRetryTime, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond}) {
		t.Errorf("retry policy %+v", re.policy)
	}
}

func TestNewCancel(t *testing.T) {
	never := make(chan struct{})
	f := sinktest.NewServer(t, nil, sinktest.Replies(sinktest.Reply{Status: 200, Hold: never}))
	snk, _, err := New(Config{WriteKey: sinktest.WriteKey, Endpoint: f.URL()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- snk.Send(ctx, sinktest.BuildBatch(t, "m", 3)) }()
	f.WaitArrival(t)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Send: %v, want context.Canceled", err)
	}
	if n := len(f.Requests()); n != 1 {
		t.Errorf("%d requests, want 1: a cancelled send was retried", n)
	}
}

func TestNewUnauthorized(t *testing.T) {
	f := sinktest.NewServer(t, nil, sinktest.Replies(sinktest.Reply{Status: 401, Body: `{"message":"invalid write key"}`}))
	snk, _, err := New(Config{WriteKey: sinktest.WriteKey, Endpoint: f.URL()})
	if err != nil {
		t.Fatal(err)
	}
	err = snk.Send(context.Background(), sinktest.BuildBatch(t, "m", 8))
	if !errors.Is(err, sink.ErrUnauthorized) {
		t.Fatalf("Send: %v, want ErrUnauthorized", err)
	}
	if strings.Contains(err.Error(), sinktest.WriteKey) {
		t.Errorf("error shows the write key: %v", err)
	}
	if n := len(f.Requests()); n != 1 {
		t.Errorf("%d requests, want 1: a refused write key was retried or split", n)
	}
}

func TestHTTPSenderDoesNotFollowRedirects(t *testing.T) {
	f := sinktest.NewServer(t, nil, sinktest.Replies(
		sinktest.Reply{Status: http.StatusFound, Header: map[string]string{"Location": "/elsewhere"}},
		sinktest.OK,
	))
	s, stats := newTestSender(t, f, nil, nil)
	err := s.Send(context.Background(), sinktest.BuildBatch(t, "m", 2))
	var se *StatusError
	if !errors.As(err, &se) || se.Status != http.StatusFound || se.Body != "redirected to /elsewhere" {
		t.Fatalf("Send: %v, want http 302 naming the new location", err)
	}
	if n := len(f.Requests()); n != 1 || stats.Batches.Load() != 0 {
		t.Errorf("%d requests, %d batches counted; the redirect was followed", n, stats.Batches.Load())
	}
}

// roundTripFunc is an http.RoundTripper made of a function.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestHTTPSenderUsesInjectedClient(t *testing.T) {
	f := sinktest.NewServer(t, nil, sinktest.Replies(sinktest.OK))
	var trips atomic.Int32
	client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		trips.Add(1)
		return http.DefaultTransport.RoundTrip(r)
	})}
	s, _ := newTestSender(t, f, nil, func(c *Config) { c.HTTPClient = client })
	if err := s.Send(context.Background(), sinktest.BuildBatch(t, "m", 2)); err != nil {
		t.Fatal(err)
	}
	if trips.Load() != 1 || len(f.Requests()) != 1 {
		t.Errorf("%d round trips through the injected client, %d requests; want 1 and 1", trips.Load(), len(f.Requests()))
	}
	if client.CheckRedirect != nil {
		t.Errorf("the caller's client was modified")
	}
}

func ExampleNew() {
	snk, stats, err := New(Config{
		WriteKey: "YOUR_WRITE_KEY",
		Endpoint: "eu",
	})
	if err != nil {
		log.Fatal(err)
	}
	bt := sink.NewBatcher(sink.Limits{})
	if _, err := sinktest.Add(bt, &sink.Message{
		Type:      sink.TypeTrack,
		MessageID: "orders.csv:2",
		Timestamp: time.Date(2021, 6, 1, 9, 30, 0, 0, time.UTC),
		UserID:    "user-42",
		Event:     "Order Completed",
	}); err != nil {
		log.Fatal(err)
	}
	var rejected *sink.RejectedError
	switch err := snk.Send(context.Background(), bt.Flush()); {
	case errors.As(err, &rejected):
		fmt.Println("rejected:", rejected.Messages)
	case err != nil:
		log.Fatal(err) // not known to be delivered: stop, fix, resume
	}
	fmt.Println(stats.Snapshot().Messages, "delivered")
}

// TestRequestTimeoutPerAttempt: RequestTimeout bounds each attempt, the
// reading of the response included, and a server that accepts a request and
// never finishes answering it is retried like a 5xx until it answers.
func TestRequestTimeoutPerAttempt(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault func() sinktest.Reply
	}{
		{"never answers", func() sinktest.Reply { return sinktest.Reply{Status: 200, Hold: make(chan struct{})} }},
		{"stalls in the body of a 500", func() sinktest.Reply { return sinktest.Reply{Status: 500, Stall: true} }},
		{"stalls in the body of a 429", func() sinktest.Reply { return sinktest.Reply{Status: 429, Stall: true} }},
		{"answers after the timeout", func() sinktest.Reply { return sinktest.Reply{Status: 200, Hold: closedAfter(time.Second)} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := sinktest.NewClock()
			// Two faulty attempts, then a prompt answer: the timeout is not
			// a budget shared by the attempts.
			f := sinktest.NewServer(t, clk.Now, func(r *sinktest.Request) sinktest.Reply {
				if r.N < 2 {
					return tc.fault()
				}
				return sinktest.OK
			})
			s, stats := newTestSender(t, f, clk.Now, func(c *Config) { c.RequestTimeout = 50 * time.Millisecond })
			err := s.Send(context.Background(), sinktest.BuildBatch(t, "m", 2))
			if err == nil || !retryable(err) {
				t.Fatalf("first attempt: %v, want a retryable error", err)
			}
			r := newTestRetrier(s, RetryPolicy{}, stats, clk)
			if err := r.Send(context.Background(), sinktest.BuildBatch(t, "m", 2)); err != nil {
				t.Fatalf("Send: %v", err)
			}
			// Three, unless a loaded machine made the prompt answer late too.
			if n := len(f.Requests()); n < 3 {
				t.Errorf("%d requests, want 3", n)
			}
		})
	}
}

// closedAfter returns a channel closed after d.
func closedAfter(d time.Duration) <-chan struct{} {
	c := make(chan struct{})
	time.AfterFunc(d, func() { close(c) })
	return c
}

// TestResetMidBody: a server that resets the connection while the request
// body is still arriving is retried like a 5xx.
func TestResetMidBody(t *testing.T) {
	var n atomic.Int32
	var got atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			io.ReadFull(r.Body, make([]byte, 1024))
			conn, _, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			conn.(*net.TCPConn).SetLinger(0) // close with a reset
			conn.Close()
			return
		}
		io.Copy(io.Discard, r.Body)
		got.Add(1)
		w.WriteHeader(200)
	}))
	defer srv.Close()
	clk := sinktest.NewClock()
	stats := new(Stats)
	s, err := NewHTTPSender(Config{WriteKey: sinktest.WriteKey, Endpoint: srv.URL, NoGzip: true}, stats)
	if err != nil {
		t.Fatal(err)
	}
	// A body of about 1 MB, so that the reset comes while it is being sent.
	bt := sink.NewBatcher(sink.Limits{})
	var b *sink.Batch
	for i := 0; b == nil; i++ {
		m := sinktest.SizedMessage(t, i, 30_000)
		m.MessageID = fmt.Sprintf("m-%d", i)
		if b, err = sinktest.Add(bt, m); err != nil {
			t.Fatal(err)
		}
	}
	first := s.Send(context.Background(), b)
	var ne *networkError
	if !errors.As(first, &ne) || !retryable(first) {
		t.Fatalf("attempt on a reset connection: %v, want a retryable network error", first)
	}
	r := newTestRetrier(s, RetryPolicy{}, stats, clk)
	if err := r.Send(context.Background(), b); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if got.Load() != 1 {
		t.Errorf("%d bodies received in full, want 1", got.Load())
	}
}

// TestKeepAliveUnderConcurrency: concurrent senders reuse their
// connections rather than opening one per request.
func TestKeepAliveUnderConcurrency(t *testing.T) {
	f := sinktest.NewServer(t, nil, sinktest.Replies(sinktest.OK))
	snk, stats, err := New(Config{WriteKey: sinktest.WriteKey, Endpoint: f.URL(), Rate: -1})
	if err != nil {
		t.Fatal(err)
	}
	const senders, batches = 4, 80
	var wg sync.WaitGroup
	for i := range senders {
		wg.Go(func() {
			for j := range batches / senders {
				if err := snk.Send(context.Background(), sinktest.BuildBatch(t, fmt.Sprintf("s%d-%d", i, j), 2)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if got := stats.Batches.Load(); got != batches {
		t.Fatalf("%d batches delivered, want %d", got, batches)
	}
	if n := f.Conns(); n > 2*senders {
		t.Errorf("%d connections for %d requests from %d senders: connections are not kept alive", n, batches, senders)
	}
}

// TestStubSink: with Stub, the chain runs without a network or a
// write key and counts what it would have sent.
func TestStubSink(t *testing.T) {
	snk, stats, err := New(Config{Stub: true, Rate: -1})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := snk.Send(context.Background(), sinktest.BuildBatch(t, "m", 4)); err != nil {
			t.Fatal(err)
		}
	}
	got := stats.Snapshot()
	if got.Requests != 3 || got.Batches != 3 || got.Messages != 12 || got.BytesSent == 0 {
		t.Errorf("stats %+v, want 3 requests and batches, 12 messages, bodies encoded as for sending", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := snk.Send(ctx, sinktest.BuildBatch(t, "m", 1)); !errors.Is(err, context.Canceled) {
		t.Errorf("Send with a cancelled context: %v", err)
	}
	if !strings.Contains(fmt.Sprint(Config{Stub: true}), "Stub:true") {
		t.Errorf("String does not show Stub")
	}
}
