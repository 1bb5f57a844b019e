package mappings

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/backfillhq/backfill/readers"
	"github.com/backfillhq/backfill/sink"
)

// textPlan is a compiled string field.
type textPlan struct {
	kind  int
	cols  []colRef // textColumn: the first with a value wins
	value string
	parts []partPlan
	ex    *exprPlan // textExpr
}

// partPlan is literal text or, when isCol, a column of a template.
type partPlan struct {
	text  string
	col   colRef
	isCol bool
}

// member is a remaining column placed in an object under key.
type member struct {
	key  string
	wkey sink.Key
	idx  int // index in the schema
	typ  colType
	ts   *timeParser
}

// remainingRule says what becomes of a column (or a member of a from
// column) among the remaining ones.
type remainingRule struct {
	skip  bool
	key   string
	wkey  sink.Key // key for the writer; set by prepareKeys when keyed
	keyed bool
	typ   colType
	ts    *timeParser
	// owner, on a skipped column, is what the object writes under the
	// column's name instead: the column collides with it (see collide.go).
	owner *keyOwner
}

// keyNode is a member an object sets explicitly: a column (col) or a
// constant (value) under key, or a group of members nested under key.
type keyNode struct {
	key        string
	path       string // the whole key, for errors
	col        *colRef
	value      json.RawMessage
	children   []*keyNode
	fromValues bool // set first by values: written after the remaining columns
	wkey       sink.Key
	valueJSON  string     // value as JSON text on one line
	ex         *exprPlan  // a value computed by an expression
	tmpl       []partPlan // a text made by a template
}

// objectPlan is a compiled object.
type objectPlan struct {
	nodes []*keyNode // explicit members, nested by key
	// from is the object column whose remaining members the object
	// takes, or nil.
	from *colRef
	// fromExpr computes, instead, the object whose members it takes.
	fromExpr *exprPlan
	// rules apply to the remaining columns (or members) the object takes:
	// those without a rule keep their name and their value as read.
	rules map[string]remainingRule
	// remaining are the row's remaining columns resolved against the
	// schema, when the object takes them.
	remaining []member
	// shape caches the rules for the columns of the last schemaless row.
	shape atomic.Pointer[rowShape]
	// globs are the patterns of exclude and rename, or nil.
	globs *objectGlobs
}

// specMapper is a Spec compiled for one schema (or for schemaless rows).
type specMapper struct {
	schemaless bool
	now        func() time.Time
	win        window
	slots      int // per-row member caches

	constType   int // index in messageTypes, or -1 when the type comes from typeCol
	typeCol     colRef
	typeValues  map[string]string
	typeDefault int // index in messageTypes, or -1
	typeExpr    *exprPlan

	// drops are the drop rules; nil without any, so that a mapping
	// without them does no more than a nil check per row.
	drops []dropPlan

	fields [numFields]textPlan

	tsCols     []colRef
	tsParser   *timeParser
	missingNow bool

	objects [numObjects]objectPlan
	// target is, per message type, the object that takes the row's
	// remaining columns, or -1.
	target [len(messageTypes)]int
	// fieldOn and objectOn say, per message type, which fields and
	// objects the message has.
	fieldOn  [len(messageTypes)][numFields]bool
	objectOn [len(messageTypes)][numObjects]bool

	errNoID error // the cause of a missing_id reject, naming the columns

	ids idScheme // how a message without a messageId gets one
}

var _ Mapper = (*specMapper)(nil)

// CheckOptions reports whether the spec can be compiled with opts, as far
// as it does not depend on a schema: opts is valid and its id namespace
// does not contradict the spec's.
func (s *Spec) CheckOptions(opts Options) error {
	if err := opts.Validate(); err != nil {
		return err
	}
	if _, err := newIDScheme(s.ids, opts); err != nil {
		return fmt.Errorf("%s: %w", s.name, err)
	}
	for _, e := range s.messages {
		if err := e.spec.CheckOptions(opts); err != nil {
			return inEntry(s.name, e.at(), err)
		}
	}
	return nil
}

// Compile returns a Mapper for rows whose columns are schema (the header of
// a CSV file, the schema of a Parquet file). Every column the spec names
// must be in the schema (or, for a path, its leading part); column
// positions are resolved here, once, so Map does no lookups by name. With
// a nil schema (NDJSON, whose rows each carry their own keys) columns are
// found by name in each row, and a column a row lacks is absent.
//
// The remaining columns of a row (those not used by type, messageId, the
// ids, event, name, category, groupId, previousId, the timestamp, a
// template, an include, a rename or a from, and not excluded by any object)
// go to the object of the spec that takes them (see Spec), else to the
// message type's default object if the spec leaves it out or gives it
// only renames and values: properties for track, page and screen; traits
// for identify and group; none for alias. Otherwise they are left out. A
// remaining column whose name is an output key its object sets explicitly
// (or the first part of one) collides with it: with a schema Compile
// fails naming both; without, Map rejects a row where the column has a
// value (ReasonKeyCollision). Columns the spec lists as optional may be
// missing from the schema; they have no value in any row.
//
// Map writes each object of the message member by member into the
// sink's MessageWriter; a value the writer refuses, such as a NaN float,
// makes the row a reject naming the field.
//
// With `passthrough: true` the Mapper is Passthrough(opts). Compile fails
// if opts is invalid. Compile once per schema; the Mapper is safe for
// concurrent use.
func (s *Spec) Compile(schema []string, opts Options) (Mapper, error) {
	if err := s.CheckOptions(opts); err != nil {
		return nil, err
	}
	if s.messages != nil {
		return s.compileMulti(schema, opts)
	}
	ids, _ := newIDScheme(s.ids, opts)
	if s.passthrough {
		pt := &passthrough{win: newWindow(opts), ids: ids}
		if s.drops == nil {
			return pt, nil
		}
		return newDroppingPassthrough(s, pt), nil
	}
	win := newWindow(opts)
	s = s.withTimeCeiling(timeCeiling(&win))
	var index map[string]int
	if schema != nil {
		index = make(map[string]int, len(schema))
		for i, name := range schema {
			if _, dup := index[name]; dup {
				return nil, fmt.Errorf("%s: the file has two columns named %q", s.name, name)
			}
			index[name] = i
		}
	}
	rc := newRefCompiler(s, index)
	if schema != nil {
		if err := s.checkUses(s.uses, rc, schema); err != nil {
			return nil, err
		}
	}
	if schema != nil {
		if err := checkGlobs(s, schema); err != nil {
			return nil, err
		}
	} else {
		for o, obj := range s.objects {
			if obj != nil && len(obj.includeGlobs) > 0 {
				g := obj.includeGlobs[0]
				return nil, fmt.Errorf("%s:%d: %s.include: pattern %q: include patterns need a header (CSV, Parquet); name the keys of NDJSON rows, or take the remaining keys and exclude the others (patterns work there)",
					s.name, g.line, objectNames[o], g.pattern)
			}
		}
	}
	m := &specMapper{
		schemaless:  schema == nil,
		now:         opts.now(),
		win:         win,
		slots:       len(rc.slots),
		constType:   -1,
		typeDefault: -1,
		ids:         ids,
	}

	// Columns (and paths) that are not among the remaining ones.
	claimed := make(map[string]bool)

	for _, d := range s.drops {
		m.drops = append(m.drops, dropPlan{name: d.name, ex: d.ex.plan(rc)})
	}
	if s.typ.constant != "" {
		m.constType = typeIndex(s.typ.constant)
	} else if s.typ.expr != nil {
		m.typeExpr = s.typ.expr.plan(rc)
		for _, c := range s.typ.expr.names {
			claimed[c] = true
		}
		if s.typ.deflt != "" {
			m.typeDefault = typeIndex(s.typ.deflt)
		}
	} else {
		m.typeCol = rc.ref(s.typ.column)
		m.typeValues = s.typ.values
		if s.typ.deflt != "" {
			m.typeDefault = typeIndex(s.typ.deflt)
		}
		claimed[s.typ.column] = true
	}
	for f := range s.fields {
		t := &s.fields[f]
		p := &m.fields[f]
		p.kind = t.kind
		switch t.kind {
		case textColumn:
			for _, c := range t.columns {
				p.cols = append(p.cols, rc.ref(c))
				claimed[c] = true
			}
		case textConst:
			p.value = t.value
		case textExpr:
			p.ex = t.expr.plan(rc)
			for _, c := range t.expr.names {
				claimed[c] = true
			}
		case textTemplate:
			p.parts = templatePlan(t, rc)
			for _, part := range t.parts {
				if part.column != "" {
					claimed[part.column] = true
				}
			}
		}
	}
	for _, c := range s.ts.columns {
		m.tsCols = append(m.tsCols, rc.ref(c))
		claimed[c] = true
	}
	m.tsParser = s.ts.parser
	m.missingNow = s.ts.missingNow

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
		} else if d := defaultObject[ti]; d >= 0 && (s.objects[d] == nil || s.objects[d].explicitOnly()) {
			m.target[ti] = d
		}
		if m.target[ti] >= 0 {
			m.objectOn[ti][m.target[ti]] = true
		}
	}
	// takesRowRest says which objects take the row's remaining columns
	// for the messages they are on.
	var takesRowRest [numObjects]bool
	for ti := range m.target {
		if o := m.target[ti]; o >= 0 && (m.constType < 0 || m.constType == ti) {
			takesRowRest[o] = true
		}
	}

	// The explicit members of each object, and the renames that are
	// rules for the remaining columns it takes.
	var ruleRenames [numObjects][]string
	for o, obj := range s.objects {
		if obj == nil {
			continue
		}
		p := &m.objects[o]
		container, takes := "", takesRowRest[o]
		if obj.from != "" {
			container, takes = obj.from, true
			ref := rc.ref(obj.from)
			p.from = &ref
			claimed[obj.from] = true
		}
		if obj.fromExpr != nil {
			container, takes = exprContainer, true
			p.fromExpr = obj.fromExpr.plan(rc)
			for _, c := range obj.fromExpr.names {
				claimed[c] = true
			}
		}
		for _, c := range obj.include {
			if indexOf(obj.exclude, c) >= 0 {
				continue
			}
			key := c
			if to, ok := obj.rename[c]; ok {
				key = to
			}
			ref := rc.ref(c)
			p.nodes = addNode(p.nodes, splitKey(key, obj.rename[c] != ""), &keyNode{col: &ref}, false)
			claimed[c] = true
		}
		if len(obj.includeGlobs) > 0 {
			nodes, err := includeByGlob(s, o, obj, schema, rc, p.nodes, claimed)
			if err != nil {
				return nil, err
			}
			p.nodes = nodes
		}
		for _, from := range obj.renamed {
			if indexOf(obj.include, from) >= 0 {
				continue
			}
			to := obj.rename[from]
			if takes && renameIsRule(from, to, container) {
				ruleRenames[o] = append(ruleRenames[o], from)
				continue
			}
			ref := rc.ref(from)
			p.nodes = addNode(p.nodes, strings.Split(to, "."), &keyNode{col: &ref}, false)
			claimed[from] = true
		}
		for _, v := range obj.values {
			nd := &keyNode{value: v.value, ex: v.expr.plan(rc)}
			if v.tmpl != nil {
				nd.tmpl = templatePlan(v.tmpl, rc)
			}
			p.nodes = addNode(p.nodes, v.path, nd, true)
		}
	}
	for o := range m.objects {
		obj := s.objects[o]
		p := &m.objects[o]
		var renameGlobs []globPattern
		from := ""
		if obj != nil {
			renameGlobs, from = obj.renameGlobs, obj.from
		}
		excludeGlobs := allExcludeGlobs(s, from)
		if obj != nil && obj.fromExpr != nil {
			excludeGlobs = obj.excludeGlobs
		}
		if excludeGlobs != nil || renameGlobs != nil {
			p.globs = &objectGlobs{exclude: excludeGlobs, rename: renameGlobs}
		}
		switch {
		case p.fromExpr != nil:
			p.rules = remainingRules(s, obj, exprContainer, claimed, p.nodes, ruleRenames[o])
		case p.from != nil:
			p.rules = remainingRules(s, obj, obj.from, claimed, p.nodes, ruleRenames[o])
		case takesRowRest[o]:
			p.rules = remainingRules(s, obj, "", claimed, p.nodes, ruleRenames[o])
			for i, name := range schema {
				r, ok := p.rule(name)
				if ok {
					p.remaining = append(p.remaining, member{key: r.key, idx: i, typ: r.typ, ts: r.ts})
				} else if r.owner != nil {
					return nil, collisionError(s, o, name, r.owner)
				}
			}
			sortByKey(p.remaining, func(mb member) string { return mb.key })
		}
	}

	m.errNoID = noIDError(s)
	if err := m.prepareKeys(); err != nil {
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}
	return m, nil
}

// checkUses refuses a column of uses that is not in schema, unless the
// spec lists it as optional.
func (s *Spec) checkUses(uses []columnUse, rc *refCompiler, schema []string) error {
	for _, u := range uses {
		if _, opt := s.optional[u.column]; opt {
			continue // may be absent: reads as no value
		}
		if _, ok := rc.resolve(u.column); !ok {
			what := "column"
			if strings.Contains(u.column, ".") {
				what = "column (or path)"
			}
			return fmt.Errorf("%s:%d: %s: %s %q is not in the file (columns: %s)%s",
				s.name, u.line, u.path, what, u.column, columnList(schema), schemaSuggestion(u.column, schema))
		}
	}
	return nil
}

// templatePlan resolves the columns of a template.
func templatePlan(t *textSpec, rc *refCompiler) []partPlan {
	parts := make([]partPlan, 0, len(t.parts))
	for _, part := range t.parts {
		if part.column == "" {
			parts = append(parts, partPlan{text: part.text})
			continue
		}
		parts = append(parts, partPlan{col: rc.ref(part.column), isCol: true})
	}
	return parts
}

// renameIsRule reports whether a rename on an object that takes the
// remaining columns of container ("" for the row) is a rule for them: a
// column (or member) of the container given another flat key.
func renameIsRule(from, to, container string) bool {
	if strings.Contains(to, ".") {
		return false
	}
	if container == "" {
		return !strings.Contains(from, ".")
	}
	rest, ok := strings.CutPrefix(from, container+".")
	return ok && !strings.Contains(rest, ".")
}

// splitKey returns the parts of an output key: a rename target nests on
// dots, a column's own name does not.
func splitKey(key string, renamed bool) []string {
	if renamed {
		return strings.Split(key, ".")
	}
	return []string{key}
}

// addNode places a leaf under its key path in the tree of explicit
// members. The spec parser has made sure keys do not clash.
func addNode(nodes []*keyNode, path []string, leaf *keyNode, fromValues bool) []*keyNode {
	full := strings.Join(path, ".")
	level := &nodes
	for i, k := range path {
		var found *keyNode
		for _, n := range *level {
			if n.key == k {
				found = n
				break
			}
		}
		if i == len(path)-1 {
			leaf.key, leaf.path, leaf.fromValues = k, full, fromValues
			*level = append(*level, leaf)
			break
		}
		if found == nil {
			found = &keyNode{key: k, path: strings.Join(path[:i+1], "."), fromValues: fromValues}
			*level = append(*level, found)
		}
		level = &found.children
	}
	return nodes
}

// remainingRules builds the rules for the remaining columns of container
// ("" for the row; else the members of that from column) that go to obj
// (nil for a default object the spec leaves out). Names in the rules are
// relative to the container.
func remainingRules(s *Spec, obj *objectSpec, container string, claimed map[string]bool, nodes []*keyNode, renames []string) map[string]remainingRule {
	rel := func(name string) (string, bool) {
		if container == "" {
			return name, true
		}
		return strings.CutPrefix(name, container+".")
	}
	rules := make(map[string]remainingRule, len(claimed)+len(s.columns))
	for name, d := range s.columns {
		if r, ok := rel(name); ok {
			rules[r] = remainingRule{key: r, typ: d.typ, ts: d.ts}
		}
	}
	for name := range claimed {
		if r, ok := rel(name); ok {
			rules[r] = remainingRule{skip: true}
		}
	}
	// A column whose name an explicit member takes is left out; unless
	// it is left out anyway, it collides with that member.
	collide := func(key string) {
		r := remainingRule{skip: true}
		if prev, had := rules[key]; (!had || !prev.skip) && obj != nil {
			if owner, ok := obj.keys[key]; ok {
				r.owner = &owner
			}
		}
		rules[key] = r
	}
	for _, n := range nodes {
		collide(n.key)
	}
	if obj != nil {
		for _, from := range renames {
			collide(obj.rename[from])
		}
		// Renamed columns are taken even if a field uses them too.
		for _, from := range renames {
			r, _ := rel(from)
			d := s.columns[from]
			rules[r] = remainingRule{key: obj.rename[from], typ: d.typ, ts: d.ts}
		}
	}
	// Excluded columns are left out of the remaining ones wherever they go.
	for _, o := range s.objects {
		if o == nil {
			continue
		}
		for _, name := range o.exclude {
			if r, ok := rel(name); ok {
				rules[r] = remainingRule{skip: true}
			}
		}
	}
	return rules
}

// rule returns how a remaining column (or member) goes into the object,
// and false if it is not among the remaining ones.
func (p *objectPlan) rule(name string) (remainingRule, bool) {
	r, ok := p.rules[name]
	if p.globs != nil && !(ok && r.skip) {
		return p.globs.rule(name, r, ok)
	}
	if !ok {
		return remainingRule{key: name}, true
	}
	return r, !r.skip
}

// noIDError describes where the ids come from, for missing_id rejects.
func noIDError(s *Spec) error {
	var where []string
	for _, f := range []int{fieldUserID, fieldAnonymousID} {
		t := &s.fields[f]
		switch t.kind {
		case textColumn:
			where = append(where, fmt.Sprintf("%s (%s)", fieldNames[f], columnsText(t.columns)))
		case textTemplate:
			where = append(where, fmt.Sprintf("%s (a template)", fieldNames[f]))
		case textExpr:
			where = append(where, fmt.Sprintf("%s (an expression)", fieldNames[f]))
		}
	}
	return fmt.Errorf("no value for %s", strings.Join(where, " nor "))
}

// columnsText names one column or several.
func columnsText(cols []string) string {
	if len(cols) == 1 {
		return "column " + strconv.Quote(cols[0])
	}
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = strconv.Quote(c)
	}
	return "columns " + strings.Join(q, ", ")
}

// columnList formats a schema for an error message, shortened if long.
func columnList(schema []string) string {
	const max = 30
	if len(schema) > max {
		return strings.Join(schema[:max], ", ") + fmt.Sprintf(", … (%d in all)", len(schema))
	}
	return strings.Join(schema, ", ")
}

// Map implements Mapper. The timestamp is read first, so that a row
// outside the time window is filtered whatever else is wrong with it.
func (m *specMapper) Map(row *readers.Row, w *sink.MessageWriter) error {
	return m.mapRow(row, w, "")
}

// mapRow writes the message of row; id, when set, is its messageId
// whatever the spec says.
func (m *specMapper) mapRow(row *readers.Row, w *sink.MessageWriter, id string) error {
	var c rowCtx
	c.init(row, m.slots)
	var msg header
	ti, err := m.header(&c, &msg)
	if err != nil {
		return err
	}
	if id != "" {
		msg.text[fieldMessageID] = fieldText{text: id}
	}
	w.Begin(msg.Type, msg.Timestamp)
	if msg.text[fieldMessageID].empty() {
		m.ids.derive(c.row, w)
	}
	for f := range msg.text {
		msg.text[f].write(w, textFields[f])
	}
	for o := range m.objects {
		if m.objectOn[ti][o] {
			if err := m.writeObject(&c, o, m.target[ti] == o, w); err != nil {
				return err
			}
		}
	}
	return endMessage(row, w)
}

// endMessage ends the message of row in w; an error of the writer (a
// value JSON cannot hold, a message over the size cap) names the row.
func endMessage(row *readers.Row, w *sink.MessageWriter) error {
	if _, err := w.End(); err != nil {
		return &writeError{pos: row.Pos, err: err}
	}
	return nil
}

// writeError is an error of the writer for the message of a row.
type writeError struct {
	pos   readers.Position
	entry string // the entry of messages: whose message it is, or ""
	err   error
}

func (e *writeError) Error() string {
	msg := e.err.Error()
	if e.entry != "" {
		msg = e.entry + ": " + msg
	}
	if e.pos == (readers.Position{}) {
		return msg
	}
	return e.pos.String() + ": " + msg
}

func (e *writeError) Unwrap() error { return e.err }

// RejectReason returns the reason of the writer's error.
func (e *writeError) RejectReason() string {
	if r, ok := e.err.(interface{ RejectReason() string }); ok {
		return r.RejectReason()
	}
	return sink.ReasonInvalidValue
}

// header is the part of a message Map reads before the objects.
type header struct {
	Type      string
	Timestamp time.Time
	text      [numFields]fieldText // the string fields, by field
}

// textFields are the writer's fields of the string fields, in order.
var textFields = [numFields]sink.TextField{
	sink.FieldMessageID, sink.FieldUserID, sink.FieldAnonymousID, sink.FieldEvent,
	sink.FieldName, sink.FieldCategory, sink.FieldGroupID, sink.FieldPreviousID,
}

// fieldText is the value of a string field: its text, or the JSON string
// literal (quotes included) of a row's JSON text that holds it, when that
// is printable ASCII without escapes (plainLiteral), which the writer
// copies as it is: so the ids and event names of NDJSON rows and of
// passed-through messages are written without making strings of them.
// The zero fieldText is no value.
type fieldText struct {
	lit  []byte
	text string
}

// empty reports whether the field has no value.
func (t *fieldText) empty() bool { return len(t.lit) <= 2 && t.text == "" }

// writtenLen returns the length of the field's text as the writer writes
// it (see writtenLen).
func (t *fieldText) writtenLen() int {
	if t.lit != nil {
		return len(t.lit) - 2
	}
	return writtenLen(t.text)
}

// String returns the field's text.
func (t *fieldText) String() string {
	if t.lit != nil {
		return string(t.lit[1 : len(t.lit)-1])
	}
	return t.text
}

// write sets field f of the message begun in w to t; no value leaves it
// out.
func (t *fieldText) write(w *sink.MessageWriter, f sink.TextField) {
	if t.lit != nil {
		w.SetQuoted(f, t.lit)
	} else {
		w.SetText(f, t.text)
	}
}

// header sets the message's timestamp, type and string fields from the
// row (everything but the objects), and returns the type's index.
func (m *specMapper) header(c *rowCtx, msg *header) (ti int, err error) {
	*msg = header{}
	row := c.row
	ts, err := m.timestamp(c)
	if err != nil {
		return 0, err
	}
	msg.Timestamp = ts
	if m.drops != nil {
		if err := m.drop(c); err != nil {
			return 0, err
		}
	}

	ti, err = m.messageType(c)
	if err != nil {
		return 0, err
	}
	msg.Type = messageTypes[ti]

	for f := range m.fields {
		if !m.fieldOn[ti][f] {
			continue
		}
		t, err := m.text(c, f)
		if err != nil {
			return 0, err
		}
		msg.text[f] = t
	}
	if msg.text[fieldUserID].empty() && msg.text[fieldAnonymousID].empty() {
		col := m.fields[fieldUserID].firstColumn()
		if m.fields[fieldUserID].kind != textColumn {
			col = m.fields[fieldAnonymousID].firstColumn()
		}
		return 0, fieldError(row, "userId", col, nil, sink.ReasonMissingID, m.errNoID)
	}
	if err := m.required(row, ti, msg); err != nil {
		return 0, err
	}
	if id := &msg.text[fieldMessageID]; id.writtenLen() > maxMessageID {
		return 0, fieldError(row, "messageId", m.fields[fieldMessageID].firstColumn(), id.String(), sink.ReasonInvalidMessageID, errMessageIDLength)
	}
	return ti, nil
}

// firstColumn names the (first) column of a field, or "".
func (p *textPlan) firstColumn() string {
	if len(p.cols) > 0 {
		return p.cols[0].name
	}
	return ""
}

// required checks the fields that a message type cannot do without, so that
// the reject names the column that was empty.
func (m *specMapper) required(row *readers.Row, ti int, msg *header) error {
	check := func(f int, reason string) error {
		if !msg.text[f].empty() {
			return nil
		}
		return fieldError(row, fieldNames[f], m.fields[f].firstColumn(), nil, reason,
			fmt.Errorf("no value (%s messages need one)", messageTypes[ti]))
	}
	switch messageTypes[ti] {
	case sink.TypeTrack:
		return check(fieldEvent, sink.ReasonMissingEvent)
	case sink.TypeGroup:
		return check(fieldGroupID, sink.ReasonMissingID)
	case sink.TypeAlias:
		if err := check(fieldUserID, sink.ReasonMissingID); err != nil {
			return err
		}
		return check(fieldPreviousID, sink.ReasonMissingID)
	}
	return nil
}

// messageType returns the index in messageTypes of the row's type.
func (m *specMapper) messageType(c *rowCtx) (int, error) {
	if m.constType >= 0 {
		return m.constType, nil
	}
	if m.typeExpr != nil {
		return m.exprType(c)
	}
	row := c.row
	v := c.get(&m.typeCol)
	cv, ok, err := coerceTo(v, m.typeCol.typ, m.typeCol.ts)
	var s string
	if err == nil && ok {
		s, ok, err = toText(cv)
	}
	if err != nil {
		return 0, fieldError(row, "type", m.typeCol.name, v, sink.ReasonInvalidType, err)
	}
	if !ok {
		if m.typeDefault >= 0 {
			return m.typeDefault, nil
		}
		return 0, fieldError(row, "type", m.typeCol.name, nil, sink.ReasonInvalidType, errNoValue)
	}
	if t, ok := m.typeValues[s]; ok {
		return typeIndex(t), nil
	}
	if m.typeDefault >= 0 {
		return m.typeDefault, nil
	}
	ti := typeIndex(s)
	if ti < 0 {
		if m.typeValues != nil {
			return 0, fieldError(row, "type", m.typeCol.name, v, sink.ReasonInvalidType,
				fmt.Errorf("%q is not in type.values and is not a message type", s))
		}
		return 0, fieldError(row, "type", m.typeCol.name, v, sink.ReasonInvalidType, unknownTypeError(s))
	}
	return ti, nil
}

// text returns a string field; the zero fieldText if it has no value.
func (m *specMapper) text(c *rowCtx, f int) (fieldText, error) {
	p := &m.fields[f]
	var (
		s   string
		err error
	)
	switch p.kind {
	case textConst:
		s = p.value
	case textExpr:
		s, err = p.ex.text(c)
	case textColumn:
		for i := range p.cols {
			col := &p.cols[i]
			t, ok, err := columnField(c, col)
			if err != nil {
				return fieldText{}, fieldError(c.row, fieldNames[f], col.name, c.get(col), sink.ReasonInvalidValue, err)
			}
			if ok && !t.empty() {
				return t, nil
			}
		}
	case textTemplate:
		s, err = templateText(c, p.parts, fieldNames[f])
	}
	return fieldText{text: s}, err
}

// templateText expands a template for field; "" if a column of it has
// no value in the row.
func templateText(c *rowCtx, parts []partPlan, field string) (string, error) {
	var b strings.Builder
	for i := range parts {
		part := &parts[i]
		if !part.isCol {
			b.WriteString(part.text)
			continue
		}
		s, ok, err := columnText(c, &part.col)
		if err != nil {
			return "", fieldError(c.row, field, part.col.name, c.get(&part.col), sink.ReasonInvalidValue, err)
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

// columnText returns a column's value as text, after its declared type.
func columnText(c *rowCtx, col *colRef) (string, bool, error) {
	t, ok, err := columnField(c, col)
	return t.String(), ok, err
}

// columnField returns a column's value as a string field, after its
// declared type: a value as read held as a JSON string literal of
// printable ASCII without escapes (plainLiteral) as that literal, which
// the writer copies as it is; else its text.
func columnField(c *rowCtx, col *colRef) (fieldText, bool, error) {
	if col.typ == typeAsRead {
		// As read, the value is the text: no need to box it.
		if i := c.index(col); i >= 0 {
			if s, ok := c.row.Text(i); ok {
				return fieldText{text: s}, s != "", nil
			}
			if raw, ok := c.row.RawJSON(i); ok {
				if len(raw) > 2 && plainLiteral(raw) {
					return fieldText{lit: raw}, true, nil
				}
				s, ok, err := rawToText(raw)
				return fieldText{text: s}, ok, err
			}
		}
	}
	v, ok, err := coerceTo(c.get(col), col.typ, col.ts)
	if err != nil || !ok {
		return fieldText{}, false, err
	}
	if b, isBool := v.(bool); isBool {
		// A declared bool in a template or id reads as true/false.
		return fieldText{text: strconv.FormatBool(b)}, true, nil
	}
	s, ok, err := toText(v)
	return fieldText{text: s}, ok, err
}

// timestamp returns the row's timestamp, or the error that refuses or
// filters the row.
func (m *specMapper) timestamp(c *rowCtx) (time.Time, error) {
	row := c.row
	var (
		v   any
		col *colRef
	)
	var (
		t      time.Time
		parsed bool
	)
	for i := range m.tsCols {
		col = &m.tsCols[i]
		if j := c.index(col); j >= 0 {
			var err error
			if t, parsed, err = m.tsParser.parseAt(row, j); err != nil {
				return time.Time{}, fieldError(row, "timestamp", col.name, row.Value(j), sink.ReasonBadTimestamp, err)
			}
			if parsed {
				break
			}
		}
		v = c.get(col)
		if !isNull(v) && !blank(v) {
			break
		}
		v = nil
	}
	switch {
	case parsed:
	case v == nil:
		if !m.missingNow {
			cause := errNoValue
			if len(m.tsCols) > 1 {
				cause = fmt.Errorf("no value in %s", columnsText(columnNames(m.tsCols)))
			}
			return time.Time{}, fieldError(row, "timestamp", m.tsCols[0].name, nil, sink.ReasonMissingTimestamp, cause)
		}
		t = m.now()
	default:
		var err error
		if t, err = m.tsParser.parse(v); err != nil {
			return time.Time{}, fieldError(row, "timestamp", col.name, v, sink.ReasonBadTimestamp, err)
		}
	}
	if err := m.win.filter(t); err != nil {
		return time.Time{}, err
	}
	if err := m.win.futureError(t); err != nil {
		if parsed {
			v = c.get(col) // boxed only for the error
		}
		name := ""
		if col != nil && v != nil {
			name = col.name
		}
		return time.Time{}, fieldError(row, "timestamp", name, v, ReasonFutureTimestamp, err)
	}
	return t, nil
}

func columnNames(refs []colRef) []string {
	out := make([]string, len(refs))
	for i := range refs {
		out[i] = refs[i].name
	}
	return out
}
