package main

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"sync/atomic"

	"github.com/backfillhq/backfill/importer"
	"github.com/backfillhq/backfill/readers"
	"github.com/backfillhq/backfill/sink"
	"github.com/backfillhq/backfill/sink/segment"
)

// readsStdin reports whether one of the sources is standard input, which
// cannot be read again: such an import keeps no checkpoint.
func readsStdin(sources []string) bool { return slices.Contains(sources, "-") }

// adviseAfterStop prints why an import stopped and the way forward that
// works for that cause: running the same command again only where it
// would resume and could succeed, and only when the checkpoint it resumes
// from was saved.
func adviseAfterStop(w io.Writer, err error, rep importer.Report, command []string, stdin bool) {
	const p = "backfill import: "
	resume := func(when string) {
		fmt.Fprintf(w, p+"the checkpoint %s is saved; to resume, run the same command again%s:\n  %s\n", rep.CheckpointPath, when, shellQuote(command))
	}
	switch {
	case errors.Is(err, importer.ErrCheckpointMismatch), errors.Is(err, importer.ErrCheckpointModified),
		errors.Is(err, importer.ErrLocked), errors.As(err, new(*importer.PrecheckError)):
		// Nothing was sent; the error says what to do.
		fmt.Fprintf(w, p+"%v\n", err)
		return
	case errors.Is(err, readers.ErrNeedsFile):
		// Read again from a pipe, it fails the same way.
		fmt.Fprintf(w, p+"%v\n", err)
		fmt.Fprintln(w, p+"save the input to a file and import that file instead")
		return
	case errors.As(err, new(*segment.UnreachableError)):
		// No retry could fix it: the endpoint is wrong, or not trusted.
		fmt.Fprintf(w, p+"%v; check --endpoint\n", err)
		if rep.CheckpointPath != "" {
			fmt.Fprintf(w, p+"the checkpoint %s keeps what was acknowledged; run the command again once the endpoint can be reached\n", rep.CheckpointPath)
		}
		return
	}
	fmt.Fprintf(w, p+"%v\n", err)
	switch {
	case errors.Is(err, importer.ErrTooManyRejects) && (rep.CheckpointPath == "" || rep.CheckpointSaved):
		budgetAdvice(w, err, rep, command)
	case rep.CheckpointPath == "" && stdin:
		fmt.Fprintln(w, p+"standard input cannot be read again: this import cannot resume; to import the rest, give the input again with the rows already delivered removed (messageIds derived from the content make rows sent twice arrive once, within about a day)")
	case rep.CheckpointPath == "":
		// --no-checkpoint or a preview: there is nothing to resume.
	case !rep.CheckpointSaved:
		fmt.Fprintf(w, p+"the checkpoint %s could not be written at the end; it holds what an earlier write recorded: once it can be written, run the same command again to resume from there (rows after it are sent again):\n  %s\n",
			rep.CheckpointPath, shellQuote(command))
	case errors.Is(err, readers.ErrChanged):
		resume(" once the file is no longer being written")
	case errors.Is(err, readers.ErrDamaged):
		fmt.Fprintf(w, p+"the checkpoint %s is saved; reading the file again gives the same error: to resume, run the same command again once it is replaced with a complete copy:\n  %s\n",
			rep.CheckpointPath, shellQuote(command))
		fmt.Fprintln(w, p+"or, to import the other sources without it, leave it out and add --restart (rows sent before are sent again)")
	case errors.Is(err, sink.ErrUnauthorized):
		resume(" once the write key is right")
		fmt.Fprintln(w, p+"check $SEGMENT_WRITE_KEY or --write-key-file, and --endpoint (a key of the EU region needs --endpoint eu)")
	default:
		resume("")
	}
}

// quitHint is what a second interrupt prints before the import quits at
// once: how to resume, or that it cannot.
func quitHint(cfg importer.Config, sources []string) string {
	switch {
	case readsStdin(sources):
		return "backfill: standard input cannot be read again: this import cannot resume"
	case cfg.CheckpointPath == "":
		return ""
	}
	return fmt.Sprintf("backfill: the checkpoint %s keeps what was acknowledged up to its last write; to resume, run the same command again:\n  %s",
		cfg.CheckpointPath, shellQuote(cfg.Command))
}

// quitMessage is the hint of the import under way, for the signal handler.
var quitMessage atomic.Pointer[string]

func setQuitHint(s string) { quitMessage.Store(&s) }

// currentQuitHint returns the hint set by setQuitHint, or "".
func currentQuitHint() string {
	if s := quitMessage.Load(); s != nil {
		return *s
	}
	return ""
}
