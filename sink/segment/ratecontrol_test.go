package segment

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backfillhq/backfill/internal/sinktest"
	"github.com/backfillhq/backfill/sink"
)

func TestStatedLimit(t *testing.T) {
	for _, tc := range []struct {
		header map[string]string
		want   float64
	}{
		{nil, 0},
		{map[string]string{"X-RateLimit-Limit": "50"}, 50},
		{map[string]string{"RateLimit-Limit": "20"}, 20},
		{map[string]string{"X-RateLimit-Limit": "100, 100;w=1, 1000;w=60"}, 100},
		{map[string]string{"RateLimit-Policy": "600;w=60"}, 10},
		{map[string]string{"X-RateLimit-Policy": "5;w=1"}, 5},
		{map[string]string{"RateLimit-Policy": `"default";q=100;w=10`}, 10},
		{map[string]string{"RateLimit-Policy": "100;w=0", "X-RateLimit-Limit": "7"}, 7},
		{map[string]string{"X-RateLimit-Limit": "lots"}, 0},
		{map[string]string{"X-RateLimit-Limit": "-3"}, 0},
		{map[string]string{"X-RateLimit-Limit": "+Inf"}, 0},
	} {
		h := http.Header{}
		for k, v := range tc.header {
			h.Set(k, v)
		}
		if got := statedLimit(h); got != tc.want {
			t.Errorf("%v: %g, want %g", tc.header, got, tc.want)
		}
	}
}

// newTestControl returns a controller between floor and ceiling on its own
// queue, applied at the start of the fake clock.
func newTestControl(ceiling, floor float64) (*rateControl, *Stats) {
	stats := new(Stats)
	c := newRateControl(ceiling, floor, stats)
	c.apply(sinktest.ClockStart)
	return c, stats
}

var (
	throttle    = &StatusError{Status: 429}
	throttleFor = &StatusError{Status: 429, RetryAfter: time.Second}
)

// TestRateControlOneDecreasePerRoundTrip: the 429s of requests sent before
// a decrease do not decrease the rate again; a 429 with Retry-After cuts the
// rate to what the server accepted over the last second, by 5 % at least.
func TestRateControlOneDecreasePerRoundTrip(t *testing.T) {
	c, stats := newTestControl(100, 1)
	now := sinktest.ClockStart
	// A second of 80 successes, then 429s to requests all sent before.
	var gens []uint64
	for i := range 80 {
		at := now.Add(time.Duration(i) * 12500 * time.Microsecond)
		c.answered(at, c.sent(at), nil)
	}
	now = now.Add(time.Second)
	for range 5 {
		gens = append(gens, c.sent(now))
	}
	c.answered(now, gens[0], throttleFor)
	// 80 in the second before, a 429 of 81 answers: 98 % of 80.
	if got, want := c.current(), 80*headroom; got != want {
		t.Fatalf("rate %g after the first 429, want %g", got, want)
	}
	for _, g := range gens[1:] {
		c.answered(now, g, throttleFor)
	}
	if got := c.current(); got != 80*headroom {
		t.Errorf("rate %g after 429s to requests sent before the decrease, want %g", got, 80*headroom)
	}
	if got := stats.CurrentRate(); got != 80*headroom {
		t.Errorf("Stats.CurrentRate %g", got)
	}
	if got := stats.FoundLimit(); got != 80*headroom {
		t.Errorf("Stats.FoundLimit %g, want %g", got, 80*headroom)
	}
}

// TestRateControlIsolatedFault: a 429 without Retry-After among many
// successes lowers the rate by 1 %, at most once a second, and the rate
// climbs back to where it was.
func TestRateControlIsolatedFault(t *testing.T) {
	c, _ := newTestControl(100, 1)
	now := sinktest.ClockStart
	for i := range 100 {
		at := now.Add(time.Duration(i) * 10 * time.Millisecond)
		c.answered(at, c.sent(at), nil)
	}
	now = now.Add(time.Second)
	c.answered(now, c.sent(now), throttle)
	if got := c.current(); got != 99 {
		t.Fatalf("rate %g after an isolated 429, want 99", got)
	}
	now = now.Add(100 * time.Millisecond)
	c.answered(now, c.sent(now), throttle)
	if got := c.current(); got != 99 {
		t.Fatalf("rate %g after a second isolated 429 within a second, want 99", got)
	}
	now = now.Add(stepEvery)
	c.answered(now, c.sent(now), nil)
	if got := c.current(); got != 100 {
		t.Errorf("rate %g after a success, want back at 100", got)
	}
}

// TestRateControlBurst: many 429s without Retry-After cut the rate at
// most in half per round trip, down to the floor; the first two, fewer
// than three, count as isolated.
func TestRateControlBurst(t *testing.T) {
	c, _ := newTestControl(100, 10)
	now := sinktest.ClockStart
	for round, want := range []float64{99, 49.5, 24.75, 12.375, 10, 10} {
		// Five requests in flight together: one round trip.
		var gens []uint64
		for range 5 {
			gens = append(gens, c.sent(now))
		}
		for _, g := range gens {
			c.answered(now, g, throttle)
		}
		if got := c.current(); got != want {
			t.Fatalf("round %d: rate %g, want %g", round, got, want)
		}
		now = now.Add(50 * time.Millisecond)
	}
}

// TestRateControlProbes: after holding the rate it found, the controller
// probes above it in doubling steps, never above the ceiling.
func TestRateControlProbes(t *testing.T) {
	c, _ := newTestControl(80, 1)
	now := sinktest.ClockStart
	for i := range 50 {
		at := now.Add(time.Duration(i) * 20 * time.Millisecond)
		c.answered(at, c.sent(at), nil)
	}
	now = now.Add(time.Second)
	c.answered(now, c.sent(now), throttleFor) // 50 accepted in the last second
	if got := c.current(); got != 49 {
		t.Fatalf("rate %g, want 49", got)
	}
	// The pause ends a second on; the hold lasts minHold from then.
	now = now.Add(time.Second + minHold - time.Millisecond)
	c.answered(now, c.sent(now), nil)
	if got := c.current(); got != 49 {
		t.Fatalf("rate %g during the hold, want 49", got)
	}
	want := 49.0
	for _, step := range []float64{0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.5} {
		now = now.Add(stepEvery)
		c.answered(now, c.sent(now), nil)
		want = min(want*(1+step), 80)
		if got := c.current(); got != want {
			t.Fatalf("probe step %g: rate %g, want %g", step, got, want)
		}
	}
}

// TestRateControlStatedLimit: a limit the server states caps the rate at
// 98 % of it, below the ceiling, and the rate follows it up and down.
func TestRateControlStatedLimit(t *testing.T) {
	c, stats := newTestControl(1000, 1)
	now := sinktest.ClockStart
	for _, tc := range []struct{ stated, want float64 }{{100, 98}, {200, 196}, {50, 49}, {5000, 1000}} {
		c.stateLimit(now, tc.stated)
		if got := c.current(); got != tc.want {
			t.Errorf("stated %g: rate %g, want %g", tc.stated, got, tc.want)
		}
		if got := stats.FoundLimit(); got != tc.stated {
			t.Errorf("stated %g: FoundLimit %g", tc.stated, got)
		}
		now = now.Add(time.Second)
	}
}

// TestRateControlRequeue: a request that waited for its place while the
// rate fell, or a Retry-After pause began, queues again; a pause holds
// every request until it ends.
func TestRateControlRequeue(t *testing.T) {
	c, _ := newTestControl(10, 1)
	now := sinktest.ClockStart
	epoch, _, paused := c.reserve(now)
	if paused || !c.admitted(now, epoch) {
		t.Fatal("a place given now is not admitted")
	}
	c.answered(now, c.sent(now), throttleFor)
	if c.admitted(now, epoch) {
		t.Error("a place given before a pause is admitted during it")
	}
	if _, wait, paused := c.reserve(now); !paused || wait != time.Second {
		t.Errorf("reserve during a pause: wait %s, paused %t; want 1s, true", wait, paused)
	}
	now = now.Add(time.Second)
	if epoch2, _, paused := c.reserve(now); paused || epoch2 == epoch || !c.admitted(now, epoch2) {
		t.Errorf("after the pause: epoch %d (was %d), paused %t", epoch2, epoch, paused)
	}
}

// TestRetrierCountsPauses: Retry-After pauses add up in Stats.Paused,
// overlapping ones once.
func TestRetrierCountsPauses(t *testing.T) {
	clk := sinktest.NewClock()
	pause := func(s string) sinktest.Reply {
		return sinktest.Reply{Status: 429, Header: map[string]string{"Retry-After": s}}
	}
	f := sinktest.NewServer(t, clk.Now, sinktest.Replies(pause("3"), pause("2"), sinktest.OK))
	s, stats := newTestSender(t, f, clk.Now, nil)
	r := newTestRetrier(s, RetryPolicy{}, stats, clk)
	if err := r.Send(context.Background(), sinktest.BuildBatch(t, "m", 1)); err != nil {
		t.Fatal(err)
	}
	if got := stats.Snapshot().Paused; got != 5*time.Second {
		t.Errorf("Paused %s, want 5s", got)
	}
	r.pause(clk.Now().Add(time.Second))
	r.pause(clk.Now().Add(500 * time.Millisecond))
	if got := stats.Snapshot().Paused; got != 6*time.Second {
		t.Errorf("Paused %s after overlapping pauses, want 6s", got)
	}
}

// TestSinkFollowsStatedLimit: the sink made by New reads the limit a
// server states in its answers.
func TestSinkFollowsStatedLimit(t *testing.T) {
	f := sinktest.NewServer(t, nil, func(*sinktest.Request) sinktest.Reply {
		return sinktest.Reply{Status: 200, Body: `{"success":true}`, Header: map[string]string{"X-RateLimit-Limit": "30"}}
	})
	snk, stats, err := New(Config{WriteKey: sinktest.WriteKey, Endpoint: f.URL(), Rate: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if err := snk.Send(context.Background(), sinktest.BuildBatch(t, "m", 1)); err != nil {
		t.Fatal(err)
	}
	if got := stats.Snapshot(); got.FoundLimit != 30 || got.CurrentRate != 30*headroom {
		t.Errorf("found limit %g, rate %g; want 30 and %g", got.FoundLimit, got.CurrentRate, 30*headroom)
	}
}

// TestRateControlStatedLimitMargin: 429s at the stated limit's cap lower
// the cap by 2 % of the limit each, down to 80 % of it.
func TestRateControlStatedLimitMargin(t *testing.T) {
	c, _ := newTestControl(1000, 1)
	now := sinktest.ClockStart
	c.stateLimit(now, 100)
	for _, want := range []float64{96, 94, 92} {
		c.answered(now, c.sent(now), throttleFor)
		now = now.Add(time.Second)
		if got := c.top(); got != want {
			t.Fatalf("cap %g after a 429 at it, want %g", got, want)
		}
		c.setRate(now, c.top()) // back at the cap, as the recovery brings it
	}
	for range 20 {
		c.answered(now, c.sent(now), throttleFor)
		now = now.Add(time.Second)
		c.setRate(now, c.top())
	}
	if got := c.top(); got != 80 {
		t.Errorf("cap %g after many 429s, want 80", got)
	}
}

// TestRateControlOtherFailures: answers other than success and 429 (a 500,
// a 400, a network error) change nothing.
func TestRateControlOtherFailures(t *testing.T) {
	c, _ := newTestControl(50, 1)
	now := sinktest.ClockStart
	for _, err := range []error{&StatusError{Status: 500}, &StatusError{Status: 400}, &networkError{err: errors.New("connection refused")}} {
		c.answered(now, c.sent(now), err)
		if got := c.current(); got != 50 {
			t.Errorf("%v: rate %g, want 50", err, got)
		}
	}
}

// TestAdaptiveRateLimiterCancel: a Send of an adaptive RateLimiter that
// waits for its place in the queue, or for a Retry-After pause to end,
// returns context.Canceled when its context ends, without sending.
func TestAdaptiveRateLimiterCancel(t *testing.T) {
	for _, tc := range []struct {
		name string
		prep func(l *RateLimiter)
	}{
		{"waiting for its place", func(l *RateLimiter) {
			l.adapt.reserve(time.Now()) // the one place of the burst
		}},
		{"waiting for a pause to end", func(l *RateLimiter) {
			now := time.Now()
			l.adapt.answered(now, l.adapt.sent(now), &StatusError{Status: 429, RetryAfter: time.Hour})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			l := NewAdaptiveRateLimiter(sinktest.SendFunc(func(context.Context, *sink.Batch) error {
				calls.Add(1)
				return nil
			}), glacial, 0, AdaptiveRate{MinRate: glacial}, nil)
			tc.prep(l)
			ctx, cancel := context.WithCancel(context.Background())
			errc := make(chan error, 1)
			go func() { errc <- l.Send(ctx, sinktest.BuildBatch(t, "m", 1)) }()
			cancel()
			if err := <-errc; !errors.Is(err, context.Canceled) {
				t.Fatalf("Send: %v, want context.Canceled", err)
			}
			if calls.Load() != 0 {
				t.Error("the batch was sent although the wait was cancelled")
			}
		})
	}
}
