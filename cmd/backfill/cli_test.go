package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// cliRun runs the built command in dir with the environment plus env, and
// returns what it printed and its exit code.
func cliRun(t *testing.T, dir string, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), exitCodeOf(t, err, errb.String())
}

// TestCase14HelpOnceOnStdout asks for help in each way a user does: it is
// printed once, on stdout, and the command exits 0; the exit codes are in
// the help of the commands that have them.
func TestCase14HelpOnceOnStdout(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args  []string
		usage string // the usage line, which must occur once
		want  []string
	}{
		{[]string{"--help"}, "Usage:\n  backfill [flags]\n  backfill [command]\n", []string{"Exit codes:\n  0    every row delivered", "  3    stopped by the error budget", "  64   bad usage", "  rejects     Sum up a rejects file", "  completion  "}},
		{[]string{"-h"}, "Usage:\n  backfill [flags]\n  backfill [command]\n", []string{"Exit codes:\n"}},
		{[]string{"help"}, "Usage:\n  backfill [flags]\n  backfill [command]\n", []string{"Exit codes:\n"}},
		{[]string{"import", "--help"}, "Usage:\n  backfill import [flags] SOURCE...\n", []string{"Exit codes: 0 every row delivered", "      --rate N  ", "      --encoding ENCODING  "}},
		{[]string{"import", "-h"}, "Usage:\n  backfill import [flags] SOURCE...\n", nil},
		{[]string{"help", "import"}, "Usage:\n  backfill import [flags] SOURCE...\n", nil},
		{[]string{"check", "--help"}, "Usage:\n  backfill check [flags] SOURCE...\n", []string{"Exit codes: 0 nothing would be rejected", "      --rows N  "}},
		{[]string{"help", "status"}, "Usage:\n  backfill status [flags] [CHECKPOINT|FOLDER]...\n", []string{"      --checkpoint FILE  "}},
		{[]string{"rejects", "--help"}, "Usage:\n  backfill rejects [flags] FILE\n", []string{"      --write-rows DIR  ", "Exit codes: 0 done"}},
		{[]string{"serve", "--help"}, "Usage:\n  backfill serve [flags]\n", []string{"      --addr HOST:PORT  "}},
		{[]string{"presets", "--help"}, "Usage:\n  backfill presets [flags] [NAME]\n", nil},
		{[]string{"help", "completion", "bash"}, "Usage:\n  backfill completion bash\n", nil},
	} {
		stdout, stderr, code := cliRun(t, dir, nil, c.args...)
		if code != exitOK || stderr != "" {
			t.Errorf("%v: exit %d, stderr %q; want 0 and nothing", c.args, code, stderr)
		}
		if n := strings.Count(stdout, c.usage); n != 1 {
			t.Errorf("%v: the usage %q occurs %d times in:\n%s", c.args, c.usage, n, stdout)
		}
		for _, w := range c.want {
			if !strings.Contains(stdout, w) {
				t.Errorf("%v: no %q in:\n%s", c.args, w, stdout)
			}
		}
	}
	// "help import" is import's help, the same as "import --help".
	viaHelp, _, _ := cliRun(t, dir, nil, "help", "import")
	viaFlag, _, _ := cliRun(t, dir, nil, "import", "--help")
	if viaHelp != viaFlag {
		t.Errorf("help import:\n%s\nwant what import --help prints:\n%s", viaHelp, viaFlag)
	}
}

// TestCase14Completion prints the completion script of each shell, and
// completes commands, flag values and preset names.
func TestCase14Completion(t *testing.T) {
	dir := t.TempDir()
	for shell, want := range map[string]string{
		"bash":       "# bash completion V2 for backfill",
		"zsh":        "#compdef backfill\ncompdef _backfill backfill\n",
		"fish":       "# fish completion for backfill",
		"powershell": "# powershell completion for backfill",
	} {
		stdout, stderr, code := cliRun(t, dir, nil, "completion", shell)
		if code != exitOK || stderr != "" || !strings.HasPrefix(stdout, want) || len(stdout) < 1000 {
			t.Errorf("completion %s: exit %d, stderr %q, %d bytes starting %.80q; want 0, nothing, a script starting %q",
				shell, code, stderr, len(stdout), stdout, want)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"__complete", "imp"}, "import\tRead CSV/NDJSON/Parquet files, map rows to messages, send them\n:4\n"},
		{[]string{"__complete", "import", "--format", ""}, "csv\nndjson\nparquet\n:4\n"},
		{[]string{"__complete", "check", "--format", "nd"}, "csv\nndjson\nparquet\n:4\n"}, // the shell picks by prefix
		{[]string{"__complete", "import", "--progress", ""}, "auto\nalways\nnever\n:4\n"},
		{[]string{"__complete", "presets", ""}, "amplitude\nga4\nmixpanel\nmixpanel-people\nposthog\nsegment\n:4\n"},
		{[]string{"__complete", "help", "st"}, "status\n:4\n"},
	} {
		stdout, _, code := cliRun(t, dir, nil, c.args...)
		if code != exitOK || stdout != c.want {
			t.Errorf("%v: exit %d, stdout %q; want 0, %q", c.args, code, stdout, c.want)
		}
	}
}

// TestCase14UsageErrors gives wrong commands, flags and values: each exits
// 64 with one message that names what the user typed and what would work,
// never a Go field name, package or time layout.
func TestCase14UsageErrors(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "events.ndjson"), []byte(`{"type":"track","userId":"u","event":"e","timestamp":"2023-11-14T22:13:20Z"}`+"\n"))
	for _, c := range []struct {
		args []string
		want string // the first line of stderr
	}{
		{[]string{"improt"}, `backfill: unknown command "improt"; did you mean import?`},
		{[]string{"stauts"}, `backfill: unknown command "stauts"; did you mean status?`},
		{[]string{"help", "improt"}, `backfill help: unknown command "improt"; did you mean import?`},
		{[]string{"frobnicate"}, `backfill: unknown command "frobnicate"`},
		{[]string{}, "backfill imports historical event data into Segment: it reads CSV, NDJSON"},
		{[]string{"import"}, `backfill import: name at least one SOURCE (a file, folder, glob or -)`},
		{[]string{"import", "--mappin", "m.yaml", "events.ndjson"}, `backfill import: unknown flag --mappin; did you mean --mapping?`},
		{[]string{"import", "-restart", "events.ndjson"}, `backfill import: unknown flag -restart: write --restart, with two dashes`},
		{[]string{"import", "events.ndjson", "--mapping"}, `backfill import: --mapping needs a value`},
		{[]string{"import", "--max-message-bytes", "50000", "events.ndjson"}, `backfill import: --max-message-bytes is 50000, want 1 to 32000 (Segment's limit)`},
		{[]string{"import", "--max-batch-bytes", "0", "events.ndjson"}, `backfill import: --max-batch-bytes is 0, want 1 to 500000 (Segment's limit)`},
		{[]string{"import", "--max-batch-messages", "2501", "events.ndjson"}, `backfill import: --max-batch-messages is 2501, want 1 to 2500 (Segment's limit)`},
		{[]string{"import", "--max-batch-bytes", "1000", "events.ndjson"}, `backfill import: --max-batch-bytes 1000 cannot hold a message of --max-message-bytes 32000 with its envelope: raise the first or lower the second`},
		{[]string{"import", "--format", "xml", "events.ndjson"}, `backfill import: --format "xml": want csv, ndjson or parquet`},
		{[]string{"check", "--format", "xml", "events.ndjson"}, `backfill check: --format "xml": want csv, ndjson or parquet`},
		{[]string{"import", "--encoding", "klingon", "events.ndjson"}, `backfill import: --encoding "klingon": unknown encoding; want one of utf-8, utf-16, utf-16le, utf-16be, windows-1250 to windows-1258 (latin1, iso-8859-1 and cp1252 are windows-1252), iso-8859-2 to iso-8859-16, koi8-r, koi8-u, ibm866, macintosh, x-mac-cyrillic, windows-874, shift_jis, euc-jp, euc-kr, gbk, gb18030, big5, and the ASCII-compatible IBM code pages of the IANA registry (ibm437, ibm850, …)`},
		{[]string{"import", "--delimiter", ";;", "events.ndjson"}, `backfill import: --delimiter ";;": want one character, such as , ; | or \t for tab`},
		{[]string{"import", "--delimiter", `"`, "events.ndjson"}, `backfill import: --delimiter "\"": want an ASCII character other than a quote or a line break, such as , ; | or \t for tab`},
		{[]string{"import", "--encoding", "shift_jis", "--delimiter", "|", "events.ndjson"}, `backfill import: --delimiter "|" with --encoding shift_jis: a character of that encoding can hold the byte '|'; use a comma, a semicolon or a tab`},
		{[]string{"import", "--columns", "a,,b", "events.ndjson"}, `backfill import: --columns "a,,b": column 2 has no name; want names separated by commas, such as user_id,event,ts`},
		{[]string{"import", "--max-line-bytes", "0", "events.ndjson"}, `backfill import: --max-line-bytes is 0, want 1 or more`},
		{[]string{"import", "--since", "2023-11-14T22:13:20", "events.ndjson"}, `backfill import: --since "2023-11-14T22:13:20" has no zone: add Z for UTC (2023-11-14T22:13:20Z) or an offset such as +01:00`},
		{[]string{"check", "--until", "yesterday", "events.ndjson"}, `backfill check: --until "yesterday": want a time with its zone, such as 2023-11-14T22:13:20Z or 2023-11-14T23:13:20+01:00, or a date, such as 2023-11-14 (midnight UTC)`},
		{[]string{"import", "--since", "2023-11-14", "--until", "2023-11-14T00:00:00Z", "events.ndjson"}, `backfill import: --until 2023-11-14T00:00:00Z is not after --since 2023-11-14: no row could be imported`},
		{[]string{"import", "--mapping", "", "events.ndjson"}, `backfill import: --mapping is empty; give a value or leave the flag out`},
		{[]string{"import", "--rate", "0", "events.ndjson"}, `backfill import: --rate is 0, want requests per second above 0, or -1 for no limit (default: 50)`},
		{[]string{"import", "--rate", "NaN", "events.ndjson"}, `backfill import: --rate is NaN, want requests per second above 0, or -1 for no limit (default: 50)`},
		{[]string{"import", "--rate", "fast", "events.ndjson"}, `backfill import: --rate "fast": want a number`},
		{[]string{"import", "--min-rate", "0", "events.ndjson"}, `backfill import: --min-rate is 0, want requests per second above 0 (default: 1)`},
		{[]string{"import", "--events-rate", "0", "events.ndjson"}, `backfill import: --events-rate is 0, want events per second above 0, or -1 for no limit (the default)`},
		{[]string{"import", "--concurrency", "0", "events.ndjson"}, `backfill import: --concurrency is 0, want 1 or more`},
		{[]string{"import", "--concurrency", "2.5", "events.ndjson"}, `backfill import: --concurrency "2.5": want a whole number`},
		{[]string{"import", "--max-retries", "many", "events.ndjson"}, `backfill import: --max-retries "many": want a whole number`},
		{[]string{"import", "--max-retry-time", "0", "events.ndjson"}, `backfill import: --max-retry-time is 0s, want a duration above 0, such as 10m, or -1s for no limit (default: 10m)`},
		{[]string{"import", "--request-timeout", "0s", "events.ndjson"}, `backfill import: --request-timeout is 0s, want a duration above 0, such as 30s`},
		{[]string{"import", "--drain-timeout", "30", "events.ndjson"}, `backfill import: --drain-timeout "30": want a duration such as 500ms, 30s, 5m or 1h30m`},
		{[]string{"import", "--checkpoint-interval", "-1s", "events.ndjson"}, `backfill import: --checkpoint-interval is -1s, want 0 (after every batch) or more`},
		{[]string{"import", "--progress", "sometimes", "events.ndjson"}, `backfill import: --progress "sometimes": want auto, always or never`},
		{[]string{"import", "--dry-run=maybe", "events.ndjson"}, `backfill import: --dry-run "maybe": want true or false`},
		{[]string{"import", "--rejects", "", "events.ndjson"}, `backfill import: --rejects is empty; give a value or leave the flag out`},
		{[]string{"import", "--checkpoint", "cp.json", "--no-checkpoint", "events.ndjson"}, `backfill import: --checkpoint and --no-checkpoint exclude each other`},
		{[]string{"import", "--dry-run", "--stub", "events.ndjson"}, `backfill import: --dry-run, --output and --stub exclude each other`},
		{[]string{"check", "--rows", "-1", "events.ndjson"}, `backfill check: --rows is -1, want 0 or more`},
		{[]string{"status", "extra"}, `backfill status: extra: no such checkpoint file or folder`},
		{[]string{"serve", "--addr", "8088"}, `backfill serve: --addr "8088": want HOST:PORT, such as 127.0.0.1:8088 (port 0 picks a free port)`},
		{[]string{"presets", "a", "b"}, `backfill presets: give at most one preset name`},
		{[]string{"rejects", "--run", "", "r.ndjson"}, `backfill rejects: --run is empty; give a value or leave the flag out`},
		{[]string{"rejects", "--jsno", "r.ndjson"}, `backfill rejects: unknown flag --jsno; did you mean --json?`},
		{[]string{"version", "now"}, `backfill version: unexpected argument "now"`},
	} {
		_, stderr, code := cliRun(t, dir, []string{"SEGMENT_WRITE_KEY=k"}, c.args...)
		first, _, _ := strings.Cut(stderr, "\n")
		if code != exitUsage || first != c.want {
			t.Errorf("%q: exit %d, stderr:\n%s\nwant exit 64 and the first line\n%s", c.args, code, stderr, c.want)
		}
		for _, goSpeak := range []string{"config:", "readers:", "mappings:", "2006-01-02", "Max", "strconv", "time: "} {
			if strings.Contains(stderr, goSpeak) {
				t.Errorf("%q: stderr speaks Go (%q):\n%s", c.args, goSpeak, stderr)
			}
		}
	}
}

// TestCase14SecretsNeverEchoed gives endpoints with a user and password,
// parsable or not, and a write key that cannot be sent: no error quotes
// them.
func TestCase14SecretsNeverEchoed(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "events.ndjson"), []byte(`{"type":"track","userId":"u","event":"e","timestamp":"2023-11-14T22:13:20Z"}`+"\n"))
	for _, c := range []struct {
		endpoint string
		want     string
	}{
		{"https://admin:hunter2@api.segment.io", `backfill import: --endpoint "https://***@api.segment.io": the URL must not hold a user name or password; the write key comes from $SEGMENT_WRITE_KEY or --write-key-file`},
		{"htps://admin:hunter2@api.segment.io", `backfill import: --endpoint "htps://***@api.segment.io": the URL must not hold a user name or password; the write key comes from $SEGMENT_WRITE_KEY or --write-key-file`},
		{"https://admin:hun/ter2@api.segment.io/", `backfill import: --endpoint "https://***@api.segment.io/": the URL must not hold a user name or password; the write key comes from $SEGMENT_WRITE_KEY or --write-key-file`},
		{"https://admin:hunter2@api segment io", `backfill import: --endpoint "https://***@api segment io": the URL must not hold a user name or password; the write key comes from $SEGMENT_WRITE_KEY or --write-key-file`},
		{"admin:hunter2@api.segment.io", `backfill import: --endpoint "***@api.segment.io": the URL must not hold a user name or password; the write key comes from $SEGMENT_WRITE_KEY or --write-key-file`},
	} {
		_, stderr, code := cliRun(t, dir, []string{"SEGMENT_WRITE_KEY=k"}, "import", "--endpoint", c.endpoint, "events.ndjson")
		first, _, _ := strings.Cut(stderr, "\n")
		if code != exitUsage || first != c.want || strings.Contains(stderr, "hunter2") || strings.Contains(stderr, "hun/ter2") || strings.Contains(stderr, "admin") {
			t.Errorf("--endpoint %s: exit %d, stderr:\n%s\nwant 64 and\n%s", c.endpoint, code, stderr, c.want)
		}
	}
	const key = "wk-secret-1 2"
	_, stderr, code := cliRun(t, dir, []string{"SEGMENT_WRITE_KEY=" + key}, "import", "events.ndjson")
	want := "backfill import: the write key in $SEGMENT_WRITE_KEY contains whitespace, a control character or a colon; copy it again from the source's settings\n"
	if code != exitUsage || stderr != want {
		t.Errorf("a write key with a space: exit %d, stderr %q; want 64 and %q", code, stderr, want)
	}
}

// TestCase14OutputDevNull writes the messages to /dev/null, which cannot
// be synced: the import succeeds.
func TestCase14OutputDevNull(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "events.ndjson"), []byte(
		`{"type":"track","userId":"u1","event":"e","timestamp":"2023-11-14T22:13:20Z"}`+"\n"+
			`{"type":"track","userId":"u2","event":"e","timestamp":"2023-11-14T22:13:21Z"}`+"\n"))
	stdout, stderr, code := cliRun(t, dir, nil, "import", "--progress", "never", "--output", os.DevNull, "events.ndjson")
	if code != exitOK || strings.Contains(stderr, "sync") {
		t.Fatalf("--output /dev/null: exit %d, stderr:\n%s", code, stderr)
	}
	if !strings.Contains(stdout, "2 rows") {
		t.Errorf("--output /dev/null: the summary does not count 2 rows:\n%s", stdout)
	}
}

// TestOutputKeptWhenTheCheckpointCannotBeRead: when whether a checkpoint
// exists cannot be told (its path runs through a file), the --output file
// of an earlier run is neither emptied nor appended to: the import fails
// and says why.
func TestOutputKeptWhenTheCheckpointCannotBeRead(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "events.ndjson"), []byte(
		`{"type":"track","userId":"u1","event":"e","timestamp":"2023-11-14T22:13:20Z"}`+"\n"))
	writeFile(t, filepath.Join(dir, "afile"), []byte("x"))
	out := filepath.Join(dir, "out.ndjson")
	before := []byte(`{"sent":"before"}` + "\n")
	writeFile(t, out, before)
	_, stderr, code := cliRun(t, dir, nil, "import", "--progress", "never", "--output", out,
		"--checkpoint", filepath.Join(dir, "afile", "cp.json"), "events.ndjson")
	if code == exitOK || !strings.Contains(stderr, "--output "+out) {
		t.Errorf("exit %d, stderr:\n%s\nwant a failure naming --output", code, stderr)
	}
	if got, err := os.ReadFile(out); err != nil || string(got) != string(before) {
		t.Errorf("the output file holds %q (%v), want %q untouched", got, err, before)
	}
}

// TestCase14Version prints the version both ways.
func TestCase14Version(t *testing.T) {
	dir := t.TempDir()
	a, _, codeA := cliRun(t, dir, nil, "version")
	b, _, codeB := cliRun(t, dir, nil, "--version")
	if codeA != exitOK || codeB != exitOK || a != b || !strings.HasPrefix(a, "backfill ") {
		t.Errorf("version: %q (exit %d), --version: %q (exit %d); want the same line twice", a, codeA, b, codeB)
	}
}
