package mappings

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Spec is a parsed mapping spec: how the columns of a source become the
// fields of Segment messages. It is made by ParseSpec or LoadSpec and turned
// into a Mapper for one schema by Compile. A Spec is not modified after
// parsing and is safe for concurrent use.
//
// The spec is YAML. Every key is optional but type, timestamp and one of
// userId or anonymousId:
//
//	type: track                  # a constant message type, or from a column:
//	# type: {column: kind, values: {click: track, signup: identify}, default: track}
//	messageId: event_id          # a column; default (or when empty): derived from the content
//	# messageId: {column: event_id, derive: position, namespace: trial}   # see idSpec
//	userId: user_id              # userId and/or anonymousId are required
//	anonymousId: {column: [device_id, cookie_id]}   # the first of these with a value
//	event: "{{action}} {{object}}"                  # a template joining columns
//	name: {value: Home}          # a constant; also category, groupId, previousId
//	timestamp:                   # required; a plain string is a column in rfc3339
//	  column: ts                 # or a list: the first with a value
//	  format: "%Y-%m-%d %H:%M:%S"   # or a list, tried in order: [rfc3339, unix]
//	  timezone: Europe/Berlin    # an IANA name, or UTC
//	  range: {min: 1990-01-01, max: 2030-01-01}   # default: 1980-01-01 to a day from now
//	  missing: reject            # reject (default) | now
//	columns:                     # declared types: string | int | float | bool | json | timestamp | bytes
//	  amount: float
//	  signup_at: {type: timestamp, format: unix}
//	properties:                  # also traits, context, integrations
//	  include: [plan, amount]    # exactly these columns
//	  exclude: [internal_note]   # never these, wherever the remaining columns go
//	  rename: {amount: order.revenue}   # another key; dots build nested objects
//	  values: {source: legacy, "os.name": iOS}   # constants (any YAML value)
//	  from: payload              # take the members of this object column
//	drop:                        # rows to filter: a rule's name and its condition
//	  merges: 'event == "$merge"'
//	# passthrough: true          # alone (or with drop): the rows are Segment messages already
//
// Expressions (see expr.go). The type ({expr: …}, with an optional
// default), any text field ({expr: …}), a member of values ({expr: …})
// an object's from (see objectfrom.go) and each drop rule may be an
// expression of github.com/expr-lang/expr
// over the row's columns, compiled when the spec is parsed; a syntax
// error names the file, the line and the column. A row a drop rule
// matches is filtered (FilterError, which is ErrFiltered); a row for which
// an expression fails is a reject (ReasonExpression). The clock and the
// built-ins that iterate a map in random order are not available. A text
// with "{{" in values is a template.
//
// Several messages (see messages.go). A list under messages: makes, of
// each row, one message per entry whose when: holds, each mapped by the
// top-level keys and the entry's own.
//
// Patterns (see patterns.go). A name with *, ? or [ in include, exclude or
// a key of rename is a glob standing for the columns it matches; against
// a header, one that matches none is an error of Compile.
//
// Columns. Wherever the spec names a column (ids, event, type, timestamp,
// templates, columns:, include, exclude, rename, from) it may name a path
// into a column holding an object: "user.address.city". A column whose
// whole name is the path wins (a CSV column literally named "user.address.city");
// else the longest leading part of the path that is a column, and the
// rest is looked up inside its value, one member per dot (a decimal step
// indexes an array). Values looked into are JSON objects (NDJSON), maps
// (Parquet), or strings holding JSON text (a CSV cell, or a JSON string).
// A path that leads nowhere in a row gives no value. With a schema (CSV,
// Parquet), every column the spec names must be in it, checked by
// Compile before any row is read; NDJSON rows are looked up by name, and
// a PathObserver shown the first rows says which named columns occur in
// none of them. A column listed under optional ("optional: [coupon,
// payload.referrer]") may occur in no row: it is sparse on purpose. It
// must be named elsewhere in the spec.
//
// Fields. A string is a column, or a template if it contains "{{"; {column: c}
// names a column whose name contains "{{"; {column: [a, b]} takes the first
// of the columns with a value; {value: text} is a constant (not for
// messageId). Ids and other text fields take strings or numbers (as their
// decimal text); empty means no value. A template with a column that has
// no value in a row gives the field no value, never half a text.
//
// Type. With a type from a column, a value found in values is mapped; with
// default, every other value (and a missing one) gets the default type;
// without default, a value that is already a message type passes and any
// other is a reject (invalid_type). With a constant type, fields and
// objects the type does not have (event on identify, properties on
// identify, …) are errors, and so are missing ones it needs (event for
// track, groupId for group, userId and previousId for alias). With a type
// from a column they are set only on the messages whose type has them.
//
// Timestamps. Formats:
//   - rfc3339: 2006-01-02T15:04:05Z07:00 with any fraction; "t" or a
//     space may stand for the "T".
//   - iso8601: rfc3339 and also a date alone (midnight), minutes without
//     seconds, a "," before the fraction, the basic forms (20060102,
//     20060102T150405Z), zones ±hh and ±hhmm, "UTC", and one space before
//     the zone. Not week or ordinal dates.
//   - unix, unix_ms, unix_us, unix_ns: a count of seconds, milliseconds,
//     microseconds or nanoseconds since 1970-01-01T00:00:00Z, as a number
//     or a numeric string, integer or decimal (an exponent is allowed),
//     read exactly to the nanosecond. An instant: with timezone, ParseSpec
//     fails.
//   - local_unix, local_unix_ms, local_unix_us, local_unix_ns: the same
//     counts of the wall-clock time of timezone (as some exports write),
//     which they require.
//   - a Go layout (any format containing "2006"), such as
//     "02/01/2006 15:04".
//   - a strftime format (any format containing "%"): %Y %y %m %d %e %j %H
//     %I %M %S %f (a fraction, after "." or ","), %p, %b %h %B %a %A
//     (English names), %z (±hhmm, ±hh:mm or Z), %Z (UTC, GMT or an
//     abbreviation of the timezone), %T %F %D %R and %%. Numbers may come
//     without their leading zero where a separator follows; %-d and the
//     like are read as %d. Other directives are errors.
//
// A value of rfc3339 or iso8601 without a zone is read in timezone; without
// timezone it is a reject (bad_timestamp) — never a guess of UTC. A Go or
// strftime format without a zone needs timezone, or ParseSpec fails. A
// wall-clock time the
// timezone's clocks skip (when they spring forward) is a reject; one they
// show twice (when they fall back) is its first occurrence, the earlier
// instant. Years 1 to 9999. Output keeps millisecond precision in UTC.
//
// With a list of formats, each value is read by the first format that
// reads it as an instant within the plausible range; a value none reads
// is a reject naming each. The timezone applies to the formats whose
// values carry no zone. The plausible range (range: min and max, each a
// date or an RFC 3339 time with its zone) is by default from 1980-01-01
// to Options.FutureTolerance after Options.Now (a day). An epoch value
// outside it is a reject (bad_timestamp) that names the unit in which it
// would be inside, if there is one; one later than a default end is left
// to the future check. A value of any other single format is checked
// only against a range the spec gives. Declared timestamp columns take
// format lists and ranges too.
// "missing: now" stamps a row without a value with Options.Now; a value
// that does not parse is rejected all the same.
//
// Declared types convert CSV strings (int exact to 64 bits; float; bool:
// true/false/1/0/yes/no in any case; json: parsed and compacted;
// timestamp: parsed with its format and timezone, as with timestamp:, and
// written as RFC 3339 in UTC with milliseconds) and JSON values (numbers
// keep their exact text; a JSON string declared json is parsed). bytes is
// sent as standard base64 (RFC 4648, with padding): a Parquet byte array
// as it is (readers.Options.Bytes, see BytesColumns: not checked for
// UTF-8), a CSV field or a JSON string as its UTF-8 bytes, untrimmed; a
// Parquet list, struct or map column declared bytes keeps its JSON, with
// its byte arrays in base64; numbers and bools are an error. Blank
// values of a declared type other than string and bytes are absent. An empty CSV
// cell reaches the mapping as no value at all, unless the reader is told
// that no cell means null (then it is the string ""). Null and absent
// values are left out of objects.
//
// Objects. An object with include holds exactly those columns (each under
// its name, dots and all, unless renamed). An object with nothing but
// rename and values holds just those. Any other object present (with
// exclude, from, or nothing) takes the remaining columns: those not used
// by a field, a template, the timestamp, an include or a rename, and not
// excluded by any object. Only one object may take the row's remaining
// columns; if none does, the message type's default object takes them
// (properties for track, page and screen, traits for identify and group,
// none for alias) unless the spec gives that object an include list or a
// from. With from, the object takes the remaining members of that object
// column instead: members used elsewhere in the spec (by their path,
// "payload.user_id") or excluded are left out; rename and exclude name
// them by path too. Keys the spec writes (rename targets and values) nest
// on dots ("order.revenue" is {"order": {"revenue": …}}); keys under one
// parent merge, and a key that is both a value and a parent is an error.
// A remaining column whose name is a key the object sets explicitly (or
// the first part of one) collides with it, since one of the two values
// would be lost: Compile refuses it against a schema, and for rows
// without one Map rejects a row where the column has a value
// (ReasonKeyCollision).
//
// Errors name the spec and the line: "events.yaml:7: userId: …". Unknown
// keys are errors.
type Spec struct {
	name        string
	source      []byte
	passthrough bool
	ids         idSpec
	typ         typeSpec
	fields      [numFields]textSpec
	ts          timestampSpec
	columns     map[string]colDecl
	objects     [numObjects]*objectSpec
	// remaining is the object that takes the row's remaining columns by
	// the spec's word (present without include, from or being explicit
	// only), or -1.
	remaining int
	// uses lists every column the spec names, for Compile to check
	// against a schema.
	uses []columnUse
	// optional holds the columns listed under optional:, with their
	// lines: they may occur in no row (see paths_check.go).
	optional map[string]int
	// drops are the drop rules, in the spec's order.
	drops []dropRule
	// messages are the entries of messages: (see messages.go), nil for
	// a spec of one message per row. uses then lists the columns of
	// the drop rules and conditions (the first ownUses) and those of
	// every entry's spec.
	messages []*messageEntry
	ownUses  int
}

// Name returns the name the spec was parsed under (its file name, or
// "preset:NAME").
func (s *Spec) Name() string { return s.name }

// Fingerprint identifies the spec's text: the hex SHA-256 of the bytes it
// was parsed from. A checkpoint records it so that a run is not resumed
// with another mapping.
func (s *Spec) Fingerprint() string {
	sum := sha256.Sum256(s.source)
	return hex.EncodeToString(sum[:])
}

// Passthrough reports whether the spec says `passthrough: true`: its
// Mapper is Passthrough.
func (s *Spec) Passthrough() bool { return s.passthrough }

// columnUse is one place where the spec names a column.
type columnUse struct {
	column string
	line   int
	path   string // the spec key, such as "userId" or "properties.include"
}

// colDecl is a declared column type.
type colDecl struct {
	typ  colType
	ts   *timeParser // typeTimestamp
	line int
}

// The string fields of a message that a spec can map, in a fixed order.
const (
	fieldMessageID = iota
	fieldUserID
	fieldAnonymousID
	fieldEvent
	fieldName
	fieldCategory
	fieldGroupID
	fieldPreviousID
	numFields
)

var fieldNames = [numFields]string{
	"messageId", "userId", "anonymousId", "event", "name", "category", "groupId", "previousId",
}

// fieldTypes lists the message types a field belongs to; nil means all.
var fieldTypes = [numFields][]string{
	fieldEvent:      {"track"},
	fieldName:       {"page", "screen"},
	fieldCategory:   {"page"},
	fieldGroupID:    {"group"},
	fieldPreviousID: {"alias"},
}

// requiredFields lists, per message type, the fields it cannot do without
// (besides a userId or an anonymousId).
var requiredFields = map[string][]int{
	"track": {fieldEvent},
	"group": {fieldGroupID},
	"alias": {fieldUserID, fieldPreviousID},
}

// The objects of a message that a spec can fill, in a fixed order.
const (
	objProperties = iota
	objTraits
	objContext
	objIntegrations
	numObjects
)

var objectNames = [numObjects]string{"properties", "traits", "context", "integrations"}

// objectTypes lists the message types an object belongs to; nil means all.
var objectTypes = [numObjects][]string{
	objProperties: {"track", "page", "screen"},
	objTraits:     {"identify", "group"},
}

// defaultObject is, per message type (in messageTypes order), the object
// that takes the remaining columns when the spec does not say: properties
// for track, page and screen, traits for identify and group, none for alias.
var defaultObject = [len(messageTypes)]int{
	objTraits, objProperties, objProperties, objProperties, objTraits, -1,
}

func belongs(types []string, typ string) bool {
	if types == nil {
		return true
	}
	for _, t := range types {
		if t == typ {
			return true
		}
	}
	return false
}

// typeSpec is the message type: a constant, or a column with a value map.
type typeSpec struct {
	line     int
	expr     *exprSpec
	constant string
	column   string
	values   map[string]string
	deflt    string
}

// Kinds of textSpec.
const (
	textUnset = iota
	textColumn
	textConst
	textTemplate
	textExpr
)

// textSpec is a string field: columns (the first with a value wins), a
// constant or a template.
type textSpec struct {
	kind    int
	line    int
	columns []string
	value   string
	parts   []templatePart
	expr    *exprSpec
}

// templatePart is literal text, or a column when column is not empty.
type templatePart struct {
	text   string
	column string
}

// timestampSpec says where the timestamp comes from.
type timestampSpec struct {
	line       int
	columns    []string
	format     string
	parser     *timeParser
	missingNow bool
}

// objectSpec fills one object of the message.
type objectSpec struct {
	line       int
	hasInclude bool
	include    []string
	exclude    []string
	rename     map[string]string
	renamed    []string // the keys of rename, in the spec's order
	values     []constMember
	from       string
	// fromExpr, instead of from, computes per row the object whose
	// members the object takes (see objectfrom.go).
	fromExpr *exprSpec
	// includeGlobs, excludeGlobs and renameGlobs are the patterns among
	// the names of include, exclude and rename (see patterns.go).
	includeGlobs, excludeGlobs, renameGlobs []globPattern
	// keys are the output keys the object sets explicitly, and the
	// leading parts of dotted ones, with who sets each.
	keys map[string]keyOwner
}

// takesRest reports whether the object takes remaining columns (of the
// row, or of its from column) by the spec's word.
func (o *objectSpec) takesRest() bool {
	return !o.hasInclude && !o.explicitOnly()
}

// explicitOnly reports whether the object has nothing but renames and
// constant values. Such an object holds just those, and the remaining
// columns too when it is the message type's default object and no other
// object takes them.
func (o *objectSpec) explicitOnly() bool {
	return !o.hasInclude && o.from == "" && o.fromExpr == nil && len(o.exclude) == 0 && len(o.excludeGlobs) == 0 && len(o.renameGlobs) == 0 &&
		(len(o.values) > 0 || len(o.rename) > 0)
}

// constMember is a constant member of an object, as JSON.
type constMember struct {
	key   string   // as written
	path  []string // key split on dots
	value json.RawMessage
	expr  *exprSpec // a computed value instead of value
	tmpl  *textSpec // a template instead of value
}

// LoadSpec reads and parses the mapping spec in the file at path, or the
// preset NAME for "preset:NAME" (see Presets). Errors name the file by its
// base name (or the preset) and the line.
func LoadSpec(path string) (*Spec, error) {
	if name, ok := strings.CutPrefix(path, presetPrefix); ok {
		data, err := presetData(name)
		if err != nil {
			return nil, err
		}
		return ParseSpec(data, path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read mapping: %w", err)
	}
	return ParseSpec(data, filepath.Base(path))
}

// ParseSpec parses a mapping spec. name is used in errors, which read
// "events.yaml:7: userId: …". Unknown keys, unknown types, formats and
// timezones, naive formats without a timezone, fields that the constant
// message type does not have, clashing output keys, and two objects both
// taking the remaining columns are errors.
func ParseSpec(data []byte, name string) (*Spec, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p := &specParser{spec: &Spec{name: name, remaining: -1, source: append([]byte(nil), data...)}}
	if err := p.parse(&doc); err != nil {
		return nil, err
	}
	if err := p.checkOptional(); err != nil {
		return nil, err
	}
	return p.spec, nil
}

type specParser struct {
	spec *Spec
}

// errorf returns an error naming the spec, the node's line and the key path.
func (p *specParser) errorf(n *yaml.Node, path, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	return fmt.Errorf("%s:%d: %s", p.spec.name, n.Line, msg)
}

func (p *specParser) use(n *yaml.Node, path, column string) {
	p.spec.uses = append(p.spec.uses, columnUse{column: column, line: n.Line, path: path})
}

// members returns the key and value nodes of a mapping, refusing
// duplicate keys and non-scalar keys.
func (p *specParser) members(n *yaml.Node, path string) ([][2]*yaml.Node, error) {
	if n.Kind != yaml.MappingNode {
		return nil, p.errorf(n, path, "want a mapping, not %s", nodeKind(n))
	}
	out := make([][2]*yaml.Node, 0, len(n.Content)/2)
	seen := make(map[string]bool, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, p.errorf(k, path, "keys must be plain strings")
		}
		if seen[k.Value] {
			return nil, p.errorf(k, path, "key %q appears twice", k.Value)
		}
		seen[k.Value] = true
		out = append(out, [2]*yaml.Node{k, v})
	}
	return out, nil
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "null"
		}
		return fmt.Sprintf("%q", n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "nothing"
}

// resolve follows YAML aliases.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// scalar returns the text of a scalar that is not null.
func (p *specParser) scalar(n *yaml.Node, path string) (string, error) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return "", p.errorf(n, path, "want a string, not %s", nodeKind(n))
	}
	return n.Value, nil
}

// column returns a column name: a non-empty scalar.
func (p *specParser) column(n *yaml.Node, path string) (string, error) {
	c, err := p.scalar(n, path)
	if err != nil {
		return "", err
	}
	if c == "" {
		return "", p.errorf(n, path, "want a column name, not an empty string")
	}
	if err := checkPath(c); err != nil {
		return "", p.errorf(n, path, "column %q: %v", c, err)
	}
	return c, nil
}

// checkPath refuses a column path with an empty step ("a..b", ".a", "a.").
func checkPath(c string) error {
	if c == "." || strings.HasPrefix(c, ".") || strings.HasSuffix(c, ".") || strings.Contains(c, "..") {
		return errors.New("a path cannot have an empty step")
	}
	return nil
}

func (p *specParser) parse(doc *yaml.Node) error {
	s := p.spec
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return fmt.Errorf("%s: the mapping is empty", s.name)
	}
	root := resolve(doc.Content[0])
	ms, err := p.members(root, "")
	if err != nil {
		return err
	}
	if hasKey(ms, "messages") {
		return p.parseMessages(ms)
	}
	var tsNode, typeNode, passNode *yaml.Node
	var other *yaml.Node
	for _, m := range ms {
		k, v := m[0], resolve(m[1])
		key := k.Value
		if key != "passthrough" && key != "drop" && other == nil && !(key == "messageId" && deriveOnly(v)) {
			other = k
		}
		switch key {
		case "passthrough":
			passNode = k
			if v.Kind != yaml.ScalarNode || (v.Value != "true" && v.Value != "false") {
				return p.errorf(v, "passthrough", "want true or false, not %s", nodeKind(v))
			}
			s.passthrough = v.Value == "true"
		case "type":
			typeNode = k
			if err := p.parseType(v); err != nil {
				return err
			}
		case "timestamp":
			tsNode = k
			if err := p.parseTimestamp(v); err != nil {
				return err
			}
		case "columns":
			if err := p.parseColumns(v); err != nil {
				return err
			}
		case "optional":
			if err := p.parseOptional(v); err != nil {
				return err
			}
		case "drop":
			if err := p.parseDrop(v); err != nil {
				return err
			}
		default:
			if f := indexOf(fieldNames[:], key); f >= 0 {
				if f == fieldMessageID {
					if err := p.parseMessageID(v); err != nil {
						return err
					}
					continue
				}
				if err := p.parseText(v, f); err != nil {
					return err
				}
				continue
			}
			if o := indexOf(objectNames[:], key); o >= 0 {
				if err := p.parseObject(v, o); err != nil {
					return err
				}
				continue
			}
			return p.errorf(k, "", "unknown key %q (want passthrough, type, timestamp, columns, optional, drop, messages, %s or %s)",
				key, strings.Join(fieldNames[:], ", "), strings.Join(objectNames[:], ", "))
		}
	}
	if s.passthrough {
		if other != nil {
			return p.errorf(other, "", "%q cannot go with passthrough: true, which takes the rows as Segment messages as they are", other.Value)
		}
		return nil
	}
	if passNode != nil && other == nil {
		return p.errorf(passNode, "passthrough", "false, and nothing else: the mapping needs type, timestamp and an id")
	}
	if typeNode == nil {
		return p.errorf(root, "type", "required (a message type, or {column: …})")
	}
	if tsNode == nil {
		return p.errorf(root, "timestamp", "required (a column, or {column: …, format: …})")
	}
	if s.fields[fieldUserID].kind == textUnset && s.fields[fieldAnonymousID].kind == textUnset {
		return p.errorf(root, "userId", "userId or anonymousId is required")
	}
	if s.typ.constant != "" {
		for f := range s.fields {
			if s.fields[f].kind != textUnset && !belongs(fieldTypes[f], s.typ.constant) {
				return fmt.Errorf("%s:%d: %s: %s messages have no %s", s.name, s.fields[f].line, fieldNames[f], s.typ.constant, fieldNames[f])
			}
		}
		for _, f := range requiredFields[s.typ.constant] {
			if s.fields[f].kind == textUnset {
				return p.errorf(root, fieldNames[f], "required for %s messages", s.typ.constant)
			}
		}
		for o, obj := range s.objects {
			if obj != nil && !belongs(objectTypes[o], s.typ.constant) {
				return fmt.Errorf("%s:%d: %s: %s messages have no %s", s.name, obj.line, objectNames[o], s.typ.constant, objectNames[o])
			}
		}
	}
	for o, obj := range s.objects {
		if obj == nil || !obj.takesRest() || obj.fromExpr != nil {
			continue
		}
		if obj.from != "" {
			for o2 := 0; o2 < o; o2++ {
				if prev := s.objects[o2]; prev != nil && prev.from == obj.from && prev.takesRest() {
					return fmt.Errorf("%s:%d: %s: takes the members of %q, and so does %s (line %d)",
						s.name, obj.line, objectNames[o], obj.from, objectNames[o2], prev.line)
				}
			}
			continue
		}
		if s.remaining >= 0 {
			first := s.objects[s.remaining]
			return fmt.Errorf("%s:%d: %s: takes the remaining columns, and so does %s (line %d); give one of them an include list",
				s.name, obj.line, objectNames[o], objectNames[s.remaining], first.line)
		}
		s.remaining = o
	}
	for _, name := range s.ts.columns {
		if d, ok := s.columns[name]; ok && d.typ == typeTimestamp {
			return fmt.Errorf("%s:%d: columns.%s: the timestamp column is read by timestamp:, with its format there; declare it a timestamp only as another column", s.name, d.line, name)
		}
	}
	return nil
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

func (p *specParser) parseType(n *yaml.Node) error {
	s := p.spec
	s.typ.line = n.Line
	if n.Kind == yaml.ScalarNode {
		t, err := p.scalar(n, "type")
		if err != nil {
			return err
		}
		if typeIndex(t) < 0 {
			return p.errorf(n, "type", "%v", unknownTypeError(t))
		}
		s.typ.constant = t
		return nil
	}
	ms, err := p.members(n, "type")
	if err != nil {
		return err
	}
	for _, m := range ms {
		k, v := m[0], resolve(m[1])
		switch k.Value {
		case "column":
			c, err := p.column(v, "type.column")
			if err != nil {
				return err
			}
			s.typ.column = c
			p.use(v, "type.column", c)
		case "expr":
			e, err := p.parseExpr(v, "type.expr")
			if err != nil {
				return err
			}
			s.typ.expr = e
		case "values":
			vs, err := p.members(v, "type.values")
			if err != nil {
				return err
			}
			s.typ.values = make(map[string]string, len(vs))
			for _, kv := range vs {
				t, err := p.scalar(resolve(kv[1]), "type.values."+kv[0].Value)
				if err != nil {
					return err
				}
				if typeIndex(t) < 0 {
					return p.errorf(kv[1], "type.values."+kv[0].Value, "%v", unknownTypeError(t))
				}
				s.typ.values[kv[0].Value] = t
			}
		case "default":
			t, err := p.scalar(v, "type.default")
			if err != nil {
				return err
			}
			if typeIndex(t) < 0 {
				return p.errorf(v, "type.default", "%v", unknownTypeError(t))
			}
			s.typ.deflt = t
		default:
			return p.errorf(k, "type", "unknown key %q (want column, expr, values or default)", k.Value)
		}
	}
	if s.typ.expr != nil {
		if s.typ.column != "" {
			return p.errorf(n, "type", "column and expr: use one or the other")
		}
		if s.typ.values != nil {
			return p.errorf(n, "type", "values maps a column's values; an expr gives the type itself")
		}
		return nil
	}
	if s.typ.column == "" {
		return p.errorf(n, "type", "column or expr is required")
	}
	return nil
}

// columnList parses a column name or a list of them (the first with a
// value wins).
func (p *specParser) columnChoice(n *yaml.Node, path, usePath string) ([]string, error) {
	if n.Kind == yaml.SequenceNode {
		if len(n.Content) == 0 {
			return nil, p.errorf(n, path, "want at least one column")
		}
		out := make([]string, 0, len(n.Content))
		for _, c := range n.Content {
			c = resolve(c)
			name, err := p.column(c, path)
			if err != nil {
				return nil, err
			}
			if indexOf(out, name) >= 0 {
				return nil, p.errorf(c, path, "column %q is listed twice", name)
			}
			out = append(out, name)
			p.use(c, usePath, name)
		}
		return out, nil
	}
	c, err := p.column(n, path)
	if err != nil {
		return nil, err
	}
	p.use(n, usePath, c)
	return []string{c}, nil
}

func (p *specParser) parseText(n *yaml.Node, f int) error {
	path := fieldNames[f]
	t := &p.spec.fields[f]
	t.line = n.Line
	if n.Kind == yaml.ScalarNode {
		v, err := p.scalar(n, path)
		if err != nil {
			return err
		}
		if strings.Contains(v, "{{") {
			return p.parseTemplate(n, path, v, t)
		}
		c, err := p.column(n, path)
		if err != nil {
			return err
		}
		t.kind, t.columns = textColumn, []string{c}
		p.use(n, path, c)
		return nil
	}
	ms, err := p.members(n, path)
	if err != nil {
		return err
	}
	ms, optional, err := p.optionalMember(ms, path)
	if err != nil {
		return err
	}
	if len(ms) != 1 {
		return p.errorf(n, path, "want one of column, value or expr (and optional: true with a column)")
	}
	k, v := ms[0][0], resolve(ms[0][1])
	if optional != nil && k.Value != "column" {
		return p.errorf(optional, path+".optional", "only a column can be optional")
	}
	switch k.Value {
	case "expr":
		e, err := p.parseExpr(v, path)
		if err != nil {
			return err
		}
		t.kind, t.expr = textExpr, e
	case "column":
		cols, err := p.columnChoice(v, path+".column", path)
		if err != nil {
			return err
		}
		t.kind, t.columns = textColumn, cols
		if optional != nil {
			p.markOptional(cols, optional.Line)
		}
	case "value":
		c, err := p.scalar(v, path+".value")
		if err != nil {
			return err
		}
		if f == fieldMessageID {
			return p.errorf(v, path, "a constant would give every message the same id")
		}
		if c == "" {
			return p.errorf(v, path, "the constant is empty")
		}
		t.kind, t.value = textConst, c
	default:
		return p.errorf(k, path, "unknown key %q (want column, value, expr or optional)", k.Value)
	}
	return nil
}

// parseTemplate parses "{{a}} text {{b}}": literal text and column names.
func (p *specParser) parseTemplate(n *yaml.Node, path, s string, t *textSpec) error {
	t.kind = textTemplate
	rest := s
	for rest != "" {
		open := strings.Index(rest, "{{")
		if open < 0 {
			t.parts = append(t.parts, templatePart{text: rest})
			break
		}
		if open > 0 {
			t.parts = append(t.parts, templatePart{text: rest[:open]})
		}
		end := strings.Index(rest[open:], "}}")
		if end < 0 {
			return p.errorf(n, path, "template %q: %q is not closed by }}", s, rest[open:])
		}
		col := strings.TrimSpace(rest[open+2 : open+end])
		if col == "" {
			return p.errorf(n, path, "template %q: empty {{}}", s)
		}
		if err := checkPath(col); err != nil {
			return p.errorf(n, path, "template %q: column %q: %v", s, col, err)
		}
		t.parts = append(t.parts, templatePart{column: col})
		p.use(n, path, col)
		rest = rest[open+end+2:]
	}
	return nil
}

func (p *specParser) parseTimestamp(n *yaml.Node) error {
	ts := &p.spec.ts
	ts.line = n.Line
	ts.format = "rfc3339"
	if n.Kind == yaml.ScalarNode {
		c, err := p.column(n, "timestamp")
		if err != nil {
			return err
		}
		ts.columns = []string{c}
		p.use(n, "timestamp", c)
		ts.parser, _ = newTimeParser(ts.format, "")
		return nil
	}
	ms, err := p.members(n, "timestamp")
	if err != nil {
		return err
	}
	var fmtNode, tzNode *yaml.Node
	timezone := ""
	formats, rng := []string{ts.format}, defaultTimeRange()
	for _, m := range ms {
		k, v := m[0], resolve(m[1])
		path := "timestamp." + k.Value
		switch k.Value {
		case "column":
			cols, err := p.columnChoice(v, path, "timestamp")
			if err != nil {
				return err
			}
			ts.columns = cols
			continue
		case "format":
			if formats, err = p.timeFormats(v, path); err != nil {
				return err
			}
			fmtNode = v
			continue
		case "range":
			if rng, err = p.timeRange(v, path); err != nil {
				return err
			}
			continue
		}
		val, err := p.scalar(v, path)
		if err != nil {
			return err
		}
		switch k.Value {
		case "timezone":
			timezone, tzNode = val, v
		case "missing":
			switch val {
			case "reject":
				ts.missingNow = false
			case "now":
				ts.missingNow = true
			default:
				return p.errorf(v, path, "want reject or now, not %q", val)
			}
		default:
			return p.errorf(k, "timestamp", "unknown key %q (want column, format, timezone, range or missing)", k.Value)
		}
	}
	if ts.columns == nil {
		return p.errorf(n, "timestamp", "column is required")
	}
	ts.format = strings.Join(formats, ", ")
	ts.parser, err = p.timeParser(formats, timezone, rng, fmtNode, tzNode, n, "timestamp")
	return err
}

// timeParser makes the parser of formats, a timezone and a plausible
// range, naming the line of whichever is at fault.
func (p *specParser) timeParser(formats []string, timezone string, rng timeRange, fmtNode, tzNode, at *yaml.Node, path string) (*timeParser, error) {
	if tzNode != nil {
		if _, err := newTimeParser("rfc3339", timezone); err != nil {
			return nil, p.errorf(tzNode, path+".timezone", "%v", err)
		}
	}
	tp, err := newTimeFormats(formats, timezone, rng)
	if err != nil {
		switch {
		case tzNode != nil && strings.Contains(err.Error(), "timezone:"):
			at, path = tzNode, path+".timezone"
		case fmtNode != nil:
			at, path = fmtNode, path+".format"
		}
		return nil, p.errorf(at, path, "%v", err)
	}
	return tp, nil
}

func (p *specParser) parseColumns(n *yaml.Node) error {
	ms, err := p.members(n, "columns")
	if err != nil {
		return err
	}
	cols := make(map[string]colDecl, len(ms))
	for _, m := range ms {
		k, v := m[0], resolve(m[1])
		path := "columns." + k.Value
		if err := checkPath(k.Value); err != nil || k.Value == "" {
			return p.errorf(k, path, "not a column name")
		}
		var d colDecl
		if v.Kind == yaml.MappingNode {
			if d, err = p.parseColumnDecl(v, path); err != nil {
				return err
			}
		} else {
			name, err := p.scalar(v, path)
			if err != nil {
				return err
			}
			t, ok := colTypes[name]
			if !ok {
				return p.errorf(v, path, "unknown type %q (want "+colTypeList+")", name)
			}
			d.typ = t
			if t == typeTimestamp {
				d.ts, _ = newTimeParser("rfc3339", "")
			}
		}
		d.line = k.Line
		cols[k.Value] = d
		p.use(k, "columns", k.Value)
	}
	p.spec.columns = cols
	return nil
}

// parseColumnDecl parses {type: timestamp, format: …, timezone: …}.
func (p *specParser) parseColumnDecl(n *yaml.Node, path string) (colDecl, error) {
	ms, err := p.members(n, path)
	if err != nil {
		return colDecl{}, err
	}
	var d colDecl
	var typeNode, fmtNode, tzNode, rangeNode *yaml.Node
	formats, timezone, rng := []string{"rfc3339"}, "", defaultTimeRange()
	for _, m := range ms {
		k, v := m[0], resolve(m[1])
		switch k.Value {
		case "format":
			if formats, err = p.timeFormats(v, path+".format"); err != nil {
				return d, err
			}
			fmtNode = v
			continue
		case "range":
			if rng, err = p.timeRange(v, path+".range"); err != nil {
				return d, err
			}
			rangeNode = v
			continue
		}
		val, err := p.scalar(v, path+"."+k.Value)
		if err != nil {
			return d, err
		}
		switch k.Value {
		case "type":
			t, ok := colTypes[val]
			if !ok {
				return d, p.errorf(v, path+".type", "unknown type %q (want "+colTypeList+")", val)
			}
			d.typ, typeNode = t, v
		case "timezone":
			timezone, tzNode = val, v
		default:
			return d, p.errorf(k, path, "unknown key %q (want type, format, timezone or range)", k.Value)
		}
	}
	if typeNode == nil {
		return d, p.errorf(n, path, "type is required")
	}
	if d.typ != typeTimestamp {
		if at := fmtNode; at != nil || tzNode != nil {
			if at == nil {
				at = tzNode
			}
			return d, p.errorf(at, path, "format and timezone are for columns of type timestamp")
		}
		if rangeNode != nil {
			return d, p.errorf(rangeNode, path, "range is for columns of type timestamp")
		}
		return d, nil
	}
	d.ts, err = p.timeParser(formats, timezone, rng, fmtNode, tzNode, n, path)
	return d, err
}

// keyOwner records who sets an output key of an object, for collisions.
type keyOwner struct {
	what  string
	group bool // the key holds members set by others
	line  int
	path  string // the spec key that sets it: "properties.rename"
	full  string // the whole key set: "order.revenue" for the group "order"
}

func (p *specParser) parseObject(n *yaml.Node, o int) error {
	name := objectNames[o]
	obj := &objectSpec{line: n.Line}
	p.spec.objects[o] = obj
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil // "properties:" alone: the remaining columns
	}
	ms, err := p.members(n, name)
	if err != nil {
		return err
	}
	var includeNode *yaml.Node
	renameNodes := map[string]*yaml.Node{}
	valueNodes := map[string]*yaml.Node{}
	for _, m := range ms {
		k, v := m[0], resolve(m[1])
		path := name + "." + k.Value
		switch k.Value {
		case "include":
			includeNode = v
			obj.hasInclude = true
			if obj.include, obj.includeGlobs, err = p.columnGlobList(v, path); err != nil {
				return err
			}
		case "exclude":
			if obj.exclude, obj.excludeGlobs, err = p.columnGlobList(v, path); err != nil {
				return err
			}
		case "from":
			if v.Kind == yaml.MappingNode {
				if obj.fromExpr, err = p.fromExpr(v, path); err != nil {
					return err
				}
				continue
			}
			if obj.from, err = p.column(v, path); err != nil {
				return err
			}
			p.use(v, path, obj.from)
		case "rename":
			rs, err := p.members(v, path)
			if err != nil {
				return err
			}
			obj.rename = make(map[string]string, len(rs))
			for _, kv := range rs {
				from := kv[0].Value
				if isGlob(from) {
					to, err := p.scalar(resolve(kv[1]), path+"."+from)
					if err != nil {
						return err
					}
					g, err := p.globRename(kv[0], kv[1], path, to)
					if err != nil {
						return err
					}
					obj.renameGlobs = append(obj.renameGlobs, g)
					continue
				}
				if err := checkPath(from); err != nil || from == "" {
					return p.errorf(kv[0], path, "%q is not a column name", from)
				}
				to, err := p.scalar(resolve(kv[1]), path+"."+from)
				if err != nil {
					return err
				}
				if to == "" {
					return p.errorf(kv[1], path, "column %q is renamed to an empty key", from)
				}
				if checkPath(to) != nil {
					return p.errorf(kv[1], path, "column %q is renamed to %q, a key with an empty part", from, to)
				}
				obj.rename[from] = to
				obj.renamed = append(obj.renamed, from)
				renameNodes[from] = kv[1]
				p.use(kv[0], path, from)
			}
		case "values":
			vs, err := p.members(v, path)
			if err != nil {
				return err
			}
			for _, kv := range vs {
				key := kv[0].Value
				if key == "" || checkPath(key) != nil {
					return p.errorf(kv[0], path, "%q is not a key (a dot separates nested keys)", key)
				}
				if e, ok, err := p.valueExpr(resolve(kv[1]), path+"."+key); err != nil {
					return err
				} else if ok {
					obj.values = append(obj.values, constMember{key: key, path: strings.Split(key, "."), expr: e})
					valueNodes[key] = kv[0]
					continue
				}
				if vn := resolve(kv[1]); vn.Kind == yaml.ScalarNode && vn.Tag == "!!str" && strings.Contains(vn.Value, "{{") {
					t := &textSpec{line: vn.Line}
					if err := p.parseTemplate(vn, path+"."+key, vn.Value, t); err != nil {
						return err
					}
					obj.values = append(obj.values, constMember{key: key, path: strings.Split(key, "."), tmpl: t})
					valueNodes[key] = kv[0]
					continue
				}
				raw, err := constantJSON(resolve(kv[1]))
				if err != nil {
					return p.errorf(kv[1], path+"."+key, "%v", err)
				}
				obj.values = append(obj.values, constMember{key: key, path: strings.Split(key, "."), value: raw})
				valueNodes[key] = kv[0]
			}
		default:
			return p.errorf(k, name, "unknown key %q (want include, exclude, rename, values or from)", k.Value)
		}
	}
	if obj.fromExpr != nil && obj.hasInclude {
		return p.errorf(includeNode, name+".include", "an object with from takes the members of the object its expression gives; include picks columns: use one or the other")
	}
	if obj.fromExpr != nil && len(obj.exclude) > 0 {
		return p.errorf(n, name+".exclude", "%q: the members of the object an expression gives are left out by patterns (\"$mp_*\"), or by the expression itself", obj.exclude[0])
	}
	if obj.from != "" && obj.hasInclude {
		return p.errorf(includeNode, name+".include", "an object with from takes the members of %q; include picks columns: use one or the other", obj.from)
	}

	// Every key the object sets explicitly, with who sets it: a key may be
	// set once, and may not be both a value and the parent of others.
	keys := make(map[string]keyOwner)
	claim := func(at *yaml.Node, path string, key []string, what string) error {
		full := strings.Join(key, ".")
		if prev, ok := keys[full]; ok {
			if prev.group {
				return p.errorf(at, path, "output key %q is set by %s, and %s puts members inside it", full, what, prev.what)
			}
			return p.errorf(at, path, "output key %q is set by %s and by %s", full, prev.what, what)
		}
		for i := 1; i < len(key); i++ {
			parent := strings.Join(key[:i], ".")
			if prev, ok := keys[parent]; ok && !prev.group {
				return p.errorf(at, path, "output key %q is set by %s, so %s cannot put %q inside it", parent, prev.what, what, full)
			}
			if _, ok := keys[parent]; !ok {
				keys[parent] = keyOwner{what: what, group: true, line: at.Line, path: path, full: full}
			}
		}
		keys[full] = keyOwner{what: what, line: at.Line, path: path, full: full}
		return nil
	}
	obj.keys = keys
	for _, c := range obj.include {
		at, path := includeNode, name+".include"
		for _, n := range includeNode.Content {
			if n = resolve(n); n.Value == c {
				at = n
				break
			}
		}
		key := []string{c}
		if to, ok := obj.rename[c]; ok {
			at, path, key = renameNodes[c], name+".rename", strings.Split(to, ".")
		}
		if err := claim(at, path, key, fmt.Sprintf("column %q", c)); err != nil {
			return err
		}
	}
	for _, from := range obj.renamed {
		if obj.hasInclude {
			if indexOf(obj.include, from) < 0 {
				return p.errorf(renameNodes[from], name+".rename", "column %q is not in include", from)
			}
			continue
		}
		if err := claim(renameNodes[from], name+".rename", strings.Split(obj.rename[from], "."), fmt.Sprintf("column %q", from)); err != nil {
			return err
		}
	}
	for _, c := range obj.values {
		if err := claim(valueNodes[c.key], name+".values", c.path, "values"); err != nil {
			return err
		}
	}
	return nil
}

// columnGlobList parses a list of column names and patterns.
func (p *specParser) columnGlobList(n *yaml.Node, path string) ([]string, []globPattern, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, nil, p.errorf(n, path, "want a list of columns, not %s", nodeKind(n))
	}
	var globs []globPattern
	plain := &yaml.Node{Kind: yaml.SequenceNode, Line: n.Line, Column: n.Column}
	for _, c := range n.Content {
		c = resolve(c)
		if c.Kind == yaml.ScalarNode && isGlob(c.Value) {
			for _, g := range globs {
				if g.pattern == c.Value {
					return nil, nil, p.errorf(c, path, "pattern %q is listed twice", c.Value)
				}
			}
			g, err := p.globEntry(c, path, c.Value)
			if err != nil {
				return nil, nil, err
			}
			globs = append(globs, g)
			continue
		}
		plain.Content = append(plain.Content, c)
	}
	cols, err := p.columnList(plain, path)
	return cols, globs, err
}

// columnList parses a list of column names.
func (p *specParser) columnList(n *yaml.Node, path string) ([]string, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, p.errorf(n, path, "want a list of columns, not %s", nodeKind(n))
	}
	out := make([]string, 0, len(n.Content))
	for _, c := range n.Content {
		c = resolve(c)
		s, err := p.column(c, path)
		if err != nil {
			return nil, err
		}
		if indexOf(out, s) >= 0 {
			return nil, p.errorf(c, path, "column %q is listed twice", s)
		}
		out = append(out, s)
		p.use(c, path, s)
	}
	return out, nil
}

// constantJSON converts a YAML value to JSON.
func constantJSON(n *yaml.Node) (json.RawMessage, error) {
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, err
	}
	b, err := json.Marshal(v)
	if err != nil {
		var ute *json.UnsupportedTypeError
		if errors.As(err, &ute) {
			return nil, errors.New("mapping keys must be strings")
		}
		return nil, err
	}
	return b, nil
}

// Columns returns the top-level columns that rows must have for the spec,
// for readers that can skip the others (readers.Options.Select): every
// column the spec names and, for a name with dots, each of its leading
// parts, since which of them is the column depends on the file. all is
// true when rows need every column: when an object takes the columns that
// no field uses (as it does unless every object the messages carry lists
// its members), and for passthrough.
func (s *Spec) Columns() (cols []string, all bool) {
	if s.passthrough {
		return nil, true
	}
	if s.messages != nil {
		return s.multiColumns()
	}
	for _, o := range s.objects {
		if o != nil && len(o.includeGlobs) > 0 {
			return nil, true // the columns the patterns match are known per file
		}
	}
	m, err := s.Compile(nil, Options{})
	if err != nil {
		return nil, true
	}
	sm, ok := m.(*specMapper)
	if !ok {
		return nil, true
	}
	for ti, o := range sm.target {
		if o >= 0 && (sm.constType < 0 || sm.constType == ti) {
			return nil, true
		}
	}
	seen := map[string]bool{}
	cols = []string{}
	for _, u := range s.uses {
		name := u.column
		for {
			if !seen[name] {
				seen[name] = true
				cols = append(cols, name)
			}
			i := strings.LastIndexByte(name, '.')
			if i < 0 {
				break
			}
			name = name[:i]
		}
	}
	return cols, false
}
