package sink

import (
	"testing"
	"time"
)

// TestWriterStampSameAsAppendTime writes timestamps one after another,
// on the same day, across midnight, years apart and outside the years
// RFC 3339 can write, and checks each against appendTime.
func TestWriterStampSameAsAppendTime(t *testing.T) {
	base := time.Date(2024, 2, 29, 23, 59, 59, 999e6, time.UTC)
	times := []time.Time{
		base, base.Add(time.Millisecond), base.Add(-time.Hour), base.Add(24 * time.Hour),
		base, time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 6, 1, 0, 0, 0, 0, time.UTC), base.In(time.FixedZone("x", 5*3600)), base,
	}
	for h := range 50 {
		times = append(times, base.Add(time.Duration(h)*97*time.Minute+time.Duration(h)*time.Millisecond))
	}
	var w MessageWriter
	for _, ts := range times {
		got := string(w.appendStamp(nil, ts))
		if want := string(appendTime(nil, ts)); got != want {
			t.Errorf("appendStamp(%v) = %s, want %s", ts, got, want)
		}
	}
}
