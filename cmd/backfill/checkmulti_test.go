package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

const multiMapping = `timestamp: ts
userId: user
drop:
  merges: 'event == "$merge"'
messages:
  - type: track
    event: event
    properties: {include: [song]}
  - when: 'plan != nil'
    type: identify
    traits: {include: [plan]}
  - when: 'false'
    type: page
`

const multiInput = `{"event":"Played","user":"u1","song":"Blue","plan":"pro","ts":"2024-03-01T12:00:00Z"}
{"event":"Played","user":"u2","song":"Red","ts":"2024-03-01T12:01:00Z"}
{"event":"$merge","user":"u3","ts":"2024-03-01T12:02:00Z"}
{"user":"u4","plan":"free","ts":"2024-03-01T12:03:00Z"}
`

// TestCheckShowsTheMessagesOfARow checks that check shows each message
// a row of a mapping with messages: makes, numbered, and counts the
// messages beside the rows.
func TestCheckShowsTheMessagesOfARow(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	src := filepath.Join(dir, "events.ndjson")
	writeFile(t, src, []byte(multiInput))
	mapping := filepath.Join(dir, "m.yaml")
	writeFile(t, mapping, []byte(multiMapping))
	var stdout, stderr lockedBuffer
	code := run(context.Background(), []string{"check", "--rows", "4", "--mapping", mapping, src}, &stdout, &stderr)
	if code != exitRejects {
		t.Fatalf("exit %d, want %d: %s", code, exitRejects, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{
		"message 1 of 2: {\n                  \"type\": \"track\",\n",
		"message 2 of 2: {\n                  \"type\": \"identify\",\n",
		"\"plan\": \"pro\"\n",
		"/events.ndjson:2\nrow:     {\"event\":\"Played\",\"user\":\"u2\",\"song\":\"Red\",\"ts\":\"2024-03-01T12:01:00Z\"}\nmessage: {\n           \"type\": \"track\",\n",
		"outcome: filtered by drop rule \"merges\"\n",
		"outcome: rejected (missing_event): " + src + ":4: messages[0].event: column \"event\": no value (track messages need one)\n",
		"== 4 rows in 1 file: 2 would be sent, 1 rejected, 1 filtered\n",
		"== messages: 3 would be sent, 0 rejected, 3 not made (when false or outside the time window)\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestImportCountsMessagesAndRowsOfNoMessage checks that an import's
// summary counts the messages beside the rows, and the rows of which no
// entry made a message, through the built binary.
func TestImportCountsMessagesAndRowsOfNoMessage(t *testing.T) {
	bin := buildBinary(t, "")
	dir := t.TempDir()
	src := filepath.Join(dir, "events.ndjson")
	writeFile(t, src, []byte(multiInput+`{"event":"Played","user":"u5","song":"Green","plan":"team","ts":"2024-03-01T12:04:00Z"}
`))
	mapping := filepath.Join(dir, "m.yaml")
	writeFile(t, mapping, []byte(strings.Replace(multiMapping, "  - type: track\n", "  - type: track\n    when: 'user != \"u2\"'\n", 1)))
	stdout, stderr, code := runBinary(t, bin, dir, "import", "--stub", "--progress", "never", "--checkpoint", filepath.Join(dir, "cp.json"), "--mapping", mapping, src)
	if code != exitRejects {
		t.Fatalf("exit %d, want %d: %s%s", code, exitRejects, stdout, stderr)
	}
	out := stdout + stderr
	// status shows the same counts from the checkpoint.
	stdout, stderr, code = runBinary(t, bin, dir, "status", "--checkpoint", filepath.Join(dir, "cp.json"))
	if code != exitOK {
		t.Fatalf("status: exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"  filtered as no message (every when of messages: false): 1\n",
		"  messages: would send 4, rejected 0, not made 5 (when false or outside the time window)\n",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("status lacks %q:\n%s", want, stdout)
		}
	}
	// A batch must hold the messages of a row.
	_, stderr, code = runBinary(t, bin, dir, "import", "--stub", "--no-checkpoint", "--max-batch-messages", "2", "--mapping", mapping, src)
	if want := "backfill import: --max-batch-messages is 2, fewer than the 3 messages a row of the mapping may make (messages:), which go in one batch\n"; code != exitUsage || stderr != want {
		t.Errorf("--max-batch-messages 2: exit %d, stderr %q; want %d, %q", code, stderr, exitUsage, want)
	}
	for _, want := range []string{
		"5 rows read\n",
		"  would send 2\n",
		"  rejected   1\n",
		"  filtered   2\n    drop: merges           1\n    no message             1\n",
		"  messages: would send 4, rejected 0, not made 5 (when false or outside the time window)\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
}
