package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// demoFile returns the path of a bundled sample.
func demoFile(name string) string {
	return filepath.Join(pkgDir, "..", "..", "testdata", "demo", name)
}

func TestCheckShowsSamplesAndCountsWithoutSending(t *testing.T) {
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		contains []string
	}{
		{"csv with rejects", []string{"--rows", "2", "--mapping", demoFile("events.yaml"), demoFile("events.csv")}, exitRejects,
			[]string{"events.csv:2\n", `"messageId": "evt-000001"`, "2500 rows in 1 file: 2496 would be sent, 4 rejected", "bad_timestamp", "e.g. "}},
		{"clean ndjson", nil, exitOK, []string{"1 rows in 1 file: 1 would be sent, 0 rejected"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			t.Chdir(dir)
			args := tc.args
			if args == nil {
				src := filepath.Join(dir, "one.ndjson")
				writeFile(t, src, []byte(`{"type":"track","userId":"u","event":"E","timestamp":"2024-03-01T12:00:00Z"}`+"\n"))
				args = []string{src}
			}
			var stdout, stderr lockedBuffer
			code := run(context.Background(), append([]string{"check"}, args...), &stdout, &stderr)
			if code != tc.code {
				t.Fatalf("exit %d, want %d: %s", code, tc.code, stderr.String())
			}
			for _, want := range tc.contains {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, stdout.String())
				}
			}
			left, _ := os.ReadDir(dir)
			for _, e := range left {
				if e.Name() != "one.ndjson" {
					t.Errorf("check left %s behind", e.Name())
				}
			}
		})
	}
}
