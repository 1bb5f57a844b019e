package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// countLines counts the lines of a file as it grows.
func countLines(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return bytes.Count(b, []byte{'\n'})
}

// runKilled runs the import and, once the receiver holds more messages
// than it did when the import started and at least target, sends it sig.
// It returns the exit code and whether the signal was sent before the
// import ended by itself.
func runKilled(t *testing.T, bin string, args []string, dir, received string, target int, sig syscall.Signal) (code int, killed bool) {
	t.Helper()
	before := countLines(received)
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SEGMENT_WRITE_KEY=crash-key")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return exitCodeOf(t, err, stderr.String()), false
		case <-tick.C:
			// A message of this run arrived: it is past its signal set-up.
			if n := countLines(received); n > before && n >= target {
				cmd.Process.Signal(sig)
				err := <-done
				return exitCodeOf(t, err, stderr.String()), true
			}
		}
	}
}

// TestRandomKills kills or interrupts an import of 200,000 rows at random
// moments, ten times, then resumes it to the end. It depends on timing, so
// it runs only with BACKFILL_RANDOM_KILLS=1 (make crash), never in make
// test: TestCrashPoints tests each crash point deterministically.
func TestRandomKills(t *testing.T) {
	if os.Getenv("BACKFILL_RANDOM_KILLS") == "" {
		t.Skip("set BACKFILL_RANDOM_KILLS=1 (make crash) to kill imports at random moments")
	}
	for _, tc := range []struct {
		name string
		sig  syscall.Signal
	}{
		{"SIGKILL", syscall.SIGKILL},
		{"SIGINT", syscall.SIGINT},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bin := binary(t)
			dir := t.TempDir()
			sources, mapping, rows := crashInput(t, dir, 50_000)
			url, received, stopServe := serveProcess(t, bin, dir)
			const (
				batch       = 500
				concurrency = 2
				inFlight    = 8 * concurrency // the importer's default cap, in batches
			)
			rejectsPath := filepath.Join(dir, "rejects.ndjson")
			writeFile(t, rejectsPath, []byte(earlierReject))
			args := append([]string{"import", "--endpoint", url, "--mapping", mapping, "--progress", "never",
				"--max-batch-messages", fmt.Sprint(batch), "--concurrency", fmt.Sprint(concurrency), "--rate", "100000",
				"--rejects", rejectsPath, "--report", filepath.Join(dir, "report.json")}, sources...)

			seed := uint64(time.Now().UnixNano())
			t.Logf("seed %d", seed)
			rng := rand.New(rand.NewPCG(seed, uint64(tc.sig)))
			kills, runs := 0, 0
			for range 10 {
				target := countLines(received) + 1 + rng.IntN(len(rows.want)/10)
				code, killed := runKilled(t, bin, args, dir, received, target, tc.sig)
				runs++
				if !killed {
					if code != exitRejects {
						t.Fatalf("run %d ended by itself with %d, want %d", runs, code, exitRejects)
					}
					break
				}
				kills++
				if tc.sig == syscall.SIGINT && code != exitInterrupted && code != exitRejects {
					t.Fatalf("run %d: SIGINT gave exit code %d, want %d", runs, code, exitInterrupted)
				}
			}
			// Resume until finished.
			for {
				code, _ := runKilled(t, bin, args, dir, received, 1<<62, tc.sig)
				runs++
				if code == exitRejects {
					break
				}
				if runs > 30 {
					t.Fatalf("not finished after %d runs (last exit %d)", runs, code)
				}
			}
			stopServe()

			dups := checkArrivals(t, received, rows.want)
			checkRejectsOnce(t, rejectsPath, rows.bad, earlierReject)
			rep := readReport(t, filepath.Join(dir, "report.json"))
			if rep.RowsRead != int64(len(rows.want)+len(rows.bad)) || rep.Delivered != int64(len(rows.want)) || rep.Rejected != int64(len(rows.bad)) {
				t.Fatalf("final report %+v, want %d read, %d delivered, %d rejected", rep, len(rows.want)+len(rows.bad), len(rows.want), len(rows.bad))
			}
			t.Logf("%s: %d kills over %d runs, %d duplicates (%.0f a kill; the cap is %d rows in flight)",
				tc.name, kills, runs, dups, float64(dups)/float64(max(kills, 1)), inFlight*batch)
			if tc.sig == syscall.SIGINT && dups != 0 {
				t.Fatalf("%d duplicates after SIGINT, want none", dups)
			}
			if dups > kills*inFlight*batch {
				t.Fatalf("%d duplicates after %d kills: more than the %d rows that can be in flight a kill", dups, kills, inFlight*batch)
			}
		})
	}
}
