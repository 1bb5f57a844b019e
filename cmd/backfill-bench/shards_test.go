package main

import (
	"flag"
	"io"
	"testing"
)

// TestParseShardsOptions: the shards section's flags.
func TestParseShardsOptions(t *testing.T) {
	parse := func(args ...string) (options, error) {
		fs := flag.NewFlagSet("backfill-bench", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		return parseOptions(fs, args)
	}
	if o, err := parse(); err != nil || o.shards != 3 || o.shardsOnly {
		t.Errorf("defaults: shards %d, only %t, %v", o.shards, o.shardsOnly, err)
	}
	if o, err := parse("-shards", "4", "-shards-only"); err != nil || o.shards != 4 || !o.shardsOnly {
		t.Errorf("parsed: shards %d, only %t, %v", o.shards, o.shardsOnly, err)
	}
	if o, err := parse("-shards", "0"); err != nil || o.shards != 0 {
		t.Errorf("no section: shards %d, %v", o.shards, err)
	}
	for _, bad := range [][]string{{"-shards", "1"}, {"-shards", "-2"}, {"-shards", "0", "-shards-only"}} {
		if _, err := parse(bad...); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
