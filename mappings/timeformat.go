package mappings

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// timeFormat is one way a source writes timestamps.
type timeFormat struct {
	// naive formats carry no offset; the spec's timezone says where their
	// wall-clock times are. None of the formats so far is naive.
	naive bool
	// parse turns a present value into an instant. loc is the spec's
	// timezone (nil if none); only naive formats use it.
	parse func(v any, loc *time.Location) (time.Time, error)
}

// timeFormats are the formats a spec's timestamp can name.
var timeFormats = map[string]timeFormat{
	"rfc3339": {parse: parseRFC3339},
	"unix":    {parse: func(v any, _ *time.Location) (time.Time, error) { return parseEpoch(v, 0) }},
	"unix_ms": {parse: func(v any, _ *time.Location) (time.Time, error) { return parseEpoch(v, 3) }},
}

// timeFormatNames lists the format names for error messages.
func timeFormatNames() string {
	names := make([]string, 0, len(timeFormats))
	for n := range timeFormats {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// The range of instants a timestamp may have: years 1 to 9999, which RFC
// 3339 can write.
var (
	minTime = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)
)

var errTimeRange = errors.New("out of range (years 1 to 9999)")

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

// parseRFC3339 parses an RFC 3339 timestamp with any offset and any number
// of fractional digits. A space may stand for the "T" between date and time,
// as RFC 3339 allows and databases write.
func parseRFC3339(v any, _ *time.Location) (time.Time, error) {
	if t, ok := v.(time.Time); ok {
		return checkRange(t)
	}
	s, ok := timeText(v)
	if !ok {
		return time.Time{}, errors.New("want an RFC 3339 string")
	}
	s = strings.TrimSpace(s)
	if len(s) > 10 && s[10] == ' ' {
		s = s[:10] + "T" + s[11:]
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, err
	}
	return checkRange(t)
}

// parseEpoch parses a count of seconds (exp10 = 0) or milliseconds
// (exp10 = 3) since the Unix epoch: an integer, a decimal, or a string
// holding one. Decimal text is read exactly, to the nanosecond.
func parseEpoch(v any, exp10 int) (time.Time, error) {
	switch x := v.(type) {
	case time.Time:
		return checkRange(x)
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
		if rawKind(x) == '"' {
			s, err := unquote(x)
			if err != nil {
				return time.Time{}, err
			}
			return epochText(s, exp10)
		}
		switch rawKind(x) {
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
// up to nine fractional digits of the unit. Text with an exponent is read
// as a float.
func epochText(s string, exp10 int) (time.Time, error) {
	s = strings.TrimSpace(s)
	if !isDecimal(s) {
		return time.Time{}, errNotNumber
	}
	if strings.ContainsAny(s, "eE") {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return time.Time{}, errNotNumber
		}
		s = strconv.FormatFloat(f, 'f', -1, 64)
	}
	neg := false
	switch s[0] {
	case '-':
		neg = true
		s = s[1:]
	case '+':
		s = s[1:]
	}
	whole, frac, _ := strings.Cut(s, ".")
	var n int64
	if whole != "" {
		var err error
		n, err = strconv.ParseInt(whole, 10, 64)
		if err != nil {
			return time.Time{}, errTimeRange
		}
	}
	// Nanoseconds in a unit: 1e9 for seconds, 1e6 for milliseconds.
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
	default:
		return time.Time{}, fmt.Errorf("unsupported unit 1e-%d", exp10)
	}
	return checkRange(t.UTC())
}
