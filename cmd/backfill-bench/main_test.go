package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/backfillhq/backfill/importer"
	"github.com/backfillhq/backfill/mappings"
	"github.com/backfillhq/backfill/sink"
)

// TestMain lets the test binary serve as the runner and the fake S3
// server, as the command does.
func TestMain(m *testing.M) {
	if len(os.Args) == 2 && os.Args[1] == runnerArg {
		os.Exit(runnerMain())
	}
	if len(os.Args) >= 2 && os.Args[1] == fakeS3Arg {
		os.Exit(fakeS3Main(os.Args[2:]))
	}
	os.Exit(m.Run())
}

const testRows = 300

// generated writes the test inputs once per test.
func generated(t *testing.T) *files {
	t.Helper()
	fs, err := generate(t.TempDir(), testRows, kinds, true, 128)
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// sentMessage holds the fields every input path must agree on.
type sentMessage struct {
	Type       string         `json:"type"`
	MessageID  string         `json:"messageId"`
	UserID     string         `json:"userId"`
	Event      string         `json:"event"`
	Timestamp  string         `json:"timestamp"`
	Properties map[string]any `json:"properties"`
}

// TestGeneratedInputsImport imports every generated file with its mapping
// and checks that each row becomes the same message whatever the format:
// the Segment messages keep their ids, the mapped rows get ids derived
// from their content, the same for every format, and the mapping with a
// drop rule and expressions makes the same messages as the CSV mapping.
func TestGeneratedInputsImport(t *testing.T) {
	fs := generated(t)
	var want []sentMessage
	var derived []string // the messageIds of the mapped rows
	for _, k := range kinds {
		type input struct{ path, mapping string }
		inputs := []input{{fs.plain[k.key], fs.mappings[k.key]}}
		if gz, ok := fs.gz[k.key]; ok {
			inputs = append(inputs, input{gz, fs.mappings[k.key]})
		}
		if mp, ok := fs.mappings[exprKey]; ok && k.key == "csv" {
			inputs = append(inputs, input{fs.plain[k.key], mp})
		}
		for _, in := range inputs {
			path := in.path
			t.Run(filepath.Base(path)+"+"+filepath.Base(in.mapping), func(t *testing.T) {
				if k.format == "parquet" {
					if why := parquetSupport(context.Background(), path); why != "" {
						t.Skipf(notSupportedFormat+": %s", "parquet", why)
					}
				}
				cfg := importer.Config{
					Sources:     []string{path},
					RejectsPath: filepath.Join(t.TempDir(), "rejects.ndjson"),
				}
				if mp := in.mapping; mp != "" {
					spec, err := mappings.LoadSpec(mp)
					if err != nil {
						t.Fatal(err)
					}
					cfg.Spec = spec
				}
				var out bytes.Buffer
				cfg.Sink = sink.NewWriterSink(&out)
				rep, err := importer.Run(context.Background(), cfg)
				if err != nil {
					t.Fatal(err)
				}
				if rep.Delivered != testRows || rep.Rejected != 0 {
					t.Fatalf("%d delivered, %d rejected (%v), want %d delivered", rep.Delivered, rep.Rejected, rep.TopReasons, testRows)
				}
				got := decodeMessages(t, out.Bytes())
				if k.mapping != "" {
					ids := make([]string, len(got))
					for i := range got {
						ids[i], got[i].MessageID = got[i].MessageID, want[i].MessageID
					}
					if derived == nil {
						derived = ids
						if !strings.HasPrefix(ids[0], "bfc-") {
							t.Errorf("first messageId %q, want one derived from the content", ids[0])
						}
					} else if !reflect.DeepEqual(ids, derived) {
						t.Errorf("messageIds %v…, want %v… (as from %s)", ids[:2], derived[:2], fileName(kinds[1], testRows))
					}
				}
				if want == nil {
					want = got
					first := got[0]
					if first.MessageID != "evt-0" || first.Timestamp != "2024-01-01T00:00:00.000Z" || len(first.Properties) != 10 {
						t.Errorf("first message %+v, want evt-0 at 2024-01-01T00:00:00.000Z with ten properties", first)
					}
					return
				}
				if !reflect.DeepEqual(got, want) {
					for i := range got {
						if !reflect.DeepEqual(got[i], want[i]) {
							t.Fatalf("message %d is\n%+v\nwant (as from %s)\n%+v", i, got[i], fileName(kinds[0], testRows), want[i])
						}
					}
				}
			})
		}
	}
}

func decodeMessages(t *testing.T, ndjson []byte) []sentMessage {
	t.Helper()
	var msgs []sentMessage
	sc := bufio.NewScanner(bytes.NewReader(ndjson))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m sentMessage
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("%s: %v", sc.Text(), err)
		}
		msgs = append(msgs, m)
	}
	if len(msgs) != testRows {
		t.Fatalf("%d messages, want %d", len(msgs), testRows)
	}
	return msgs
}

func TestFloor(t *testing.T) {
	fs := generated(t)
	ctx := context.Background()
	for _, k := range kinds {
		paths := []string{fs.plain[k.key]}
		if gz, ok := fs.gz[k.key]; ok {
			paths = append(paths, gz)
		}
		for _, path := range paths {
			t.Run(filepath.Base(path), func(t *testing.T) {
				for _, c := range []struct {
					limit    int64
					min, max int64
				}{
					{0, testRows, testRows},
					{testRows * 2, testRows, testRows},
					{100, 100, 128}, // Parquet stops after the batch that reaches the limit
				} {
					n, err := floor(ctx, path, k.format, c.limit)
					if err != nil {
						t.Fatalf("limit %d: %v", c.limit, err)
					}
					if n < c.min || n > c.max || k.format != "parquet" && n != c.min {
						t.Errorf("limit %d: %d rows, want %d", c.limit, n, c.min)
					}
				}
			})
		}
	}
}

func TestFloorBadInput(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name, format, content string
	}{
		{"bad.ndjson", "ndjson", "{\"a\":1}\n{\"a\":\n"},
		{"bad.csv", "csv", "a,b\n1,2\n1,2,3\n"},
		{"bad.csv.gz", "csv", "not gzip"},
		{"bad.parquet", "parquet", "not parquet"},
		{"missing.ndjson", "ndjson", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, c.name)
			if c.content != "" {
				if err := os.WriteFile(path, []byte(c.content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if n, err := floor(context.Background(), path, c.format, 0); err == nil {
				t.Errorf("floor read %d rows and no error", n)
			}
		})
	}
}

func TestRunner(t *testing.T) {
	rn, err := startRunner()
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := rn.close(); err != nil {
			t.Error(err)
		}
	}()
	ctx := context.Background()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}

	t.Run("failure", func(t *testing.T) {
		resp, err := rn.run(ctx, runRequest{Args: []string{sh, "-c", "echo oops >&2; exit 3"}})
		if err == nil || !strings.Contains(err.Error(), "exit status 3") {
			t.Errorf("error %v, want exit status 3", err)
		}
		if resp.Output != "oops" {
			t.Errorf("output %q, want oops", resp.Output)
		}
	})
	t.Run("env", func(t *testing.T) {
		resp, err := rn.run(ctx, runRequest{Args: []string{sh, "-c", "echo $BENCH_TEST"}, Env: []string{"BENCH_TEST=42"}})
		if err != nil || resp.Output != "42" {
			t.Errorf("output %q, error %v, want 42", resp.Output, err)
		}
	})
	t.Run("peak RSS is the command's own", func(t *testing.T) {
		// This process grows well past the runner; what the runner
		// starts afterwards must not report this process's peak.
		big := make([]byte, 192<<20)
		for i := 0; i < len(big); i += 4096 {
			big[i] = 1
		}
		resp, err := rn.run(ctx, runRequest{Args: []string{sh, "-c", "exit 0"}})
		if err != nil {
			t.Fatal(err)
		}
		if resp.MaxRSS <= 0 || resp.MaxRSS > 128<<20 {
			t.Errorf("peak RSS of sh %d bytes, want its own (a few MB)", resp.MaxRSS)
		}
		if resp.Wall <= 0 {
			t.Errorf("wall time %s", resp.Wall)
		}
		big[0]++ // keep it alive until here
	})
	t.Run("an import that fails names the binary", func(t *testing.T) {
		dir := t.TempDir()
		for _, tc := range []struct{ name, script string }{
			{"incomplete", `echo '{"rows_read":3,"delivered":2,"complete":false,"error":"boom"}' > "$(dirname "$0")/bench-report.json"`},
			{"no report", "exit 0"},
			{"a bad report", `echo '{' > "$(dirname "$0")/bench-report.json"`},
		} {
			bin := filepath.Join(dir, "backfill-"+strings.ReplaceAll(tc.name, " ", "-"))
			if err := os.WriteFile(bin, []byte("#!"+sh+"\n"+tc.script+"\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			ir := importRun{bin: bin, dir: dir, source: "events.ndjson", rows: 3}
			if _, err := ir.run(ctx, rn); err == nil || !strings.HasPrefix(err.Error(), bin+": ") {
				t.Errorf("%s: %v; want an error that starts with the binary, %s", tc.name, err, bin)
			}
		}
	})
	t.Run("missing command", func(t *testing.T) {
		if _, err := rn.run(ctx, runRequest{Args: []string{filepath.Join(t.TempDir(), "nothing")}}); err == nil {
			t.Error("no error for a missing command")
		}
	})
}

func TestThousands(t *testing.T) {
	for _, c := range []struct {
		n    int64
		want string
	}{
		{0, "0"}, {999, "999"}, {1000, "1,000"}, {123456, "123,456"}, {1234567, "1,234,567"}, {-1234, "-1,234"},
	} {
		if got := thousands(c.n); got != c.want {
			t.Errorf("thousands(%d) = %q, want %q", c.n, got, c.want)
		}
	}
}

func TestTable(t *testing.T) {
	tb := &table{header: []string{"path", "events/s"}, right: []bool{false, true}}
	tb.add("csv", "1,000")
	tb.add("ndjson, gzip", "12")
	var b bytes.Buffer
	tb.print(&b)
	want := "| path         | events/s |\n" +
		"| ------------ | -------: |\n" +
		"| csv          |    1,000 |\n" +
		"| ndjson, gzip |       12 |\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestParseFlags(t *testing.T) {
	if got, err := parseCounts("1000000, 5_000_000"); err != nil || !reflect.DeepEqual(got, []int{1_000_000, 5_000_000}) {
		t.Errorf("parseCounts = %v, %v", got, err)
	}
	for _, bad := range []string{"", "0", "x", "1,-2"} {
		if _, err := parseCounts(bad); err == nil {
			t.Errorf("parseCounts(%q): no error", bad)
		}
	}
	if got, err := parseKinds("csv, parquet"); err != nil || !reflect.DeepEqual(got, []string{"csv", "parquet"}) {
		t.Errorf("parseKinds = %v, %v", got, err)
	}
	if _, err := parseKinds("xml"); err == nil {
		t.Error("parseKinds(xml): no error")
	}
}

// TestPrintTargets checks the verdicts of the tables on made-up results.
func TestPrintTargets(t *testing.T) {
	const rows = 1_000_000
	kind := func(key string) inputKind {
		for _, k := range kinds {
			if k.key == key {
				return k
			}
		}
		t.Fatalf("no kind %s", key)
		return inputKind{}
	}
	secs := func(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
	run := func(wall, cpu float64) importResult {
		return importResult{wall: secs(wall), cpu: secs(cpu), maxRSS: 50 << 20}
	}
	// Two rounds: each round's runs are paired for the ratios.
	csvPath := &benchPath{kind: kind("csv"),
		floors: []float64{2e6, 1.9e6}, floorCPU: []float64{2e6},
		imports:  []importResult{run(2.5, 4), run(2, 3.8)}, // best: 500,000 events/s
		ckpts:    []importResult{run(2.6, 3.9), run(2.1, 3.9)},
		recvs:    []importResult{run(5, 3.9), run(4, 3.9)},
		recvCPU:  []time.Duration{secs(2.5), secs(2)},
		discards: []importResult{run(3.125, 3.9), run(2.5, 3.9)},
		discCPU:  []time.Duration{secs(0.6), secs(0.5)},
	}
	paths := []*benchPath{
		csvPath,
		{kind: kind("parquet"), skip: "parquet: unknown format"},
		{kind: kind("csv"), expr: true, floors: []float64{2e6}, floorCPU: []float64{2e6},
			imports: []importResult{run(3, 5), run(2.5, 4.75)}}, // 18.3 % slower than without, 20 % per CPU-second
		{kind: kind("csv"), gz: true, floors: []float64{1e6}, floorCPU: []float64{1e6},
			imports: []importResult{run(2.75, 4), run(2.2, 4)}}, // 9.1 % slower than plain, round by round
		{kind: kind("segment"), gz: true, skip: "error: exit status 1"},
	}
	var b bytes.Buffer
	printThroughput(&b, paths, rows)
	printCPU(&b, paths, rows)
	printCosts(&b, paths, rows, []string{"csv"})
	squeeze := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	out := squeeze(b.String())
	for _, want := range []string{
		"| CSV with a YAML mapping (typed columns)        |      2,000,000 |         500,000 |    0.25× |  1.90 | 20.0 % | 50.0 MiB | ≥ 700,000                | NO (71 %)          |",
		"| Parquet with a YAML mapping                    |                |                 |          |       |        |          | parquet: not supported yet |",
		"| ≤ 15 % slower than plain | yes (9.1 % slower) |",
		"| CSV with a YAML mapping (typed columns), 1 drop rule and 2 expressions | 2,000,000 | 400,000 | 0.20× | 1.90 | 16.7 % | 50.0 MiB | ≤ 35 % slower than without | yes (18.3 % slower; per CPU-s 20.0 % slower) |",
		"error: exit status 1",
		"|      2,000,000 |             263,158 |    0.13× |                3.80 |",
		"that checks every message (`backfill serve` on 127.0.0.1) |         500,000 |  250,000 |        50.0 % | ≥ 70 % of --stub | NO  | receiver used 2.0 s CPU on the same 2 cores (0.50 cores)",
		"that discards (`backfill serve --discard` on 127.0.0.1) |         500,000 |  400,000 |        80.0 % | ≥ 70 % of --stub | yes | receiver used 0.5 s CPU on the same 2 cores (0.20 cores)",
		"|         500,000 |  476,190 |  4.3 % slower | < 5 % slower     | yes |",
	} {
		if !strings.Contains(out, squeeze(want)) {
			t.Errorf("output lacks %q:\n%s", want, b.String())
		}
	}
}

// TestPairedRatio checks the median of round-by-round rate ratios: a
// round where the machine was slow for both runs does not skew it.
func TestPairedRatio(t *testing.T) {
	run := func(s float64) importResult { return importResult{wall: time.Duration(s * float64(time.Second))} }
	a := []importResult{run(1), run(2), run(1)}      // the second round ran on a slow machine
	b := []importResult{run(1.25), run(2.5), run(5)} // the third run of b was disturbed
	if got := pairedRatio(a, b); math.Abs(got-0.8) > 1e-9 {
		t.Errorf("pairedRatio = %v, want 0.8 (the median of 0.8, 0.8 and 0.2)", got)
	}
	if got := pairedRatio(a[:2], b[:1]); math.Abs(got-0.8) > 1e-9 {
		t.Errorf("pairedRatio of unequal lengths = %v, want 0.8 (only round one pairs)", got)
	}
}

func TestParseOptions(t *testing.T) {
	parse := func(args ...string) (options, error) {
		fs := flag.NewFlagSet("backfill-bench", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		return parseOptions(fs, args)
	}
	o, err := parse()
	if err != nil {
		t.Fatal(err)
	}
	if o.rows != 1_000_000 || o.runs != 5 || o.baseline != "" || !reflect.DeepEqual(o.extras, []string{"csv"}) {
		t.Errorf("defaults: %+v", o)
	}
	o, err = parse("-rows", "2000", "-runs", "3", "-baseline", "old/backfill", "-only", "csv,segment", "-extras", "none")
	if err != nil {
		t.Fatal(err)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(wd, "old", "backfill"); o.baseline != want {
		t.Errorf("baseline = %q, want the absolute path %q", o.baseline, want)
	}
	if o.rows != 2000 || o.runs != 3 || !reflect.DeepEqual(o.only, []string{"csv", "segment"}) || o.extras != nil {
		t.Errorf("parsed %+v", o)
	}
	if o, err := parse("-baseline", "/tmp/old/backfill"); err != nil || o.baseline != "/tmp/old/backfill" {
		t.Errorf("absolute -baseline: %q, %v", o.baseline, err)
	}
	for _, bad := range [][]string{
		{"-runs", "0"},
		{"-only", "xml"},
		{"-generate"},
		{"-generate", "-dir", "x", "-baseline", "old"},
		{"-rows", "many"},
		{"stray"},
	} {
		if _, err := parse(bad...); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	if _, err := parse("-h"); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v, want flag.ErrHelp", err)
	}
}

// TestUsage checks that -h documents -baseline.
func TestUsage(t *testing.T) {
	var b bytes.Buffer
	fs := flag.NewFlagSet("backfill-bench", flag.ContinueOnError)
	fs.SetOutput(&b)
	if _, err := parseOptions(fs, []string{"-h"}); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	for _, want := range []string{"[-baseline OLD_BIN]", "-baseline OLD_BIN", "median of the paired ratios new/old"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, b.String())
		}
	}
}

func TestPairOrder(t *testing.T) {
	for _, c := range []struct {
		round    int
		baseline bool
		want     []binaryRole
	}{
		{1, false, []binaryRole{newBinary}},
		{2, false, []binaryRole{newBinary}},
		{1, true, []binaryRole{baselineBinary, newBinary}},
		{2, true, []binaryRole{newBinary, baselineBinary}},
		{3, true, []binaryRole{baselineBinary, newBinary}},
		{4, true, []binaryRole{newBinary, baselineBinary}},
	} {
		if got := pairOrder(c.round, c.baseline); !reflect.DeepEqual(got, c.want) {
			t.Errorf("pairOrder(%d, %t) = %v, want %v", c.round, c.baseline, got, c.want)
		}
	}
}

// TestImportPair checks that each round runs both binaries on the same
// input, in alternating order, and files the two results of a round under
// the same index.
func TestImportPair(t *testing.T) {
	p := &benchPath{}
	var ran []string
	var wall time.Duration
	run := func(ir importRun) (importResult, error) {
		if ir.source != "in.csv" || ir.mapping != "in.yaml" || ir.rows != 10 {
			t.Errorf("run with %+v, want the same input for both binaries", ir)
		}
		ran = append(ran, ir.bin)
		wall += time.Second
		return importResult{wall: wall}, nil
	}
	ir := importRun{bin: "/new", source: "in.csv", mapping: "in.yaml", rows: 10}
	for round := 1; round <= 3; round++ {
		res, base, err := p.importPair(round, "/old", ir, run)
		if err != nil {
			t.Fatal(err)
		}
		if res.wall == base.wall || res.wall == 0 || base.wall == 0 {
			t.Errorf("round %d: res %v, base %v", round, res.wall, base.wall)
		}
	}
	if want := []string{"/old", "/new", "/new", "/old", "/old", "/new"}; !reflect.DeepEqual(ran, want) {
		t.Errorf("ran %v, want %v", ran, want)
	}
	secs := func(rs []importResult) []float64 {
		var out []float64
		for _, r := range rs {
			out = append(out, r.wall.Seconds())
		}
		return out
	}
	if got, want := secs(p.imports), []float64{2, 3, 6}; !reflect.DeepEqual(got, want) {
		t.Errorf("imports %v, want %v", got, want)
	}
	if got, want := secs(p.baseImports), []float64{1, 4, 5}; !reflect.DeepEqual(got, want) {
		t.Errorf("baseline imports %v, want %v", got, want)
	}

	// Without a baseline only the new binary runs.
	q := &benchPath{}
	ran = nil
	if _, _, err := q.importPair(1, "", ir, run); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ran, []string{"/new"}) || len(q.imports) != 1 || q.baseImports != nil {
		t.Errorf("without a baseline: ran %v, %d imports, %d baseline imports", ran, len(q.imports), len(q.baseImports))
	}

	// A failed run of either binary keeps the round out of both lists.
	fail := errors.New("exit status 1")
	r := &benchPath{}
	_, _, err := r.importPair(2, "/old", ir, func(ir importRun) (importResult, error) {
		if ir.bin == "/old" {
			return importResult{}, fail
		}
		return importResult{wall: time.Second}, nil
	})
	if !errors.Is(err, fail) || !strings.HasPrefix(err.Error(), "baseline: ") {
		t.Errorf("err = %v, want the baseline's error", err)
	}
	if len(r.imports) != 0 || len(r.baseImports) != 0 {
		t.Errorf("a failed round left %d imports and %d baseline imports", len(r.imports), len(r.baseImports))
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		xs   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{0.9, 1.1, 1.0, 5, 0.2}, 1.0},
	} {
		in := slices.Clone(c.xs)
		if got := median(c.xs); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.xs, got, c.want)
		}
		if !reflect.DeepEqual(in, c.xs) {
			t.Errorf("median reordered its input: %v", c.xs)
		}
	}
	if got := median(nil); !math.IsNaN(got) {
		t.Errorf("median(nil) = %v, want NaN", got)
	}
}

// TestPrintBaseline checks the comparison table on made-up results: the
// rates are of the best runs, the ratio is the median of the rounds'.
func TestPrintBaseline(t *testing.T) {
	const rows = 1_000_000
	secs := func(s float64) importResult {
		d := time.Duration(s * float64(time.Second))
		return importResult{wall: d, cpu: 2 * d}
	}
	paths := []*benchPath{
		{kind: kinds[0], // new/old by round: 1.0, 0.5 (a disturbed run), 0.98
			imports:     []importResult{secs(2), secs(4), secs(2.5)},
			baseImports: []importResult{secs(2), secs(2), secs(2.45)}},
		{kind: kinds[2], // new/old by round: 1.25, 1.2
			imports:     []importResult{secs(1.6), secs(2)},
			baseImports: []importResult{secs(2), secs(2.4)}},
		{kind: kinds[2], expr: true, imports: []importResult{secs(2), secs(2.4)}},
		{kind: kinds[3], skip: "parquet: not supported yet"},
	}
	var b bytes.Buffer
	printBaseline(&b, paths, rows, "/tmp/old/backfill")
	squeeze := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	out := squeeze(b.String())
	for _, want := range []string{
		"Against the baseline /tmp/old/backfill:",
		"| path | baseline events/s | new events/s | new/old (median) | new/old (min–max) | rounds | target | met | per CPU-s new/old (median) |",
		"| " + kinds[0].title + " | 500,000 | 500,000 | 0.980 | 0.500–1.000 | 3 | ≥ 0.97 | yes (2.0 % slower) | 0.980 |",
		"| " + kinds[2].title + " | 500,000 | 625,000 | 1.225 | 1.200–1.250 | 2 | ≥ 0.97 | yes (22.5 % faster) | 1.225 |",
		"| " + kinds[3].title + " | | | | | | parquet: not supported yet | |",
		"| " + kinds[2].title + ", 1 drop rule and 2 expressions | | | | | | not measured: compared with the CSV path above | |",
	} {
		if !strings.Contains(out, squeeze(want)) {
			t.Errorf("output lacks %q:\n%s", want, b.String())
		}
	}

	// Slower by wall time, the same by CPU time: a busy machine.
	slow := []*benchPath{{kind: kinds[0],
		imports:     []importResult{{wall: 2100 * time.Millisecond, cpu: 3 * time.Second}, {wall: 2100 * time.Millisecond, cpu: 3 * time.Second}},
		baseImports: []importResult{{wall: 2 * time.Second, cpu: 3 * time.Second}, {wall: 2 * time.Second, cpu: 3 * time.Second}}}}
	b.Reset()
	printBaseline(&b, slow, rows, "old")
	if want := "| 0.952 | 0.952–0.952 | 2 | ≥ 0.97 | NO (4.8 % slower) | 1.000 |"; !strings.Contains(squeeze(b.String()), squeeze(want)) {
		t.Errorf("output lacks %q:\n%s", want, b.String())
	}
}

// TestParseRateOptions: the rate section's flags.
func TestParseRateOptions(t *testing.T) {
	parse := func(args ...string) (options, error) {
		fs := flag.NewFlagSet("backfill-bench", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		return parseOptions(fs, args)
	}
	o, err := parse()
	if err != nil || !reflect.DeepEqual(o.rateLimits, []int{10, 50}) || o.rateRows != 0 || o.rateSteady != 30*time.Second || o.rateOnly {
		t.Errorf("defaults: limits %v, rows %d, steady %s, only %t, %v", o.rateLimits, o.rateRows, o.rateSteady, o.rateOnly, err)
	}
	o, err = parse("-rate-limits", "20", "-rate-rows", "5000", "-rate-steady", "5s", "-rate-only")
	if err != nil || !reflect.DeepEqual(o.rateLimits, []int{20}) || o.rateRows != 5000 || o.rateSteady != 5*time.Second || !o.rateOnly {
		t.Errorf("parsed: limits %v, rows %d, steady %s, only %t, %v", o.rateLimits, o.rateRows, o.rateSteady, o.rateOnly, err)
	}
	if o, err := parse("-rate-limits", "none"); err != nil || o.rateLimits != nil {
		t.Errorf("none: %v, %v", o.rateLimits, err)
	}
	for _, bad := range [][]string{{"-rate-limits", "0"}, {"-rate-limits", "none", "-rate-only"}, {"-rate-rows", "-1"}, {"-rate-steady", "0s"}} {
		if _, err := parse(bad...); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// TestPrintRateTable: the rate section's table prints.
func TestPrintRateTable(t *testing.T) {
	var b strings.Builder
	printRateTable(&b, "new-bin", 1000, 30*time.Second, []rateResult{
		{limit: 10, stated: true, binary: "new-bin", wall: 10 * time.Second, rep: rateReport{report: report{RowsRead: 1000}, Batches: 98, Requests: 100, Throttled: 2, PausedSeconds: 1},
			// The ramp-up, five whole seconds, and a last one cut short.
			perSecond: []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 10, 10, 10, 10, 9, 3}},
		{limit: 10, stated: false, binary: "old-bin", wall: 20 * time.Second, rep: rateReport{report: report{RowsRead: 1000}, Batches: 98, Requests: 130, Throttled: 32},
			perSecond: []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 10}},
	})
	want := `Against a rate limit: 1,000 Segment messages imported with --rate -1 --max-batch-messages 100 into a receiver that accepts N requests a second (backfill serve --discard --max-rps N); steady: the whole seconds after the first 10s
|    limit | limit stated | binary   |  rows | requests | 429s | accepted req/s | of the limit | steady req/s | steady, of the limit | paused |   time |
| -------: | ------------ | -------- | ----: | -------: | ---: | -------------: | -----------: | -----------: | -------------------: | -----: | -----: |
| 10 req/s | yes          | new      | 1,000 |      100 |    2 |            9.8 |       98.0 % |    9.8 (5 s) |               98.0 % |  1.0 s | 10.0 s |
| 10 req/s | no           | baseline | 1,000 |      130 |   32 |            4.9 |       49.0 % |            - |                    - |  0.0 s | 20.0 s |
`
	if got := b.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// TestAcceptedCounter: the requests answered with a success are counted
// by the second since the count began; others, and those before it, are
// not.
func TestAcceptedCounter(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := start
	status := http.StatusOK
	c := &acceptedCounter{now: func() time.Time { return now }, next: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if status != http.StatusOK {
			w.WriteHeader(status)
		}
		io.WriteString(w, "{}")
	})}
	serve := func(at time.Duration, code int) {
		now, status = start.Add(at), code
		c.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/v1/batch", nil))
	}
	serve(0, http.StatusOK) // before the count begins
	c.begin(start)
	serve(100*time.Millisecond, http.StatusOK)
	serve(900*time.Millisecond, http.StatusTooManyRequests)
	serve(999*time.Millisecond, http.StatusOK)
	serve(2500*time.Millisecond, http.StatusOK)
	serve(-time.Second, http.StatusOK)
	if got := fmt.Sprint(c.counts()); got != "[2 0 1]" {
		t.Errorf("counts %s, want [2 0 1]", got)
	}
	r := rateResult{perSecond: append(make([]int64, 10), 8, 10, 3)}
	if per, secs := r.steady(); per != 9 || secs != 2 {
		t.Errorf("steady %g over %d s, want 9 over 2 s", per, secs)
	}
}
