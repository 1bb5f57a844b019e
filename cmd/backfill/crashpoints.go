//go:build crashpoints

package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/backfillhq/backfill/importer"
	"github.com/backfillhq/backfill/readers"
)

// This file is part of the command only in builds with the tag crashpoints,
// which the crash tests make: with BACKFILL_CRASH_AT=POINT:N:ACTION in the
// environment, an import stops the N-th time it reaches the crash point
// POINT (see importer/crashpoint.go) by ACTION:
//
//	kill              SIGKILL to itself: it dies there, buffers unwritten
//	interrupt         SIGINT to itself, then it waits there until the
//	                  handler has cancelled the import: a graceful stop
//	interrupt-twice   the same, then a second SIGINT: it quits at once
//
// With BACKFILL_APPEND_AT_END=TEXT, the first time a reader reaches the
// end a source file had when it was opened, TEXT is appended to the file,
// as by a program still writing it.
func init() {
	if text := os.Getenv("BACKFILL_APPEND_AT_END"); text != "" {
		var once sync.Once
		readers.SetFileEndHook(func(path string) {
			once.Do(func() {
				f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
				if err == nil {
					_, err = f.WriteString(text)
					if cerr := f.Close(); err == nil {
						err = cerr
					}
				}
				if err != nil {
					fmt.Fprintf(os.Stderr, "backfill: BACKFILL_APPEND_AT_END: %v\n", err)
					os.Exit(exitFailed)
				}
			})
		})
	}
	spec := os.Getenv("BACKFILL_CRASH_AT")
	if spec == "" {
		return
	}
	parts := strings.Split(spec, ":")
	nth, err := 0, error(nil)
	if len(parts) == 3 {
		nth, err = strconv.Atoi(parts[1])
	}
	if len(parts) != 3 || err != nil || nth < 1 {
		fmt.Fprintf(os.Stderr, "backfill: BACKFILL_CRASH_AT is %q, want POINT:N:ACTION\n", spec)
		os.Exit(exitUsage)
	}
	point, action := parts[0], parts[2]
	switch action {
	case "kill", "interrupt", "interrupt-twice":
	default:
		fmt.Fprintf(os.Stderr, "backfill: BACKFILL_CRASH_AT: unknown action %q\n", action)
		os.Exit(exitUsage)
	}
	var hits atomic.Int64
	importer.SetCrashHook(func(p string) {
		if p != point || hits.Add(1) != int64(nth) {
			return
		}
		self := os.Getpid()
		switch action {
		case "kill":
			syscall.Kill(self, syscall.SIGKILL)
			select {}
		case "interrupt":
			syscall.Kill(self, syscall.SIGINT)
			<-stopping
		case "interrupt-twice":
			syscall.Kill(self, syscall.SIGINT)
			<-stopping
			syscall.Kill(self, syscall.SIGINT)
			select {}
		}
	})
}
