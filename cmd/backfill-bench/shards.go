package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// shardsMinShare is the target of the shards section: n shard processes
// at once import at least 90 % of one process's --stub rate in total. On
// a machine of two cores, that checks that sharding costs nothing, not
// that it scales.
const shardsMinShare = 0.90

// shardsSection imports a file of rows Segment messages with --stub as
// one process, and as n shard processes at once (the file cut into n
// byte ranges), runs times, alternating which goes first, and prints the
// best rate of each and the median of the paired ratios.
func shardsSection(ctx context.Context, w io.Writer, bin, dir string, rows, runs, n int) error {
	segment := kinds[0]
	fs, err := generate(dir, rows, []inputKind{segment}, false, 1)
	if err != nil {
		return err
	}
	source := fs.plain[segment.key]
	var one, all []time.Duration
	var ratios, cpuRatios []float64
	for run := range runs {
		var a, b, aCPU, bCPU time.Duration
		first, second := func() error { a, aCPU, err = shardsRun(ctx, bin, dir, source, rows, 1); return err },
			func() error { b, bCPU, err = shardsRun(ctx, bin, dir, source, rows, n); return err }
		if run%2 == 1 {
			first, second = second, first
		}
		if err := first(); err != nil {
			return err
		}
		if err := second(); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "shards: run %d: one process %.2fs, %d shards %.2fs\n", run+1, a.Seconds(), n, b.Seconds())
		one, all = append(one, a), append(all, b)
		ratios = append(ratios, a.Seconds()/b.Seconds())
		cpuRatios = append(cpuRatios, aCPU.Seconds()/bCPU.Seconds())
	}
	rate := func(d time.Duration) string { return thousands(int64(float64(rows)/d.Seconds())) + " events/s" }
	fmt.Fprintf(w, "Shards: %s Segment messages through import --stub, as one process and as %d shard processes at once (--shard K/%d, the file cut into %d byte ranges)\n",
		thousands(int64(rows)), n, n, n)
	t := &table{header: []string{"", "best time", "rate in total", "target"}, right: []bool{false, true, true, false}}
	t.add("one process", fmt.Sprintf("%.2f s", slices.Min(one).Seconds()), rate(slices.Min(one)), "")
	share := median(ratios)
	verdict := "ok"
	if share < shardsMinShare {
		verdict = "MISSED"
	}
	t.add(fmt.Sprintf("%d shards at once", n), fmt.Sprintf("%.2f s", slices.Min(all).Seconds()), rate(slices.Min(all)),
		fmt.Sprintf("%s of one process (median of %d paired runs; want at least %s): %s", percent(share), len(ratios), percent(shardsMinShare), verdict))
	t.print(w)
	fmt.Fprintf(w, "CPU time: the %d shards take %s of one process's CPU time in total (median; a share above 100 %% would mean sharding saves work), which load from elsewhere on the machine disturbs less than the rate\n",
		n, percent(1/median(cpuRatios)))
	return nil
}

// shardsRun imports source as n shard processes at once (one process
// without shards if n is 1) and returns the time from the start of the
// first to the end of the last, and the CPU time (user and system) of
// all, once the shards' reports say that every row was delivered once.
func shardsRun(ctx context.Context, bin, dir, source string, rows, n int) (wall, cpu time.Duration, err error) {
	reportPath := filepath.Join(dir, "bench-shards-report.json")
	args := func(k int) []string {
		a := []string{"import", "--progress", "never", "--rate", "-1", "--stub", "--no-checkpoint",
			"--rejects", filepath.Join(dir, "bench-shards.rejects.ndjson"), "--report", reportPath}
		if n > 1 {
			a = append(a, "--shard", fmt.Sprintf("%d/%d", k, n), "--shard-split-bytes", "1")
		}
		return append(a, source)
	}
	reports := []string{reportPath}
	if n > 1 {
		reports = reports[:0]
		ext := filepath.Ext(reportPath)
		for k := range n {
			reports = append(reports, fmt.Sprintf("%s.shard-%d-of-%d%s", strings.TrimSuffix(reportPath, ext), k, n, ext))
		}
	}
	for _, p := range reports {
		os.Remove(p)
	}
	errs := make([]error, n)
	cpus := make([]time.Duration, n)
	var wg sync.WaitGroup
	start := time.Now()
	for k := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.CommandContext(ctx, bin, args(k)...)
			cmd.Env = append(os.Environ(), "SEGMENT_WRITE_KEY=bench-write-key")
			out, err := cmd.CombinedOutput()
			if err != nil {
				errs[k] = fmt.Errorf("%s %s: %w\n%s", bin, strings.Join(args(k), " "), err, tail(out, 2000))
				return
			}
			cpus[k] = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		}()
	}
	wg.Wait()
	wall = time.Since(start)
	for k, err := range errs {
		if err != nil {
			return 0, 0, err
		}
		cpu += cpus[k]
	}
	var delivered int64
	for _, p := range reports {
		b, err := os.ReadFile(p)
		if err != nil {
			return 0, 0, err
		}
		var rep report
		if err := json.Unmarshal(b, &rep); err != nil {
			return 0, 0, fmt.Errorf("%s: %w", p, err)
		}
		if !rep.Complete || rep.Rejected != 0 {
			return 0, 0, fmt.Errorf("%s: complete %t, %d rejected (%s)", p, rep.Complete, rep.Rejected, rep.Error)
		}
		delivered += rep.Delivered
	}
	if delivered != int64(rows) {
		return 0, 0, fmt.Errorf("%d shards of %s delivered %d rows, want %d", n, source, delivered, rows)
	}
	return wall, cpu, nil
}
