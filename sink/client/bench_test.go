package client

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/backfillhq/backfill/sink/segment"
)

// BenchmarkClientStub measures a stub Client: Enqueue from one goroutine,
// batching and encoding the bodies, without any network.
func BenchmarkClientStub(b *testing.B) {
	c, err := New(Config{Stub: true, Delivery: segment.Config{Rate: -1}, FlushInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	ts := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		for {
			err := c.Enqueue(Track{MessageID: "m", Timestamp: ts, UserID: "u1", Event: "Item Purchased",
				Properties: map[string]any{"revenue": 39.95, "i": i}})
			if err == nil {
				break
			}
			if !errors.Is(err, ErrQueueFull) {
				b.Fatal(err)
			}
			if err := c.Flush(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := c.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
