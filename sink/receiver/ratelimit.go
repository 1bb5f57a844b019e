package receiver

import (
	"net/http"
	"strconv"
	"sync"
	"time"
)

// requestWindow admits at most max requests in any second, as Segment does
// when a workspace goes over its limit: it remembers the times of the last
// max requests it admitted.
type requestWindow struct {
	mu    sync.Mutex
	max   int
	times []time.Time // ring of the last max admissions
	next  int         // index of the oldest, where the next one goes
	n     int         // admissions remembered, up to max
}

func newRequestWindow(max int) *requestWindow {
	return &requestWindow{max: max, times: make([]time.Time, max)}
}

// admit reports whether a request at now is within the limit and, if so,
// counts it; it returns how many more the window would admit at now.
func (w *requestWindow) admit(now time.Time) (ok bool, remaining int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	// The admissions of the last second: the oldest ones drop out.
	for w.n > 0 {
		oldest := w.times[(w.next-w.n+w.max)%w.max]
		if now.Sub(oldest) < time.Second {
			break
		}
		w.n--
	}
	if w.n >= w.max {
		return false, 0
	}
	w.times[w.next] = now
	w.next = (w.next + 1) % w.max
	w.n++
	return true, w.max - w.n
}

// limitRequest applies the receiver's request limit, if it has one, to a
// request at now: it sets the rate-limit headers (unless hidden) and
// returns a 429 error with Retry-After: 1 over the limit.
func (r *Receiver) limitRequest(w http.ResponseWriter) *requestError {
	if r.window == nil {
		return nil
	}
	ok, remaining := r.window.admit(r.now())
	if !r.hideLimit {
		h := w.Header()
		h.Set("X-RateLimit-Limit", strconv.Itoa(r.window.max))
		h.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
		h.Set("RateLimit-Policy", strconv.Itoa(r.window.max)+";w=1")
	}
	if ok {
		return nil
	}
	r.throttled.Add(1)
	w.Header().Set("Retry-After", "1")
	return &requestError{status: http.StatusTooManyRequests, error: "too many requests",
		message: "over the limit of " + strconv.Itoa(r.window.max) + " requests a second; retry after 1 second", index: -1}
}
