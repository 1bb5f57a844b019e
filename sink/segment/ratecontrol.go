package segment

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Constants of rateControl. They are tuned with the simulation in
// ratecontrol_sim_test.go.
const (
	// headroom is the share of a limit the controller runs at once it has
	// found the limit: a little under it, so that the jitter of real
	// request times does not cross it.
	headroom = 0.98
	// marginStep is how much further under a stated limit the rate stays
	// after each 429 at it, as a share of the limit, up to maxMargin: the
	// requests reach the server less evenly than the limiter lets them go.
	marginStep, maxMargin = 0.02, 0.18
	// isolatedShare is the share of 429s among the last second's answers
	// up to which a 429 without Retry-After counts as an isolated fault
	// (or three times the usual share, if that is more; and always when
	// fewer than three 429s came in that second).
	isolatedShare = 0.1
	// noiseWeight is the weight of each answer in the average share of
	// 429s without Retry-After: some hundreds of answers make the average.
	noiseWeight = 1.0 / 500
	// isolatedCut is how much an isolated 429 lowers the rate, at most
	// once a second.
	isolatedCut = 0.99
	// gentleCut is the least a 429 that signals the limit lowers the rate:
	// much gentler than TCP's halving, since the accepted rate, measured,
	// usually says by how much.
	gentleCut = 0.95
	// deepestCut is the most one decrease lowers the rate.
	deepestCut = 0.5
	// stepEvery is how often the rate may climb, while answers succeed.
	stepEvery = 500 * time.Millisecond
	// firstProbe is the first step of a probe above the known rate, as a
	// share of the rate; each further step doubles, up to lastProbe.
	firstProbe, lastProbe = 0.01, 0.5
	// minHold and maxHold bound how long the controller stays at the
	// rate it found before probing above it. The hold doubles each time a
	// probe finds the limit where the last one did, and falls back to
	// minHold when the limit moved.
	minHold, maxHold = 2 * time.Second, 12 * time.Second
	// sameLimit is how close two probes' limits must be to count as the
	// same limit (or 1.5 requests a second, if that is more).
	sameLimit = 0.05
	// recheckEvery is how often a request waiting for its place looks
	// whether the queue was started afresh.
	recheckEvery = 100 * time.Millisecond
	// minMeasure is the least time over which the accepted rate is
	// measured; a shorter span is too noisy to set the rate by.
	minMeasure = 250 * time.Millisecond
)

// rateControl decides the request rate of an adaptive RateLimiter from the
// answers the server gives. Safe for concurrent use.
//
// The choice: an AIMD controller, as TCP's, but one that uses what the
// server says of its limit rather than only that it was crossed. Latency
// based controllers (Vegas, Gradient, Vector's adaptive concurrency) look
// for queueing delay, which a rate limiter in front of Segment does not
// show: its 429s come as fast as its 200s. What it does show is how many
// requests it accepted, the Retry-After it asks for and, on some servers, the
// limit itself; so:
//
//   - At most one decrease per round trip: a 429 to a request sent before
//     the last decrease does not count again (the requests in flight then
//     all meet the same throttle).
//   - A 429 with Retry-After, or one of many, signals the limit. The rate
//     falls to the rate the server accepted over the last second (measured
//     since the last pause ended), times headroom, and by at least
//     gentleCut and at most deepestCut. Against a server that accepts N
//     requests a second, the rate the server accepted is N: one decrease
//     lands just under the limit, instead of TCP's sawtooth between N/2
//     and N.
//   - A 429 without Retry-After that is one of few (at most a tenth of the
//     last second's answers, or three times their usual share, or fewer
//     than three) is an isolated fault: it lowers the rate by isolatedCut at
//     most once a second, and leaves the rate found as it was, so that the
//     rate climbs back at once.
//   - The rate found (hold) is where the rate returns after isolated
//     faults: below it, the rate climbs half the gap each stepEvery. After
//     holding it for a while without a 429, it probes above it: steps of
//     1 %, 2 %, 4 %, ... of the rate, each stepEvery, so that the increase
//     scales with the rate and a doubled limit is reached within a few
//     seconds. The wait before the next probe doubles each time a probe
//     finds the same limit (up to maxHold), since each probe that crosses a
//     limit costs a Retry-After pause, and falls back to minHold when the
//     limit moved.
//   - A server that states its limit (X-RateLimit-Limit, or RateLimit-Policy
//     with a window) caps the rate at headroom times that limit per second,
//     and the rate follows the stated limit at once when it moves. Each 429
//     at that cap lowers it by another 2 % of the limit (down to 80 %): the
//     requests reach the server less evenly than they leave.
//   - The ceiling (--rate) and the floor (--min-rate) bound all of it. With
//     no ceiling there is no limit until the first 429, which starts from
//     the request rate observed over the last second or two.
//
// Requests wait for their place in a queue (a token bucket whose burst is
// 20 ms of requests). A decrease, a higher rate or a Retry-After pause starts
// the queue afresh: the places given at the old rate would keep its pace.
// Retry-After pauses themselves are the Retrier's, which the queue also
// honours.
type rateControl struct {
	mu      sync.Mutex
	stats   *Stats
	lim     *rate.Limiter // the queue at the rate in force
	epoch   uint64        // counts the queues started afresh
	ceiling float64       // 0: none
	floor   float64

	rate   float64   // in force; 0: none yet
	hold   float64   // the rate found: where the rate returns; 0: none
	stated float64   // the limit the server states, per second; 0: none
	margin float64   // more room under the stated limit, after 429s at it
	gen    uint64    // counts decreases
	cut    time.Time // the last decrease
	step   time.Time // the last increase, or the start of the hold
	probe  float64   // the next probe step as a share of the rate; 0: not probing
	wait   time.Duration
	last   float64   // the rate at which the last probe found the limit
	noise  time.Time // the last isolated decrease
	resume time.Time // the end of the last Retry-After pause

	answers    answerWindow
	noiseShare float64       // the share of 429s without Retry-After, averaged over many answers
	sentWin    requestWindow // with no limit yet: the requests sent
}

// newRateControl returns a controller whose rate starts at ceiling (0:
// none) and never goes below floor. Call apply before its first use.
func newRateControl(ceiling, floor float64, stats *Stats) *rateControl {
	return &rateControl{stats: stats, ceiling: ceiling, floor: floor, rate: ceiling, hold: ceiling, wait: minHold}
}

// current returns the request rate in force; 0: none.
func (c *rateControl) current() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rate
}

// reserve gives a request a place in the queue at now: how long it waits
// for it, and the epoch it was given in. paused tells that a Retry-After
// pause holds requests for wait: the request queues after it. With no rate
// in force, the wait is zero.
func (c *rateControl) reserve(now time.Time) (epoch uint64, wait time.Duration, paused bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d := c.resume.Sub(now); d > 0 {
		return c.epoch, d, true
	}
	if c.rate == 0 {
		return c.epoch, 0, false
	}
	return c.epoch, c.lim.ReserveN(now, 1).DelayFrom(now), false
}

// admitted reports whether a request that waited for its place, given in
// epoch, may go at now: not if the rate fell or a Retry-After pause began
// meanwhile, since its place was given at a rate that no longer holds; it
// then queues again (the queue was started afresh).
func (c *rateControl) admitted(now time.Time, epoch uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return epoch == c.epoch && !c.resume.After(now)
}

// sent records a request about to be sent at now and returns the number of
// decreases so far, to be handed back with its answer.
func (c *rateControl) sent(now time.Time) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rate == 0 {
		c.sentWin.add(now)
	}
	return c.gen
}

// top is the highest rate allowed: the ceiling, and headroom times the
// limit the server states; 0: none.
func (c *rateControl) top() float64 {
	t := c.ceiling
	if s := c.stated * (headroom - c.margin); c.stated > 0 && (t == 0 || s < t) {
		t = s
	}
	return t
}

// stateLimit records the limit per second the server stated in an answer
// at now.
func (c *rateControl) stateLimit(now time.Time, perSecond float64) {
	if !(perSecond > 0) || math.IsInf(perSecond, 1) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if perSecond == c.stated {
		return
	}
	oldTop := c.top()
	c.stated = perSecond
	top := c.top()
	// Held by the old stated limit, not by 429s: follow the new one.
	if c.rate == 0 || c.rate > top || (oldTop > 0 && c.rate >= oldTop*0.999) {
		c.rate = top
		c.hold = top
		c.probe = 0
		c.step = now
		if c.lim != nil {
			c.requeue(now)
		}
		c.apply(now)
	}
}

// answered adjusts the rate to the answer, at now, to a request sent when
// gen decreases had been made. Answers other than success and 429 change
// nothing.
func (c *rateControl) answered(now time.Time, gen uint64, err error) {
	var se *StatusError
	throttled := err != nil && errors.As(err, &se) && se.Status == http.StatusTooManyRequests
	if err != nil && !throttled {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.answers.add(now, throttled)
	c.noiseShare *= 1 - noiseWeight
	if throttled && se.RetryAfter == 0 {
		c.noiseShare += noiseWeight
	}
	if throttled && se.RetryAfter > 0 {
		if end := now.Add(se.RetryAfter); end.After(c.resume) {
			if !c.resume.After(now) {
				c.requeue(now)
			}
			c.resume = end
		}
	}
	if throttled {
		if gen == c.gen {
			c.decrease(now, se.RetryAfter > 0)
		}
		return
	}
	c.increase(now)
}

// decrease lowers the rate after a 429 that counts, at now.
func (c *rateControl) decrease(now time.Time, pause bool) {
	if c.stated > 0 && c.rate >= c.top()*0.999 {
		// Throttled at the stated limit: the requests reach the server
		// less evenly than they leave; keep more room under it.
		c.margin = min(c.margin+marginStep, maxMargin)
	}
	if c.rate == 0 {
		c.rate = max(c.sentWin.rate(now), 2*c.floor)
		c.hold = c.rate
	}
	ok, throttled, _ := c.answers.counts(now, now.Add(-time.Second))
	share := float64(throttled) / float64(ok+throttled)
	if !pause && (share <= max(isolatedShare, 3*c.noiseShare) || throttled < 3) {
		// An isolated fault: lower the rate a little; keep the rate found
		// and go on probing.
		if now.Sub(c.noise) < time.Second {
			return
		}
		c.noise = now
		c.gen++
		c.setRate(now, c.rate*isolatedCut)
		return
	}
	target := c.rate * max(deepestCut, min(gentleCut, 1-share))
	if a, ok := c.accepted(now); ok {
		// What the server accepted is the best estimate of its limit.
		target = max(c.rate*deepestCut, min(target, a*headroom))
	} else if c.probe > 0 {
		// A probe found the limit above the rate held before it.
		target = max(target, c.hold)
	}
	c.setRate(now, target)
	// The places given at the old rate would keep its pace for as long
	// as the queue is deep.
	c.requeue(now)
	// A few requests a second measure the limit only to a request or so.
	if c.last > 0 && math.Abs(c.rate-c.last) <= max(sameLimit*c.last, 1.5) {
		c.wait = min(2*c.wait, maxHold)
	} else {
		c.wait = minHold
	}
	c.last = c.rate
	c.hold = c.rate
	c.probe = 0
	c.gen++
	// The hold starts when requests go again.
	c.cut = now
	if c.resume.After(now) {
		c.cut = c.resume
	}
	c.step = c.cut
	c.apply(now)
}

// accepted returns the rate of successes the server gave since the last
// pause ended, over the last second, and whether that span is long enough
// to tell.
func (c *rateControl) accepted(now time.Time) (float64, bool) {
	from := now.Add(-time.Second)
	if c.resume.After(from) && !c.resume.After(now) {
		from = c.resume
	}
	ok, _, since := c.answers.counts(now, from)
	span := now.Sub(since)
	if span < minMeasure {
		return 0, false
	}
	return float64(ok) / span.Seconds(), true
}

// increase raises the rate after a success at now: towards the rate found,
// then, after holding it, in growing steps above it.
func (c *rateControl) increase(now time.Time) {
	top := c.top()
	if c.rate == 0 || (top > 0 && c.rate >= top) || now.Sub(c.step) < stepEvery {
		return
	}
	switch {
	case c.rate < c.hold*0.999:
		c.setRate(now, c.rate+max((c.hold-c.rate)/2, c.hold*firstProbe))
		c.setRate(now, min(c.rate, c.hold))
	case c.probe == 0 && now.Sub(c.cut) < c.wait:
		return
	default:
		if c.probe == 0 {
			c.probe = firstProbe
		}
		c.setRate(now, c.rate*(1+c.probe))
		c.probe = min(2*c.probe, lastProbe)
		if top > 0 && c.rate >= top {
			c.hold, c.probe = c.rate, 0
		}
	}
	c.step = now
}

// setRate sets the rate in force to r within the floor and the top.
func (c *rateControl) setRate(now time.Time, r float64) {
	if top := c.top(); top > 0 {
		r = min(r, top)
	}
	r = max(r, c.floor)
	if r > c.rate && c.rate > 0 {
		// The limiter would pay the debt of the places given at the old
		// rate at the new one, while those places keep their times: the
		// two would overlap and burst.
		c.rate = r
		c.requeue(now)
	}
	c.rate = r
	c.apply(now)
}

// requeue starts the queue of requests afresh at the rate in force, at
// now: the places given before are void (see admitted), and the requests
// that hold them queue again within recheckEvery.
func (c *rateControl) requeue(now time.Time) {
	c.epoch++
	if c.rate > 0 {
		// Empty at now: the next place comes one interval on, so that
		// the requests just sent and the new queue do not add up.
		c.lim = rate.NewLimiter(rate.Limit(c.rate), burstOf(c.rate))
		c.lim.ReserveN(now, burstOf(c.rate))
	}
}

// apply sets the limiter to the rate in force at now, and publishes it
// and the rate found. With no rate in force the limiter is left as it is,
// unused.
func (c *rateControl) apply(now time.Time) {
	if c.rate > 0 {
		if c.lim == nil {
			c.lim = rate.NewLimiter(rate.Limit(c.rate), burstOf(c.rate))
		}
		c.lim.SetLimitAt(now, rate.Limit(c.rate))
		c.lim.SetBurstAt(now, burstOf(c.rate))
	}
	c.stats.setCurrentRate(c.rate)
	var found float64
	switch {
	case c.stated > 0:
		found = c.stated
	case c.gen > 0:
		found = c.hold
	}
	c.stats.setFoundLimit(found)
}

// burstOf is the burst of a request limiter at rate r: 20 ms of requests,
// at least one. A server that allows N requests in any second takes rate
// plus burst requests in a second at most, so the burst stays small.
func burstOf(r float64) int {
	return max(1, int(min(r/50, math.MaxInt32)))
}

// answerWindow counts answers, successes and 429s, in buckets of 100 ms
// over the last two seconds.
type answerWindow struct {
	start    time.Time // of bucket 0
	ok, slow [20]int
}

const answerBucket = 100 * time.Millisecond

// advance moves the window so that now falls in its last bucket.
func (w *answerWindow) advance(now time.Time) {
	n := len(w.ok)
	end := w.start.Add(time.Duration(n) * answerBucket)
	if w.start.IsZero() || now.Before(w.start) || now.Sub(end) >= time.Duration(n)*answerBucket {
		w.start = now.Truncate(answerBucket).Add(-time.Duration(n-1) * answerBucket)
		w.ok, w.slow = [20]int{}, [20]int{}
		return
	}
	for !now.Before(end) {
		copy(w.ok[:], w.ok[1:])
		copy(w.slow[:], w.slow[1:])
		w.ok[n-1], w.slow[n-1] = 0, 0
		w.start = w.start.Add(answerBucket)
		end = end.Add(answerBucket)
	}
}

// add counts an answer at now.
func (w *answerWindow) add(now time.Time, throttled bool) {
	w.advance(now)
	i := int(now.Sub(w.start) / answerBucket)
	if throttled {
		w.slow[i]++
	} else {
		w.ok[i]++
	}
}

// counts returns the successes and 429s counted in the buckets that start
// at from or later, up to now, and the start of the first of them.
func (w *answerWindow) counts(now, from time.Time) (ok, throttled int, since time.Time) {
	w.advance(now)
	since = now
	for i := range w.ok {
		start := w.start.Add(time.Duration(i) * answerBucket)
		if start.Before(from) {
			continue
		}
		if since.After(start) {
			since = start
		}
		ok += w.ok[i]
		throttled += w.slow[i]
	}
	return ok, throttled, since
}

// requestWindow counts requests in windows of a second, to observe a
// request rate.
type requestWindow struct {
	start       time.Time
	count, prev int
}

// add counts a request at now.
func (w *requestWindow) add(now time.Time) {
	switch el := now.Sub(w.start); {
	case w.start.IsZero() || el >= 2*time.Second || el < 0:
		w.start, w.count, w.prev = now, 0, 0
	case el >= time.Second:
		w.start, w.count, w.prev = w.start.Add(time.Second), 0, w.count
	}
	w.count++
}

// rate returns the request rate over the current and the previous window,
// over at least a second.
func (w *requestWindow) rate(now time.Time) float64 {
	span := now.Sub(w.start) + time.Second
	return float64(w.count+w.prev) / span.Seconds()
}

// statedLimit returns the request limit per second that a response states,
// or 0 if it states none. It reads RateLimit-Policy or X-RateLimit-Policy
// ("N;w=S": N requests in S seconds; the newer form `"name";q=N;w=S` too),
// and else X-RateLimit-Limit or RateLimit-Limit, taken as requests per
// second. A limit over a longer window then reads as a higher one than it
// is, which only makes it a looser cap: 429s still bring the rate down.
func statedLimit(h http.Header) float64 {
	for _, name := range []string{"RateLimit-Policy", "X-RateLimit-Policy"} {
		if v := h.Get(name); v != "" {
			if l := policyLimit(v); l > 0 {
				return l
			}
		}
	}
	for _, name := range []string{"X-RateLimit-Limit", "RateLimit-Limit"} {
		// Some servers list several limits: the first is the one in force.
		v, _, _ := strings.Cut(h.Get(name), ",")
		v, _, _ = strings.Cut(v, ";")
		if n, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && n > 0 && !math.IsInf(n, 1) {
			return n
		}
	}
	return 0
}

// policyLimit reads the first policy of a RateLimit-Policy value as
// requests per second; 0 if it cannot.
func policyLimit(v string) float64 {
	first, _, _ := strings.Cut(v, ",")
	quota, window := math.NaN(), 1.0
	for i, part := range strings.Split(first, ";") {
		part = strings.TrimSpace(part)
		key, val, isParam := strings.Cut(part, "=")
		if !isParam {
			if i == 0 {
				if n, err := strconv.ParseFloat(part, 64); err == nil {
					quota = n
				}
			}
			continue
		}
		n, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			continue
		}
		switch strings.TrimSpace(key) {
		case "q":
			quota = n
		case "w":
			window = n
		}
	}
	if !(quota > 0) || !(window > 0) || math.IsInf(quota, 1) {
		return 0
	}
	return quota / window
}
