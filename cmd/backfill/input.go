package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/backfillhq/backfill/importer"
	"github.com/backfillhq/backfill/mappings"
)

// inputFlags are the flags that say how sources are read and mapped, shared
// by "import" and "check".
type inputFlags struct {
	mapping      string
	format       string
	encoding     string
	delimiter    string
	columns      string
	maxLineBytes int
	since, until string
	idNamespace  string
	null         string
	nullSet      bool
	noNull       bool
}

func (f *inputFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.mapping, "mapping", "", "`FILE` (or preset:segment, preset:mixpanel, preset:amplitude): YAML mapping from rows to messages (default: rows are Segment messages, passed through)")
	fs.StringVar(&f.format, "format", "", "force the input `FORMAT`: csv, ndjson or parquet (default: detected from content and name)")
	fs.StringVar(&f.encoding, "encoding", "", "text `ENCODING` of CSV and NDJSON files, such as latin1, windows-1252, shift_jis or utf-16le; offsets stay in file bytes (default: strict UTF-8, and UTF-16 when a file starts with its byte-order mark)")
	fs.StringVar(&f.delimiter, "delimiter", "", "CSV field delimiter `C`, one character; \\t for tab (default: , and tab for .tsv)")
	fs.StringVar(&f.columns, "columns", "", "comma-separated column `NAMES` for CSV files without a header row (default: first row is the header)")
	fs.IntVar(&f.maxLineBytes, "max-line-bytes", 1<<20, "longest NDJSON line or CSV record in `BYTES`; longer ones are rejected")
	fs.Func("null", "comma-separated CSV cell `TOKENS` that mean no value besides the empty cell, such as NULL,\\N (default: only empty cells)", func(v string) error {
		f.null, f.nullSet = v, true
		return nil
	})
	fs.BoolVar(&f.noNull, "no-null", false, "empty CSV cells are empty strings, not no value; with --null, only its TOKENS mean no value")
	fs.StringVar(&f.since, "since", "", "import only rows whose timestamp is at or after `TIME` (RFC 3339, or a date: midnight UTC); others count as filtered")
	fs.StringVar(&f.idNamespace, "id-namespace", "", "mix `NAME` into every derived messageId, so that imports in different namespaces (a trial and the real one) never share ids (default: the mapping's messageId.namespace, else none)")
	fs.StringVar(&f.until, "until", "", "import only rows whose timestamp is before `TIME` (RFC 3339, or a date: midnight UTC); others count as filtered")
}

// apply sets the reader options and the mapping of cfg. A mapping that is
// not valid is refused here, before any data is read.
func (f *inputFlags) apply(cfg *importer.Config) error {
	cfg.Reader.Format = f.format
	cfg.Reader.Encoding = f.encoding
	cfg.Reader.MaxLineBytes = f.maxLineBytes
	if f.delimiter != "" {
		d, err := parseDelimiter(f.delimiter)
		if err != nil {
			return err
		}
		cfg.Reader.Delimiter = d
	}
	if f.columns != "" {
		for _, c := range strings.Split(f.columns, ",") {
			cfg.Reader.Columns = append(cfg.Reader.Columns, strings.TrimSpace(c))
		}
	}
	null, err := nullTokens(f.null, f.nullSet, f.noNull)
	if err != nil {
		return err
	}
	cfg.Reader.Null = null
	if err := cfg.Reader.Validate(); err != nil {
		return err
	}
	if f.since != "" {
		t, err := mappings.ParseTimeBound(f.since)
		if err != nil {
			return fmt.Errorf("--since: %w", err)
		}
		cfg.Mapping.Since = t
	}
	if f.until != "" {
		t, err := mappings.ParseTimeBound(f.until)
		if err != nil {
			return fmt.Errorf("--until: %w", err)
		}
		cfg.Mapping.Until = t
	}
	cfg.Mapping.IDNamespace = f.idNamespace
	if err := cfg.Mapping.Validate(); err != nil {
		return err
	}
	if f.mapping != "" {
		spec, err := mappings.LoadSpec(f.mapping)
		if err != nil {
			return err
		}
		cfg.Spec = spec
		if f.idNamespace != "" {
			// A namespace the mapping contradicts is refused now.
			if err := spec.CheckOptions(cfg.Mapping); err != nil {
				return fmt.Errorf("--id-namespace: %w", err)
			}
		}
	}
	return nil
}

// complete registers the shell completions of the input flags' values.
func (f *inputFlags) complete(cmd *cobra.Command) {
	cmd.MarkFlagFilename("mapping", "yaml", "yml")
	cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions(formatFlagValues, cobra.ShellCompDirectiveNoFileComp))
}
