package importer

import (
	"fmt"
	"strings"
)

// RateLine describes, for a progress line or a report, how the server's
// rate limit shaped a run of elapsed seconds: the request rate in force,
// the limit found and the share of the time spent paused by Retry-After,
// as in "rate 48.0 req/s, limit found 50.0 req/s, paused 3 %". It is empty
// when the server never throttled the run nor stated a limit.
func (t Transport) RateLine(elapsed float64) string {
	if t.Throttled == 0 && t.FoundLimit == 0 {
		return ""
	}
	var parts []string
	if t.CurrentRate > 0 {
		parts = append(parts, fmt.Sprintf("rate %.1f req/s", t.CurrentRate))
	} else {
		parts = append(parts, "rate unlimited")
	}
	if t.FoundLimit > 0 {
		parts = append(parts, fmt.Sprintf("limit found %.1f req/s", t.FoundLimit))
	}
	if t.Throttled > 0 {
		parts = append(parts, fmt.Sprintf("429s %d", t.Throttled))
	}
	if elapsed > 0 {
		parts = append(parts, fmt.Sprintf("paused %.0f %%", 100*min(t.PausedSeconds/elapsed, 1)))
	}
	return strings.Join(parts, ", ")
}
