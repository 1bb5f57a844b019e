package mappings

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Spec is a parsed mapping spec: how the columns of a source become the
// fields of Segment messages. It is made by ParseSpec or LoadSpec and turned
// into a Mapper for one schema by Compile. A Spec is not modified after
// parsing and is safe for concurrent use.
//
// The spec is YAML:
//
//	type: track                  # a constant type, or from a column:
//	# type: {column: kind, values: {click: track, signup: identify}}
//	messageId: event_id          # a column (default, or when empty: derived, see RowMessageID)
//	userId: user_id              # userId and/or anonymousId are required
//	anonymousId: anon_id
//	event: event_name            # a column, {column: c}, {value: "Order Completed"},
//	                             # or a template joining columns: "{{action}} {{object}}"
//	name: ...                    # also category, groupId, previousId
//	timestamp:                   # required; a plain string is a column in rfc3339
//	  column: ts
//	  format: rfc3339            # rfc3339 | unix | unix_ms
//	  missing: reject            # reject (default) | now
//	columns:                     # declared column types: string | int | float | bool | json
//	  amount: float
//	properties:                  # also traits, context, integrations
//	  include: [plan, amount]    # default: the remaining columns
//	  exclude: [internal_note]
//	  rename: {amount: revenue}
//	  values: {source: legacy}   # constant members (any YAML value)
//
// Rules:
//   - Unknown keys are errors. Errors name the spec and the line:
//     "events.yaml:7: userId: …".
//   - A string containing "{{" is a template; {column: …} names a column
//     whose name contains "{{". A template with a column that has no value
//     in a row gives the field no value, never half a text.
//   - With a type from a column, a value found in values is mapped; a value
//     that is already a message type passes; any other is a reject
//     (invalid_type).
//   - With a constant type, fields and objects the type does not have
//     (event on identify, properties on identify, …) are errors, and so are
//     missing ones it needs (event for track, groupId for group, userId and
//     previousId for alias). With a type from a column they are set only on
//     the messages whose type has them.
//   - Ids and other string fields take strings or numbers (as their decimal
//     text); empty means no value.
//   - timestamp formats: rfc3339 (any offset, any fraction; a space may
//     stand for the T), unix and unix_ms (integers or decimals, as numbers
//     or numeric strings, read exactly to the nanosecond). Years 1 to 9999.
//     timezone is reserved for formats without an offset; there are none
//     yet, so it is an error. "missing: now" stamps a row without a value
//     with Options.Now; a value that does not parse is rejected all the same.
//   - Declared types convert CSV strings (int exact to 64 bits; float; bool:
//     true/false/1/0/yes/no in any case; json: parsed and compacted) and
//     JSON values (numbers keep their exact text; a JSON string declared json
//     is parsed). Blank values of a declared type other than string are
//     absent; an undeclared empty CSV value is the string "". Null and absent
//     values are left out of objects.
//   - An object without include takes the remaining columns (see
//     Spec.Compile); only one object may. An object with only values holds
//     its constants (plus the remaining columns when it is the message
//     type's default object). include: [] takes nothing. exclude leaves
//     columns out of include and out of the remaining columns wherever they
//     go. rename gives a column another key; on the object taking the
//     remaining columns it also brings in a column a field uses.
type Spec struct {
	name    string
	typ     typeSpec
	fields  [numFields]textSpec
	ts      timestampSpec
	columns map[string]colType
	objects [numObjects]*objectSpec
	// remaining is the object that takes the remaining columns by the
	// spec's word (present without include), or -1.
	remaining int
	// uses lists every column the spec names, for Compile to check
	// against a schema.
	uses []columnUse
}

// Name returns the name the spec was parsed under (its file name).
func (s *Spec) Name() string { return s.name }

// columnUse is one place where the spec names a column.
type columnUse struct {
	column string
	line   int
	path   string // the spec key, such as "userId" or "properties.include"
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
	constant string
	column   string
	values   map[string]string
}

// Kinds of textSpec.
const (
	textUnset = iota
	textColumn
	textConst
	textTemplate
)

// textSpec is a string field: a column, a constant or a template.
type textSpec struct {
	kind   int
	line   int
	column string
	value  string
	parts  []templatePart
}

// templatePart is literal text, or a column when column is not empty.
type templatePart struct {
	text   string
	column string
}

// timestampSpec says where the timestamp comes from.
type timestampSpec struct {
	line       int
	column     string
	format     string
	loc        *time.Location
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
}

// takesRest reports whether the object takes the remaining columns by the
// spec's word: it has no include list and is not made of values alone.
func (o *objectSpec) takesRest() bool {
	return !o.hasInclude && !o.valuesOnly()
}

// valuesOnly reports whether the object has nothing but constant values.
// Such an object holds its constants, and the remaining columns too when
// it is the message type's default object.
func (o *objectSpec) valuesOnly() bool {
	return !o.hasInclude && len(o.values) > 0 && len(o.exclude) == 0 && len(o.rename) == 0
}

// constMember is a constant member of an object, as JSON.
type constMember struct {
	key   string
	value json.RawMessage
}

// LoadSpec reads and parses the mapping spec in the file at path. Errors
// name the file by its base name and the line.
func LoadSpec(path string) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read mapping: %w", err)
	}
	return ParseSpec(data, filepath.Base(path))
}

// ParseSpec parses a mapping spec. name is used in errors, which read
// "events.yaml:7: userId: …". Unknown keys, unknown types and formats,
// fields that the constant message type does not have, and two objects
// both taking the remaining columns are errors.
func ParseSpec(data []byte, name string) (*Spec, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p := &specParser{spec: &Spec{name: name, remaining: -1}}
	if err := p.parse(&doc); err != nil {
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
	var tsNode, typeNode *yaml.Node
	for _, m := range ms {
		k, v := m[0], resolve(m[1])
		key := k.Value
		switch key {
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
		default:
			if f := indexOf(fieldNames[:], key); f >= 0 {
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
			return p.errorf(k, "", "unknown key %q (want type, timestamp, columns, %s or %s)",
				key, strings.Join(fieldNames[:], ", "), strings.Join(objectNames[:], ", "))
		}
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
		if obj == nil || !obj.takesRest() {
			continue
		}
		if s.remaining >= 0 {
			first := s.objects[s.remaining]
			return fmt.Errorf("%s:%d: %s: takes the remaining columns, and so does %s (line %d); give one of them an include list",
				s.name, obj.line, objectNames[o], objectNames[s.remaining], first.line)
		}
		s.remaining = o
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
			c, err := p.scalar(v, "type.column")
			if err != nil {
				return err
			}
			s.typ.column = c
			p.use(v, "type.column", c)
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
		default:
			return p.errorf(k, "type", "unknown key %q (want column or values)", k.Value)
		}
	}
	if s.typ.column == "" {
		return p.errorf(n, "type", "column is required")
	}
	return nil
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
		if v == "" {
			return p.errorf(n, path, "want a column name, not an empty string")
		}
		t.kind, t.column = textColumn, v
		p.use(n, path, v)
		return nil
	}
	ms, err := p.members(n, path)
	if err != nil {
		return err
	}
	if len(ms) != 1 {
		return p.errorf(n, path, "want one of column or value")
	}
	k, v := ms[0][0], resolve(ms[0][1])
	switch k.Value {
	case "column":
		c, err := p.scalar(v, path+".column")
		if err != nil {
			return err
		}
		t.kind, t.column = textColumn, c
		p.use(v, path, c)
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
		return p.errorf(k, path, "unknown key %q (want column or value)", k.Value)
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
		c, err := p.scalar(n, "timestamp")
		if err != nil {
			return err
		}
		ts.column = c
		p.use(n, "timestamp", c)
		return nil
	}
	ms, err := p.members(n, "timestamp")
	if err != nil {
		return err
	}
	var tzNode *yaml.Node
	for _, m := range ms {
		k, v := m[0], resolve(m[1])
		path := "timestamp." + k.Value
		val, err := p.scalar(v, path)
		if err != nil {
			return err
		}
		switch k.Value {
		case "column":
			ts.column = val
			p.use(v, "timestamp", val)
		case "format":
			if _, ok := timeFormats[val]; !ok {
				return p.errorf(v, path, "unknown format %q (want one of %s)", val, timeFormatNames())
			}
			ts.format = val
		case "timezone":
			loc, err := time.LoadLocation(val)
			if err != nil {
				return p.errorf(v, path, "%v", err)
			}
			ts.loc, tzNode = loc, v
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
			return p.errorf(k, "timestamp", "unknown key %q (want column, format, timezone or missing)", k.Value)
		}
	}
	if ts.column == "" {
		return p.errorf(n, "timestamp", "column is required")
	}
	if tzNode != nil && !timeFormats[ts.format].naive {
		return p.errorf(tzNode, "timestamp.timezone", "format %s carries its own offset; a timezone applies only to times without one", ts.format)
	}
	return nil
}

func (p *specParser) parseColumns(n *yaml.Node) error {
	ms, err := p.members(n, "columns")
	if err != nil {
		return err
	}
	cols := make(map[string]colType, len(ms))
	for _, m := range ms {
		k, v := m[0], resolve(m[1])
		path := "columns." + k.Value
		name, err := p.scalar(v, path)
		if err != nil {
			return err
		}
		t, ok := colTypes[name]
		if !ok {
			return p.errorf(v, path, "unknown type %q (want string, int, float, bool or json)", name)
		}
		cols[k.Value] = t
		p.use(k, "columns", k.Value)
	}
	p.spec.columns = cols
	return nil
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
	// keys are the output keys set explicitly, for collisions.
	keys := make(map[string]string)
	claim := func(n *yaml.Node, path, key, what string) error {
		if prev, ok := keys[key]; ok {
			return p.errorf(n, path, "output key %q is set by %s and by %s", key, prev, what)
		}
		keys[key] = what
		return nil
	}
	var includeNode, renameNode, valuesNode *yaml.Node
	for _, m := range ms {
		k, v := m[0], resolve(m[1])
		path := name + "." + k.Value
		switch k.Value {
		case "include":
			includeNode = v
			obj.hasInclude = true
			if obj.include, err = p.columnList(v, path); err != nil {
				return err
			}
		case "exclude":
			if obj.exclude, err = p.columnList(v, path); err != nil {
				return err
			}
		case "rename":
			renameNode = v
			rs, err := p.members(v, path)
			if err != nil {
				return err
			}
			obj.rename = make(map[string]string, len(rs))
			for _, kv := range rs {
				to, err := p.scalar(resolve(kv[1]), path+"."+kv[0].Value)
				if err != nil {
					return err
				}
				if to == "" {
					return p.errorf(kv[1], path, "column %q is renamed to an empty key", kv[0].Value)
				}
				obj.rename[kv[0].Value] = to
				obj.renamed = append(obj.renamed, kv[0].Value)
				p.use(kv[0], path, kv[0].Value)
			}
		case "values":
			valuesNode = v
			vs, err := p.members(v, path)
			if err != nil {
				return err
			}
			for _, kv := range vs {
				raw, err := constantJSON(resolve(kv[1]))
				if err != nil {
					return p.errorf(kv[1], path+"."+kv[0].Value, "%v", err)
				}
				obj.values = append(obj.values, constMember{key: kv[0].Value, value: raw})
			}
		default:
			return p.errorf(k, name, "unknown key %q (want include, exclude, rename or values)", k.Value)
		}
	}
	for _, c := range obj.include {
		at, path := includeNode, name+".include"
		if _, ok := obj.rename[c]; ok {
			at, path = renameNode, name+".rename"
		}
		if err := claim(at, path, outputKey(obj, c), fmt.Sprintf("column %q", c)); err != nil {
			return err
		}
	}
	for _, from := range obj.renamed {
		to := obj.rename[from]
		if obj.hasInclude && indexOf(obj.include, from) < 0 {
			return p.errorf(renameNode, name+".rename", "column %q is not in include", from)
		}
		if !obj.hasInclude {
			if err := claim(renameNode, name+".rename", to, fmt.Sprintf("column %q", from)); err != nil {
				return err
			}
		}
	}
	for _, c := range obj.values {
		if err := claim(valuesNode, name+".values", c.key, "values"); err != nil {
			return err
		}
	}
	return nil
}

// outputKey returns the key a column has in obj.
func outputKey(obj *objectSpec, column string) string {
	if to, ok := obj.rename[column]; ok {
		return to
	}
	return column
}

// columnList parses a list of column names.
func (p *specParser) columnList(n *yaml.Node, path string) ([]string, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, p.errorf(n, path, "want a list of columns, not %s", nodeKind(n))
	}
	out := make([]string, 0, len(n.Content))
	for _, c := range n.Content {
		c = resolve(c)
		s, err := p.scalar(c, path)
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
