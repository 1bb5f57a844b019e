package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestEveryOutputSendsTheSameMessages runs one input through backfill
// check, import --dry-run, import --output, import --stub and an import
// into backfill serve, and compares the messages: every path maps and
// writes them with the same code, so they are the same bytes. The stub
// keeps no bodies; its report must count the same messages.
func TestEveryOutputSendsTheSameMessages(t *testing.T) {
	dir := t.TempDir()
	var csv bytes.Buffer
	csv.WriteString("id,user,event,ts,amount,plan,ip,note\n")
	for i := range 40 {
		amount := fmt.Sprintf("%d.50", i)
		if i%13 == 5 {
			amount = "lots" // a reject: not a number
		}
		fmt.Fprintf(&csv, "c-%d,user-%d,\"Order \"\"%d\"\"\",2024-03-01T12:%02d:00.123+01:00,%s,pl\u00e4n-%d,10.0.0.%d,secret\n",
			i, i%7, i%3, i, amount, i%2, i)
	}
	csvPath := filepath.Join(dir, "events.csv")
	writeFile(t, csvPath, csv.Bytes())
	mapping := filepath.Join(dir, "events.yaml")
	writeFile(t, mapping, []byte(`type: track
messageId: id
userId: user
event: event
timestamp: {column: ts, format: rfc3339}
columns: {amount: float}
properties:
  exclude: [note]
  rename: {amount: order.revenue}
  values: {source: legacy}
context: {include: [ip]}
`))
	var nd bytes.Buffer
	for i := range 30 {
		ctx := `{"ip":"1.2.3.4"}`
		if i%2 == 0 {
			ctx = `{"library":{"name":"analytics.js"},"locale":"de"}`
		}
		fmt.Fprintf(&nd, `{"type":"identify","userId":"u\u00e9-%d","timestamp":"2024-03-01T12:00:%02dZ","traits":{"n":%d,"big":9007199254740993},"context":%s,"channel":"server","sentAt":"x"}`+"\n", i, i, i, ctx)
	}
	ndPath := filepath.Join(dir, "archive.ndjson")
	writeFile(t, ndPath, nd.Bytes())

	url, served, stop := startServe(t, "same-key")
	for _, in := range []struct {
		name string
		args []string
		sent int
	}{
		{"csv", []string{"--mapping", mapping, csvPath}, 37},
		{"ndjson", []string{ndPath}, 30},
	} {
		t.Run(in.name, func(t *testing.T) {
			run1 := func(args ...string) string {
				t.Helper()
				var stdout, stderr lockedBuffer
				code := run(context.Background(), args, &stdout, &stderr)
				if code != exitOK && code != exitRejects {
					t.Fatalf("%s exited with %d: %s", strings.Join(args[:2], " "), code, stderr.String())
				}
				return stdout.String()
			}
			common := func(name string) []string {
				return []string{"--progress", "never", "--no-checkpoint", "--rejects", filepath.Join(dir, in.name+name+".rejects")}
			}

			checked := checkMessages(t, run1(append([]string{"check", "--rows", "1000"}, in.args...)...))
			dry := lines(run1(slices.Concat([]string{"import", "--dry-run"}, common("dry"), in.args)...))
			out := filepath.Join(dir, in.name+".out.ndjson")
			run1(slices.Concat([]string{"import", "--output", out}, common("out"), in.args)...)
			written, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			report := filepath.Join(dir, in.name+".stub.json")
			run1(slices.Concat([]string{"import", "--stub", "--report", report}, common("stub"), in.args)...)
			before := lines(readOrEmpty(t, served))
			run1(slices.Concat([]string{"import", "--endpoint", url}, common("serve"), in.args)...)
			received := waitLines(t, served, len(before)+in.sent)[len(before):]

			if len(checked) != in.sent {
				t.Fatalf("check shows %d messages, want %d", len(checked), in.sent)
			}
			for name, got := range map[string][]string{"--dry-run": dry, "--output": lines(string(written))} {
				if !slices.Equal(got, checked) {
					t.Errorf("%s writes\n%s\ncheck shows\n%s", name, strings.Join(got, "\n"), strings.Join(checked, "\n"))
				}
			}
			// The receiver keeps each request's messages as sent; batches
			// may arrive in another order.
			slices.Sort(received)
			sorted := slices.Sorted(slices.Values(checked))
			if !slices.Equal(received, sorted) {
				t.Errorf("serve received\n%s\ncheck shows\n%s", strings.Join(received, "\n"), strings.Join(sorted, "\n"))
			}
			if rep := readReport(t, report); rep.Delivered != int64(in.sent) {
				t.Errorf("--stub delivered %d messages, want %d", rep.Delivered, in.sent)
			}
		})
	}
	stop()
}

// checkMessages returns the messages backfill check shows, compacted
// back to one line each.
func checkMessages(t *testing.T, out string) []string {
	t.Helper()
	var msgs []string
	for _, block := range strings.Split(out, "\n\n") {
		_, msg, ok := strings.Cut(block, "message: ")
		if !ok {
			continue
		}
		var b bytes.Buffer
		if err := json.Compact(&b, []byte(msg)); err != nil {
			t.Fatalf("check shows a message that is not JSON (%v): %s", err, msg)
		}
		msgs = append(msgs, b.String())
	}
	return msgs
}

// lines returns the non-empty lines of s.
func lines(s string) []string {
	var out []string
	for l := range strings.SplitSeq(s, "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

func readOrEmpty(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}

// waitLines returns the lines of path once it has n, which the receiver
// writes before it answers the import's last request.
func waitLines(t *testing.T, path string, n int) []string {
	t.Helper()
	got := lines(readOrEmpty(t, path))
	if len(got) != n {
		t.Fatalf("%s has %d lines after the import, want %d", path, len(got), n)
	}
	return got
}
