package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/backfillhq/backfill/importer"
)

const rejectsAbout = `Sums up a rejects file: how many rows were rejected, from which files and
by which runs, and for each reason how many, with the first as an example
(file, row, error). Each import keeps its rejects in a file of its own,
beside its checkpoint (the summary of the import and "backfill status" name
it).

With --write-rows DIR, it also writes the rejected rows back out into DIR,
one file per source file, in the source's format, so that they can be fixed
and imported again with the same mapping and flags:
  CSV      the rows as they were read, under the source's header line
  NDJSON   the lines as they were read (a .json array's elements, one a line)
  Parquet  one JSON object of the row's columns a line (see the README for
           how Parquet types map to JSON)
Each file is named after its source (a.csv.gz becomes a.csv, b.parquet
becomes b.ndjson); a file that exists in DIR is never overwritten. Messages
the destination refused, and rows too long to have been kept whole
(line_too_long), cannot be written back as rows: they are counted, and must
be fixed in the source. With content-derived messageIds (a mapping without
messageId), importing the fixed rows sends only them: the rows delivered
before have other ids.

Exit codes: 0 done; 1 the rejects file cannot be read, or DIR not written;
64 a wrong flag.`

// rejectsOptions are the flags of "backfill rejects".
type rejectsOptions struct {
	dir, run string
	asJSON   bool
}

// newRejectsCommand returns "backfill rejects".
func newRejectsCommand(stdout, stderr io.Writer) *cobra.Command {
	var o rejectsOptions
	cmd := &cobra.Command{
		Use:   "rejects [flags] FILE",
		Short: "Sum up a rejects file; write its rows back out to fix them",
		Long:  rejectsAbout,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return syntaxf("name one rejects FILE (an import's summary and \"backfill status\" name it)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := nonEmpty("write-rows", "run")(cmd.Flags()); err != nil {
				return err
			}
			return codeErr(runRejects(args[0], o, stdout, stderr))
		},
	}
	fs := cmd.Flags()
	fs.SortFlags = false
	fs.StringVar(&o.dir, "write-rows", "", "write the rejected rows back out into the folder `DIR`, one file per source file, in the source's format")
	fs.StringVar(&o.run, "run", "", "only the rejects of the run with this `ID` (the run id of the import's summary and report)")
	fs.BoolVar(&o.asJSON, "json", false, "print the summary as JSON")
	cmd.MarkFlagDirname("write-rows")
	return cmd
}

// runRejects sums up the rejects file at path, and writes its rows back
// out with --write-rows; it returns the exit code.
func runRejects(path string, o rejectsOptions, stdout, stderr io.Writer) int {
	sum, err := importer.ReadRejects(path, o.run, nil)
	if err != nil {
		fmt.Fprintf(stderr, "backfill rejects: %v\n", err)
		return exitFailed
	}
	if o.asJSON && o.dir == "" {
		b, _ := json.MarshalIndent(sum, "", "  ")
		fmt.Fprintf(stdout, "%s\n", b)
		return exitOK
	}
	if !o.asJSON {
		printRejectsSummary(stdout, path, sum)
	}
	if o.dir == "" {
		return exitOK
	}
	files, skipped, err := importer.WriteRejectedRows(path, o.run, o.dir)
	if o.asJSON {
		b, _ := json.MarshalIndent(struct {
			importer.RejectsSummary
			Written    []importer.RowsFile     `json:"written"`
			NotWritten importer.RowsNotWritten `json:"not_written"`
		}{sum, files, skipped}, "", "  ")
		fmt.Fprintf(stdout, "%s\n", b)
	} else {
		printRowsWritten(stdout, o.dir, files, skipped)
	}
	if err != nil {
		fmt.Fprintf(stderr, "backfill rejects: %v\n", err)
		return exitFailed
	}
	return exitOK
}

func printRejectsSummary(w io.Writer, path string, sum importer.RejectsSummary) {
	if sum.Lines == 0 {
		fmt.Fprintf(w, "%s: no rejects\n", path)
		return
	}
	fmt.Fprintf(w, "%s: %d %s from %d %s, written by %d %s (%s)\n", path, sum.Lines, plural(int(sum.Lines), "reject", "rejects"),
		len(sum.Files), plural(len(sum.Files), "file", "files"), len(sum.Runs), plural(len(sum.Runs), "run", "runs"), runList(sum.Runs))
	for _, r := range sum.Reasons {
		fmt.Fprintf(w, "  %8d  %s\n", r.Count, r.Reason)
		fmt.Fprintf(w, "            e.g. %s row %d: %s\n", r.Example.File, r.Example.Row, r.Example.Error)
	}
	for _, f := range sum.Files {
		fmt.Fprintf(w, "  %8d  from %s\n", f.Count, f.File)
	}
}

func printRowsWritten(w io.Writer, dir string, files []importer.RowsFile, skipped importer.RowsNotWritten) {
	for _, f := range files {
		fmt.Fprintf(w, "wrote %d %s of %s to %s (%s)\n", f.Rows, plural(int(f.Rows), "row", "rows"), f.Source, f.Path, f.Format)
	}
	if skipped.Messages > 0 {
		fmt.Fprintf(w, "not written: %d %s the destination refused (the rejects file holds the message, not its row): fix them in the source\n",
			skipped.Messages, plural(int(skipped.Messages), "message", "messages"))
	}
	if skipped.Incomplete > 0 {
		fmt.Fprintf(w, "not written: %d %s too long to be kept whole (line_too_long): fix them in the source, or raise --max-line-bytes\n",
			skipped.Incomplete, plural(int(skipped.Incomplete), "row", "rows"))
	}
	if skipped.Repeated > 0 {
		fmt.Fprintf(w, "%d %s in the rejects file more than once, written once\n", skipped.Repeated, plural(int(skipped.Repeated), "row is", "rows are"))
	}
	if len(files) > 0 {
		fmt.Fprintf(w, "fix the rows in %s, then import them with the same mapping and flags:\n  backfill import [the same flags] %s\n", dir, dir)
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// runList lists run ids for people; a line written before lines carried
// one shows as "no id".
func runList(runs []string) string {
	names := make([]string, len(runs))
	for i, r := range runs {
		names[i] = r
		if r == "" {
			names[i] = "no id"
		}
	}
	return strings.Join(names, ", ")
}
