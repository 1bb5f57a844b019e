package importer

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/backfillhq/backfill/mappings"
	"github.com/backfillhq/backfill/sink"
)

// ErrTooManyRejects is wrapped by the error of a run stopped by its error
// budget (Config.MaxRejects or Config.MaxRejectRate): a *BudgetError.
var ErrTooManyRejects = errors.New("too many rejects")

// The error budget's defaults.
const (
	// DefaultMaxRejectRate is the share of rejected rows above which a run
	// stops: more than half of them.
	DefaultMaxRejectRate = 0.5
	// DefaultRejectWindow is the number of most recent rows MaxRejectRate is
	// measured over.
	DefaultRejectWindow = 10_000
	// DefaultRejectWindowMin is the number of rows a run reads before
	// MaxRejectRate applies: a run whose first 1,000 rows are all rejected
	// stops there.
	DefaultRejectWindowMin = 1_000
	// NoRejects, as Config.MaxRejects, stops a run at its first reject.
	NoRejects int64 = -1
)

// BudgetError is the error of a run stopped by its error budget. It wraps
// ErrTooManyRejects.
type BudgetError struct {
	// Rejected is the count of rejected rows of the import when it stopped
	// (earlier runs of a resumed import included).
	Rejected int64
	// MaxRejects is the limit Rejected went over, 0 when the rate stopped
	// the run.
	MaxRejects int64
	// Rows and InWindow say, when the rate stopped the run, over how many
	// of the run's rows the share was measured and how many of them were
	// rejected; First is set when those were the run's first rows.
	Rows, InWindow int
	First          bool
	// MaxRejectRate is the share the rejects went over.
	MaxRejectRate float64
	// Top are the most frequent reasons, with an example each.
	Top []ReasonCount
	// Hint says what most often causes such rejects, when one of the
	// common causes fits: no mapping, or timestamps without a zone.
	Hint string
}

// Error says which limit was passed, the top reasons with an example each,
// and the hint, one a line.
func (e *BudgetError) Error() string {
	var b strings.Builder
	if e.MaxRejects != 0 {
		limit := fmt.Sprintf("more than --max-rejects %d allows", e.MaxRejects)
		if e.MaxRejects < 0 {
			limit = "and --max-rejects 0 allows none"
		}
		fmt.Fprintf(&b, "%s: %s rejected, %s; the import stopped", ErrTooManyRejects, rowCount(e.Rejected), limit)
	} else {
		which := fmt.Sprintf("of the last %d rows", e.Rows)
		if e.First {
			which = fmt.Sprintf("of the first %d rows", e.Rows)
		}
		fmt.Fprintf(&b, "%s: %d %s were rejected (%s), more than --max-reject-rate %s allows; the import stopped",
			ErrTooManyRejects, e.InWindow, which, percent(float64(e.InWindow)/float64(e.Rows)), percent(e.MaxRejectRate))
	}
	if len(e.Top) > 0 {
		b.WriteString("; top reasons:")
		for _, c := range e.Top {
			fmt.Fprintf(&b, "\n  %s: %s, e.g. %s", c.Reason, rowCount(c.Count), c.Example)
		}
	}
	if e.Hint != "" {
		fmt.Fprintf(&b, "\n  hint: %s", e.Hint)
	}
	return b.String()
}

// rowCount says how many rows: "1 row", "2 rows".
func rowCount(n int64) string {
	if n == 1 {
		return "1 row"
	}
	return fmt.Sprintf("%d rows", n)
}

// Unwrap returns ErrTooManyRejects.
func (e *BudgetError) Unwrap() error { return ErrTooManyRejects }

// percent renders a share as a percentage to two decimals, without the
// zeros a fraction ends in.
func percent(share float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", 100*share), "0"), ".") + "%"
}

// ReasonCount is how often a reject reason occurred, with the first example.
type ReasonCount struct {
	Reason  string `json:"reason"`
	Count   int64  `json:"count"`
	Example string `json:"example"`
}

// reasons counts rejects by reason as they happen, keeping an example of
// each, and counts the rejects of timestamps without a zone, the cause a
// hint names. Safe for concurrent use.
type reasons struct {
	mu     sync.Mutex
	m      map[string]*ReasonCount
	noZone int64
}

func (r *reasons) add(reason string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[string]*ReasonCount{}
	}
	c := r.m[reason]
	if c == nil {
		c = &ReasonCount{Reason: reason, Example: err.Error()}
		r.m[reason] = c
	}
	c.Count++
	if errors.Is(err, mappings.ErrNoZone) {
		r.noZone++
	}
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

// The hints for the common causes of a run whose rows are mostly rejected.
const (
	hintNoMapping = "no --mapping was given, so each row must already be a Segment message " +
		"(type, timestamp, and userId or anonymousId, as Segment's archives hold them); " +
		"for any other data write a mapping (backfill presets lists some to start from) and add --mapping FILE"
	hintNoZoneSpec = "the timestamps have no zone (no Z, no offset such as +01:00): say which zone they are in " +
		"with timezone: under the mapping's timestamp: (an IANA name such as Europe/Berlin, or UTC)"
	hintNoZonePassthrough = "the timestamps have no zone (no Z, no offset such as +01:00), and a Segment message " +
		"passed through must carry its own: add the zone to the values (2023-11-14T22:13:20Z for UTC), " +
		"or write a mapping whose timestamp: reads them with timezone: and add --mapping FILE"
)

// notAMessage are the reasons of rows that are not Segment messages at
// all, when they are passed through: no type, no timestamp, no id.
var notAMessage = map[string]bool{
	sink.ReasonInvalidType: true, sink.ReasonMissingTimestamp: true,
	sink.ReasonMissingID: true, sink.ReasonMissingEvent: true,
}

// hint returns the hint for the rejects of the run so far, "" when none
// of the common causes fits: at least half of the rejects are of
// timestamps without a zone, or, without a mapping, of rows that are no
// Segment messages.
func (r *reasons) hint(passthrough bool) string {
	r.mu.Lock()
	var total, shapeless int64
	for _, c := range r.m {
		total += c.Count
		if notAMessage[c.Reason] {
			shapeless += c.Count
		}
	}
	noZone := r.noZone
	r.mu.Unlock()
	switch {
	case total == 0:
		return ""
	case 2*noZone >= total && passthrough:
		return hintNoZonePassthrough
	case 2*noZone >= total:
		return hintNoZoneSpec
	case passthrough && 2*shapeless >= total:
		return hintNoMapping
	}
	return ""
}

// budget stops a run whose input is clearly wrong: more rejects in all
// than max, or a share of rejects above rate, measured over every row of
// the import so far (earlier runs of a resumed import included) until the
// run has read window rows, once there are minRows, then over the run's
// last window rows. It is used by the assemble stage only.
type budget struct {
	max     int64   // 0: no limit; negative: none allowed
	rate    float64 // negative: no limit
	minRows int
	window  []bool // ring of the last rows: rejected or not
	next    int
	seen    int // rows in the ring
	inWin   int // rejected rows in the ring
	total   int // rows recorded
	// rows0 and rejected0 are the rows and rejects of the earlier runs
	// of a resumed import.
	rows0, rejected0 int64
}

func newBudget(max int64, rate float64, window, minRows int) *budget {
	b := &budget{max: max, rate: rate, minRows: min(minRows, window)}
	if rate >= 0 && rate < 1 {
		b.window = make([]bool, window)
	}
	return b
}

// row records one row of the run, and whether it was rejected.
func (b *budget) row(rejected bool) {
	if b.window == nil {
		return
	}
	b.total++
	if b.seen == len(b.window) && b.window[b.next] {
		b.inWin--
	}
	b.window[b.next] = rejected
	if rejected {
		b.inWin++
	}
	b.seen = min(b.seen+1, len(b.window))
	b.next++
	if b.next == len(b.window) {
		b.next = 0
	}
}

// check returns a *BudgetError when the budget is spent; total is the
// count of rejects of the whole import so far.
func (b *budget) check(total int64) *BudgetError {
	if b.max != 0 && total > max(b.max, 0) {
		return &BudgetError{Rejected: total, MaxRejects: b.max}
	}
	if b.window == nil {
		return nil
	}
	rows, rejected, first := int64(b.seen), int64(b.inWin), false
	if b.total <= len(b.window) {
		rows, rejected, first = b.rows0+rows, b.rejected0+rejected, true
	}
	if rows >= int64(max(b.minRows, 1)) && float64(rejected) > b.rate*float64(rows) {
		return &BudgetError{Rejected: total, Rows: int(rows), InWindow: int(rejected), First: first, MaxRejectRate: b.rate}
	}
	return nil
}
