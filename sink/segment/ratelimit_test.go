package segment

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backfillhq/backfill/internal/sinktest"
	"github.com/backfillhq/backfill/sink"
	"golang.org/x/time/rate"
)

// A rate so low that a used token never comes back within a test.
const glacial = 1e-6

func TestRateLimiterPassesThrough(t *testing.T) {
	want := &StatusError{Status: 503}
	for _, tc := range []struct {
		name    string
		reqRate float64
		evRate  float64
		result  error
	}{
		{"unlimited", 0, 0, nil},
		{"limited", 1000, 100000, nil},
		{"error as it is", 1000, 100000, want},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := sinktest.BuildBatch(t, "m", 7)
			var calls atomic.Int32
			next := sinktest.SendFunc(func(ctx context.Context, got *sink.Batch) error {
				calls.Add(1)
				if got != b {
					t.Errorf("next got another batch")
				}
				return tc.result
			})
			l := NewRateLimiter(next, tc.reqRate, tc.evRate)
			for range 3 {
				if err := l.Send(context.Background(), b); err != tc.result {
					t.Errorf("Send: %v, want %v", err, tc.result)
				}
			}
			if calls.Load() != 3 {
				t.Errorf("next called %d times, want 3", calls.Load())
			}
		})
	}
}

// TestRateLimiterCounts: each Send takes one request token and one event
// token per message, and the event limit starts empty: a batch of 100 at
// 1,000 events a second waits 100ms.
func TestRateLimiterCounts(t *testing.T) {
	clk := sinktest.NewClock()
	l := NewRateLimiter(sinktest.SendFunc(func(context.Context, *sink.Batch) error { return nil }), glacial, 1000)
	l.setClock(clk)
	if got := l.events.Burst(); got != sink.DefaultMaxMessages {
		t.Fatalf("events burst %d, want %d so a full batch passes", got, sink.DefaultMaxMessages)
	}
	if err := l.Send(context.Background(), sinktest.BuildBatch(t, "m", 100)); err != nil {
		t.Fatal(err)
	}
	if got, want := clk.Sleeps(), []time.Duration{100 * time.Millisecond}; !slices.Equal(got, want) {
		t.Errorf("waits %v, want %v", got, want)
	}
	if got := l.events.TokensAt(clk.Now()); got < -0.001 || got > 0.001 {
		t.Errorf("%.3f event tokens left, want 0", got)
	}
	if got := l.requests.TokensAt(clk.Now()); got < 0 || got > 0.5 {
		t.Errorf("%.3f request tokens left, want 0", got)
	}
}

func TestRateLimiterLargeBatchInSteps(t *testing.T) {
	l := NewRateLimiter(sinktest.SendFunc(func(context.Context, *sink.Batch) error { return nil }), 0, 0)
	l.events = rate.NewLimiter(rate.Limit(1e9), 2)
	if err := l.Send(context.Background(), sinktest.BuildBatch(t, "m", 5)); err != nil {
		t.Fatalf("Send of 5 messages with a burst of 2: %v", err)
	}
}

func TestRateLimiterCancel(t *testing.T) {
	for _, tc := range []struct {
		name    string
		reqRate float64
		evRate  float64
		drain   func(l *RateLimiter)
	}{
		{"waiting for a request", glacial, 0, func(l *RateLimiter) { l.requests.Allow() }},
		{"waiting for events", 0, glacial, func(l *RateLimiter) { l.events.AllowN(time.Now(), sink.DefaultMaxMessages-2) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			l := NewRateLimiter(sinktest.SendFunc(func(context.Context, *sink.Batch) error {
				calls.Add(1)
				return nil
			}), tc.reqRate, tc.evRate)
			tc.drain(l)
			ctx, cancel := context.WithCancel(context.Background())
			errc := make(chan error, 1)
			go func() { errc <- l.Send(ctx, sinktest.BuildBatch(t, "m", 5)) }()
			cancel()
			if err := <-errc; !errors.Is(err, context.Canceled) {
				t.Fatalf("Send: %v, want context.Canceled", err)
			}
			if calls.Load() != 0 {
				t.Errorf("the batch was sent although the wait was cancelled")
			}
		})
	}
	t.Run("deadline too near", func(t *testing.T) {
		l := NewRateLimiter(sinktest.SendFunc(func(context.Context, *sink.Batch) error { return nil }), glacial, 0)
		l.requests.Allow()
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		if err := l.Send(ctx, sinktest.BuildBatch(t, "m", 1)); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Send: %v, want context.DeadlineExceeded", err)
		}
	})
}

func TestNewLimiter(t *testing.T) {
	for _, tc := range []struct {
		name      string
		perSecond float64
		minBurst  int
		wantNil   bool
		wantBurst int
	}{
		{"zero", 0, 1, true, 0},
		{"negative", -5, 1, true, 0},
		{"NaN", math.NaN(), 1, true, 0},
		{"infinite", math.Inf(1), 1, true, 0},
		{"fraction", 0.5, 1, false, 1},
		{"requests", 50, 1, false, 50},
		{"below the least burst", 1000, 2500, false, 2500},
		{"above the least burst", 10000.5, 2500, false, 10001},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLimiter(tc.perSecond, tc.minBurst)
			if (l == nil) != tc.wantNil {
				t.Fatalf("newLimiter(%g) = %v, want nil %t", tc.perSecond, l, tc.wantNil)
			}
			if l != nil && l.Burst() != tc.wantBurst {
				t.Errorf("burst %d, want %d", l.Burst(), tc.wantBurst)
			}
		})
	}
}

// TestNewEventsLimiter: an events limit holds one full batch, whatever
// the rate.
func TestNewEventsLimiter(t *testing.T) {
	for _, perSecond := range []float64{0.5, 1000, 20000, 1e7} {
		if got := newEventsLimiter(perSecond).Burst(); got != sink.DefaultMaxMessages {
			t.Errorf("newEventsLimiter(%g): burst %d, want %d", perSecond, got, sink.DefaultMaxMessages)
		}
	}
	for _, perSecond := range []float64{0, -1, math.NaN(), math.Inf(1)} {
		if l := newEventsLimiter(perSecond); l != nil {
			t.Errorf("newEventsLimiter(%g) = %v, want nil: no limit", perSecond, l)
		}
	}
}

// TestAdaptiveRateSpacesRequests: after 429s the limiter waits between
// requests at the lowered rate, on its clock: a stretch of 429s slows the
// sender down and never lets it spin.
func TestAdaptiveRateSpacesRequests(t *testing.T) {
	clk := sinktest.NewClock()
	var calls atomic.Int32
	next := sinktest.SendFunc(func(context.Context, *sink.Batch) error {
		if calls.Add(1) <= 30 {
			return &StatusError{Status: 429}
		}
		return nil
	})
	stats := new(Stats)
	l := NewAdaptiveRateLimiter(next, 8, 0, AdaptiveRate{}, stats)
	l.setClock(clk)
	b := sinktest.BuildBatch(t, "m", 1)
	var start time.Time
	for i := range 30 {
		if i == 20 {
			if got := l.Rate(); got != 1 {
				t.Fatalf("rate after 20 429s: %g, want the floor, 1", got)
			}
			start = clk.Now()
		}
		if err := l.Send(context.Background(), b); err == nil {
			t.Fatal("a 429 passed as a success")
		}
	}
	// At 1 request a second, ten requests take nine seconds or more.
	if got := clk.Now().Sub(start); got < 9*time.Second {
		t.Errorf("10 requests at 1/s took %s of the limiter's clock", got)
	}
	for range 5 {
		if err := l.Send(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	if got := l.Rate(); got <= 1 {
		t.Errorf("rate %g after 5 successes a second or more apart, want it climbing", got)
	}
	for i, d := range clk.Sleeps() {
		if d <= 0 {
			t.Errorf("wait %d is %s", i, d)
		}
	}
}

// TestThrottledStretch: a long stretch of 429s without
// Retry-After through the whole chain slows the sink down, delivers every batch, and waits before every retry.
func TestThrottledStretch(t *testing.T) {
	clk := sinktest.NewClock()
	var stats atomic.Pointer[Stats]
	var minRate atomic.Uint64
	minRate.Store(math.Float64bits(math.Inf(1)))
	f := sinktest.NewServer(t, clk.Now, func(r *sinktest.Request) sinktest.Reply {
		if s := stats.Load(); s != nil {
			cur := s.CurrentRate()
			for {
				old := minRate.Load()
				if cur >= math.Float64frombits(old) || minRate.CompareAndSwap(old, math.Float64bits(cur)) {
					break
				}
			}
		}
		if r.N < 60 {
			return sinktest.Reply{Status: 429, Body: "slow down"}
		}
		return sinktest.OK
	})
	// The fake clock moves ahead by every sender's waits in turn, so eight
	// senders spend its time eight times as fast as real ones would; the
	// script of 60 429s, not a time limit, bounds the retries here.
	snk, st, err := New(Config{WriteKey: sinktest.WriteKey, Endpoint: f.URL(), Clock: clk, Rate: 20, MaxRetryTime: -1})
	if err != nil {
		t.Fatal(err)
	}
	stats.Store(st)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			errs <- snk.Send(context.Background(), sinktest.BuildBatch(t, fmt.Sprintf("b%d", i), 3))
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Send: %v", err)
		}
	}
	delivered := f.Delivered()
	for i := range 8 {
		for j := range 3 {
			if id := fmt.Sprintf("b%d-%d", i, j); delivered[id] != 1 {
				t.Errorf("%s delivered %d times, want 1", id, delivered[id])
			}
		}
	}
	got := st.Snapshot()
	if got.Throttled != 60 || got.Retries != 60 || got.Batches != 8 {
		t.Errorf("stats %+v, want 60 throttled, 60 retries, 8 batches", got)
	}
	// Every answer is a 429: each round trip halves the rate (the deepest
	// cut), at least three times over the 60.
	if low := math.Float64frombits(minRate.Load()); low > 20.0/8 {
		t.Errorf("the rate went down to %g, want an eighth of 20 or less", low)
	}
	if n := len(clk.Sleeps()); n < 60 {
		t.Errorf("%d waits for 60 retries", n)
	}
}
