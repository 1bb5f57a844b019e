package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// readmeSection returns the text of the README's section "## name", up to
// the next section.
func readmeSection(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(pkgDir, "..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, s, ok := strings.Cut(string(b), "\n## "+name+"\n")
	if !ok {
		t.Fatalf("README.md has no section %q", name)
	}
	s, _, _ = strings.Cut(s, "\n## ")
	return s
}

var shellComment = regexp.MustCompile(`\s+#\s.*$`)

// readmeShellCommands returns the commands of the ```sh blocks of text:
// each line without its trailing comment, "$ " prompts removed. In a
// block with prompts, only the lines with one are commands; the others
// are what they print.
func readmeShellCommands(text string) []string {
	var cmds []string
	for {
		_, rest, ok := strings.Cut(text, "```sh\n")
		if !ok {
			return cmds
		}
		block, after, _ := strings.Cut(rest, "```")
		text = after
		prompts := strings.Contains(block, "\n$ ") || strings.HasPrefix(block, "$ ")
		for _, line := range strings.Split(block, "\n") {
			if prompts {
				var ok bool
				if line, ok = strings.CutPrefix(line, "$ "); !ok {
					continue
				}
			}
			if line = strings.TrimSpace(shellComment.ReplaceAllString(line, "")); line != "" && !strings.HasPrefix(line, "#") {
				cmds = append(cmds, line)
			}
		}
	}
}

// readmeInlineCommands returns the `backfill …` code spans of text, with
// line breaks inside a span read as spaces.
func readmeInlineCommands(text string) []string {
	var cmds []string
	for _, m := range regexp.MustCompile("`(backfill [^`]+)`").FindAllStringSubmatch(text, -1) {
		cmds = append(cmds, strings.Join(strings.Fields(m[1]), " "))
	}
	return cmds
}

// readmeWorkspace is a folder in which the README's commands run as they
// are written: bin/backfill is the built command, and the files the
// commands name are there.
type readmeWorkspace struct {
	t   *testing.T
	dir string
	bin string
}

func newReadmeWorkspace(t *testing.T) *readmeWorkspace {
	w := &readmeWorkspace{t: t, dir: t.TempDir(), bin: binary(t)}
	w.link(w.bin)
	demo := filepath.Join(pkgDir, "..", "..", "testdata", "demo")
	csv := w.read(filepath.Join(demo, "events.csv"))
	yaml := w.read(filepath.Join(demo, "events.yaml"))
	w.write("events.csv", csv)
	w.write("events.yaml", yaml)
	w.write("m.yaml", yaml)
	w.write("events.csv.gz", w.gzip(csv))
	zr, err := gzip.NewReader(bytes.NewReader(w.read(filepath.Join(demo, "segment-archive.ndjson.gz"))))
	if err != nil {
		t.Fatal(err)
	}
	var archive bytes.Buffer
	if _, err := archive.ReadFrom(zr); err != nil {
		t.Fatal(err)
	}
	w.write("segment-archive.ndjson", archive.Bytes())
	return w
}

func (w *readmeWorkspace) read(path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		w.t.Fatal(err)
	}
	return b
}

func (w *readmeWorkspace) write(name string, data []byte) {
	p := filepath.Join(w.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		w.t.Fatal(err)
	}
	writeFile(w.t, p, data)
}

func (w *readmeWorkspace) gzip(data []byte) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(data)
	if err := zw.Close(); err != nil {
		w.t.Fatal(err)
	}
	return b.Bytes()
}

// link makes bin/backfill the command bin.
func (w *readmeWorkspace) link(bin string) {
	p := filepath.Join(w.dir, "bin", "backfill")
	os.Remove(p)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		w.t.Fatal(err)
	}
	if err := os.Symlink(bin, p); err != nil {
		w.t.Fatal(err)
	}
}

// run runs a README command in the workspace with sh, bin/ first in PATH
// and the receiver's write key, sending to url: an import that names no
// endpoint gets --endpoint url. It returns stdout, stderr and the exit
// code.
func (w *readmeWorkspace) run(command, url string, env ...string) (stdout, stderr string, code int) {
	w.t.Helper()
	if url != "" && !strings.Contains(command, "--endpoint") {
		command = strings.Replace(command, "backfill import ", "backfill import --endpoint "+url+" ", 1)
	}
	cmd := exec.Command("sh", "-c", command)
	cmd.Dir = w.dir
	cmd.Env = append(os.Environ(), "SEGMENT_WRITE_KEY=crash-key",
		"PATH="+filepath.Join(w.dir, "bin")+string(os.PathListSeparator)+os.Getenv("PATH"))
	cmd.Env = append(cmd.Env, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code = exitCodeOf(w.t, err, errb.String())
	w.t.Logf("$ %s\nexit %d\n%s%s", command, code, out.String(), errb.String())
	return out.String(), errb.String(), code
}

// finished checks that an import finished (exit 0, or 2 with rejects) with
// a summary, and returns the rows it says were delivered.
func finished(t *testing.T, command, stdout, stderr string, code int) int {
	t.Helper()
	if code != exitOK && code != exitRejects {
		t.Fatalf("%s: exit %d: %s", command, code, stderr)
	}
	if !strings.HasPrefix(stdout, "import complete in ") {
		t.Fatalf("%s: the summary does not say complete:\n%s", command, stdout)
	}
	m := regexp.MustCompile(`(?m)^  delivered  (\d+)$`).FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("%s: no delivered count in the summary:\n%s", command, stdout)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestREADMEQuickStart runs the commands of the README's quick start as it
// writes them: "make demo" (with the binary and its folder in a temporary
// place), and the import commands, against a serve of the built command.
func TestREADMEQuickStart(t *testing.T) {
	cmds := readmeShellCommands(readmeSection(t, "Quick start"))
	want := []string{"make demo", "make test", "make build", "export SEGMENT_WRITE_KEY=...",
		"bin/backfill import --dry-run --mapping events.yaml events.csv | head",
		"bin/backfill import --mapping events.yaml events.csv.gz",
		"bin/backfill import segment-archive.ndjson"}
	if strings.Join(cmds, "\n") != strings.Join(want, "\n") {
		t.Fatalf("the quick start's commands changed; update this test:\n%s", strings.Join(cmds, "\n"))
	}
	w := newReadmeWorkspace(t)
	url, out, stop := serveProcess(t, w.bin, t.TempDir())
	delivered := 0
	for _, c := range cmds {
		switch c {
		case "make test":
			continue // it runs this test
		case "make build", "export SEGMENT_WRITE_KEY=...":
			// make demo ran the recipe of make build (demo depends on
			// it), and bin/backfill is the command built; the key is
			// the receiver's, in the environment of every command.
			continue
		case "make demo":
			if _, err := exec.LookPath("make"); err != nil {
				t.Log("make demo: no make:", err)
				continue
			}
			demo := filepath.Join(w.dir, "demo")
			_, stderr, code := w.run(fmt.Sprintf("make -s -C %s demo BIN=%s DEMO=%s", filepath.Join(pkgDir, "..", ".."),
				filepath.Join(demo, "backfill"), filepath.Join(demo, "out")), "")
			if code != 0 {
				t.Fatalf("make demo: exit %d: %s", code, stderr)
			}
			if n := len(lines(readOrEmpty(t, filepath.Join(demo, "out", "received.ndjson")))); n == 0 {
				t.Fatal("make demo: the receiver received nothing")
			}
		case "bin/backfill import --dry-run --mapping events.yaml events.csv | head":
			stdout, stderr, code := w.run(c, url)
			msgs := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
			if code != 0 || len(msgs) != 10 {
				t.Fatalf("%s: exit %d, %d lines: %s", c, code, len(msgs), stderr)
			}
			for _, m := range msgs {
				var msg struct{ Type, MessageID, Timestamp string }
				if err := json.Unmarshal([]byte(m), &msg); err != nil || msg.Type != "track" || msg.MessageID == "" || msg.Timestamp == "" {
					t.Fatalf("%s: %q is not a track message (%v)", c, m, err)
				}
			}
		default:
			stdout, stderr, code := w.run(c, url)
			delivered += finished(t, c, stdout, stderr, code)
		}
	}
	stop()
	if got := len(received(t, out)); got != delivered || delivered == 0 {
		t.Fatalf("the receiver has %d messages, the imports delivered %d", got, delivered)
	}
}

// writeReadmeLogs writes the logs/ folder the three uses import: two CSV
// files of 60,000 rows each in the columns of events.yaml, more than an
// import holds in flight (32 batches of 2,500), so that an interrupted
// one has rows left to resume, one of 3000 in a sub-folder, and one
// NDJSON file of the events of 2024-03-01, one every
// 10 minutes from 08:00 to 14:50. It returns the ids of the CSV files
// matched by logs/2024-*.csv.gz and the ids of the NDJSON events within
// the README's outage window.
func writeReadmeLogs(w *readmeWorkspace) (csvIDs, windowIDs []string) {
	for _, name := range []string{"2024-01-01", "2024-01-14", "archive/2023-12-31"} {
		var b strings.Builder
		b.WriteString("event_id,user_id,anonymous_id,event,ts,plan,amount,country,note\n")
		day, _ := time.Parse("2006-01-02", filepath.Base(name))
		rows := 60_000
		if strings.Contains(name, "/") {
			rows = 3000
		}
		for i := range rows {
			id := fmt.Sprintf("%s-%05d", filepath.Base(name), i)
			fmt.Fprintf(&b, "%s,u%d,,Order Completed,%s,pro,%d.5,DE,\n", id, i%50, day.Add(time.Duration(i)*time.Second).Format(time.RFC3339), i)
			if !strings.Contains(name, "/") {
				csvIDs = append(csvIDs, id)
			}
		}
		w.write("logs/"+name+".csv.gz", w.gzip([]byte(b.String())))
	}
	var nd strings.Builder
	from, until := time.Date(2024, 3, 1, 9, 40, 0, 0, time.UTC), time.Date(2024, 3, 1, 13, 5, 0, 0, time.UTC)
	for ts := time.Date(2024, 3, 1, 8, 0, 0, 0, time.UTC); ts.Day() == 1 && ts.Hour() < 15; ts = ts.Add(10 * time.Minute) {
		id := "outage-" + ts.Format("1504")
		fmt.Fprintf(&nd, `{"event_id":%q,"user_id":"u1","anonymous_id":null,"event":"Page Viewed","ts":%q,"plan":"pro","amount":1.5,"country":"DE","note":null}`+"\n",
			id, ts.Format(time.RFC3339))
		if !ts.Before(from) && ts.Before(until) {
			windowIDs = append(windowIDs, id)
		}
	}
	w.write("logs/2024-03-01.ndjson.gz", w.gzip([]byte(nd.String())))
	return csvIDs, windowIDs
}

// TestREADMEThreeUses runs the commands of the README's three uses as it
// writes them, against a serve of the built command for each use: the
// folder and glob import of a migration, the time window of an outage
// backfill, and the worked example of resuming, whose first import is
// interrupted after its first acknowledged batch.
func TestREADMEThreeUses(t *testing.T) {
	uses := readmeInlineCommands(readmeSection(t, "Three uses"))
	resuming := readmeShellCommands(readmeSection(t, "Resuming"))
	wantUses := []string{"backfill import --mapping m.yaml 'logs/**/*.csv.gz'",
		"backfill import --mapping events.yaml --since 2024-03-01T09:40:00Z --until 2024-03-01T13:05:00Z 'logs/2024-03-01*.ndjson.gz'"}
	wantResuming := []string{"bin/backfill import --mapping events.yaml 'logs/2024-*.csv.gz'", "bin/backfill status",
		"bin/backfill import --mapping events.yaml 'logs/2024-*.csv.gz'"}
	if strings.Join(uses, "\n") != strings.Join(wantUses, "\n") || strings.Join(resuming, "\n") != strings.Join(wantResuming, "\n") {
		t.Fatalf("the commands of the three uses changed; update this test:\n%s\n%s", strings.Join(uses, "\n"), strings.Join(resuming, "\n"))
	}
	w := newReadmeWorkspace(t)
	csvIDs, windowIDs := writeReadmeLogs(w)

	t.Run("migrating", func(t *testing.T) {
		url, out, stop := serveProcess(t, w.bin, t.TempDir())
		stdout, stderr, code := w.run(uses[0], url)
		if n := finished(t, uses[0], stdout, stderr, code); n != len(csvIDs)+3000 {
			t.Fatalf("%s: delivered %d, want the %d rows of the three files", uses[0], n, len(csvIDs)+3000)
		}
		stop()
		if got := len(received(t, out)); got != len(csvIDs)+3000 {
			t.Fatalf("received %d messages, want %d", got, len(csvIDs)+3000)
		}
	})

	t.Run("backfilling after an outage", func(t *testing.T) {
		url, out, stop := serveProcess(t, w.bin, t.TempDir())
		stdout, stderr, code := w.run(uses[1], url)
		if n := finished(t, uses[1], stdout, stderr, code); n != len(windowIDs) {
			t.Fatalf("%s: delivered %d, want the %d events of the window", uses[1], n, len(windowIDs))
		}
		if !strings.Contains(stdout, fmt.Sprintf("  filtered   %d\n", 42-len(windowIDs))) {
			t.Fatalf("%s: the summary does not count the %d rows outside the window as filtered:\n%s", uses[1], 42-len(windowIDs), stdout)
		}
		stop()
		got := received(t, out)
		for _, id := range windowIDs {
			if got[id] == nil {
				t.Fatalf("%s did not arrive", id)
			}
		}
		if len(got) != len(windowIDs) {
			t.Fatalf("received %d messages, want %d", len(got), len(windowIDs))
		}
	})

	t.Run("resuming", func(t *testing.T) {
		url, out, stop := serveProcess(t, w.bin, t.TempDir())
		// The first import stops as at a Ctrl-C once a batch is
		// acknowledged.
		w.link(crashBinary(t))
		_, stderr, code := w.run(resuming[0], url, "BACKFILL_CRASH_AT=batch-acked:1:interrupt")
		w.link(w.bin)
		if code != exitInterrupted || !strings.Contains(stderr, "to resume, run the same command again") {
			t.Fatalf("%s, interrupted: exit %d, want %d and how to resume: %s", resuming[0], code, exitInterrupted, stderr)
		}
		stdout, stderr, code := w.run(resuming[1], "")
		if code != exitOK || !strings.Contains(stdout, "logs/2024-01-14.csv.gz") {
			t.Fatalf("%s: exit %d:\n%s%s", resuming[1], code, stdout, stderr)
		}
		stdout, stderr, code = w.run(resuming[2], url)
		if n := finished(t, resuming[2], stdout, stderr, code); n != len(csvIDs) {
			t.Fatalf("%s: delivered %d, want the whole import's %d", resuming[2], n, len(csvIDs))
		}
		stop()
		got := received(t, out) // each once
		for _, id := range csvIDs {
			if got[id] == nil {
				t.Fatalf("%s did not arrive", id)
			}
		}
		if len(got) != len(csvIDs) {
			t.Fatalf("received %d messages, want %d", len(got), len(csvIDs))
		}
	})
}
