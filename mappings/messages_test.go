package mappings

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/backfillhq/backfill/sink"
)

func TestMessagesSpecErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"drop in an entry", `
timestamp: ts
userId: u
messages:
  - type: track
    event: e
    drop: {x: 'true'}
`, `events.yaml:7: messages[0]: drop stays at the top level of the mapping: it is of the row, not of one of its messages`},
		{"columns in an entry", `
timestamp: ts
userId: u
messages:
  - type: identify
  - type: track
    event: e
    columns: {n: int}
`, `events.yaml:8: messages[1]: columns stays at the top level of the mapping: it is of the row, not of one of its messages`},
		{"optional in an entry", `
timestamp: ts
userId: u
messages:
  - type: identify
    optional: [u]
`, `events.yaml:6: messages[0]: optional stays at the top level of the mapping: it is of the row, not of one of its messages`},
		{"nested messages", `
timestamp: ts
userId: u
messages:
  - type: identify
    messages: []
`, `events.yaml:6: messages[0]: messages cannot go inside messages`},
		{"passthrough", `
passthrough: true
messages:
  - type: identify
`, `events.yaml:2: passthrough: cannot go with messages: passthrough takes each row as one Segment message as it is`},
		{"not a list", `
timestamp: ts
userId: u
messages: {type: track}
`, `events.yaml:4: messages: want a list of messages, each a mapping (type, ids, event, …), not a mapping`},
		{"empty list", `
timestamp: ts
userId: u
messages: []
`, `events.yaml:4: messages: want a list of messages, each a mapping (type, ids, event, …), not a list`},
		{"entry not a mapping", `
timestamp: ts
userId: u
messages: [track]
`, `events.yaml:4: messages[0]: want a mapping, not "track"`},
		{"an entry without a type", `
timestamp: ts
userId: u
messages:
  - type: identify
  - event: e
`, `events.yaml:6: messages[1]: type: required (a message type, or {column: …})`},
		{"a required field per message", `
timestamp: ts
userId: u
messages:
  - type: identify
  - type: track
`, `events.yaml:6: messages[1]: event: required for track messages`},
		{"a shared key the type has not", `
timestamp: ts
userId: u
event: e
messages:
  - type: track
  - type: identify
`, `events.yaml:4: messages[1]: event: identify messages have no event`},
		{"an unknown key in an entry", `
timestamp: ts
userId: u
messages:
  - type: identify
    trait: {from: p}
`, `events.yaml:6: messages[0]: unknown key "trait" (want passthrough, type, timestamp, columns, optional, drop, messages, messageId, userId, anonymousId, event, name, category, groupId, previousId or properties, traits, context, integrations)`},
		{"a bad when", `
timestamp: ts
userId: u
messages:
  - type: identify
    when: 'a ==='
`, `events.yaml:6:16: messages[0].when: expression "a ===": unexpected token Operator("=")`},
		{"collisions per message", `
timestamp: ts
userId: u
messages:
  - type: identify
    traits:
      rename: {a: x}
      values: {x: 1}
`, `events.yaml:8: messages[0]: traits.values: output key "x" is set by column "a" and by values`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSpec([]byte(tt.yaml), "events.yaml")
			if err == nil || err.Error() != tt.want {
				t.Errorf("ParseSpec error\n got: %v\nwant: %s", err, tt.want)
			}
		})
	}
}

func TestMessagesCompileNamesTheEntry(t *testing.T) {
	s := mustSpec(t, `
timestamp: ts
userId: u
messages:
  - type: track
    event: e
  - when: 'flag == "1"'
    type: identify
    traits: {include: [plann]}
`)
	_, err := s.Compile([]string{"ts", "u", "e", "flag", "plan"}, Options{})
	want := `events.yaml:9: messages[1]: traits.include: column "plann" is not in the file (columns: ts, u, e, flag, plan); did you mean "plan"?`
	if err == nil || err.Error() != want {
		t.Errorf("Compile error\n got: %v\nwant: %s", err, want)
	}
	_, err = s.Compile([]string{"ts", "u", "e", "plann"}, Options{})
	want = `events.yaml:7: messages[1].when: column "flag" is not in the file (columns: ts, u, e, plann)`
	if err == nil || err.Error() != want {
		t.Errorf("Compile error\n got: %v\nwant: %s", err, want)
	}
}

// An entry that fails takes back the messages of its row written before
// it: the writer holds what it held before the row.
func TestMessagesRejectTheWholeRow(t *testing.T) {
	schema := []string{"ts", "u", "e", "n"}
	m := mustCompile(t, `
timestamp: ts
userId: u
columns: {n: int}
messages:
  - type: track
    event: e
    properties: {exclude: [n]}
  - type: identify
    traits: {include: [n]}
`, schema, Options{})
	w := sink.NewMessageWriter(sink.Limits{})
	if err := m.Map(csvRow(2, schema, "2024-03-01T10:00:00Z", "u1", "Bought", "7"), w); err != nil {
		t.Fatal(err)
	}
	before := string(w.Bytes())
	if strings.Count(before, `{"type":`) != 2 {
		t.Fatalf("first row: %s, want two messages", before)
	}
	err := m.Map(csvRow(3, schema, "2024-03-01T10:00:00Z", "u2", "Bought", "seven"), w)
	want := `events.csv:3: messages[1].traits.n: column "n": value "seven": declared int: not an integer`
	if err == nil || err.Error() != want || reasonOf(err) != sink.ReasonInvalidValue {
		t.Errorf("Map error %v (%s), want %s (%s)", err, reasonOf(err), want, sink.ReasonInvalidValue)
	}
	var ee *EntryError
	var fe *FieldError
	if !errors.As(err, &ee) || ee.Entry != 1 || !errors.As(err, &fe) || fe.Column != "n" {
		t.Errorf("Map error %#v: want an EntryError of entry 1 around the FieldError of column n", err)
	}
	if got := string(w.Bytes()); got != before {
		t.Errorf("after the reject the writer holds\n%s\nwant\n%s", got, before)
	}
}

// A message over the size cap rejects its row, naming the entry.
func TestMessagesTooLargeRejectsTheRow(t *testing.T) {
	schema := []string{"ts", "u", "e", "big"}
	m := mustCompile(t, `
timestamp: ts
userId: u
messages:
  - type: track
    event: e
    properties: {include: [e]}
  - type: identify
`, schema, Options{})
	w := sink.NewMessageWriter(sink.Limits{MaxMessageBytes: 400, MaxBatchBytes: 1000})
	err := m.Map(csvRow(2, schema, "2024-03-01T10:00:00Z", "u1", "Bought", strings.Repeat("x", 500)), w)
	var tl *sink.TooLargeError
	if !errors.As(err, &tl) || !strings.HasPrefix(err.Error(), "events.csv:2: messages[1]: ") || reasonOf(err) != sink.ReasonMessageTooLarge {
		t.Errorf("Map error %v (%s), want the identify's message_too_large", err, reasonOf(err))
	}
	if w.Len() != 0 {
		t.Errorf("the writer holds %s", w.Bytes())
	}
}

func TestEntryMessageID(t *testing.T) {
	got := EntryMessageID("ins-1", 1)
	if got != "bfm-"+xxh3Hex("ins-1\x001") {
		t.Errorf("EntryMessageID = %s", got)
	}
	if EntryMessageID("ins-1", 2) == got || len(got) != 36 {
		t.Errorf("EntryMessageID(ins-1, 2) = %s, EntryMessageID(ins-1, 1) = %s", EntryMessageID("ins-1", 2), got)
	}
}

// Ids derived from the row's position are the same for every message of
// the row: each after the first gets its entry's id.
func TestMessagesPositionIDs(t *testing.T) {
	schema := []string{"ts", "u", "e"}
	m := mustCompile(t, `
timestamp: ts
userId: u
messageId: {derive: position}
messages:
  - type: track
    event: e
  - type: identify
  - type: page
`, schema, Options{}).(MultiMapper)
	w := sink.NewMessageWriter(sink.Limits{})
	row := csvRow(2, schema, "2024-03-01T10:00:00Z", "u1", "Bought")
	msgs, skipped, err := m.MapMessages(row, w, nil)
	if err != nil || skipped != 0 || len(msgs) != 3 {
		t.Fatalf("MapMessages = %d messages, %d skipped, %v", len(msgs), skipped, err)
	}
	first := RowMessageID(row)
	var ids []string
	for _, rm := range msgs {
		ids = append(ids, string(w.Bytes()[rm.idStart:rm.idEnd]))
	}
	want := []string{first, EntryMessageID(first, 1), EntryMessageID(first, 2)}
	if !slices.Equal(ids, want) {
		t.Errorf("ids %q, want %q", ids, want)
	}
}

func TestMessagesColumns(t *testing.T) {
	s := mustSpec(t, `
timestamp: ts
userId: u
drop: {internal: 'internal == "1"'}
messages:
  - type: track
    event: e
    properties: {include: [a]}
  - when: 'b != nil'
    type: identify
    traits: {include: [b.c]}
`)
	cols, all := s.Columns()
	want := []string{"ts", "u", "e", "a", "b.c", "b", "internal"}
	if all || !slices.Equal(cols, want) {
		t.Errorf("Columns = %q, %v; want %q", cols, all, want)
	}
	if s.Entries() != 2 {
		t.Errorf("Entries = %d", s.Entries())
	}
	one := mustSpec(t, "type: identify\ntimestamp: ts\nuserId: u\n")
	if one.Entries() != 0 {
		t.Errorf("Entries of a single message = %d", one.Entries())
	}
}

// multiBenchSpec is benchSpec as the first of two messages per row, the
// second an identify made when the row has a plan.
const multiBenchSpec = `
userId: user_id
timestamp: ts
columns:
  amount: float
  quantity: int
messages:
  - type: track
    messageId: event_id
    event: event_name
    properties:
      exclude: [internal_note]
      rename: {amount: revenue}
    context:
      include: [ip]
  - when: 'plan != nil'
    type: identify
    traits: {include: [plan]}
`

// BenchmarkMapCSVMessages maps CSV rows of two messages each, as the
// importer does (MapMessages into a reused list), beside BenchmarkMapCSV
// of one message per row.
func BenchmarkMapCSVMessages(b *testing.B) {
	m := mustCompile(b, multiBenchSpec, csvBenchSchema, Options{}).(MultiMapper)
	rows := csvBenchRows()
	w := sink.NewMessageWriter(sink.Limits{})
	var msgs []RowMessage
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w.Reset(w.Bytes())
		var err error
		if msgs, _, err = m.MapMessages(rows[i%len(rows)], w, msgs[:0]); err != nil || len(msgs) != 2 {
			b.Fatal(len(msgs), err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// An entry whose timestamp is outside the time window makes no message;
// a row of which every entry is outside it is filtered by the window,
// not as a row of no message.
func TestMessagesTimeWindow(t *testing.T) {
	schema := []string{"ts", "signup", "u", "e"}
	m := mustCompile(t, `
timestamp: ts
userId: u
messages:
  - type: track
    event: e
  - type: identify
    timestamp: signup
`, schema, Options{Since: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}).(MultiMapper)
	w := sink.NewMessageWriter(sink.Limits{})
	msgs, skipped, err := m.MapMessages(csvRow(2, schema, "2024-03-01T10:00:00Z", "2023-05-01T10:00:00Z", "u1", "Bought"), w, nil)
	if err != nil || skipped != 1 || len(msgs) != 1 || msgs[0].Entry != 0 {
		t.Errorf("a signup before the window: %+v, %d skipped, %v; want the track alone", msgs, skipped, err)
	}
	w.Reset(nil)
	msgs, skipped, err = m.MapMessages(csvRow(3, schema, "2023-03-01T10:00:00Z", "2023-05-01T10:00:00Z", "u1", "Bought"), w, nil)
	if !errors.Is(err, ErrFiltered) || IsNoMessage(err) || FilterRule(err) != "" || skipped != 2 || len(msgs) != 0 || w.Len() != 0 {
		t.Errorf("a row before the window: %d messages, %d skipped, %v; want it filtered by the window", len(msgs), skipped, err)
	}
}

// FuzzMapMessages maps rows of a mapping of several messages per row:
// a row makes messages that end one after another, each one JSON object
// with its own messageId, or an error that leaves the writer as it was.
func FuzzMapMessages(f *testing.F) {
	for _, seed := range []string{
		"2024-03-01T10:00:00Z|u1|Bought|pro|1|i-1",
		"2024-03-01T10:00:00Z|u1||pro|x|",
		"2024-03-01T10:00:00Z||Bought|||i-1",
		"bad|u1|Bought|pro|1|i-1",
		"2024-03-01T10:00:00Z|u1|Bought||2|",
	} {
		f.Add(seed)
	}
	schema := []string{"ts", "u", "e", "plan", "n", "id"}
	m := mustCompile(f, `
timestamp: ts
userId: u
messageId: {column: id}
columns: {n: int}
messages:
  - when: 'e != nil'
    type: track
    event: e
    properties: {include: [n]}
  - when: 'plan != nil'
    type: identify
    traits: {include: [plan]}
  - when: 'plan == "pro"'
    type: group
    groupId: plan
`, schema, Options{}).(MultiMapper)
	f.Fuzz(func(t *testing.T, line string) {
		fields := strings.Split(line, "|")
		values := make([]string, len(schema))
		copy(values, fields)
		w := sink.NewMessageWriter(sink.Limits{})
		w.Begin(sink.TypeIdentify, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
		w.SetText(sink.FieldUserID, "before")
		if _, err := w.End(); err != nil {
			t.Fatal(err)
		}
		before := string(w.Bytes())
		msgs, _, err := m.MapMessages(csvRow(2, schema, values...), w, nil)
		if err != nil {
			if string(w.Bytes()) != before || len(msgs) != 0 {
				t.Fatalf("error %v, and the writer holds %s", err, w.Bytes()[len(before):])
			}
			return
		}
		start := len(before)
		ids := map[string]bool{}
		for _, rm := range msgs {
			var msg struct{ MessageID string }
			if err := json.Unmarshal(w.Bytes()[start:rm.End], &msg); err != nil || msg.MessageID == "" || ids[msg.MessageID] {
				t.Fatalf("message %s: %v, id %q of %v", w.Bytes()[start:rm.End], err, msg.MessageID, ids)
			}
			ids[msg.MessageID] = true
			start = rm.End
		}
		if start != w.Len() {
			t.Fatalf("the messages end at %d, the writer at %d", start, w.Len())
		}
	})
}
