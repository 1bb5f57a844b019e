package mappings

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // the zone database, for machines without one

	"github.com/backfillhq/backfill/readers"
)

// Kinds of timestamp format.
const (
	formatRFC3339 = iota
	formatISO8601
	formatEpoch
	formatLayout
	formatList
)

// Zones a layout can hold.
const (
	zoneNone    = iota // a naive layout: wall-clock times without a zone
	zoneNumeric        // an offset such as -07:00
	zoneAbbrev         // an abbreviation such as CET, UTC
)

// epochUnits are the named epoch formats and the power of ten of a second
// their unit is. Each has a local_ form (local_unix, …) that counts
// wall-clock time of the mapping's timezone.
var epochUnits = map[string]int{"unix": 0, "unix_ms": 3, "unix_us": 6, "unix_ns": 9}

// localEpochPrefix makes an epoch format count local wall-clock time.
const localEpochPrefix = "local_"

// formatHelp lists the timestamp formats, for error messages.
const formatHelp = "rfc3339, iso8601, unix, unix_ms, unix_us, unix_ns, a Go layout (containing 2006), a strftime format (containing %), or local_unix, local_unix_ms, local_unix_us, local_unix_ns (counts of local wall-clock time)"

// timeParser reads the values of one timestamp: a format (or a list of
// formats tried in order), the timezone of its wall-clock times and the
// plausible range of its instants. It is made once, when the spec is
// parsed, bound to the current time when the spec is compiled (see
// withCeiling), and is safe for concurrent use.
type timeParser struct {
	kind   int
	format string // as the spec writes it
	exp10  int    // formatEpoch: the unit is 10^-exp10 seconds
	// local says that an epoch format counts wall-clock time in loc
	// (local_unix, …), not time since 1970-01-01T00:00:00Z.
	local bool
	// formatLayout: the Go layouts to try in turn, and their zone.
	layouts []string
	zone    int
	// loc is the spec's timezone, nil if it gives none. For rfc3339 and
	// iso8601 it is the zone of values that carry none; for a naive layout
	// the zone of every value; for a local epoch format it is whose
	// wall-clock the count is of; for a layout with an abbreviation it is
	// where abbreviations are looked up. Epoch formats ignore it.
	loc *time.Location
	// list holds the formats of a formatList, tried in order.
	list []*timeParser
	// inList says that the parser is a format of a list: its errors need
	// not repeat the format, which the list names.
	inList bool
	// rng is the plausible range of the instants read.
	rng timeRange
}

// newTimeParser checks a format and a timezone (empty for none) and
// returns their parser, with the default plausible range. Its errors are
// sentences for the spec's author.
func newTimeParser(format, timezone string) (*timeParser, error) {
	return newTimeFormats([]string{format}, timezone, defaultTimeRange())
}

// newTimeFormats checks formats (one, or a list tried in order), a
// timezone (empty for none) and a plausible range and returns their
// parser.
func newTimeFormats(formats []string, timezone string, rng timeRange) (*timeParser, error) {
	var loc *time.Location
	if timezone != "" {
		l, err := time.LoadLocation(timezone)
		if err != nil || timezone == "Local" {
			return nil, fmt.Errorf("unknown timezone %q (want an IANA name such as Europe/Berlin, or UTC)", timezone)
		}
		loc = l
	}
	if len(formats) == 1 {
		p, err := newFormat(formats[0], loc, false)
		if err != nil {
			return nil, err
		}
		p.rng = rng
		return p, nil
	}
	return newFormatList(formats, loc, rng)
}

// newFormat makes the parser of one format. In a list (inList), a
// timezone that this format has no use for is no error: another format
// of the list uses it.
func newFormat(format string, loc *time.Location, inList bool) (*timeParser, error) {
	p := &timeParser{format: format, loc: loc, inList: inList}
	name, local := strings.CutPrefix(format, localEpochPrefix)
	switch {
	case format == "rfc3339":
		p.kind = formatRFC3339
	case format == "iso8601":
		p.kind = formatISO8601
	case strings.HasPrefix(name, "unix"):
		exp, ok := epochUnits[name]
		if !ok {
			return nil, fmt.Errorf("unknown format %q (want one of %s)", format, formatHelp)
		}
		p.kind, p.exp10, p.local = formatEpoch, exp, local
		switch {
		case local && loc == nil:
			return nil, fmt.Errorf("format %s counts wall-clock %s of some place: say which with timezone: (an IANA name such as America/New_York, or UTC)", format, unitName(exp))
		case !local && loc != nil && !inList:
			return nil, fmt.Errorf("format %s counts %s since 1970-01-01T00:00:00Z, an instant, which timezone: cannot shift: remove timezone:, or use format: %s%s if the counts are of wall-clock time in %s", format, unitName(exp), localEpochPrefix, format, loc)
		case !local:
			p.loc = nil
		}
	case strings.Contains(format, "%"):
		layouts, zone, err := strftimeLayouts(format)
		if err != nil {
			return nil, err
		}
		p.kind, p.layouts, p.zone = formatLayout, layouts, zone
	case strings.Contains(format, "2006"):
		p.kind, p.layouts, p.zone = formatLayout, []string{format}, layoutZone(format)
		if err := checkLayout(format, format); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unknown format %q (want one of %s)", format, formatHelp)
	}
	if p.kind == formatLayout {
		switch {
		case p.zone == zoneNone && p.loc == nil:
			return nil, fmt.Errorf("format %q has no zone, so its times are wall-clock times of some place: say which with timezone: (an IANA name such as Europe/Berlin, or UTC)", format)
		case p.zone == zoneNumeric && p.loc != nil && !inList:
			return nil, fmt.Errorf("format %q carries its own offset; timezone: applies only to times without one", format)
		case p.zone == zoneNumeric:
			p.loc = nil
		}
	}
	return p, nil
}

// usesZone reports whether a format reads any value in its timezone.
func (p *timeParser) usesZone() bool {
	return p.loc != nil
}

// parse reads a present value, and refuses an instant outside the
// plausible range where the range applies (see timeRange).
func (p *timeParser) parse(v any) (time.Time, error) {
	switch p.kind {
	case formatList:
		return p.parseList(v)
	case formatEpoch:
		if _, ok := v.(time.Time); ok {
			break
		}
		var (
			t   time.Time
			err error
		)
		if p.local {
			t, err = p.epochAt(v, p.exp10)
		} else {
			t, err = parseEpoch(v, p.exp10)
		}
		if err != nil {
			if errors.Is(err, errTimeRange) {
				return time.Time{}, p.rangeHint(v, err)
			}
			return time.Time{}, err
		}
		if !p.rng.contains(t) {
			return p.implausibleEpoch(v, t)
		}
		return t, nil
	}
	t, err := p.parseOne(v)
	if err != nil || !p.rng.set {
		return t, err
	}
	return t, p.rng.check(t)
}

// parseOne reads a present value in the parser's one format, without
// judging whether its instant is plausible.
func (p *timeParser) parseOne(v any) (time.Time, error) {
	if t, ok := v.(time.Time); ok {
		// An instant already (a Parquet timestamp).
		return checkRange(t.UTC())
	}
	switch p.kind {
	case formatRFC3339, formatISO8601:
		return p.parseISO(v)
	case formatEpoch:
		return p.epochAt(v, p.exp10)
	default:
		return p.parseLayout(v)
	}
}

// epochAt reads a count of 10^-exp10 seconds: since the epoch, or, for a
// local format, of wall-clock time in loc.
func (p *timeParser) epochAt(v any, exp10 int) (time.Time, error) {
	t, err := parseEpoch(v, exp10)
	if err != nil || !p.local {
		return t, err
	}
	return localInstant(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), p.loc)
}

// implausibleEpoch returns the error of an epoch value whose instant t is
// outside the plausible range, naming the unit it would fit; or t itself
// when it is only later than a range end the mapping does not set, which
// the future check of the message timestamp judges (as for any format).
func (p *timeParser) implausibleEpoch(v any, t time.Time) (time.Time, error) {
	if exp, ok := p.fittingUnit(v); ok {
		return time.Time{}, fmt.Errorf("as %s it is %s; is it a count of %s? (format %s)",
			unitName(p.exp10), t.Format(time.RFC3339Nano), unitName(exp), p.epochFormat(exp))
	}
	if t.After(p.rng.max) && !p.rng.maxSet {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("as %s it is %s, %s", unitName(p.exp10), t.Format(time.RFC3339Nano), p.rng.outside(t))
}

// fittingUnit returns the unit, other than the parser's, in which the
// epoch value v is within the plausible range, the nearest first. A range
// the mapping widens to before defaultRangeStart does not widen the
// hint: near 1970, a count in a finer unit than its own would fit it.
func (p *timeParser) fittingUnit(v any) (int, bool) {
	lo := p.rng.min
	if lo.Before(defaultRangeStart) {
		lo = defaultRangeStart
	}
	for _, d := range []int{3, -3, 6, -6, 9, -9} {
		exp := p.exp10 + d
		if exp < 0 || exp > 9 {
			continue
		}
		if t, err := p.epochAt(v, exp); err == nil && !t.Before(lo) && !t.After(p.rng.max) {
			return exp, true
		}
	}
	return 0, false
}

// epochFormat names the epoch format of a unit, local if the parser's is.
func (p *timeParser) epochFormat(exp10 int) string {
	prefix := ""
	if p.local {
		prefix = localEpochPrefix
	}
	for name, x := range epochUnits {
		if x == exp10 {
			return prefix + name
		}
	}
	return ""
}

// rangeHint adds to an epoch that is out of range the unit it would fit.
func (p *timeParser) rangeHint(v any, err error) error {
	if exp, ok := p.fittingUnit(v); ok {
		return fmt.Errorf("%w; is it a count of %s? (format %s)", err, unitName(exp), p.epochFormat(exp))
	}
	return err
}

func unitName(exp10 int) string {
	switch exp10 {
	case 3:
		return "milliseconds"
	case 6:
		return "microseconds"
	case 9:
		return "nanoseconds"
	}
	return "seconds"
}

// ErrNoZone is wrapped by the error of a timestamp that carries no zone
// when the mapping gives no timezone: to read it in.
var ErrNoZone = errors.New("no zone in value and no timezone: in the mapping")

var (
	errWantString  = errors.New("want a string")
	errWantRFCText = errors.New("want an RFC 3339 string")
	errWantISOText = errors.New("want an ISO 8601 string")
	errTimeRange   = errors.New("out of range (years 1 to 9999)")
	errNotRFC3339  = errors.New("not RFC 3339 (want 2006-01-02T15:04:05Z07:00, with any fraction)")
	errNotISO8601  = errors.New("not ISO 8601 (want 2006-01-02, 2006-01-02T15:04, 2006-01-02 15:04:05.000Z07:00, 20060102T150405Z…)")
)

// The range of instants a timestamp may have: years 1 to 9999, which RFC
// 3339 can write.
var (
	minTime = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)
)

func checkRange(t time.Time) (time.Time, error) {
	if t.Before(minTime) || t.After(maxTime) {
		return time.Time{}, errTimeRange
	}
	return t, nil
}

// timeText returns the text of a string value (a Go string or a JSON string).
func timeText(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.RawMessage:
		if rawKind(x) == '"' {
			s, err := unquote(x)
			return s, err == nil
		}
	}
	return "", false
}

// parseISO reads an rfc3339 or iso8601 value. A JSON string without
// escapes is read in place.
func (p *timeParser) parseISO(v any) (time.Time, error) {
	switch x := v.(type) {
	case string:
		return p.isoText(x)
	case json.RawMessage:
		return p.isoRaw(x)
	}
	if p.kind == formatRFC3339 {
		return time.Time{}, errWantRFCText
	}
	return time.Time{}, errWantISOText
}

// isoText parses an ISO 8601 or RFC 3339 string.
func (p *timeParser) isoText(s string) (time.Time, error) {
	ts, err := scanISO(s, p.kind == formatRFC3339)
	if err != nil {
		return time.Time{}, err
	}
	return ts.instant(p.loc)
}

// isoRaw parses a JSON string holding an ISO 8601 or RFC 3339 time.
func (p *timeParser) isoRaw(x json.RawMessage) (time.Time, error) {
	rfc := p.kind == formatRFC3339
	var (
		ts  isoTime
		err error
	)
	raw := trimSpace(x)
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' && !containsByte(raw, '\\') {
		ts, err = scanISO(raw[1:len(raw)-1], rfc)
	} else if s, ok := timeText(x); ok {
		ts, err = scanISO(s, rfc)
	} else if rfc {
		err = errWantRFCText
	} else {
		err = errWantISOText
	}
	if err != nil {
		return time.Time{}, err
	}
	return ts.instant(p.loc)
}

// parseAt parses column i of row when the row holds it unboxed, as text
// or JSON text, and the format is ISO 8601 or RFC 3339, without boxing it as
// parse would. It reports false, leaving the value to parse, for any
// other value and format, and for an absent or blank one.
func (p *timeParser) parseAt(row *readers.Row, i int) (time.Time, bool, error) {
	if p.kind != formatRFC3339 && p.kind != formatISO8601 {
		return time.Time{}, false, nil
	}
	if s, ok := row.Text(i); ok {
		if strings.TrimSpace(s) == "" {
			return time.Time{}, false, nil
		}
		t, err := p.isoText(s)
		if err == nil && p.rng.set {
			err = p.rng.check(t)
		}
		return t, true, err
	}
	if x, ok := row.RawJSON(i); ok {
		if rawNull(x) || blankRaw(x) {
			return time.Time{}, false, nil
		}
		t, err := p.isoRaw(x)
		if err == nil && p.rng.set {
			err = p.rng.check(t)
		}
		return t, true, err
	}
	return time.Time{}, false, nil
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && isBlank(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isBlank(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func containsByte(b []byte, c byte) bool {
	for _, x := range b {
		if x == c {
			return true
		}
	}
	return false
}

// isoTime is a scanned rfc3339 or iso8601 value.
type isoTime struct {
	year, month, day, hour, min, sec, nsec int
	hasZone                                bool
	offset                                 int // seconds east of UTC
}

// scanISO scans a timestamp. With rfc set it takes RFC 3339: a date, "T",
// "t" or a space, a time with seconds, an optional fraction after a dot,
// and "Z", "z", ±hh:mm or no zone at all. Otherwise it takes these forms
// of ISO 8601:
//
//	2024-03-01                       date only (midnight)
//	2024-03-01T12:00                 minutes
//	2024-03-01T12:00:00.123456       seconds, fraction after "." or ","
//	20240301, 20240301T1200, 20240301T120000.5   the basic forms
//
// with "T", "t" or a space between date and time, and an optional zone:
// "Z", "z", ±hh, ±hhmm, ±hh:mm (optionally after one space) or "UTC"
// (optionally after one space). Date and time are both basic or both
// extended. Surrounding blanks are ignored.
func scanISO[T string | []byte](s T, rfc bool) (isoTime, error) {
	var t isoTime
	bad := errNotISO8601
	if rfc {
		bad = errNotRFC3339
	}
	i, n := 0, len(s)
	for i < n && isBlank(s[i]) {
		i++
	}
	for n > i && isBlank(s[n-1]) {
		n--
	}
	// The common form, 2006-01-02T15:04:05, is read at fixed places.
	if n-i >= 19 && s[i+4] == '-' && s[i+7] == '-' && s[i+13] == ':' && s[i+16] == ':' {
		if c := s[i+10]; c != 'T' && c != 't' && c != ' ' {
			return t, bad
		}
		y1, y2 := digits2(s, i), digits2(s, i+2)
		t.month, t.day = digits2(s, i+5), digits2(s, i+8)
		t.hour, t.min, t.sec = digits2(s, i+11), digits2(s, i+14), digits2(s, i+17)
		if y1 < 0 || y2 < 0 || t.month < 0 || t.day < 0 || t.hour < 0 || t.min < 0 || t.sec < 0 {
			return t, bad
		}
		t.year = y1*100 + y2
		return t, scanTail(s, i+19, n, rfc, true, &t, bad)
	}
	var ok bool
	if t.year, ok = fixedNum(s, i, n, 4); !ok {
		return t, bad
	}
	i += 4
	extended := i < n && s[i] == '-'
	if extended {
		i++
	} else if rfc {
		return t, bad
	}
	if t.month, ok = fixedNum(s, i, n, 2); !ok {
		return t, bad
	}
	i += 2
	if extended {
		if i >= n || s[i] != '-' {
			return t, bad
		}
		i++
	}
	if t.day, ok = fixedNum(s, i, n, 2); !ok {
		return t, bad
	}
	i += 2
	if i == n {
		if rfc {
			return t, bad
		}
		return t, t.check()
	}
	if c := s[i]; c != 'T' && c != 't' && c != ' ' {
		return t, bad
	}
	i++
	if t.hour, ok = fixedNum(s, i, n, 2); !ok {
		return t, bad
	}
	i += 2
	if extended {
		if i >= n || s[i] != ':' {
			return t, bad
		}
		i++
	}
	if t.min, ok = fixedNum(s, i, n, 2); !ok {
		return t, bad
	}
	i += 2
	hasSec := false
	if extended {
		if i < n && s[i] == ':' {
			if t.sec, ok = fixedNum(s, i+1, n, 2); !ok {
				return t, bad
			}
			i += 3
			hasSec = true
		}
	} else if t.sec, ok = fixedNum(s, i, n, 2); ok {
		i += 2
		hasSec = true
	}
	if rfc && !hasSec {
		return t, bad
	}
	return t, scanTail(s, i, n, rfc, hasSec, &t, bad)
}

// scanTail scans what follows the time of day: a fraction (after
// seconds), a zone, and nothing else.
func scanTail[T string | []byte](s T, i, n int, rfc, hasSec bool, t *isoTime, bad error) error {
	if hasSec && i < n && (s[i] == '.' || (!rfc && s[i] == ',')) {
		i++
		start := i
		for i < n && isDigitAt(s, i) {
			if k := i - start; k < 9 {
				t.nsec = t.nsec*10 + int(s[i]-'0')
			}
			i++
		}
		digits := i - start
		if digits == 0 {
			return bad
		}
		for k := digits; k < 9; k++ {
			t.nsec *= 10
		}
	}
	if i < n && !rfc && s[i] == ' ' && i+1 < n && (s[i+1] == '+' || s[i+1] == '-' || s[i+1] == 'U') {
		i++
	}
	if i < n {
		switch c := s[i]; {
		case c == 'Z' || c == 'z':
			i++
			t.hasZone = true
		case !rfc && c == 'U':
			if n-i < 3 || s[i+1] != 'T' || s[i+2] != 'C' {
				return bad
			}
			i += 3
			t.hasZone = true
		case c == '+' || c == '-':
			hh, ok := fixedNum(s, i+1, n, 2)
			if !ok {
				return bad
			}
			i += 3
			mm := 0
			switch {
			case i < n && s[i] == ':':
				if mm, ok = fixedNum(s, i+1, n, 2); !ok {
					return bad
				}
				i += 3
			case rfc:
				return bad
			case i < n:
				if mm, ok = fixedNum(s, i, n, 2); !ok {
					return bad
				}
				i += 2
			}
			if hh > 23 || mm > 59 {
				return errOffsetRange
			}
			t.offset = hh*3600 + mm*60
			if c == '-' {
				t.offset = -t.offset
			}
			t.hasZone = true
		default:
			return bad
		}
	}
	if i != n {
		return bad
	}
	return t.check()
}

var errOffsetRange = errors.New("zone offset out of range")

// digits2 returns the two-digit number at s[i:], or -1.
func digits2[T string | []byte](s T, i int) int {
	a, b := s[i]-'0', s[i+1]-'0'
	if a > 9 || b > 9 {
		return -1
	}
	return int(a)*10 + int(b)
}

// fixedNum reads width decimal digits at s[i:], within s[:n].
func fixedNum[T string | []byte](s T, i, n, width int) (int, bool) {
	if i+width > n {
		return 0, false
	}
	v := 0
	for k := i; k < i+width; k++ {
		c := s[k]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

func isDigitAt[T string | []byte](s T, i int) bool { return s[i] >= '0' && s[i] <= '9' }

// check refuses fields out of range, as time.Parse does.
func (t *isoTime) check() error {
	switch {
	case t.month < 1 || t.month > 12:
		return errors.New("month out of range")
	case t.day < 1 || t.day > daysIn(time.Month(t.month), t.year):
		return errors.New("day out of range")
	case t.hour > 23:
		return errors.New("hour out of range")
	case t.min > 59:
		return errors.New("minute out of range")
	case t.sec > 59:
		return errors.New("second out of range")
	}
	return nil
}

// daysIn returns the number of days of a month (1 to 12).
func daysIn(m time.Month, year int) int {
	if m == time.February {
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	}
	return int(daysBefore[m] - daysBefore[m-1])
}

// daysBefore[m] counts the days before month m+1 in a year that is not a
// leap year.
var daysBefore = [...]int32{0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365}

// instant returns the instant a scanned value stands for: by its own zone,
// else in loc, else not at all.
func (t *isoTime) instant(loc *time.Location) (time.Time, error) {
	if t.hasZone {
		sec := daysSinceEpoch(t.year, t.month, t.day)*86400 +
			int64(t.hour*3600+t.min*60+t.sec-t.offset)
		if sec < minUnix || sec > maxUnix {
			return time.Time{}, errTimeRange
		}
		return time.Unix(sec, int64(t.nsec)).UTC(), nil
	}
	if loc == nil {
		return time.Time{}, ErrNoZone
	}
	return localInstant(t.year, time.Month(t.month), t.day, t.hour, t.min, t.sec, t.nsec, loc)
}

// The range of Unix seconds that timestamps may have: years 1 to 9999.
const (
	minUnix = -62135596800 // 0001-01-01T00:00:00Z
	maxUnix = 253402300799 // 9999-12-31T23:59:59Z
)

// daysSinceEpoch returns the number of days from 1970-01-01 to the given
// date of the proleptic Gregorian calendar (negative before it).
func daysSinceEpoch(year, month, day int) int64 {
	y := int64(year)
	if month <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	m := int64(month)
	if m > 2 {
		m -= 3
	} else {
		m += 9
	}
	doy := (153*m+2)/5 + int64(day) - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// maxZoneOffset bounds the offsets of real zones, with room to spare.
const maxZoneOffset = 18 * 3600

// localInstant returns the instant at which the clocks of loc read the
// given wall-clock time. A time the clocks skip (the gap when they spring
// forward) does not exist and is an error; a time they show twice (when
// they fall back) is its first occurrence, the earlier instant.
func localInstant(year int, month time.Month, day, hour, min, sec, nsec int, loc *time.Location) (time.Time, error) {
	if loc == time.UTC {
		return checkRange(time.Date(year, month, day, hour, min, sec, nsec, time.UTC))
	}
	wall := time.Date(year, month, day, hour, min, sec, 0, time.UTC).Unix()
	var (
		best  int64
		found bool
	)
	// Walk the zone periods that an instant with this wall-clock time
	// could fall in, keeping the instants whose period has the offset
	// that makes its clocks read wall.
	t := time.Unix(wall-maxZoneOffset, 0).In(loc)
	for {
		_, off := t.Zone()
		start, end := t.ZoneBounds()
		u := wall - int64(off)
		if (start.IsZero() || u >= start.Unix()) && (end.IsZero() || u < end.Unix()) {
			if !found || u < best {
				best, found = u, true
			}
		}
		if end.IsZero() || end.Unix() > wall+maxZoneOffset {
			break
		}
		if end.Unix() <= t.Unix() {
			// The bounds do not move on, as the time package reports
			// them around the turn of some years far beyond the zone's
			// table of transitions: take its own reading of the time.
			if !found {
				return checkRange(time.Date(year, month, day, hour, min, sec, nsec, loc).UTC())
			}
			break
		}
		t = end
	}
	if !found {
		return time.Time{}, fmt.Errorf("%04d-%02d-%02d %02d:%02d:%02d does not exist in %s (the clocks skip it)",
			year, int(month), day, hour, min, sec, loc)
	}
	return checkRange(time.Unix(best, int64(nsec)).UTC())
}

// parseLayout reads a value with the format's Go layouts.
func (p *timeParser) parseLayout(v any) (time.Time, error) {
	s, ok := timeText(v)
	if !ok {
		return time.Time{}, errWantString
	}
	s = strings.TrimSpace(s)
	var first error
	for _, layout := range p.layouts {
		t, err := p.parseWith(layout, s)
		if err == nil {
			return t, nil
		}
		if first == nil {
			first = err
		}
	}
	return time.Time{}, first
}

func (p *timeParser) parseWith(layout, s string) (time.Time, error) {
	switch p.zone {
	case zoneNone:
		t, err := time.Parse(layout, s)
		if err != nil {
			return time.Time{}, p.layoutError(err)
		}
		return localInstant(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), p.loc)
	case zoneNumeric:
		t, err := time.Parse(layout, s)
		if err != nil {
			return time.Time{}, p.layoutError(err)
		}
		return checkRange(t.UTC())
	}
	loc := p.loc
	if loc == nil {
		loc = time.UTC
	}
	t, err := time.ParseInLocation(layout, s, loc)
	if err != nil {
		return time.Time{}, p.layoutError(err)
	}
	// time.Parse reads an abbreviation that is neither UTC nor one of
	// loc's as if it were UTC (even GMT+3): refuse it rather than guess.
	if name, off := t.Zone(); t.Location() != loc && t.Location() != time.UTC && (name != "GMT" || off != 0) {
		where := "; set timezone: to the zone it belongs to"
		if p.loc != nil {
			where = " in " + p.loc.String()
		}
		return time.Time{}, fmt.Errorf("unknown zone abbreviation %q%s", name, where)
	}
	return checkRange(t.UTC())
}

// layoutError rewords a time.Parse error in terms of the spec's format.
func (p *timeParser) layoutError(err error) error {
	format := fmt.Sprintf(" format %q", p.format)
	if p.inList {
		format = ""
	}
	var pe *time.ParseError
	if errors.As(err, &pe) && pe.Message != "" {
		return fmt.Errorf("does not match%s%s", format, pe.Message)
	}
	return fmt.Errorf("does not match%s", format)
}

// layoutZone says what zone a Go layout holds.
func layoutZone(layout string) int {
	switch {
	case strings.Contains(layout, "Z07") || strings.Contains(layout, "-07"):
		return zoneNumeric
	case strings.Contains(layout, "MST"):
		return zoneAbbrev
	}
	return zoneNone
}

// checkLayout makes sure a layout reads back what it writes, which it
// cannot when two of its elements run together.
func checkLayout(layout, format string) error {
	ref := time.Date(2009, 11, 17, 20, 34, 58, 651387237, time.UTC)
	t, err := time.Parse(layout, ref.Format(layout))
	if err != nil {
		return fmt.Errorf("format %q cannot read the times it describes: %v", format, err)
	}
	y, m, d := t.Date()
	if y != 2009 || (m != 11 && m != 1) || (d != 17 && d != 1) {
		return fmt.Errorf("format %q cannot read the times it describes (its elements run together)", format)
	}
	return nil
}

// parseEpoch parses a count of units since the Unix epoch, the unit being
// 10^-exp10 seconds: an integer, a decimal, or a string holding one.
// Decimal text is read exactly, to the nanosecond; a float64 value is only
// as exact as the float.
func parseEpoch(v any, exp10 int) (time.Time, error) {
	switch x := v.(type) {
	case time.Time:
		return checkRange(x.UTC())
	case int64:
		return epochInt(x, 0, exp10)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return time.Time{}, errNotNumber
		}
		return epochText(strconv.FormatFloat(x, 'f', -1, 64), exp10)
	case json.Number:
		return epochText(string(x), exp10)
	case json.RawMessage:
		switch rawKind(x) {
		case '"':
			s, err := unquote(x)
			if err != nil {
				return time.Time{}, err
			}
			return epochText(s, exp10)
		case 't', 'f', '{', '[':
			return time.Time{}, errNotNumber
		}
		return epochText(string(x), exp10)
	case string:
		return epochText(x, exp10)
	}
	return time.Time{}, errNotNumber
}

// epochText parses decimal text exactly: the integer part as an int64 and
// the fraction to the nanosecond (further digits are dropped). An exponent
// moves the decimal point, exactly too.
func epochText(s string, exp10 int) (time.Time, error) {
	s = strings.TrimSpace(s)
	if !isDecimal(s) {
		return time.Time{}, errNotNumber
	}
	neg := false
	switch s[0] {
	case '-':
		neg = true
		s = s[1:]
	case '+':
		s = s[1:]
	}
	whole, frac := s, ""
	if e := strings.IndexAny(s, "eE"); e >= 0 {
		exp, err := strconv.Atoi(s[e+1:])
		if err != nil || exp > 40 || exp < -40 {
			return time.Time{}, errTimeRange
		}
		whole, frac = shiftPoint(s[:e], exp)
	} else {
		whole, frac, _ = strings.Cut(s, ".")
	}
	var n int64
	if whole = strings.TrimLeft(whole, "0"); whole != "" {
		var err error
		if n, err = strconv.ParseInt(whole, 10, 64); err != nil {
			return time.Time{}, errTimeRange
		}
	}
	// Nanoseconds in a unit: 1e9 for seconds, 1e6 for milliseconds, …
	unitDigits := 9 - exp10
	var nanos int64
	for i := 0; i < unitDigits; i++ {
		nanos *= 10
		if i < len(frac) {
			nanos += int64(frac[i] - '0')
		}
	}
	if neg {
		n, nanos = -n, -nanos
	}
	return epochInt(n, nanos, exp10)
}

// shiftPoint moves the decimal point of the digits in m (which may hold
// one ".") by exp places and returns the whole and fractional digits.
func shiftPoint(m string, exp int) (whole, frac string) {
	w, f, _ := strings.Cut(m, ".")
	digits := w + f
	point := len(w) + exp
	switch {
	case point <= 0:
		return "", strings.Repeat("0", -point) + digits
	case point >= len(digits):
		return digits + strings.Repeat("0", point-len(digits)), ""
	}
	return digits[:point], digits[point:]
}

// epochInt returns the instant n units (plus nanos nanoseconds) after the
// epoch, refusing instants out of range before they can overflow.
func epochInt(n, nanos int64, exp10 int) (time.Time, error) {
	const (
		minSec = -62135596800 // 0001-01-01T00:00:00Z
		maxSec = 253402300799 // 9999-12-31T23:59:59Z
	)
	var t time.Time
	switch exp10 {
	case 0:
		if n < minSec || n > maxSec {
			return time.Time{}, errTimeRange
		}
		t = time.Unix(n, nanos)
	case 3:
		if n < minSec*1000 || n > maxSec*1000+999 {
			return time.Time{}, errTimeRange
		}
		t = time.Unix(n/1000, (n%1000)*1e6+nanos)
	case 6:
		if n < minSec*1e6 || n > maxSec*1e6+999999 {
			return time.Time{}, errTimeRange
		}
		t = time.Unix(n/1e6, (n%1e6)*1e3+nanos)
	case 9:
		// Every int64 count of nanoseconds is within years 1677 to 2262.
		t = time.Unix(n/1e9, n%1e9+nanos)
	default:
		return time.Time{}, fmt.Errorf("unsupported unit 1e-%d", exp10)
	}
	return checkRange(t.UTC())
}
