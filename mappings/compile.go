package mappings

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/backfillhq/backfill/readers"
	"github.com/backfillhq/backfill/sink"
)

// colRef is a source column as the compiled mapper reads it.
type colRef struct {
	name string
	idx  int // index in the schema; -1 when the column is found by name in each row
	typ  colType
}

// textPlan is a compiled string field.
type textPlan struct {
	kind  int
	col   colRef
	value string
	parts []partPlan
}

// partPlan is literal text or, when isCol, a column of a template.
type partPlan struct {
	text  string
	col   colRef
	isCol bool
}

// member is a column placed in an object under key.
type member struct {
	key string
	col colRef
}

// remainingRule says what becomes of a column among the remaining ones.
type remainingRule struct {
	skip bool
	key  string
	typ  colType
}

// objectPlan is a compiled object.
type objectPlan struct {
	members []member     // included columns, in the spec's order
	values  []sink.Field // constant members
	// rules apply to the remaining columns when the object takes them:
	// columns without a rule keep their name and their value as read.
	rules map[string]remainingRule
	// remaining are the remaining columns resolved against the schema.
	remaining []member
}

// specMapper is a Spec compiled for one schema (or for schemaless rows).
type specMapper struct {
	schemaless bool
	now        func() time.Time

	constType  int // index in messageTypes, or -1 when the type comes from typeCol
	typeCol    colRef
	typeValues map[string]string

	fields [numFields]textPlan

	tsCol      colRef
	tsFormat   timeFormat
	tsLoc      *time.Location
	missingNow bool

	objects [numObjects]objectPlan
	// target is, per message type, the object that takes the remaining
	// columns, or -1.
	target [len(messageTypes)]int
	// fieldOn and objectOn say, per message type, which fields and
	// objects the message has.
	fieldOn  [len(messageTypes)][numFields]bool
	objectOn [len(messageTypes)][numObjects]bool

	errNoID error // the cause of a missing_id reject, naming the columns
}

var _ Mapper = (*specMapper)(nil)

// Compile returns a Mapper for rows whose columns are schema (the header of
// a CSV file, the schema of a Parquet file). Every column the spec names
// must be in the schema; column positions are resolved here, once, so Map
// does no lookups by name. With a nil schema (NDJSON, whose rows each carry
// their own keys) columns are found by name in each row, and a column a
// row lacks is absent.
//
// The remaining columns of a row (those not used by type, messageId, the
// ids, event, name, category, groupId, previousId, the timestamp or a
// template, not included by any object, and not excluded by any) go to the
// object of the spec that has no include list (and is not made of values
// alone), else to the message type's default object if the spec leaves it
// out or gives it values alone: properties for track, page and screen;
// traits for identify and group; none for alias. A remaining column whose
// name is an output key its object sets explicitly (by rename or values) is
// left out of it; the explicit member wins.
//
// Compile once per schema; the Mapper is safe for concurrent use.
func (s *Spec) Compile(schema []string, opts Options) (Mapper, error) {
	m := &specMapper{
		schemaless: schema == nil,
		now:        opts.now(),
		constType:  -1,
	}
	index := map[string]int(nil)
	if schema != nil {
		index = make(map[string]int, len(schema))
		for i, name := range schema {
			if _, dup := index[name]; dup {
				return nil, fmt.Errorf("%s: the file has two columns named %q", s.name, name)
			}
			index[name] = i
		}
		for _, u := range s.uses {
			if _, ok := index[u.column]; !ok {
				return nil, fmt.Errorf("%s:%d: %s: column %q is not in the file (columns: %s)",
					s.name, u.line, u.path, u.column, columnList(schema))
			}
		}
	}
	ref := func(name string) colRef {
		c := colRef{name: name, idx: -1, typ: s.columns[name]}
		if index != nil {
			c.idx = index[name]
		}
		return c
	}

	// Columns that are not among the remaining ones.
	claimed := make(map[string]bool)

	if s.typ.constant != "" {
		m.constType = typeIndex(s.typ.constant)
	} else {
		m.typeCol = ref(s.typ.column)
		m.typeValues = s.typ.values
		claimed[s.typ.column] = true
	}
	for f := range s.fields {
		t := &s.fields[f]
		p := &m.fields[f]
		p.kind = t.kind
		switch t.kind {
		case textColumn:
			p.col = ref(t.column)
			claimed[t.column] = true
		case textConst:
			p.value = t.value
		case textTemplate:
			for _, part := range t.parts {
				if part.column == "" {
					p.parts = append(p.parts, partPlan{text: part.text})
					continue
				}
				p.parts = append(p.parts, partPlan{col: ref(part.column), isCol: true})
				claimed[part.column] = true
			}
		}
	}
	m.tsCol = ref(s.ts.column)
	m.tsFormat = timeFormats[s.ts.format]
	m.tsLoc = s.ts.loc
	m.missingNow = s.ts.missingNow
	claimed[s.ts.column] = true

	for o, obj := range s.objects {
		if obj == nil {
			continue
		}
		p := &m.objects[o]
		for _, c := range obj.include {
			if indexOf(obj.exclude, c) >= 0 {
				continue
			}
			p.members = append(p.members, member{key: outputKey(obj, c), col: ref(c)})
			claimed[c] = true
		}
		for _, v := range obj.values {
			p.values = append(p.values, sink.Field{Key: v.key, Value: v.value})
		}
	}

	for ti, typ := range messageTypes {
		for f := range m.fieldOn[ti] {
			m.fieldOn[ti][f] = m.fields[f].kind != textUnset && belongs(fieldTypes[f], typ)
		}
		for o := range m.objectOn[ti] {
			m.objectOn[ti][o] = belongs(objectTypes[o], typ)
		}
		m.target[ti] = -1
		if s.remaining >= 0 && belongs(objectTypes[s.remaining], typ) {
			m.target[ti] = s.remaining
		} else if d := defaultObject[ti]; d >= 0 && (s.objects[d] == nil || s.objects[d].valuesOnly()) {
			m.target[ti] = d
		}
		if m.target[ti] >= 0 {
			m.objectOn[ti][m.target[ti]] = true
		}
	}

	for o := range m.objects {
		taken := false
		for ti := range m.target {
			if m.target[ti] == o && (m.constType < 0 || m.constType == ti) {
				taken = true
			}
		}
		if !taken {
			continue
		}
		p := &m.objects[o]
		p.rules = remainingRules(s, s.objects[o], claimed)
		if schema != nil {
			for i, name := range schema {
				key, typ, ok := p.rule(name)
				if ok {
					p.remaining = append(p.remaining, member{key: key, col: colRef{name: name, idx: i, typ: typ}})
				}
			}
		}
	}

	m.errNoID = noIDError(s)
	return m, nil
}

// remainingRules builds the rules for the remaining columns going to obj
// (nil for a default object the spec leaves out).
func remainingRules(s *Spec, obj *objectSpec, claimed map[string]bool) map[string]remainingRule {
	rules := make(map[string]remainingRule, len(claimed)+len(s.columns))
	for name, typ := range s.columns {
		rules[name] = remainingRule{key: name, typ: typ}
	}
	for name := range claimed {
		rules[name] = remainingRule{skip: true}
	}
	if obj == nil {
		excludeAll(s, rules)
		return rules
	}
	// A column whose name an explicit member takes is left out.
	for _, to := range obj.rename {
		rules[to] = remainingRule{skip: true}
	}
	for _, v := range obj.values {
		rules[v.key] = remainingRule{skip: true}
	}
	// Renamed columns are taken even if a field uses them too.
	for from, to := range obj.rename {
		rules[from] = remainingRule{key: to, typ: s.columns[from]}
	}
	excludeAll(s, rules)
	return rules
}

// excludeAll leaves the columns that any object excludes out of the
// remaining ones, wherever they go.
func excludeAll(s *Spec, rules map[string]remainingRule) {
	for _, o := range s.objects {
		if o == nil {
			continue
		}
		for _, name := range o.exclude {
			rules[name] = remainingRule{skip: true}
		}
	}
}

// rule returns the output key and declared type of a remaining column, and
// false if the column is not among the remaining ones.
func (p *objectPlan) rule(name string) (string, colType, bool) {
	r, ok := p.rules[name]
	if !ok {
		return name, typeAsRead, true
	}
	return r.key, r.typ, !r.skip
}

// noIDError describes where the ids come from, for missing_id rejects.
func noIDError(s *Spec) error {
	var where []string
	for _, f := range []int{fieldUserID, fieldAnonymousID} {
		t := &s.fields[f]
		switch t.kind {
		case textColumn:
			where = append(where, fmt.Sprintf("%s (column %q)", fieldNames[f], t.column))
		case textTemplate:
			where = append(where, fmt.Sprintf("%s (a template)", fieldNames[f]))
		}
	}
	return fmt.Errorf("no value for %s", strings.Join(where, " nor "))
}

// columnList formats a schema for an error message, shortened if long.
func columnList(schema []string) string {
	const max = 30
	if len(schema) > max {
		return strings.Join(schema[:max], ", ") + fmt.Sprintf(", … (%d in all)", len(schema))
	}
	return strings.Join(schema, ", ")
}

// get returns the value of a column in a row; nil if the row lacks it.
func (m *specMapper) get(row *readers.Row, c *colRef) any {
	i := c.idx
	if i < 0 {
		if i = row.Index(c.name); i < 0 {
			return nil
		}
	}
	if i >= len(row.Values) {
		return nil
	}
	return row.Values[i]
}

// Map implements Mapper.
func (m *specMapper) Map(row *readers.Row, msg *sink.Message) error {
	*msg = sink.Message{}
	ti, err := m.messageType(row)
	if err != nil {
		return err
	}
	msg.Type = messageTypes[ti]

	for f := range m.fields {
		if !m.fieldOn[ti][f] {
			continue
		}
		s, err := m.text(row, f)
		if err != nil {
			return err
		}
		switch f {
		case fieldMessageID:
			msg.MessageID = s
		case fieldUserID:
			msg.UserID = s
		case fieldAnonymousID:
			msg.AnonymousID = s
		case fieldEvent:
			msg.Event = s
		case fieldName:
			msg.Name = s
		case fieldCategory:
			msg.Category = s
		case fieldGroupID:
			msg.GroupID = s
		case fieldPreviousID:
			msg.PreviousID = s
		}
	}
	if msg.UserID == "" && msg.AnonymousID == "" {
		col := m.fields[fieldUserID].col.name
		if m.fields[fieldUserID].kind != textColumn {
			col = m.fields[fieldAnonymousID].col.name
		}
		return fieldError(row, "userId", col, nil, ReasonMissingID, m.errNoID)
	}
	if err := m.required(row, ti, msg); err != nil {
		return err
	}
	if msg.MessageID == "" {
		msg.MessageID = RowMessageID(row)
	} else if len(msg.MessageID) > maxMessageID {
		return fieldError(row, "messageId", m.fields[fieldMessageID].col.name, msg.MessageID, ReasonInvalidMessageID, errMessageIDLength)
	}

	if msg.Timestamp, err = m.timestamp(row); err != nil {
		return err
	}

	for o := range m.objects {
		if !m.objectOn[ti][o] {
			continue
		}
		fields, err := m.object(row, o, m.target[ti] == o)
		if err != nil {
			return err
		}
		if len(fields) == 0 {
			continue
		}
		switch o {
		case objProperties:
			msg.Properties = fields
		case objTraits:
			msg.Traits = fields
		case objContext:
			msg.Context = fields
		case objIntegrations:
			msg.Integrations = fields
		}
	}
	return nil
}

// required checks the fields that a message type cannot do without, so that
// the reject names the column that was empty.
func (m *specMapper) required(row *readers.Row, ti int, msg *sink.Message) error {
	check := func(f int, v, reason string) error {
		if v != "" {
			return nil
		}
		p := &m.fields[f]
		return fieldError(row, fieldNames[f], p.col.name, nil, reason,
			fmt.Errorf("no value (%s messages need one)", messageTypes[ti]))
	}
	switch messageTypes[ti] {
	case sink.TypeTrack:
		return check(fieldEvent, msg.Event, ReasonMissingEvent)
	case sink.TypeGroup:
		return check(fieldGroupID, msg.GroupID, ReasonMissingID)
	case sink.TypeAlias:
		if err := check(fieldUserID, msg.UserID, ReasonMissingID); err != nil {
			return err
		}
		return check(fieldPreviousID, msg.PreviousID, ReasonMissingID)
	}
	return nil
}

// messageType returns the index in messageTypes of the row's type.
func (m *specMapper) messageType(row *readers.Row) (int, error) {
	if m.constType >= 0 {
		return m.constType, nil
	}
	v := m.get(row, &m.typeCol)
	cv, ok, err := coerce(v, m.typeCol.typ)
	var s string
	if err == nil && ok {
		s, ok, err = toText(cv)
	}
	if err != nil {
		return 0, fieldError(row, "type", m.typeCol.name, v, ReasonInvalidType, err)
	}
	if !ok {
		return 0, fieldError(row, "type", m.typeCol.name, nil, ReasonInvalidType, errNoValue)
	}
	if t, ok := m.typeValues[s]; ok {
		s = t
	}
	ti := typeIndex(s)
	if ti < 0 {
		if m.typeValues != nil {
			return 0, fieldError(row, "type", m.typeCol.name, v, ReasonInvalidType,
				fmt.Errorf("%q is not in type.values and is not a message type", s))
		}
		return 0, fieldError(row, "type", m.typeCol.name, v, ReasonInvalidType, unknownTypeError(s))
	}
	return ti, nil
}

// text returns a string field; "" if it has no value.
func (m *specMapper) text(row *readers.Row, f int) (string, error) {
	p := &m.fields[f]
	switch p.kind {
	case textConst:
		return p.value, nil
	case textColumn:
		s, _, err := m.columnText(row, &p.col)
		if err != nil {
			return "", fieldError(row, fieldNames[f], p.col.name, m.get(row, &p.col), ReasonInvalidValue, err)
		}
		return s, nil
	case textTemplate:
		var b strings.Builder
		for i := range p.parts {
			part := &p.parts[i]
			if !part.isCol {
				b.WriteString(part.text)
				continue
			}
			s, ok, err := m.columnText(row, &part.col)
			if err != nil {
				return "", fieldError(row, fieldNames[f], part.col.name, m.get(row, &part.col), ReasonInvalidValue, err)
			}
			if !ok {
				// A template with a part missing has no value at all,
				// rather than a half-made one.
				return "", nil
			}
			b.WriteString(s)
		}
		return b.String(), nil
	}
	return "", nil
}

// columnText returns a column's value as text, after its declared type.
func (m *specMapper) columnText(row *readers.Row, c *colRef) (string, bool, error) {
	v, ok, err := coerce(m.get(row, c), c.typ)
	if err != nil || !ok {
		return "", false, err
	}
	if b, isBool := v.(bool); isBool {
		// A declared bool in a template or id reads as true/false.
		return strconv.FormatBool(b), true, nil
	}
	return toText(v)
}

// timestamp returns the row's timestamp.
func (m *specMapper) timestamp(row *readers.Row) (time.Time, error) {
	v := m.get(row, &m.tsCol)
	cv, ok, err := coerce(v, m.tsCol.typ)
	if err != nil {
		return time.Time{}, fieldError(row, "timestamp", m.tsCol.name, v, ReasonBadTimestamp, err)
	}
	if !ok || blank(cv) {
		if m.missingNow {
			return m.now(), nil
		}
		return time.Time{}, fieldError(row, "timestamp", m.tsCol.name, nil, ReasonMissingTimestamp, errNoValue)
	}
	t, err := m.tsFormat.parse(cv, m.tsLoc)
	if err != nil {
		return time.Time{}, fieldError(row, "timestamp", m.tsCol.name, v, ReasonBadTimestamp, err)
	}
	return t, nil
}

// blank reports whether v is an empty or all-blank string.
func blank(v any) bool {
	s, ok := timeText(v)
	return ok && strings.TrimSpace(s) == ""
}

// object builds object o of the message; remaining says whether it takes
// the remaining columns of the row. It returns nil for an empty object.
func (m *specMapper) object(row *readers.Row, o int, remaining bool) (sink.Fields, error) {
	p := &m.objects[o]
	n := len(p.members) + len(p.values)
	if remaining {
		if m.schemaless {
			n += len(row.Names)
		} else {
			n += len(p.remaining)
		}
	}
	if n == 0 {
		return nil, nil
	}
	out := make(sink.Fields, 0, n)
	var err error
	for i := range p.members {
		if out, err = m.appendMember(row, o, out, &p.members[i]); err != nil {
			return nil, err
		}
	}
	if remaining {
		if m.schemaless {
			for i, name := range row.Names {
				key, typ, ok := p.rule(name)
				if !ok {
					continue
				}
				mb := member{key: key, col: colRef{name: name, idx: i, typ: typ}}
				if out, err = m.appendMember(row, o, out, &mb); err != nil {
					return nil, err
				}
			}
		} else {
			for i := range p.remaining {
				if out, err = m.appendMember(row, o, out, &p.remaining[i]); err != nil {
					return nil, err
				}
			}
		}
	}
	out = append(out, p.values...)
	return out, nil
}

// appendMember appends a column's value under its key, unless it is absent.
func (m *specMapper) appendMember(row *readers.Row, o int, out sink.Fields, mb *member) (sink.Fields, error) {
	v := m.get(row, &mb.col)
	cv, ok, err := coerce(v, mb.col.typ)
	if err != nil {
		return nil, fieldError(row, objectNames[o]+"."+mb.key, mb.col.name, v, ReasonInvalidValue,
			fmt.Errorf("declared %s: %w", mb.col.typ, err))
	}
	if !ok {
		return out, nil
	}
	return append(out, sink.Field{Key: mb.key, Value: cv}), nil
}
