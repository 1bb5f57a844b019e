package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
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

// rateResult is one import against a limited receiver.
type rateResult struct {
	limit  int
	stated bool
	binary string
	wall   time.Duration
	rep    rateReport
}

// accepted is the requests the receiver accepted a second, over the
// import's time.
func (r rateResult) accepted() float64 { return float64(r.rep.Batches) / r.wall.Seconds() }

// rateSection imports rows Segment messages with --rate -1 into "backfill
// serve --discard --max-rps N" for each limit, with the limit stated in
// the answers and hidden, by bin and, if set, by baseline (the receiver is
// always bin's), and prints the accepted requests a second against the
// limit.
func rateSection(ctx context.Context, w io.Writer, bin, baseline, dir string, rows int, limits []int) error {
	segment := kinds[0]
	fs, err := generate(dir, rows, []inputKind{segment}, false, 1)
	if err != nil {
		return err
	}
	source := fs.plain[segment.key]
	bins := []string{bin}
	if baseline != "" {
		bins = append(bins, baseline)
	}
	var results []rateResult
	for _, limit := range limits {
		for _, stated := range []bool{true, false} {
			for _, b := range bins {
				res, err := rateRun(ctx, bin, b, dir, source, rows, limit, stated)
				if err != nil {
					return err
				}
				fmt.Fprintf(os.Stderr, "rate: %s, limit %d, stated %t: %d requests, %d accepted in %.1fs\n",
					b, limit, stated, res.rep.Requests, res.rep.Batches, res.wall.Seconds())
				results = append(results, res)
			}
		}
	}
	printRateTable(w, bin, rows, results)
	return nil
}

// printRateTable prints the results of the rate section; bin is the new
// binary.
func printRateTable(w io.Writer, bin string, rows int, results []rateResult) {
	fmt.Fprintf(w, "Against a rate limit: %s Segment messages imported with --rate -1 into backfill serve --discard --max-rps N\n", thousands(int64(rows)))
	t := &table{header: []string{"limit", "limit stated", "binary", "requests", "429s", "accepted req/s", "of the limit", "paused", "time"},
		right: []bool{true, false, false, true, true, true, true, true, true}}
	for _, r := range results {
		name := "new"
		if r.binary != bin {
			name = "baseline"
		}
		stated := "no"
		if r.stated {
			stated = "yes"
		}
		t.add(strconv.Itoa(r.limit)+" req/s", stated, name, thousands(r.rep.Requests), thousands(r.rep.Throttled),
			fmt.Sprintf("%.1f", r.accepted()), percent(r.accepted()/float64(r.limit)),
			fmt.Sprintf("%.1f s", r.rep.PausedSeconds), fmt.Sprintf("%.1f s", r.wall.Seconds()))
	}
	t.print(w)
}

// rateRun runs one import by importBin into a receiver of bin limited to
// limit requests a second.
func rateRun(ctx context.Context, bin, importBin, dir, source string, rows, limit int, stated bool) (rateResult, error) {
	res := rateResult{limit: limit, stated: stated, binary: importBin}
	urlFile := filepath.Join(dir, "bench-rate.url")
	os.Remove(urlFile)
	args := []string{"serve", "--addr", "127.0.0.1:0", "--discard", "--url-file", urlFile, "--max-rps", strconv.Itoa(limit)}
	if !stated {
		args = append(args, "--hide-limit")
	}
	rcv := &receiver{}
	rcv.cmd = exec.Command(bin, args...)
	rcv.cmd.Stdout, rcv.cmd.Stderr = &rcv.out, &rcv.out
	if err := rcv.cmd.Start(); err != nil {
		return res, err
	}
	rcv.waitc = make(chan error, 1)
	go func() { rcv.waitc <- rcv.cmd.Wait() }()
	defer rcv.stop()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if b, err := os.ReadFile(urlFile); err == nil && len(b) > 0 && b[len(b)-1] == '\n' {
			rcv.url = string(b[:len(b)-1])
			break
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("backfill serve --max-rps did not listen within 10s\n%s", tail(rcv.out.Bytes(), 2000))
		}
	}
	reportPath := filepath.Join(dir, "bench-rate-report.json")
	os.Remove(reportPath)
	cmd := exec.CommandContext(ctx, importBin, "import", "--progress", "never", "--rate", "-1", "--no-checkpoint",
		"--rejects", filepath.Join(dir, "bench-rate.rejects.ndjson"), "--report", reportPath,
		"--endpoint", rcv.url, source)
	cmd.Env = append(os.Environ(), "SEGMENT_WRITE_KEY=bench-write-key")
	start := time.Now()
	out, err := cmd.CombinedOutput()
	res.wall = time.Since(start)
	if err != nil {
		return res, fmt.Errorf("%s import into serve --max-rps %d: %w\n%s", importBin, limit, err, tail(out, 2000))
	}
	b, err := os.ReadFile(reportPath)
	if err != nil {
		return res, err
	}
	if err := json.Unmarshal(b, &res.rep); err != nil {
		return res, fmt.Errorf("%s: %w", reportPath, err)
	}
	if !res.rep.Complete || res.rep.Delivered != int64(rows) {
		return res, fmt.Errorf("import into serve --max-rps %d: %d of %d rows delivered, complete %t (%s)", limit, res.rep.Delivered, rows, res.rep.Complete, res.rep.Error)
	}
	return res, nil
}
