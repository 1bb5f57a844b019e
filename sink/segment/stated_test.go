package segment

import (
	"context"
	"net/http"
	"testing"

	"github.com/backfillhq/backfill/internal/sinktest"
	"github.com/backfillhq/backfill/sink"
)

// statingLimit answers every request with a success that states a limit
// of 20 requests per second.
func statingLimit(*sinktest.Request) sinktest.Reply {
	return sinktest.Reply{Status: http.StatusOK, Body: `{"success":true}`, Header: map[string]string{"X-RateLimit-Limit": "20"}}
}

// TestAWrappedSenderStillDeliversTheStatedLimit: the limit a response
// states reaches the adaptive RateLimiter whatever sinks stand between it
// and the HTTPSender, as long as they pass the context on; and a sender
// of another kind reports one with StateLimit.
func TestAWrappedSenderStillDeliversTheStatedLimit(t *testing.T) {
	srv := sinktest.NewServer(t, nil, statingLimit)
	hs, _ := newTestSender(t, srv, nil, nil)
	var wrapped int
	wrapper := sinktest.SendFunc(func(ctx context.Context, b *sink.Batch) error {
		wrapped++
		return hs.Send(ctx, b)
	})
	injected := sinktest.SendFunc(func(ctx context.Context, b *sink.Batch) error {
		StateLimit(ctx, 7)
		return nil
	})
	for _, tc := range []struct {
		name  string
		next  sink.Sink
		limit float64
	}{
		{"the HTTP sender, wrapped", wrapper, 20},
		{"the HTTP sender, wrapped twice", NewRetrier(wrapper, RetryPolicy{}, nil), 20},
		{"a fault injector", injected, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stats := new(Stats)
			l := NewAdaptiveRateLimiter(tc.next, 50, 0, AdaptiveRate{}, stats)
			if err := l.Send(context.Background(), sinktest.BuildBatch(t, "m", 1)); err != nil {
				t.Fatal(err)
			}
			if got := stats.FoundLimit(); got != tc.limit {
				t.Errorf("found limit %g, want the stated %g", got, tc.limit)
			}
			if got := l.Rate(); got != tc.limit*headroom {
				t.Errorf("rate %g, want %g under the stated limit", got, tc.limit*headroom)
			}
		})
	}
	if wrapped != 2 {
		t.Errorf("the wrapper sent %d batches, want 2", wrapped)
	}
}

// TestStateLimitWithoutALimiter: a limit stated with a context that came
// through no adaptive RateLimiter, or one that is no limit, is ignored.
func TestStateLimitWithoutALimiter(t *testing.T) {
	StateLimit(context.Background(), 20)
	stats := new(Stats)
	l := NewAdaptiveRateLimiter(sinktest.SendFunc(func(ctx context.Context, b *sink.Batch) error {
		StateLimit(ctx, 0)
		StateLimit(ctx, -1)
		return nil
	}), 50, 0, AdaptiveRate{}, stats)
	if err := l.Send(context.Background(), sinktest.BuildBatch(t, "m", 1)); err != nil {
		t.Fatal(err)
	}
	if got := stats.FoundLimit(); got != 0 {
		t.Errorf("found limit %g, want none", got)
	}
}
