package mappings

import (
	"encoding/json"
	"errors"
	"math/rand"
	"strings"
	"testing"
	"time"
)

func utc(y int, mo time.Month, d, h, mi, s, ns int) time.Time {
	return time.Date(y, mo, d, h, mi, s, ns, time.UTC)
}

func TestTimeFormats(t *testing.T) {
	tests := []struct {
		format, timezone string
		value            any
		want             time.Time
		err              string // a part of the error, if any
	}{
		{"rfc3339", "", "2024-03-01T12:00:00Z", utc(2024, 3, 1, 12, 0, 0, 0), ""},
		{"rfc3339", "", "2024-03-01T12:00:00.123456789-02:30", utc(2024, 3, 1, 14, 30, 0, 123456789), ""},
		{"rfc3339", "", "2024-03-01T12:00:00.1234567891Z", utc(2024, 3, 1, 12, 0, 0, 123456789), ""},
		{"rfc3339", "", json.RawMessage(`"2024-03-01T12:00:00Z"`), utc(2024, 3, 1, 12, 0, 0, 0), ""},
		{"rfc3339", "", json.RawMessage(` "2024-03-01T12:00:00\u005a" `), utc(2024, 3, 1, 12, 0, 0, 0), ""},
		{"rfc3339", "", "0001-01-01T00:00:00Z", utc(1, 1, 1, 0, 0, 0, 0), ""},
		{"rfc3339", "", "9999-12-31T23:59:59.999999999Z", utc(9999, 12, 31, 23, 59, 59, 999999999), ""},
		{"rfc3339", "", "0001-01-01T00:00:00+00:01", time.Time{}, "out of range"},
		{"rfc3339", "", "0000-06-01T00:00:00Z", time.Time{}, "out of range"},
		{"rfc3339", "", "2024-03-01T12:00:00+24:00", time.Time{}, "zone offset out of range"},
		{"rfc3339", "", "2024-03-01T12:00:00+0100", time.Time{}, "not RFC 3339"},
		{"rfc3339", "", "2024-03-01T12:00:00.Z", time.Time{}, "not RFC 3339"},
		{"rfc3339", "", "2024-03-01T24:00:00Z", time.Time{}, "hour out of range"},
		{"rfc3339", "", "2024-03-01T12:60:00Z", time.Time{}, "minute out of range"},
		{"rfc3339", "", "2024-03-01T12:00:00Zjunk", time.Time{}, "not RFC 3339"},
		{"rfc3339", "", "2024-3-01T12:00:00Z", time.Time{}, "not RFC 3339"},
		{"rfc3339", "", "", time.Time{}, "not RFC 3339"},
		{"rfc3339", "", int64(5), time.Time{}, "want an RFC 3339 string"},
		{"rfc3339", "Asia/Kolkata", "2024-03-01T12:00:00", utc(2024, 3, 1, 6, 30, 0, 0), ""},
		{"rfc3339", "", time.Date(2024, 3, 1, 12, 0, 0, 0, time.FixedZone("x", 3600)), utc(2024, 3, 1, 11, 0, 0, 0), ""},
		{"iso8601", "UTC", "2024-03-01", utc(2024, 3, 1, 0, 0, 0, 0), ""},
		{"iso8601", "", "2024-03-01", time.Time{}, "no zone in value and no timezone: in the mapping"},
		{"iso8601", "", "20240301T120000,25+01", utc(2024, 3, 1, 11, 0, 0, 250000000), ""},
		{"iso8601", "", "2024-03-01T12:00:00.5 UTC", utc(2024, 3, 1, 12, 0, 0, 500000000), ""},
		{"iso8601", "", "2024-03-01T12:00:00 UT", time.Time{}, "not ISO 8601"},
		{"iso8601", "", "2024-03-01T12:00+05:45", utc(2024, 3, 1, 6, 15, 0, 0), ""},
		{"iso8601", "", "2024-03-01T12:00:00 + 01:00", time.Time{}, "not ISO 8601"},
		{"iso8601", "", "2024-03-01T12,5Z", time.Time{}, "not ISO 8601"},
		{"iso8601", "", "2024-02-30", time.Time{}, "day out of range"},
		{"iso8601", "UTC", "2000-02-29", utc(2000, 2, 29, 0, 0, 0, 0), ""},
		{"iso8601", "UTC", "1900-02-29", time.Time{}, "day out of range"},
		{"unix", "", "1700000000.000000001", time.Unix(1700000000, 1).UTC(), ""},
		{"unix", "", "1700000000.0000000019", time.Unix(1700000000, 1).UTC(), ""},
		{"unix", "", "17e8", time.Unix(1700000000, 0).UTC(), ""},
		{"unix", "", "1.7000000001e9", time.Unix(1700000000, 100000000).UTC(), ""},
		{"unix", "", "-62135596800", utc(1, 1, 1, 0, 0, 0, 0), ""},
		{"unix", "", "-62135596801", time.Time{}, "out of range"},
		{"unix", "", "1e-3", time.Unix(0, 1000000).UTC(), ""},
		{"unix", "", "1e99", time.Time{}, "out of range"},
		{"unix", "", "", time.Time{}, "not a number"},
		{"unix", "", "Inf", time.Time{}, "not a number"},
		{"unix_ms", "", json.Number("1700000000123"), time.UnixMilli(1700000000123).UTC(), ""},
		{"unix_ms", "", 1700000000123.0, time.UnixMilli(1700000000123).UTC(), ""},
		{"unix_ms", "", json.RawMessage(`true`), time.Time{}, "not a number"},
		{"unix_us", "", int64(1700000000123456), time.UnixMicro(1700000000123456).UTC(), ""},
		{"unix_us", "", "-1", time.UnixMicro(-1).UTC(), ""},
		{"unix_ns", "", "1700000000123456789", time.Unix(0, 1700000000123456789).UTC(), ""},
		{"unix_ns", "", json.RawMessage(`1700000000123456789`), time.Unix(0, 1700000000123456789).UTC(), ""},
		{"unix_ns", "", int64(-9223372036854775808), time.Unix(0, -9223372036854775808).UTC(), ""},
		{"unix_ns", "", "1.7000000001234568e18", time.Unix(0, 1700000000123456800).UTC(), ""},
		{"unix_ms", "", "1700000000", time.Time{}, "is it a count of seconds? (format unix)"},
		{"unix", "", "1700000000123456", time.Time{}, "is it a count of microseconds? (format unix_us)"},
		{"local_unix", "America/Los_Angeles", int64(1709294400), utc(2024, 3, 1, 20, 0, 0, 0), ""},
		{"2006-01-02 15:04:05.000", "Europe/Berlin", "2024-07-01 12:00:00.250", utc(2024, 7, 1, 10, 0, 0, 250000000), ""},
		{"2006-01-02 15:04:05 MST", "", "2024-07-01 12:00:00 UTC", utc(2024, 7, 1, 12, 0, 0, 0), ""},
		{"2006-01-02 15:04:05 MST", "", "2024-07-01 12:00:00 GMT", utc(2024, 7, 1, 12, 0, 0, 0), ""},
		{"2006-01-02 15:04:05 MST", "", "2024-07-01 12:00:00 GMT+3", time.Time{}, `unknown zone abbreviation "GMT+3"`},
		{"2006-01-02 15:04:05 MST", "", "2024-07-01 12:00:00 PDT", time.Time{}, `unknown zone abbreviation "PDT"; set timezone:`},
		{"2006-01-02 15:04:05 MST", "America/Los_Angeles", "2024-07-01 12:00:00 PDT", utc(2024, 7, 1, 19, 0, 0, 0), ""},
		{"2006-01-02 15:04:05 MST", "", "2024-07-01 12:00:00 +03", time.Time{}, "unknown zone abbreviation"},
		{"2006-01-02T15:04:05Z07:00", "", "2024-07-01T12:00:00+02:00", utc(2024, 7, 1, 10, 0, 0, 0), ""},
		{"2006-01-02", "UTC", int64(20240701), time.Time{}, "want a string"},
		{"%Y%m%d%H%M%S", "UTC", "20240701120005", utc(2024, 7, 1, 12, 0, 5, 0), ""},
		{"%Y%m%d%H%M%S", "UTC", "2024071120005", time.Time{}, "does not match"},
		{"%Y-%j", "UTC", "2024-061", utc(2024, 3, 1, 0, 0, 0, 0), ""},
		{"%y-%m-%d", "UTC", "69-01-01", utc(1969, 1, 1, 0, 0, 0, 0), ""},
		{"%y-%m-%d", "UTC", "68-01-01", utc(2068, 1, 1, 0, 0, 0, 0), ""},
		{"%a, %d %b %Y %T", "UTC", "Fri, 01 Mar 2024 12:00:00", utc(2024, 3, 1, 12, 0, 0, 0), ""},
		{"%A %e %B %Y %R", "UTC", "Friday  1 March 2024 12:00", utc(2024, 3, 1, 12, 0, 0, 0), ""},
		{"%F %H:%M:%S,%f", "UTC", "2024-03-01 12:00:00,5", utc(2024, 3, 1, 12, 0, 0, 500000000), ""},
		{"%D %-H:%-M", "UTC", "03/01/24 9:5", utc(2024, 3, 1, 9, 5, 0, 0), ""},
		{"%Y-%m-%d %% %H", "UTC", "2024-03-01 % 12", utc(2024, 3, 1, 12, 0, 0, 0), ""},
		{"%d.%m.%Y %H:%M %z", "", "01.03.2024 12:00 +05:30", utc(2024, 3, 1, 6, 30, 0, 0), ""},
		{"%d.%m.%Y %H:%M %z", "", "01.03.2024 12:00 -0130", utc(2024, 3, 1, 13, 30, 0, 0), ""},
		{"%d.%m.%Y %H:%M %z", "", "01.03.2024 12:00 Z", utc(2024, 3, 1, 12, 0, 0, 0), ""},
	}
	// Values before the default plausible range, read with the range
	// opened to years 1 to 9999: the exactness of the parse, which the
	// range does not change.
	open := map[string]bool{"-62135596800": true, "1e-3": true, "-1": true, "-9223372036854775808": true}
	for _, tt := range tests {
		name := tt.format + " " + tt.timezone + " " + valueText(tt.value)
		t.Run(name, func(t *testing.T) {
			rng := defaultTimeRange()
			if open[valueText(tt.value)] {
				rng.min = minTime
			}
			p, err := newTimeFormats([]string{tt.format}, tt.timezone, rng)
			if err != nil {
				if tt.err != "" && strings.Contains(err.Error(), tt.err) {
					return
				}
				t.Fatalf("newTimeParser: %v", err)
			}
			got, err := p.parse(tt.value)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("parse = %v, %v; want an error containing %q", got, err, tt.err)
				}
				return
			}
			if tt.want.IsZero() {
				// Only checks that the format is accepted.
				if err != nil && !strings.Contains(err.Error(), "does not match") {
					t.Fatal(err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if !got.Equal(tt.want) || got.Location() != time.UTC {
				t.Errorf("parse = %v (%v), want %v in UTC", got, got.Location(), tt.want)
			}
		})
	}
}

func TestTimeFormatErrors(t *testing.T) {
	tests := []struct {
		format, timezone, want string
	}{
		{"iso", "", `unknown format "iso"`},
		{"unix_s", "", `unknown format "unix_s"`},
		{"rfc3339", "Mars/Olympus", `unknown timezone "Mars/Olympus"`},
		{"rfc3339", "Local", `unknown timezone "Local"`},
		{"2006-01-02 15:04", "", `format "2006-01-02 15:04" has no zone, so its times are wall-clock times of some place: say which with timezone:`},
		{"%Y-%m-%d %H:%M", "", "has no zone"},
		{"2006-01-02T15:04:05-0700", "UTC", "carries its own offset"},
		{"%Y-%m-%dT%H:%M:%S%z", "Europe/Berlin", "carries its own offset"},
		{"%Y-%m-%d %U", "UTC", `directive %U is not supported (supported: %Y %y`},
		{"%s", "UTC", "%s (seconds since the epoch) is a format of its own: use format: unix"},
		{"%Y-%m-%d %", "UTC", "ends with a lone %"},
		{"%H:%M", "UTC", "has no year"},
		{"%Y%f", "UTC", `%f must follow a "." or ","`},
		{"%Y-%m-%d %H:%M:%S:%f", "UTC", `%f must follow a "." or ","`},
		{"%Y-%m-%dT1%H", "UTC", `literal "1" cannot be part of a format`},
		{"%Y_%m", "UTC", `literal "_" cannot be part of a format`},
		{"%Y Jan %d", "UTC", `literal text "Jan" cannot be part of a format`},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			_, err := newTimeParser(tt.format, tt.timezone)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("newTimeParser(%q, %q) error = %v, want it to contain %q", tt.format, tt.timezone, err, tt.want)
			}
		})
	}
}

func TestStrftimeLayouts(t *testing.T) {
	tests := []struct {
		format string
		want   []string
		zone   int
	}{
		{"%Y-%m-%d %H:%M:%S", []string{"2006-1-2 15:4:5"}, zoneNone},
		{"%Y%m%d%H%M%S", []string{"20060102150405"}, zoneNone},
		{"%d/%m/%Y %I:%M %p", []string{"2/1/2006 3:4 PM", "2/1/2006 3:4 pm"}, zoneNone},
		{"%Y-%m-%dT%H:%M:%S.%f%z", []string{"2006-1-2T15:4:5.999999999Z0700", "2006-1-2T15:4:5.999999999Z07:00"}, zoneNumeric},
		{"%F %T %Z", []string{"2006-1-2 15:4:5 MST"}, zoneAbbrev},
		{"%Y-%m-%d %H:%M %%", []string{"2006-1-2 15:4 %"}, zoneNone},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			got, zone, err := strftimeLayouts(tt.format)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") || zone != tt.zone {
				t.Errorf("layouts = %q zone %d, want %q zone %d", got, zone, tt.want, tt.zone)
			}
		})
	}
}

// TestLocalInstantDST checks wall-clock times around daylight saving
// transitions: a time the clocks skip is an error, a time they show twice
// is its first occurrence.
func TestLocalInstantDST(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	newYork, _ := time.LoadLocation("America/New_York")
	lordHowe, _ := time.LoadLocation("Australia/Lord_Howe") // moves by 30 minutes
	tests := []struct {
		loc  *time.Location
		wall time.Time // as if UTC
		want time.Time // zero: does not exist
	}{
		{berlin, utc(2024, 3, 31, 1, 59, 59, 0), utc(2024, 3, 31, 0, 59, 59, 0)},
		{berlin, utc(2024, 3, 31, 2, 0, 0, 0), time.Time{}},
		{berlin, utc(2024, 3, 31, 2, 59, 59, 999999999), time.Time{}},
		{berlin, utc(2024, 3, 31, 3, 0, 0, 0), utc(2024, 3, 31, 1, 0, 0, 0)},
		{berlin, utc(2024, 10, 27, 2, 0, 0, 0), utc(2024, 10, 27, 0, 0, 0, 0)},
		{berlin, utc(2024, 10, 27, 2, 59, 59, 0), utc(2024, 10, 27, 0, 59, 59, 0)},
		{berlin, utc(2024, 10, 27, 3, 0, 0, 0), utc(2024, 10, 27, 2, 0, 0, 0)},
		{newYork, utc(2024, 3, 10, 2, 30, 0, 0), time.Time{}},
		{newYork, utc(2024, 3, 10, 3, 0, 0, 0), utc(2024, 3, 10, 7, 0, 0, 0)},
		{newYork, utc(2024, 11, 3, 1, 0, 0, 0), utc(2024, 11, 3, 5, 0, 0, 0)},
		{newYork, utc(2024, 11, 3, 1, 59, 59, 0), utc(2024, 11, 3, 5, 59, 59, 0)},
		{newYork, utc(2024, 11, 3, 2, 0, 0, 0), utc(2024, 11, 3, 7, 0, 0, 0)},
		{lordHowe, utc(2024, 4, 7, 1, 45, 0, 0), utc(2024, 4, 6, 14, 45, 0, 0)},
		{lordHowe, utc(2024, 10, 6, 2, 15, 0, 0), time.Time{}},
		{time.UTC, utc(2024, 3, 31, 2, 30, 0, 0), utc(2024, 3, 31, 2, 30, 0, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.loc.String()+" "+tt.wall.Format("2006-01-02 15:04:05"), func(t *testing.T) {
			w := tt.wall
			got, err := localInstant(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), w.Nanosecond(), tt.loc)
			if tt.want.IsZero() {
				if err == nil || !strings.Contains(err.Error(), "does not exist in "+tt.loc.String()) {
					t.Fatalf("localInstant = %v, %v; want a does-not-exist error", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(tt.want) {
				t.Errorf("localInstant = %v, want %v", got, tt.want)
			}
			if back := got.In(tt.loc); back.Hour() != w.Hour() || back.Minute() != w.Minute() {
				t.Errorf("%v reads %v in %s, not the wall-clock time", got, back, tt.loc)
			}
		})
	}
}

// TestLocalInstantAgreesWithGo checks localInstant against time.Date away
// from transitions, in many zones and years.
func TestLocalInstantAgreesWithGo(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	zones := []string{"Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Adelaide", "Pacific/Chatham", "America/Sao_Paulo", "Africa/Casablanca", "UTC"}
	for i := 0; i < 2000; i++ {
		loc, err := time.LoadLocation(zones[i%len(zones)])
		if err != nil {
			t.Fatal(err)
		}
		want := time.Date(1900+rng.Intn(200), time.Month(1+rng.Intn(12)), 1+rng.Intn(28), rng.Intn(24), rng.Intn(60), rng.Intn(60), rng.Intn(1e9), loc)
		// Skip times near a transition, where the choice differs by design.
		if _, off1 := want.Add(-3 * time.Hour).Zone(); true {
			if _, off2 := want.Add(3 * time.Hour).Zone(); off1 != off2 {
				continue
			}
		}
		got, err := localInstant(want.Year(), want.Month(), want.Day(), want.Hour(), want.Minute(), want.Second(), want.Nanosecond(), loc)
		if err != nil || !got.Equal(want) {
			t.Fatalf("localInstant(%v in %s) = %v, %v", want, loc, got, err)
		}
	}
}

func TestDaysSinceEpoch(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	for i := 0; i < 5000; i++ {
		y, m, d := 1+rng.Intn(9999), 1+rng.Intn(12), 1+rng.Intn(28)
		want := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC).Unix() / 86400
		if time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC).Unix() < 0 && time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC).Unix()%86400 != 0 {
			want--
		}
		if got := daysSinceEpoch(y, m, d); got != want {
			t.Fatalf("daysSinceEpoch(%d, %d, %d) = %d, want %d", y, m, d, got, want)
		}
	}
	for m := time.January; m <= time.December; m++ {
		for _, y := range []int{1900, 2000, 2023, 2024} {
			if got, want := daysIn(m, y), time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day(); got != want {
				t.Errorf("daysIn(%v, %d) = %d, want %d", m, y, got, want)
			}
		}
	}
}

func TestParseTimeBound(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
		err  string
	}{
		{"2024-03-01", utc(2024, 3, 1, 0, 0, 0, 0), ""},
		{" 2024-03-01T12:30:00Z ", utc(2024, 3, 1, 12, 30, 0, 0), ""},
		{"2024-03-01T12:30:00.5+01:00", utc(2024, 3, 1, 11, 30, 0, 500000000), ""},
		{"2024-03-01 12:30:00Z", utc(2024, 3, 1, 12, 30, 0, 0), ""},
		{"2024-03-01T12:30:00", time.Time{}, "has no zone"},
		{"2024-02-30", time.Time{}, "day out of range"},
		{"yesterday", time.Time{}, "want an RFC 3339 time"},
		{"", time.Time{}, "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseTimeBound(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ParseTimeBound = %v, %v; want an error with %q", got, err, tt.err)
				}
				return
			}
			if err != nil || !got.Equal(tt.want) {
				t.Errorf("ParseTimeBound = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestOptionsValidate(t *testing.T) {
	at := utc(2024, 3, 1, 0, 0, 0, 0)
	if err := (Options{Since: at, Until: at.Add(time.Hour)}).Validate(); err != nil {
		t.Errorf("valid window: %v", err)
	}
	if err := (Options{Until: at}).Validate(); err != nil {
		t.Errorf("open start: %v", err)
	}
	for _, o := range []Options{{Since: at, Until: at}, {Since: at, Until: at.Add(-time.Second)}} {
		err := o.Validate()
		if err == nil || !strings.Contains(err.Error(), "the time window is empty") {
			t.Errorf("Validate(%v…%v) = %v", o.Since, o.Until, err)
		}
		if _, cerr := mustSpec(t, "type: identify\nuserId: u\ntimestamp: ts\n").Compile(nil, o); cerr == nil {
			t.Errorf("Compile accepted an empty window")
		}
	}
}

// FuzzParseTime compares the rfc3339 reader with time.Parse: where Go
// reads a time with its zone, so must the reader, to the same instant.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2024-03-01T12:00:00Z", "2024-03-01T12:00:00.5+05:30", "1999-12-31T23:59:59.999999999-00:01", "2024-02-29T00:00:00Z", "2024-13-01T00:00:00Z", "20240301T120000Z", "2024-03-01 12:00 UTC"} {
		f.Add(s)
	}
	rfc, _ := newTimeParser("rfc3339", "")
	iso, _ := newTimeParser("iso8601", "Europe/Berlin")
	layout, _ := newTimeParser("%Y-%m-%d %H:%M:%S.%f %z", "")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := rfc.parse(s)
		if want, gerr := time.Parse(time.RFC3339Nano, s); gerr == nil && want.Year() >= 1 && want.Year() <= 9999 {
			if err != nil || !got.Equal(want) {
				t.Fatalf("rfc3339 %q = %v, %v; time.Parse says %v", s, got, err, want)
			}
		}
		if err == nil {
			if _, ierr := iso.parse(s); ierr != nil {
				t.Fatalf("iso8601 refuses %q that rfc3339 reads: %v", s, ierr)
			}
		}
		for _, p := range []*timeParser{iso, layout} {
			if v, err := p.parse(s); err == nil && (v.Year() < 1 || v.Year() > 9999 || v.Location() != time.UTC) {
				t.Fatalf("%s %q = %v", p.format, s, v)
			}
		}
		for _, exp := range []int{0, 3, 6, 9} {
			if v, err := parseEpoch(s, exp); err == nil && (v.Year() < 1 || v.Year() > 9999) {
				t.Fatalf("epoch %q = %v", s, v)
			} else if err != nil && !errors.Is(err, errTimeRange) && err != errNotNumber {
				t.Fatalf("epoch %q: unexpected error %v", s, err)
			}
		}
	})
}

// TestLocalInstantFarFuture reads wall-clock times around the turn of
// years far beyond the zones' tables of transitions, where the time
// package's zone bounds stop moving on: localInstant must return (it once
// looped forever on 6001-01-01 in Europe/Berlin) and agree with time.Date.
func TestLocalInstantFarFuture(t *testing.T) {
	for _, name := range []string{"Europe/Berlin", "America/New_York", "Australia/Sydney"} {
		loc, err := time.LoadLocation(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, year := range []int{2100, 4000, 6001, 9999} {
			for _, w := range []time.Time{
				time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC),
				time.Date(year, 1, 1, 12, 30, 0, 0, time.UTC),
				time.Date(year-1, 12, 31, 23, 59, 59, 0, time.UTC),
			} {
				t.Run(name+"/"+w.Format("2006-01-02T15:04:05"), func(t *testing.T) {
					got, err := localInstant(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), 0, loc)
					if err != nil {
						t.Fatal(err)
					}
					if want := time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), 0, loc); !got.Equal(want) {
						t.Errorf("localInstant = %v, want %v", got, want.UTC())
					}
				})
			}
		}
	}
}
