package main

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// runIn runs the built command in dir and returns its exit code, stdout
// and stderr.
func runIn(t *testing.T, bin, dir string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return exitCodeOf(t, err, errb.String()), out.String(), errb.String()
}

// TestCase11ErrorBudget: through the built command, an import whose rows
// are all rejected stops after the first 1,000 with its own exit code,
// the top reason with an example and a hint at the cause (here: no
// --mapping); a few bad rows do not stop it; --max-rejects 0 allows none
// and -1 lifts the limit; a rate of 0 is refused in the user's words; and
// backfill check, which counts every row, prints the same hint.
func TestCase11ErrorBudget(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	var legacy, mostlyGood, naive strings.Builder
	legacy.WriteString("id,user,ts\n")
	mostlyGood.WriteString("id,user,ts\n")
	naive.WriteString("id,user,ts\n")
	for i := range 1500 {
		fmt.Fprintf(&legacy, "%d,u%d,2024-03-01T12:00:00Z\n", i, i)
		fmt.Fprintf(&naive, "%d,u%d,2024-03-01T12:00:00\n", i, i)
		ts := "2024-03-01T12:00:00Z"
		if i%400 == 399 {
			ts = "yesterday"
		}
		fmt.Fprintf(&mostlyGood, "%d,u%d,%s\n", i, i, ts)
	}
	writeFile(t, filepath.Join(dir, "legacy.csv"), []byte(legacy.String()))
	writeFile(t, filepath.Join(dir, "naive.csv"), []byte(naive.String()))
	writeFile(t, filepath.Join(dir, "good.csv"), []byte(mostlyGood.String()))
	writeFile(t, filepath.Join(dir, "m.yaml"), []byte("type: identify\nuserId: user\ntimestamp: ts\n"))
	const (
		noMapping = "hint: no --mapping was given, so each row must already be a Segment message (type, timestamp, and userId or anonymousId, as Segment's archives hold them); for any other data write a mapping (backfill presets lists some to start from) and add --mapping FILE"
		noZone    = "hint: the timestamps have no zone (no Z, no offset such as +01:00): say which zone they are in with timezone: under the mapping's timestamp: (an IANA name such as Europe/Berlin, or UTC)"
	)
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		stderr   []string
		stdout   []string
		rejected int // lines in the rejects file
	}{
		{"every row rejected, no mapping", []string{"legacy.csv"}, exitBudget, []string{
			"backfill import: too many rejects: 1000 of the first 1000 rows were rejected (100%), more than --max-reject-rate 50% allows; the import stopped; top reasons:\n" +
				"  missing_timestamp: 1000 rows, e.g. legacy.csv:2: timestamp: no timestamp and no originalTimestamp\n  " + noMapping + "\n",
			"backfill import: the 1000 rejected rows are in r.ndjson, each with its reason\n",
			"backfill import: fix the cause (the mapping, or the data), check it with backfill check, and import again with --restart\n",
			"backfill import: or, if these rows are to be rejected, resume where it stopped (checkpoint ",
			" --max-reject-rate=-1\n",
		}, []string{"1000 rows read\n", "  would send 0\n", "  rejected   1000\n"}, 1000},
		{"timestamps without a zone", []string{"--mapping", "m.yaml", "naive.csv"}, exitBudget, []string{
			"1000 of the first 1000 rows were rejected (100%)",
			"  bad_timestamp: 1000 rows, e.g. naive.csv:2: timestamp: column \"ts\": value \"2024-03-01T12:00:00\": no zone in value and no timezone: in the mapping\n  " + noZone + "\n",
		}, nil, 1000},
		{"a few bad rows", []string{"--mapping", "m.yaml", "good.csv"}, exitRejects, nil, []string{"1500 rows read\n", "  would send 1497\n", "  rejected   3\n"}, 3},
		{"none allowed", []string{"--mapping", "m.yaml", "--max-rejects", "0", "good.csv"}, exitBudget, []string{
			"backfill import: too many rejects: 1 row rejected, and --max-rejects 0 allows none; the import stopped",
			"  bad_timestamp: 1 row, e.g. good.csv:401: ",
			"backfill import: the rejected row is in r.ndjson, with its reason\n",
			" --max-rejects=-1\n",
		}, []string{"400 rows read\n", "  would send 399\n", "  rejected   1\n"}, 1},
		{"no limit", []string{"--max-reject-rate", "-1", "legacy.csv"}, exitRejects, nil, []string{"1500 rows read\n", "  rejected   1500\n", "  " + noMapping + "\n"}, 1500},
		{"a rate of 0", []string{"--max-reject-rate", "0", "legacy.csv"}, exitUsage, []string{
			"backfill import: --max-reject-rate is 0, want a percentage above 0 and up to 100, or -1 for no limit (--max-rejects 0 allows no reject at all)\n",
		}, nil, 0},
		{"--max-rejects below -1", []string{"--max-rejects", "-2", "legacy.csv"}, exitUsage, []string{
			"backfill import: --max-rejects is -2, want -1 (no limit), 0 (none allowed) or more\n",
		}, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rejects := filepath.Join(dir, "r.ndjson")
			writeFile(t, rejects, nil)
			args := append([]string{"import", "--stub", "--checkpoint", filepath.Join(t.TempDir(), "cp.json"), "--progress", "never", "--rejects", "r.ndjson"}, tc.args...)
			code, stdout, stderr := runIn(t, bin, dir, args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, stdout, stderr)
			}
			for _, want := range tc.stderr {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
			for _, want := range tc.stdout {
				if !strings.Contains(stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout)
				}
			}
			if n := countLines(rejects); n != tc.rejected {
				t.Errorf("%d lines in the rejects file, want %d", n, tc.rejected)
			}
		})
	}

	t.Run("check without a mapping", func(t *testing.T) {
		code, stdout, stderr := runIn(t, bin, dir, "check", "--rows", "0", "legacy.csv")
		if code != exitRejects {
			t.Fatalf("exit %d, want %d: %s", code, exitRejects, stderr)
		}
		want := "== 1500 rows in 1 file: 0 would be sent, 1500 rejected, 0 filtered\n" +
			"== reject reasons, most frequent first:\n" +
			"  missing_timestamp        1500  e.g. legacy.csv:2: timestamp: no timestamp and no originalTimestamp\n" +
			"== " + noMapping + "\n"
		if stdout != want {
			t.Errorf("check printed\n%s\nwant\n%s", stdout, want)
		}
	})
}
