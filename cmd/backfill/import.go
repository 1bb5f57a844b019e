package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/backfillhq/backfill/importer"
	"github.com/backfillhq/backfill/readers"
	"github.com/backfillhq/backfill/sink"
	"github.com/backfillhq/backfill/sink/segment"
)

const importAbout = `Reads every SOURCE (files, folders, globs with **, zip archives, objects in
buckets as s3://, gs:// or azblob://BUCKET/PREFIX, or - for stdin; CSV, NDJSON or .json arrays, plain, gzip, zstd or bzip2; Parquet), maps
each row to a Segment message, packs messages into batches (500,000 bytes,
32,000 bytes a message, 2,500 messages at most) and sends them to Segment's
HTTP Tracking API (/v1/batch) with retries and rate limits.

Without --mapping, every row must already be a Segment message (for example
an export of Segment's own archive): it is passed through, with sentAt,
receivedAt, originalTimestamp and writeKey dropped.

The write key is read from $SEGMENT_WRITE_KEY or --write-key-file; it is never
printed or logged. Rows that cannot be imported are written to the import's
own rejects file (beside its checkpoint, or --rejects) with their file, line,
byte offset, reason, raw bytes and the run's id; the import goes on, unless
the error budget is spent: more than half of the first 1,000 rows rejected,
or of the last 10,000 (--max-reject-rate), or more rows than --max-rejects.
"backfill rejects FILE" sums the rejects up and writes the rows back out to
fix them. Exit codes: 0 every row delivered, 2 finished with rejects, 3
stopped by the error budget, 64 a wrong flag or a mapping that is invalid or
does not fit the data (nothing sent), 1 failed, or the checkpoint or rejects
file is in use by another run (nothing sent), 130 interrupted.

With --shard K/N, or --shards N and the index a job runner sets
($JOB_COMPLETION_INDEX, $AWS_BATCH_JOB_ARRAY_INDEX, $CLOUD_RUN_TASK_INDEX),
the import is one of N shards: it reads only the files, Parquet row groups
and NDJSON byte ranges that fall to it, keeps its own checkpoint, and takes
1/N of --rate and --events-rate (see the README's "Shards").`

// importFlags are the flags of "backfill import".
type importFlags struct {
	inputFlags
	shardFlags
	monitorFlags

	dryRun       bool
	output       string
	stub         bool
	endpoint     string
	keyFile      string
	noGzip       bool
	rate         float64
	eventsRate   float64
	concurrency  int
	maxRetries   int
	maxRetryTime time.Duration
	minRate      float64
	timeout      time.Duration

	maxBatchBytes   int
	maxMessageBytes int
	maxMessages     int

	rejects  string
	report   string
	progress string

	limit         int64
	maxRejects    int64
	maxRejectRate float64
	cpuProfile    string
	memProfile    string

	checkpoint         string
	noCheckpoint       bool
	restart            bool
	checkpointInterval time.Duration
	drainTimeout       time.Duration
}

func (f *importFlags) register(fs *pflag.FlagSet) {
	f.inputFlags.register(fs)

	fs.BoolVar(&f.dryRun, "dry-run", false, "send nothing: write the messages that would be sent to stdout as NDJSON (same as --output -)")
	fs.StringVar(&f.output, "output", "", "send nothing: write the messages to `FILE` (- for stdout) as NDJSON, batched and validated as for sending")
	fs.BoolVar(&f.stub, "stub", false, "send nothing: run the whole pipeline, batching, gzip and rate limits included, and count every request as a success (for testing a mapping at full speed)")
	fs.StringVar(&f.endpoint, "endpoint", "", "Segment API `URL`, or eu for https://events.eu1.segmentapis.com (default: https://api.segment.io)")
	fs.StringVar(&f.keyFile, "write-key-file", "", "read the write key from `FILE` (default: $SEGMENT_WRITE_KEY)")
	fs.BoolVar(&f.noGzip, "no-gzip", false, "send request bodies uncompressed (default: gzip)")
	fs.Float64Var(&f.rate, "rate", segment.DefaultRate, "most `N` requests per second across all senders: the ceiling of the rate control, which 429s and a limit the server states lower; -1: no limit")
	fs.Float64Var(&f.eventsRate, "events-rate", 0, "most `N` events per second (default: no limit)")
	fs.IntVar(&f.concurrency, "concurrency", importer.DefaultConcurrency, "`N` batches in flight at once")
	fs.IntVar(&f.maxRetries, "max-retries", segment.DefaultMaxRetries, "`N` retries of one batch before the run stops; 0 or -1: none (the default is high so that --max-retry-time decides)")
	fs.DurationVar(&f.maxRetryTime, "max-retry-time", segment.DefaultMaxRetryTime, "how long (`D`) one batch may keep failing before the run stops, its checkpoint written; -1s: no limit")
	fs.Float64Var(&f.minRate, "min-rate", 0, "lowest request rate, `N` per second, that 429s may slow the import down to (default: 1)")
	fs.DurationVar(&f.timeout, "request-timeout", segment.DefaultRequestTimeout, "timeout `D` of one HTTP request, reading the answer included")

	fs.IntVar(&f.maxBatchBytes, "max-batch-bytes", sink.DefaultMaxBatchBytes, "largest request body in `BYTES` (at most the default)")
	fs.IntVar(&f.maxMessageBytes, "max-message-bytes", sink.DefaultMaxMessageBytes, "largest message in `BYTES`; larger ones are rejected (at most the default)")
	fs.IntVar(&f.maxMessages, "max-batch-messages", sink.DefaultMaxMessages, "most `N` messages in one batch (at most the default; at least the entries of the mapping's messages:)")

	fs.StringVar(&f.rejects, "rejects", "", "write rejected rows to `FILE` (NDJSON: file, line, row, offset, reason, error, run, time, raw; see backfill rejects); a new import moves an existing FILE aside to FILE.1.ndjson; a local file, never a bucket (default: beside the checkpoint, .backfill/<name>.rejects.ndjson, or for a checkpoint in a bucket .backfill/<store>-<bucket>/<key>.rejects.ndjson; --dry-run, --output and --stub write none)")
	fs.StringVar(&f.report, "report", "", "write the final report as JSON to `FILE`")
	fs.StringVar(&f.progress, "progress", "auto", "progress display `MODE`: auto (a bar when stderr is a terminal, else a log line every 10s), always or never")

	fs.Int64Var(&f.limit, "limit", 0, "import only the first `N` rows, in reading order across all sources, counting those a resumed import already read; the checkpoint keeps the place, so the command without --limit imports the rest (default: 0, every row)")
	fs.Int64Var(&f.maxRejects, "max-rejects", -1, "stop the import once more than `N` rows are rejected; 0 allows none, -1 no limit")
	fs.Float64Var(&f.maxRejectRate, "max-reject-rate", 100*importer.DefaultMaxRejectRate, "stop the import once more than `PERCENT` of its rows are rejected: of all the rows read, from the 1,000th to the 10,000th, then of the last 10,000; -1 or 100: no limit")

	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the import to `FILE` (for bug reports)")
	fs.StringVar(&f.memProfile, "memprofile", "", "write a profile of the memory the import allocated to `FILE` when it ends (for bug reports)")

	fs.StringVar(&f.checkpoint, "checkpoint", "", "keep the checkpoint in `FILE`, or in an object of a bucket: s3://BUCKET/KEY, gs://BUCKET/KEY, azblob://CONTAINER/KEY (default: .backfill/<hash of sources, mapping and destination>.json, found from any folder; previews keep none unless this is given)")
	fs.BoolVar(&f.noCheckpoint, "no-checkpoint", false, "keep no checkpoint: an interrupted import cannot resume")
	fs.BoolVar(&f.restart, "restart", false, "discard an existing checkpoint and import everything again")
	fs.DurationVar(&f.checkpointInterval, "checkpoint-interval", importer.DefaultCheckpointInterval, "longest time `D` between checkpoint writes; 0 writes after every batch")
	fs.DurationVar(&f.drainTimeout, "drain-timeout", importer.DefaultDrainTimeout, "on Ctrl-C or SIGTERM, how long (`D`) batches being sent may take to finish")

	f.shardFlags.register(fs)
	f.monitorFlags.register(fs)
}

// newImportCommand returns "backfill import". cmdline is the whole command
// line after "backfill", which the checkpoint keeps as the command that
// resumes the import.
func newImportCommand(cmdline []string, stdout, stderr io.Writer) *cobra.Command {
	var f importFlags
	cmd := &cobra.Command{
		Use:   "import [flags] SOURCE...",
		Short: "Read CSV/NDJSON/Parquet files, map rows to messages, send them",
		Long:  importAbout,
		Args:  needSources,
		RunE: func(cmd *cobra.Command, sources []string) error {
			if err := f.validate(cmd.Flags()); err != nil {
				return err
			}
			return codeErr(runImport(cmd.Context(), &f, sources, cmdline, stdout, stderr))
		},
	}
	cmd.Flags().SortFlags = false
	f.register(cmd.Flags())
	f.complete(cmd)
	return cmd
}

// complete registers the shell completions of import's flag values.
func (f *importFlags) complete(cmd *cobra.Command) {
	f.inputFlags.complete(cmd)
	f.monitorFlags.complete(cmd)
	cmd.RegisterFlagCompletionFunc("progress", cobra.FixedCompletions([]string{"auto", "always", "never"}, cobra.ShellCompDirectiveNoFileComp))
	cmd.RegisterFlagCompletionFunc("endpoint", cobra.FixedCompletions([]string{"eu", segment.Endpoint, "http://127.0.0.1:8088"}, cobra.ShellCompDirectiveNoFileComp))
}

// runImport runs an import with validated flags and returns the exit code.
func runImport(ctx context.Context, f *importFlags, sources, cmdline []string, stdout, stderr io.Writer) int {
	// The progress bar draws on stderr itself; every other line goes
	// through the log's output, in the --log-format.
	bar := stderr
	logs := f.logOutput(stderr)
	stderr = logs.errors
	metrics := f.metrics()
	if metrics != nil {
		f.observer = metrics
	}
	if logs.json {
		f.sinkLogger = logs.logger
		signalNotes.Store(&logs.warnings)
		defer signalNotes.Store(nil)
	}
	cfg, closeSink, err := f.config(sources, cmdline, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "backfill import: %v\n", err)
		return exitUsage
	}
	cfg.Reader.BrokenLink = warnBrokenLink("import", logs.warnings)
	display, err := newProgressDisplay(f.progress, bar, logs.logger)
	if err != nil {
		fmt.Fprintf(stderr, "backfill import: %v\n", err)
		return exitUsage
	}
	display.label = cfg.DeliveredLabel
	cfg.Progress = display.update
	cfg.ProgressInterval = display.interval()
	if metrics != nil {
		metrics.stats = cfg.Stats
		metrics.opts.Import = importName(cfg.CheckpointPath, sources, f.mapping, cfg.Destination)
		if sh := f.resolved; sh.Count > 1 {
			metrics.opts.Shard = fmt.Sprintf("%d-of-%d", sh.Index, sh.Count)
		}
		cfg.Progress = func(p importer.Progress) {
			display.update(p)
			metrics.progress(p)
		}
		if f.metricsAddr != "" {
			url, stop, serr := metrics.serve()
			if serr != nil {
				fmt.Fprintf(stderr, "backfill import: %v; nothing was sent\n", serr)
				return exitFailed
			}
			defer stop()
			fmt.Fprintf(logs.info, "backfill import: serving metrics at %s\n", url)
		}
	}

	if f.cpuProfile != "" {
		stopProfile, perr := startCPUProfile(f.cpuProfile)
		if perr != nil {
			fmt.Fprintf(stderr, "backfill import: %v\n", perr)
			return exitUsage
		}
		defer stopProfile()
	}
	if f.memProfile != "" {
		defer writeMemProfile(f.memProfile, stderr)
	}
	if f.report != "" {
		if werr := importer.CheckWritable(f.report); werr != nil {
			fmt.Fprintf(stderr, "backfill import: --report: %v; nothing was sent\n", werr)
			return exitFailed
		}
	}
	if readsStdin(sources) && !f.noCheckpoint && !f.preview() {
		fmt.Fprintln(logs.warnings, "backfill import: standard input cannot be read again, so this import keeps no checkpoint: if it is interrupted, it cannot resume (to be able to, save the input to a file and import that)")
	}
	setQuitHint(quitHint(cfg, sources))
	rep, err := importer.Run(ctx, cfg)
	setQuitHint("")
	if cerr := closeSink(); err == nil && cerr != nil {
		err = cerr
		rep.Complete, rep.Error = false, cerr.Error()
	}

	// Results go to stdout unless stdout carries the messages.
	out := stdout
	if f.dryRun || f.output == "-" {
		out = bar
	}
	if rep.AlreadyComplete {
		out := logs.results(out)
		fmt.Fprintf(out, "nothing to do: this import already finished (checkpoint %s); nothing was sent.\n", rep.CheckpointPath)
		fmt.Fprintf(out, "Segment de-duplicates messageIds for about a day only: to import everything again anyway, add --restart.\n")
	}
	if metrics != nil {
		metrics.finish(rep)
		// A run that found the import held by another pushes nothing:
		// the other run's push is the one that counts.
		if f.metricsPush != "" && !errors.Is(err, importer.ErrLocked) {
			if perr := metrics.push(ctx); perr != nil {
				fmt.Fprintf(logs.warnings, "backfill import: warning: %v; the import itself is not affected\n", perr)
			}
		}
	}
	if rep.Files > 0 || rep.RowsRead > 0 {
		logs.summary(out, &rep)
	} else if rep.Shard != "" && err == nil {
		fmt.Fprintf(out, "shard %s: no part of the sources falls to this shard; nothing to do.\n", rep.Shard)
	}
	if f.report != "" {
		if werr := writeJSONFile(f.report, rep); werr != nil {
			fmt.Fprintf(stderr, "backfill import: report: %v\n", werr)
			if err == nil {
				return exitFailed
			}
		}
	}
	if err != nil {
		adviseAfterStop(stderr, err, rep, cfg.Command, readsStdin(sources))
		return exitCode(err)
	}
	if rep.Rejected > 0 {
		return exitRejects
	}
	return exitOK
}

// config turns the flags, checked by validate, into an importer
// configuration with its sink. The returned function closes the sink's
// output, if any.
func (f *importFlags) config(sources, cmdline []string, stdout io.Writer) (importer.Config, func() error, error) {
	noop := func() error { return nil }
	cfg := importer.Config{
		Sources:     sources,
		Concurrency: f.concurrency,
		Limits: sink.Limits{
			MaxBatchBytes:   f.maxBatchBytes,
			MaxMessageBytes: f.maxMessageBytes,
			MaxMessages:     f.maxMessages,
		},
	}
	if err := f.inputFlags.apply(&cfg); err != nil {
		return cfg, noop, err
	}
	if cfg.Spec != nil && cfg.Spec.Entries() > f.maxMessages {
		return cfg, noop, usagef("--max-batch-messages is %d, fewer than the %d messages a row of the mapping may make (messages:), which go in one batch", f.maxMessages, cfg.Spec.Entries())
	}
	if f.resolved.Count > 1 {
		if readsStdin(sources) {
			return cfg, noop, usagef("standard input cannot be split into shards: save it to a file and import that")
		}
		cfg.Shard = f.resolved
		f.rejects, f.output, f.report = f.shardFile(f.rejects), f.shardFile(f.output), f.shardFile(f.report)
	}
	if err := f.applyBudget(&cfg); err != nil {
		return cfg, noop, err
	}
	cfg.DeliveredLabel = f.deliveredLabel()
	// Reads of objects in buckets are tried again as sends are.
	cfg.Reader.ObjectRetry = readers.ObjectRetry{MaxRetries: retries(f.maxRetries), MaxRetryTime: f.maxRetryTime}
	cfg.Limit = f.limit // checked by validate
	cfg.DrainTimeout = f.drainTimeout
	cfg.CheckpointInterval = f.checkpointInterval
	if f.checkpointInterval == 0 {
		cfg.CheckpointInterval = -1 // after every batch
	}
	destination := f.destination()
	cfg.Destination = destination
	cfg.Restart = f.restart
	cfg.Command = []string{"backfill"}
	for _, a := range cmdline {
		if a != "--restart" && !strings.HasPrefix(a, "--restart=") {
			cfg.Command = append(cfg.Command, a) // resuming must not start over
		}
	}
	toStdout := f.dryRun || f.output == "-"
	cfg.Preview = f.preview()
	cfg.CheckpointPath = f.checkpointPath(sources, destination)

	f.rejectsConfig(&cfg, sources, destination)

	switch {
	case toStdout:
		cfg.Sink = sink.NewWriterSink(stdout)
		return cfg, noop, nil
	case f.output != "":
		// A resumed import appends to what the interrupted one wrote.
		mode := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
		if cfg.CheckpointPath != "" && !f.restart {
			// Unless it is known that there is no checkpoint, the file
			// must not be emptied: it may hold the rows sent before.
			ok, err := importer.CheckpointExists(context.Background(), cfg.CheckpointPath)
			if err != nil {
				return cfg, noop, fmt.Errorf("--output %s: whether to append to it or start it afresh depends on the checkpoint: %w", f.output, err)
			}
			if ok {
				mode = os.O_WRONLY | os.O_CREATE | os.O_APPEND
			}
		}
		file, err := os.OpenFile(f.output, mode, 0o644)
		if err != nil {
			return cfg, noop, fmt.Errorf("--output: %w", err)
		}
		cfg.Sink = sink.NewWriterSink(file)
		return cfg, func() error {
			if err := syncFile(file); err != nil {
				file.Close()
				return fmt.Errorf("--output: %w", err)
			}
			return file.Close()
		}, nil
	}

	sc := segment.Config{
		Observer:       f.observer,
		Logger:         f.sinkLogger,
		Endpoint:       f.endpoint,
		NoGzip:         f.noGzip,
		Rate:           f.shardRate(f.rate),
		MinRate:        f.minRate,
		EventsRate:     f.shardRate(f.eventsRate),
		MaxRetries:     retries(f.maxRetries),
		MaxRetryTime:   f.maxRetryTime,
		RequestTimeout: f.timeout,
		Stub:           f.stub,
	}
	if !f.stub {
		key, err := readWriteKey(f.keyFile)
		if err != nil {
			return cfg, noop, err
		}
		if key == "" {
			return cfg, noop, errors.New("no write key: set $SEGMENT_WRITE_KEY or --write-key-file (or use --dry-run, --output or --stub to send nothing)")
		}
		if err := checkWriteKey(key, f.keyFile); err != nil {
			return cfg, noop, err
		}
		sc.WriteKey = key
	}
	s, stats, err := segment.New(sc)
	if err != nil {
		return cfg, noop, err
	}
	cfg.Sink = s
	cfg.Stats = transportStats{stats}
	return cfg, noop, nil
}

// retries turns --max-retries into the sink's MaxRetries, whose 0 means
// its default: --max-retries 0, like a negative number, means no retries.
func retries(n int) int {
	if n <= 0 {
		return -1
	}
	return n
}

// startCPUProfile writes a CPU profile to path until the returned function
// is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// writeMemProfile writes the profile of allocations so far to path.
func writeMemProfile(path string, stderr io.Writer) {
	err := func() error {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		// The profile is as of the last collection: one now makes it
		// count what was allocated since, which is all of an import that
		// allocates too little to need many.
		runtime.GC()
		if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}()
	if err != nil {
		fmt.Fprintf(stderr, "backfill import: --memprofile: %v\n", err)
	}
}

// preview reports whether the import sends nothing: --dry-run, --output or
// --stub.
func (f *importFlags) preview() bool { return f.dryRun || f.output != "" || f.stub }

// checkpointPath is the checkpoint the import keeps: none with
// --no-checkpoint or from stdin, --checkpoint if given, none for a preview
// without it, else the import's default checkpoint, found from whichever
// folder the command runs in; a shard's, named after the shard.
func (f *importFlags) checkpointPath(sources []string, destination string) string {
	switch {
	case f.noCheckpoint || readsStdin(sources):
		return ""
	case f.checkpoint != "":
		return f.shardFile(f.checkpoint)
	case f.preview():
		return ""
	}
	return importer.LocateShardCheckpoint(sources, f.mapping, destination, f.resolved)
}

// destination names where the messages go, for the checkpoint's identity
// (Config.Destination): a resumed import must send to the same place.
func (f *importFlags) destination() string {
	switch {
	case f.dryRun || f.output == "-":
		return "stdout"
	case f.output != "":
		if abs, err := filepath.Abs(f.output); err == nil {
			return "file " + abs
		}
		return "file " + f.output
	case f.stub:
		return "stub"
	}
	endpoint, err := segment.ResolveEndpoint(f.endpoint)
	if err != nil {
		endpoint = f.endpoint
	}
	return "segment " + endpoint
}

// transportStats reports the Segment sink's counters to the importer.
type transportStats struct{ s *segment.Stats }

func (t transportStats) Transport() importer.Transport {
	snap := t.s.Snapshot()
	return importer.Transport{
		Requests:    snap.Requests,
		Retries:     snap.Retries,
		Throttled:   snap.Throttled,
		BytesSent:   snap.BytesSent,
		CurrentRate: snap.CurrentRate,
		LastError:   snap.LastError,

		FoundLimit:    snap.FoundLimit,
		PausedSeconds: snap.Paused.Seconds(),
	}
}

func writeJSONFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
