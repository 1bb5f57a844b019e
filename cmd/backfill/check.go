package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/backfillhq/backfill/importer"
	"github.com/backfillhq/backfill/mappings"
	"github.com/backfillhq/backfill/sink"
)

const checkAbout = `Shows what an import would send, without sending anything: the first rows
beside the messages mapped from them (as pretty JSON), then a scan of the
whole input with the counts of what would be delivered, rejected and
filtered, and the most frequent reject reasons with an example each. It
writes no rejects file and no checkpoint.

First, as an import does, it checks the mapping against every source: a
column a CSV header or Parquet schema lacks, a column that collides with a
key the mapping writes, and a column that occurs in none of the first
1000 NDJSON rows (unless listed under optional:) are each named, with the
closest column that does exist ("did you mean user_id?").

Exit codes: 0 nothing would be rejected; 2 some rows would be; 64 the
mapping is invalid or does not fit the data, or a flag is wrong; 1 the
check could not run (an unreadable or corrupt file).`

// newCheckCommand returns "backfill check".
func newCheckCommand(stdout, stderr io.Writer) *cobra.Command {
	var in inputFlags
	var rows int
	cmd := &cobra.Command{
		Use:   "check [flags] SOURCE...",
		Short: "Show what an import would send, and what it would reject",
		Long:  checkAbout,
		Args:  needSources,
		RunE: func(cmd *cobra.Command, sources []string) error {
			if err := in.validate(cmd.Flags()); err != nil {
				return err
			}
			if rows < 0 {
				return usagef("--rows is %d, want 0 or more", rows)
			}
			return codeErr(runCheck(cmd.Context(), &in, rows, sources, stdout, stderr))
		},
	}
	cmd.Flags().SortFlags = false
	in.register(cmd.Flags())
	cmd.Flags().IntVar(&rows, "rows", 5, "how many rows (`N`) to show beside their messages")
	in.complete(cmd)
	return cmd
}

// runCheck runs a check with validated flags and returns the exit code.
func runCheck(ctx context.Context, in *inputFlags, rows int, sources []string, stdout, stderr io.Writer) int {
	// A check counts every row: no error budget stops it.
	cfg := importer.Config{Sources: sources, Sink: sink.NewStubSink(), DiscardRejects: true, SampleRows: rows, MaxRejectRate: -1}
	if err := in.apply(&cfg); err != nil {
		fmt.Fprintf(stderr, "backfill check: %v\n", err)
		return exitUsage
	}
	cfg.Reader.BrokenLink = warnBrokenLink("check", stderr)
	if rows > 0 {
		cfg.Sample = func(s importer.Sample) { printSample(stdout, s) }
	}
	rep, err := importer.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "backfill check: %v\n", err)
		return exitCode(err)
	}
	files := "files"
	if rep.Files == 1 {
		files = "file"
	}
	fmt.Fprintf(stdout, "== %d rows in %d %s: %d would be sent, %d rejected, %d filtered\n",
		rep.RowsRead, rep.Files, files, rep.Delivered, rep.Rejected, rep.Filtered)
	if len(rep.FilteredByRule) > 0 {
		fmt.Fprintln(stdout, "== filtered by drop rule:")
		for _, rule := range sortedRules(rep.FilteredByRule) {
			fmt.Fprintf(stdout, "  %-20s %8d\n", rule, rep.FilteredByRule[rule])
		}
	}
	if rep.FilteredNoMessage > 0 {
		fmt.Fprintf(stdout, "== filtered as no message (every when of messages: false): %d\n", rep.FilteredNoMessage)
	}
	if m := rep.Messages; m != nil {
		fmt.Fprintf(stdout, "== messages: %d would be sent, %d rejected, %d not made (when false or outside the time window)\n",
			m.Delivered, m.Rejected, m.Filtered)
	}
	if len(rep.TopReasons) > 0 {
		fmt.Fprintln(stdout, "== reject reasons, most frequent first:")
		for _, r := range rep.TopReasons {
			fmt.Fprintf(stdout, "  %-20s %8d  e.g. %s\n", r.Reason, r.Count, r.Example)
		}
	}
	if rep.Hint != "" {
		fmt.Fprintf(stdout, "== hint: %s\n", rep.Hint)
	}
	if rep.Rejected > 0 {
		return exitRejects
	}
	return exitOK
}

// printSample shows a row beside what it became.
func printSample(w io.Writer, s importer.Sample) {
	fmt.Fprintf(w, "── %s\n", s.Pos)
	raw := s.Raw
	if !utf8.Valid(raw) {
		raw = bytes.ToValidUTF8(raw, []byte("\uFFFD"))
	}
	fmt.Fprintf(w, "row:     %s\n", strings.TrimRight(string(raw), "\r\n"))
	if s.Message == nil {
		fmt.Fprintf(w, "outcome: %s\n\n", outcome(s.Err))
		return
	}
	if len(s.Messages) > 1 {
		// A mapping of several messages per row: each, numbered.
		for i, msg := range s.Messages {
			fmt.Fprintf(w, "message %d of %d: %s\n", i+1, len(s.Messages), indentJSON(msg, "                "))
		}
		fmt.Fprintln(w)
		return
	}
	fmt.Fprintf(w, "message: %s\n\n", indentJSON(s.Message, "         "))
}

// indentJSON returns a message as pretty JSON, its lines after the first
// indented by prefix.
func indentJSON(msg []byte, prefix string) string {
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, msg, prefix, "  "); err != nil {
		return string(msg)
	}
	return pretty.String()
}

// outcome says why a row has no message: the drop rule that filtered it,
// or the reason it was rejected with the error, which names the field
// and, for an expression that failed, the expression and its line.
func outcome(err error) string {
	if errors.Is(err, mappings.ErrFiltered) {
		if rule := mappings.FilterRule(err); rule != "" {
			return fmt.Sprintf("filtered by drop rule %q", rule)
		}
		return fmt.Sprintf("filtered: %v", err)
	}
	var r interface{ RejectReason() string }
	if errors.As(err, &r) {
		return fmt.Sprintf("rejected (%s): %v", r.RejectReason(), err)
	}
	return fmt.Sprintf("rejected: %v", err)
}

// sortedRules returns the drop rules of counts, the most frequent first,
// then by name.
func sortedRules(counts map[string]int64) []string {
	rules := make([]string, 0, len(counts))
	for k := range counts {
		rules = append(rules, k)
	}
	sort.Slice(rules, func(i, j int) bool {
		if counts[rules[i]] != counts[rules[j]] {
			return counts[rules[i]] > counts[rules[j]]
		}
		return rules[i] < rules[j]
	})
	return rules
}
