package importer

import (
	"context"
	"maps"
	"path/filepath"
	"testing"
	"time"

	"github.com/backfillhq/backfill/sink"
)

// TestFinalProgressMatchesTheReport checks that the last progress call
// carries the report's counts, rejects by reason included, and when the
// checkpoint was last written; and that a run without a checkpoint reports
// none written.
func TestFinalProgressMatchesTheReport(t *testing.T) {
	for _, tc := range []struct {
		name       string
		checkpoint bool
	}{
		{"with checkpoint", true},
		{"without checkpoint", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			src := writeNDJSON(t, dir, "in.ndjson", 300, map[int]string{
				7:   `{"type":"track"`,
				8:   `{"type":"track"`,
				200: `{"type":"track","messageId":"m-200","event":"E","timestamp":"2024-03-01T12:00:00Z"}`,
			})
			var final Progress
			before := time.Now()
			cfg := Config{
				Sources:     []string{src},
				Sink:        &fakeSink{send: accept},
				Limits:      sink.Limits{MaxMessages: 50},
				RejectsPath: filepath.Join(dir, "rejects.ndjson"),
				Progress: func(p Progress) {
					if p.Final {
						final = p
					}
				},
			}
			if tc.checkpoint {
				cfg.CheckpointPath = filepath.Join(dir, "ckpt.json")
			}
			rep, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if final.RowsRead != rep.RowsRead || final.Delivered != rep.Delivered || final.Rejected != rep.Rejected || final.Filtered != rep.Filtered {
				t.Errorf("final progress read %d, delivered %d, rejected %d, filtered %d; report %d, %d, %d, %d",
					final.RowsRead, final.Delivered, final.Rejected, final.Filtered, rep.RowsRead, rep.Delivered, rep.Rejected, rep.Filtered)
			}
			want := map[string]int64{"invalid_json": 2, "missing_id": 1}
			if !maps.Equal(final.RejectedByReason, want) || !maps.Equal(rep.RejectedByReason, want) {
				t.Errorf("rejects by reason: progress %v, report %v, want %v", final.RejectedByReason, rep.RejectedByReason, want)
			}
			switch {
			case tc.checkpoint && (final.CheckpointSaved.Before(before) || final.CheckpointSaved.After(time.Now())):
				t.Errorf("CheckpointSaved %v, want the time of the run's last write", final.CheckpointSaved)
			case !tc.checkpoint && !final.CheckpointSaved.IsZero():
				t.Errorf("CheckpointSaved %v without a checkpoint, want zero", final.CheckpointSaved)
			}
		})
	}
}
