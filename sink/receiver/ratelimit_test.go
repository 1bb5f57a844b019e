package receiver

import (
	"fmt"
	"testing"
	"time"
)

// TestReceiverMaxRPS: with MaxRPS 3, the receiver accepts 3 requests in any
// second and answers the 4th 429 with Retry-After: 1 and the limit stated,
// keeping nothing of it; a second after the first, one more goes through.
func TestReceiverMaxRPS(t *testing.T) {
	for _, hide := range []bool{false, true} {
		t.Run(fmt.Sprintf("hide %t", hide), func(t *testing.T) {
			f := newReceiverFixture(t, Config{WriteKey: receiverKey, MaxRPS: 3, HideLimit: hide})
			now := receiverTime
			f.rcv.now = func() time.Time { return now }
			type want struct {
				after     time.Duration
				status    int
				remaining string
			}
			for i, w := range []want{
				{0, 200, "2"},
				{300 * time.Millisecond, 200, "1"},
				{600 * time.Millisecond, 200, "0"},
				{900 * time.Millisecond, 429, "0"},
				{999 * time.Millisecond, 429, "0"},
				{time.Second, 200, "0"},             // the first dropped out
				{1300 * time.Millisecond, 200, "0"}, // and the second
				{1400 * time.Millisecond, 429, "0"},
				{3 * time.Second, 200, "2"},
			} {
				now = receiverTime.Add(w.after)
				b := receiverBatch(t, validMessages(t, fmt.Sprintf("r%d-", i), 2)...)
				r := f.post(t, "/v1/batch", b.Body(receiverTime), postOptions{})
				if r.status != w.status {
					t.Fatalf("request %d at +%s: status %d, want %d: %s", i, w.after, r.status, w.status, r.raw)
				}
				wantHeaders := map[string]string{"X-RateLimit-Limit": "3", "X-RateLimit-Remaining": w.remaining, "RateLimit-Policy": "3;w=1"}
				for name, v := range wantHeaders {
					if hide {
						v = ""
					}
					if got := r.header.Get(name); got != v {
						t.Errorf("request %d: %s %q, want %q", i, name, got, v)
					}
				}
				retryAfter := ""
				if w.status == 429 {
					retryAfter = "1"
					if r.body["error"] != "too many requests" {
						t.Errorf("request %d: body %s", i, r.raw)
					}
				}
				if got := r.header.Get("Retry-After"); got != retryAfter {
					t.Errorf("request %d: Retry-After %q, want %q", i, got, retryAfter)
				}
			}
			if st := f.rcv.Stats(); st != (Stats{Requests: 9, Batches: 6, Messages: 12, Rejected: 3, Throttled: 3}) {
				t.Errorf("stats %+v", st)
			}
			if got := len(f.lines()); got != 12 {
				t.Errorf("%d messages kept, want 12", got)
			}
		})
	}
}

// TestReceiverNoMaxRPS: without MaxRPS, no rate-limit header is sent.
func TestReceiverNoMaxRPS(t *testing.T) {
	f := newReceiverFixture(t, Config{WriteKey: receiverKey})
	r := f.post(t, "/v1/batch", receiverBatch(t, validMessages(t, "n", 1)...).Body(receiverTime), postOptions{})
	if r.status != 200 || r.header.Get("X-RateLimit-Limit") != "" || r.header.Get("Retry-After") != "" {
		t.Errorf("status %d, headers %v", r.status, r.header)
	}
}
