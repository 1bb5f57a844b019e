package segment

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backfillhq/backfill/internal/sinktest"
	"github.com/backfillhq/backfill/sink"
)

func TestRetrier500Then200(t *testing.T) {
	clk := sinktest.NewClock()
	f := sinktest.NewServer(t, clk.Now, sinktest.Replies(sinktest.Reply{Status: 500, Body: "oops"}, sinktest.OK))
	s, stats := newTestSender(t, f, clk.Now, nil)
	r := newTestRetrier(s, RetryPolicy{}, stats, clk)
	if err := r.Send(context.Background(), sinktest.BuildBatch(t, "m", 3)); err != nil {
		t.Fatalf("Send: %v", err)
	}
	reqs := f.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	if reqs[0].SentAt == reqs[1].SentAt {
		t.Errorf("both attempts have sentAt %s; want it set afresh", reqs[0].SentAt)
	}
	if want := sinktest.ClockStart.Add(DefaultMinBackoff).Format(sink.TimeLayout); reqs[1].SentAt != want {
		t.Errorf("retry sentAt %s, want %s", reqs[1].SentAt, want)
	}
	if !slices.Equal(reqs[0].IDs, reqs[1].IDs) {
		t.Errorf("the retry sent %v, the first attempt %v", reqs[1].IDs, reqs[0].IDs)
	}
	if got := clk.Sleeps(); !slices.Equal(got, []time.Duration{DefaultMinBackoff}) {
		t.Errorf("waits %v, want one of %s", got, DefaultMinBackoff)
	}
	got := stats.Snapshot()
	if got.Requests != 2 || got.Retries != 1 || got.Batches != 1 || got.Messages != 3 {
		t.Errorf("stats %+v, want 2 requests, 1 retry, 1 batch of 3", got)
	}
}

func TestRetrierNetworkErrorThen200(t *testing.T) {
	clk := sinktest.NewClock()
	f := sinktest.NewServer(t, clk.Now, sinktest.Replies(sinktest.Reply{Hangup: true}, sinktest.OK))
	s, stats := newTestSender(t, f, clk.Now, nil)
	r := newTestRetrier(s, RetryPolicy{}, stats, clk)
	if err := r.Send(context.Background(), sinktest.BuildBatch(t, "m", 3)); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if got := stats.Retries.Load(); got != 1 {
		t.Errorf("Retries = %d, want 1", got)
	}
}

func TestRetrierNotRetried(t *testing.T) {
	for _, code := range []int{400, 401, 403, 404, 413, 422, 501, 505} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			clk := sinktest.NewClock()
			f := sinktest.NewServer(t, clk.Now, sinktest.Replies(sinktest.Reply{Status: code}, sinktest.OK))
			s, stats := newTestSender(t, f, clk.Now, nil)
			r := newTestRetrier(s, RetryPolicy{}, stats, clk)
			err := r.Send(context.Background(), sinktest.BuildBatch(t, "m", 2))
			var se *StatusError
			if !errors.As(err, &se) || se.Status != code {
				t.Fatalf("Send: %v, want the http %d error", err, code)
			}
			if n := len(f.Requests()); n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
			if stats.Retries.Load() != 0 || len(clk.Sleeps()) != 0 {
				t.Errorf("retried: %d retries, waits %v", stats.Retries.Load(), clk.Sleeps())
			}
		})
	}
}

func TestRetrierExhausted(t *testing.T) {
	for _, tc := range []struct {
		name         string
		policy       RetryPolicy
		wantRequests int
		wantText     string
	}{
		{"three retries", RetryPolicy{MaxRetries: 3}, 4, "4 attempts failed in 700ms"},
		{"no retries", RetryPolicy{MaxRetries: -1}, 1, "1 attempt failed in 0s"},
		{"count before time", RetryPolicy{MaxRetries: 2, MaxRetryTime: time.Hour}, 3, "3 attempts failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := sinktest.NewClock()
			f := sinktest.NewServer(t, clk.Now, sinktest.Replies(sinktest.Reply{Status: 503, Body: "unavailable"}))
			s, stats := newTestSender(t, f, clk.Now, nil)
			r := newTestRetrier(s, tc.policy, stats, clk)
			err := r.Send(context.Background(), sinktest.BuildBatch(t, "m", 2))
			if err == nil {
				t.Fatal("Send returned nil for a batch that was never accepted")
			}
			var se *StatusError
			if !errors.As(err, &se) || se.Status != 503 {
				t.Errorf("error %v does not wrap the last http 503", err)
			}
			var re *RetryError
			if !errors.As(err, &re) || re.TimeLimit || re.Attempts != tc.wantRequests {
				t.Errorf("error %#v, want a *RetryError of %d attempts on the count limit", err, tc.wantRequests)
			}
			if !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("error %q does not say %q", err, tc.wantText)
			}
			if n := len(f.Requests()); n != tc.wantRequests {
				t.Errorf("%d requests, want %d", n, tc.wantRequests)
			}
			if got := stats.Retries.Load(); got != int64(tc.wantRequests-1) {
				t.Errorf("Retries = %d, want %d", got, tc.wantRequests-1)
			}
		})
	}
}

// TestRetrierMaxRetryTime: a batch that keeps failing is given up after
// MaxRetryTime of continuous failure, measured on the Retrier's clock, with
// a last attempt at the limit; every retry waits first.
func TestRetrierMaxRetryTime(t *testing.T) {
	for _, tc := range []struct {
		name      string
		policy    RetryPolicy
		script    func(*sinktest.Request) sinktest.Reply
		wantErr   bool
		wantTime  bool          // gave up on the time limit
		wantFail  time.Duration // RetryError.Failing
		wantTries int           // requests; 0: do not check
		wantText  string        // in the error
	}{
		{
			name:     "default: ten minutes, the count never reached",
			script:   sinktest.Replies(sinktest.Reply{Status: 503}),
			wantErr:  true,
			wantTime: true,
			wantFail: DefaultMaxRetryTime,
			// 100ms, 200ms, … 25.6s (51.1s in all), then 30s waits up to the
			// limit, the last shortened to end there: 9 + 19 retries.
			wantTries: 29,
		},
		{
			name:      "last wait shortened to the limit",
			policy:    RetryPolicy{MaxRetryTime: time.Second},
			script:    sinktest.Replies(sinktest.Reply{Status: 500}),
			wantErr:   true,
			wantTime:  true,
			wantFail:  time.Second,
			wantTries: 5, // at 0, 0.1, 0.3, 0.7 and 1.0s
		},
		{
			name:     "network errors count as failures",
			policy:   RetryPolicy{MaxRetryTime: time.Second},
			script:   sinktest.Replies(sinktest.Reply{Hangup: true}),
			wantErr:  true,
			wantTime: true,
			wantFail: time.Second,
		},
		{
			name:      "429s count as failures",
			policy:    RetryPolicy{MaxRetryTime: time.Minute},
			script:    sinktest.Replies(sinktest.Reply{Status: 429, Header: map[string]string{"Retry-After": "25"}}),
			wantErr:   true,
			wantTime:  true,
			wantFail:  50 * time.Second, // a third pause would end past the limit
			wantTries: 3,
		},
		{
			name:      "a Retry-After past the limit gives up at once",
			policy:    RetryPolicy{MaxRetryTime: time.Minute},
			script:    sinktest.Replies(sinktest.Reply{Status: 429, Header: map[string]string{"Retry-After": "120"}}),
			wantErr:   true,
			wantTime:  true,
			wantFail:  0,
			wantTries: 1,
			wantText:  "the server asks for a pause of 2m0s, which ends past the max retry time",
		},
		{
			name:      "no time limit: the count governs",
			policy:    RetryPolicy{MaxRetries: 40, MaxRetryTime: -1},
			script:    sinktest.Replies(sinktest.Reply{Status: 502}),
			wantErr:   true,
			wantTries: 41,
		},
		{
			name:   "down nine minutes, then up",
			policy: RetryPolicy{},
			script: func(r *sinktest.Request) sinktest.Reply {
				if r.At.Before(sinktest.ClockStart.Add(9 * time.Minute)) {
					return sinktest.Reply{Status: 503}
				}
				return sinktest.OK
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := sinktest.NewClock()
			f := sinktest.NewServer(t, clk.Now, tc.script)
			s, stats := newTestSender(t, f, clk.Now, nil)
			r := newTestRetrier(s, tc.policy, stats, clk)
			err := r.Send(context.Background(), sinktest.BuildBatch(t, "m", 2))
			reqs := f.Requests()
			if !tc.wantErr {
				if err != nil {
					t.Fatalf("Send: %v", err)
				}
			} else {
				var re *RetryError
				if !errors.As(err, &re) {
					t.Fatalf("Send: %v, want a *RetryError", err)
				}
				if re.TimeLimit != tc.wantTime {
					t.Errorf("TimeLimit = %t, want %t (%v)", re.TimeLimit, tc.wantTime, err)
				}
				if tc.wantTime && re.Failing != tc.wantFail {
					t.Errorf("failing for %s, want %s", re.Failing, tc.wantFail)
				}
				if tc.wantTime && !strings.Contains(err.Error(), "the max retry time") {
					t.Errorf("error %q does not name the max retry time", err)
				}
				if !strings.Contains(err.Error(), tc.wantText) {
					t.Errorf("error %q does not say %q", err, tc.wantText)
				}
				if re.Attempts != len(reqs) {
					t.Errorf("Attempts = %d, %d requests", re.Attempts, len(reqs))
				}
				if tc.wantTime {
					if last := reqs[len(reqs)-1].At; last.After(sinktest.ClockStart.Add(tc.policy.withDefaults().MaxRetryTime)) {
						t.Errorf("an attempt at %s, past the limit", last)
					}
				}
			}
			if tc.wantTries != 0 && len(reqs) != tc.wantTries {
				t.Errorf("%d requests, want %d", len(reqs), tc.wantTries)
			}
			// Every retry waited: a back-off or a pause before each.
			sleeps := clk.Sleeps()
			if len(sleeps) != len(reqs)-1 {
				t.Errorf("%d waits for %d requests, want one before each retry", len(sleeps), len(reqs))
			}
			for i, d := range sleeps {
				if d <= 0 {
					t.Errorf("wait %d is %s", i, d)
				}
			}
		})
	}
}

// TestRetrierRetryTimeIsPerBatch: the retry time counts the continuous
// failure of one batch; a delivery ends it, and the next batch starts
// afresh.
func TestRetrierRetryTimeIsPerBatch(t *testing.T) {
	clk := sinktest.NewClock()
	// Down for 50s, up, down again for 50s from the second batch's first
	// request.
	var secondStart atomic.Pointer[time.Time]
	f := sinktest.NewServer(t, clk.Now, func(r *sinktest.Request) sinktest.Reply {
		if r.Has("a") {
			if r.At.Before(sinktest.ClockStart.Add(50 * time.Second)) {
				return sinktest.Reply{Status: 503}
			}
			return sinktest.OK
		}
		secondStart.CompareAndSwap(nil, &r.At)
		if r.At.Before(secondStart.Load().Add(50 * time.Second)) {
			return sinktest.Reply{Status: 503}
		}
		return sinktest.OK
	})
	s, stats := newTestSender(t, f, clk.Now, nil)
	r := newTestRetrier(s, RetryPolicy{MaxRetryTime: time.Minute}, stats, clk)
	for _, prefix := range []string{"a", "b"} {
		if err := r.Send(context.Background(), sinktest.BuildBatch(t, prefix, 2)); err != nil {
			t.Fatalf("batch %s: %v", prefix, err)
		}
	}
}

func TestRetrierBackoff(t *testing.T) {
	p := RetryPolicy{MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second}
	for _, tc := range []struct {
		name   string
		jitter func(time.Duration) time.Duration
		want   []time.Duration // retries 1, 2, …
	}{
		{"most", func(d time.Duration) time.Duration { return d },
			[]time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, time.Second, time.Second}},
		{"least", func(time.Duration) time.Duration { return 0 },
			[]time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 500 * time.Millisecond, 500 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRetrier(nil, p, nil)
			r.jitter = tc.jitter
			for k, want := range tc.want {
				if got := r.backoff(k + 1); got != want {
					t.Errorf("backoff(%d) = %s, want %s", k+1, got, want)
				}
			}
		})
	}
	t.Run("random stays in range", func(t *testing.T) {
		r := NewRetrier(nil, RetryPolicy{MinBackoff: time.Second, MaxBackoff: time.Hour}, nil)
		for k := 1; k < 100; k++ {
			full := min(time.Second<<min(k-1, 20), time.Hour)
			if got := r.backoff(k); got < full/2 || got > full {
				t.Fatalf("backoff(%d) = %s, want within [%s, %s]", k, got, full/2, full)
			}
		}
	})
}

func TestRetrierRetryAfterHTTPDate(t *testing.T) {
	clk := sinktest.NewClock()
	throttle := sinktest.Reply{Status: 429, Header: map[string]string{
		"Retry-After": sinktest.ClockStart.Add(7 * time.Second).Format(http.TimeFormat),
	}}
	f := sinktest.NewServer(t, clk.Now, sinktest.Replies(throttle, sinktest.OK))
	s, stats := newTestSender(t, f, clk.Now, nil)
	r := newTestRetrier(s, RetryPolicy{}, stats, clk)
	if err := r.Send(context.Background(), sinktest.BuildBatch(t, "m", 2)); err != nil {
		t.Fatalf("Send: %v", err)
	}
	reqs := f.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	if want := sinktest.ClockStart.Add(7 * time.Second); reqs[1].At.Before(want) {
		t.Errorf("retry at %s, before the Retry-After instant %s", reqs[1].At, want)
	}
	if got := clk.Sleeps(); !slices.Equal(got, []time.Duration{7 * time.Second}) {
		t.Errorf("waits %v, want the 7s pause only", got)
	}
	if got := stats.Throttled.Load(); got != 1 {
		t.Errorf("Throttled = %d, want 1", got)
	}
}

// TestRetrierRetryAfterPausesEverySender: a 429 with Retry-After that one
// sender gets holds back every sender of the Retrier until the instant it
// names, and a success that lands during the pause does not end it.
func TestRetrierRetryAfterPausesEverySender(t *testing.T) {
	clk := sinktest.NewClock()
	const pause = 5 * time.Second
	releaseX := make(chan struct{})
	var throttled atomic.Bool
	f := sinktest.NewServer(t, clk.Now, func(r *sinktest.Request) sinktest.Reply {
		switch {
		case r.Has("x"):
			return sinktest.Reply{Status: 200, Hold: releaseX}
		case r.Has("a") && throttled.CompareAndSwap(false, true):
			return sinktest.Reply{Status: 429, Header: map[string]string{"Retry-After": "5"}}
		}
		return sinktest.OK
	})
	s, stats := newTestSender(t, f, clk.Now, nil)
	r := newTestRetrier(s, RetryPolicy{}, stats, clk)

	// Waits report themselves and hold until the gate opens; only then does
	// the clock move.
	gate := make(chan struct{})
	sleeping := make(chan time.Duration, 16)
	r.sleep = func(ctx context.Context, d time.Duration) error {
		target := clk.Now().Add(d)
		sleeping <- d
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
		clk.AdvanceTo(target)
		return nil
	}

	type result struct {
		name string
		err  error
	}
	results := make(chan result, 8)
	send := func(name string) {
		go func() { results <- result{name, r.Send(context.Background(), sinktest.BuildBatch(t, name, 2))} }()
	}

	send("x") // in flight when the 429 comes
	if got := f.WaitArrival(t); !got.Has("x") {
		t.Fatalf("first request holds %v, want x", got.IDs)
	}
	send("a")
	if got := f.WaitArrival(t); !got.Has("a") || got.Status != 429 {
		t.Fatalf("second request holds %v answered %d, want a answered 429", got.IDs, got.Status)
	}
	if d := <-sleeping; d != pause {
		t.Fatalf("a waits %s, want %s", d, pause)
	}
	close(releaseX) // x succeeds while the pause is in force
	if res := <-results; res.name != "x" || res.err != nil {
		t.Fatalf("%s: %v, want x delivered", res.name, res.err)
	}

	send("b")
	send("c")
	send("d")
	for waiting := 0; waiting < 3; {
		select {
		case d := <-sleeping:
			if d != pause {
				t.Errorf("a sender waits %s, want the rest of the pause, %s", d, pause)
			}
			waiting++
		case res := <-results:
			t.Fatalf("%s returned (%v) during the pause", res.name, res.err)
		}
	}
	close(gate)
	for range 4 {
		if res := <-results; res.err != nil {
			t.Errorf("%s: %v", res.name, res.err)
		}
	}

	reqs := f.Requests()
	if len(reqs) != 6 {
		t.Fatalf("%d requests, want 6 (x, a, a again, b, c, d)", len(reqs))
	}
	end := sinktest.ClockStart.Add(pause)
	for _, q := range reqs[2:] {
		if q.At.Before(end) {
			t.Errorf("request %d %v reached the server at %s, before the pause ended at %s", q.N, q.IDs, q.At, end)
		}
	}
	got := stats.Snapshot()
	if got.Throttled != 1 || got.Retries != 1 || got.Batches != 5 || got.Requests != 6 {
		t.Errorf("stats %+v, want 1 throttled, 1 retry, 5 batches, 6 requests", got)
	}
}

func TestRetrierPauseOnlyExtends(t *testing.T) {
	t0 := sinktest.ClockStart
	for _, tc := range []struct {
		name   string
		pauses []time.Time
		want   time.Time
	}{
		{"one", []time.Time{t0.Add(time.Second)}, t0.Add(time.Second)},
		{"later extends", []time.Time{t0.Add(time.Second), t0.Add(3 * time.Second)}, t0.Add(3 * time.Second)},
		{"earlier keeps", []time.Time{t0.Add(3 * time.Second), t0.Add(time.Second)}, t0.Add(3 * time.Second)},
		{"past keeps", []time.Time{t0.Add(3 * time.Second), t0.Add(-time.Hour)}, t0.Add(3 * time.Second)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRetrier(nil, RetryPolicy{}, nil)
			for _, p := range tc.pauses {
				r.pause(p)
			}
			if !r.pausedUntil.Equal(tc.want) {
				t.Errorf("paused until %s, want %s", r.pausedUntil, tc.want)
			}
		})
	}
}

// TestRetrierLaterRetryAfterExtends: a second 429 whose Retry-After ends
// later makes the waiting senders wait longer.
func TestRetrierLaterRetryAfterExtends(t *testing.T) {
	clk := sinktest.NewClock()
	f := sinktest.NewServer(t, clk.Now, sinktest.Replies(
		sinktest.Reply{Status: 429, Header: map[string]string{"Retry-After": "2"}},
		sinktest.Reply{Status: 429, Header: map[string]string{"Retry-After": "9"}},
		sinktest.OK,
	))
	s, stats := newTestSender(t, f, clk.Now, nil)
	r := newTestRetrier(s, RetryPolicy{}, stats, clk)
	if err := r.Send(context.Background(), sinktest.BuildBatch(t, "m", 1)); err != nil {
		t.Fatal(err)
	}
	reqs := f.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	if want := sinktest.ClockStart.Add(11 * time.Second); !reqs[2].At.Equal(want) {
		t.Errorf("third attempt at %s, want %s", reqs[2].At, want)
	}
}

func TestRetrierCancel(t *testing.T) {
	fail := &StatusError{Status: 500}
	for _, tc := range []struct {
		name  string
		setup func(r *Retrier)
		calls int // attempts expected before the cancellation
	}{
		{"during back-off", func(r *Retrier) {}, 1},
		{"during a pause", func(r *Retrier) { r.pause(time.Now().Add(time.Hour)) }, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			next := sinktest.SendFunc(func(ctx context.Context, b *sink.Batch) error {
				calls.Add(1)
				return fail
			})
			// The real wait: only the cancellation can end it. The test
			// cancels once the Retrier waits, not at a time of its own.
			r := NewRetrier(next, RetryPolicy{MinBackoff: time.Hour, MaxBackoff: time.Hour}, nil)
			waiting := make(chan struct{}, 1)
			r.sleep = func(ctx context.Context, d time.Duration) error {
				waiting <- struct{}{}
				return sleepContext(ctx, d)
			}
			tc.setup(r)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			errc := make(chan error, 1)
			go func() { errc <- r.Send(ctx, sinktest.BuildBatch(t, "m", 1)) }()
			<-waiting
			cancel()
			err := <-errc
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Send: %v, want context.Canceled", err)
			}
			if got := int(calls.Load()); got != tc.calls {
				t.Errorf("%d attempts, want %d", got, tc.calls)
			}
			if tc.calls > 0 && !strings.Contains(err.Error(), "after 1 attempt failed") {
				t.Errorf("error %q does not tell the failed attempt", err)
			}
		})
	}
	t.Run("cancelled during the attempt", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		var calls atomic.Int32
		next := sinktest.SendFunc(func(ctx context.Context, b *sink.Batch) error {
			calls.Add(1)
			cancel()
			return &networkError{err: errors.New("connection reset")}
		})
		r := NewRetrier(next, RetryPolicy{}, nil)
		err := r.Send(ctx, sinktest.BuildBatch(t, "m", 1))
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Send: %v, want context.Canceled", err)
		}
		if calls.Load() != 1 {
			t.Errorf("%d attempts, want 1", calls.Load())
		}
	})
}
