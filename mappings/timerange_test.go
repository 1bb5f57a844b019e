package mappings

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/backfillhq/backfill/sink"
)

// TestTimestampSpecErrors checks the mapping errors of epoch formats with
// a timezone, local epoch formats, format lists and plausible ranges:
// each refuses the mapping before any row is read, naming its line.
func TestTimestampSpecErrors(t *testing.T) {
	const head = "type: identify\nuserId: u\n"
	tests := []struct {
		name, yaml, want string
	}{
		{"unix with a timezone",
			head + "timestamp:\n  column: ts\n  format: unix\n  timezone: America/New_York\n",
			"events.yaml:6: timestamp.timezone: format unix counts seconds since 1970-01-01T00:00:00Z, an instant, which timezone: cannot shift: remove timezone:, or use format: local_unix if the counts are of wall-clock time in America/New_York"},
		{"unix_ms with a timezone",
			head + "timestamp: {column: ts, format: unix_ms, timezone: Europe/Berlin}\n",
			"events.yaml:3: timestamp.timezone: format unix_ms counts milliseconds since 1970-01-01T00:00:00Z, an instant, which timezone: cannot shift: remove timezone:, or use format: local_unix_ms if the counts are of wall-clock time in Europe/Berlin"},
		{"unix_ns with a timezone in a list of one",
			head + "timestamp: {column: ts, format: [unix_ns], timezone: UTC}\n",
			"events.yaml:3: timestamp.timezone: format unix_ns counts nanoseconds since 1970-01-01T00:00:00Z, an instant, which timezone: cannot shift: remove timezone:, or use format: local_unix_ns if the counts are of wall-clock time in UTC"},
		{"declared unix_us with a timezone",
			head + "timestamp: ts\ncolumns:\n  seen: {type: timestamp, format: unix_us, timezone: Asia/Tokyo}\n",
			"events.yaml:5: columns.seen.timezone: format unix_us counts microseconds since 1970-01-01T00:00:00Z, an instant, which timezone: cannot shift: remove timezone:, or use format: local_unix_us if the counts are of wall-clock time in Asia/Tokyo"},
		{"local_unix without a timezone",
			head + "timestamp:\n  column: ts\n  format: local_unix\n",
			"events.yaml:5: timestamp.format: format local_unix counts wall-clock seconds of some place: say which with timezone: (an IANA name such as America/New_York, or UTC)"},
		{"local_unix_ms without a timezone in a list",
			head + "timestamp:\n  column: ts\n  format: [rfc3339, local_unix_ms]\n",
			"events.yaml:5: timestamp.format: format local_unix_ms counts wall-clock milliseconds of some place: say which with timezone: (an IANA name such as America/New_York, or UTC)"},
		{"unknown local format",
			head + "timestamp: {column: ts, format: local_unix_s, timezone: UTC}\n",
			`events.yaml:3: timestamp.format: unknown format "local_unix_s" (want one of rfc3339, iso8601, unix, unix_ms, unix_us, unix_ns, a Go layout (containing 2006), a strftime format (containing %), or local_unix, local_unix_ms, local_unix_us, local_unix_ns (counts of local wall-clock time))`},
		{"empty list",
			head + "timestamp: {column: ts, format: []}\n",
			"events.yaml:3: timestamp.format: want a format, or a list of at least one"},
		{"a format twice",
			head + "timestamp: {column: ts, format: [unix, rfc3339, unix]}\n",
			`events.yaml:3: timestamp.format: format "unix" is in the list twice`},
		{"a list in a list",
			head + "timestamp: {column: ts, format: [unix, [rfc3339]]}\n",
			"events.yaml:3: timestamp.format[1]: want a string, not a list"},
		{"an unknown format in a list",
			head + "timestamp: {column: ts, format: [unix, iso]}\n",
			`events.yaml:3: timestamp.format: unknown format "iso"`},
		{"a naive layout in a list without a timezone",
			head + "timestamp: {column: ts, format: [unix, \"%d/%m/%Y %H:%M\"]}\n",
			`events.yaml:3: timestamp.format: format "%d/%m/%Y %H:%M" has no zone, so its times are wall-clock times of some place: say which with timezone: (an IANA name such as Europe/Berlin, or UTC)`},
		{"a timezone no format of the list uses",
			head + "timestamp: {column: ts, format: [unix, unix_ms, \"%Y-%m-%dT%H:%M:%S%z\"], timezone: Europe/Berlin}\n",
			`events.yaml:3: timestamp.timezone: timezone: applies to none of the formats ["unix", "unix_ms", "%Y-%m-%dT%H:%M:%S%z"] (an epoch counts from an instant, an offset says its own zone): remove it`},
		{"unknown range key",
			head + "timestamp: {column: ts, format: unix, range: {from: 1970-01-01}}\n",
			`events.yaml:3: timestamp.range: unknown key "from" (want min or max)`},
		{"range min without a zone",
			head + "timestamp:\n  column: ts\n  format: unix\n  range: {min: \"1970-01-01T00:00:00\"}\n",
			`events.yaml:6: timestamp.range.min: "1970-01-01T00:00:00" has no zone: add one (Z for UTC, or an offset such as +01:00)`},
		{"range max not a time",
			head + "timestamp:\n  column: ts\n  format: unix\n  range:\n    max: soon\n",
			`events.yaml:7: timestamp.range.max: "soon": want an RFC 3339 time (2024-03-01T12:00:00Z) or a date (2024-03-01)`},
		{"range max before min",
			head + "timestamp:\n  column: ts\n  format: unix\n  range: {min: 2020-01-01, max: 2010-01-01}\n",
			"events.yaml:6: timestamp.range: max (2010-01-01T00:00:00Z) is not after min (2020-01-01T00:00:00Z)"},
		{"range max before the default min",
			head + "timestamp:\n  column: ts\n  format: unix\n  range: {max: 1975-01-01}\n",
			"events.yaml:6: timestamp.range: max (1975-01-01T00:00:00Z) is not after min (1980-01-01T00:00:00Z)"},
		{"range not a mapping",
			head + "timestamp: {column: ts, format: unix, range: 1970}\n",
			"events.yaml:3: timestamp.range: want a mapping"},
		{"range on an int column",
			head + "timestamp: ts\ncolumns:\n  n: {type: int, range: {min: 1970-01-01}}\n",
			"events.yaml:5: columns.n: range is for columns of type timestamp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSpec([]byte(tt.yaml), "events.yaml")
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error\n  %q\nwant it to start with\n  %q", err, tt.want)
			}
		})
	}
}

// TestTimestampRange maps one timestamp value with a mapping's timestamp,
// at a fixed current time, and checks the instant or the exact error.
func TestTimestampRange(t *testing.T) {
	now := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	schema := []string{"u", "ts"}
	tests := []struct {
		name, timestamp string
		tolerance       time.Duration
		value           any // a CSV string, or another row value
		want            time.Time
		reason, err     string
	}{
		{"unix_ns on milliseconds", "{column: ts, format: unix_ns}", 0, "1700000000123", time.Time{}, sink.ReasonBadTimestamp,
			`events.csv:2: timestamp: column "ts": value "1700000000123": as nanoseconds it is 1970-01-01T00:28:20.000000123Z; is it a count of milliseconds? (format unix_ms)`},
		{"unix_us on seconds", "{column: ts, format: unix_us}", 0, "1700000000", time.Time{}, sink.ReasonBadTimestamp,
			`events.csv:2: timestamp: column "ts": value "1700000000": as microseconds it is 1970-01-01T00:28:20Z; is it a count of seconds? (format unix)`},
		{"unix_ms on seconds", "{column: ts, format: unix_ms}", 0, int64(1700000000), time.Time{}, sink.ReasonBadTimestamp,
			`events.csv:2: timestamp: column "ts": value "1700000000": as milliseconds it is 1970-01-20T16:13:20Z; is it a count of seconds? (format unix)`},
		{"unix on nanoseconds", "{column: ts, format: unix}", 0, json.RawMessage(`1700000000123456789`), time.Time{}, sink.ReasonBadTimestamp,
			`events.csv:2: timestamp: column "ts": value "1700000000123456789": out of range (years 1 to 9999); is it a count of nanoseconds? (format unix_ns)`},
		{"unix at the start of the range", "{column: ts, format: unix}", 0, "315532800", time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC), "", ""},
		{"unix before the range", "{column: ts, format: unix}", 0, "315532799.999", time.Time{}, sink.ReasonBadTimestamp,
			`events.csv:2: timestamp: column "ts": value "315532799.999": as seconds it is 1979-12-31T23:59:59.999Z, before the plausible range, which starts at 1980-01-01T00:00:00Z (range: {min: …} moves it)`},
		{"unix_ms after the current time: the future check", "{column: ts, format: unix_ms}", 0, "1748822400001", time.Time{}, ReasonFutureTimestamp,
			`events.csv:2: timestamp: column "ts": value "1748822400001": 2025-06-02T00:00:00.001Z is more than 24h0m0s after the current time 2025-06-01T00:00:00Z`},
		{"a count of microseconds after the range's end names its unit", "{column: ts, format: unix_ms, range: {min: 1970-01-01}}", 0, "1700000000123456", time.Time{}, sink.ReasonBadTimestamp,
			`events.csv:2: timestamp: column "ts": value "1700000000123456": out of range (years 1 to 9999); is it a count of microseconds? (format unix_us)`},
		{"the range's end follows the future tolerance", "{column: ts, format: [unix, unix_ms]}", time.Hour, "1748739601", time.Time{}, sink.ReasonBadTimestamp,
			`events.csv:2: timestamp: column "ts": value "1748739601": none of the formats reads it: "unix": 2025-06-01T01:00:01Z is after the plausible range, which ends at 2025-06-01T01:00:00Z (range: {max: …} moves it); "unix_ms": 1970-01-21T05:45:39.601Z is before the plausible range, which starts at 1980-01-01T00:00:00Z (range: {min: …} moves it)`},
		{"the range's end is inclusive", "{column: ts, format: [unix, unix_ms]}", time.Hour, "1748739600", time.Date(2025, 6, 1, 1, 0, 0, 0, time.UTC), "", ""},
		{"no end with the future check off", "{column: ts, format: [unix, unix_ms]}", -1, "4102444800", time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC), "", ""},
		{"an explicit end", "{column: ts, format: unix, range: {max: 2024-01-01}}", 0, "1704067201", time.Time{}, sink.ReasonBadTimestamp,
			`events.csv:2: timestamp: column "ts": value "1704067201": as seconds it is 2024-01-01T00:00:01Z, after the plausible range, which ends at 2024-01-01T00:00:00Z (range: {max: …} moves it)`},
		{"local_unix before the range", "{column: ts, format: local_unix, timezone: America/New_York}", 0, "0", time.Time{}, sink.ReasonBadTimestamp,
			`events.csv:2: timestamp: column "ts": value "0": as seconds it is 1970-01-01T05:00:00Z, before the plausible range, which starts at 1980-01-01T00:00:00Z (range: {min: …} moves it)`},
		{"local_unix_us on milliseconds", "{column: ts, format: local_unix_us, timezone: America/New_York}", 0, "1700000000123", time.Time{}, sink.ReasonBadTimestamp,
			`events.csv:2: timestamp: column "ts": value "1700000000123": as microseconds it is 1970-01-20T21:13:20.000123Z; is it a count of milliseconds? (format local_unix_ms)`},
		{"local_unix", "{column: ts, format: local_unix, timezone: America/New_York}", 0, "1700000000", time.Date(2023, 11, 15, 3, 13, 20, 0, time.UTC), "", ""},
		{"rfc3339 before the default range is what the data says", "{column: ts, format: rfc3339}", 0, "1970-01-01T00:00:00Z", time.Unix(0, 0), "", ""},
		{"rfc3339 with a range", "{column: ts, format: rfc3339, range: {min: 2000-01-01}}", 0, "1999-12-31T23:59:59Z", time.Time{}, sink.ReasonBadTimestamp,
			`events.csv:2: timestamp: column "ts": value "1999-12-31T23:59:59Z": 1999-12-31T23:59:59Z is before the plausible range, which starts at 2000-01-01T00:00:00Z (range: {min: …} moves it)`},
		{"rfc3339 JSON with a range", "{column: ts, format: rfc3339, range: {min: 2000-01-01}}", 0, json.RawMessage(`"1999-12-31T23:59:59Z"`), time.Time{}, sink.ReasonBadTimestamp,
			`events.csv:2: timestamp: column "ts": value "1999-12-31T23:59:59Z": 1999-12-31T23:59:59Z is before the plausible range, which starts at 2000-01-01T00:00:00Z (range: {min: …} moves it)`},
		{"an instant with an epoch format", "{column: ts, format: unix}", 0, time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), time.Unix(0, 0), "", ""},
		{"a list: milliseconds first", "{column: ts, format: [unix_ms, unix]}", 0, "1700000000123", time.UnixMilli(1700000000123), "", ""},
		{"a list: seconds after milliseconds", "{column: ts, format: [unix_ms, unix]}", 0, "1700000000", time.Unix(1700000000, 0), "", ""},
		{"a list: seconds first", "{column: ts, format: [unix, unix_ms]}", 0, "1700000000123", time.UnixMilli(1700000000123), "", ""},
		{"a list with an instant", "{column: ts, format: [unix, rfc3339]}", 0, time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC), time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC), "", ""},
		{"a list with an instant out of range", "{column: ts, format: [unix, rfc3339]}", 0, time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), time.Time{}, sink.ReasonBadTimestamp,
			`events.csv:2: timestamp: column "ts": value "1970-01-01 00:00:00 +0000 UTC": none of the formats reads it: "unix": 1970-01-01T00:00:00Z is before the plausible range, which starts at 1980-01-01T00:00:00Z (range: {min: …} moves it); "rfc3339": 1970-01-01T00:00:00Z is before the plausible range, which starts at 1980-01-01T00:00:00Z (range: {min: …} moves it)`},
		{"a list of layouts", `{column: ts, format: ["%d/%m/%Y %H:%M", "%Y-%m-%d"], timezone: Europe/Berlin}`, 0, "2023-11-14", time.Date(2023, 11, 13, 23, 0, 0, 0, time.UTC), "", ""},
		{"a list with a wider range", "{column: ts, format: [unix_ms, unix], range: {min: 1960-01-01}}", 0, "1700000000", time.UnixMilli(1700000000), "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := "type: identify\nuserId: u\ntimestamp: " + tt.timestamp + "\n"
			m := mustCompile(t, spec, schema, Options{Now: func() time.Time { return now }, FutureTolerance: tt.tolerance})
			var msg sink.Message
			err := mapInto(m, withValue(csvRow(2, schema, "u1", ""), 1, tt.value), &msg)
			if tt.reason != "" {
				if reasonOf(err) != tt.reason {
					t.Fatalf("error = %v, want reason %s", err, tt.reason)
				}
				if err.Error() != tt.err {
					t.Errorf("error\n  %s\nwant\n  %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Map: %v", err)
			}
			if !msg.Timestamp.Equal(tt.want) {
				t.Errorf("timestamp = %v, want %v", msg.Timestamp, tt.want)
			}
		})
	}
}

// TestDeclaredTimestampRange checks the plausible range of a declared
// timestamp column, on NDJSON rows: an epoch before it is refused, one
// after the current time is kept (a property may lie in the future), and
// a range in the declaration moves it.
func TestDeclaredTimestampRange(t *testing.T) {
	now := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	spec := `
type: identify
userId: u
timestamp: ts
columns:
  seen: {type: timestamp, format: unix_ms}
  born: {type: timestamp, format: [rfc3339, unix], range: {min: 1900-01-01}}
`
	m := mustCompile(t, spec, nil, Options{Now: func() time.Time { return now }})
	tests := []struct {
		name, line, traits, err string
	}{
		{"in range", `{"u":"u1","ts":"2024-03-01T12:00:00Z","seen":1709294400123,"born":-86400}`,
			`{"born":"1969-12-31T00:00:00.000Z","seen":"2024-03-01T12:00:00.123Z"}`, ""},
		{"after the current time", `{"u":"u1","ts":"2024-03-01T12:00:00Z","seen":4102444800000}`,
			`{"seen":"2100-01-01T00:00:00.000Z"}`, ""},
		{"a count of seconds", `{"u":"u1","ts":"2024-03-01T12:00:00Z","seen":1709294400}`, "",
			`events.ndjson:3: traits.seen: column "seen": value "1709294400": declared timestamp: as milliseconds it is 1970-01-20T18:48:14.4Z; is it a count of seconds? (format unix)`},
		{"zero", `{"u":"u1","ts":"2024-03-01T12:00:00Z","seen":0}`, "",
			`events.ndjson:3: traits.seen: column "seen": value "0": declared timestamp: as milliseconds it is 1970-01-01T00:00:00Z, before the plausible range, which starts at 1980-01-01T00:00:00Z (range: {min: …} moves it)`},
		{"before a declared range", `{"u":"u1","ts":"2024-03-01T12:00:00Z","born":"1899-12-31T23:59:59Z"}`, "",
			`events.ndjson:3: traits.born: column "born": value "1899-12-31T23:59:59Z": declared timestamp: none of the formats reads it: "rfc3339": 1899-12-31T23:59:59Z is before the plausible range, which starts at 1900-01-01T00:00:00Z (range: {min: …} moves it); "unix": not a number`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var msg sink.Message
			err := mapInto(m, ndjsonRow(t, 3, tt.line), &msg)
			if tt.err != "" {
				if reasonOf(err) != sink.ReasonInvalidValue || err.Error() != tt.err {
					t.Errorf("error\n  %v (%s)\nwant\n  %s (%s)", err, reasonOf(err), tt.err, sink.ReasonInvalidValue)
				}
				return
			}
			if err != nil {
				t.Fatalf("Map: %v", err)
			}
			if got := jsonText(t, msg.Traits); got != tt.traits {
				t.Errorf("traits = %s, want %s", got, tt.traits)
			}
		})
	}
}

// TestTimestampRangePerCompile compiles one spec at two current times:
// each Mapper's range ends a day after its own, and the spec is unchanged.
func TestTimestampRangePerCompile(t *testing.T) {
	s := mustSpec(t, "type: identify\nuserId: u\ntimestamp: {column: ts, format: [unix, unix_ms]}\n")
	schema := []string{"u", "ts"}
	row := csvRow(2, schema, "u1", "1700000000")
	early := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
	late := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	mEarly, err := s.Compile(schema, Options{Now: func() time.Time { return early }})
	if err != nil {
		t.Fatal(err)
	}
	mLate, err := s.Compile(schema, Options{Now: func() time.Time { return late }})
	if err != nil {
		t.Fatal(err)
	}
	var msg sink.Message
	want := `events.csv:2: timestamp: column "ts": value "1700000000": none of the formats reads it: "unix": 2023-11-14T22:13:20Z is after the plausible range, which ends at 2023-01-02T00:00:00Z (range: {max: …} moves it); "unix_ms": 1970-01-20T16:13:20Z is before the plausible range, which starts at 1980-01-01T00:00:00Z (range: {min: …} moves it)`
	if err := mapInto(mEarly, row, &msg); err == nil || err.Error() != want {
		t.Errorf("mapped at %s: error\n  %v\nwant\n  %s", early, err, want)
	}
	if err := mapInto(mLate, row, &msg); err != nil || !msg.Timestamp.Equal(time.Unix(1700000000, 0)) {
		t.Errorf("mapped at %s: %v, %v; want %v", late, msg.Timestamp, err, time.Unix(1700000000, 0).UTC())
	}
	if s.ts.parser.rng.max != maxTime {
		t.Errorf("the spec's range ends at %v after Compile, want %v", s.ts.parser.rng.max, maxTime)
	}
}

// TestMixpanelLocalTime edits a copy of the mixpanel preset as its
// comments say for a project that exports local wall-clock seconds: with
// local_unix and the timezone the count is read in Los Angeles; with the
// timezone alone the mapping is refused; the preset itself reads UTC.
func TestMixpanelLocalTime(t *testing.T) {
	src, err := PresetSource("mixpanel")
	if err != nil {
		t.Fatal(err)
	}
	const format = "  format: [unix, unix_ms]\n"
	if !strings.Contains(string(src), format) {
		t.Fatalf("the preset has no line %q", format)
	}
	// The line of the timezone added after the format.
	tzLine := strings.Count(string(src[:strings.Index(string(src), format)]), "\n") + 2
	line := `{"event":"Signed up","properties":{"time":1709294400,"distinct_id":"u1"}}`
	for _, tt := range []struct {
		name, replace string
		want          time.Time
		err           string
	}{
		{"as shipped", format, time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC), ""},
		{"local_unix", "  format: local_unix\n  timezone: America/Los_Angeles\n", time.Date(2024, 3, 1, 20, 0, 0, 0, time.UTC), ""},
		{"unix with a timezone", format + "  timezone: America/Los_Angeles\n", time.Time{},
			`timestamp.timezone: timezone: applies to none of the formats ["unix", "unix_ms"] (an epoch counts from an instant, an offset says its own zone): remove it`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseSpec([]byte(strings.Replace(string(src), format, tt.replace, 1)), "mixpanel.yaml")
			if tt.err != "" {
				want := fmt.Sprintf("mixpanel.yaml:%d: %s", tzLine, tt.err)
				if err == nil || err.Error() != want {
					t.Fatalf("error\n  %v\nwant\n  %s", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			m, err := s.Compile(nil, Options{})
			if err != nil {
				t.Fatal(err)
			}
			var msg sink.Message
			if err := mapInto(m, ndjsonRow(t, 1, line), &msg); err != nil {
				t.Fatal(err)
			}
			if !msg.Timestamp.Equal(tt.want) {
				t.Errorf("timestamp = %v, want %v", msg.Timestamp, tt.want)
			}
		})
	}
}

// FuzzTimeFormatList parses any text with a list of formats: a value the
// list reads is within the range and is what the first of its formats
// that reads it within the range gives; one it refuses names each format.
func FuzzTimeFormatList(f *testing.F) {
	for _, seed := range []string{"2023-11-14T22:13:20Z", "1700000000", "1700000000123", "14/11/2023 23:13", "0", "-1e3", "2023-11-14T23:13:20", "4102444800"} {
		f.Add(seed)
	}
	formats := []string{"unix_ms", "unix", "rfc3339", "%d/%m/%Y %H:%M"}
	p, err := newTimeFormats(formats, "Europe/Berlin", defaultTimeRange())
	if err != nil {
		f.Fatal(err)
	}
	p = p.withCeiling(time.Date(2025, 6, 2, 0, 0, 0, 0, time.UTC))
	f.Fuzz(func(t *testing.T, s string) {
		got, err := p.parse(s)
		if err != nil {
			for _, name := range formats {
				if !strings.Contains(err.Error(), fmt.Sprintf("%q: ", name)) {
					t.Fatalf("parse(%q): error %q does not name format %q", s, err, name)
				}
			}
			return
		}
		if p.rng.check(got) != nil {
			t.Fatalf("parse(%q) = %v, outside the range", s, got)
		}
		for _, e := range p.list {
			if t1, err := e.parseOne(s); err == nil && p.rng.check(t1) == nil {
				if !t1.Equal(got) {
					t.Fatalf("parse(%q) = %v, but %q, the first format that reads it, gives %v", s, got, e.format, t1)
				}
				return
			}
		}
		t.Fatalf("parse(%q) = %v, but no format of the list reads it", s, got)
	})
}
