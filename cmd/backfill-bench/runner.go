package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// runnerArg, as the only argument, makes the command a runner.
const runnerArg = "-internal-runner"

// A runner is a small process that starts the measured commands and
// reports how long each ran, the CPU time it used and its peak RSS.
//
// The peak RSS a parent reads for a child on Linux (ru_maxrss) is at
// least the parent's own peak at the time it started the child: exec keeps
// the high-water mark of the memory it replaces. The bench generates and
// reads large files, so its own peak is large; the runner, started before
// any of that, stays small, and the children it starts report their own
// peak.
type runner struct {
	mu   sync.Mutex
	cmd  *exec.Cmd
	in   io.WriteCloser
	enc  *json.Encoder
	dec  *json.Decoder
	dead error
}

type runRequest struct {
	Args []string // the command and its arguments
	Env  []string // added to the runner's environment
}

type runResponse struct {
	Wall   time.Duration
	CPU    time.Duration // user + system
	MaxRSS int64         // bytes
	Err    string        // why the command failed, if it did
	Output string        // the end of its stdout and stderr
}

// startRunner starts the runner process.
func startRunner() (*runner, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, runnerArg)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &runner{cmd: cmd, in: in, enc: json.NewEncoder(in), dec: json.NewDecoder(out)}, nil
}

// run runs one command in the runner and waits for it. If ctx ends first,
// the runner is stopped, and with it the command.
func (r *runner) run(ctx context.Context, req runRequest) (runResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dead != nil {
		return runResponse{}, r.dead
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			r.cmd.Process.Kill()
		case <-done:
		}
	}()
	var resp runResponse
	err := r.enc.Encode(req)
	if err == nil {
		err = r.dec.Decode(&resp)
	}
	if err != nil {
		r.dead = fmt.Errorf("runner: %w", err)
		if ctx.Err() != nil {
			r.dead = ctx.Err()
		}
		return resp, r.dead
	}
	if resp.Err != "" {
		return resp, errors.New(resp.Err)
	}
	return resp, nil
}

// close ends the runner.
func (r *runner) close() error {
	r.in.Close()
	return r.cmd.Wait()
}

// runnerMain serves requests from stdin, one at a time, until stdin ends.
func runnerMain() int {
	dec := json.NewDecoder(os.Stdin)
	enc := json.NewEncoder(os.Stdout)
	for {
		var req runRequest
		if err := dec.Decode(&req); err != nil {
			if err == io.EOF {
				return 0
			}
			fmt.Fprintln(os.Stderr, "backfill-bench runner:", err)
			return 1
		}
		if err := enc.Encode(runOne(req)); err != nil {
			fmt.Fprintln(os.Stderr, "backfill-bench runner:", err)
			return 1
		}
	}
}

func runOne(req runRequest) runResponse {
	if len(req.Args) == 0 {
		return runResponse{Err: "no command"}
	}
	cmd := exec.Command(req.Args[0], req.Args[1:]...)
	cmd.Env = append(os.Environ(), req.Env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var out tailBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	resp := runResponse{Wall: time.Since(start), Output: out.String()}
	if cmd.ProcessState != nil {
		resp.CPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			resp.MaxRSS = int64(ru.Maxrss) * 1024 // kilobytes on Linux
		}
	}
	if err != nil {
		resp.Err = err.Error()
	}
	return resp
}

// tailBuffer keeps the last 4 KiB written to it.
type tailBuffer struct {
	mu sync.Mutex
	b  []byte
}

const tailBytes = 4 << 10

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > 2*tailBytes {
		t.b = append(t.b[:0], t.b[len(t.b)-tailBytes:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.TrimSpace(t.b[max(0, len(t.b)-tailBytes):]))
}
