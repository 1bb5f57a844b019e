package importer

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/backfillhq/backfill/mappings"
)

// idEvent is one event of the property test, as CSV cells and NDJSON
// members.
type idEvent struct {
	user, event, ts, plan string
	amount                string
}

func idEvents() []idEvent {
	var evs []idEvent
	for i := range 40 {
		evs = append(evs, idEvent{
			user: fmt.Sprintf("u%d", i%7), event: []string{"Signed Up", "Order Completed", "Café ordered"}[i%3],
			ts: fmt.Sprintf("2024-03-01T10:%02d:%02d.%03dZ", i%60, i*7%60, i*37%1000), plan: []string{"pro", "free", "tëam"}[i%3],
			amount: fmt.Sprintf("%d.%d0", i, i%10),
		})
	}
	return evs
}

const idSpec = "type: track\nuserId: user_id\nevent: event\ntimestamp: ts\ncolumns: {amount: float}\n"

// writeIDFile writes evs as CSV or NDJSON: columns (or keys) in the order
// of cols, lines ending in eol, gzipped when gz is set.
func writeIDFile(t *testing.T, path, format string, evs []idEvent, cols []string, eol string, gz bool) {
	t.Helper()
	var b bytes.Buffer
	cell := func(e idEvent, c string) string {
		return map[string]string{"user_id": e.user, "event": e.event, "ts": e.ts, "plan": e.plan, "amount": e.amount}[c]
	}
	if format == "csv" {
		b.WriteString(strings.Join(cols, ",") + eol)
	}
	for _, e := range evs {
		var parts []string
		for _, c := range cols {
			if format == "csv" {
				parts = append(parts, cell(e, c))
				continue
			}
			v := fmt.Sprintf("%q", cell(e, c))
			if c == "amount" {
				v = cell(e, c) // a number, 1.50 and all
			}
			if c == "plan" {
				// The same string escaped otherwise.
				v = `"` + strings.ReplaceAll(cell(e, c), "ë", `\u00eb`) + `"`
			}
			parts = append(parts, fmt.Sprintf("%q:%s", c, v))
		}
		if format == "csv" {
			b.WriteString(strings.Join(parts, ",") + eol)
		} else {
			b.WriteString("{" + strings.Join(parts, ",") + "}" + eol)
		}
	}
	data := b.Bytes()
	if gz {
		var z bytes.Buffer
		zw := gzip.NewWriter(&z)
		zw.Write(data)
		zw.Close()
		data = z.Bytes()
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// importIDs imports path with spec and returns the messageIds sent, by
// user and timestamp, and the report.
func importIDs(t *testing.T, path, spec string, cfg Config) (map[string]string, Report) {
	t.Helper()
	s, err := mappings.ParseSpec([]byte(spec), "m.yaml")
	if err != nil {
		t.Fatal(err)
	}
	fs := &fakeSink{send: accept}
	cfg.Sources, cfg.Spec, cfg.Sink = []string{path}, s, fs
	cfg.RejectsPath = filepath.Join(t.TempDir(), "r.ndjson")
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for _, m := range fs.messages {
		ids[m["timestamp"].(string)] = m["messageId"].(string)
	}
	return ids, rep
}

// TestContentIDsSurviveAReExport imports the same events exported in
// different ways (row order, column or key order, gzip, CRLF, escaping,
// number notation, CSV and NDJSON) and checks they get the same
// messageIds; changing one property of one event changes that event's id
// alone.
func TestContentIDsSurviveAReExport(t *testing.T) {
	dir := t.TempDir()
	evs := idEvents()
	cols := []string{"user_id", "event", "ts", "plan", "amount"}
	base := filepath.Join(dir, "base.csv")
	writeIDFile(t, base, "csv", evs, cols, "\n", false)
	want, rep := importIDs(t, base, idSpec, Config{})
	if len(want) != len(evs) || rep.RepeatedIDs != 0 || rep.DerivedIDs != int64(len(evs)) {
		t.Fatalf("%d ids, report %+v", len(want), rep)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i, c := range []struct {
		format, eol string
		gz          bool
	}{
		{"csv", "\r\n", false}, {"csv", "\n", true}, {"ndjson", "\n", false}, {"ndjson", "\r\n", true},
	} {
		shuffled := slices.Clone(evs)
		rng.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
		order := slices.Clone(cols)
		rng.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
		name := fmt.Sprintf("export%d.%s", i, c.format)
		if c.gz {
			name += ".gz"
		}
		path := filepath.Join(dir, name)
		writeIDFile(t, path, c.format, shuffled, order, c.eol, c.gz)
		got, _ := importIDs(t, path, idSpec, Config{})
		for ts, id := range want {
			if got[ts] != id {
				t.Errorf("%s: the event at %s has the id %s, want %s", name, ts, got[ts], id)
			}
		}
	}

	changed := slices.Clone(evs)
	changed[17].plan = "enterprise"
	path := filepath.Join(dir, "changed.csv")
	writeIDFile(t, path, "csv", changed, cols, "\n", false)
	got, _ := importIDs(t, path, idSpec, Config{})
	for _, e := range evs {
		if same := got[e.ts] == want[e.ts]; same == (e.ts == evs[17].ts) {
			t.Errorf("event at %s: id %s, before %s", e.ts, got[e.ts], want[e.ts])
		}
	}

	// derive: position gives the old ids, which depend on the file.
	pos, _ := importIDs(t, base, idSpec+"messageId: {derive: position}\n", Config{})
	for ts, id := range pos {
		if !strings.HasPrefix(id, "bf-") || strings.HasPrefix(id, "bfc-") || id == want[ts] {
			t.Errorf("derive: position: %s", id)
		}
	}
	// A namespace gives every event another id.
	ns, _ := importIDs(t, base, idSpec, Config{Mapping: mappings.Options{IDNamespace: "trial"}})
	for ts, id := range ns {
		if id == want[ts] {
			t.Errorf("namespace: %s is the id without a namespace", id)
		}
	}
}

// TestRepeatedIDsAreCounted imports rows of which some repeat earlier
// ones in every field, and checks the report's exact count, with and
// without the limit on the ids remembered.
func TestRepeatedIDsAreCounted(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rows.csv")
	// Rows 1-6: a b a c b a: three repeat an earlier row.
	rows := "user_id,event,ts,plan,amount\n" +
		"u1,E,2024-03-01T10:00:00Z,pro,1\n" + "u2,E,2024-03-01T10:00:00Z,pro,1\n" +
		"u1,E,2024-03-01T10:00:00Z,pro,1.0\n" + "u3,E,2024-03-01T10:00:00Z,pro,1\n" +
		"u2,E,2024-03-01T10:00:00.000Z,pro,1\n" + "u1,E,2024-03-01T10:00:00Z,pro,1\n"
	if err := os.WriteFile(path, []byte(rows), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := mappings.ParseSpec([]byte(idSpec), "m.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		limit                      int
		repeated, checked, derived int64
		summary                    string
	}{
		{0, 3, 6, 6, "  repeated ids 3 (messages identical to an earlier one in every field their derived messageId covers: Segment keeps only the first)\n"},
		// Rows 1-3 are counted: a b a, one repeat.
		{3, 1, 3, 6, "  repeated ids 1 (messages identical to an earlier one in every field their derived messageId covers: Segment keeps only the first)\n" +
			"    counted over the first 3 of 6 messages with derived ids\n"},
		{-1, 0, 0, 6, "  repeated ids 0 (messages identical to an earlier one in every field their derived messageId covers: Segment keeps only the first)\n" +
			"    counted over the first 0 of 6 messages with derived ids\n"},
	} {
		t.Run(fmt.Sprint(c.limit), func(t *testing.T) {
			rep, err := Run(context.Background(), Config{Sources: []string{path}, Spec: s, Sink: &fakeSink{send: accept},
				RejectsPath: filepath.Join(t.TempDir(), "r.ndjson"), RepeatedIDLimit: c.limit})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Delivered != 6 || rep.RepeatedIDs != c.repeated || rep.IDsChecked != c.checked || rep.DerivedIDs != c.derived {
				t.Errorf("report: delivered %d, repeated %d, checked %d, derived %d; want 6, %d, %d, %d",
					rep.Delivered, rep.RepeatedIDs, rep.IDsChecked, rep.DerivedIDs, c.repeated, c.checked, c.derived)
			}
			if !strings.Contains(rep.Summary(), c.summary) {
				t.Errorf("summary:\n%s\nwant it to hold\n%s", rep.Summary(), c.summary)
			}
		})
	}
}
