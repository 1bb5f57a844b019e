package mappings

import (
	"fmt"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// defaultRangeStart is where the plausible range of a timestamp starts
// unless the mapping moves it: no event data of this kind is older, and a
// count read in too fine a unit lands in 1970.
var defaultRangeStart = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

// timeRange is the plausible range of the instants of one timestamp,
// bounds included. Unless the mapping says otherwise it runs from
// defaultRangeStart to the future tolerance after the current time (a
// day), a bound that Compile sets (see withCeiling).
//
// An epoch value outside it is refused, naming the unit in which it would
// be inside, if there is one; a value of a format list must be inside it
// for a format to read it. A value of any other single format is checked
// only against a range the mapping sets. A single format's value later
// than a default end is not refused here: the message timestamp's future
// check refuses it as future_timestamp, and a declared column keeps it.
type timeRange struct {
	min, max time.Time
	// set says that the mapping gives the range: it applies to every
	// format.
	set bool
	// maxSet says that the mapping gives its end.
	maxSet bool
}

// defaultTimeRange returns the range of a mapping that sets none, before
// Compile bounds it with the current time.
func defaultTimeRange() timeRange {
	return timeRange{min: defaultRangeStart, max: maxTime}
}

// contains reports whether t is within the range.
func (r *timeRange) contains(t time.Time) bool {
	return !t.Before(r.min) && !t.After(r.max)
}

// check returns an error for an instant outside the range, else nil.
func (r *timeRange) check(t time.Time) error {
	if !r.contains(t) {
		return fmt.Errorf("%s is %s", t.Format(time.RFC3339Nano), r.outside(t))
	}
	return nil
}

// outside says on which side of the range t is.
func (r *timeRange) outside(t time.Time) string {
	if t.Before(r.min) {
		return fmt.Sprintf("before the plausible range, which starts at %s (range: {min: …} moves it)", r.min.Format(time.RFC3339Nano))
	}
	return fmt.Sprintf("after the plausible range, which ends at %s (range: {max: …} moves it)", r.max.Format(time.RFC3339Nano))
}

// withCeiling returns the parser with its range ending at ceil, unless
// the mapping sets the end or ceil is zero (no future check).
func (p *timeParser) withCeiling(ceil time.Time) *timeParser {
	if p == nil || p.rng.maxSet || ceil.IsZero() {
		return p
	}
	q := *p
	q.rng.max = ceil
	return &q
}

// withTimeCeiling returns a copy of the spec whose timestamp parsers (the
// message timestamp's and the declared columns') have ranges ending at
// ceil where the mapping sets no end.
func (s *Spec) withTimeCeiling(ceil time.Time) *Spec {
	if ceil.IsZero() {
		return s
	}
	c := *s
	c.ts.parser = s.ts.parser.withCeiling(ceil)
	if s.columns != nil {
		c.columns = make(map[string]colDecl, len(s.columns))
		for name, d := range s.columns {
			d.ts = d.ts.withCeiling(ceil)
			c.columns[name] = d
		}
	}
	return &c
}

// timeCeiling returns the default end of the plausible range for a
// Mapper with the window w: the instant after which its future check
// refuses a timestamp, or zero if the check is off.
func timeCeiling(w *window) time.Time {
	if !w.checkFuture {
		return time.Time{}
	}
	return w.future
}

// newFormatList makes the parser of a list of formats, tried in order.
func newFormatList(formats []string, loc *time.Location, rng timeRange) (*timeParser, error) {
	p := &timeParser{kind: formatList, loc: loc, rng: rng}
	names := make([]string, len(formats))
	usesZone := false
	for i, f := range formats {
		for _, g := range formats[:i] {
			if g == f {
				return nil, fmt.Errorf("format %q is in the list twice", f)
			}
		}
		e, err := newFormat(f, loc, true)
		if err != nil {
			return nil, err
		}
		usesZone = usesZone || e.usesZone()
		p.list = append(p.list, e)
		names[i] = fmt.Sprintf("%q", f)
	}
	p.format = "[" + strings.Join(names, ", ") + "]"
	if loc != nil && !usesZone {
		return nil, fmt.Errorf("timezone: applies to none of the formats %s (an epoch counts from an instant, an offset says its own zone): remove it", p.format)
	}
	return p, nil
}

// parseList reads a value with the first format of the list that reads
// it as an instant within the plausible range.
func (p *timeParser) parseList(v any) (time.Time, error) {
	for _, e := range p.list {
		if t, err := e.parseOne(v); err == nil && p.rng.contains(t) {
			return t, nil
		}
	}
	return time.Time{}, p.listError(v)
}

// listError returns the error of a value that no format of the list
// reads, with each format's reason. It reads the value again: a value
// that a later format reads pays for no message.
func (p *timeParser) listError(v any) error {
	causes := make([]string, len(p.list))
	for i, e := range p.list {
		t, err := e.parseOne(v)
		if err == nil {
			err = p.rng.check(t)
		}
		causes[i] = fmt.Sprintf("%q: %v", e.format, err)
	}
	return fmt.Errorf("none of the formats reads it: %s", strings.Join(causes, "; "))
}

// timeFormats reads the format of a timestamp: one format, or a list of
// formats tried in order.
func (p *specParser) timeFormats(n *yaml.Node, path string) ([]string, error) {
	if n.Kind != yaml.SequenceNode {
		f, err := p.scalar(n, path)
		return []string{f}, err
	}
	if len(n.Content) == 0 {
		return nil, p.errorf(n, path, "want a format, or a list of at least one")
	}
	formats := make([]string, len(n.Content))
	for i, e := range n.Content {
		f, err := p.scalar(resolve(e), fmt.Sprintf("%s[%d]", path, i))
		if err != nil {
			return nil, err
		}
		formats[i] = f
	}
	return formats, nil
}

// timeRange reads the plausible range of a timestamp: {min: …, max: …},
// each an RFC 3339 time with its zone or a date (midnight UTC).
func (p *specParser) timeRange(n *yaml.Node, path string) (timeRange, error) {
	rng := defaultTimeRange()
	rng.set = true
	ms, err := p.members(n, path)
	if err != nil {
		return rng, err
	}
	for _, m := range ms {
		k, v := m[0], resolve(m[1])
		at := path + "." + k.Value
		if k.Value != "min" && k.Value != "max" {
			return rng, p.errorf(k, path, "unknown key %q (want min or max)", k.Value)
		}
		val, err := p.scalar(v, at)
		if err != nil {
			return rng, err
		}
		t, err := ParseTimeBound(val)
		if err != nil {
			return rng, p.errorf(v, at, "%v", err)
		}
		if k.Value == "min" {
			rng.min = t
		} else {
			rng.max, rng.maxSet = t, true
		}
	}
	if !rng.max.After(rng.min) {
		return rng, p.errorf(n, path, "max (%s) is not after min (%s)",
			rng.max.Format(time.RFC3339Nano), rng.min.Format(time.RFC3339Nano))
	}
	return rng, nil
}
