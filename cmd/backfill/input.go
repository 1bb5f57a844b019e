package main

import (
	"flag"
	"fmt"
	"strings"

	"github.com/backfillhq/backfill/importer"
	"github.com/backfillhq/backfill/mappings"
)

// inputFlags are the flags that say how sources are read and mapped, shared
// by "import" and "check".
type inputFlags struct {
	mapping      string
	format       string
	delimiter    string
	columns      string
	maxLineBytes int
}

func (f *inputFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.mapping, "mapping", "", "`FILE`: YAML mapping from rows to messages (default: rows are Segment messages, passed through)")
	fs.StringVar(&f.format, "format", "", "force the input `FORMAT`: csv, ndjson or parquet (default: detected from content and name)")
	fs.StringVar(&f.delimiter, "delimiter", "", "CSV field delimiter, one character; \\t for tab (default: , and tab for .tsv)")
	fs.StringVar(&f.columns, "columns", "", "comma-separated column `NAMES` for CSV files without a header row (default: first row is the header)")
	fs.IntVar(&f.maxLineBytes, "max-line-bytes", 1<<20, "longest NDJSON line or CSV record in `BYTES`; longer ones are rejected")
}

// apply sets the reader options and the mapping of cfg. A mapping that is
// not valid is refused here, before any data is read.
func (f *inputFlags) apply(cfg *importer.Config) error {
	cfg.Reader.Format = f.format
	cfg.Reader.MaxLineBytes = f.maxLineBytes
	if f.delimiter != "" {
		d := f.delimiter
		if d == `\t` || d == "tab" {
			d = "\t"
		}
		r := []rune(d)
		if len(r) != 1 {
			return fmt.Errorf("--delimiter %q: want one character", f.delimiter)
		}
		cfg.Reader.Delimiter = r[0]
	}
	if f.columns != "" {
		for _, c := range strings.Split(f.columns, ",") {
			cfg.Reader.Columns = append(cfg.Reader.Columns, strings.TrimSpace(c))
		}
	}
	if err := cfg.Reader.Validate(); err != nil {
		return err
	}
	if f.mapping != "" {
		spec, err := mappings.LoadSpec(f.mapping)
		if err != nil {
			return err
		}
		cfg.Spec = spec
	}
	return nil
}
