package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/backfillhq/backfill/importer"
	"github.com/backfillhq/backfill/readers"
	"github.com/backfillhq/backfill/sink"
)

// TestCase9AdviceDependsOnTheCause checks, for each cause of a stop, the
// exact advice printed: the same command only where running it again
// resumes and can succeed, and a saved checkpoint only when the run's last
// write of it succeeded.
func TestCase9AdviceDependsOnTheCause(t *testing.T) {
	command := []string{"backfill", "import", "a b.csv"}
	saved := importer.Report{CheckpointPath: "cp.json", CheckpointSaved: true}
	const again = "\n  backfill import 'a b.csv'\n"
	for _, tc := range []struct {
		name  string
		err   error
		rep   importer.Report
		stdin bool
		want  string
	}{
		{"interrupted", fmt.Errorf("interrupted: %w", context.Canceled), saved, false,
			"backfill import: interrupted: context canceled\nbackfill import: the checkpoint cp.json is saved; to resume, run the same command again:" + again},
		{"file changed", fmt.Errorf("a.csv: %w", &readers.ChangedError{Path: "a.csv", Size: 10, NowSize: 20}), saved, false,
			"backfill import: a.csv: file changed while being read: its size was 10 bytes when it was opened, is now 20\n" +
				"backfill import: the checkpoint cp.json is saved; to resume, run the same command again once the file is no longer being written:" + again},
		{"damaged", fmt.Errorf("a.csv.gz: %w", readers.ErrDamaged), saved, false,
			"backfill import: a.csv.gz: damaged compressed data\n" +
				"backfill import: the checkpoint cp.json is saved; reading the file again gives the same error: to resume, run the same command again once it is replaced with a complete copy:" + again +
				"backfill import: or, to import the other sources without it, leave it out and add --restart (rows sent before are sent again)\n"},
		{"write key refused", fmt.Errorf("send batch: %w", sink.ErrUnauthorized), saved, false,
			"backfill import: send batch: " + sink.ErrUnauthorized.Error() + "\n" +
				"backfill import: the checkpoint cp.json is saved; to resume, run the same command again once the write key is right:" + again +
				"backfill import: check $SEGMENT_WRITE_KEY or --write-key-file, and --endpoint (a key of the EU region needs --endpoint eu)\n"},
		{"last checkpoint write failed", errors.New("checkpoint: no space left on device"), importer.Report{CheckpointPath: "cp.json"}, false,
			"backfill import: checkpoint: no space left on device\n" +
				"backfill import: the checkpoint cp.json could not be written at the end; it holds what an earlier write recorded: once it can be written, run the same command again to resume from there (rows after it are sent again):" + again},
		{"edited checkpoint", fmt.Errorf("checkpoint cp.json was %w; run with --restart", importer.ErrCheckpointModified), importer.Report{}, false,
			"backfill import: checkpoint cp.json was modified outside backfill; run with --restart\n"},
		{"mismatch", &importer.CheckpointMismatchError{Path: "cp.json", Details: []string{"the mapping changed"}}, saved, false,
			"backfill import: " + (&importer.CheckpointMismatchError{Path: "cp.json", Details: []string{"the mapping changed"}}).Error() + "\n"},
		{"stdin", fmt.Errorf("interrupted: %w", context.Canceled), importer.Report{}, true,
			"backfill import: interrupted: context canceled\nbackfill import: standard input cannot be read again: this import cannot resume; to import the rest, give the input again with the rows already delivered removed (messageIds derived from the content make rows sent twice arrive once, within about a day)\n"},
		{"zip from a pipe", fmt.Errorf("-: %w", readers.ErrNeedsFile), saved, true,
			"backfill import: -: " + readers.ErrNeedsFile.Error() + "\n" +
				"backfill import: save the input to a file and import that file instead\n"},
		{"no checkpoint", fmt.Errorf("interrupted: %w", context.Canceled), importer.Report{}, false,
			"backfill import: interrupted: context canceled\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			adviseAfterStop(&b, tc.err, tc.rep, command, tc.stdin)
			if b.String() != tc.want {
				t.Errorf("advice:\n%s\nwant:\n%s", b.String(), tc.want)
			}
		})
	}
}
