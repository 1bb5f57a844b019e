package importer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/backfillhq/backfill/internal/poison"
	"github.com/backfillhq/backfill/readers"
)

// TestMain runs every test with the memory of rows poisoned once the
// assemble stage releases it (see assembler.take): whatever still reads a
// row after that reads a pattern, and the test comparing the output fails,
// rather than passing while the memory happens to be unchanged.
func TestMain(m *testing.M) {
	poison.Enable()
	os.Exit(m.Run())
}

// TestSamplesOutliveTheirRows keeps the samples of a run past its end,
// when the memory of every row was released (and, under TestMain,
// poisoned): their rows' bytes and a reader's row error are copies.
func TestSamplesOutliveTheirRows(t *testing.T) {
	dir := t.TempDir()
	bad := `{"type":"track"`
	src := writeNDJSON(t, dir, "in.ndjson", 2000, map[int]string{2: bad})
	var samples []Sample
	rep, err := Run(context.Background(), Config{
		Sources:     []string{src},
		Sink:        &fakeSink{send: accept},
		Sample:      func(s Sample) { samples = append(samples, s) },
		SampleRows:  3,
		RejectsPath: filepath.Join(dir, "rejects.ndjson"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.RowsRead != 2000 || len(samples) != 3 {
		t.Fatalf("%d rows read, %d samples", rep.RowsRead, len(samples))
	}
	for i, s := range samples {
		want := fmt.Sprintf(`{"type":"track","messageId":"in.ndjson-%d","userId":"u-%d","event":"E","timestamp":"2024-03-01T12:00:00Z","properties":{"i":%d}}`, i+1, i+1, i+1)
		if i == 1 {
			want = bad
			var re *readers.RowError
			if !errors.As(s.Err, &re) || string(re.Raw) != bad {
				t.Errorf("sample 2: error %#v, want a row error holding %q", s.Err, bad)
			}
		}
		if string(s.Raw) != want {
			t.Errorf("sample %d: raw %q, want %q", i+1, s.Raw, want)
		}
	}
}
