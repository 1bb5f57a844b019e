package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	segmentreceiver "github.com/backfillhq/backfill/sink/receiver"
)

// rateReport holds the fields of the import's JSON report that the rate
// section reads.
type rateReport struct {
	report
	Batches       int64   `json:"batches"`
	Requests      int64   `json:"requests"`
	Throttled     int64   `json:"throttled"`
	CurrentRate   float64 `json:"current_rate"`
	FoundLimit    float64 `json:"found_limit"`
	PausedSeconds float64 `json:"paused_seconds"`
}

// rateRampUp is the start of an import against a limit that the rate
// section leaves out of its steady state: the time within which the rate
// control is to have found the limit.
const rateRampUp = 10 * time.Second

// rateBatchMessages caps the batches of the rate section's imports
// (--max-batch-messages), so that a run of many requests needs few rows.
const rateBatchMessages = 100

// rateRows returns the rows an import of the rate section sends against
// limit: enough, at the limit, for the ramp-up, steady and the second
// that the end cuts short; or rows if set. An import accepted below the
// limit runs longer.
func rateRows(rows, limit int, steady time.Duration) int {
	if rows > 0 {
		return rows
	}
	return int((rateRampUp + steady + time.Second).Seconds() * float64(limit*rateBatchMessages))
}

// rateResult is one import against a limited receiver.
type rateResult struct {
	limit  int
	stated bool
	binary string
	wall   time.Duration
	rep    rateReport
	// perSecond are the requests the receiver accepted in each second
	// from the import's start.
	perSecond []int64
}

// accepted is the requests the receiver accepted a second, over the
// import's time.
func (r rateResult) accepted() float64 { return float64(r.rep.Batches) / r.wall.Seconds() }

// steady is the requests the receiver accepted a second after the
// ramp-up, over the whole seconds from then to the last one (which the
// end of the import cuts short); NaN if the run had none.
func (r rateResult) steady() (perSecond float64, seconds int) {
	from := int(rateRampUp / time.Second)
	to := len(r.perSecond) - 1 // the last second is partial
	if to <= from {
		return math.NaN(), 0
	}
	var n int64
	for _, c := range r.perSecond[from:to] {
		n += c
	}
	return float64(n) / float64(to-from), to - from
}

// acceptedCounter counts, by the second since start, the requests a
// handler answered with a success.
type acceptedCounter struct {
	next http.Handler
	now  func() time.Time // nil: time.Now

	mu        sync.Mutex
	start     time.Time
	perSecond []int64
}

// begin starts the count afresh at now.
func (c *acceptedCounter) begin(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.start, c.perSecond = now, nil
}

// counts returns the requests accepted in each second since begin.
func (c *acceptedCounter) counts() []int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int64(nil), c.perSecond...)
}

func (c *acceptedCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w}
	c.next.ServeHTTP(sw, r)
	if sw.status != 0 && sw.status != http.StatusOK {
		return
	}
	now := time.Now()
	if c.now != nil {
		now = c.now()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.start.IsZero() || now.Before(c.start) {
		return
	}
	s := int(now.Sub(c.start) / time.Second)
	for len(c.perSecond) <= s {
		c.perSecond = append(c.perSecond, 0)
	}
	c.perSecond[s]++
}

// statusWriter records the status of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// rateSection imports Segment messages with --rate -1 into a receiver
// limited to N requests a second (sink/receiver with MaxRPS, as backfill
// serve --discard --max-rps N runs it) for each limit, with the limit
// stated in the answers and hidden, by bin and, if set, by baseline, and
// prints the accepted requests a second against the limit: over the whole
// import, and in the steady state after the ramp-up. Each import sends
// rows messages, or (rows 0) enough for steady at the limit.
func rateSection(ctx context.Context, w io.Writer, bin, baseline, dir string, rows int, steady time.Duration, limits []int) error {
	segment := kinds[0]
	bins := []string{bin}
	if baseline != "" {
		bins = append(bins, baseline)
	}
	var results []rateResult
	for _, limit := range limits {
		n := rateRows(rows, limit, steady)
		fs, err := generate(dir, n, []inputKind{segment}, false, 1)
		if err != nil {
			return err
		}
		source := fs.plain[segment.key]
		for _, stated := range []bool{true, false} {
			for _, b := range bins {
				res, err := rateRun(ctx, b, dir, source, n, limit, stated)
				if err != nil {
					return err
				}
				per, secs := res.steady()
				fmt.Fprintf(os.Stderr, "rate: %s, limit %d, stated %t: %d requests, %d accepted in %.1fs; %.1f a second over the %d s after the first %s\n",
					b, limit, stated, res.rep.Requests, res.rep.Batches, res.wall.Seconds(), per, secs, rateRampUp)
				results = append(results, res)
			}
		}
	}
	printRateTable(w, bin, rows, steady, results)
	return nil
}

// printRateTable prints the results of the rate section; bin is the new
// binary.
func printRateTable(w io.Writer, bin string, rows int, steady time.Duration, results []rateResult) {
	size := fmt.Sprintf("enough Segment messages for %s at the limit after the first %s", steady, rateRampUp)
	if rows > 0 {
		size = thousands(int64(rows)) + " Segment messages"
	}
	fmt.Fprintf(w, "Against a rate limit: %s imported with --rate -1 --max-batch-messages %d into a receiver that accepts N requests a second (backfill serve --discard --max-rps N); steady: the whole seconds after the first %s\n", size, rateBatchMessages, rateRampUp)
	t := &table{header: []string{"limit", "limit stated", "binary", "rows", "requests", "429s", "accepted req/s", "of the limit", "steady req/s", "steady, of the limit", "paused", "time"},
		right: []bool{true, false, false, true, true, true, true, true, true, true, true, true}}
	for _, r := range results {
		name := "new"
		if r.binary != bin {
			name = "baseline"
		}
		stated := "no"
		if r.stated {
			stated = "yes"
		}
		per, secs := r.steady()
		steadyRate, steadyShare := "-", "-"
		if secs > 0 {
			steadyRate = fmt.Sprintf("%.1f (%d s)", per, secs)
			steadyShare = percent(per / float64(r.limit))
		}
		t.add(strconv.Itoa(r.limit)+" req/s", stated, name, thousands(r.rep.RowsRead), thousands(r.rep.Requests), thousands(r.rep.Throttled),
			fmt.Sprintf("%.1f", r.accepted()), percent(r.accepted()/float64(r.limit)),
			steadyRate, steadyShare,
			fmt.Sprintf("%.1f s", r.rep.PausedSeconds), fmt.Sprintf("%.1f s", r.wall.Seconds()))
	}
	t.print(w)
}

// rateRun runs one import by importBin into a receiver limited to limit
// requests a second, counting the requests it accepts each second.
func rateRun(ctx context.Context, importBin, dir, source string, rows, limit int, stated bool) (rateResult, error) {
	res := rateResult{limit: limit, stated: stated, binary: importBin}
	rcv := segmentreceiver.New(segmentreceiver.Config{Discard: true, MaxRPS: limit, HideLimit: !stated})
	counter := &acceptedCounter{next: rcv}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return res, err
	}
	srv := &http.Server{Handler: counter, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()

	reportPath := filepath.Join(dir, "bench-rate-report.json")
	os.Remove(reportPath)
	cmd := exec.CommandContext(ctx, importBin, "import", "--progress", "never", "--rate", "-1", "--no-checkpoint",
		"--max-batch-messages", strconv.Itoa(rateBatchMessages),
		"--rejects", filepath.Join(dir, "bench-rate.rejects.ndjson"), "--report", reportPath,
		"--endpoint", "http://"+ln.Addr().String(), source)
	cmd.Env = append(os.Environ(), "SEGMENT_WRITE_KEY=bench-write-key")
	start := time.Now()
	counter.begin(start)
	out, err := cmd.CombinedOutput()
	res.wall = time.Since(start)
	res.perSecond = counter.counts()
	if err != nil {
		return res, fmt.Errorf("%s import into a receiver limited to %d requests a second: %w\n%s", importBin, limit, err, tail(out, 2000))
	}
	b, err := os.ReadFile(reportPath)
	if err != nil {
		return res, err
	}
	if err := json.Unmarshal(b, &res.rep); err != nil {
		return res, fmt.Errorf("%s: %w", reportPath, err)
	}
	if !res.rep.Complete || res.rep.Delivered != int64(rows) {
		return res, fmt.Errorf("import into a receiver limited to %d requests a second: %d of %d rows delivered, complete %t (%s)", limit, res.rep.Delivered, rows, res.rep.Complete, res.rep.Error)
	}
	return res, nil
}
