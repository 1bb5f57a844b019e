package main

import (
	"bufio"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/backfillhq/backfill/importer"
)

// counts are what a display says became of the rows.
type counts struct {
	read, delivered, rejected, filtered, unsettled int64
}

func (c counts) String() string {
	return fmt.Sprintf("read %d, delivered %d, rejected %d, filtered %d, unsettled %d", c.read, c.delivered, c.rejected, c.filtered, c.unsettled)
}

var (
	summaryRead = regexp.MustCompile(`(?m)^import (?:complete|stopped) in [^:]+: \d+ files?, (\d+) rows read$`)
	summaryLine = regexp.MustCompile(`(?m)^  (delivered|written|would send|rejected|filtered|unsettled) +(\d+)`)
	progressLog = regexp.MustCompile(`rows_read=(\d+) (delivered|written|would_send)=(\d+) rejected=(\d+) filtered=(\d+) unsettled=(\d+) .*final=true`)
	statusTotal = regexp.MustCompile(`(?m)^  total: (\d+) rows settled: (\d+) (delivered|written|would send), (\d+) rejected, (\d+) filtered$`)
)

func atoi(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// summaryCounts reads the counts of the summary an import printed, and
// the word it used for delivered rows.
func summaryCounts(t *testing.T, out string) (c counts, label string) {
	t.Helper()
	m := summaryRead.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no summary in:\n%s", out)
	}
	c.read = atoi(t, m[1])
	for _, m := range summaryLine.FindAllStringSubmatch(out, -1) {
		n := atoi(t, m[2])
		switch m[1] {
		case "rejected":
			c.rejected = n
		case "filtered":
			c.filtered = n
		case "unsettled":
			c.unsettled = n
		default:
			c.delivered, label = n, m[1]
		}
	}
	return c, label
}

// progressCounts reads the counts of the last progress line an import
// logged.
func progressCounts(t *testing.T, stderr string) (c counts, label string) {
	t.Helper()
	m := progressLog.FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("no final progress line in:\n%s", stderr)
	}
	return counts{atoi(t, m[1]), atoi(t, m[3]), atoi(t, m[4]), atoi(t, m[5]), atoi(t, m[6])}, strings.ReplaceAll(m[2], "_", " ")
}

func reportCounts(t *testing.T, path string) counts {
	t.Helper()
	r := readReport(t, path)
	return counts{r.RowsRead, r.Delivered, r.Rejected, r.Filtered, r.Unsettled}
}

// statusCounts runs backfill status on the checkpoint and reads its
// totals, which count settled rows only.
func statusCounts(t *testing.T, bin, dir, checkpoint string) counts {
	t.Helper()
	c, _ := statusCountsLabel(t, bin, dir, checkpoint)
	return c
}

// statusCountsLabel is statusCounts that also returns the word status
// uses for delivered rows.
func statusCountsLabel(t *testing.T, bin, dir, checkpoint string) (counts, string) {
	t.Helper()
	code, stdout, stderr := runIn(t, bin, dir, "status", "--checkpoint", checkpoint)
	if code != exitOK {
		t.Fatalf("status: exit %d: %s", code, stderr)
	}
	m := statusTotal.FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("no totals in status:\n%s", stdout)
	}
	return counts{read: atoi(t, m[1]), delivered: atoi(t, m[2]), rejected: atoi(t, m[4]), filtered: atoi(t, m[5])}, m[3]
}

// rejectLines counts the lines of the rejects file within its first
// limit bytes (all of them when limit is negative).
func rejectLines(t *testing.T, path string, limit int64) int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	if limit >= 0 && int64(len(b)) > limit {
		b = b[:limit]
	}
	var n int64
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		n++
	}
	return n
}

// agree checks that the summary, the final progress line, the report, the
// checkpoint's status and the rejects file say the same of the rows.
func agree(t *testing.T, bin, dir, stdout, stderr, report, checkpoint, rejects string) counts {
	t.Helper()
	sum, label := summaryCounts(t, stdout)
	prog, plabel := progressCounts(t, stderr)
	rep := reportCounts(t, report)
	if sum != rep || prog != rep {
		t.Errorf("the displays disagree:\n  summary  %v\n  progress %v\n  report   %v", sum, prog, rep)
	}
	if label != plabel {
		t.Errorf("the summary says %q, the progress %q", label, plabel)
	}
	if rep.read != rep.delivered+rep.rejected+rep.filtered+rep.unsettled {
		t.Errorf("the report does not add up: %v", rep)
	}
	if checkpoint != "" {
		st, slabel := statusCountsLabel(t, bin, dir, checkpoint)
		want := counts{rep.read - rep.unsettled, rep.delivered, rep.rejected, rep.filtered, 0}
		if st != want {
			t.Errorf("status says %v, the report %v", st, rep)
		}
		if slabel != label {
			t.Errorf("status says %q, the summary %q", slabel, label)
		}
	}
	if n := rejectLines(t, rejects, -1); n != rep.rejected {
		t.Errorf("%d lines in the rejects file, the report says %d rejected", n, rep.rejected)
	}
	return rep
}

// case12Input writes 300 Segment messages, rows 5, 50, 62 and 75
// broken, and 1,500 rows of a CSV file with no mapping, all rejected.
func case12Input(t *testing.T, dir string) (ndjson, legacy string) {
	t.Helper()
	var nd, csv strings.Builder
	for i := 1; i <= 300; i++ {
		if i == 5 || i == 50 || i == 62 || i == 75 {
			fmt.Fprintf(&nd, "{\"broken %d\n", i)
			continue
		}
		fmt.Fprintf(&nd, `{"type":"track","messageId":"c-%d","userId":"u","event":"E","timestamp":"2024-03-01T12:00:00Z"}`+"\n", i)
	}
	csv.WriteString("id,user\n")
	for i := range 1500 {
		fmt.Fprintf(&csv, "%d,u%d\n", i, i)
	}
	ndjson, legacy = filepath.Join(dir, "in.ndjson"), filepath.Join(dir, "legacy.csv")
	writeFile(t, ndjson, []byte(nd.String()))
	writeFile(t, legacy, []byte(csv.String()))
	return ndjson, legacy
}

// TestCase12CountsAgree: in every ending of an import (success with
// rejects, a failure, an error-budget stop, Ctrl-C, kill -9 then status,
// previews), the summary, the last progress line, the report, status and
// the rejects file count the same rows; previews never say delivered.
func TestCase12CountsAgree(t *testing.T) {
	bin := crashBinary(t)
	inputs := t.TempDir()
	ndjson, legacy := case12Input(t, inputs)

	// A receiver that accepts the first five requests and then fails:
	// rows 62 and 75 are read and rejected, but not settled, when the
	// run fails.
	var requests atomic.Int64
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if requests.Add(1) > 5 {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, `{"success":true}`)
	}))
	defer failing.Close()

	for _, tc := range []struct {
		name   string
		args   []string
		env    []string
		code   int
		label  string
		assert func(t *testing.T, c counts)
	}{
		{"success with rejects", []string{"--endpoint", "SERVE", ndjson}, nil, exitRejects, "delivered", func(t *testing.T, c counts) {
			if c != (counts{300, 296, 4, 0, 0}) {
				t.Errorf("counts %v", c)
			}
		}},
		{"failure", []string{"--endpoint", failing.URL, "--max-retries", "-1", ndjson}, nil, exitFailed, "delivered", func(t *testing.T, c counts) {
			if c.delivered != 50 || c.rejected != 2 || c.unsettled == 0 { // five batches of 10 settled, and rows 5 and 50 between them
				t.Errorf("counts %v, want 50 delivered, 2 rejected, some unsettled", c)
			}
		}},
		{"error budget", []string{"--stub", legacy}, nil, exitBudget, "would send", func(t *testing.T, c counts) {
			if c != (counts{1000, 0, 1000, 0, 0}) {
				t.Errorf("counts %v", c)
			}
		}},
		{"Ctrl-C", []string{"--endpoint", "SERVE", ndjson}, []string{"BACKFILL_CRASH_AT=batch-acked:8:interrupt"}, exitInterrupted, "delivered", func(t *testing.T, c counts) {
			if c.read == 0 || c.rejected == 0 {
				t.Errorf("counts %v, want rows read and rejected before the stop", c)
			}
		}},
		{"--stub", []string{"--stub", ndjson}, nil, exitRejects, "would send", nil},
		{"--output", []string{"--output", "OUT", ndjson}, nil, exitRejects, "written", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			report, checkpoint, rejects := filepath.Join(dir, "report.json"), filepath.Join(dir, "cp.json"), filepath.Join(dir, "r.ndjson")
			args := []string{"import", "--report", report, "--checkpoint", checkpoint, "--rejects", rejects, "--rate", "-1",
				"--concurrency", "1", "--max-batch-messages", "10", "--checkpoint-interval", "0"}
			for _, a := range tc.args {
				switch a {
				case "SERVE":
					url, _, stop := serveProcess(t, bin, dir)
					defer stop()
					a = url
				case "OUT":
					a = filepath.Join(dir, "out.ndjson")
				}
				args = append(args, a)
			}
			env := append([]string{"SEGMENT_WRITE_KEY=crash-key"}, tc.env...)
			code, stdout, stderr := runEnv(t, bin, dir, env, args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d:\n%s\n%s", code, tc.code, stdout, stderr)
			}
			c := agree(t, bin, dir, stdout, stderr, report, checkpoint, rejects)
			if _, label := summaryCounts(t, stdout); label != tc.label {
				t.Errorf("the summary says %q, want %q", label, tc.label)
			}
			if tc.label != "delivered" && strings.Contains(stdout+stderr, "delivered") {
				t.Errorf("a preview says delivered:\n%s\n%s", stdout, stderr)
			}
			if tc.assert != nil {
				tc.assert(t, c)
			}
		})
	}

	t.Run("kill -9 then status", func(t *testing.T) {
		dir := t.TempDir()
		url, _, stop := serveProcess(t, bin, dir)
		defer stop()
		report, checkpoint, rejects := filepath.Join(dir, "report.json"), filepath.Join(dir, "cp.json"), filepath.Join(dir, "r.ndjson")
		args := []string{"import", "--endpoint", url, "--report", report, "--checkpoint", checkpoint, "--rejects", rejects, "--rate", "-1",
			"--concurrency", "1", "--max-batch-messages", "10", "--checkpoint-interval", "0", ndjson}
		env := []string{"SEGMENT_WRITE_KEY=crash-key"}
		if code, _, stderr := runEnv(t, bin, dir, append(env, "BACKFILL_CRASH_AT=batch-acked:20:kill"), args...); code != -9 {
			t.Fatalf("exit %d, want a kill: %s", code, stderr)
		}
		st := statusCounts(t, bin, dir, checkpoint)
		cp, err := importer.LoadCheckpoint(checkpoint)
		if err != nil {
			t.Fatal(err)
		}
		if n := rejectLines(t, rejects, cp.RejectsOffset); n != st.rejected || st.rejected == 0 {
			t.Errorf("status says %d rejected, the rejects file holds %d lines up to the checkpoint's offset", st.rejected, n)
		}
		if st.read != st.delivered+st.rejected+st.filtered || st.read == 0 {
			t.Errorf("status does not add up: %v", st)
		}
		code, stdout, stderr := runEnv(t, bin, dir, env, args...)
		if code != exitRejects {
			t.Fatalf("resumed: exit %d:\n%s\n%s", code, stdout, stderr)
		}
		if c := agree(t, bin, dir, stdout, stderr, report, checkpoint, rejects); c != (counts{300, 296, 4, 0, 0}) {
			t.Errorf("resumed: counts %v", c)
		}
	})
}

// runEnv is runIn with more environment.
func runEnv(t *testing.T, bin, dir string, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	t.Setenv("BACKFILL_CRASH_AT", "")
	for _, e := range env {
		k, v, _ := strings.Cut(e, "=")
		t.Setenv(k, v)
	}
	return runIn(t, bin, dir, args...)
}
