package segment

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/backfillhq/backfill/internal/retry"
	"github.com/backfillhq/backfill/sink"
	"github.com/klauspost/compress/gzip"
)

// Endpoints of Segment's HTTP Tracking API.
const (
	// Endpoint is the default endpoint, in the United States.
	Endpoint = "https://api.segment.io"
	// EUEndpoint is the endpoint of workspaces in the European Union,
	// also named by the alias "eu".
	EUEndpoint = "https://events.eu1.segmentapis.com"
)

// Defaults of Config.
const (
	// DefaultRate is the default cap on requests per second, shared by all
	// senders. Segment recommends staying under 1,000 requests per second
	// per workspace and asks integrations to stay at or under 50.
	DefaultRate = 50
	// DefaultMinRate is the default floor of the adaptive request rate,
	// in requests per second.
	DefaultMinRate = 1
	// DefaultMaxRetries is the default number of retries of one batch:
	// high enough that DefaultMaxRetryTime, not the count, decides when a
	// failing batch stops the run.
	DefaultMaxRetries = retry.DefaultMaxRetries
	// DefaultMaxRetryTime is the default time one batch may go on failing
	// before the sink gives up on it.
	DefaultMaxRetryTime = retry.DefaultMaxRetryTime
	// DefaultMinBackoff is the default first back-off between attempts.
	DefaultMinBackoff = retry.DefaultMinBackoff
	// DefaultMaxBackoff is the default cap of the exponential back-off.
	DefaultMaxBackoff = retry.DefaultMaxBackoff
	// DefaultRequestTimeout is the default time one attempt may take.
	DefaultRequestTimeout = 30 * time.Second
)

// Config configures the Segment sink: the HTTP sender and the retry
// and rate-limit wrappers around it. A zero field means its documented
// default. The write key never appears in errors or in the String form.
type Config struct {
	// WriteKey is the source's write key, sent as the Basic auth user with
	// an empty password. Required.
	WriteKey string
	// Endpoint is where batches go: an http or https URL (a trailing slash
	// is tolerated), or "eu" for EUEndpoint. Batches are posted to
	// Endpoint + "/v1/batch". Default: Endpoint.
	Endpoint string
	// NoGzip sends request bodies uncompressed. By default they are
	// gzip-compressed.
	NoGzip bool
	// Rate caps requests per second across all senders sharing the sink,
	// retries included. Segment documents no hard limit; it recommends
	// under 1,000 requests per second per workspace, may answer 429 above
	// that, and asks integrations to stay at or under 50. Negative: no
	// limit. Default: 50 (DefaultRate).
	//
	// The rate in force adapts to the server's answers, between MinRate
	// and Rate: a 429 lowers it, at most once per round trip, to about the
	// rate the server accepted; it then holds the limit it found and
	// probes above it now and then; a limit stated in X-RateLimit-Limit or
	// RateLimit-Policy headers caps it. With no limit, the first 429 starts
	// from the request rate observed over the last second or two. See
	// NewAdaptiveRateLimiter.
	Rate float64
	// MinRate is the floor of the adaptive request rate: 429s never slow
	// the sink below it. Set it to Rate or more to keep the rate fixed.
	// Default: 1 request/s (DefaultMinRate), or Rate if that is lower.
	MinRate float64
	// EventsRate caps messages per second across all senders, counted
	// from the first batch on: no burst at the start, and at most one
	// batch at once after a pause (see RateLimiter). Segment
	// documents no events-per-second limit for the Tracking API; workspaces
	// with Engage are limited to 1,000 inbound events per second, so set
	// 1000 there. Zero or negative: no limit. Default: no limit.
	EventsRate float64
	// MaxRetries is how many times one batch is retried after its first
	// attempt before the send fails. Negative: no retries. Default: 1,000
	// (DefaultMaxRetries), so that MaxRetryTime governs.
	MaxRetries int
	// MaxRetryTime is how long one batch may go on failing (5xx, 429,
	// timeouts, dropped connections), from its first failed attempt,
	// before the send fails with a *RetryError; the batch is never
	// dropped. The sink gives up at whichever of MaxRetries and
	// MaxRetryTime comes first. Negative: no time limit. Default: 10
	// minutes (DefaultMaxRetryTime).
	MaxRetryTime time.Duration
	// MinBackoff is the first back-off between attempts; it doubles with
	// every retry, with jitter. Default: 100ms.
	MinBackoff time.Duration
	// MaxBackoff caps the exponential back-off. A Retry-After from the
	// server is honoured even when it is longer. Default: 30s.
	MaxBackoff time.Duration
	// RequestTimeout is the time one attempt may take, from sending the
	// request to reading the end of the response; an attempt that times
	// out is retried like a 5xx. It runs on the system clock, whatever
	// Clock is. Default: 30s.
	RequestTimeout time.Duration
	// HTTPClient sends the requests; the sender uses a copy that does not
	// follow redirects. Default: a client with keep-alive connections,
	// enough idle connections per host for many concurrent senders, and
	// dial and TLS handshake timeouts.
	HTTPClient *http.Client
	// Clock is the time source of the back-off, Retry-After pauses, rate
	// limits, MaxRetryTime and sentAt; tests inject one that does not
	// wait. Default (nil): the system clock.
	Clock Clock
	// Logger receives a Debug record for each retry: the attempt, the
	// back-off and the cause. Default (nil): no log.
	Logger *slog.Logger
	// Stub replaces the HTTP sender with one that answers every request
	// as a success without any I/O; batching, rate limits and retries
	// work as usual. WriteKey may then be empty.
	Stub bool
	// Observer, if set, is told about every request once its outcome is
	// known: its status, size and duration (see RequestObserver).
	// Default (nil): none.
	Observer RequestObserver
}

// String describes the configuration with the write key redacted.
func (c Config) String() string {
	key := "(empty)"
	if c.WriteKey != "" {
		key = "(redacted)"
	}
	return fmt.Sprintf("{WriteKey:%s Endpoint:%q NoGzip:%t Rate:%g MinRate:%g EventsRate:%g MaxRetries:%d MaxRetryTime:%s MinBackoff:%s MaxBackoff:%s RequestTimeout:%s Stub:%t}",
		key, c.Endpoint, c.NoGzip, c.Rate, c.MinRate, c.EventsRate, c.MaxRetries, c.MaxRetryTime, c.MinBackoff, c.MaxBackoff, c.RequestTimeout, c.Stub)
}

// Validate reports the first field that is missing or out of range, naming
// it. It never quotes the write key.
func (c Config) Validate() error {
	if c.WriteKey == "" && !c.Stub {
		return errors.New("segment config: WriteKey is empty")
	}
	for _, r := range c.WriteKey {
		if r <= ' ' || r == 0x7f || r == ':' {
			return errors.New("segment config: WriteKey contains whitespace, a control character or a colon")
		}
	}
	if _, err := ResolveEndpoint(c.Endpoint); err != nil {
		return fmt.Errorf("segment config: Endpoint: %w", err)
	}
	if math.IsNaN(c.Rate) {
		return errors.New("segment config: Rate is NaN")
	}
	if math.IsNaN(c.EventsRate) {
		return errors.New("segment config: EventsRate is NaN")
	}
	if c.MinRate < 0 || math.IsNaN(c.MinRate) || math.IsInf(c.MinRate, 0) {
		return fmt.Errorf("segment config: MinRate is %g, want 0 (default) or more", c.MinRate)
	}
	if c.MinBackoff < 0 {
		return fmt.Errorf("segment config: MinBackoff is %s, want 0 (default) or more", c.MinBackoff)
	}
	if c.MaxBackoff < 0 {
		return fmt.Errorf("segment config: MaxBackoff is %s, want 0 (default) or more", c.MaxBackoff)
	}
	minBackoff, maxBackoff := c.MinBackoff, c.MaxBackoff
	if minBackoff == 0 {
		minBackoff = DefaultMinBackoff
	}
	if maxBackoff == 0 {
		maxBackoff = DefaultMaxBackoff
	}
	if minBackoff > maxBackoff {
		return fmt.Errorf("segment config: MinBackoff %s is above MaxBackoff %s", minBackoff, maxBackoff)
	}
	if c.RequestTimeout < 0 {
		return fmt.Errorf("segment config: RequestTimeout is %s, want 0 (default) or more", c.RequestTimeout)
	}
	return nil
}

func (c Config) retryPolicy() RetryPolicy {
	return RetryPolicy{MaxRetries: c.MaxRetries, MaxRetryTime: c.MaxRetryTime, MinBackoff: c.MinBackoff, MaxBackoff: c.MaxBackoff}
}

// requestRate returns the requests-per-second cap, 0 for none.
func (c Config) requestRate() float64 {
	switch {
	case c.Rate == 0:
		return DefaultRate
	case c.Rate < 0:
		return 0
	}
	return c.Rate
}

// New returns the Segment sink that the importer uses: a
// Splitter around a Retrier around an adaptive RateLimiter around an
// HTTPSender (or, with Stub, a sender that answers every request as a
// success), so that each half of a split batch is retried and rate limited
// too. The returned Stats count the sink's work and show the request rate in
// force. The sink is safe for concurrent use; all its senders share one rate
// limit and one Retry-After pause.
func New(cfg Config) (sink.Sink, *Stats, error) {
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	stats := new(Stats)
	var sender sink.Sink
	if cfg.Stub {
		sender = &stubSender{stats: stats, gzip: !cfg.NoGzip, now: orSystem(cfg.Clock).Now, observer: cfg.Observer}
	} else {
		s, err := NewHTTPSender(cfg, stats)
		if err != nil {
			return nil, nil, err
		}
		sender = s
	}
	clock := orSystem(cfg.Clock)
	limited := NewAdaptiveRateLimiter(sender, cfg.requestRate(), cfg.EventsRate, AdaptiveRate{MinRate: cfg.MinRate}, stats)
	limited.setClock(clock)
	retrier := NewRetrier(limited, cfg.retryPolicy(), stats)
	retrier.setClock(clock)
	retrier.log = cfg.Logger
	return NewSplitter(retrier), stats, nil
}

// stubSender answers every request as a success without any I/O, after
// encoding its body as the HTTP sender would (gzip included), counting it as
// a request, a batch and its messages.
type stubSender struct {
	stub     sink.StubSink
	stats    *Stats
	gzip     bool
	now      func() time.Time
	observer RequestObserver
}

func (s *stubSender) Send(ctx context.Context, b *sink.Batch) error {
	if err := s.stub.Send(ctx, b); err != nil {
		return err
	}
	var start time.Time
	if s.observer != nil {
		start = time.Now()
	}
	// Nothing reads the body after this: its buffer is reused.
	buf, _ := stubBodies.Get().(*[]byte)
	if buf == nil {
		buf = new([]byte)
	}
	defer stubBodies.Put(buf)
	body, err := appendBody((*buf)[:0], b, s.now(), s.gzip)
	*buf = body
	if err != nil {
		return err
	}
	s.stats.BytesSent.Add(int64(len(body)))
	s.stats.Requests.Add(1)
	s.stats.Batches.Add(1)
	s.stats.Messages.Add(int64(b.Len()))
	if s.observer != nil {
		observe(s.observer, b, http.StatusOK, len(body), start, time.Now())
	}
	return nil
}

// ResolveEndpoint turns the Endpoint setting into a base URL without a
// trailing slash: "" gives Endpoint, "eu" gives EUEndpoint, and
// an http or https URL is returned as it is. Anything else is an error, as
// is a URL with credentials, a query or a fragment.
func ResolveEndpoint(s string) (string, error) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "":
		return Endpoint, nil
	case "eu":
		return EUEndpoint, nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return "", fmt.Errorf("endpoint %q: want \"eu\" or an http(s) URL", RedactEndpoint(s))
	}
	if u.User != nil {
		return "", errors.New("endpoint: credentials in the URL are not allowed; the write key goes in WriteKey")
	}
	if u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return "", fmt.Errorf("endpoint %q: want a URL without a query or fragment", RedactEndpoint(s))
	}
	return strings.TrimRight(s, "/"), nil
}

// RedactEndpoint returns an endpoint setting fit to be quoted in an error
// or a log: everything between the scheme and the last @ (a user name, a
// password, a write key) is replaced by ***, whether or not s parses as a
// URL.
func RedactEndpoint(s string) string {
	start := 0
	if i := strings.Index(s, "://"); i >= 0 {
		start = i + len("://")
	}
	if at := strings.LastIndex(s[start:], "@"); at >= 0 {
		return s[:start] + "***" + s[start+at:]
	}
	return s
}

// Stats counts the work of a Segment sink. All fields are safe for
// concurrent use; read them together with Snapshot.
type Stats struct {
	// currentRate holds the bits of the float64 request rate in force.
	currentRate atomic.Uint64
	// foundLimit holds the bits of the float64 limit found.
	foundLimit atomic.Uint64

	// Requests counts HTTP requests sent, retries included.
	Requests atomic.Int64
	// Retries counts attempts after the first attempt of a batch.
	Retries atomic.Int64
	// Throttled counts 429 Too Many Requests responses.
	Throttled atomic.Int64
	// BytesSent counts request body bytes on the wire (after compression).
	BytesSent atomic.Int64
	// Batches counts requests acknowledged with a 2xx; the halves of a
	// split batch count separately.
	Batches atomic.Int64
	// Messages counts the messages of acknowledged requests.
	Messages atomic.Int64
	// Paused counts the nanoseconds during which Retry-After pauses kept
	// every sender waiting; overlapping pauses count once.
	Paused atomic.Int64

	// lastError is the short cause of the last failed attempt that was
	// retried or gave up; nil before the first.
	lastError atomic.Pointer[string]
}

// LastError returns the cause, in a few words, of the last failed attempt
// the sink retried ("503 Service Unavailable", "connection refused"), or ""
// if none failed. It never holds the write key.
func (s *Stats) LastError() string {
	if p := s.lastError.Load(); p != nil {
		return *p
	}
	return ""
}

func (s *Stats) setLastError(cause string) { s.lastError.Store(&cause) }

// StatsSnapshot is a copy of the counters of Stats at one moment.
type StatsSnapshot struct {
	Requests, Retries, Throttled, BytesSent, Batches, Messages int64
	// CurrentRate is the request rate in force, in requests per second,
	// as CurrentRate returns it.
	CurrentRate float64
	// FoundLimit is the limit found, in requests per second, as
	// FoundLimit returns it.
	FoundLimit float64
	// Paused is the time Retry-After pauses held every sender, as
	// Stats.Paused counts it.
	Paused time.Duration
	// LastError is the cause of the last failed attempt, as LastError
	// returns it.
	LastError string
}

// Snapshot reads every counter.
func (s *Stats) Snapshot() StatsSnapshot {
	return StatsSnapshot{
		Requests:    s.Requests.Load(),
		Retries:     s.Retries.Load(),
		Throttled:   s.Throttled.Load(),
		BytesSent:   s.BytesSent.Load(),
		Batches:     s.Batches.Load(),
		Messages:    s.Messages.Load(),
		CurrentRate: s.CurrentRate(),
		FoundLimit:  s.FoundLimit(),
		Paused:      time.Duration(s.Paused.Load()),
		LastError:   s.LastError(),
	}
}

// CurrentRate returns the request rate in force, in requests per second:
// the configured rate, or less after 429s. Zero means no limit.
func (s *Stats) CurrentRate() float64 {
	return math.Float64frombits(s.currentRate.Load())
}

func (s *Stats) setCurrentRate(r float64) {
	s.currentRate.Store(math.Float64bits(r))
}

// FoundLimit returns the request rate, per second, that the sink found
// the server to allow: the limit the server states in X-RateLimit headers,
// or else the rate where the last 429s put it. Zero until a 429 or a
// stated limit.
func (s *Stats) FoundLimit() float64 {
	return math.Float64frombits(s.foundLimit.Load())
}

func (s *Stats) setFoundLimit(r float64) {
	s.foundLimit.Store(math.Float64bits(r))
}

// maxErrorBody is how much of an error response's body StatusError keeps.
const maxErrorBody = 512

// maxDrain is how much of a response body is read so that its connection
// can be reused; a longer body closes the connection instead.
const maxDrain = 256 << 10

// maxRetryAfter caps a Retry-After pause, so that a garbled header cannot
// stop a run for days.
const maxRetryAfter = time.Hour

// HTTPSender posts batches to Segment's batch endpoint, one attempt per
// Send: it neither retries nor rate limits (see Retrier and RateLimiter).
// Every attempt sets sentAt afresh. A 2xx is success; any other status is a
// *StatusError, which for 401 and 403 also wraps sink.ErrUnauthorized; a request
// without a response is a network error. A limit a response states in its
// rate-limit headers is reported with StateLimit to the adaptive
// RateLimiter that the Send's context came through. Safe for concurrent use.
type HTTPSender struct {
	url      string
	auth     string // the Authorization header value
	key      string // only to scrub it from echoed bodies
	gzip     bool
	timeout  time.Duration
	client   *http.Client
	stats    *Stats
	now      func() time.Time
	endpoint string
	// observer is told about each request; nil: none.
	observer RequestObserver
}

var _ sink.Sink = (*HTTPSender)(nil)

// NewHTTPSender returns a sender configured by cfg (only WriteKey, Endpoint,
// NoGzip, RequestTimeout, HTTPClient, Clock and Observer matter here). It counts
// requests, bytes, 429s and acknowledged batches and messages into stats,
// which may be nil.
func NewHTTPSender(cfg Config, stats *Stats) (*HTTPSender, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	endpoint, _ := ResolveEndpoint(cfg.Endpoint)
	if stats == nil {
		stats = new(Stats)
	}
	client := defaultClient()
	if cfg.HTTPClient != nil {
		c := *cfg.HTTPClient
		client = &c
	}
	// A redirected POST would be followed as a GET: report it instead.
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	timeout := cfg.RequestTimeout
	if timeout == 0 {
		timeout = DefaultRequestTimeout
	}
	return &HTTPSender{
		now:      orSystem(cfg.Clock).Now,
		url:      endpoint + "/v1/batch",
		auth:     "Basic " + base64.StdEncoding.EncodeToString([]byte(cfg.WriteKey+":")),
		key:      cfg.WriteKey,
		gzip:     !cfg.NoGzip,
		timeout:  timeout,
		client:   client,
		stats:    stats,
		endpoint: endpoint,
		observer: cfg.Observer,
	}, nil
}

// String names the sender's endpoint; it never shows the write key.
func (s *HTTPSender) String() string { return "segment sender to " + s.endpoint }

// defaultClient is an HTTP client whose transport keeps enough idle
// connections per host for many concurrent senders.
func defaultClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 64
	t.IdleConnTimeout = 90 * time.Second
	t.TLSHandshakeTimeout = 10 * time.Second
	t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	return &http.Client{Transport: t}
}

// Send posts b once. It blocks until the response is read, the attempt
// times out (RequestTimeout) or ctx ends; when ctx ends the error wraps
// ctx.Err(). Redirects are not followed: a 3xx is a *StatusError.
func (s *HTTPSender) Send(ctx context.Context, b *sink.Batch) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("segment request: %w", err)
	}
	payload, err := s.payload(b)
	if err != nil {
		return err
	}
	actx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, s.url, bytes.NewReader(payload))
	if err != nil {
		return fmt.Errorf("segment request: %w", err)
	}
	req.Header.Set("Authorization", s.auth)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "backfill/"+sink.Version)
	if s.gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	s.stats.Requests.Add(1)
	s.stats.BytesSent.Add(int64(len(payload)))
	start := time.Now()
	resp, err := s.client.Do(req)
	if s.observer != nil {
		status := 0
		if err == nil {
			status = resp.StatusCode
		}
		observe(s.observer, b, status, len(payload), start, time.Now())
	}
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("segment request: %w", ctx.Err())
		}
		if u := unreachable(s.endpoint, err); u != nil {
			return u
		}
		return &networkError{err: err, endpoint: s.endpoint}
	}
	defer drainClose(resp.Body)
	if l := statedLimit(resp.Header); l > 0 {
		StateLimit(ctx, l)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		s.stats.Batches.Add(1)
		s.stats.Messages.Add(int64(b.Len()))
		return nil
	}
	head, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	se := &StatusError{
		Status:     resp.StatusCode,
		Body:       s.scrub(head),
		RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), s.now()),
	}
	if loc := resp.Header.Get("Location"); se.Body == "" && loc != "" {
		se.Body = "redirected to " + loc
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests:
		s.stats.Throttled.Add(1)
	case http.StatusUnauthorized, http.StatusForbidden:
		return &unauthorizedError{status: se}
	}
	return se
}

// payload returns the request body of one attempt, in a buffer of its own:
// the transport may still read a body after Do returns, so it must not
// alias the batch, whose sentAt the next attempt rewrites.
func (s *HTTPSender) payload(b *sink.Batch) ([]byte, error) {
	return encodeBody(b, s.now(), s.gzip)
}

// encodeBody returns the request body of b with sentAt, gzip-compressed
// if gz, in a buffer of its own.
func encodeBody(b *sink.Batch, sentAt time.Time, gz bool) ([]byte, error) {
	return appendBody(nil, b, sentAt, gz)
}

// stubBodies are the buffers of the bodies a stub sender makes.
var stubBodies sync.Pool // of *[]byte

// appendBody appends the request body of b with sentAt, gzip-compressed if
// gz, to dst.
func appendBody(dst []byte, b *sink.Batch, sentAt time.Time, gz bool) ([]byte, error) {
	body := b.Body(sentAt)
	if !gz {
		return append(dst, body...), nil
	}
	buf := bytes.NewBuffer(dst)
	buf.Grow(len(body)/4 + 64)
	zw := gzipWriters.Get().(*gzip.Writer)
	defer gzipWriters.Put(zw)
	zw.Reset(buf)
	_, err := zw.Write(body)
	if err == nil {
		err = zw.Close()
	}
	zw.Reset(io.Discard)
	if err != nil {
		return dst, fmt.Errorf("gzip batch: %w", err)
	}
	return buf.Bytes(), nil
}

var gzipWriters = sync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
	return zw
}}

// scrub turns the start of a response body into text for an error message,
// with the write key removed should the server have echoed it.
func (s *HTTPSender) scrub(head []byte) string {
	text := strings.TrimSpace(strings.ToValidUTF8(string(head), "\uFFFD"))
	if s.key != "" {
		text = strings.ReplaceAll(text, s.key, "[write key]")
	}
	return text
}

// drainClose reads what is left of a response body, up to maxDrain, and
// closes it, so that the connection goes back to the pool.
func drainClose(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, maxDrain))
	_ = body.Close()
}

// parseRetryAfter reads a Retry-After header given as seconds or as an HTTP
// date, relative to now. It returns zero for an absent, malformed or past
// value, and caps the result at maxRetryAfter.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		if secs > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}

// unauthorizedError is a 401 or 403: the write key was refused.
type unauthorizedError struct {
	status *StatusError
}

func (e *unauthorizedError) Error() string {
	msg := fmt.Sprintf("%s (http %d)", sink.ErrUnauthorized, e.status.Status)
	if e.status.Body != "" {
		msg += ": " + e.status.Body
	}
	return msg
}

func (e *unauthorizedError) Unwrap() []error { return []error{sink.ErrUnauthorized, e.status} }

// networkError is an attempt that got no complete response: the connection
// failed, was reset or closed mid-response, or the attempt timed out. It
// never stands for the end of the caller's context.
type networkError struct {
	err      error
	endpoint string // the sender's base URL, for an *UnreachableError
}

func (e *networkError) Error() string { return e.err.Error() }

func (e *networkError) Unwrap() error { return e.err }

// retryable is the one place that decides whether a failed attempt may be
// tried again: 408, 429 and 5xx other than 501 and 505, and network errors
// are; the end of the caller's context, 401 and 403, an *UnreachableError
// (a host that does not resolve, an untrusted certificate), and other
// statuses (among them 400 and 413, which the Splitter handles) are not.
func retryable(err error) bool {
	if err == nil || errors.Is(err, sink.ErrUnauthorized) || errors.As(err, new(*UnreachableError)) {
		return false
	}
	var ne *networkError
	if errors.As(err, &ne) {
		return true
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var se *StatusError
	if errors.As(err, &se) {
		switch {
		case se.Status == http.StatusRequestTimeout, se.Status == http.StatusTooManyRequests:
			return true
		case se.Status == http.StatusNotImplemented, se.Status == http.StatusHTTPVersionNotSupported:
			return false
		}
		return se.Status >= 500 && se.Status <= 599
	}
	var netErr net.Error
	return errors.As(err, &netErr) ||
		errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.EPIPE)
}

// StatusError is an HTTP response that was not a success.
type StatusError struct {
	Status     int
	Body       string        // start of the response body, for messages
	RetryAfter time.Duration // from a Retry-After header; zero if none
}

// Error gives the status and the start of the body.
func (e *StatusError) Error() string {
	if e.Body != "" {
		return fmt.Sprintf("http %d: %s", e.Status, e.Body)
	}
	return fmt.Sprintf("http %d", e.Status)
}
