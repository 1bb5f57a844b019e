// Command backfill-bench measures the import's throughput and memory on
// generated files, against the targets of the performance work: for each
// input path (NDJSON of Segment messages passed through, flat NDJSON with
// a mapping, CSV with a mapping, the same CSV with a mapping that adds a
// drop rule and two fields computed by expressions, Parquet with a
// mapping, and the text formats gzip-compressed) it measures, in the same run, a floor (the
// least work any importer must do on the file) and the built "backfill
// import --stub" as a subprocess, as a user runs it; then the cost of a
// checkpoint and of sending to a local receiver ("backfill serve", which
// checks every message, and "backfill serve --discard"); with -memory,
// the peak RSS of imports of 1,000,000 and 5,000,000 rows; and, unless
// -objects 0, an import of gzipped NDJSON objects from a fake S3 server
// that adds 20 ms to every request, against the same files read from
// disk, with the server's CPU time beside the import's.
//
// Each measurement runs -runs times, interleaved path by path so that load
// from elsewhere on the machine falls on floors and imports alike, and the
// best (fastest) run is reported; peak RSS is the largest of the runs. The
// rates are also given per CPU-second, which such load disturbs less. The
// ratios of two imports (gzip against plain, with a checkpoint or to a
// receiver against --stub) are the median of the ratios of the runs of
// each round, which are seconds apart. The
// floor reads the first -floor-rows rows of each file: its rate is the
// same over the whole file.
//
//	go run ./cmd/backfill-bench [-rows N] [-runs N] [-floor-rows N] [-bin PATH] [-dir DIR]
//	        [-memory] [-memory-rows N,N] [-only KINDS] [-extras KINDS] [-profile DIR]
//	        [-objects N] [-object-rows N] [-objects-only]
//	go run ./cmd/backfill-bench -generate -dir DIR [-rows N]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/backfillhq/backfill/readers"
)

// options are the command's flags.
type options struct {
	rows       int
	floorRows  int
	runs       int
	rowGroup   int
	dir        string
	bin        string
	generate   bool
	memory     bool
	memoryRows []int
	only       []string
	extras     []string
	profileDir string
	// baseline is the binary the new one is compared with, run in the
	// same rounds; "" for none.
	baseline string
	// rateLimits are the request limits of the rate section; none: no
	// section. rateRows are the rows each of its imports sends (0: enough
	// for rateSteady at the limit after the ramp-up), and rateOnly skips
	// every other measurement.
	rateLimits []int
	rateRows   int
	rateSteady time.Duration
	rateOnly   bool
	// shards is the shard count of the shards section (0: no section),
	// and shardsOnly skips every other measurement.
	shards     int
	shardsOnly bool
	// objects is the count of objects of the object-storage section (0:
	// no section), objectRows the rows in them, and objectsOnly skips
	// every other measurement.
	objects     int
	objectRows  int
	objectsOnly bool
}

func main() {
	if len(os.Args) == 2 && os.Args[1] == runnerArg {
		os.Exit(runnerMain())
	}
	if len(os.Args) >= 2 && os.Args[1] == fakeS3Arg {
		os.Exit(fakeS3Main(os.Args[2:]))
	}
	fs := flag.NewFlagSet("backfill-bench", flag.ContinueOnError)
	o, err := parseOptions(fs, os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fatalf("%v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if o.generate {
		if err := os.MkdirAll(o.dir, 0o755); err != nil {
			fatalf("%v", err)
		}
		fs, err := generate(o.dir, o.rows, selectKinds(o.only), true, o.rowGroup)
		if err != nil {
			fatalf("%v", err)
		}
		printFiles(fs)
		return
	}
	if err := bench(ctx, o); err != nil {
		fatalf("%v", err)
	}
}

// usage is the head of -h, before the flags.
const usage = `Usage of backfill-bench:

	go run ./cmd/backfill-bench [-rows N] [-runs N] [-floor-rows N] [-bin PATH] [-baseline OLD_BIN] [-dir DIR]
	        [-memory] [-memory-rows N,N] [-only KINDS] [-extras KINDS] [-profile DIR]
	        [-rate-limits N,N] [-rate-rows N] [-rate-steady D] [-rate-only]
	        [-objects N] [-object-rows N] [-objects-only]
	go run ./cmd/backfill-bench -generate -dir DIR [-rows N]

Measures "backfill import --stub" on generated inputs against the floor of
each path and the targets. With -baseline OLD_BIN, every round also runs
OLD_BIN on the same input right before or after the new binary (the order
alternates from one round to the next), and a last table gives, per path,
both rates and the median of the paired ratios new/old with their range:
"new/old 0.98" is 2 % slower.

`

// parseOptions reads the command's flags from args into options; it
// returns flag.ErrHelp after printing the usage for -h.
func parseOptions(fs *flag.FlagSet, args []string) (options, error) {
	var o options
	var memoryRows, only, extras string
	fs.IntVar(&o.rows, "rows", 1_000_000, "rows in each generated file")
	fs.IntVar(&o.floorRows, "floor-rows", 250_000, "rows of each file the floor reads (the rate is the same over the whole file); 0 for all")
	fs.IntVar(&o.runs, "runs", 5, "runs of each measurement; the best is reported (on a shared machine, speed can vary by 25 % from one run to the next)")
	fs.IntVar(&o.rowGroup, "row-group", 131_072, "rows in each row group of the generated Parquet files")
	fs.StringVar(&o.dir, "dir", "", "folder for the generated files, kept and reused by later runs (default: a temporary folder, removed after)")
	fs.StringVar(&o.bin, "bin", "", "the backfill binary to measure (default: built from ./cmd/backfill into the folder of the generated files)")
	fs.StringVar(&o.baseline, "baseline", "", "an older backfill binary `OLD_BIN` to compare with: each round runs it and the new binary on the same input, one right after the other, alternating which goes first, and reports the median of the paired ratios new/old per path")
	fs.BoolVar(&o.generate, "generate", false, "only write the input files and mappings into -dir, for profiling")
	fs.BoolVar(&o.memory, "memory", false, "also measure peak RSS at each row count of -memory-rows, every format")
	fs.StringVar(&memoryRows, "memory-rows", "1000000,5000000", "comma-separated row counts of the memory section")
	fs.StringVar(&only, "only", "", "comma-separated kinds to measure: segment, ndjson, csv, parquet (default: all)")
	fs.StringVar(&extras, "extras", "csv", "comma-separated kinds whose checkpoint cost and local-receiver rate are measured; none for none")
	fs.StringVar(&o.profileDir, "profile", "", "also write a CPU profile of one more import of each path into `DIR`")
	var rateLimits string
	fs.StringVar(&rateLimits, "rate-limits", "10,50", "comma-separated request limits `N,N` of the rate section: imports with --rate -1 into backfill serve --max-rps N, the limit stated and hidden; none for none")
	fs.IntVar(&o.rateRows, "rate-rows", 0, "Segment messages each import of the rate section sends (0: enough for -rate-steady at the limit after the first 10 s, 100 a request)")
	fs.DurationVar(&o.rateSteady, "rate-steady", 30*time.Second, "how long each import of the rate section runs at the limit after its first 10 s, whose accepted requests a second the section reports")
	fs.BoolVar(&o.rateOnly, "rate-only", false, "measure only the rate section")
	fs.IntVar(&o.shards, "shards", 3, "`N` shard processes at once in the shards section, against one process (--stub, -rows Segment messages); 0 for no section")
	fs.BoolVar(&o.shardsOnly, "shards-only", false, "measure only the shards section")
	fs.IntVar(&o.objects, "objects", 16, "gzipped NDJSON objects of the object-storage section, imported from a fake S3 server that adds 20 ms to every request and from disk; 0 for no section")
	fs.IntVar(&o.objectRows, "object-rows", 500_000, "Segment messages in the objects of the object-storage section, in all")
	fs.BoolVar(&o.objectsOnly, "objects-only", false, "measure only the object-storage section")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}

	var err error
	if o.memoryRows, err = parseCounts(memoryRows); err != nil {
		return o, fmt.Errorf("-memory-rows: %w", err)
	}
	if o.only, err = parseKinds(only); err != nil {
		return o, fmt.Errorf("-only: %w", err)
	}
	if extras != "none" {
		if o.extras, err = parseKinds(extras); err != nil {
			return o, fmt.Errorf("-extras: %w", err)
		}
	}
	if rateLimits != "none" {
		if o.rateLimits, err = parseCounts(rateLimits); err != nil {
			return o, fmt.Errorf("-rate-limits: %w", err)
		}
	}
	if o.shardsOnly && o.shards < 2 {
		return o, errors.New("-shards-only needs -shards 2 or more")
	}
	if o.shards < 0 || o.shards == 1 {
		return o, errors.New("-shards: want 2 or more shard processes, or 0 for no section")
	}
	if o.rateOnly && o.rateLimits == nil {
		return o, errors.New("-rate-only needs -rate-limits")
	}
	if o.objects < 0 || o.objectsOnly && o.objects == 0 {
		return o, errNoObjects
	}
	if o.objects > 0 && o.objectRows < o.objects {
		return o, errors.New("-object-rows must be at least -objects")
	}
	if o.rateOnly && o.objectsOnly {
		return o, errors.New("-rate-only and -objects-only exclude each other")
	}
	if o.rows < 1 || o.runs < 1 || o.rowGroup < 1 {
		return o, errors.New("-rows, -runs and -row-group must be at least 1")
	}
	if o.rateRows < 0 || o.rateSteady <= 0 {
		return o, errors.New("-rate-rows must be 0 (sized by -rate-steady) or more, and -rate-steady more than 0")
	}
	if o.generate && o.dir == "" {
		return o, errors.New("-generate needs -dir")
	}
	if o.baseline != "" {
		if o.generate {
			return o, errors.New("-baseline measures imports; -generate only writes the inputs")
		}
		abs, err := filepath.Abs(o.baseline)
		if err != nil {
			return o, fmt.Errorf("-baseline: %w", err)
		}
		o.baseline = abs
	}
	return o, nil
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "backfill-bench: "+format+"\n", args...)
	os.Exit(1)
}

// parseCounts reads "1000000,5000000".
func parseCounts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.ReplaceAll(strings.TrimSpace(f), "_", ""))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q: want positive row counts", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// parseKinds reads a comma-separated list of kind keys; "" is all.
func parseKinds(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if !slices.ContainsFunc(kinds, func(k inputKind) bool { return k.key == f }) {
			return nil, fmt.Errorf("unknown kind %q (want segment, ndjson, csv or parquet)", f)
		}
		out = append(out, f)
	}
	return out, nil
}

// selectKinds returns the kinds named in keys, all of them if keys is empty.
func selectKinds(keys []string) []inputKind {
	var out []inputKind
	for _, k := range kinds {
		if len(keys) == 0 || slices.Contains(keys, k.key) {
			out = append(out, k)
		}
	}
	return out
}

// targets are the events/s targets through "import --stub", by kind.
var targets = map[string]float64{"segment": 600_000, "ndjson": 500_000, "csv": 700_000, "parquet": 700_000}

// Targets that are not rates.
const (
	gzipMaxSlowdown   = 0.15      // a .gz input at most 15 % slower than the plain one
	receiverMinShare  = 0.70      // to a local receiver: at least 70 % of the --stub rate
	checkpointMaxCost = 0.05      // keeping a checkpoint: under 5 % slower
	memoryMaxRSS      = 256 << 20 // peak RSS under 256 MiB at every size
	memoryMaxGrowth   = 0.10      // and within 10 % across sizes
	// baselineMaxSlowdown: against -baseline, no path more than 3 % slower
	// (the median of the paired ratios new/old at least 0.97).
	baselineMaxSlowdown = 0.03
	// exprMaxSlowdown: the CSV mapping with one drop rule and two
	// computed fields at most 35 % slower than without them.
	exprMaxSlowdown = 0.35
)

// notSupportedFormat is what a row of a format the readers cannot read yet
// says, with the format's name.
const notSupportedFormat = "%s: not supported yet"

// benchPath is one input path of the table and its measurements.
type benchPath struct {
	kind inputKind
	gz   bool
	// expr marks the CSV path with csvExprMapping, measured against the
	// CSV path with csvMapping; it has no baseline runs (an older
	// binary may not read expressions).
	expr    bool
	file    string
	mapping string
	skip    string // why it is not measured, if it is not

	floors   []float64 // rows/s
	floorCPU []float64 // rows per CPU-second
	imports  []importResult
	// baseImports are the baseline binary's runs, paired round by round
	// with imports: baseImports[k] and imports[k] ran one after the other.
	baseImports []importResult
	ckpts       []importResult
	recvs       []importResult
	recvCPU     []time.Duration // the receiver's CPU time during each of recvs
	discards    []importResult  // to a receiver that discards without checking
	discCPU     []time.Duration // that receiver's CPU time during each of discards
}

func (p *benchPath) title() string {
	switch {
	case p.gz:
		return p.kind.title + ", gzip"
	case p.expr:
		return p.kind.title + ", 1 drop rule and 2 expressions"
	}
	return p.kind.title
}

func (p *benchPath) name() string {
	switch {
	case p.gz:
		return p.kind.key + ".gz"
	case p.expr:
		return exprKey
	}
	return p.kind.key
}

func bench(ctx context.Context, o options) error {
	began := time.Now()
	// Started first, while this process is small: see runner.
	rn, err := startRunner()
	if err != nil {
		return err
	}
	defer rn.close()
	dir := o.dir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "backfill-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	bin := o.bin
	if bin == "" {
		bin = filepath.Join(dir, "backfill")
		build := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/backfillhq/backfill/cmd/backfill")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("go build ./cmd/backfill: %w", err)
		}
	} else if abs, err := filepath.Abs(bin); err == nil {
		bin = abs
	}
	if o.baseline != "" {
		if err := checkBinary(o.baseline); err != nil {
			return fmt.Errorf("-baseline: %w", err)
		}
	}

	if o.rateOnly {
		return rateSection(ctx, os.Stdout, bin, o.baseline, dir, o.rateRows, o.rateSteady, o.rateLimits)
	}
	if o.shardsOnly {
		return shardsSection(ctx, os.Stdout, bin, dir, o.rows, o.runs, o.shards)
	}
	if o.objectsOnly {
		return objectSection(ctx, os.Stdout, rn, bin, dir, o.objects, o.objectRows, o.runs)
	}
	want := selectKinds(o.only)
	t0 := time.Now()
	fs, err := generate(dir, o.rows, want, true, o.rowGroup)
	if err != nil {
		return err
	}
	baseline := "?"
	if t, err := exec.LookPath("true"); err == nil {
		if resp, err := rn.run(ctx, runRequest{Args: []string{t}}); err == nil {
			baseline = megabytes(resp.MaxRSS)
		}
	}
	fmt.Printf("backfill-bench: %s rows a file, best of %d runs; %d CPUs (GOMAXPROCS %d), load average %s; %s\n",
		thousands(int64(o.rows)), o.runs, runtime.NumCPU(), runtime.GOMAXPROCS(0), loadAverage(), runtime.Version())
	fmt.Printf("binary: %s; inputs in %s (ready in %.1fs); peak RSS of /bin/true as measured here: %s\n",
		bin, dir, time.Since(t0).Seconds(), baseline)
	if o.baseline != "" {
		fmt.Printf("baseline: %s, run in every round right before or after the binary, alternating\n", o.baseline)
	}
	printFiles(fs)
	fmt.Println()

	var paths []*benchPath
	for _, k := range want {
		p := &benchPath{kind: k, file: fs.plain[k.key], mapping: fs.mappings[k.key]}
		if k.format == readers.FormatParquet {
			if p.skip = parquetSupport(ctx, p.file); p.skip != "" {
				fmt.Fprintf(os.Stderr, "backfill-bench: "+notSupportedFormat+": %s\n", "parquet", p.skip)
			}
		}
		paths = append(paths, p)
		if mp, ok := fs.mappings[exprKey]; ok && k.key == "csv" {
			paths = append(paths, &benchPath{kind: k, expr: true, file: p.file, mapping: mp})
		}
	}
	for _, k := range want {
		if gz, ok := fs.gz[k.key]; ok {
			paths = append(paths, &benchPath{kind: k, gz: true, file: gz, mapping: fs.mappings[k.key]})
		}
	}

	var rcvs receivers
	if slices.ContainsFunc(paths, func(p *benchPath) bool { return p.extra(o.extras) }) {
		if rcvs.check, err = startReceiver(ctx, bin, dir, false); err != nil {
			return err
		}
		defer rcvs.check.stop()
		if rcvs.discard, err = startReceiver(ctx, bin, dir, true); err != nil {
			return err
		}
		defer rcvs.discard.stop()
	}

	var failures []error
	fail := func(p *benchPath, err error) {
		p.skip = "error: " + firstLine(err.Error())
		failures = append(failures, fmt.Errorf("%s: %w", p.title(), err))
		fmt.Fprintf(os.Stderr, "backfill-bench: %s: %v\n", p.title(), err)
	}
	for run := 1; run <= o.runs; run++ {
		for _, p := range paths {
			if p.skip != "" {
				continue
			}
			if err := p.measure(ctx, run, o, rn, bin, dir, rcvs); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				fail(p, err)
			}
		}
	}
	if o.profileDir != "" {
		if err := os.MkdirAll(o.profileDir, 0o755); err != nil {
			return err
		}
		for _, p := range paths {
			if p.skip != "" {
				continue
			}
			ir := importRun{bin: bin, dir: dir, source: p.file, mapping: p.mapping, rows: o.rows,
				cpuProfile: filepath.Join(o.profileDir, p.name()+".pprof")}
			if _, err := ir.run(ctx, rn); err != nil {
				fail(p, err)
			}
		}
	}

	fmt.Printf(floorHelp+"\n", floorScope(o))
	fmt.Println()
	printThroughput(os.Stdout, paths, o.rows)
	fmt.Println()
	printCPU(os.Stdout, paths, o.rows)
	fmt.Println()
	printCosts(os.Stdout, paths, o.rows, o.extras)
	if o.baseline != "" {
		fmt.Println()
		printBaseline(os.Stdout, paths, o.rows, o.baseline)
	}

	if o.memory {
		fmt.Println()
		if err := memorySection(ctx, o, rn, bin, dir, fs, want); err != nil {
			failures = append(failures, err)
		}
	}
	if o.rateLimits != nil {
		fmt.Println()
		if err := rateSection(ctx, os.Stdout, bin, o.baseline, dir, o.rateRows, o.rateSteady, o.rateLimits); err != nil {
			failures = append(failures, err)
		}
	}
	if o.shards > 1 {
		fmt.Println()
		if err := shardsSection(ctx, os.Stdout, bin, dir, o.rows, o.runs, o.shards); err != nil {
			failures = append(failures, err)
		}
	}
	if o.objects > 0 {
		fmt.Println()
		if err := objectSection(ctx, os.Stdout, rn, bin, dir, o.objects, o.objectRows, o.runs); err != nil {
			failures = append(failures, fmt.Errorf("object storage: %w", err))
		}
	}
	if o.profileDir != "" {
		fmt.Printf("\nCPU profiles of one more import of each path: %s/*.pprof (go tool pprof -top %s FILE)\n", o.profileDir, bin)
	}
	fmt.Printf("\nload average %s; the bench took %s\n", loadAverage(), time.Since(began).Round(time.Second))
	return errors.Join(failures...)
}

// extra reports whether p's checkpoint and receiver rows are measured.
func (p *benchPath) extra(keys []string) bool {
	return !p.gz && !p.expr && p.skip == "" && slices.Contains(keys, p.kind.key)
}

// receivers are the two local receivers the extras send to.
type receivers struct {
	check, discard *receiver
}

// toReceiver runs ir against rcv and returns the result and the CPU time
// the receiver used meanwhile.
func toReceiver(ctx context.Context, ir importRun, rn *runner, rcv *receiver) (importResult, time.Duration, error) {
	ir.endpoint = rcv.url
	before, err := rcv.cpu()
	if err != nil {
		return importResult{}, 0, err
	}
	res, err := ir.run(ctx, rn)
	if err != nil {
		return res, 0, err
	}
	after, err := rcv.cpu()
	return res, after - before, err
}

// measure runs p's floor and imports once.
func (p *benchPath) measure(ctx context.Context, run int, o options, rn *runner, bin, dir string, rcvs receivers) error {
	runtime.GC()
	cpu0 := processCPU()
	start := time.Now()
	n, err := floor(ctx, p.file, p.kind.format, int64(o.floorRows))
	d := time.Since(start)
	cpu := processCPU() - cpu0
	if err != nil {
		return fmt.Errorf("floor: %w", err)
	}
	want := o.rows
	if o.floorRows > 0 {
		want = min(want, o.floorRows)
	}
	if n < int64(want) || n > int64(o.rows) || p.kind.format != readers.FormatParquet && n != int64(want) {
		return fmt.Errorf("floor: read %d rows, want %d", n, want)
	}
	p.floors = append(p.floors, float64(n)/d.Seconds())
	p.floorCPU = append(p.floorCPU, float64(n)/cpu.Seconds())

	ir := importRun{bin: bin, dir: dir, source: p.file, mapping: p.mapping, rows: o.rows}
	baseline := o.baseline
	if p.expr {
		baseline = ""
	}
	res, base, err := p.importPair(run, baseline, ir, func(ir importRun) (importResult, error) { return ir.run(ctx, rn) })
	if err != nil {
		return err
	}
	msg := fmt.Sprintf("run %d/%d %-11s floor %5.2fs (%s rows)  import %5.2fs", run, o.runs, p.name(), d.Seconds(), thousands(n), res.wall.Seconds())
	if baseline != "" {
		msg += fmt.Sprintf("  baseline %5.2fs", base.wall.Seconds())
	}

	if p.extra(o.extras) {
		ir.checkpoint = true
		res, err := ir.run(ctx, rn)
		if err != nil {
			return fmt.Errorf("with a checkpoint: %w", err)
		}
		p.ckpts = append(p.ckpts, res)
		ir.checkpoint = false
		res, cpu, err := toReceiver(ctx, ir, rn, rcvs.check)
		if err != nil {
			return fmt.Errorf("to the local receiver: %w", err)
		}
		p.recvs = append(p.recvs, res)
		p.recvCPU = append(p.recvCPU, cpu)
		dres, dcpu, err := toReceiver(ctx, ir, rn, rcvs.discard)
		if err != nil {
			return fmt.Errorf("to the discarding receiver: %w", err)
		}
		p.discards = append(p.discards, dres)
		p.discCPU = append(p.discCPU, dcpu)
		msg += fmt.Sprintf("  checkpoint %5.2fs  receiver %5.2fs  discard %5.2fs",
			p.ckpts[len(p.ckpts)-1].wall.Seconds(), res.wall.Seconds(), dres.wall.Seconds())
	}
	fmt.Fprintln(os.Stderr, msg)
	return nil
}

// binaryRole says which binary an import of a pair runs.
type binaryRole int

const (
	newBinary binaryRole = iota
	baselineBinary
)

// pairOrder returns the imports a round runs, in order: the new binary
// alone without a baseline; with one, the baseline first in odd rounds and
// the new binary first in even rounds, so that neither always runs first
// (after the other has warmed the page cache, or while it still loads the
// machine).
func pairOrder(round int, baseline bool) []binaryRole {
	switch {
	case !baseline:
		return []binaryRole{newBinary}
	case round%2 == 1:
		return []binaryRole{baselineBinary, newBinary}
	default:
		return []binaryRole{newBinary, baselineBinary}
	}
}

// importPair runs round's import of p with ir and, if baselineBin is set,
// the same import with the baseline binary just before or after it, in the
// order of pairOrder. It appends the results to p.imports and
// p.baseImports, so that the runs of one round share their index, and
// returns them.
func (p *benchPath) importPair(round int, baselineBin string, ir importRun, run func(importRun) (importResult, error)) (res, base importResult, err error) {
	for _, role := range pairOrder(round, baselineBin != "") {
		r := ir
		if role == baselineBinary {
			r.bin = baselineBin
		}
		got, err := run(r)
		if err != nil {
			if role == baselineBinary {
				return res, base, fmt.Errorf("baseline: %w", err)
			}
			return res, base, err
		}
		if role == baselineBinary {
			base = got
		} else {
			res = got
		}
	}
	p.imports = append(p.imports, res)
	if baselineBin != "" {
		p.baseImports = append(p.baseImports, base)
	}
	return res, base, nil
}

// best returns the index of the fastest run.
func best(rs []importResult) int {
	b := 0
	for i, r := range rs {
		if r.wall < rs[b].wall {
			b = i
		}
	}
	return b
}

// peakRSS returns the largest peak RSS of the runs.
func peakRSS(rs []importResult) int64 {
	var m int64
	for _, r := range rs {
		m = max(m, r.maxRSS)
	}
	return m
}

// spread is how far the slowest run is behind the fastest, as a fraction.
func spread(rs []importResult) float64 {
	lo, hi := rs[0].wall, rs[0].wall
	for _, r := range rs {
		lo, hi = min(lo, r.wall), max(hi, r.wall)
	}
	return 1 - lo.Seconds()/hi.Seconds()
}

// pairedRatio is the median, over the runs, of the rate of b's run k
// divided by the rate of a's run k. Runs of the same round are seconds
// apart, so their ratio is much steadier than the ratio of the two best
// runs when the machine's speed drifts from one round to the next.
func pairedRatio(a, b []importResult) float64 {
	return median(pairedRatios(a, b))
}

// pairedRatios returns, for each round k that both a and b ran, the rate of
// b's run k divided by the rate of a's run k.
func pairedRatios(a, b []importResult) []float64 {
	n := min(len(a), len(b))
	ratios := make([]float64, n)
	for k := range n {
		ratios[k] = a[k].wall.Seconds() / b[k].wall.Seconds()
	}
	return ratios
}

// pairedCPURatios is pairedRatios of the CPU time: for each round, a's
// CPU time over b's, b's events per CPU-second against a's.
func pairedCPURatios(a, b []importResult) []float64 {
	n := min(len(a), len(b))
	ratios := make([]float64, n)
	for k := range n {
		ratios[k] = a[k].cpu.Seconds() / b[k].cpu.Seconds()
	}
	return ratios
}

// median returns the median of xs (the mean of the two middle values for
// an even count), or NaN for none. It does not change xs.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func printThroughput(w io.Writer, paths []*benchPath, rows int) {
	fmt.Fprintln(w, "Throughput: `backfill import --stub --no-checkpoint --rate -1 --progress never FILE`, everything but the network")
	fmt.Fprintln(w)
	t := &table{
		header: []string{"path", "floor events/s", "import events/s", "of floor", "cores", "spread", "peak RSS", "target", "met"},
		right:  []bool{false, true, true, true, true, true, true, false, false},
	}
	plain := map[string][]importResult{}
	for _, p := range paths {
		if p.skip != "" {
			reason := p.skip
			if p.kind.format == readers.FormatParquet && !strings.HasPrefix(reason, "error:") {
				reason = fmt.Sprintf(notSupportedFormat, "parquet")
			}
			t.add(p.title(), "", "", "", "", "", "", reason)
			continue
		}
		floorRate := slices.Max(p.floors)
		r := p.imports[best(p.imports)]
		ev := r.eventsPerSecond(rows)
		target, met := "", ""
		if p.expr {
			if base, ok := plain[p.kind.key]; ok {
				slower := 1 - pairedRatio(base, p.imports)
				cpuSlower := 1 - median(pairedCPURatios(base, p.imports))
				target = fmt.Sprintf("≤ %.0f %% slower than without", 100*exprMaxSlowdown)
				met = fmt.Sprintf("%s (%s; per CPU-s %s)", yesNo(slower <= exprMaxSlowdown), slowerText(slower), slowerText(cpuSlower))
			}
		} else if !p.gz {
			plain[p.kind.key] = p.imports
			goal := targets[p.kind.key]
			target = "≥ " + rate(goal)
			met = yesNo(ev >= goal)
			if ev < goal {
				met += fmt.Sprintf(" (%.0f %%)", 100*ev/goal)
			}
		} else if base, ok := plain[p.kind.key]; ok {
			slower := 1 - pairedRatio(base, p.imports)
			target = fmt.Sprintf("≤ %.0f %% slower than plain", 100*gzipMaxSlowdown)
			met = fmt.Sprintf("%s (%s)", yesNo(slower <= gzipMaxSlowdown), slowerText(slower))
		}
		t.add(p.title(), rate(floorRate), rate(ev), fmt.Sprintf("%.2f×", ev/floorRate),
			fmt.Sprintf("%.2f", r.cpu.Seconds()/r.wall.Seconds()), percent(spread(p.imports)),
			megabytes(peakRSS(p.imports)), target, met)
	}
	t.print(w)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "of floor: import events/s ÷ floor events/s (the import may use both cores, the floor uses one);")
	fmt.Fprintln(w, "cores: CPU time ÷ wall time of the best import; spread: how much slower the slowest run was than the best;")
	fmt.Fprintln(w, "peak RSS: the largest of the runs (ru_maxrss of the import process, started by a small runner process);")
	fmt.Fprintln(w, "gzip: how much slower than plain, the median over the rounds of each round's gzip run against its plain run;")
	fmt.Fprintln(w, "drop rule and expressions: the same CSV file and mapping with a drop rule that matches no row and userId and")
	fmt.Fprintln(w, "event computed (lower, coalesce) to the same values, against the CSV path the same way, and per CPU-second.")
}

// printCPU prints the rates per CPU-second, which other load on the
// machine disturbs much less than rates per second of wall time.
func printCPU(w io.Writer, paths []*benchPath, rows int) {
	fmt.Fprintln(w, "Per CPU-second (user + system time; less disturbed by other load on the machine than wall time):")
	fmt.Fprintln(w)
	t := &table{
		header: []string{"path", "floor rows/CPU-s", "import events/CPU-s", "of floor", "CPU-s for 1M events"},
		right:  []bool{false, true, true, true, true},
	}
	for _, p := range paths {
		if p.skip != "" {
			continue
		}
		floorRate := slices.Max(p.floorCPU)
		cpu := p.imports[0].cpu
		for _, r := range p.imports {
			cpu = min(cpu, r.cpu)
		}
		ev := float64(rows) / cpu.Seconds()
		t.add(p.title(), rate(floorRate), rate(ev), fmt.Sprintf("%.2f×", ev/floorRate), fmt.Sprintf("%.2f", 1e6/ev))
	}
	t.print(w)
}

// printBaseline compares, path by path, the new binary's --stub imports
// with the baseline's: the rate of the best run of each, and the median and
// range over the rounds of the ratio new/old of the two runs of a round.
func printBaseline(w io.Writer, paths []*benchPath, rows int, baselineBin string) {
	fmt.Fprintf(w, "Against the baseline %s: the same `import --stub` of the same file, both binaries in every round\n", baselineBin)
	fmt.Fprintln(w)
	t := &table{
		header: []string{"path", "baseline events/s", "new events/s", "new/old (median)", "new/old (min–max)", "rounds", "target", "met", "per CPU-s new/old (median)"},
		right:  []bool{false, true, true, true, true, true, false, false, true},
	}
	for _, p := range paths {
		n := min(len(p.imports), len(p.baseImports))
		if p.skip != "" || n == 0 {
			reason := p.skip
			switch {
			case reason != "":
			case p.expr:
				reason = "not measured: compared with the CSV path above"
			default:
				reason = "not measured"
			}
			t.add(p.title(), "", "", "", "", "", reason)
			continue
		}
		ratios := pairedRatios(p.baseImports, p.imports)
		med := median(ratios)
		t.add(p.title(),
			rate(p.baseImports[best(p.baseImports)].eventsPerSecond(rows)),
			rate(p.imports[best(p.imports)].eventsPerSecond(rows)),
			fmt.Sprintf("%.3f", med),
			fmt.Sprintf("%.3f–%.3f", slices.Min(ratios), slices.Max(ratios)),
			strconv.Itoa(n),
			fmt.Sprintf("≥ %.2f", 1-baselineMaxSlowdown),
			fmt.Sprintf("%s (%s)", yesNo(med >= 1-baselineMaxSlowdown), slowerText(1-med)),
			fmt.Sprintf("%.3f", median(pairedCPURatios(p.baseImports, p.imports))))
	}
	t.print(w)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "new/old: the new binary's events/s ÷ the baseline's, of the two runs of one round (seconds apart, the order")
	fmt.Fprintln(w, "alternating between rounds); the median over the rounds, and the smallest and largest of them;")
	fmt.Fprintln(w, "per CPU-s: the same median of events per CPU-second (user + system time), which load from elsewhere on the")
	fmt.Fprintln(w, "machine disturbs less: when the two medians disagree, the machine was busy.")
}

// checkBinary reports why path is not an executable file, or nil.
func checkBinary(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.IsDir() || st.Mode()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", path)
	}
	return nil
}

// processCPU returns the user and system time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func printCosts(w io.Writer, paths []*benchPath, rows int, extras []string) {
	fmt.Fprintln(w, "Costs beyond `--stub --no-checkpoint` (same file; ratio: the median over the rounds of each round's run against")
	fmt.Fprintln(w, "its --stub run, made just before it):")
	fmt.Fprintln(w)
	t := &table{
		header: []string{"path", "--stub events/s", "events/s", "ratio", "target", "met", "notes"},
		right:  []bool{false, true, true, true, false, false, false},
	}
	measured := false
	for _, p := range paths {
		if !p.extra(extras) || len(p.ckpts) == 0 {
			continue
		}
		measured = true
		stub := p.imports[best(p.imports)].eventsPerSecond(rows)
		for _, r := range []struct {
			how  string
			runs []importResult
			cpu  []time.Duration
		}{
			{"to a local receiver that checks every message (`backfill serve` on 127.0.0.1)", p.recvs, p.recvCPU},
			{"to a local receiver that discards (`backfill serve --discard` on 127.0.0.1)", p.discards, p.discCPU},
		} {
			if len(r.runs) == 0 {
				continue
			}
			b := best(r.runs)
			recv := r.runs[b].eventsPerSecond(rows)
			share := pairedRatio(p.imports, r.runs)
			t.add(p.kind.title+", "+r.how, rate(stub), rate(recv), percent(share),
				fmt.Sprintf("≥ %.0f %% of --stub", 100*receiverMinShare), yesNo(share >= receiverMinShare),
				fmt.Sprintf("receiver used %.1f s CPU on the same 2 cores (%.2f cores); peak RSS %s",
					r.cpu[b].Seconds(), r.cpu[b].Seconds()/r.runs[b].wall.Seconds(), megabytes(peakRSS(r.runs))))
		}
		ck := p.ckpts[best(p.ckpts)].eventsPerSecond(rows)
		cost := 1 - pairedRatio(p.imports, p.ckpts)
		t.add(p.kind.title+", with --checkpoint (written every 1s)", rate(stub), rate(ck), slowerText(cost),
			fmt.Sprintf("< %.0f %% slower", 100*checkpointMaxCost), yesNo(cost < checkpointMaxCost),
			"spread "+percent(spread(p.ckpts)))
	}
	if !measured {
		t.add("(none measured: see -extras)")
	}
	t.print(w)
}

// memorySection imports every kind once at each row count of -memory-rows
// and prints the peak RSS of each and their ratio.
func memorySection(ctx context.Context, o options, rn *runner, bin, dir string, base *files, want []inputKind) error {
	fmt.Printf("Memory: peak RSS of `backfill import --stub --no-checkpoint`, one run a size (target: < %d MiB at every size, within %.0f %%)\n\n",
		memoryMaxRSS>>20, 100*memoryMaxGrowth)
	header := []string{"path"}
	right := []bool{false}
	for _, n := range o.memoryRows {
		header = append(header, thousands(int64(n))+" rows")
		right = append(right, true)
	}
	header = append(header, "largest ÷ smallest", "met")
	right = append(right, true, false)
	t := &table{header: header, right: right}
	peaks := make(map[string][]int64)
	skip := make(map[string]string)
	var failures []error
	for _, n := range o.memoryRows {
		fs := base
		if n != o.rows {
			var err error
			t0 := time.Now()
			if fs, err = generate(dir, n, want, false, o.rowGroup); err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "memory: generated %s rows a file in %.1fs\n", thousands(int64(n)), time.Since(t0).Seconds())
		}
		for _, k := range want {
			if skip[k.key] != "" {
				continue
			}
			if k.format == readers.FormatParquet {
				if why := parquetSupport(ctx, fs.plain[k.key]); why != "" {
					skip[k.key] = fmt.Sprintf(notSupportedFormat, "parquet")
					continue
				}
			}
			ir := importRun{bin: bin, dir: dir, source: fs.plain[k.key], mapping: fs.mappings[k.key], rows: n}
			res, err := ir.run(ctx, rn)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				skip[k.key] = "error: " + firstLine(err.Error())
				failures = append(failures, fmt.Errorf("memory, %s, %d rows: %w", k.title, n, err))
				continue
			}
			fmt.Fprintf(os.Stderr, "memory: %-8s %9d rows  %5.2fs  peak RSS %s\n", k.key, n, res.wall.Seconds(), megabytes(res.maxRSS))
			peaks[k.key] = append(peaks[k.key], res.maxRSS)
		}
		if n != o.rows && o.dir == "" {
			for _, p := range fs.plain { // several GB at the larger sizes
				os.Remove(p)
			}
		}
	}
	for _, k := range want {
		if why := skip[k.key]; why != "" {
			t.add(k.title, why)
			continue
		}
		cells := []string{k.title}
		ps := peaks[k.key]
		for _, v := range ps {
			cells = append(cells, megabytes(v))
		}
		lo, hi := slices.Min(ps), slices.Max(ps)
		growth := float64(hi) / float64(lo)
		cells = append(cells, fmt.Sprintf("%.2f", growth), yesNo(hi < memoryMaxRSS && growth <= 1+memoryMaxGrowth))
		t.add(cells...)
	}
	t.print(os.Stdout)
	return errors.Join(failures...)
}

// parquetSupport returns why the readers cannot read the Parquet file at
// path, or "" if they can.
func parquetSupport(ctx context.Context, path string) string {
	r, err := readers.Open(ctx, readers.Source{Path: path, Format: readers.FormatParquet}, readers.Options{}, nil)
	if err != nil {
		return err.Error()
	}
	defer r.Close()
	if _, err := r.Next(ctx); err != nil {
		return err.Error()
	}
	return ""
}

func printFiles(fs *files) {
	var parts []string
	for _, k := range kinds {
		for _, p := range []string{fs.plain[k.key], fs.gz[k.key]} {
			if p == "" {
				continue
			}
			if st, err := os.Stat(p); err == nil {
				parts = append(parts, fmt.Sprintf("%s %s", filepath.Base(p), megabytes(st.Size())))
			}
		}
	}
	fmt.Printf("files: %s\n", strings.Join(parts, ", "))
}

// loadAverage returns the one-minute load average, or "?".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return "?"
}

// slowerText renders a relative cost: 0.042 → "4.2 % slower", negative
// as faster.
func slowerText(f float64) string {
	if f < 0 {
		return fmt.Sprintf("%.1f %% faster", -100*f)
	}
	return fmt.Sprintf("%.1f %% slower", 100*f)
}

// floorScope says how much of each file the floor reads.
func floorScope(o options) string {
	if o.floorRows <= 0 || o.floorRows >= o.rows {
		return "the whole file"
	}
	return fmt.Sprintf("the file's first %s rows", thousands(int64(o.floorRows)))
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
