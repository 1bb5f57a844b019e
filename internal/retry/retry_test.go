package retry

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

func TestWithDefaults(t *testing.T) {
	for _, tc := range []struct {
		name     string
		in, want Policy
	}{
		{"zero", Policy{}, Policy{MaxRetries: 1000, MaxRetryTime: 10 * time.Minute, MinBackoff: 100 * time.Millisecond, MaxBackoff: 30 * time.Second}},
		{"none and no limit", Policy{MaxRetries: -5, MaxRetryTime: -time.Hour}, Policy{MaxRetries: 0, MaxRetryTime: -1, MinBackoff: 100 * time.Millisecond, MaxBackoff: 30 * time.Second}},
		{"cap below the first", Policy{MaxRetries: 3, MaxRetryTime: time.Second, MinBackoff: time.Minute, MaxBackoff: time.Second}, Policy{MaxRetries: 3, MaxRetryTime: time.Second, MinBackoff: time.Minute, MaxBackoff: time.Minute}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.in.WithDefaults(); got != tc.want {
				t.Errorf("WithDefaults() = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	p := Policy{MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second}.WithDefaults()
	var got []time.Duration
	for k := 1; k <= 6; k++ {
		got = append(got, p.Backoff(k))
	}
	if want := "[100ms 200ms 400ms 800ms 1s 1s]"; fmt.Sprint(got) != want {
		t.Errorf("backoffs %v, want %s", got, want)
	}
	huge := Policy{MinBackoff: time.Second, MaxBackoff: 1<<63 - 1}.WithDefaults()
	if d := huge.Backoff(200); d <= 0 {
		t.Errorf("Backoff(200) with no real cap = %s, want no overflow", d)
	}
	if d := Jittered(time.Second, func(d time.Duration) time.Duration { return 0 }); d != 500*time.Millisecond {
		t.Errorf("least jitter of 1s = %s, want 500ms", d)
	}
}

// step is a failed attempt: when, with what, and what Failed should say.
type step struct {
	at      time.Duration // from the first failure
	err     error
	reached bool
	wait    time.Duration
	limit   Limit
}

func TestAttempts(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	unavailable := errors.New("503")
	s := time.Second
	ms := time.Millisecond
	for _, tc := range []struct {
		name   string
		policy Policy
		steps  []step
	}{
		{"count", Policy{MaxRetries: 2}, []step{
			{at: 0, err: unavailable, wait: 100 * ms},
			{at: 100 * ms, err: unavailable, wait: 200 * ms},
			{at: 300 * ms, err: unavailable, limit: Count},
		}},
		{"the last wait ends at the time limit", Policy{MaxRetryTime: 5 * s, MinBackoff: 2 * s}, []step{
			{at: 0, err: unavailable, wait: 2 * s},
			{at: 2 * s, err: unavailable, wait: 3 * s},
			{at: 5 * s, err: unavailable, limit: Time},
		}},
		{"no time limit", Policy{MaxRetryTime: -1, MaxBackoff: time.Hour}, []step{
			{at: 0, err: unavailable, wait: 100 * ms},
			{at: 100 * time.Hour, err: unavailable, wait: 200 * ms},
		}},
		{"refused from the start", Policy{MinBackoff: 20 * s}, []step{
			{at: 0, err: refused, wait: 20 * s},
			{at: 20 * s, err: refused, wait: 10 * s},
			{at: 30 * s, err: refused, limit: Refused},
		}},
		{"refused after a success", Policy{}, []step{
			{at: 0, err: refused, reached: true, wait: 100 * ms},
			{at: 30 * s, err: refused, reached: true, wait: 200 * ms},
		}},
		{"refused, then another error", Policy{}, []step{
			{at: 0, err: refused, wait: 100 * ms},
			{at: time.Second, err: unavailable, wait: 200 * ms},
			{at: 30 * s, err: refused, wait: 400 * ms},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			a := Start(tc.policy.WithDefaults(), nil)
			if _, ok := a.Deadline(); ok {
				t.Error("a deadline before any failure")
			}
			for i, st := range tc.steps {
				wait, limit := a.Failed(start.Add(st.at), st.err, st.reached)
				if wait != st.wait || limit != st.limit {
					t.Fatalf("attempt %d at %s: wait %s, limit %d; want %s, %d", i+1, st.at, wait, limit, st.wait, st.limit)
				}
			}
			last := tc.steps[len(tc.steps)-1].at
			if a.Count() != len(tc.steps) || a.Failing(start.Add(last)) != last {
				t.Errorf("%d attempts failing for %s, want %d for %s", a.Count(), a.Failing(start.Add(last)), len(tc.steps), last)
			}
		})
	}
}

func TestUnreachable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&net.DNSError{Name: "api.segmnet.io", Err: "no such host", IsNotFound: true}, `no such host "api.segmnet.io"`},
		{&net.DNSError{Name: "api.segment.io", Err: "server misbehaving", IsTemporary: true}, ""},
		{fmt.Errorf("get: %w", x509.UnknownAuthorityError{}), "its TLS certificate is signed by an unknown authority"},
		{x509.HostnameError{Certificate: &x509.Certificate{}, Host: "store.example"}, `its TLS certificate is not valid for "store.example"`},
		{syscall.ECONNREFUSED, ""},
	} {
		if got := Unreachable(tc.err); got != tc.want {
			t.Errorf("Unreachable(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
