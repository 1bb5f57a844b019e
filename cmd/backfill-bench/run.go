package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// importRun is one run of "backfill import" as a subprocess.
type importRun struct {
	bin      string
	dir      string // for the rejects, report and checkpoint files
	source   string
	mapping  string // "" for passthrough
	rows     int
	endpoint string // "" for --stub
	// checkpoint keeps a checkpoint (a fresh one, written every second, the
	// default); otherwise --no-checkpoint.
	checkpoint bool
	cpuProfile string
	// env is added to the import's environment.
	env []string
}

// importResult is what one run measured.
type importResult struct {
	wall   time.Duration
	cpu    time.Duration // user + system time of the import process
	maxRSS int64         // bytes: the process's peak resident set (VmHWM)
}

func (r importResult) eventsPerSecond(rows int) float64 { return float64(rows) / r.wall.Seconds() }

// report holds the fields of the import's JSON report that the bench checks.
type report struct {
	RowsRead  int64  `json:"rows_read"`
	Delivered int64  `json:"delivered"`
	Rejected  int64  `json:"rejected"`
	Filtered  int64  `json:"filtered"`
	Complete  bool   `json:"complete"`
	Error     string `json:"error"`
}

// args returns the command line of the run, without the binary.
func (r importRun) args() []string {
	reportPath := filepath.Join(r.dir, "bench-report.json")
	a := []string{"import", "--progress", "never", "--rate", "-1",
		"--rejects", filepath.Join(r.dir, "bench.rejects.ndjson"), "--report", reportPath}
	if r.endpoint == "" {
		a = append(a, "--stub")
	} else {
		a = append(a, "--endpoint", r.endpoint)
	}
	if r.checkpoint {
		a = append(a, "--checkpoint", filepath.Join(r.dir, "bench-checkpoint.json"))
	} else {
		a = append(a, "--no-checkpoint")
	}
	if r.mapping != "" {
		a = append(a, "--mapping", r.mapping)
	}
	if r.cpuProfile != "" {
		a = append(a, "--cpuprofile", r.cpuProfile)
	}
	return append(a, r.source)
}

// run imports the source through rn and checks that every row was
// delivered.
func (r importRun) run(ctx context.Context, rn *runner) (importResult, error) {
	reportPath := filepath.Join(r.dir, "bench-report.json")
	for _, p := range []string{reportPath, filepath.Join(r.dir, "bench-checkpoint.json"), filepath.Join(r.dir, "bench.rejects.ndjson")} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return importResult{}, err
		}
	}
	resp, err := rn.run(ctx, runRequest{
		Args: append([]string{r.bin}, r.args()...),
		Env:  append([]string{"SEGMENT_WRITE_KEY=bench-write-key"}, r.env...),
	})
	if err != nil {
		return importResult{}, fmt.Errorf("%s %s: %w\n%s", r.bin, strings.Join(r.args(), " "), err, resp.Output)
	}
	res := importResult{wall: resp.Wall, cpu: resp.CPU, maxRSS: resp.MaxRSS}
	b, err := os.ReadFile(reportPath)
	if err != nil {
		return res, fmt.Errorf("%s: the report: %w", r.bin, err)
	}
	var rep report
	if err := json.Unmarshal(b, &rep); err != nil {
		return res, fmt.Errorf("%s: the report %s: %w", r.bin, reportPath, err)
	}
	if !rep.Complete || rep.RowsRead != int64(r.rows) || rep.Delivered != int64(r.rows) {
		return res, fmt.Errorf("%s: import of %s: %d rows read, %d delivered, %d rejected, %d filtered, complete %t (%s), want all %d delivered\n%s",
			r.bin, r.source, rep.RowsRead, rep.Delivered, rep.Rejected, rep.Filtered, rep.Complete, rep.Error, r.rows, resp.Output)
	}
	return res, nil
}

// tail returns the last n bytes of b, as text.
func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}

// receiver is "backfill serve" running as a subprocess on 127.0.0.1,
// checking what it receives and writing it to /dev/null, or with
// --discard, not even checking it.
type receiver struct {
	cmd   *exec.Cmd
	url   string
	out   bytes.Buffer
	waitc chan error // receives the result of cmd.Wait
}

// startReceiver starts "backfill serve" (with --discard if discard) and
// waits until it listens.
func startReceiver(ctx context.Context, bin, dir string, discard bool) (*receiver, error) {
	urlFile := filepath.Join(dir, fmt.Sprintf("bench-receiver-%t.url", discard))
	os.Remove(urlFile)
	r := &receiver{}
	args := []string{"serve", "--addr", "127.0.0.1:0", "--out", os.DevNull, "--url-file", urlFile}
	if discard {
		args = append(args, "--discard")
	}
	r.cmd = exec.Command(bin, args...)
	return r.start(ctx, urlFile, "backfill serve")
}

// start starts r.cmd, a server that writes the URL it listens on to
// urlFile, and waits until it listens; what names it in errors.
func (r *receiver) start(ctx context.Context, urlFile, what string) (*receiver, error) {
	r.cmd.Stdout, r.cmd.Stderr = &r.out, &r.out
	if err := r.cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- r.cmd.Wait() }()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		if b, err := os.ReadFile(urlFile); err == nil && bytes.HasSuffix(b, []byte("\n")) {
			r.url = strings.TrimSpace(string(b))
			r.waitc = exited
			return r, nil
		}
		select {
		case <-ctx.Done():
			r.cmd.Process.Kill()
			<-exited
			return nil, ctx.Err()
		case err := <-exited:
			return nil, fmt.Errorf("%s ended before listening: %v\n%s", what, err, tail(r.out.Bytes(), 2000))
		case <-deadline.C:
			r.cmd.Process.Kill()
			<-exited
			return nil, fmt.Errorf("%s did not listen within 10s\n%s", what, tail(r.out.Bytes(), 2000))
		case <-tick.C:
		}
	}
}

// cpu returns the user and system time the receiver has used so far, read
// from /proc/<pid>/stat.
func (r *receiver) cpu() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", r.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// The fields after the command name, which is in parentheses and may
	// hold spaces: state is field 3, utime 14 and stime 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", r.cmd.Process.Pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", r.cmd.Process.Pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", r.cmd.Process.Pid, err)
	}
	const clockTicks = 100 // USER_HZ, 100 on every Linux architecture Go supports
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// stop interrupts the receiver and waits for it to end.
func (r *receiver) stop() error {
	if err := r.cmd.Process.Signal(os.Interrupt); err != nil {
		return err
	}
	select {
	case err := <-r.waitc:
		if err != nil {
			return fmt.Errorf("backfill serve: %w\n%s", err, tail(r.out.Bytes(), 2000))
		}
		return nil
	case <-time.After(15 * time.Second):
		r.cmd.Process.Kill()
		return fmt.Errorf("backfill serve did not stop within 15s of SIGINT")
	}
}
