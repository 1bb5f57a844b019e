package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/backfillhq/backfill/importer"
)

// shardRunnerVars are the variables that name a shard; the tests clear
// them from the environment they inherit.
var shardRunnerVars = []string{"JOB_COMPLETION_INDEX", "AWS_BATCH_JOB_ARRAY_INDEX", "AWS_BATCH_JOB_ARRAY_SIZE", "CLOUD_RUN_TASK_INDEX", "CLOUD_RUN_TASK_COUNT"}

// shardEnv is the environment of a shard process: the test's, without
// the runners' variables, with SEGMENT_WRITE_KEY and env.
func shardEnv(env ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		keep := true
		for _, v := range shardRunnerVars {
			if name == v {
				keep = false
			}
		}
		if keep {
			out = append(out, kv)
		}
	}
	return append(append(out, "SEGMENT_WRITE_KEY=crash-key"), env...)
}

// runShard runs the command in dir with env and returns its exit code
// (the negated signal if one ended it), stdout and stderr.
func runShard(t *testing.T, bin, dir string, args []string, env ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = shardEnv(env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return exitCodeOf(t, err, errb.String()), out.String(), errb.String()
}

// TestShardFlagsAndRunnerVariables runs an import with --shard, --shards
// and the job runners' variables, and checks the shard each run is (in
// its report), the rate it takes, or the usage error.
func TestShardFlagsAndRunnerVariables(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "in.ndjson")
	var lines bytes.Buffer
	for i := range 5 {
		fmt.Fprintf(&lines, `{"type":"track","messageId":"m%d","userId":"u","event":"E","timestamp":"2024-01-01T00:00:00Z"}`+"\n", i)
	}
	// Cut into a byte range for every shard, it gives each shard a part
	// to send, and a rate.
	writeFile(t, src, lines.Bytes())
	for _, c := range []struct {
		name  string
		args  []string
		env   []string
		shard string  // the report's, if the run succeeds
		rate  float64 // the request rate the shard takes
		err   string  // the usage error, if not
	}{
		{"flag", []string{"--shard", "1/3"}, nil, "1/3", 50.0 / 3, ""},
		{"flag wins over variables", []string{"--shard", "2/4"}, []string{"CLOUD_RUN_TASK_INDEX=1", "CLOUD_RUN_TASK_COUNT=3"}, "2/4", 12.5, ""},
		{"kubernetes", []string{"--shards", "3"}, []string{"JOB_COMPLETION_INDEX=2"}, "2/3", 50.0 / 3, ""},
		{"aws batch", nil, []string{"AWS_BATCH_JOB_ARRAY_INDEX=0", "AWS_BATCH_JOB_ARRAY_SIZE=2"}, "0/2", 25, ""},
		{"cloud run", []string{"--rate", "90", "--concurrent-shards", "2"}, []string{"CLOUD_RUN_TASK_INDEX=3", "CLOUD_RUN_TASK_COUNT=5"}, "3/5", 45, ""},
		{"two runners agree", nil, []string{"CLOUD_RUN_TASK_INDEX=1", "CLOUD_RUN_TASK_COUNT=2", "JOB_COMPLETION_INDEX=1"}, "1/2", 25, ""},
		{"one task", nil, []string{"CLOUD_RUN_TASK_INDEX=0", "CLOUD_RUN_TASK_COUNT=1"}, "", 50, ""},
		{"--shards overrides the count", []string{"--shards", "4"}, []string{"AWS_BATCH_JOB_ARRAY_INDEX=3", "AWS_BATCH_JOB_ARRAY_SIZE=9"}, "3/4", 12.5, ""},

		{"bad --shard", []string{"--shard", "3/3"}, nil, "", 0, `--shard "3/3": want K/N, N shards and K this one's index from 0 to N-1, such as 0/3`},
		{"--shard and --shards", []string{"--shard", "0/3", "--shards", "4"}, nil, "", 0, "--shard 0/3 and --shards 4 contradict each other: give one of them"},
		{"index without count", nil, []string{"JOB_COMPLETION_INDEX=1"}, "", 0, "$JOB_COMPLETION_INDEX is 1, but the number of shards is not set: add --shards N (the Job's completions)"},
		{"--shards without index", []string{"--shards", "3"}, nil, "", 0, "--shards 3 without the index of this shard: give --shard K/3, or run it as a task of a Kubernetes Indexed Job ($JOB_COMPLETION_INDEX), an AWS Batch array job ($AWS_BATCH_JOB_ARRAY_INDEX) or a Cloud Run job ($CLOUD_RUN_TASK_INDEX)"},
		{"runners differ", nil, []string{"AWS_BATCH_JOB_ARRAY_INDEX=1", "AWS_BATCH_JOB_ARRAY_SIZE=3", "CLOUD_RUN_TASK_INDEX=2", "CLOUD_RUN_TASK_COUNT=3"}, "", 0, "$AWS_BATCH_JOB_ARRAY_INDEX is 1 and $CLOUD_RUN_TASK_INDEX is 2: the shard's index is unclear; give --shard K/N"},
		{"counts differ", nil, []string{"AWS_BATCH_JOB_ARRAY_INDEX=1", "AWS_BATCH_JOB_ARRAY_SIZE=3", "CLOUD_RUN_TASK_INDEX=1", "CLOUD_RUN_TASK_COUNT=4"}, "", 0, "$AWS_BATCH_JOB_ARRAY_SIZE is 3 and $CLOUD_RUN_TASK_COUNT is 4: the number of shards is unclear; give --shards N"},
		{"index outside", nil, []string{"CLOUD_RUN_TASK_INDEX=3", "CLOUD_RUN_TASK_COUNT=3"}, "", 0, "$CLOUD_RUN_TASK_INDEX is 3, outside the 3 shards: want an index from 0 to 2"},
		{"not a number", nil, []string{"JOB_COMPLETION_INDEX=x"}, "", 0, `$JOB_COMPLETION_INDEX is "x", want a number from 0`},
		{"concurrent over count", []string{"--shard", "0/2", "--concurrent-shards", "3"}, nil, "", 0, "--concurrent-shards is 3, want from 1 to the 2 shards"},
		{"concurrent without shards", []string{"--concurrent-shards", "2"}, nil, "", 0, "--concurrent-shards is given, but the import is not split into shards: add --shard K/N or --shards N"},
		{"split bytes", []string{"--shard", "0/2", "--shard-split-bytes", "-1"}, nil, "", 0, "--shard-split-bytes is -1, want a size in bytes above 0 (default: 67108864)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			report := filepath.Join(dir, c.name+".json")
			args := append([]string{"import", "--stub", "--progress", "never", "--report", report, "--shard-split-bytes", "1"}, c.args...)
			code, _, stderr := runShard(t, bin, dir, append(args, src), c.env...)
			if c.err != "" {
				if want := "backfill import: " + c.err + "\n"; code != exitUsage || stderr != want {
					t.Fatalf("exit %d, stderr\n%s\nwant exit 64 and\n%s", code, stderr, want)
				}
				return
			}
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if c.shard != "" {
				report = importer.ShardCheckpointPath(report, shardOf(t, c.shard))
			}
			var rep importer.Report
			b, err := os.ReadFile(report)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &rep); err != nil {
				t.Fatal(err)
			}
			if rep.Shard != c.shard || rep.CurrentRate != c.rate {
				t.Fatalf("report of shard %q at %g requests/s, want shard %q at %g", rep.Shard, rep.CurrentRate, c.shard, c.rate)
			}
		})
	}
}

func shardOf(t *testing.T, s string) importer.Shard {
	var k, n int
	if _, err := fmt.Sscanf(s, "%d/%d", &k, &n); err != nil {
		t.Fatal(err)
	}
	return importer.Shard{Index: k, Count: n}
}

// shardRows writes the inputs of the shards' end-to-end test to dir/in:
// a plain NDJSON file large enough to be cut into byte ranges, three
// small ones, a Parquet file of 4 row groups and a gzip CSV file. It
// returns the ids of the rows.
func shardRows(t *testing.T, dir string) map[string]bool {
	t.Helper()
	want := map[string]bool{}
	in := filepath.Join(dir, "in")
	if err := os.MkdirAll(in, 0o755); err != nil {
		t.Fatal(err)
	}
	stamp := func(i int) string { return e2eTime(i).Format(time.RFC3339) }
	line := func(b *bytes.Buffer, id string, i int) {
		want[id] = true
		fmt.Fprintf(b, `{"id":%q,"user":"u%d","event":"Event %d","ts":%q,"n":%d}`+"\n", id, i%100, i%5, stamp(i), i)
	}
	var big bytes.Buffer
	for i := range 3000 {
		line(&big, fmt.Sprintf("big-%d", i), i)
	}
	writeFile(t, filepath.Join(in, "big.ndjson"), big.Bytes())
	for _, name := range []string{"n1", "n2", "n3"} {
		var b bytes.Buffer
		for i := range 100 {
			line(&b, fmt.Sprintf("%s-%d", name, i), i)
		}
		writeFile(t, filepath.Join(in, name+".ndjson"), b.Bytes())
	}
	writeParquetGroups(t, filepath.Join(in, "e.parquet"), "pq", 2000, 500, func(name string, i int) (string, bool) {
		id := fmt.Sprintf("%s-%d", name, i)
		want[id] = true
		return id, false
	})
	var csv bytes.Buffer
	csv.WriteString("id,user,event,ts,n\n")
	for i := range 500 {
		id := fmt.Sprintf("csv-%d", i)
		want[id] = true
		fmt.Fprintf(&csv, "%s,u%d,Event %d,%s,%d\n", id, i%100, i%5, stamp(i), i)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(csv.Bytes())
	zw.Close()
	writeFile(t, filepath.Join(in, "f.csv.gz"), gz.Bytes())
	writeFile(t, filepath.Join(dir, "mapping.yaml"), []byte("type: track\nmessageId: id\nuserId: user\nevent: event\ntimestamp: ts\ncolumns: {n: int}\n"))
	return want
}

// TestShardsEndToEnd imports a mix of files as 3 shard processes at once,
// each named by another job runner's variables and sending to a receiver
// of its own; shard 1 is killed (SIGKILL) after its fourth acknowledged
// batch and run again. Every row arrives at least once, no row is sent by
// two shards, duplicates come only from the killed shard and are
// identical, and status sums the shards' checkpoints.
func TestShardsEndToEnd(t *testing.T) {
	bin := crashBinary(t)
	dir := t.TempDir()
	want := shardRows(t, dir)
	runners := [][]string{
		{"JOB_COMPLETION_INDEX=0"},
		{"AWS_BATCH_JOB_ARRAY_INDEX=1", "AWS_BATCH_JOB_ARRAY_SIZE=3", "BACKFILL_CRASH_AT=batch-acked:4:kill"},
		{"CLOUD_RUN_TASK_INDEX=2", "CLOUD_RUN_TASK_COUNT=3"},
	}
	const batch = 50
	args := func(url string) []string {
		return []string{"import", "--endpoint", url, "--mapping", "mapping.yaml", "--progress", "never",
			"--shards", "3", "--shard-split-bytes", "100000", "--max-batch-messages", fmt.Sprint(batch),
			"--concurrency", "2", "--rate", "-1", "--checkpoint-interval", "0", "--checkpoint", filepath.Join("ckpt", "import.json"), "in"}
	}
	urls := make([]string, 3)
	received := make([]string, 3)
	stops := make([]func(), 3)
	for k := range 3 {
		urls[k], received[k], stops[k] = serveProcess(t, bin, t.TempDir())
	}
	codes := make([]int, 3)
	stderrs := make([]string, 3)
	var wg sync.WaitGroup
	for k := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[k], _, stderrs[k] = runShard(t, bin, dir, args(urls[k]), runners[k]...)
		}()
	}
	wg.Wait()
	for k, wantCode := range []int{exitOK, -int(syscall.SIGKILL), exitOK} {
		if codes[k] != wantCode {
			t.Fatalf("shard %d: exit %d, want %d: %s", k, codes[k], wantCode, stderrs[k])
		}
	}
	code, out, stderr := runShard(t, bin, dir, []string{"status", "ckpt"})
	if code != exitOK || !strings.Contains(out, "import "+filepath.Join("ckpt", "import.json")+" in 3 shards: 2 of 3 shards complete\n") {
		t.Fatalf("status after the kill: exit %d:\n%s%s", code, out, stderr)
	}
	if code, _, stderr := runShard(t, bin, dir, args(urls[1]), runners[1][:2]...); code != exitOK {
		t.Fatalf("shard 1 run again: exit %d: %s", code, stderr)
	}
	for _, stop := range stops {
		stop()
	}

	sentBy := map[string]int{}
	for k := range 3 {
		first := map[string]map[string]any{}
		dups := 0
		eachJSONLine(t, received[k], func(m map[string]any) {
			id := m["messageId"].(string)
			if !want[id] {
				t.Fatalf("shard %d sent %s, which is no row", k, id)
			}
			if prev, ok := first[id]; ok {
				dups++
				if !reflect.DeepEqual(prev, m) {
					t.Fatalf("shard %d sent %s twice, differently:\n%v\n%v", k, id, prev, m)
				}
				return
			}
			first[id] = m
			if other, ok := sentBy[id]; ok {
				t.Fatalf("%s was sent by shards %d and %d", id, other, k)
			}
			sentBy[id] = k
		})
		if k != 1 && dups != 0 {
			t.Fatalf("shard %d, which was not killed, sent %d duplicates", k, dups)
		}
		if len(first) == 0 {
			t.Fatalf("shard %d sent nothing", k)
		}
	}
	if len(sentBy) != len(want) {
		t.Fatalf("%d of the %d rows arrived", len(sentBy), len(want))
	}

	// Each shard read a byte range of the large file and a run of the
	// Parquet file's row groups; the gzip CSV went whole to one shard.
	kinds := map[string]int{}
	for k := range 3 {
		cp, err := importer.LoadCheckpoint(filepath.Join(dir, "ckpt", fmt.Sprintf("import.shard-%d-of-3.json", k)))
		if err != nil {
			t.Fatal(err)
		}
		if !cp.Complete || cp.Options["shard"] != fmt.Sprintf("%d/3", k) {
			t.Fatalf("shard %d's checkpoint: complete %v, shard %q", k, cp.Complete, cp.Options["shard"])
		}
		for _, f := range cp.Files {
			kind := filepath.Base(f.Path)
			if f.Range != nil {
				kind += " part"
			}
			kinds[kind]++
		}
	}
	if kinds["big.ndjson part"] != 3 || kinds["e.parquet part"] != 3 || kinds["f.csv.gz"] != 1 || kinds["big.ndjson"]+kinds["e.parquet"] != 0 {
		t.Fatalf("the shards' checkpoints hold %v, want 3 parts of big.ndjson and of e.parquet, and f.csv.gz whole once", kinds)
	}
	code, out, stderr = runShard(t, bin, dir, []string{"status", "ckpt"})
	total := fmt.Sprintf("  total: %d rows settled: %d delivered, 0 rejected, 0 filtered\n", len(want), len(want))
	if code != exitOK || !strings.Contains(out, "in 3 shards: 3 of 3 shards complete\n") || !strings.Contains(out, total) {
		t.Fatalf("status at the end: exit %d:\n%s%s", code, out, stderr)
	}
}

// TestStatusOfShards writes the checkpoints of shards 0 and 1 of 3,
// shard 1 stopped by --limit, and checks what status shows of them at
// once and 10 minutes later: the stopped shard stands out as stalled,
// the shard without a checkpoint as not started, and the sums.
func TestStatusOfShards(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	var lines bytes.Buffer
	for i := range 30 {
		fmt.Fprintf(&lines, `{"type":"track","messageId":"m%d","userId":"u","event":"E","timestamp":"2024-01-01T00:00:00Z"}`+"\n", i)
	}
	writeFile(t, "in.ndjson", lines.Bytes())
	for _, args := range [][]string{{"--shard", "0/3"}, {"--shard", "1/3", "--limit", "2"}} {
		var stdout, stderr bytes.Buffer
		args = append([]string{"import", "--stub", "--progress", "never", "--checkpoint", "ckpt/imp.json", "--shard-split-bytes", "1"}, args...)
		if code := run(t.Context(), append(args, "in.ndjson"), &stdout, &stderr); code != exitOK {
			t.Fatalf("%q: exit %d: %s", args, code, stderr.String())
		}
	}
	cp1, err := importer.LoadCheckpoint("ckpt/imp.shard-1-of-3.json")
	if err != nil {
		t.Fatal(err)
	}
	cp0, err := importer.LoadCheckpoint("ckpt/imp.shard-0-of-3.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		after time.Duration
		head  string
		row1  string
	}{
		{0, "import ckpt/imp.json in 3 shards: 1 of 3 shards complete\n", `(?m)^  1/3 +in progress +0/1 files +2 +2 +0 +0 +\S+ \(0s ago\) +ckpt/imp.shard-1-of-3.json$`},
		{10 * time.Minute, "import ckpt/imp.json in 3 shards: 1 of 3 shards complete, 1 stalled or stopped (no checkpoint written for 5m0s or more: run those shards again, they resume)\n",
			`(?m)^  1/3 +STALLED OR STOPPED +0/1 files +2 +2 +0 +0 +\S+ \(10m ago\) +ckpt/imp.shard-1-of-3.json$`},
	} {
		var stdout, stderr bytes.Buffer
		if code := runStatus(context.Background(), []string{"ckpt"}, cp1.Updated.Add(c.after), &stdout, &stderr); code != exitOK {
			t.Fatalf("status: exit %d: %s", code, stderr.String())
		}
		out := stdout.String()
		total := fmt.Sprintf("  total: %d rows settled: %d would send, 0 rejected, 0 filtered\n", cp0.Totals.Read+2, cp0.Totals.Delivered+2)
		if !strings.HasPrefix(out, c.head) || !regexp.MustCompile(c.row1).MatchString(out) || !strings.Contains(out, total) ||
			!regexp.MustCompile(`(?m)^  0/3 +complete +1/1 files `).MatchString(out) ||
			!regexp.MustCompile(`(?m)^  2/3 +not started +\(no checkpoint: not run yet, or no part of the sources falls to it\)$`).MatchString(out) {
			t.Fatalf("status %s later:\n%s\nwant it to start %q, hold %s and %q", c.after, out, c.head, c.row1, total)
		}
	}
	// A checkpoint of a shard of another count, in the same folder, is
	// left out of the sums and named.
	var stdout0, stderr0 bytes.Buffer
	if code := run(t.Context(), []string{"import", "--stub", "--progress", "never", "--checkpoint", "other/imp.json", "--shard", "0/2", "in.ndjson"}, &stdout0, &stderr0); code != exitOK {
		t.Fatalf("shard 0/2: exit %d: %s", code, stderr0.String())
	}
	b, err := os.ReadFile("other/imp.shard-0-of-2.json")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, "ckpt/imp.shard-0-of-2.json", b)
	stdout0.Reset()
	if code := runStatus(context.Background(), []string{"ckpt"}, cp1.Updated, &stdout0, &stderr0); code != exitOK ||
		!strings.Contains(stdout0.String(), "  checkpoints of another shard count, left out: ckpt/imp.shard-0-of-2.json (a changed count is refused: delete them to split anew)\n") ||
		!strings.HasPrefix(stdout0.String(), "import ckpt/imp.json in 3 shards: 1 of 3 shards complete\n") {
		t.Fatalf("status with a checkpoint of another count: exit %d:\n%s%s", code, stdout0.String(), stderr0.String())
	}
	os.Remove("ckpt/imp.shard-0-of-2.json")

	// One shard's checkpoint, named itself, is shown file by file.
	var stdout, stderr bytes.Buffer
	if code := runStatus(context.Background(), []string{"ckpt/imp.shard-1-of-3.json"}, cp1.Updated, &stdout, &stderr); code != exitOK ||
		!strings.HasPrefix(stdout.String(), "checkpoint ckpt/imp.shard-1-of-3.json: in progress (a preview: --dry-run, --output or --stub; nothing was sent to Segment), started ") ||
		!regexp.MustCompile(`(?m)^  partial +\S+ +2 +2 +0 +0 +\S+/in.ndjson \(bytes \d+-\d+\) \(resumes at row 3, byte \d+\)$`).MatchString(stdout.String()) {
		t.Fatalf("status of one shard's checkpoint: exit %d:\n%s%s", code, stdout.String(), stderr.String())
	}
}

// TestShardWithNothingToDo runs the three shards of an import of one
// small file: the two shards it does not fall to say so, exit 0 and keep
// no checkpoint. Standard input cannot be split.
func TestShardWithNothingToDo(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	writeFile(t, "in.ndjson", []byte(`{"type":"track","messageId":"m1","userId":"u","event":"E","timestamp":"2024-01-01T00:00:00Z"}`+"\n"))
	idle := 0
	for k := range 3 {
		var stdout, stderr bytes.Buffer
		args := []string{"import", "--stub", "--progress", "never", "--checkpoint", "ckpt/imp.json", "--shard", fmt.Sprintf("%d/3", k), "in.ndjson"}
		if code := run(t.Context(), args, &stdout, &stderr); code != exitOK {
			t.Fatalf("shard %d: exit %d: %s", k, code, stderr.String())
		}
		_, err := os.Stat(fmt.Sprintf("ckpt/imp.shard-%d-of-3.json", k))
		if want := fmt.Sprintf("shard %d/3: no part of the sources falls to this shard; nothing to do.\n", k); stdout.String() == want {
			idle++
			if err == nil {
				t.Fatalf("shard %d, which had nothing to do, wrote a checkpoint", k)
			}
		} else if !strings.HasPrefix(stdout.String(), fmt.Sprintf("shard %d/3 of the import complete in ", k)) || err != nil {
			t.Fatalf("shard %d: %q, checkpoint %v", k, stdout.String(), err)
		}
	}
	if idle != 2 {
		t.Fatalf("%d shards had nothing to do, want 2", idle)
	}
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"import", "--stub", "--shard", "0/2", "-"}, &stdout, &stderr); code != exitUsage ||
		stderr.String() != "backfill import: standard input cannot be split into shards: save it to a file and import that\n" {
		t.Fatalf("stdin in shards: exit %d: %s", code, stderr.String())
	}
}

// TestShardsPushMetricsApart imports as 2 shards, each pushing its final
// metrics: the pushes are grouped by the import's name, alike for both,
// and by the shard, so that one does not replace the other.
func TestShardsPushMetricsApart(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	src := metricsInput(t, dir, 40, 0)
	for k := range 2 {
		pg, pushSrv := newPushgateway(t, false)
		args := []string{"import", "--stub", "--progress", "never", "--checkpoint", filepath.Join(dir, "events.json"),
			"--shard", fmt.Sprintf("%d/2", k), "--shard-split-bytes", "1", "--metrics-push", pushSrv.URL, src}
		if code, _, stderr := runShard(t, bin, dir, args); code != exitOK {
			t.Fatalf("shard %d: exit %d: %s", k, code, stderr)
		}
		pg.mu.Lock()
		path := pg.path
		pg.mu.Unlock()
		want := map[string]string{"job": "backfill", "import": "events", "shard": fmt.Sprintf("%d-of-2", k)}
		if got := grouping(t, path); !reflect.DeepEqual(got, want) {
			t.Fatalf("shard %d pushed with the grouping key %v (path %s), want %v", k, got, path, want)
		}
	}
}

// TestShardFileKeepsDevices: a shard's --output and --rejects that name a
// device, as /dev/null, are that device, not a file beside it.
func TestShardFileKeepsDevices(t *testing.T) {
	f := &shardFlags{resolved: importer.Shard{Index: 1, Count: 3}}
	for path, want := range map[string]string{
		os.DevNull:         os.DevNull,
		"-":                "-",
		"out/rejects.json": "out/rejects.shard-1-of-3.json",
	} {
		if got := f.shardFile(path); got != want {
			t.Errorf("shardFile(%q) = %q, want %q", path, got, want)
		}
	}
}
