// Command backfill imports historical event data into Segment.
//
//	backfill import [flags] SOURCE...   read, map, batch and send
//	backfill rejects [flags] FILE       sum up a rejects file, write its rows back out
//	backfill serve [flags]              run a local Segment-compatible receiver
//	backfill version                    print the version
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/backfillhq/backfill/importer"
	"github.com/backfillhq/backfill/sink"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailed  = 1
	exitRejects = 2
	// exitBudget: the error budget stopped the import (too many rows
	// rejected, --max-rejects or --max-reject-rate); the rows read are
	// settled, the rest unread.
	exitBudget      = 3
	exitUsage       = 64
	exitInterrupted = 130
)

const usage = `backfill imports historical event data into Segment.

Usage:
  backfill import [flags] SOURCE...   read CSV/NDJSON/Parquet files, map rows to messages, send them
  backfill check [flags] SOURCE...    show what an import would send, and what it would reject
  backfill status [--checkpoint FILE] show how far an import got, and how to resume it
  backfill rejects [flags] FILE       sum up a rejects file; write its rows back out to fix them
  backfill presets [NAME]             list the built-in mappings, or print one to copy
  backfill serve [flags]              run a local Segment-compatible receiver
  backfill version                    print the version

Run "backfill COMMAND --help" for the flags of a command.

Exit codes: 0 every row delivered; 2 finished, some rows rejected (see the
rejects file); 3 stopped by the error budget (too many rows rejected); 1
failed, or another run holds the checkpoint or the rejects file (nothing
was sent); 130 interrupted; 64 bad usage, or a mapping that does not fit
the data (nothing was sent).
`

func main() {
	// Signals first: an interrupt that came before the handler would kill
	// the process instead of stopping it.
	ctx := handleSignals()
	tuneGC()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// stopping is closed once the first SIGINT or SIGTERM has cancelled the
// command's context; nil before handleSignals.
var stopping chan struct{}

// handleSignals returns the command's context. The first SIGINT or SIGTERM
// cancels it, so that the command stops gracefully (an import writes its
// checkpoint and exits 130); a second one exits at once with 130 (a
// checkpoint on disk stays valid, only less recent), saying how to resume.
func handleSignals() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	stopping = make(chan struct{})
	go func() {
		<-sigs
		cancel()
		close(stopping)
		fmt.Fprintln(os.Stderr, "backfill: stopping; interrupt again to quit at once")
		<-sigs
		fmt.Fprintln(os.Stderr, "backfill: quitting at once")
		if hint := currentQuitHint(); hint != "" {
			fmt.Fprintln(os.Stderr, hint)
		}
		os.Exit(exitInterrupted)
	}()
	return ctx
}

// tuneGC makes the memory limit, 192 MiB, the garbage collector's only
// trigger. An import's live heap is a few tens of megabytes, so the
// default target collects hundreds of times per million rows; collecting
// only when the heap reaches the limit spends that time importing instead,
// and keeps the process's peak memory the same (about 210 MB) however
// large the input. GOGC and GOMEMLIMIT in the environment take precedence;
// with a GOMEMLIMIT of its own (which may be off), the target is 400 %
// unless GOGC says otherwise.
func tuneGC() {
	gogc := os.Getenv("GOGC") == ""
	if os.Getenv("GOMEMLIMIT") != "" {
		if gogc {
			debug.SetGCPercent(400)
		}
		return
	}
	debug.SetMemoryLimit(192 << 20)
	if gogc {
		debug.SetGCPercent(-1)
	}
}

// run executes one command line and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "import":
		return runImport(ctx, args[1:], stdout, stderr)
	case "check":
		return runCheck(ctx, args[1:], stdout, stderr)
	case "presets":
		return runPresets(args[1:], stdout, stderr)
	case "status":
		return runStatus(args[1:], stdout, stderr)
	case "rejects":
		return runRejects(ctx, args[1:], stdout, stderr)
	case "serve":
		return runServe(ctx, args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintf(stdout, "backfill %s\n", sink.Version)
		return exitOK
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "backfill: unknown command %q\n\n%s", args[0], usage)
		return exitUsage
	}
}

// exitCode maps the outcome of a command to the process exit code.
func exitCode(err error) int {
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.Is(err, importer.ErrTooManyRejects):
		return exitBudget
	case errors.As(err, new(*importer.PrecheckError)):
		// The mapping does not fit the data: nothing was sent.
		return exitUsage
	case errors.Is(err, importer.ErrLocked):
		// Another run holds the checkpoint or the rejects file: nothing
		// was read or sent, and the message names that run.
		return exitFailed
	default:
		return exitFailed
	}
}
