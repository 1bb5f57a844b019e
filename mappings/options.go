package mappings

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// DefaultFutureTolerance is how far past the current time a timestamp may
// lie before the row is refused as future_timestamp: a day, which no
// clock skew reaches but a wrong unit or year does.
const DefaultFutureTolerance = 24 * time.Hour

// Options configure a Mapper. The zero value is the default of each field.
type Options struct {
	// Now returns the current time. It stamps rows without a timestamp
	// whose spec says `missing: now`, and it is where the future starts
	// for FutureTolerance and for the default end of the plausible range
	// of timestamps (see Spec); it is read once, when the Mapper is made,
	// for the latter two. Default: time.Now.
	Now func() time.Time
	// Since and Until are the time window of the run: a row whose mapped
	// timestamp is before Since, or at or after Until, is left out, its
	// Map error wrapping ErrFiltered. A zero value leaves that side open.
	Since, Until time.Time
	// FutureTolerance is how far past Now a timestamp may be: a later one
	// is refused with ReasonFutureTimestamp. Now plus FutureTolerance is
	// also where the plausible range of a timestamp ends unless its spec
	// says otherwise. Default (0): DefaultFutureTolerance; a negative
	// value turns the check off, and leaves that range open to the year
	// 9999.
	FutureTolerance time.Duration
	// IDNamespace is a salt mixed into every derived messageId (see
	// Spec's messageId), so that imports in different namespaces (a
	// trial and the real one, two sources) never share ids. A mapping
	// may name the namespace too; if both do, they must agree. Default:
	// none.
	IDNamespace string
}

// Validate reports an empty time window.
func (o Options) Validate() error {
	if !o.Since.IsZero() && !o.Until.IsZero() && !o.Until.After(o.Since) {
		return fmt.Errorf("mappings: the time window is empty: until (%s) is not after since (%s)",
			o.Until.UTC().Format(time.RFC3339Nano), o.Since.UTC().Format(time.RFC3339Nano))
	}
	return nil
}

func (o Options) now() func() time.Time {
	if o.Now != nil {
		return o.Now
	}
	return time.Now
}

// ParseTimeBound parses a bound of a time window as given on a command
// line: an RFC 3339 time with its zone ("2024-03-01T12:00:00Z",
// "2024-03-01T13:00:00+01:00", any fraction; a space may stand for the T),
// or a date ("2024-03-01"), which means midnight UTC at its start. A time
// without a zone is an error rather than a guess.
func ParseTimeBound(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, errors.New("empty time")
	}
	if len(s) == len("2006-01-02") {
		ts, err := scanISO(s, false)
		if err != nil {
			return time.Time{}, fmt.Errorf("%q: %w", s, err)
		}
		return time.Date(ts.year, time.Month(ts.month), ts.day, 0, 0, 0, 0, time.UTC), nil
	}
	ts, err := scanISO(s, true)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: want an RFC 3339 time (2024-03-01T12:00:00Z) or a date (2024-03-01): %w", s, err)
	}
	if !ts.hasZone {
		return time.Time{}, fmt.Errorf("%q has no zone: add one (Z for UTC, or an offset such as +01:00)", s)
	}
	return ts.instant(nil)
}

// window applies a run's time window and future tolerance to mapped
// timestamps. It is made once per Mapper.
type window struct {
	since, until        time.Time
	hasSince, hasUntil  bool
	future              time.Time // timestamps after it are refused
	checkFuture         bool
	tolerance           time.Duration
	errBefore, errAfter error
	futureErrNow        time.Time
}

func newWindow(o Options) window {
	w := window{since: o.Since, until: o.Until, hasSince: !o.Since.IsZero(), hasUntil: !o.Until.IsZero()}
	if w.hasSince {
		w.errBefore = fmt.Errorf("timestamp before the window's start %s: %w", o.Since.UTC().Format(time.RFC3339Nano), ErrFiltered)
	}
	if w.hasUntil {
		w.errAfter = fmt.Errorf("timestamp at or after the window's end %s: %w", o.Until.UTC().Format(time.RFC3339Nano), ErrFiltered)
	}
	tol := o.FutureTolerance
	if tol == 0 {
		tol = DefaultFutureTolerance
	}
	if tol > 0 {
		now := o.now()()
		w.checkFuture, w.tolerance, w.futureErrNow = true, tol, now
		w.future = now.Add(tol)
	}
	return w
}

// filter returns an error wrapping ErrFiltered for a timestamp outside the
// window, else nil.
func (w *window) filter(t time.Time) error {
	if w.hasSince && t.Before(w.since) {
		return w.errBefore
	}
	if w.hasUntil && !t.Before(w.until) {
		return w.errAfter
	}
	return nil
}

// futureError returns the cause of a future_timestamp reject for t, or nil.
func (w *window) futureError(t time.Time) error {
	if !w.checkFuture || !t.After(w.future) {
		return nil
	}
	return fmt.Errorf("%s is more than %s after the current time %s",
		t.UTC().Format(time.RFC3339Nano), w.tolerance, w.futureErrNow.UTC().Format(time.RFC3339))
}
