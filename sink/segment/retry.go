package segment

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/backfillhq/backfill/internal/retry"
	"github.com/backfillhq/backfill/sink"
)

// RetryPolicy says how often and how patiently a Retrier tries a batch
// again; reads from object storage follow the same policy. A zero field
// means its default. Its fields:
//
//   - MaxRetries is how many times a batch is tried again after its first
//     attempt. Negative: no retries. Default: 1,000 (DefaultMaxRetries).
//   - MaxRetryTime is how long one batch may go on failing, from its
//     first failed attempt, before the Retrier gives up on it. Back-off
//     waits are shortened so that the last attempt comes at this limit; a
//     Retry-After pause that would end beyond it makes the Retrier give up
//     at once. Negative: no time limit. Default: 10 minutes
//     (DefaultMaxRetryTime).
//   - MinBackoff is the back-off before the first retry; it doubles with
//     every further retry. Default: 100ms (DefaultMinBackoff).
//   - MaxBackoff caps the back-off (raised to MinBackoff if below it). It
//     does not cap a server's Retry-After. Default: 30s
//     (DefaultMaxBackoff).
//
// The Retrier gives up on a batch at whichever limit comes first: the count
// of retries or the time the batch has been failing. The default count is
// high enough that MaxRetryTime governs: with the default back-off, 1,000
// retries take about eight hours.
type RetryPolicy retry.Policy

func (p RetryPolicy) withDefaults() RetryPolicy { return RetryPolicy(retry.Policy(p).WithDefaults()) }

// RetryError is the error of a Retrier that gave up on a batch: every
// attempt failed in a way that might have passed, until MaxRetries or
// MaxRetryTime ran out. The batch is not known to be delivered; sending it
// again is safe, since its messages keep their messageIds.
type RetryError struct {
	// Attempts is the number of attempts made, the first included.
	Attempts int
	// Failing is the time from the first failed attempt to the last, on
	// the Retrier's clock.
	Failing time.Duration
	// TimeLimit tells that MaxRetryTime ran out, rather than MaxRetries.
	TimeLimit bool
	// RetryAfter is set when the server asked, with Retry-After, for a
	// pause that would end past MaxRetryTime.
	RetryAfter time.Duration
	// Err is the error of the last attempt.
	Err error
}

// Error says how many attempts failed and the last cause.
func (e *RetryError) Error() string {
	if e.RetryAfter > 0 {
		return fmt.Sprintf("batch not delivered: the server asks for a pause of %s, which ends past the max retry time (failing for %s); %s failed, the last: %v",
			e.RetryAfter, e.Failing.Round(time.Millisecond), attempts(e.Attempts), e.Err)
	}
	if e.TimeLimit {
		return fmt.Sprintf("batch not delivered: still failing after %s, the max retry time; %s failed, the last: %v",
			e.Failing.Round(time.Millisecond), attempts(e.Attempts), e.Err)
	}
	return fmt.Sprintf("batch not delivered: %s failed in %s, the last: %v",
		attempts(e.Attempts), e.Failing.Round(time.Millisecond), e.Err)
}

// Unwrap returns the last cause, Err.
func (e *RetryError) Unwrap() error { return e.Err }

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
// Before any Send of the Retrier has succeeded, a batch whose every attempt
// was refused (connection refused) for DefaultRefusedTime fails with an
// *UnreachableError: an endpoint that never answered is most likely the
// wrong one. After a success, refusals are retried like any network error.
// The cause of each failed attempt is kept for Stats.LastError.
//
// Other errors are returned at once, as they are. When the retries or the
// retry time are used up (see RetryPolicy), Send returns a *RetryError that
// wraps the last attempt's error; the batch is then not known to be
// delivered. Send blocks until the batch is delivered, fails for good, or ctx
// ends (the error then wraps ctx.Err()). Every retry waits: there is no
// busy loop, whatever the server answers. Safe for concurrent use.
type Retrier struct {
	next   sink.Sink
	policy RetryPolicy // with its defaults
	stats  *Stats

	mu          sync.Mutex
	pausedUntil time.Time

	// succeeded is set by the first Send that succeeds; until then, a
	// batch whose every attempt was refused for DefaultRefusedTime fails
	// with an *UnreachableError.
	succeeded atomic.Bool

	log *slog.Logger // of each retry, at Debug level; nil: none

	// Seams for tests: the clock, the wait, and the jitter, which returns a
	// duration in [0, d].
	now    func() time.Time
	sleep  func(ctx context.Context, d time.Duration) error
	jitter func(d time.Duration) time.Duration
}

var _ sink.Sink = (*Retrier)(nil)

// NewRetrier returns a Retrier sending through next with policy p. It counts
// retries into stats, which may be nil.
func NewRetrier(next sink.Sink, p RetryPolicy, stats *Stats) *Retrier {
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
func (r *Retrier) Send(ctx context.Context, b *sink.Batch) error {
	var last error
	tries := retry.Start(retry.Policy(r.policy), r.jitter)
	for attempt := 1; ; attempt++ {
		if err := r.waitPause(ctx); err != nil {
			return interrupted(err, attempt-1, last)
		}
		if attempt > 1 {
			r.stats.Retries.Add(1)
		}
		err := r.next.Send(ctx, b)
		if err == nil {
			r.succeeded.Store(true)
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
		r.stats.setLastError(shortCause(err))
		now := r.now()
		wait, limit := tries.Failed(now, err, r.succeeded.Load())
		if limit == retry.Refused {
			return &UnreachableError{
				Endpoint: endpointOf(err),
				Cause:    fmt.Sprintf("connection refused on every attempt for %s", tries.Failing(now).Round(time.Second)),
				Err:      err,
			}
		}
		last = err
		giveUp := func(timeLimit bool) *RetryError {
			return &RetryError{Attempts: attempt, Failing: tries.Failing(now), TimeLimit: timeLimit, Err: err}
		}
		var se *StatusError
		var pauseEnd time.Time
		if errors.As(err, &se) && se.RetryAfter > 0 {
			pauseEnd = now.Add(se.RetryAfter)
			r.pause(pauseEnd)
		}
		switch limit {
		case retry.Count:
			return giveUp(false)
		case retry.Time:
			return giveUp(true)
		}
		if !pauseEnd.IsZero() {
			if deadline, ok := tries.Deadline(); ok && pauseEnd.After(deadline) {
				re := giveUp(true)
				re.RetryAfter = se.RetryAfter
				return re
			}
			wait = se.RetryAfter
		}
		if r.log != nil {
			r.log.Debug("sink: retrying a batch", "messages", b.Len(), "attempt", attempt+1, "after", wait, "err", err)
		}
		if !pauseEnd.IsZero() {
			continue // the pause is the wait
		}
		if err := r.sleep(ctx, wait); err != nil {
			return interrupted(err, attempt, last)
		}
	}
}

// endpointOf returns the endpoint a network error came from, or "the
// endpoint" when the sender did not say.
func endpointOf(err error) string {
	var ne *networkError
	if errors.As(err, &ne) && ne.endpoint != "" {
		return ne.endpoint
	}
	return "the endpoint"
}

// setClock makes the Retrier read the time and wait on c.
func (r *Retrier) setClock(c Clock) {
	r.now = c.Now
	r.sleep = c.Sleep
}

// pause makes every Send wait until t, unless a pause already lasts longer.
// The time added to the pauses counts into Stats.Paused.
func (r *Retrier) pause(t time.Time) {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if t.After(r.pausedUntil) {
		from := r.pausedUntil
		if now.After(from) {
			from = now
		}
		r.stats.Paused.Add(int64(t.Sub(from)))
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
	return retry.Jittered(retry.Policy(r.policy).Backoff(k), r.jitter)
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
