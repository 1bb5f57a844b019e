package importer

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// ErrTooManyRejects is wrapped by the error of a run stopped by its error
// budget (Config.MaxRejects or Config.MaxRejectRate).
var ErrTooManyRejects = errors.New("too many rejects")

// DefaultRejectWindow is the number of most recent rows MaxRejectRate is
// measured over.
const DefaultRejectWindow = 10_000

// ReasonCount is how often a reject reason occurred, with the first example.
type ReasonCount struct {
	Reason  string `json:"reason"`
	Count   int64  `json:"count"`
	Example string `json:"example"`
}

// reasons counts rejects by reason as they happen, keeping an example of
// each. Safe for concurrent use.
type reasons struct {
	mu sync.Mutex
	m  map[string]*ReasonCount
}

func (r *reasons) add(reason, example string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[string]*ReasonCount{}
	}
	c := r.m[reason]
	if c == nil {
		c = &ReasonCount{Reason: reason, Example: example}
		r.m[reason] = c
	}
	c.Count++
}

// top returns the n most frequent reasons, most frequent first.
func (r *reasons) top(n int) []ReasonCount {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]ReasonCount, 0, len(r.m))
	for _, c := range r.m {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Reason < out[j].Reason
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// describeReasons renders reasons for an error message.
func describeReasons(rs []ReasonCount) string {
	parts := make([]string, len(rs))
	for i, c := range rs {
		parts[i] = fmt.Sprintf("%s %d (e.g. %s)", c.Reason, c.Count, c.Example)
	}
	return strings.Join(parts, "; ")
}

// budget stops a run whose input is clearly wrong: more rejects in all than
// max, or a share of rejects above rate over the last window rows. It is
// used by the map stage only.
type budget struct {
	max    int64
	rate   float64
	window []bool // ring of the last rows: rejected or not
	next   int
	filled bool
	inWin  int
}

func newBudget(max int64, rate float64, window int) *budget {
	b := &budget{max: max, rate: rate}
	if rate > 0 {
		b.window = make([]bool, window)
	}
	return b
}

// row records one row read by the map stage, and whether it was rejected.
func (b *budget) row(rejected bool) {
	if b.window == nil {
		return
	}
	if b.window[b.next] {
		b.inWin--
	}
	b.window[b.next] = rejected
	if rejected {
		b.inWin++
	}
	b.next++
	if b.next == len(b.window) {
		b.next, b.filled = 0, true
	}
}

// check returns an error wrapping ErrTooManyRejects when the budget is
// spent; total is the count of rejects of the whole import so far.
func (b *budget) check(total int64, top func() []ReasonCount) error {
	if b.max > 0 && total > b.max {
		return fmt.Errorf("%w: %d rows rejected, more than --max-rejects %d; top reasons: %s",
			ErrTooManyRejects, total, b.max, describeReasons(top()))
	}
	if b.window != nil && b.filled {
		if share := float64(b.inWin) / float64(len(b.window)); share > b.rate {
			return fmt.Errorf("%w: %.1f%% of the last %d rows rejected, more than --max-reject-rate %.1f%%; top reasons: %s",
				ErrTooManyRejects, 100*share, len(b.window), 100*b.rate, describeReasons(top()))
		}
	}
	return nil
}

// topReasons returns the five most frequent reject reasons of this run.
func (r *run) topReasons() []ReasonCount { return r.reasons.top(5) }
