package segment

import (
	"context"
	"time"
)

// Clock is where a sink reads the time and waits. The back-off between
// attempts, Retry-After pauses, rate-limit waits, MaxRetryTime, the
// adaptive rate's recovery and the sentAt of each request all go by it.
// RequestTimeout does not: it bounds real I/O and always runs on the system
// clock. Implementations must be safe for concurrent use.
//
// Tests inject a Clock whose Sleep moves its time ahead at once, so that
// hours of retries take milliseconds.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// Sleep blocks for d or until ctx ends, whichever comes first, and
	// returns ctx.Err() if ctx ended. A d of zero or less returns at once.
	Sleep(ctx context.Context, d time.Duration) error
}

// systemClock is the Clock of the operating system.
type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) Sleep(ctx context.Context, d time.Duration) error { return sleepContext(ctx, d) }

// orSystem returns c, or the system clock if c is nil.
func orSystem(c Clock) Clock {
	if c == nil {
		return systemClock{}
	}
	return c
}
