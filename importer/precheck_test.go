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

// writeRows writes n NDJSON rows of u, e, ts and i, with extra (a
// function of the row's number, from 1, returning members without braces)
// added to some, and returns the path.
func writeRows(t *testing.T, dir, name string, n int, extra func(i int) string) string {
	t.Helper()
	var b strings.Builder
	for i := 1; i <= n; i++ {
		more := ""
		if extra != nil {
			if x := extra(i); x != "" {
				more = "," + x
			}
		}
		fmt.Fprintf(&b, `{"id":"%s-%d","u":"u%d","e":"E","ts":"2024-03-01T12:00:00Z","i":%d%s}`+"\n", name, i, i, i, more)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func parseSpec(t *testing.T, text string) *mappings.Spec {
	t.Helper()
	s, err := mappings.ParseSpec([]byte(text), "m.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// couponSpec maps the rows of writeRows, and names a column "coupon"
// that only some rows have.
const couponSpec = "type: track\nmessageId: id\nuserId: u\nevent: e\ntimestamp: ts\nproperties:\n  include: [i, coupon]\n"

// couponAt returns an extra for writeRows that gives row n a coupon.
func couponAt(n int) func(int) string {
	return func(i int) string {
		if i == n {
			return `"coupon":"C"`
		}
		return ""
	}
}

func TestRunRefusesAColumnNoneOfTheFirst1000RowsHas(t *testing.T) {
	dir := t.TempDir()
	src := writeRows(t, dir, "a.ndjson", 1001, couponAt(1001))
	cfg := checkpointConfig(dir, []string{src}, &fakeSink{send: accept})
	cfg.Spec = parseSpec(t, couponSpec)
	fs := cfg.Sink.(*fakeSink)
	rep, err := Run(context.Background(), cfg)
	want := "the mapping does not fit the data (checked before sending anything):\n" +
		"  " + src + `: m.yaml:7: properties.include: column "coupon" occurs in none of the 1000 rows read`
	var pe *PrecheckError
	if !errors.As(err, &pe) || err.Error() != want {
		t.Fatalf("Run error =\n%v\nwant\n%s", err, want)
	}
	var mp *mappings.MissingPathsError
	if !errors.As(err, &mp) || mp.Rows != PrecheckRows {
		t.Fatalf("error %v does not wrap a *mappings.MissingPathsError of %d rows", err, PrecheckRows)
	}
	if fs.batches != 0 || rep.RowsRead != 0 {
		t.Fatalf("sent %d batches, read %d rows; want nothing", fs.batches, rep.RowsRead)
	}
	for _, p := range []string{cfg.CheckpointPath, cfg.RejectsPath} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s exists after a refused import (%v): a run with the mapping corrected would be refused as another import", filepath.Base(p), err)
		}
	}
}

func TestRunChecksTheFirst1000RowsOfTheInputAcrossFiles(t *testing.T) {
	for _, tc := range []struct {
		name   string
		at     int // the row of b.ndjson with a coupon
		refuse bool
	}{
		{"seen in the 1000th row", 400, false},
		{"first in the 1001st row", 401, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			a := writeRows(t, dir, "a.ndjson", 600, nil)
			b := writeRows(t, dir, "b.ndjson", 600, couponAt(tc.at))
			fs := &fakeSink{send: accept}
			cfg := checkpointConfig(dir, []string{a, b}, fs)
			cfg.Spec = parseSpec(t, couponSpec)
			rep, err := Run(context.Background(), cfg)
			if tc.refuse {
				want := "  " + a + ", " + b + `: m.yaml:7: properties.include: column "coupon" occurs in none of the 1000 rows read`
				if err == nil || !strings.HasSuffix(err.Error(), "\n"+want) || fs.batches != 0 {
					t.Fatalf("Run error = %v, %d batches sent; want a refusal ending\n%s", err, fs.batches, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rep.Delivered != 1200 || len(fs.messages) != 1200 {
				t.Fatalf("delivered %d, sink has %d; want 1200", rep.Delivered, len(fs.messages))
			}
			checkOnce(t, fs.messages, map[string]int{"a.ndjson": 600, "b.ndjson": 600})
		})
	}
}

// checkOnce checks that every row of the files (name → rows) was
// delivered exactly once, by its id.
func checkOnce(t *testing.T, messages []map[string]any, files map[string]int) {
	t.Helper()
	got := map[string]int{}
	for _, m := range messages {
		got[m["messageId"].(string)]++
	}
	total := 0
	for name, n := range files {
		total += n
		for i := 1; i <= n; i++ {
			if id := fmt.Sprintf("%s-%d", name, i); got[id] != 1 {
				t.Fatalf("%s delivered %d times, want once", id, got[id])
			}
		}
	}
	if len(got) != total {
		t.Fatalf("%d ids delivered, want %d", len(got), total)
	}
}

func TestRunOptionalExemptsASparseColumn(t *testing.T) {
	dir := t.TempDir()
	src := writeRows(t, dir, "a.ndjson", 1001, couponAt(1001))
	fs := &fakeSink{send: accept}
	cfg := checkpointConfig(dir, []string{src}, fs)
	cfg.Spec = parseSpec(t, couponSpec+"optional: [coupon]\n")
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Delivered != 1001 {
		t.Fatalf("delivered %d, want 1001", rep.Delivered)
	}
	checkOnce(t, fs.messages, map[string]int{"a.ndjson": 1001})
}

func TestRunNamesEveryFileThatDoesNotFitBeforeSendingAnything(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "in")
	os.MkdirAll(dir, 0o755)
	var good strings.Builder
	good.WriteString("id,u,ts,plan\n")
	for i := range 3000 {
		fmt.Fprintf(&good, "a-%d,u%d,2024-03-01T12:00:00Z,pro\n", i, i)
	}
	os.WriteFile(filepath.Join(dir, "a.csv"), []byte(good.String()), 0o644)
	os.WriteFile(filepath.Join(dir, "b.csv"), []byte("id,u,ts\nb-1,u1,2024-03-01T12:00:00Z\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "c.csv"), []byte("id,u,ts,plan,tier\nc-1,u1,2024-03-01T12:00:00Z,pro,gold\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "d.csv"), []byte("id,user,ts,plan\nd-1,u1,2024-03-01T12:00:00Z,pro\n"), 0o644)
	fs := &fakeSink{send: accept}
	_, err := Run(context.Background(), Config{Sources: []string{dir}, Sink: fs, RejectsPath: filepath.Join(t.TempDir(), "r.ndjson"),
		Spec: parseSpec(t, "type: identify\nmessageId: id\nuserId: u\ntimestamp: ts\ntraits:\n  rename: {plan: tier}\n")})
	want := "the mapping does not fit the data (checked before sending anything):\n" +
		"  " + filepath.Join(dir, "b.csv") + `: m.yaml:6: traits.rename: column "plan" is not in the file (columns: id, u, ts)` + "\n" +
		"  " + filepath.Join(dir, "c.csv") + `: m.yaml:6: traits.rename: column "plan" is written to the key "tier" of traits, which also takes the file's remaining columns, so the file's column "tier" would be lost; exclude that column, or choose another key` + "\n" +
		"  " + filepath.Join(dir, "d.csv") + `: m.yaml:3: userId: column "u" is not in the file (columns: id, user, ts, plan)`
	if err == nil || err.Error() != want {
		t.Fatalf("Run error =\n%v\nwant\n%s", err, want)
	}
	if fs.batches != 0 {
		t.Fatalf("sent %d batches before refusing", fs.batches)
	}
}

func TestRunRefusesAParquetColumnThatCollides(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "wide.parquet")
	writeWideParquet(t, src, 10)
	fs := &fakeSink{send: accept}
	_, err := Run(context.Background(), Config{Sources: []string{src}, Sink: fs, RejectsPath: filepath.Join(dir, "r.ndjson"),
		Spec: parseSpec(t, "type: track\nmessageId: id\nuserId: user\nevent: {value: E}\ntimestamp: ts\nproperties:\n  rename: {amount: unused.amount}\n")})
	want := "the mapping does not fit the data (checked before sending anything):\n" +
		"  " + src + `: m.yaml:7: properties.rename: column "amount" is written to the key "unused.amount" of properties, which also takes the file's remaining columns, so the file's column "unused" would be lost; exclude that column, or choose another key`
	if err == nil || err.Error() != want {
		t.Fatalf("Run error =\n%v\nwant\n%s", err, want)
	}
	if fs.batches != 0 {
		t.Fatalf("sent %d batches", fs.batches)
	}
}

func TestRunRejectsAnNDJSONRowWithACollidingColumn(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "a.ndjson")
	rows := `{"id":"a-1","u":"u1","ts":"2024-03-01T12:00:00Z","amount":5}
{"id":"a-2","u":"u2","ts":"2024-03-01T12:00:00Z","amount":6,"revenue":7}
`
	os.WriteFile(src, []byte(rows), 0o644)
	fs := &fakeSink{send: accept}
	cfg := checkpointConfig(dir, []string{src}, fs)
	cfg.Spec = parseSpec(t, "type: identify\nmessageId: id\nuserId: u\ntimestamp: ts\ntraits:\n  rename: {amount: revenue}\n")
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Delivered != 1 || rep.Rejected != 1 {
		t.Fatalf("delivered %d, rejected %d; want 1 and 1", rep.Delivered, rep.Rejected)
	}
	rejects := readRejectsFile(t, cfg.RejectsPath)
	wantErr := src + `:2: traits.revenue: column "revenue": value "7": the mapping writes column "amount" to the key "revenue" (line 6), so this column's value would be lost; exclude the column, or choose another key`
	if len(rejects) != 1 || rejects[0].Reason != mappings.ReasonKeyCollision || rejects[0].Error != wantErr ||
		rejects[0].Raw != `{"id":"a-2","u":"u2","ts":"2024-03-01T12:00:00Z","amount":6,"revenue":7}` || rejects[0].Line != 2 {
		t.Fatalf("rejects %+v\nwant line 2, key_collision, error %s", rejects, wantErr)
	}
}

// TestResumeAfterThePreReadDeliversEachRowOnce stops an import whose first
// rows the check read before sending, and resumes it: the rows the check
// read are sent by the pipeline, once, and not skipped on resume.
func TestResumeAfterThePreReadDeliversEachRowOnce(t *testing.T) {
	dir := t.TempDir()
	a := writeRows(t, dir, "a.ndjson", 700, nil)
	b := writeRows(t, dir, "b.ndjson", 1800, couponAt(1))
	spec := parseSpec(t, couponSpec)

	first := &fakeSink{send: failAfter(9)}
	cfg := checkpointConfig(dir, []string{a, b}, first)
	cfg.Spec = spec
	if rep, err := Run(context.Background(), cfg); err == nil || rep.Complete {
		t.Fatalf("first run: err %v, report %+v; want it stopped", err, rep)
	}
	if len(first.messages) != 900 {
		t.Fatalf("first run delivered %d, want the 9 batches accepted", len(first.messages))
	}
	second := &fakeSink{send: accept}
	cfg.Sink = second
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Resumed || rep.Delivered != 2500 || rep.RowsRead != 2500 {
		t.Fatalf("resumed report %+v", rep)
	}
	checkOnce(t, append(first.messages, second.messages...), map[string]int{"a.ndjson": 700, "b.ndjson": 1800})
}

// TestStandardInputIsHeldBackUntilChecked reads NDJSON from standard
// input, which cannot be read twice: its first rows are held back until
// checked, then sent once, in order; a column none of them has refuses
// the import with nothing sent.
func TestStandardInputIsHeldBackUntilChecked(t *testing.T) {
	for _, tc := range []struct {
		name   string
		at     int
		refuse bool
	}{
		{"checked and sent", 1000, false},
		{"refused", 1001, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			src := writeRows(t, dir, "a.ndjson", 2500, couponAt(tc.at))
			f, err := os.Open(src)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			stdin := os.Stdin
			os.Stdin = f
			defer func() { os.Stdin = stdin }()
			fs := &fakeSink{send: accept}
			rep, err := Run(context.Background(), Config{Sources: []string{"-"}, Sink: fs, Spec: parseSpec(t, couponSpec),
				RejectsPath: filepath.Join(dir, "r.ndjson"), Limits: sink.Limits{MaxMessages: 100}, Concurrency: 1})
			if tc.refuse {
				want := "the mapping does not fit the data (checked before sending anything):\n" +
					`  -: m.yaml:7: properties.include: column "coupon" occurs in none of the 1000 rows read`
				if err == nil || err.Error() != want || fs.batches != 0 {
					t.Fatalf("Run error =\n%v\nwant\n%s\n(%d batches sent)", err, want, fs.batches)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rep.Delivered != 2500 {
				t.Fatalf("delivered %d, want 2500", rep.Delivered)
			}
			checkOnce(t, fs.messages, map[string]int{"a.ndjson": 2500})
			for i, m := range fs.messages {
				if want := fmt.Sprintf("a.ndjson-%d", i+1); m["messageId"] != want {
					t.Fatalf("message %d is %v, want %s: held rows sent out of order", i, m["messageId"], want)
				}
			}
		})
	}
}

func TestStandardInputCSVIsCheckedAgainstItsHeader(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "a.csv")
	os.WriteFile(src, []byte("id,user_id,ts\n1,u1,2024-03-01T12:00:00Z\n"), 0o644)
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stdin := os.Stdin
	os.Stdin = f
	defer func() { os.Stdin = stdin }()
	fs := &fakeSink{send: accept}
	_, err = Run(context.Background(), Config{Sources: []string{"-"}, Sink: fs, RejectsPath: filepath.Join(dir, "r.ndjson"),
		Spec: parseSpec(t, "type: identify\nuserId: usr_id\ntimestamp: ts\n")})
	want := "the mapping does not fit the data (checked before sending anything):\n" +
		`  -: m.yaml:2: userId: column "usr_id" is not in the file (columns: id, user_id, ts); did you mean "user_id"?`
	var pe *PrecheckError
	if !errors.As(err, &pe) || err.Error() != want || fs.batches != 0 {
		t.Fatalf("Run error =\n%v\nwant\n%s\n(%d batches sent)", err, want, fs.batches)
	}
}

func TestRunNamesTheFirstNDJSONFilesOfTheRowsRead(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "in")
	os.MkdirAll(dir, 0o755)
	for _, name := range []string{"a", "b", "c", "d", "e"} {
		writeRows(t, dir, name+".ndjson", 2, nil)
	}
	fs := &fakeSink{send: accept}
	_, err := Run(context.Background(), Config{Sources: []string{dir}, Sink: fs, Spec: parseSpec(t, couponSpec), RejectsPath: filepath.Join(dir, "..", "r.ndjson")})
	want := "the mapping does not fit the data (checked before sending anything):\n  " +
		filepath.Join(dir, "a.ndjson") + ", " + filepath.Join(dir, "b.ndjson") + ", " + filepath.Join(dir, "c.ndjson") +
		` and 2 more: m.yaml:7: properties.include: column "coupon" occurs in none of the 10 rows read`
	if err == nil || err.Error() != want || fs.batches != 0 {
		t.Fatalf("Run error =\n%v\nwant\n%s", err, want)
	}
}
