package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/backfillhq/backfill/importer"
	"github.com/backfillhq/backfill/sink/segment"
)

// monitorFlags are the flags of "backfill import" for watching it from
// outside: Prometheus metrics and the format of its log.
type monitorFlags struct {
	metricsAddr string
	metricsPush string
	logFormat   string

	// observer is told about every request of the Segment sink; set by
	// runImport before the sink is made, nil without metrics.
	observer segment.RequestObserver
	// sinkLogger is told about each retry of the Segment sink; set by
	// runImport with --log-format json, nil otherwise.
	sinkLogger *slog.Logger
}

func (f *monitorFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.metricsAddr, "metrics-addr", "", "serve Prometheus metrics at http://`HOST:PORT`/metrics while the import runs (port 0 picks a free port; the URL is logged on stderr)")
	fs.StringVar(&f.metricsPush, "metrics-push", "", "when the import ends, push its final metrics to the Prometheus Pushgateway at `URL`, as job backfill grouped by import (and shard); a failed push is a warning")
	fs.StringVar(&f.logFormat, "log-format", "text", "`FORMAT` of what the import logs on stderr (warnings, errors, progress lines, the final summary): text, or json for log collectors, one JSON object a line")
}

// complete registers the shell completions of the flags' values.
func (f *monitorFlags) complete(cmd *cobra.Command) {
	cmd.RegisterFlagCompletionFunc("log-format", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
}

// validate checks --metrics-addr, --metrics-push and --log-format.
func (f *monitorFlags) validate(fs *pflag.FlagSet) error {
	if err := nonEmpty("metrics-addr", "metrics-push")(fs); err != nil {
		return err
	}
	if f.metricsAddr != "" {
		if err := validateAddr(f.metricsAddr); err != nil {
			return usagef("--metrics-addr %q: want HOST:PORT, such as 127.0.0.1:9464 or :9464 (port 0 picks a free port)", f.metricsAddr)
		}
	}
	if f.metricsPush != "" {
		if err := validatePushURL(f.metricsPush); err != nil {
			return usagef("--metrics-push %q: %v", redactURL(f.metricsPush), err)
		}
	}
	switch f.logFormat {
	case "text", "json":
	default:
		return usagef("--log-format %q: want text or json", f.logFormat)
	}
	return nil
}

// metrics returns the metrics of the import, or nil when neither
// --metrics-addr nor --metrics-push asks for them.
func (f *monitorFlags) metrics() *importMetrics {
	if f.metricsAddr == "" && f.metricsPush == "" {
		return nil
	}
	return newImportMetrics(metricsOptions{Addr: f.metricsAddr, Push: f.metricsPush})
}

// logOutput is where an import writes what it logs, in the --log-format.
type logOutput struct {
	// logger writes records (progress lines, retries) to stderr.
	logger *slog.Logger
	// errors, warnings and info take the lines that the command prints
	// on stderr: as they are in text, as one record each, at level
	// ERROR, WARN or INFO, in JSON.
	errors, warnings, info io.Writer
	json                   bool
}

// logOutput returns where the import logs to stderr. In JSON it logs
// retries too, at level DEBUG; in text, as before, only their count.
func (f *monitorFlags) logOutput(stderr io.Writer) logOutput {
	if f.logFormat != "json" {
		return logOutput{logger: slog.New(slog.NewTextHandler(stderr, nil)), errors: stderr, warnings: stderr, info: stderr}
	}
	// One handler for every record: it writes each one whole.
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return logOutput{
		logger:   logger,
		errors:   &recordWriter{log: logger, level: slog.LevelError},
		warnings: &recordWriter{log: logger, level: slog.LevelWarn},
		info:     &recordWriter{log: logger, level: slog.LevelInfo},
		json:     true,
	}
}

// results returns the writer of the lines that go with the results to w:
// w itself in text, one INFO record a line in JSON.
func (o logOutput) results(w io.Writer) io.Writer {
	if !o.json {
		return w
	}
	return &recordWriter{log: slog.New(slog.NewJSONHandler(w, nil)), level: slog.LevelInfo}
}

// summary writes the report where the summary goes: as text, or as one
// JSON record with the report under "report".
func (o logOutput) summary(w io.Writer, rep *importer.Report) {
	if !o.json {
		io.WriteString(w, rep.Summary())
		return
	}
	level, msg := slog.LevelInfo, "import complete"
	if !rep.Complete {
		level, msg = slog.LevelError, "import stopped"
	}
	slog.New(slog.NewJSONHandler(w, nil)).Log(context.Background(), level, msg, "report", rep)
}

// recordWriter turns each write, a message the command prints, into one log
// record at its level: without the prefix "backfill import:" or "backfill:", the word "warning:"
// or the final newline; a message of several lines stays one record.
type recordWriter struct {
	log   *slog.Logger
	level slog.Level
}

func (r *recordWriter) Write(p []byte) (int, error) {
	msg := strings.TrimRight(string(p), "\n")
	msg = strings.TrimPrefix(msg, "backfill import: ")
	msg = strings.TrimPrefix(msg, "backfill: ")
	msg = strings.TrimPrefix(msg, "warning: ")
	r.log.Log(context.Background(), r.level, msg)
	return len(p), nil
}

// signalNotes is where the signal handler writes its notes (stopping,
// quitting at once, how to resume): nil for stderr as text; an import that
// logs JSON sets its warnings.
var signalNotes atomic.Pointer[io.Writer]

// signalNote writes a note of the signal handler, a line or a few.
func signalNote(note string) {
	if w := signalNotes.Load(); w != nil {
		fmt.Fprintln(*w, note)
		return
	}
	fmt.Fprintln(os.Stderr, note)
}

// redactURL returns a URL fit to be quoted: its user and password, if any,
// replaced by ***.
func redactURL(s string) string { return segment.RedactEndpoint(s) }
