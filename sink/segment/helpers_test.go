package segment

import (
	"testing"
	"time"

	"github.com/backfillhq/backfill/internal/sinktest"
	"github.com/backfillhq/backfill/sink"
)

// newTestSender returns an HTTPSender to f whose clock is clock.
func newTestSender(t *testing.T, f *sinktest.Server, clock func() time.Time, edit func(*Config)) (*HTTPSender, *Stats) {
	t.Helper()
	cfg := Config{WriteKey: sinktest.WriteKey, Endpoint: f.URL()}
	if edit != nil {
		edit(&cfg)
	}
	stats := new(Stats)
	s, err := NewHTTPSender(cfg, stats)
	if err != nil {
		t.Fatal(err)
	}
	if clock != nil {
		s.now = clock
	}
	return s, stats
}

// newTestRetrier returns a Retrier around next that runs on clock c and
// takes the longest back-off the jitter allows.
func newTestRetrier(next sink.Sink, p RetryPolicy, stats *Stats, c *sinktest.Clock) *Retrier {
	r := NewRetrier(next, p, stats)
	r.now = c.Now
	r.sleep = c.Sleep
	r.jitter = func(d time.Duration) time.Duration { return d }
	return r
}
