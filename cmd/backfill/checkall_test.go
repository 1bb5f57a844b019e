package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckWorksOnEveryTestdataCase runs "backfill check" on the input of
// every mapping case under testdata/mappings and compares its counts with
// the case's expected outcomes.
func TestCheckWorksOnEveryTestdataCase(t *testing.T) {
	root := filepath.Join(pkgDir, "..", "..", "testdata", "mappings")
	dirs, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) == 0 {
		t.Fatal("no mapping cases")
	}
	for _, d := range dirs {
		dir := filepath.Join(root, d.Name())
		t.Run(d.Name(), func(t *testing.T) {
			inputs, _ := filepath.Glob(filepath.Join(dir, "input.*"))
			if len(inputs) != 1 {
				t.Fatalf("want one input file, found %v", inputs)
			}
			args := []string{"check", "--rows", "1"}
			switch {
			case strings.HasPrefix(d.Name(), "preset_"):
				// preset_NAME_parquet is preset NAME's case of a Parquet input.
				name := strings.TrimSuffix(strings.TrimPrefix(d.Name(), "preset_"), "_parquet")
				args = append(args, "--mapping", "preset:"+name)
			case fileExists(filepath.Join(dir, "mapping.yaml")):
				args = append(args, "--mapping", filepath.Join(dir, "mapping.yaml"))
			}
			// The golden cases judge "now" and future timestamps against a
			// fixed clock; the command uses the real one.
			exact := true
			if b, err := os.ReadFile(filepath.Join(dir, "options.json")); err == nil {
				var o struct{ Since, Until, Now string }
				if err := json.Unmarshal(b, &o); err != nil {
					t.Fatal(err)
				}
				if o.Since != "" {
					args = append(args, "--since", o.Since)
				}
				if o.Until != "" {
					args = append(args, "--until", o.Until)
				}
				exact = o.Now == ""
			}
			if d.Name() == "missing_now" {
				exact = false
			}
			sent, rejected, filtered := wantOutcomes(t, filepath.Join(dir, "want.ndjson"))
			var stdout, stderr lockedBuffer
			code := run(context.Background(), append(args, inputs[0]), &stdout, &stderr)
			if code != exitOK && code != exitRejects {
				t.Fatalf("check exited with %d: %s", code, stderr.String())
			}
			if !exact {
				return
			}
			want := fmt.Sprintf("%d would be sent, %d rejected, %d filtered", sent, rejected, filtered)
			if strings.HasPrefix(d.Name(), "multi_") || strings.Contains(stdout.String(), "\n== messages: ") {
				// A mapping of several messages per row (the multi_
				// cases, and presets that use messages:): want.ndjson
				// has a line per message, and the rows that make
				// messages are counted apart from them.
				want = fmt.Sprintf(" %d rejected, %d filtered\n", rejected, filtered)
				if msgs := fmt.Sprintf("== messages: %d would be sent, ", sent); !strings.Contains(stdout.String(), msgs) {
					t.Fatalf("check output lacks %q:\n%s", msgs, stdout.String())
				}
			}
			if !strings.Contains(stdout.String(), want) {
				t.Fatalf("check output lacks %q:\n%s", want, stdout.String())
			}
			if (rejected > 0) != (code == exitRejects) {
				t.Fatalf("exit %d with %d rejects", code, rejected)
			}
		})
	}
}

// wantOutcomes counts a golden want.ndjson's messages, rejects and filtered rows.
func wantOutcomes(t *testing.T, path string) (sent, rejected, filtered int) {
	t.Helper()
	eachJSONLine(t, path, func(m map[string]any) {
		switch {
		case m["reject"] != nil:
			rejected++
		case m["filtered"] != nil:
			filtered++
		default:
			sent++
		}
	})
	return sent, rejected, filtered
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
