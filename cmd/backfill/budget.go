package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/backfillhq/backfill/importer"
)

// applyBudget validates the error budget's flags and sets them in cfg.
// --max-rejects: -1 no limit (the default), 0 none allowed, N at most N.
// --max-reject-rate: a percentage above 0 and up to 100 (which never
// stops), or -1 for no limit; 50 by default.
func (f *importFlags) applyBudget(cfg *importer.Config) error {
	switch {
	case f.maxRejects < -1:
		return fmt.Errorf("--max-rejects is %d, want -1 (no limit), 0 (none allowed) or more", f.maxRejects)
	case f.maxRejects == -1:
		cfg.MaxRejects = 0
	case f.maxRejects == 0:
		cfg.MaxRejects = importer.NoRejects
	default:
		cfg.MaxRejects = f.maxRejects
	}
	switch r := f.maxRejectRate; {
	case r == -1 || r == 100:
		cfg.MaxRejectRate = -1
	case !(r > 0 && r < 100):
		return fmt.Errorf("--max-reject-rate is %g, want a percentage above 0 and up to 100, or -1 for no limit (--max-rejects 0 allows no reject at all)", r)
	default:
		cfg.MaxRejectRate = r / 100
	}
	return nil
}

// deliveredLabel is the word for the rows whose messages the sink took:
// previews send nothing.
func (f *importFlags) deliveredLabel() string {
	switch {
	case f.dryRun || f.output != "":
		return "written"
	case f.stub:
		return "would send"
	}
	return "delivered"
}

// budgetAdvice says, after the error budget stopped an import, where the
// rejects are and the two ways on: fix the cause and start again, or
// resume with the budget lifted.
func budgetAdvice(w io.Writer, err error, rep importer.Report, command []string) {
	var be *importer.BudgetError
	if !errors.As(err, &be) {
		return
	}
	switch {
	case rep.RejectsFile == "" || rep.Rejected == 0:
	case rep.Rejected == 1:
		fmt.Fprintf(w, "backfill import: the rejected row is in %s, with its reason\n", rep.RejectsFile)
	default:
		fmt.Fprintf(w, "backfill import: the %d rejected rows are in %s, each with its reason\n", rep.Rejected, rep.RejectsFile)
	}
	if rep.CheckpointPath == "" || len(command) == 0 {
		fmt.Fprintln(w, "backfill import: fix the cause (the mapping, or the data), check it with backfill check, and import again")
		return
	}
	fmt.Fprintln(w, "backfill import: fix the cause (the mapping, or the data), check it with backfill check, and import again with --restart")
	lift := "--max-reject-rate=-1"
	if be.MaxRejects != 0 {
		lift = "--max-rejects=-1"
	}
	resume := append(append([]string(nil), command...), lift)
	fmt.Fprintf(w, "backfill import: or, if these rows are to be rejected, resume where it stopped (checkpoint %s) without the limit:\n  %s\n",
		rep.CheckpointPath, shellQuote(resume))
}
