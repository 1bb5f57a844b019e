package segment

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/backfillhq/backfill/sink"
	"golang.org/x/time/rate"
)

// RateLimiter is a Sink that sends through another one no faster than a
// number of requests per second and of messages (events) per second, both
// shared by every Send. The request limit allows a burst of one second's
// worth of requests. The event limit starts empty at the first Send and
// allows a burst of one full batch (sink.DefaultMaxMessages), whatever the
// rate: over any stretch of time the events sent stay within the rate,
// plus at most one batch after a pause. Send blocks until both limits
// allow the batch, then sends it; if ctx ends while waiting it returns an
// error wrapping ctx.Err() without sending. Safe for concurrent use.
//
// A RateLimiter made by NewAdaptiveRateLimiter also adapts its request rate
// to the 429 responses of the sink it wraps.
type RateLimiter struct {
	next     sink.Sink
	requests *rate.Limiter // nil: no limit
	events   *rate.Limiter // nil: no limit
	// emptied makes the event limit start empty, at the first Send on
	// the limiter's clock: a bucket that starts full lets a burst's
	// worth of events through at no cost, which overshoots the rate of
	// any run a few bursts long.
	emptied sync.Once
	adapt   *rateControl // nil: a fixed request rate
	// stated is stateLimit, passed down with each Send (see StateLimit);
	// made once, as a method value allocates.
	stated func(perSecond float64)
	clock  Clock
}

var _ sink.Sink = (*RateLimiter)(nil)

// NewRateLimiter returns a RateLimiter sending through next. A rate that is
// zero, negative, NaN or infinite means no limit.
func NewRateLimiter(next sink.Sink, requestsPerSecond, eventsPerSecond float64) *RateLimiter {
	return &RateLimiter{
		next:     next,
		requests: newLimiter(requestsPerSecond, 1),
		events:   newEventsLimiter(eventsPerSecond),
		clock:    systemClock{},
	}
}

// AdaptiveRate tunes how the request rate of a RateLimiter made by
// NewAdaptiveRateLimiter follows 429 responses. A zero field means its
// default.
type AdaptiveRate struct {
	// MinRate is the floor, in requests per second: 429s never slow the
	// limiter below it. Default: 1 (DefaultMinRate), or the ceiling if
	// that is lower.
	MinRate float64
}

// NewAdaptiveRateLimiter returns a RateLimiter like NewRateLimiter's whose
// request rate adapts to the answers of next: it falls on 429 Too Many
// Requests, at most once per round trip and by about as much as the server
// accepted less than was sent, climbs back, holds the limit it found, and
// probes above it now and then, never above requestsPerSecond (the
// ceiling; zero, negative, NaN or infinite: none) nor below a.MinRate. A
// limit the server states in X-RateLimit headers (see HTTPSender) caps it
// too: each Send passes the limiter down in its context, and the sender
// that reads the limit reports it with StateLimit. The controller is
// described at rateControl. Its burst is 20 ms of requests, so that a
// server counting requests over any second sees no more than the rate.
//
// Waits, Retry-After pauses included, are left to the Retrier: the
// RateLimiter only spaces requests. stats, which may be nil, show the rate
// in force (Stats.CurrentRate) and the limit found (Stats.FoundLimit).
func NewAdaptiveRateLimiter(next sink.Sink, requestsPerSecond, eventsPerSecond float64, a AdaptiveRate, stats *Stats) *RateLimiter {
	l := NewRateLimiter(next, requestsPerSecond, eventsPerSecond)
	if stats == nil {
		stats = new(Stats)
	}
	var ceiling float64
	if l.requests != nil {
		ceiling = float64(l.requests.Limit())
	}
	floor := a.MinRate
	if !(floor > 0) || math.IsInf(floor, 1) {
		floor = DefaultMinRate
	}
	if ceiling > 0 {
		floor = min(floor, ceiling)
	}
	c := newRateControl(ceiling, floor, stats)
	c.lim = l.requests
	c.apply(l.clock.Now())
	l.requests = nil // the controller's queue replaces it
	l.adapt = c
	l.stated = l.stateLimit
	return l
}

// setClock makes the limiter read the time and wait on c.
func (l *RateLimiter) setClock(c Clock) {
	l.clock = c
}

// stateLimit records a limit per second that the server stated (see
// StateLimit and rateControl). Only an adaptive limiter has it.
func (l *RateLimiter) stateLimit(perSecond float64) {
	l.adapt.stateLimit(l.clock.Now(), perSecond)
}

// Rate returns the request rate in force, in requests per second; zero
// means no limit.
func (l *RateLimiter) Rate() float64 {
	if l.adapt != nil {
		return l.adapt.current()
	}
	if l.requests == nil {
		return 0
	}
	return float64(l.requests.Limit())
}

// newLimiter returns the limiter of a request rate, nil for no limit: its
// burst is one second's worth, at least minBurst.
func newLimiter(perSecond float64, minBurst int) *rate.Limiter {
	return limiterOf(perSecond, burstFor(perSecond, minBurst))
}

// newEventsLimiter returns the limiter of an events rate, nil for no
// limit: its burst is one full batch, so that any batch can pass in one
// wait and no more than that passes at once after a pause.
func newEventsLimiter(perSecond float64) *rate.Limiter {
	return limiterOf(perSecond, sink.DefaultMaxMessages)
}

// limiterOf returns a limiter of perSecond with burst, nil for a rate
// that is no limit (not positive, or infinite).
func limiterOf(perSecond float64, burst int) *rate.Limiter {
	if !(perSecond > 0) || math.IsInf(perSecond, 1) {
		return nil
	}
	return rate.NewLimiter(rate.Limit(perSecond), burst)
}

// burstFor returns one second's worth of a rate, at least minBurst.
func burstFor(perSecond float64, minBurst int) int {
	burst := minBurst
	if b := math.Ceil(perSecond); b > float64(burst) {
		burst = int(min(b, math.MaxInt32))
	}
	return burst
}

// Send waits for one request and b.Len() events, then sends b.
func (l *RateLimiter) Send(ctx context.Context, b *sink.Batch) error {
	if l.adapt != nil || l.requests != nil {
		if err := l.waitRequest(ctx); err != nil {
			return err
		}
	}
	if l.events != nil {
		l.emptied.Do(func() { l.events.ReserveN(l.clock.Now(), l.events.Burst()) })
		// A batch larger than the burst waits in burst-sized steps.
		for n := b.Len(); n > 0; {
			step := min(n, l.events.Burst())
			if err := l.wait(ctx, l.events, step); err != nil {
				return err
			}
			n -= step
		}
	}
	if l.adapt == nil {
		return l.next.Send(ctx, b)
	}
	gen := l.adapt.sent(l.clock.Now())
	err := l.next.Send(withStatedLimits(ctx, l.stated), b)
	l.adapt.answered(l.clock.Now(), gen, err)
	return err
}

// waitRequest waits for one request token. With an adaptive rate, a
// request whose wait saw the rate fall or a Retry-After pause begin queues
// again (see rateControl.admitted).
func (l *RateLimiter) waitRequest(ctx context.Context) error {
	if l.adapt == nil {
		return l.wait(ctx, l.requests, 1)
	}
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("rate limit: %w", err)
		}
		start := l.clock.Now()
		epoch, d, paused := l.adapt.reserve(start)
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < d {
			return fmt.Errorf("rate limit: %w: the wait of %s would outlast the deadline", context.DeadlineExceeded, d)
		}
		if paused {
			if err := l.clock.Sleep(ctx, d); err != nil {
				return fmt.Errorf("rate limit: wait out a Retry-After pause: %w", err)
			}
			continue
		}
		// Wait in steps, to queue again soon if the queue starts afresh.
		at := start.Add(d)
		for {
			now := l.clock.Now()
			if !l.adapt.admitted(now, epoch) {
				break
			}
			if !now.Before(at) {
				return nil
			}
			if err := l.clock.Sleep(ctx, min(at.Sub(now), recheckEvery)); err != nil {
				return fmt.Errorf("rate limit: %w", err)
			}
		}
	}
}

// wait takes n tokens from lim, waiting on the limiter's clock until they
// are there. A wait that would outlast ctx's deadline is not started and
// reported as context.DeadlineExceeded, as it would be.
func (l *RateLimiter) wait(ctx context.Context, lim *rate.Limiter, n int) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("rate limit: %w", err)
	}
	now := l.clock.Now()
	r := lim.ReserveN(now, n)
	if !r.OK() {
		return fmt.Errorf("rate limit: %d tokens exceed the burst of %d", n, lim.Burst())
	}
	d := r.DelayFrom(now)
	if d <= 0 {
		return nil
	}
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < d {
		r.CancelAt(now)
		return fmt.Errorf("rate limit: %w: the wait of %s would outlast the deadline", context.DeadlineExceeded, d)
	}
	if err := l.clock.Sleep(ctx, d); err != nil {
		r.CancelAt(l.clock.Now())
		return fmt.Errorf("rate limit: %w", err)
	}
	return nil
}
