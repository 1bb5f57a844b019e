package importer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/backfillhq/backfill/mappings"
	"github.com/backfillhq/backfill/sink"
)

// TestCase11DefaultErrorBudget: with no budget configured, a run stops
// when its first 1,000 rows are all rejected, or more than half of them,
// or more than half of its last 10,000 rows; it does not stop for a few
// bad rows, nor for a short input, nor when told there is no limit. A
// stopped run settles every row it read: its rejects are in the rejects
// file, and the error, the report and the file agree.
func TestCase11DefaultErrorBudget(t *testing.T) {
	const naive = `{"type":"track","userId":"u","event":"E","timestamp":"2024-03-01T12:00:00"}`
	every := func(from, to, step int) map[int]string {
		bad := map[int]string{}
		for i := from; i <= to; i += step {
			bad[i] = naive
		}
		return bad
	}
	for _, tc := range []struct {
		name     string
		rows     int
		bad      map[int]string
		cfg      func(*Config)
		want     string // the start of the error; "" for none
		read     int64  // rows read when the run ended
		rejected int64
	}{
		{"the first 1,000 rows all rejected", 1500, every(1, 1500, 1), nil,
			"too many rejects: 1000 of the first 1000 rows were rejected (100%), more than --max-reject-rate 50% allows; the import stopped", 1000, 1000},
		{"a third of the rows", 3000, every(1, 3000, 3), nil, // rows 1, 4, 7…
			"", 3000, 1000},
		{"60% of the first 1,000 rows", 3000, func() map[int]string {
			b := map[int]string{}
			for i := 1; i <= 3000; i++ {
				if i%5 < 3 {
					b[i] = naive
				}
			}
			return b
		}(), nil, "too many rejects: 600 of the first 1000 rows were rejected (60%), more than --max-reject-rate 50% allows; the import stopped", 1000, 600},
		{"more than half of the last 10,000 rows", 20000, every(10001, 20000, 1), nil,
			"too many rejects: 5001 of the last 10000 rows were rejected (50.01%), more than --max-reject-rate 50% allows; the import stopped", 15001, 5001},
		{"every row of a short input", 999, every(1, 999, 1), nil, "", 999, 999},
		{"a few bad rows", 5000, every(100, 5000, 1000), nil, "", 5000, 5},
		{"no limit", 1500, every(1, 1500, 1), func(c *Config) { c.MaxRejectRate = -1 }, "", 1500, 1500},
		{"none allowed", 1500, every(700, 1500, 1), func(c *Config) { c.MaxRejects = NoRejects },
			"too many rejects: 1 row rejected, and --max-rejects 0 allows none; the import stopped", 700, 1},
		{"a rate of its own over a window of its own", 400, every(101, 400, 4), func(c *Config) { c.MaxRejectRate = 0.2; c.RejectWindow = 100; c.RejectWindowMin = 50 },
			"too many rejects: 21 of the last 100 rows were rejected (21%), more than --max-reject-rate 20% allows; the import stopped", 181, 21},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			src := writeNDJSON(t, dir, "in.ndjson", tc.rows, tc.bad)
			fs := &fakeSink{send: accept}
			cfg := Config{Sources: []string{src}, Sink: fs, RejectsPath: filepath.Join(dir, "r.ndjson"),
				CheckpointPath: filepath.Join(dir, "cp.json"), Limits: sink.Limits{MaxMessages: 10}}
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			rep, err := Run(context.Background(), cfg)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("err = %v, want none", err)
				}
			} else {
				var be *BudgetError
				if !errors.As(err, &be) || !errors.Is(err, ErrTooManyRejects) {
					t.Fatalf("err = %v, want a *BudgetError", err)
				}
				if !strings.HasPrefix(err.Error(), tc.want) {
					t.Fatalf("err =\n%v\nwant it to start with\n%s", err, tc.want)
				}
				rows := fmt.Sprintf("%d rows", tc.rejected)
				if tc.rejected == 1 {
					rows = "1 row"
				}
				wantTop := fmt.Sprintf("; top reasons:\n  bad_timestamp: %s, e.g. %s:%d: timestamp: value \"2024-03-01T12:00:00\": no zone in value",
					rows, src, minKey(tc.bad))
				if !strings.Contains(err.Error(), wantTop) || !strings.HasSuffix(err.Error(), "\n  hint: "+hintNoZonePassthrough) {
					t.Fatalf("err =\n%v\nwant the top reason with an example (%q) and the hint for timestamps without a zone", err, wantTop)
				}
				if be.Rejected != tc.rejected {
					t.Errorf("BudgetError.Rejected %d, want %d", be.Rejected, tc.rejected)
				}
			}
			if rep.RowsRead != tc.read || rep.Rejected != tc.rejected || rep.Unsettled != 0 || rep.Delivered != tc.read-tc.rejected {
				t.Errorf("report: read %d, delivered %d, rejected %d, unsettled %d; want read %d, rejected %d, unsettled 0",
					rep.RowsRead, rep.Delivered, rep.Rejected, rep.Unsettled, tc.read, tc.rejected)
			}
			if n := int64(len(readRejectsFile(t, cfg.RejectsPath))); n != tc.rejected {
				t.Errorf("%d rejects in the file, want %d", n, tc.rejected)
			}
			cp, lerr := LoadCheckpoint(cfg.CheckpointPath)
			if lerr != nil {
				t.Fatal(lerr)
			}
			if cp.Totals.Read != rep.RowsRead || cp.Totals.Rejected != rep.Rejected || cp.Totals.Delivered != rep.Delivered {
				t.Errorf("checkpoint totals %+v, report read %d, delivered %d, rejected %d: they differ",
					cp.Totals, rep.RowsRead, rep.Delivered, rep.Rejected)
			}
			if int64(len(fs.messages)) != rep.Delivered {
				t.Errorf("the sink got %d messages, the report says %d delivered", len(fs.messages), rep.Delivered)
			}
		})
	}
}

func minKey(m map[int]string) int {
	k := -1
	for i := range m {
		if k < 0 || i < k {
			k = i
		}
	}
	return k
}

// TestBudgetResumes: a run stopped by the budget resumes after the row
// that spent it, with the budget lifted, and the import's counts add up
// over both runs with every reject in the file once.
func TestBudgetResumes(t *testing.T) {
	dir := t.TempDir()
	bad := map[int]string{}
	for i := 1; i <= 1200; i++ {
		bad[i] = `{"broken`
	}
	src := writeNDJSON(t, dir, "in.ndjson", 3000, bad)
	cfg := Config{Sources: []string{src}, Sink: &fakeSink{send: accept}, RejectsPath: filepath.Join(dir, "r.ndjson"),
		CheckpointPath: filepath.Join(dir, "cp.json")}
	if _, err := Run(context.Background(), cfg); !errors.Is(err, ErrTooManyRejects) {
		t.Fatalf("err = %v, want ErrTooManyRejects", err)
	}
	cfg.MaxRejectRate = -1
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Resumed || rep.RowsRead != 3000 || rep.Rejected != 1200 || rep.Delivered != 1800 {
		t.Fatalf("report %+v, want 3000 rows read, 1200 rejected, 1800 delivered, resumed", rep)
	}
	rejects := readRejectsFile(t, cfg.RejectsPath)
	if len(rejects) != 1200 {
		t.Fatalf("%d rejects in the file, want 1200", len(rejects))
	}
	for i, r := range rejects {
		if r.Line != int64(i+1) {
			t.Fatalf("reject %d is of line %d", i, r.Line)
		}
	}
}

// TestBudgetHints: the hint names the common cause that fits.
func TestBudgetHints(t *testing.T) {
	dir := t.TempDir()
	csv := filepath.Join(dir, "legacy.csv")
	var b strings.Builder
	b.WriteString("id,user,ts\n")
	for i := range 1200 {
		fmt.Fprintf(&b, "%d,u%d,2024-03-01T12:00:00\n", i, i)
	}
	if err := os.WriteFile(csv, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	spec, err := mappings.ParseSpec([]byte("type: identify\nuserId: user\ntimestamp: ts\n"), "m.yaml")
	if err != nil {
		t.Fatal(err)
	}
	bad := map[int]string{}
	for i := 1; i <= 1200; i++ {
		bad[i] = `{"type":"track","userId":"u","event":"E","timestamp":"yesterday"}`
	}
	badTS := writeNDJSON(t, dir, "bad.ndjson", 1200, bad)
	for _, tc := range []struct {
		name string
		src  string
		spec *mappings.Spec
		hint string
	}{
		{"CSV without a mapping", csv, nil, hintNoMapping},
		{"naive timestamps in a mapping", csv, spec, hintNoZoneSpec},
		{"Segment messages with a bad timestamp", badTS, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := Run(context.Background(), Config{Sources: []string{tc.src}, Spec: tc.spec, Sink: &fakeSink{send: accept},
				RejectsPath: filepath.Join(t.TempDir(), "r.ndjson")})
			var be *BudgetError
			if !errors.As(err, &be) {
				t.Fatalf("err = %v, want a *BudgetError", err)
			}
			if be.Hint != tc.hint || rep.Hint != tc.hint {
				t.Errorf("hint %q, report's %q; want %q", be.Hint, rep.Hint, tc.hint)
			}
		})
	}
}

// TestBudgetWindow: the share is over the rows of the run so far, once
// there are minRows, then over the last window rows.
func TestBudgetWindow(t *testing.T) {
	b := newBudget(0, 0.5, 10, 4)
	for i, tc := range []struct {
		rejected bool
		stop     bool
	}{
		{true, false}, {true, false}, {false, false}, // 2 of 3: fewer than 4 rows
		{false, false}, // 2 of 4: not more than half
		{true, true},   // 3 of 5
	} {
		b.row(tc.rejected)
		if got := b.check(0) != nil; got != tc.stop {
			t.Fatalf("row %d: stop %t, want %t", i+1, got, tc.stop)
		}
	}
	b = newBudget(0, 0.5, 4, 4)
	for _, r := range []bool{false, false, false, false, true, true} { // last 4: 0 0 1 1
		b.row(r)
	}
	if err := b.check(0); err != nil {
		t.Fatalf("2 of the last 4 stopped: %v", err)
	}
	b.row(true) // last 4: 0 1 1 1
	err := b.check(7)
	if err == nil || err.Rows != 4 || err.InWindow != 3 || err.First || err.Rejected != 7 {
		t.Fatalf("3 of the last 4: %+v, want a stop over the last 4 rows", err)
	}
}

// TestBudgetCountsEarlierRuns: a resumed import measures the share of
// rejects over its earlier runs' rows too, so running the same command
// again after a stop does not import the next 1,000 bad rows.
func TestBudgetCountsEarlierRuns(t *testing.T) {
	dir := t.TempDir()
	bad := map[int]string{}
	for i := 1; i <= 1500; i++ {
		bad[i] = `{"broken`
	}
	src := writeNDJSON(t, dir, "in.ndjson", 1600, bad)
	cfg := Config{Sources: []string{src}, Sink: &fakeSink{send: accept}, RejectsPath: filepath.Join(dir, "r.ndjson"),
		CheckpointPath: filepath.Join(dir, "cp.json")}
	if _, err := Run(context.Background(), cfg); !errors.Is(err, ErrTooManyRejects) {
		t.Fatalf("err = %v, want ErrTooManyRejects", err)
	}
	rep, err := Run(context.Background(), cfg)
	want := "too many rejects: 1001 of the first 1001 rows were rejected (100%), more than --max-reject-rate 50% allows; the import stopped"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("resumed: err = %v, want it to start with %q", err, want)
	}
	if rep.RowsRead != 1001 || rep.Rejected != 1001 || !rep.Resumed {
		t.Fatalf("resumed: report %+v, want 1001 rows read and rejected over both runs", rep)
	}
}
