package segment

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
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
	adapt   *adaptiveRate // nil: a fixed request rate
	clock   Clock
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
	// Step is how much the rate climbs back, in requests per second, after
	// each second with successes and no 429. Default: a fiftieth of the
	// ceiling, at least 1.
	Step float64
}

// NewAdaptiveRateLimiter returns a RateLimiter like NewRateLimiter's whose
// request rate adapts to the 429 Too Many Requests responses of next, by
// additive increase and multiplicative decrease:
//
//   - A 429 halves the request rate, down to a.MinRate. A 429 that answers a
//     request sent before the last decrease does not decrease it again, so
//     that the requests in flight when the rate fell, which all meet the
//     same throttle, halve it once, not once each.
//   - After a decrease, the rate climbs by a.Step at most once a second, on
//     a success that comes at least a second after the last change, up to
//     requestsPerSecond, the ceiling. A pause without requests (such as a
//     Retry-After) does not count as a second of success.
//   - With no ceiling (requestsPerSecond zero, negative, NaN or infinite)
//     there is no limit until the first 429, which sets the limit to half
//     the request rate observed over the last second or two (counted from
//     the requests sent). The rate then climbs back to that observed rate,
//     where the limit is lifted again.
//
// Waits, Retry-After pauses included, are left to the Retrier: the
// RateLimiter only spaces requests. stats, which may be nil, show the rate
// in force (Stats.CurrentRate).
func NewAdaptiveRateLimiter(next sink.Sink, requestsPerSecond, eventsPerSecond float64, a AdaptiveRate, stats *Stats) *RateLimiter {
	l := NewRateLimiter(next, requestsPerSecond, eventsPerSecond)
	if stats == nil {
		stats = new(Stats)
	}
	ad := &adaptiveRate{stats: stats}
	if l.requests != nil {
		ad.ceiling = float64(l.requests.Limit())
		ad.limit = ad.ceiling
	} else {
		// Unused until a 429 sets a limit; see limited.
		l.requests = rate.NewLimiter(1, 1)
	}
	ad.lim = l.requests
	ad.floor = a.MinRate
	if !(ad.floor > 0) || math.IsInf(ad.floor, 1) {
		ad.floor = DefaultMinRate
	}
	if ad.ceiling > 0 {
		ad.floor = min(ad.floor, ad.ceiling)
	}
	if a.Step > 0 && !math.IsInf(a.Step, 1) {
		ad.step = a.Step
	}
	stats.setCurrentRate(ad.limit)
	l.adapt = ad
	return l
}

// setClock makes the limiter read the time and wait on c.
func (l *RateLimiter) setClock(c Clock) { l.clock = c }

// Rate returns the request rate in force, in requests per second; zero
// means no limit.
func (l *RateLimiter) Rate() float64 {
	if l.adapt != nil {
		l.adapt.mu.Lock()
		defer l.adapt.mu.Unlock()
		return l.adapt.limit
	}
	if l.requests == nil {
		return 0
	}
	return float64(l.requests.Limit())
}

func newLimiter(perSecond float64, minBurst int) *rate.Limiter {
	if !(perSecond > 0) || math.IsInf(perSecond, 1) {
		return nil
	}
	return rate.NewLimiter(rate.Limit(perSecond), burstFor(perSecond, minBurst))
}

// newEventsLimiter returns the limiter of an events rate, nil for no
// limit: its burst is one full batch, so that any batch can pass in one
// wait and no more than that passes at once after a pause.
func newEventsLimiter(perSecond float64) *rate.Limiter {
	if !(perSecond > 0) || math.IsInf(perSecond, 1) {
		return nil
	}
	return rate.NewLimiter(rate.Limit(perSecond), sink.DefaultMaxMessages)
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
	if l.requests != nil && (l.adapt == nil || l.adapt.limited()) {
		if err := l.wait(ctx, l.requests, 1); err != nil {
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
	err := l.next.Send(ctx, b)
	l.adapt.answered(l.clock.Now(), gen, err)
	return err
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

// adaptiveRate is the state of an adaptive request rate.
type adaptiveRate struct {
	mu      sync.Mutex
	lim     *rate.Limiter
	stats   *Stats
	ceiling float64 // the configured rate; 0: none
	floor   float64
	step    float64 // 0: a fiftieth of the ceiling, at least 1
	limit   float64 // the rate in force; 0: none
	learned float64 // with no ceiling: the rate observed at the first 429
	gen     uint64  // counts decreases
	changed time.Time

	// Requests sent while there is no limit, counted in windows of a
	// second, to observe the request rate.
	winStart            time.Time
	winCount, prevCount int
}

// limited reports whether a request limit is in force.
func (a *adaptiveRate) limited() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.limit > 0
}

// sent records a request about to be sent at now and returns the number of
// decreases so far.
func (a *adaptiveRate) sent(now time.Time) uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.limit == 0 {
		switch el := now.Sub(a.winStart); {
		case a.winStart.IsZero() || el >= 2*time.Second || el < 0:
			a.winStart, a.winCount, a.prevCount = now, 0, 0
		case el >= time.Second:
			a.winStart, a.winCount, a.prevCount = a.winStart.Add(time.Second), 0, a.winCount
		}
		a.winCount++
	}
	return a.gen
}

// observed returns the request rate over the current and the previous
// window, over at least a second.
func (a *adaptiveRate) observed(now time.Time) float64 {
	span := now.Sub(a.winStart) + time.Second
	return float64(a.winCount+a.prevCount) / span.Seconds()
}

// answered adjusts the rate to the outcome of a request sent when gen
// decreases had been made.
func (a *adaptiveRate) answered(now time.Time, gen uint64, err error) {
	var se *StatusError
	throttled := err != nil && errors.As(err, &se) && se.Status == http.StatusTooManyRequests
	if err != nil && !throttled {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if throttled {
		if gen != a.gen {
			return // sent before the last decrease: the rate fell already
		}
		if a.limit == 0 {
			a.learned = max(a.observed(now), 2*a.floor)
			a.limit = a.learned
		}
		a.limit = max(a.floor, a.limit/2)
		a.gen++
		a.changed = now
		a.apply(now)
		return
	}
	top := a.ceiling
	if top == 0 {
		top = a.learned
	}
	if a.limit == 0 || a.limit >= top || now.Sub(a.changed) < time.Second {
		return
	}
	step := a.step
	if step == 0 {
		step = max(top/50, 1)
	}
	a.limit = min(top, a.limit+step)
	a.changed = now
	if a.ceiling == 0 && a.limit >= top {
		a.limit, a.learned = 0, 0
		a.winStart = time.Time{}
	}
	a.apply(now)
}

// apply sets the limiter to the rate in force. With no limit in force the
// limiter is left as it is, unused.
func (a *adaptiveRate) apply(now time.Time) {
	if a.limit > 0 {
		a.lim.SetLimitAt(now, rate.Limit(a.limit))
		a.lim.SetBurstAt(now, burstFor(a.limit, 1))
	}
	a.stats.setCurrentRate(a.limit)
}
