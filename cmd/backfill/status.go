package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
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
command that resumes it. Without arguments or --checkpoint, it shows every
checkpoint in .backfill/ under the working directory; each CHECKPOINT given
is a checkpoint file, a folder of them, a checkpoint kept in a bucket
(s3://BUCKET/KEY, gs://BUCKET/KEY, azblob://CONTAINER/KEY), or a folder of
them in a bucket (s3://BUCKET/PATH/, or s3://BUCKET/PATH where no object
has that key), whose objects named *.json directly in it are shown as a
local folder's files are.

The checkpoints of the shards of one import (named NAME.shard-K-of-N.json,
see import --shard), in a folder (local or in a bucket) or given as two or
more files, are shown together (one shard's checkpoint given alone, file
by file): each shard's state, rows and last write, a shard in progress
that has written nothing for 5 minutes marked as stalled or stopped, a
shard without a checkpoint marked as not started, and the sum of all.

Exit codes: 0 shown; 1 a checkpoint could not be read; 64 a wrong flag.`

// stalledAfter is how long a shard in progress may go without writing its
// checkpoint before status marks it as stalled or stopped: a running
// import writes it every second while batches are acknowledged.
const stalledAfter = 5 * time.Minute

// newStatusCommand returns "backfill status".
func newStatusCommand(stdout, stderr io.Writer) *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "status [flags] [CHECKPOINT|FOLDER]...",
		Short: "Show how far an import got, and how to resume it",
		Long:  statusAbout,
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := nonEmpty("checkpoint")(cmd.Flags()); err != nil {
				return err
			}
			for _, a := range args {
				if a == "" {
					return usagef("the checkpoint named is empty")
				}
				if importer.IsBucketURL(a) {
					continue
				}
				if _, err := os.Stat(a); errors.Is(err, fs.ErrNotExist) {
					return usagef("%s: no such checkpoint file or folder", a)
				}
			}
			if path != "" {
				if !importer.IsBucketURL(path) {
					if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
						return usagef("--checkpoint %s: no such checkpoint file", path)
					}
				}
				args = append([]string{path}, args...)
			}
			return codeErr(runStatus(cmd.Context(), args, time.Now(), stdout, stderr))
		},
	}
	cmd.Flags().StringVar(&path, "checkpoint", "", "the checkpoint `FILE` to show, or its object in a bucket (s3://, gs://, azblob://) (default: every checkpoint in .backfill/)")
	cmd.MarkFlagFilename("checkpoint", "json")
	return cmd
}

// statusPath is a checkpoint that status shows.
type statusPath struct {
	// read is where it is read from: a file, or an object's URL with the
	// query that reaches its store.
	read string
	// name is how it is shown: as given, or as listed in a folder (an
	// object's URL without the query).
	name string
	// listed is set for a checkpoint found in a folder.
	listed bool
}

// statusPaths lists the checkpoints that the arguments name: files and
// objects, and the checkpoints in folders, local or in a bucket; without
// arguments, those in .backfill/.
func statusPaths(ctx context.Context, args []string) ([]statusPath, error) {
	if len(args) == 0 {
		args = []string{importer.DefaultCheckpointDir}
	}
	var paths []statusPath
	for _, a := range args {
		if importer.IsBucketURL(a) {
			found, folder, err := importer.CheckpointsIn(ctx, a)
			if err != nil {
				return nil, err
			}
			if !folder {
				paths = append(paths, statusPath{read: a, name: a})
			}
			for _, f := range found {
				paths = append(paths, statusPath{read: f, name: importer.WithoutQuery(f), listed: true})
			}
			continue
		}
		fi, err := os.Stat(a)
		if err != nil && a == importer.DefaultCheckpointDir && len(args) == 1 {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			paths = append(paths, statusPath{read: a, name: a})
			continue
		}
		found, _ := filepath.Glob(filepath.Join(a, "*.json"))
		sort.Strings(found)
		for _, f := range found {
			paths = append(paths, statusPath{read: f, name: f, listed: true})
		}
	}
	return paths, nil
}

// shardFiles counts the checkpoints among paths of shards of the import
// whose checkpoint is base.
func shardFiles(paths []statusPath, base string) int {
	n := 0
	for _, p := range paths {
		if b, _, ok := importer.ParseShardCheckpointPath(p.name); ok && b == base {
			n++
		}
	}
	return n
}

// runStatus shows the checkpoints that args name, the shards of an
// import together (those in a folder, or two or more files of one
// import; a single shard's checkpoint file is shown file by file), and
// returns the exit code.
func runStatus(ctx context.Context, args []string, now time.Time, stdout, stderr io.Writer) int {
	paths, err := statusPaths(ctx, args)
	if err != nil {
		fmt.Fprintf(stderr, "backfill status: %v\n", err)
		return exitFailed
	}
	if len(paths) == 0 {
		if len(args) == 0 {
			fmt.Fprintf(stdout, "no checkpoints in %s/\n", importer.DefaultCheckpointDir)
		} else {
			fmt.Fprintf(stdout, "no checkpoints in %s\n", strings.Join(args, ", "))
		}
		return exitOK
	}
	code := exitOK
	var (
		order  []string // the imports and the checkpoints of no shard, in order
		groups = map[string][]shardCheckpoint{}
		single = map[string]*importer.Checkpoint{}
	)
	for _, p := range paths {
		cp, err := importer.ReadCheckpoint(ctx, p.read)
		if err != nil {
			fmt.Fprintf(stderr, "backfill status: %v\n", err)
			code = exitFailed
			continue
		}
		if base, s, ok := importer.ParseShardCheckpointPath(p.name); ok && cp.Options["shard"] != "" && (p.listed || shardFiles(paths, base) > 1) {
			if _, seen := groups[base]; !seen {
				order = append(order, base)
			}
			groups[base] = append(groups[base], shardCheckpoint{path: p.name, shard: s, cp: cp})
			continue
		}
		order = append(order, p.name)
		single[p.name] = cp
	}
	for i, p := range order {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		if cp, ok := single[p]; ok {
			printStatus(stdout, p, cp)
			continue
		}
		printShards(stdout, p, groups[p], now)
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
	if r := f.Range; r != nil && r.End > r.Start {
		return fmt.Sprintf("%.1f%%", 100*float64(f.Resume.Offset-r.Start)/float64(r.End-r.Start))
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
	name := f.Path
	if f.Range != nil {
		name = fmt.Sprintf("%s (%s)", f.Path, f.Range.String(f.Format))
	}
	if f.Status == importer.StatusPartial && f.Resume != nil {
		return fmt.Sprintf("%s (resumes at row %d, byte %d)", name, f.Resume.Row, f.Resume.Offset)
	}
	return name
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
