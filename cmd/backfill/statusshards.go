package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/backfillhq/backfill/importer"
)

// shardCheckpoint is the checkpoint of one shard of an import.
type shardCheckpoint struct {
	path  string
	shard importer.Shard
	cp    *importer.Checkpoint
}

// printShards shows the checkpoints of the shards of the import whose
// checkpoint path is base: each shard's state, counts and last write,
// the shards without a checkpoint, and the sum.
func printShards(w io.Writer, base string, shards []shardCheckpoint, now time.Time) {
	slices.SortFunc(shards, func(a, b shardCheckpoint) int {
		if a.shard.Count != b.shard.Count {
			return a.shard.Count - b.shard.Count
		}
		return a.shard.Index - b.shard.Index
	})
	counts := map[int]bool{}
	for _, s := range shards {
		counts[s.shard.Count] = true
	}
	count := shards[len(shards)-1].shard.Count
	complete, stalled := 0, 0
	var sum importer.CheckpointTotals
	_, label := destinationOf(shards[0].cp)
	// rows are the table's, by shard index.
	type row struct {
		index int
		text  string
	}
	rows := make([]row, 0, count)
	have := map[int]bool{}
	for _, s := range shards {
		if s.shard.Count != count {
			continue
		}
		have[s.shard.Index] = true
		state := "in progress"
		switch {
		case s.cp.Complete:
			state = "complete"
			complete++
		case now.Sub(s.cp.Updated) > stalledAfter:
			state = "STALLED OR STOPPED"
			stalled++
		}
		t := s.cp.Totals
		sum.Read += t.Read
		sum.Delivered += t.Delivered
		sum.Rejected += t.Rejected
		sum.Filtered += t.Filtered
		rows = append(rows, row{s.shard.Index, fmt.Sprintf("  %s\t%s\t%s\t%d\t%d\t%d\t%d\t%s (%s ago)\t%s", s.shard, state, shardDone(s.cp), t.Read, t.Delivered, t.Rejected, t.Filtered,
			s.cp.Updated.Format(time.RFC3339), ago(now.Sub(s.cp.Updated)), s.path)})
	}
	for k := range count {
		if !have[k] {
			rows = append(rows, row{k, fmt.Sprintf("  %d/%d\tnot started\t\t\t\t\t\t\t(no checkpoint: not run yet, or no part of the sources falls to it)", k, count)})
		}
	}
	slices.SortStableFunc(rows, func(a, b row) int { return a.index - b.index })
	state := fmt.Sprintf("%d of %d shards complete", complete, count)
	if stalled > 0 {
		state += fmt.Sprintf(", %d stalled or stopped (no checkpoint written for %s or more: run those shards again, they resume)", stalled, stalledAfter)
	}
	fmt.Fprintf(w, "import %s in %d shards: %s\n", base, count, state)
	if dest, _ := destinationOf(shards[0].cp); dest != "" {
		fmt.Fprintf(w, "  destination: %s\n", dest)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  shard\tstate\tdone\trows\t%s\trejected\tfiltered\tlast written\tcheckpoint\n", label)
	for _, r := range rows {
		fmt.Fprintln(tw, r.text)
	}
	tw.Flush()
	fmt.Fprintf(w, "  total: %d rows settled: %d %s, %d rejected, %d filtered\n", sum.Read, sum.Delivered, label, sum.Rejected, sum.Filtered)
	if len(counts) > 1 {
		var others []string
		for _, s := range shards {
			if s.shard.Count != count {
				others = append(others, s.path)
			}
		}
		fmt.Fprintf(w, "  checkpoints of another shard count, left out: %s (a changed count is refused: delete them to split anew)\n", strings.Join(others, ", "))
	}
	fmt.Fprintf(w, "  a shard's files: backfill status CHECKPOINT\n")
}

// shardDone is how many of a shard's files (or parts of files) are done.
func shardDone(cp *importer.Checkpoint) string {
	done := 0
	for _, f := range cp.Files {
		if f.Status == importer.StatusDone {
			done++
		}
	}
	return fmt.Sprintf("%d/%d files", done, len(cp.Files))
}

// ago words a duration in whole seconds, minutes or hours.
func ago(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}
