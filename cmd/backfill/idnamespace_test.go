package main

import (
	"path/filepath"
	"testing"

	"github.com/spf13/pflag"

	"github.com/backfillhq/backfill/importer"
)

// TestIDNamespaceFlag checks that --id-namespace reaches the mapping's
// options and that a mapping naming another namespace is refused before
// anything is read.
func TestIDNamespaceFlag(t *testing.T) {
	dir := t.TempDir()
	same := filepath.Join(dir, "same.yaml")
	other := filepath.Join(dir, "other.yaml")
	writeFile(t, same, []byte("type: identify\nuserId: u\ntimestamp: ts\nmessageId: {namespace: trial}\n"))
	writeFile(t, other, []byte("type: identify\nuserId: u\ntimestamp: ts\nmessageId: {namespace: real}\n"))
	for _, c := range []struct {
		args []string
		ns   string
		err  string
	}{
		{[]string{"--id-namespace", "trial"}, "trial", ""},
		{[]string{"--id-namespace", "trial", "--mapping", same}, "trial", ""},
		{[]string{"--id-namespace", "trial", "--mapping", other}, "", `--id-namespace: other.yaml: the id namespace is "real" in the mapping and "trial" in the options: give one`},
		{[]string{"--mapping", other}, "", ""},
	} {
		var f inputFlags
		fs := pflag.NewFlagSet("import", pflag.ContinueOnError)
		f.register(fs)
		if err := fs.Parse(c.args); err != nil {
			t.Fatal(err)
		}
		var cfg importer.Config
		err := f.apply(&cfg)
		switch {
		case c.err != "":
			if err == nil || err.Error() != c.err {
				t.Errorf("%v: error %v, want %s", c.args, err, c.err)
			}
		case err != nil:
			t.Errorf("%v: %v", c.args, err)
		case cfg.Mapping.IDNamespace != c.ns:
			t.Errorf("%v: IDNamespace %q, want %q", c.args, cfg.Mapping.IDNamespace, c.ns)
		}
	}
}
