package sink

import (
	"context"
	"fmt"
	"math"

	"golang.org/x/time/rate"
)

// RateLimiter is a Sink that sends through another one no faster than a
// number of requests per second and of messages (events) per second, both
// shared by every Send. The request limit allows a burst of one second's
// worth of requests; the event limit allows a burst of at least one full
// batch (DefaultMaxMessages), so that any batch can pass. Send blocks until
// both limits allow the batch, then sends it; if ctx ends while waiting it
// returns an error wrapping ctx.Err() without sending. Safe for concurrent
// use.
type RateLimiter struct {
	next     Sink
	requests *rate.Limiter // nil: no limit
	events   *rate.Limiter // nil: no limit
}

var _ Sink = (*RateLimiter)(nil)

// NewRateLimiter returns a RateLimiter sending through next. A rate that is
// zero, negative, NaN or infinite means no limit.
func NewRateLimiter(next Sink, requestsPerSecond, eventsPerSecond float64) *RateLimiter {
	return &RateLimiter{
		next:     next,
		requests: newLimiter(requestsPerSecond, 1),
		events:   newLimiter(eventsPerSecond, DefaultMaxMessages),
	}
}

func newLimiter(perSecond float64, minBurst int) *rate.Limiter {
	if !(perSecond > 0) || math.IsInf(perSecond, 1) {
		return nil
	}
	burst := minBurst
	if b := math.Ceil(perSecond); b > float64(burst) {
		burst = int(min(b, math.MaxInt32))
	}
	return rate.NewLimiter(rate.Limit(perSecond), burst)
}

// Send waits for one request and b.Len() events, then sends b.
func (l *RateLimiter) Send(ctx context.Context, b *Batch) error {
	if l.requests != nil {
		if err := l.requests.Wait(ctx); err != nil {
			return rateWaitError(ctx, err)
		}
	}
	if l.events != nil {
		// A batch larger than the burst waits in burst-sized steps.
		for n := b.Len(); n > 0; {
			step := min(n, l.events.Burst())
			if err := l.events.WaitN(ctx, step); err != nil {
				return rateWaitError(ctx, err)
			}
			n -= step
		}
	}
	return l.next.Send(ctx, b)
}

// rateWaitError wraps an error of rate.Limiter. A wait that would outlast
// ctx's deadline is reported as context.DeadlineExceeded, as it would be.
func rateWaitError(ctx context.Context, err error) error {
	if ctx.Err() == nil {
		if _, ok := ctx.Deadline(); ok {
			return fmt.Errorf("rate limit: %w: %v", context.DeadlineExceeded, err)
		}
	}
	return fmt.Errorf("rate limit: %w", err)
}
