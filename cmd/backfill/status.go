package main

import (
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/backfillhq/backfill/importer"
)

const statusAbout = `Shows how far an import got: for each source file whether it is done,
partial (with where it resumes) or pending, the totals so far, and the
command that resumes it. Without --checkpoint, it lists every checkpoint in
.backfill/ under the working directory.

Exit codes: 0 shown; 1 a checkpoint could not be read; 64 a wrong flag.`

// newStatusCommand returns "backfill status".
func newStatusCommand(stdout, stderr io.Writer) *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "status [flags]",
		Short: "Show how far an import got, and how to resume it",
		Long:  statusAbout,
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := nonEmpty("checkpoint")(cmd.Flags()); err != nil {
				return err
			}
			return codeErr(runStatus(path, stdout, stderr))
		},
	}
	cmd.Flags().StringVar(&path, "checkpoint", "", "the checkpoint `FILE` to show (default: every checkpoint in .backfill/)")
	cmd.MarkFlagFilename("checkpoint", "json")
	return cmd
}

// runStatus shows the checkpoint at path, or every one in .backfill/, and
// returns the exit code.
func runStatus(path string, stdout, stderr io.Writer) int {
	paths := []string{path}
	if path == "" {
		paths, _ = filepath.Glob(filepath.Join(importer.DefaultCheckpointDir, "*.json"))
		sort.Strings(paths)
		if len(paths) == 0 {
			fmt.Fprintf(stdout, "no checkpoints in %s/\n", importer.DefaultCheckpointDir)
			return exitOK
		}
	}
	code := exitOK
	for i, p := range paths {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		cp, err := importer.LoadCheckpoint(p)
		if err != nil {
			fmt.Fprintf(stderr, "backfill status: %v\n", err)
			code = exitFailed
			continue
		}
		printStatus(stdout, p, cp)
	}
	return code
}

func printStatus(w io.Writer, path string, cp *importer.Checkpoint) {
	state := "in progress"
	if cp.Complete {
		state = "complete"
	}
	if cp.Preview {
		state += " (a preview: --dry-run, --output or --stub; nothing was sent to Segment)"
	}
	fmt.Fprintf(w, "checkpoint %s: %s, started %s, last written %s\n", path, state,
		cp.Started.Format(time.RFC3339), cp.Updated.Format(time.RFC3339))
	dest, label := destinationOf(cp)
	if dest != "" {
		fmt.Fprintf(w, "  destination: %s\n", dest)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  status\tdone\trows\t%s\trejected\tfiltered\tfile\n", label)
	for _, f := range cp.Files {
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%d\t%d\t%s\n", f.Status, percent(f), f.Read, f.Delivered, f.Rejected, f.Filtered, describeFile(f))
	}
	tw.Flush()
	t := cp.Totals
	fmt.Fprintf(w, "  total: %d rows settled: %d %s, %d rejected, %d filtered\n", t.Read, t.Delivered, label, t.Rejected, t.Filtered)
	if len(t.FilteredByRule) > 0 {
		rules := sortedRules(t.FilteredByRule)
		parts := make([]string, len(rules))
		for i, r := range rules {
			parts[i] = fmt.Sprintf("%s %d", r, t.FilteredByRule[r])
		}
		fmt.Fprintf(w, "  filtered by drop rule: %s\n", strings.Join(parts, ", "))
	}
	if t.FilteredNoMessage > 0 {
		fmt.Fprintf(w, "  filtered as no message (every when of messages: false): %d\n", t.FilteredNoMessage)
	}
	if m := t.Messages; m != nil {
		fmt.Fprintf(w, "  messages: %s %d, rejected %d, not made %d (when false or outside the time window)\n", label, m.Delivered, m.Rejected, m.Filtered)
	}
	if cp.RejectsFile != "" && t.Rejected > 0 {
		fmt.Fprintf(w, "  rejects: %s (see them with: backfill rejects %s)\n", cp.RejectsFile, shellQuote([]string{cp.RejectsFile}))
	}
	if !cp.Complete && len(cp.Command) > 0 {
		if cp.Dir != "" {
			fmt.Fprintf(w, "  to resume, run in %s:\n    %s\n", cp.Dir, shellQuote(cp.Command))
		} else {
			fmt.Fprintf(w, "  to resume, run from the same folder:\n    %s\n", shellQuote(cp.Command))
		}
	}
}

// percent is how much of a file is settled: by bytes for plain text files,
// where the resume offset says it exactly.
func percent(f importer.CheckpointFile) string {
	switch f.Status {
	case importer.StatusDone:
		return "100%"
	case importer.StatusPending:
		return "0%"
	}
	if f.Resume == nil || f.Size == 0 || compressed(f.Path) || f.Format == "parquet" {
		return "?"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(f.Resume.Offset)/float64(f.Size))
}

func compressed(path string) bool {
	for _, ext := range []string{".gz", ".gzip", ".zst", ".zstd", ".bz2"} {
		if strings.HasSuffix(strings.ToLower(path), ext) {
			return true
		}
	}
	return false
}

func describeFile(f importer.CheckpointFile) string {
	if f.Status == importer.StatusPartial && f.Resume != nil {
		return fmt.Sprintf("%s (resumes at row %d, byte %d)", f.Path, f.Resume.Row, f.Resume.Offset)
	}
	return f.Path
}

// destinationOf describes where the import of cp sends its messages, and
// the word for the rows it took, that of its summary: a preview's rows
// are written or would be sent.
func destinationOf(cp *importer.Checkpoint) (dest, label string) {
	d := cp.Options["destination"]
	switch {
	case d == "stub":
		return "none (--stub)", "would send"
	case d == "stdout":
		return "stdout (--dry-run)", "written"
	case strings.HasPrefix(d, "file "):
		return strings.TrimPrefix(d, "file ") + " (--output)", "written"
	case strings.HasPrefix(d, "segment "):
		return strings.TrimPrefix(d, "segment "), "delivered"
	}
	return d, "delivered"
}
