package sink

import (
	"context"
	"errors"
	"math"
	"sync/atomic"
	"testing"
	"time"

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
			b := buildBatch(t, "m", 7)
			var calls atomic.Int32
			next := sendFunc(func(ctx context.Context, got *Batch) error {
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
// token per message.
func TestRateLimiterCounts(t *testing.T) {
	l := NewRateLimiter(sendFunc(func(context.Context, *Batch) error { return nil }), glacial, glacial)
	if got := l.events.Burst(); got != DefaultMaxMessages {
		t.Fatalf("events burst %d, want %d so a full batch passes", got, DefaultMaxMessages)
	}
	if err := l.Send(context.Background(), buildBatch(t, "m", 100)); err != nil {
		t.Fatal(err)
	}
	if got := l.events.Tokens(); got < DefaultMaxMessages-100 || got > DefaultMaxMessages-99 {
		t.Errorf("%.3f event tokens left, want %d", got, DefaultMaxMessages-100)
	}
	if got := l.requests.Tokens(); got < 0 || got > 0.5 {
		t.Errorf("%.3f request tokens left, want 0", got)
	}
}

func TestRateLimiterLargeBatchInSteps(t *testing.T) {
	l := NewRateLimiter(sendFunc(func(context.Context, *Batch) error { return nil }), 0, 0)
	l.events = rate.NewLimiter(rate.Limit(1e9), 2)
	if err := l.Send(context.Background(), buildBatch(t, "m", 5)); err != nil {
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
		{"waiting for events", 0, glacial, func(l *RateLimiter) { l.events.AllowN(time.Now(), DefaultMaxMessages-2) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			l := NewRateLimiter(sendFunc(func(context.Context, *Batch) error {
				calls.Add(1)
				return nil
			}), tc.reqRate, tc.evRate)
			tc.drain(l)
			ctx, cancel := context.WithCancel(context.Background())
			errc := make(chan error, 1)
			go func() { errc <- l.Send(ctx, buildBatch(t, "m", 5)) }()
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
		l := NewRateLimiter(sendFunc(func(context.Context, *Batch) error { return nil }), glacial, 0)
		l.requests.Allow()
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		if err := l.Send(ctx, buildBatch(t, "m", 1)); !errors.Is(err, context.DeadlineExceeded) {
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
		{"events below a batch", 1000, DefaultMaxMessages, false, DefaultMaxMessages},
		{"events above a batch", 10000.5, DefaultMaxMessages, false, 10001},
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
