package main

import (
	"errors"
	"math"
	"net"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/pflag"

	"github.com/backfillhq/backfill/mappings"
	"github.com/backfillhq/backfill/readers"
	"github.com/backfillhq/backfill/sink"
	"github.com/backfillhq/backfill/sink/segment"
)

// The flags are checked here, before any of them is used, one function a
// concern, so that an error names the flag and the value as the user wrote
// them and says which values work: never a Go field name or a time layout.

// validate checks every flag of "import".
func (f *importFlags) validate(fs *pflag.FlagSet) error {
	for _, check := range []func(*pflag.FlagSet) error{
		f.inputFlags.validate,
		f.validateEndpoint,
		f.validateRates,
		f.validateRetries,
		f.validateLimits,
		f.validateFiles,
		f.validateProgress,
		f.validateLimit,
		f.validateShard,
		f.monitorFlags.validate,
	} {
		if err := check(fs); err != nil {
			return err
		}
	}
	return nil
}

// validate checks the flags that say how sources are read and mapped.
func (f *inputFlags) validate(fs *pflag.FlagSet) error {
	for _, check := range []func(*pflag.FlagSet) error{
		f.validateFormat,
		f.validateEncoding,
		f.validateColumns,
		f.validateWindow,
		nonEmpty("mapping", "id-namespace"),
	} {
		if err := check(fs); err != nil {
			return err
		}
	}
	return nil
}

func (f *inputFlags) validateFormat(fs *pflag.FlagSet) error {
	switch f.format {
	case readers.FormatCSV, readers.FormatNDJSON, readers.FormatParquet:
	case "":
		if fs.Changed("format") {
			return usagef("--format is empty, want csv, ndjson or parquet (or leave it out to detect the format)")
		}
	default:
		return usagef("--format %q: want csv, ndjson or parquet", f.format)
	}
	return nil
}

// validateEncoding checks --encoding, --delimiter and whether they go
// together.
func (f *inputFlags) validateEncoding(fs *pflag.FlagSet) error {
	if err := (readers.Options{Encoding: f.encoding}).Validate(); err != nil {
		if cause := errors.Unwrap(err); cause != nil {
			err = cause
		}
		return usagef("--encoding %q: %v", f.encoding, err)
	}
	if !fs.Changed("delimiter") {
		return nil
	}
	d, err := parseDelimiter(f.delimiter)
	if err != nil {
		return err
	}
	if err := (readers.Options{Encoding: f.encoding, Delimiter: d}).Validate(); err != nil {
		return usagef("--delimiter %q with --encoding %s: a character of that encoding can hold the byte %q; use a comma, a semicolon or a tab", f.delimiter, f.encoding, d)
	}
	return nil
}

// parseDelimiter returns the CSV delimiter that --delimiter names.
func parseDelimiter(s string) (rune, error) {
	d := s
	if d == `\t` || d == "tab" {
		d = "\t"
	}
	r, size := utf8.DecodeRuneInString(d)
	switch {
	case d == "" || size != len(d):
		return 0, usagef("--delimiter %q: want one character, such as , ; | or \\t for tab", s)
	case r >= utf8.RuneSelf || r == '"' || r == '\r' || r == '\n':
		return 0, usagef("--delimiter %q: want an ASCII character other than a quote or a line break, such as , ; | or \\t for tab", s)
	}
	return r, nil
}

func (f *inputFlags) validateColumns(fs *pflag.FlagSet) error {
	if fs.Changed("columns") {
		for i, c := range strings.Split(f.columns, ",") {
			if strings.TrimSpace(c) == "" {
				return usagef("--columns %q: column %d has no name; want names separated by commas, such as user_id,event,ts", f.columns, i+1)
			}
		}
	}
	if f.maxLineBytes < 1 {
		return usagef("--max-line-bytes is %d, want 1 or more", f.maxLineBytes)
	}
	return nil
}

// validateWindow checks --since and --until, each alone and together.
func (f *inputFlags) validateWindow(fs *pflag.FlagSet) error {
	var since, until time.Time
	for _, b := range []struct {
		name string
		text string
		t    *time.Time
	}{{"since", f.since, &since}, {"until", f.until, &until}} {
		if !fs.Changed(b.name) {
			continue
		}
		t, err := parseTimeFlag(b.name, b.text)
		if err != nil {
			return err
		}
		*b.t = t
	}
	if !since.IsZero() && !until.IsZero() && !until.After(since) {
		return usagef("--until %s is not after --since %s: no row could be imported", f.until, f.since)
	}
	return nil
}

// parseTimeFlag parses the value of --since or --until.
func parseTimeFlag(name, s string) (time.Time, error) {
	t, err := mappings.ParseTimeBound(s)
	if err == nil {
		return t, nil
	}
	if _, zerr := mappings.ParseTimeBound(s + "Z"); zerr == nil {
		return time.Time{}, usagef("--%s %q has no zone: add Z for UTC (%sZ) or an offset such as +01:00", name, s, strings.TrimSpace(s))
	}
	return time.Time{}, usagef("--%s %q: want a time with its zone, such as 2023-11-14T22:13:20Z or 2023-11-14T23:13:20+01:00, or a date, such as 2023-11-14 (midnight UTC)", name, s)
}

// validateEndpoint checks --endpoint. Its errors never show what the URL
// holds before an @ (a user name, a password, a write key).
func (f *importFlags) validateEndpoint(fs *pflag.FlagSet) error {
	if !fs.Changed("endpoint") {
		return nil
	}
	s := strings.TrimSpace(f.endpoint)
	shown := segment.RedactEndpoint(s)
	if strings.EqualFold(s, "eu") {
		return nil
	}
	if strings.Contains(s, "@") {
		return usagef("--endpoint %q: the URL must not hold a user name or password; the write key comes from $SEGMENT_WRITE_KEY or --write-key-file", shown)
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return usagef("--endpoint %q: want eu or an http or https URL, such as https://api.segment.io", shown)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return usagef("--endpoint %q: want a URL without a query (?) or fragment (#)", shown)
	}
	return nil
}

// validateRates checks --rate, --min-rate and --events-rate. A value left
// out means the default; one given must mean a rate.
func (f *importFlags) validateRates(fs *pflag.FlagSet) error {
	if f.rate == 0 || !finite(f.rate) {
		return usagef("--rate is %g, want requests per second above 0, or -1 for no limit (default: 50)", f.rate)
	}
	if fs.Changed("min-rate") && (f.minRate <= 0 || !finite(f.minRate)) {
		return usagef("--min-rate is %g, want requests per second above 0 (default: 1)", f.minRate)
	}
	if fs.Changed("events-rate") && (f.eventsRate == 0 || !finite(f.eventsRate)) {
		return usagef("--events-rate is %g, want events per second above 0, or -1 for no limit (the default)", f.eventsRate)
	}
	if f.concurrency < 1 {
		return usagef("--concurrency is %d, want 1 or more", f.concurrency)
	}
	return nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// validateRetries checks --max-retries, --max-retry-time,
// --request-timeout, --checkpoint-interval and --drain-timeout.
func (f *importFlags) validateRetries(fs *pflag.FlagSet) error {
	if f.maxRetryTime == 0 {
		return usagef("--max-retry-time is 0s, want a duration above 0, such as 10m, or -1s for no limit (default: 10m)")
	}
	if f.timeout <= 0 {
		return usagef("--request-timeout is %s, want a duration above 0, such as 30s", f.timeout)
	}
	if f.checkpointInterval < 0 {
		return usagef("--checkpoint-interval is %s, want 0 (after every batch) or more", f.checkpointInterval)
	}
	if f.drainTimeout <= 0 {
		return usagef("--drain-timeout is %s, want a duration above 0, such as 30s", f.drainTimeout)
	}
	return nil
}

// validateLimits checks the batch limits against Segment's.
func (f *importFlags) validateLimits(fs *pflag.FlagSet) error {
	for _, l := range []struct {
		name   string
		v, max int
	}{
		{"max-batch-bytes", f.maxBatchBytes, sink.DefaultMaxBatchBytes},
		{"max-message-bytes", f.maxMessageBytes, sink.DefaultMaxMessageBytes},
		{"max-batch-messages", f.maxMessages, sink.DefaultMaxMessages},
	} {
		if l.v < 1 || l.v > l.max {
			return usagef("--%s is %d, want 1 to %d (Segment's limit)", l.name, l.v, l.max)
		}
	}
	limits := sink.Limits{MaxBatchBytes: f.maxBatchBytes, MaxMessageBytes: f.maxMessageBytes, MaxMessages: f.maxMessages}
	if limits.Validate() != nil {
		return usagef("--max-batch-bytes %d cannot hold a message of --max-message-bytes %d with its envelope: raise the first or lower the second", f.maxBatchBytes, f.maxMessageBytes)
	}
	return nil
}

// validateFiles checks the flags that name files, and the ones that
// exclude each other.
func (f *importFlags) validateFiles(fs *pflag.FlagSet) error {
	if err := nonEmpty("output", "write-key-file", "rejects", "report", "checkpoint", "cpuprofile", "memprofile")(fs); err != nil {
		return err
	}
	outputs := 0
	for _, on := range []bool{f.dryRun, f.output != "", f.stub} {
		if on {
			outputs++
		}
	}
	if outputs > 1 {
		return usagef("--dry-run, --output and --stub exclude each other")
	}
	if fs.Changed("checkpoint") && f.noCheckpoint {
		return usagef("--checkpoint and --no-checkpoint exclude each other")
	}
	return f.validateBucketFiles()
}

func (f *importFlags) validateProgress(fs *pflag.FlagSet) error {
	switch f.progress {
	case "auto", "always", "never":
		return nil
	}
	return usagef("--progress %q: want auto, always or never", f.progress)
}

// validateLimit checks --limit: a count of rows, 0 for every row.
func (f *importFlags) validateLimit(fs *pflag.FlagSet) error {
	if f.limit < 0 {
		return usagef("--limit is %d, want a number of rows (0: every row)", f.limit)
	}
	return nil
}

// nonEmpty returns a check that each named flag, when given, has a value.
func nonEmpty(names ...string) func(*pflag.FlagSet) error {
	return func(fs *pflag.FlagSet) error {
		for _, name := range names {
			if fs.Changed(name) && strings.TrimSpace(fs.Lookup(name).Value.String()) == "" {
				return usagef("--%s is empty; give a value or leave the flag out", name)
			}
		}
		return nil
	}
}

// validateAddr checks serve's --addr.
func validateAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" || strings.ContainsAny(host, " /") {
		return usagef("--addr %q: want HOST:PORT, such as 127.0.0.1:8088 (port 0 picks a free port)", addr)
	}
	return nil
}

// formatFlagValues completes --format.
var formatFlagValues = []string{readers.FormatCSV, readers.FormatNDJSON, readers.FormatParquet}
