package segment

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/backfillhq/backfill/internal/sinktest"
	"github.com/backfillhq/backfill/sink"
)

// TestCase13EventsRateWithinFivePercent: with an events limit of N per
// second, the events a run sends over its span stay within 5 % of N, on
// the limiter's clock, whether the run is short or long and whether it
// pauses.
func TestCase13EventsRateWithinFivePercent(t *testing.T) {
	for _, tc := range []struct {
		name    string
		rate    float64
		batches int // before the span measured
		pause   time.Duration
		measure int // batches in the span measured
		size    int
	}{
		{"20000/s, 100,000 events", 20000, 0, 0, 50, 2000},
		{"40000/s, 50,000 events", 40000, 0, 0, 25, 2000},
		{"1000/s, 25,000 events in batches of 100", 1000, 0, 0, 250, 100},
		{"20000/s after a pause of a minute", 20000, 10, time.Minute, 50, 2000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := sinktest.NewClock()
			l := NewRateLimiter(sinktest.SendFunc(func(context.Context, *sink.Batch) error { return nil }), 0, tc.rate)
			l.setClock(clk)
			send := func(n int) {
				for i := range n {
					if err := l.Send(context.Background(), sinktest.BuildBatch(t, fmt.Sprint("b", i), tc.size)); err != nil {
						t.Fatal(err)
					}
				}
			}
			send(tc.batches)
			clk.AdvanceTo(clk.Now().Add(tc.pause))
			start := clk.Now()
			send(tc.measure)
			span := clk.Now().Sub(start)
			if span <= 0 {
				t.Fatalf("%d events took no time at %g/s", tc.measure*tc.size, tc.rate)
			}
			got := float64(tc.measure*tc.size) / span.Seconds()
			if got > 1.05*tc.rate || got < 0.95*tc.rate {
				t.Errorf("%d events in %s: %.0f events/s, want %g within 5%%", tc.measure*tc.size, span, got, tc.rate)
			}
		})
	}
}
