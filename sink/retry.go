package sink

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// RetryPolicy says how often and how patiently a Retrier tries a batch
// again. A zero field means its default.
type RetryPolicy struct {
	// MaxRetries is how many times a batch is tried again after its first
	// attempt. Negative: no retries. Default: 10.
	MaxRetries int
	// MinBackoff is the back-off before the first retry; it doubles with
	// every further retry. Default: 100ms.
	MinBackoff time.Duration
	// MaxBackoff caps the back-off. It does not cap a server's Retry-After.
	// Default: 30s.
	MaxBackoff time.Duration
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	switch {
	case p.MaxRetries == 0:
		p.MaxRetries = DefaultMaxRetries
	case p.MaxRetries < 0:
		p.MaxRetries = 0
	}
	if p.MinBackoff <= 0 {
		p.MinBackoff = DefaultMinBackoff
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = DefaultMaxBackoff
	}
	if p.MaxBackoff < p.MinBackoff {
		p.MaxBackoff = p.MinBackoff
	}
	return p
}

// Retrier is a Sink that sends through another one and tries a batch again
// when an attempt fails in a way that may pass: a 408, a 429, a 5xx other
// than 501 and 505, or a network error. It waits between attempts with
// exponential back-off and jitter: before retry k, a random time between half
// and all of MinBackoff·2^(k-1), capped at MaxBackoff.
//
// A retryable response with a Retry-After pauses every Send of the Retrier,
// not only the one that got it: no attempt starts before the pause ends. A
// success elsewhere does not end a pause early, and a later Retry-After only
// ever extends it.
//
// Other errors are returned at once, as they are. When the retries are used
// up, Send returns an error that says how many attempts failed and wraps the
// last one; the batch is then not known to be delivered. Send blocks until
// the batch is delivered, fails for good, or ctx ends (the error then wraps
// ctx.Err()). Safe for concurrent use.
type Retrier struct {
	next   Sink
	policy RetryPolicy
	stats  *Stats

	mu          sync.Mutex
	pausedUntil time.Time

	// Seams for tests: the clock, the wait, and the jitter, which returns a
	// duration in [0, d].
	now    func() time.Time
	sleep  func(ctx context.Context, d time.Duration) error
	jitter func(d time.Duration) time.Duration
}

var _ Sink = (*Retrier)(nil)

// NewRetrier returns a Retrier sending through next with policy p. It counts
// retries into stats, which may be nil.
func NewRetrier(next Sink, p RetryPolicy, stats *Stats) *Retrier {
	if stats == nil {
		stats = new(Stats)
	}
	return &Retrier{
		next:   next,
		policy: p.withDefaults(),
		stats:  stats,
		now:    time.Now,
		sleep:  sleepContext,
		jitter: uniformJitter,
	}
}

// Send sends b through the wrapped sink, retrying as the Retrier's doc
// describes.
func (r *Retrier) Send(ctx context.Context, b *Batch) error {
	var last error
	for attempt := 1; ; attempt++ {
		if err := r.waitPause(ctx); err != nil {
			return interrupted(err, attempt-1, last)
		}
		if attempt > 1 {
			r.stats.Retries.Add(1)
		}
		err := r.next.Send(ctx, b)
		if err == nil {
			return nil
		}
		if cerr := ctx.Err(); cerr != nil {
			if errors.Is(err, cerr) {
				return err
			}
			return fmt.Errorf("%w: %w", cerr, err)
		}
		if !retryable(err) {
			return err
		}
		last = err
		var se *StatusError
		throttled := errors.As(err, &se) && se.RetryAfter > 0
		if throttled {
			r.pause(r.now().Add(se.RetryAfter))
		}
		if attempt > r.policy.MaxRetries {
			return fmt.Errorf("batch not delivered: %s failed, the last: %w", attempts(attempt), err)
		}
		if throttled {
			continue // the pause is the wait
		}
		if err := r.sleep(ctx, r.backoff(attempt)); err != nil {
			return interrupted(err, attempt, last)
		}
	}
}

// pause makes every Send wait until t, unless a pause already lasts longer.
func (r *Retrier) pause(t time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t.After(r.pausedUntil) {
		r.pausedUntil = t
	}
}

// waitPause blocks until no pause is in force or ctx ends. It looks again
// after each wait, since another Send may have extended the pause.
func (r *Retrier) waitPause(ctx context.Context) error {
	for {
		r.mu.Lock()
		until := r.pausedUntil
		r.mu.Unlock()
		d := until.Sub(r.now())
		if d <= 0 {
			return ctx.Err()
		}
		if err := r.sleep(ctx, d); err != nil {
			return fmt.Errorf("wait out a Retry-After pause: %w", err)
		}
	}
}

// backoff returns the wait before retry k (k ≥ 1).
func (r *Retrier) backoff(k int) time.Duration {
	d := r.policy.MinBackoff
	for i := 1; i < k && d < r.policy.MaxBackoff; i++ {
		if d > r.policy.MaxBackoff/2 {
			d = r.policy.MaxBackoff
			break
		}
		d *= 2
	}
	d = min(d, r.policy.MaxBackoff)
	half := d / 2
	return half + r.jitter(d-half)
}

// interrupted is the error of a Send whose context ended while it waited.
func interrupted(err error, failed int, last error) error {
	if last == nil {
		return err
	}
	return fmt.Errorf("%w (after %s failed, the last: %v)", err, attempts(failed), last)
}

func attempts(n int) string {
	if n == 1 {
		return "1 attempt"
	}
	return fmt.Sprintf("%d attempts", n)
}

// sleepContext waits for d or until ctx ends, whichever is first.
func sleepContext(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// uniformJitter returns a random duration in [0, d].
func uniformJitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(d) + 1))
}
