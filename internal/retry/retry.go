// Package retry holds the rule that every request tried again follows,
// HTTP sends of batches and requests to object storage alike: an attempt
// that failed in a way that might pass is tried again after an
// exponential back-off, until a count of retries or a time of failing
// runs out; and, before any request has reached the endpoint, a request
// whose every attempt was refused is given up after RefusedTime. The
// loops that wait and the errors that word each limit stay with their
// callers.
package retry

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"
)

// Defaults of Policy, and the time a request may be refused.
const (
	// DefaultMaxRetries is high enough that DefaultMaxRetryTime, not the
	// count, decides when a request that keeps failing is given up.
	DefaultMaxRetries = 1000
	// DefaultMaxRetryTime is how long a request may go on failing.
	DefaultMaxRetryTime = 10 * time.Minute
	// DefaultMinBackoff is the wait before the first retry.
	DefaultMinBackoff = 100 * time.Millisecond
	// DefaultMaxBackoff caps the exponential back-off.
	DefaultMaxBackoff = 30 * time.Second
	// RefusedTime is how long every attempt may be refused (connection
	// refused) before any request to the endpoint has succeeded, before
	// the request is given up: an endpoint that never answered is most
	// likely named wrong. Once a request has succeeded, refusals are
	// retried like any network error.
	RefusedTime = 30 * time.Second
)

// Policy says how often and how patiently a request is tried again. A
// zero field means its default.
//
// A request is given up at whichever limit comes first: the count of
// retries or the time it has been failing. The default count is high
// enough that MaxRetryTime governs: with the default back-off, 1,000
// retries take about eight hours.
type Policy struct {
	// MaxRetries is how many times a request is tried again after its
	// first attempt. Negative: no retries. Default: 1,000.
	MaxRetries int
	// MaxRetryTime is how long a request may go on failing, from its
	// first failed attempt, before it is given up. Back-off waits are
	// shortened so that the last attempt comes at this limit. Negative:
	// no time limit. Default: 10 minutes.
	MaxRetryTime time.Duration
	// MinBackoff is the back-off before the first retry; it doubles with
	// every further retry. Default: 100ms.
	MinBackoff time.Duration
	// MaxBackoff caps the back-off (raised to MinBackoff if below it).
	// Default: 30s.
	MaxBackoff time.Duration
}

// WithDefaults returns p with its zero fields set to their defaults, a
// negative MaxRetries to 0 and a negative MaxRetryTime to -1.
func (p Policy) WithDefaults() Policy {
	switch {
	case p.MaxRetries == 0:
		p.MaxRetries = DefaultMaxRetries
	case p.MaxRetries < 0:
		p.MaxRetries = 0
	}
	switch {
	case p.MaxRetryTime == 0:
		p.MaxRetryTime = DefaultMaxRetryTime
	case p.MaxRetryTime < 0:
		p.MaxRetryTime = -1
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

// Backoff returns the back-off before retry k (k ≥ 1) of p, a policy with
// its defaults: MinBackoff·2^(k-1), capped at MaxBackoff.
func (p Policy) Backoff(k int) time.Duration {
	d := p.MinBackoff
	for i := 1; i < k && d < p.MaxBackoff; i++ {
		if d > p.MaxBackoff/2 {
			d = p.MaxBackoff
			break
		}
		d *= 2
	}
	return min(d, p.MaxBackoff)
}

// Jittered returns a random time between half and all of d, jitter
// returning a random duration in [0, d]; with a nil jitter, d.
func Jittered(d time.Duration, jitter func(d time.Duration) time.Duration) time.Duration {
	if jitter == nil {
		return d
	}
	half := d / 2
	return half + jitter(d-half)
}

// Limit is what ends the retries of a request.
type Limit int

const (
	// Again: no limit is reached; the request is tried again.
	Again Limit = iota
	// Count: MaxRetries retries were made.
	Count
	// Time: the request has been failing for MaxRetryTime.
	Time
	// Refused: every attempt was refused for RefusedTime, and no request
	// to the endpoint has succeeded.
	Refused
)

// Attempts follows the failed attempts of one request. Its zero value is
// not ready: make it with Start. Not safe for concurrent use.
type Attempts struct {
	policy Policy
	// jitter returns a random duration in [0, d]; nil: none.
	jitter func(d time.Duration) time.Duration

	failed     int
	first      time.Time // of the first failed attempt
	allRefused bool      // every failed attempt was refused
}

// Start follows a request tried again as p, a policy with its defaults
// (see WithDefaults), says. The back-off before retry k is
// Jittered(p.Backoff(k), jitter).
func Start(p Policy, jitter func(d time.Duration) time.Duration) *Attempts {
	return &Attempts{policy: p, jitter: jitter, allRefused: true}
}

// Failed records an attempt that failed at now with err, an error that
// might pass; reached tells that a request to the endpoint has succeeded
// before. It returns the limit that ends the retries, or Again and the
// wait before the next attempt: the back-off, shortened so that the next
// attempt comes no later than the end of MaxRetryTime, or of RefusedTime
// while every attempt is refused.
func (a *Attempts) Failed(now time.Time, err error, reached bool) (time.Duration, Limit) {
	a.failed++
	if a.failed == 1 {
		a.first = now
	}
	a.allRefused = a.allRefused && IsRefused(err)
	var refusedEnd time.Time
	if a.allRefused && !reached {
		refusedEnd = a.first.Add(RefusedTime)
		if !now.Before(refusedEnd) {
			return 0, Refused
		}
	}
	if a.failed > a.policy.MaxRetries {
		return 0, Count
	}
	wait := Jittered(a.policy.Backoff(a.failed), a.jitter)
	if deadline, ok := a.Deadline(); ok {
		if !now.Before(deadline) {
			return 0, Time
		}
		wait = min(wait, deadline.Sub(now))
	}
	if !refusedEnd.IsZero() {
		wait = min(wait, refusedEnd.Sub(now))
	}
	return wait, Again
}

// Count returns how many attempts failed.
func (a *Attempts) Count() int { return a.failed }

// Failing returns the time from the first failed attempt to now.
func (a *Attempts) Failing(now time.Time) time.Duration { return now.Sub(a.first) }

// Deadline returns when MaxRetryTime ends, counted from the first failed
// attempt; false if there is no time limit or no attempt failed yet.
func (a *Attempts) Deadline() (time.Time, bool) {
	if a.policy.MaxRetryTime <= 0 || a.failed == 0 {
		return time.Time{}, false
	}
	return a.first.Add(a.policy.MaxRetryTime), true
}

// IsRefused reports whether err is a connection refused.
func IsRefused(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED)
}

// Unreachable returns, in a few words, why no retry can reach the
// endpoint that err came from: a host name that does not resolve (`no
// such host "api.segmnet.io"`), or a TLS certificate that is not
// trusted. It returns "" for any other error.
func Unreachable(err error) string {
	var dns *net.DNSError
	if errors.As(err, &dns) && dns.IsNotFound {
		return fmt.Sprintf("no such host %q", dns.Name)
	}
	var (
		verify   *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
	)
	switch {
	case errors.As(err, &unknown):
		return "its TLS certificate is signed by an unknown authority"
	case errors.As(err, &hostname):
		return "its TLS certificate is not valid for " + hostHint(hostname.Host)
	case errors.As(err, &invalid):
		return "its TLS certificate is not valid: " + invalid.Error()
	case errors.As(err, &verify):
		return "its TLS certificate is not trusted: " + verify.Err.Error()
	}
	return ""
}

func hostHint(h string) string {
	if h == "" {
		return "this host"
	}
	return fmt.Sprintf("%q", h)
}
