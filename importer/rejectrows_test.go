package importer

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/backfillhq/backfill/mappings"
	"github.com/backfillhq/backfill/sink"
)

func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRejectedRowsAreWrittenBackInTheirSourceFormat imports a CSV file, a
// TSV file, an NDJSON file and a Parquet file, each with rejected rows, and
// writes the rows back out: CSV and TSV under their header line, NDJSON
// lines as they were, Parquet rows as JSON objects of their columns.
func TestRejectedRowsAreWrittenBackInTheirSourceFormat(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	os.Mkdir(in, 0o755)
	writeTestFile(t, filepath.Join(in, "a.csv"), "id,user,ts\n1,u1,2024-03-01T12:00:00Z\n2,u2,yesterday\n\"3\",\"u,3\",soon\n")
	writeTestFile(t, filepath.Join(in, "b.tsv"), "id\tuser\tts\n4\tu4\tnever\n5\tu5\t2024-03-01T12:00:00Z\n")
	writeTestFile(t, filepath.Join(in, "c.ndjson"), `{"id":"6","user":"u6","ts":"2024-03-01T12:00:00Z"}`+"\n"+`{"id":"7","user":"u7","ts":"later"}`+"\n"+`{"id":"8",`+"\n")
	writePlainBinaryParquet(t, filepath.Join(in, "d.parquet"), []string{"id", "user", "ts"}, [][]string{
		{"9", "u9", "2024-03-01T12:00:00Z"},
		{"10", "u10", "tomorrow"},
	})
	spec, err := mappings.ParseSpec([]byte("type: track\nuserId: user\nevent: {value: Seen}\ntimestamp: ts\nproperties:\n  include: [id]\n"), "m.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rejects := filepath.Join(dir, "rejects.ndjson")
	rep, err := Run(context.Background(), Config{Sources: []string{in}, Spec: spec, Sink: &fakeSink{send: accept}, RejectsPath: rejects, MaxRejectRate: 1})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Delivered != 4 || rep.Rejected != 6 || rep.RunID == "" {
		t.Fatalf("report %+v, want 4 delivered, 6 rejected and a run id", rep)
	}
	for _, rej := range readRejectsFile(t, rejects) {
		if rej.Run != rep.RunID || rej.Time.IsZero() {
			t.Fatalf("reject %+v: want run %s and a time", rej, rep.RunID)
		}
	}

	out := filepath.Join(dir, "fix")
	files, skipped, err := WriteRejectedRows(rejects, "", out)
	if err != nil {
		t.Fatal(err)
	}
	want := []RowsFile{
		{Source: filepath.Join(in, "a.csv"), Path: filepath.Join(out, "a.csv"), Format: "csv", Rows: 2},
		{Source: filepath.Join(in, "b.tsv"), Path: filepath.Join(out, "b.tsv"), Format: "csv", Rows: 1},
		{Source: filepath.Join(in, "c.ndjson"), Path: filepath.Join(out, "c.ndjson"), Format: "ndjson", Rows: 2},
		{Source: filepath.Join(in, "d.parquet"), Path: filepath.Join(out, "d.ndjson"), Format: "parquet", Rows: 1},
	}
	if !reflect.DeepEqual(files, want) || skipped != (RowsNotWritten{}) {
		t.Fatalf("wrote %+v, not written %+v; want %+v", files, skipped, want)
	}
	for name, content := range map[string]string{
		"a.csv":    "id,user,ts\n2,u2,yesterday\n\"3\",\"u,3\",soon\n",
		"b.tsv":    "id\tuser\tts\n4\tu4\tnever\n",
		"c.ndjson": `{"id":"7","user":"u7","ts":"later"}` + "\n" + `{"id":"8",` + "\n",
		"d.ndjson": `{"id":"10","user":"u10","ts":"tomorrow"}` + "\n",
	} {
		got, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != content {
			t.Errorf("%s holds\n%q\nwant\n%q", name, got, content)
		}
	}

	// A file that exists is never overwritten.
	_, _, err = WriteRejectedRows(rejects, "", out)
	if err == nil || err.Error() != filepath.Join(out, "a.csv")+" exists: write the rows to an empty folder, or move it away" {
		t.Fatalf("err = %v, want a.csv named as existing", err)
	}

	sum, err := ReadRejects(rejects, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Lines != 6 || !reflect.DeepEqual(sum.Runs, []string{rep.RunID}) || len(sum.Reasons) != 2 ||
		sum.Reasons[0].Reason != "bad_timestamp" || sum.Reasons[0].Count != 5 || sum.Reasons[0].Example.Row != 2 ||
		sum.Reasons[1].Reason != "invalid_json" || sum.Reasons[1].Count != 1 || len(sum.Files) != 4 {
		t.Fatalf("summary %+v", sum)
	}
}

// TestRowsThatCannotBeWrittenBackAreCounted: a message the destination
// refused, a row cut short (line_too_long) and a reject that repeats an
// earlier one are not written as rows, but counted; a run id selects the
// rejects of one run, and a torn last line is skipped.
func TestRowsThatCannotBeWrittenBackAreCounted(t *testing.T) {
	dir := t.TempDir()
	rejects := filepath.Join(dir, "rejects.ndjson")
	writeTestFile(t, rejects, strings.Join([]string{
		`{"file":"x.ndjson","line":1,"row":1,"offset":0,"reason":"missing_event","error":"e","run":"r1","format":"ndjson","raw":"{\"type\":\"track\"}","raw_is":"message"}`,
		`{"file":"x.ndjson","line":2,"row":2,"offset":20,"reason":"line_too_long","error":"e","run":"r1","format":"ndjson","raw":"{\"a\":"}`,
		`{"file":"x.ndjson","line":3,"row":3,"offset":40,"reason":"invalid_json","error":"e","run":"r1","format":"ndjson","raw":"{"}`,
		`{"file":"x.ndjson","line":3,"row":3,"offset":40,"reason":"invalid_json","error":"e","run":"r1","format":"ndjson","raw":"{"}`,
		`{"file":"y.csv.gz","line":2,"row":1,"offset":4,"reason":"bad_timestamp","error":"e","run":"r2","format":"csv","header":"a,b","raw_base64":"/3gsMQ=="}`,
		`{"file":"x.ndjson","line":4,"row":4,"offs`,
	}, "\n"))
	out := filepath.Join(dir, "r1")
	files, skipped, err := WriteRejectedRows(rejects, "r1", out)
	if err != nil {
		t.Fatal(err)
	}
	if want := []RowsFile{{Source: "x.ndjson", Path: filepath.Join(out, "x.ndjson"), Format: "ndjson", Rows: 1}}; !reflect.DeepEqual(files, want) {
		t.Fatalf("wrote %+v, want %+v", files, want)
	}
	if want := (RowsNotWritten{Messages: 1, Incomplete: 1, Repeated: 1}); skipped != want {
		t.Fatalf("not written %+v, want %+v", skipped, want)
	}
	out = filepath.Join(dir, "r2")
	files, _, err = WriteRejectedRows(rejects, "r2", out)
	if err != nil {
		t.Fatal(err)
	}
	if want := []RowsFile{{Source: "y.csv.gz", Path: filepath.Join(out, "y.csv"), Format: "csv", Rows: 1}}; !reflect.DeepEqual(files, want) {
		t.Fatalf("wrote %+v, want %+v", files, want)
	}
	if got, _ := os.ReadFile(filepath.Join(out, "y.csv")); string(got) != "a,b\n\xffx,1\n" {
		t.Fatalf("y.csv holds %q", got)
	}
	sum, err := ReadRejects(rejects, "", nil)
	if err != nil || sum.Lines != 5 || !reflect.DeepEqual(sum.Runs, []string{"r1", "r2"}) {
		t.Fatalf("summary %+v, %v; want 5 lines of runs r1 and r2", sum, err)
	}

	writeTestFile(t, rejects, "{\"file\":\"x\"}\nnot json\n")
	if _, err := ReadRejects(rejects, "", nil); err == nil || !strings.HasPrefix(err.Error(), rejects+":2: not a reject") {
		t.Fatalf("err = %v, want line 2 named", err)
	}
}

func TestRowsFileNames(t *testing.T) {
	taken := map[string]bool{}
	for _, tc := range []struct{ source, format, want string }{
		{"in/a.csv.gz", "csv", "a.csv"},
		{"other/a.csv", "csv", "a-2.csv"},
		{"in/b.TSV.zst", "csv", "b.TSV"},
		{"in/c.txt", "csv", "c.txt.csv"},
		{"in/d.json", "ndjson", "d.ndjson"},
		{"in/e.jsonl.gz", "ndjson", "e.ndjson"},
		{"in/f.parquet", "parquet", "f.ndjson"},
		{"-", "ndjson", "stdin.ndjson"},
	} {
		if got := rowsFileName(tc.source, tc.format, taken); got != tc.want {
			t.Errorf("rowsFileName(%q, %q) = %q, want %q", tc.source, tc.format, got, tc.want)
		}
	}
}

func TestRejectsPaths(t *testing.T) {
	if got := RejectsPathFor(filepath.Join(".backfill", "3f2a.json")); got != filepath.Join(".backfill", "3f2a.rejects.ndjson") {
		t.Errorf("RejectsPathFor = %q", got)
	}
	if got := RejectsPathFor("cp"); got != "cp.rejects.ndjson" {
		t.Errorf("RejectsPathFor(cp) = %q", got)
	}
	for name, want := range map[string]bool{
		"r.1.ndjson": true, "r.12.ndjson": true, "r.0.ndjson": false, "r.01.ndjson": false,
		"r.ndjson": false, "r.x.ndjson": false, "r.1.csv": false, "s.1.ndjson": false, "r..ndjson": false,
	} {
		if got := isAsideOf(name, "r.ndjson"); got != want {
			t.Errorf("isAsideOf(%q, r.ndjson) = %v, want %v", name, got, want)
		}
	}
}

// TestARunThatResumesNothingMovesTheRejectsFileAside: a restart, and a run
// whose checkpoint was deleted, start a rejects file of their own, so
// that each bad row is in it once; the earlier files are kept, numbered.
func TestARunThatResumesNothingMovesTheRejectsFileAside(t *testing.T) {
	dir := t.TempDir()
	src := writeNDJSON(t, dir, "a.ndjson", 20, map[int]string{3: `{"broken`, 9: `[1]`})
	cfg := checkpointConfig(dir, []string{src}, &fakeSink{send: accept})
	cfg.RejectsPath = ""                            // the default: beside the checkpoint
	want := filepath.Join(dir, "cp.rejects.ndjson") // checkpointConfig's checkpoint is cp.json
	for i, step := range []string{"first", "restart", "checkpoint deleted"} {
		switch step {
		case "restart":
			cfg.Restart = true
		case "checkpoint deleted":
			cfg.Restart = false
			if err := os.Remove(cfg.CheckpointPath); err != nil {
				t.Fatal(err)
			}
		}
		rep, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		if rep.RejectsFile != want || rep.Rejected != 2 {
			t.Fatalf("%s: report %+v, want 2 rejects in %s", step, rep, want)
		}
		got := readRejectsFile(t, want)
		if len(got) != 2 || got[0].Row != 3 || got[1].Row != 9 || got[0].Run != rep.RunID {
			t.Fatalf("%s: rejects file holds %+v, want rows 3 and 9 of run %s once", step, got, rep.RunID)
		}
		aside := ""
		if i > 0 {
			aside = strings.TrimSuffix(want, ".ndjson") + "." + string(rune('0'+i)) + ".ndjson"
			if len(readRejectsFile(t, aside)) != 2 {
				t.Fatalf("%s: %s does not hold the earlier run's 2 rejects", step, aside)
			}
		}
		if rep.RejectsMovedTo != aside {
			t.Fatalf("%s: moved to %q, want %q", step, rep.RejectsMovedTo, aside)
		}
	}
}

// TestAResumeGivenAnotherRejectsFileContinuesInIt: the rejects file is not
// part of the checkpoint's identity; a resumed run given another one
// copies the earlier runs' rejects into it and goes on there, so that it
// holds every reject of the import once.
func TestAResumeGivenAnotherRejectsFileContinuesInIt(t *testing.T) {
	dir := t.TempDir()
	src := writeNDJSON(t, dir, "a.ndjson", 1000, map[int]string{3: `{"broken`, 900: `[1]`})
	ctx, cancel := context.WithCancel(context.Background())
	fs := &fakeSink{send: interruptAtSend(cancel, 3)}
	cfg := checkpointConfig(dir, []string{src}, fs)
	old := cfg.RejectsPath
	if _, err := Run(ctx, cfg); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want the run interrupted", err)
	}
	if got := readRejectsFile(t, old); len(got) != 1 || got[0].Row != 3 {
		t.Fatalf("first run's rejects: %+v, want row 3", got)
	}
	cfg.RejectsPath = filepath.Join(dir, "elsewhere.ndjson")
	writeTestFile(t, cfg.RejectsPath, `{"file":"other.csv","row":1}`+"\n") // another import's
	cfg.Sink = &fakeSink{send: accept}
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Resumed || rep.Rejected != 2 || rep.RejectsCopiedFrom != old || rep.RejectsMovedTo != filepath.Join(dir, "elsewhere.1.ndjson") {
		t.Fatalf("report %+v: want resumed, 2 rejects, copied from %s, the other file moved aside", rep, old)
	}
	got := readRejectsFile(t, cfg.RejectsPath)
	if len(got) != 2 || got[0].Row != 3 || got[1].Row != 900 {
		t.Fatalf("rejects file holds %+v, want rows 3 and 900", got)
	}
	cp, err := LoadCheckpoint(cfg.CheckpointPath)
	if err != nil || cp.RejectsFile != cfg.RejectsPath {
		t.Fatalf("checkpoint records rejects file %q (%v), want %s", cp.RejectsFile, err, cfg.RejectsPath)
	}
	if got := readRejectsFile(t, old); len(got) != 1 {
		t.Fatalf("the first rejects file was changed: %+v", got)
	}
}

// TestOwnFilesAreNotReadAsInput: a folder source that holds the run's
// rejects file (under any name), the rejects files moved aside from it,
// its checkpoint, their locks and the caller's outputs reads none of them;
// naming one of them as a source is an error.
func TestOwnFilesAreNotReadAsInput(t *testing.T) {
	dir := t.TempDir()
	writeNDJSON(t, dir, "a.ndjson", 5, map[int]string{2: `{"broken`})
	cfg := Config{Sources: []string{dir}, Sink: &fakeSink{send: accept}, RejectsPath: filepath.Join(dir, "bad-rows.json"),
		CheckpointPath: filepath.Join(dir, "state.json"), Outputs: []string{filepath.Join(dir, "report.json")}}
	writeTestFile(t, filepath.Join(dir, "report.json"), `{"type":"track","messageId":"r","userId":"u","event":"E","timestamp":"2024-03-01T12:00:00Z"}`)
	for i := range 3 {
		cfg.Restart = i > 0
		rep, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatalf("run %d: %v", i+1, err)
		}
		if rep.Files != 1 || rep.RowsRead != 5 || rep.Rejected != 1 {
			t.Fatalf("run %d: %d files, %d rows, %d rejects; want a.ndjson alone: 5 rows, 1 reject", i+1, rep.Files, rep.RowsRead, rep.Rejected)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "bad-rows.2.json")); err != nil {
		t.Fatalf("the rejects files moved aside: %v", err)
	}
	cfg.Sources = []string{filepath.Join(dir, "bad-rows.json")}
	_, err := Run(context.Background(), cfg)
	if want := cfg.Sources[0] + " is a file this import writes (" + cfg.RejectsPath + "), not one it can read: name another source"; err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
}

// TestTheRejectsFileMayBeInAFolderNotYetMade: without a checkpoint, the
// default rejects file of the command lies in .backfill/, which the run
// makes.
func TestTheRejectsFileMayBeInAFolderNotYetMade(t *testing.T) {
	dir := t.TempDir()
	src := writeNDJSON(t, dir, "a.ndjson", 3, map[int]string{2: `{"broken`})
	rejects := filepath.Join(dir, ".backfill", "x.rejects.ndjson")
	rep, err := Run(context.Background(), Config{Sources: []string{src}, Sink: &fakeSink{send: accept}, RejectsPath: rejects, MaxRejectRate: 1})
	if err != nil || rep.Rejected != 1 {
		t.Fatalf("report %+v, %v; want 1 reject", rep, err)
	}
	if got := readRejectsFile(t, rejects); len(got) != 1 || got[0].Row != 2 {
		t.Fatalf("rejects file holds %+v, want row 2", got)
	}
}

// TestAResumeOfRejectsWrittenNowhere: an import whose earlier run wrote
// its rejects nowhere (DiscardRejects, or a device such as /dev/null)
// resumes, with the same or with a rejects file, instead of finding the
// file shorter than the checkpoint says.
func TestAResumeOfRejectsWrittenNowhere(t *testing.T) {
	for _, tc := range []struct {
		name          string
		first, second func(*Config, string)
		want          int // rejects in the second run's file
	}{
		{"discarded, then a file", func(c *Config, _ string) { c.DiscardRejects = true },
			func(c *Config, dir string) { c.DiscardRejects, c.RejectsPath = false, filepath.Join(dir, "r.ndjson") }, 1},
		{"/dev/null twice", func(c *Config, _ string) { c.RejectsPath = os.DevNull },
			func(c *Config, _ string) { c.RejectsPath = os.DevNull }, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			src := writeNDJSON(t, dir, "a.ndjson", 1000, map[int]string{3: `{"broken`, 900: `[1]`})
			ctx, cancel := context.WithCancel(context.Background())
			cfg := checkpointConfig(dir, []string{src}, &fakeSink{send: interruptAtSend(cancel, 3)})
			tc.first(&cfg, dir)
			if _, err := Run(ctx, cfg); !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v, want the run interrupted", err)
			}
			if cp, err := LoadCheckpoint(cfg.CheckpointPath); err != nil || cp.RejectsOffset == 0 {
				t.Fatalf("checkpoint: %+v, %v; want it to count the first reject", cp, err)
			}
			tc.second(&cfg, dir)
			cfg.Sink = &fakeSink{send: accept}
			rep, err := Run(context.Background(), cfg)
			if err != nil || !rep.Resumed || !rep.Complete || rep.Rejected != 2 {
				t.Fatalf("resumed: %+v, %v; want it complete with 2 rejects in all", rep, err)
			}
			if tc.want >= 0 {
				if got := readRejectsFile(t, cfg.RejectsPath); len(got) != tc.want || got[0].Row != 900 {
					t.Fatalf("rejects file holds %+v, want row 900, the one reject of the second run", got)
				}
			}
		})
	}
}

// TestAnImportGivenAnothersRejectsFileKeepsBoth: import a stops, import b
// is given a's rejects file (and moves a's aside), a resumes: a knows the
// file for b's by its run ids, keeps it (moved aside) rather than cutting
// it, and continues from its own rejects, moved aside by b. Whether a had
// rejects when it stopped or not.
func TestAnImportGivenAnothersRejectsFileKeepsBoth(t *testing.T) {
	for _, tc := range []struct {
		name   string
		aBad   map[int]string
		aFirst int64 // a's rejects when it stopped
	}{
		{"a had rejects", map[int]string{3: `{"broken`, 900: `[1]`}, 1},
		{"a had none", map[int]string{900: `[1]`}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			a := writeNDJSON(t, dir, "a.ndjson", 1000, tc.aBad)
			b := writeNDJSON(t, dir, "b.ndjson", 10, map[int]string{2: `"x"`, 4: `"y"`})
			shared := filepath.Join(dir, "shared.ndjson")
			ctx, cancel := context.WithCancel(context.Background())
			cfgA := checkpointConfig(dir, []string{a}, &fakeSink{send: interruptAtSend(cancel, 3)})
			cfgA.RejectsPath, cfgA.CheckpointPath = shared, filepath.Join(dir, "a.json")
			if _, err := Run(ctx, cfgA); !errors.Is(err, context.Canceled) {
				t.Fatalf("a: err = %v, want the run interrupted", err)
			}
			if got := readRejectsFile(t, shared); int64(len(got)) != tc.aFirst {
				t.Fatalf("a's rejects when it stopped: %+v, want %d", got, tc.aFirst)
			}

			cfgB := checkpointConfig(dir, []string{b}, &fakeSink{send: accept})
			cfgB.RejectsPath, cfgB.CheckpointPath = shared, filepath.Join(dir, "b.json")
			repB, err := Run(context.Background(), cfgB)
			if err != nil || repB.Rejected != 2 {
				t.Fatalf("b: %+v, %v; want 2 rejects", repB, err)
			}
			bRejects, _ := os.ReadFile(shared)

			cfgA.Sink = &fakeSink{send: accept}
			repA, err := Run(context.Background(), cfgA)
			if err != nil || !repA.Resumed || repA.Rejected != int64(len(tc.aBad)) {
				t.Fatalf("a resumed: %+v, %v; want %d rejects in all", repA, err, len(tc.aBad))
			}
			got := readRejectsFile(t, shared)
			if len(got) != len(tc.aBad) || got[len(got)-1].Row != 900 || got[0].File != a {
				t.Fatalf("a's rejects file holds %+v, want a's %d rejects once", got, len(tc.aBad))
			}
			if repA.RejectsMovedTo == "" {
				t.Fatal("a's report does not say where b's rejects went")
			}
			if moved, _ := os.ReadFile(repA.RejectsMovedTo); !bytes.Equal(moved, bRejects) {
				t.Fatalf("%s holds %q, want b's rejects %q", repA.RejectsMovedTo, moved, bRejects)
			}
			if tc.aFirst > 0 && repA.RejectsCopiedFrom != filepath.Join(dir, "shared.1.ndjson") {
				t.Fatalf("a continued from %q, want its rejects moved aside, shared.1.ndjson", repA.RejectsCopiedFrom)
			}
		})
	}
}

// TestReadRejectsOfOneRun sums up only the rejects of the run asked for.
func TestReadRejectsOfOneRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.ndjson")
	writeTestFile(t, path, `{"file":"a.csv","row":1,"reason":"bad_timestamp","run":"r1"}`+"\n"+
		`{"file":"a.csv","row":2,"reason":"missing_id","run":"r2"}`+"\n"+
		`{"file":"b.csv","row":1,"reason":"missing_id","run":"r2"}`+"\n")
	sum, err := ReadRejects(path, "r2", nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Lines != 2 || !reflect.DeepEqual(sum.Runs, []string{"r2"}) || len(sum.Reasons) != 1 || sum.Reasons[0].Reason != "missing_id" || len(sum.Files) != 2 {
		t.Fatalf("summary of run r2: %+v", sum)
	}
}

// interruptAtSend returns the send of a fake sink that acknowledges n
// batches, interrupting the run (cancel) as it takes the n-th, and fails
// every batch after it as a request cut off by the interruption would:
// how far the run got when it stopped does not depend on how soon its
// senders see the interruption.
func interruptAtSend(cancel context.CancelFunc, n int) func(context.Context, *sink.Batch) error {
	var sent int
	return func(context.Context, *sink.Batch) error {
		sent++
		switch {
		case sent == n:
			cancel()
		case sent > n:
			return context.Canceled
		}
		return nil
	}
}
