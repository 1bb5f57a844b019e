package mappings

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/backfillhq/backfill/readers"
	"github.com/backfillhq/backfill/sink"
)

// The objects of a mapped message are written member by member into the
// sink's MessageWriter, straight from the row: a value is converted after
// its declared type and written without boxing where the row holds it as
// text or JSON. A member whose value is absent is left out (its key is
// given to the writer, no value follows), and so is an object or a group
// of members without any; the writer gives the context its "library"
// member. A value the JSON format cannot hold (a NaN read from Parquet) is
// refused by the writer, which names the field.

// prepareKeys fills in the keys and constant values of the compiled
// objects, once per Compile.
func (m *specMapper) prepareKeys() error {
	var prepare func(nodes []*keyNode) error
	prepare = func(nodes []*keyNode) error {
		for _, nd := range nodes {
			nd.wkey = sink.NewKey(nd.key)
			if nd.col == nil && nd.children == nil && nd.ex == nil && nd.tmpl == nil {
				text, err := oneLineJSON(nd.value)
				if err != nil {
					return fmt.Errorf("%s: %w", nd.path, err)
				}
				nd.valueJSON = text
			}
			if err := prepare(nd.children); err != nil {
				return err
			}
		}
		return nil
	}
	for o := range m.objects {
		p := &m.objects[o]
		if err := prepare(p.nodes); err != nil {
			return fmt.Errorf("%s.values: %w", objectNames[o], err)
		}
		for i := range p.remaining {
			p.remaining[i].wkey = sink.NewKey(p.remaining[i].key)
		}
		for name, r := range p.rules {
			if !r.skip {
				r.wkey, r.keyed = sink.NewKey(r.key), true
				p.rules[name] = r
			}
		}
	}
	return nil
}

// oneLineJSON returns the JSON text of a constant value on one line.
func oneLineJSON(v json.RawMessage) (string, error) {
	if v == nil {
		return "null", nil
	}
	if bytes.IndexByte(v, '\n') < 0 && bytes.IndexByte(v, '\r') < 0 {
		return string(v), nil
	}
	var out bytes.Buffer
	if err := json.Compact(&out, v); err != nil {
		return "", fmt.Errorf("invalid JSON: %w", err)
	}
	return out.String(), nil
}

// key gives the writer the key of a remaining column's member.
func (r *remainingRule) setKey(w *sink.MessageWriter) {
	if r.keyed {
		w.Key(&r.wkey)
	} else {
		w.KeyString(r.key)
	}
}

// writeValue writes v after the declared type t, as the member whose key
// the writer holds, and nothing when v has no value. An error is the
// cause of a value that does not convert.
func writeValue(w *sink.MessageWriter, v any, t colType, ts *timeParser) error {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		return writeText(w, x, t, ts)
	case json.RawMessage:
		return writeRaw(w, x, t, ts)
	case []byte:
		// A byte array read as bytes is sent as base64, declared or
		// not.
		if t == typeAsRead {
			t = typeBytes
		}
	case int64:
		if t == typeAsRead || t == typeInt || t == typeFloat || t == typeJSON {
			w.Int(x)
			return nil
		}
	case float64:
		if t == typeAsRead || t == typeFloat || t == typeJSON {
			w.Float(x)
			return nil
		}
	}
	return writeCoerced(w, v, t, ts)
}

// writeValueAt writes the value of column i of row as writeValue does,
// without boxing a value the row holds as text or JSON text.
func writeValueAt(w *sink.MessageWriter, row *readers.Row, i int, t colType, ts *timeParser) error {
	if s, ok := row.Text(i); ok {
		return writeText(w, s, t, ts)
	}
	if raw, ok := row.RawJSON(i); ok {
		if t == typeAsRead && row.PlainJSONStrings() && !rawNull(raw) {
			w.RawPlainStrings(raw)
			return nil
		}
		return writeRaw(w, raw, t, ts)
	}
	return writeValue(w, row.Value(i), t, ts)
}

// writeCoerced writes v converted with coerceTo.
func writeCoerced(w *sink.MessageWriter, v any, t colType, ts *timeParser) error {
	cv, ok, err := coerceTo(v, t, ts)
	if err != nil || !ok {
		return err
	}
	w.Value(cv)
	return nil
}

// writeText writes a string value, as writeValue does.
func writeText(w *sink.MessageWriter, x string, t colType, ts *timeParser) error {
	switch t {
	case typeAsRead, typeString:
		w.String(x)
		return nil
	case typeInt:
		s := strings.TrimSpace(x)
		if s == "" {
			return nil
		}
		if plainInteger(s) {
			w.Literal(s) // as w.Int writes the integer s reads as
			return nil
		}
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			w.Int(i)
			return nil
		}
	case typeFloat:
		s := strings.TrimSpace(x)
		if s == "" {
			return nil
		}
		if plainDecimal(s) {
			w.Literal(s)
			return nil
		}
		if isDecimal(s) {
			if f, err := strconv.ParseFloat(s, 64); err == nil {
				w.Float(f)
				return nil
			}
		}
	case typeBool:
		cv, ok, err := coerceString(x, t)
		if err != nil || !ok {
			return err
		}
		w.Bool(cv.(bool))
		return nil
	}
	return writeCoerced(w, x, t, ts)
}

// writeRaw writes a JSON value, as writeValue does.
func writeRaw(w *sink.MessageWriter, x json.RawMessage, t colType, ts *timeParser) error {
	if t == typeAsRead {
		if !rawNull(x) {
			w.Raw(x)
		}
		return nil
	}
	// A JSON number declared float or json, or an integer declared
	// int, keeps its text.
	if k := rawKind(x); isNumberKind(k) && (t == typeFloat || t == typeJSON ||
		t == typeInt && !bytes.ContainsAny(x, ".eE")) {
		w.Raw(x)
		return nil
	}
	return writeCoerced(w, x, t, ts)
}

// isNumberKind reports whether a JSON text starting with k is a number.
func isNumberKind(k byte) bool {
	return k == '-' || k >= '0' && k <= '9'
}

// writeObject writes object o of the message; rowRest says whether it
// takes the remaining columns of the row. An object without members is
// left out by the writer.
func (m *specMapper) writeObject(c *rowCtx, o int, rowRest bool, w *sink.MessageWriter) error {
	p := &m.objects[o]
	if len(p.nodes) == 0 && p.from == nil && p.fromExpr == nil && !rowRest {
		return nil
	}
	row := c.row
	w.BeginObject(sink.ObjectField(o))
	for _, nd := range p.nodes {
		if !nd.fromValues {
			if err := m.writeNode(c, o, w, nd); err != nil {
				return err
			}
		}
	}
	switch {
	case p.fromExpr != nil:
		if err := m.writeExprMembers(c, o, w); err != nil {
			return err
		}
	case p.from != nil:
		if err := m.writeMembers(c, o, w); err != nil {
			return err
		}
	case rowRest && m.schemaless:
		shape := p.shapeOf(row.Names())
		names := row.Names()
		for _, i := range shape.order {
			name := names[i]
			r := &shape.rules[i]
			if r.skip {
				if r.owner != nil {
					if err := collisionReject(row, o, name, name, row.Value(i), r.owner); err != nil {
						return err
					}
				}
				continue
			}
			r.setKey(w)
			if err := writeValueAt(w, row, i, r.typ, r.ts); err != nil {
				return fieldError(row, objectNames[o]+"."+r.key, name, row.Value(i), sink.ReasonInvalidValue,
					fmt.Errorf("declared %s: %w", r.typ, err))
			}
		}
	case rowRest:
		for i := range p.remaining {
			mb := &p.remaining[i]
			if mb.idx >= row.Len() {
				continue
			}
			w.Key(&mb.wkey)
			if err := writeValueAt(w, row, mb.idx, mb.typ, mb.ts); err != nil {
				return fieldError(row, objectNames[o]+"."+mb.key, row.Name(mb.idx), row.Value(mb.idx), sink.ReasonInvalidValue,
					fmt.Errorf("declared %s: %w", mb.typ, err))
			}
		}
	}
	for _, nd := range p.nodes {
		if nd.fromValues {
			if err := m.writeNode(c, o, w, nd); err != nil {
				return err
			}
		}
	}
	w.EndObject()
	return nil
}

// writeNode writes an explicit member: a column's value (unless it is
// absent), a constant, or a group of members (unless all are absent).
func (m *specMapper) writeNode(c *rowCtx, o int, w *sink.MessageWriter, nd *keyNode) error {
	w.Key(&nd.wkey)
	switch {
	case nd.col != nil:
		var err error
		if i := c.index(nd.col); i >= 0 {
			err = writeValueAt(w, c.row, i, nd.col.typ, nd.col.ts)
		} else {
			err = writeValue(w, c.get(nd.col), nd.col.typ, nd.col.ts)
		}
		if err != nil {
			return fieldError(c.row, objectNames[o]+"."+nd.path, nd.col.name, c.get(nd.col), sink.ReasonInvalidValue,
				fmt.Errorf("declared %s: %w", nd.col.typ, err))
		}
	case nd.ex != nil:
		return writeExprNode(c, o, w, nd)
	case nd.tmpl != nil:
		s, err := templateText(c, nd.tmpl, objectNames[o]+".values."+nd.path)
		if err != nil {
			return err
		}
		if s != "" {
			w.String(s)
		}
	case nd.children == nil:
		w.Literal(nd.valueJSON)
	default:
		w.BeginNested()
		for _, ch := range nd.children {
			if err := m.writeNode(c, o, w, ch); err != nil {
				return err
			}
		}
		w.EndObject()
	}
	return nil
}

var errNotObjectColumn = errors.New("not an object, so from: cannot take its members")

// writeMembers writes the remaining members of the object's from column.
func (m *specMapper) writeMembers(c *rowCtx, o int, w *sink.MessageWriter) error {
	p := &m.objects[o]
	v := c.get(p.from)
	if isNull(v) || blank(v) {
		return nil
	}
	isObj, err := eachMember(c, p.from, v, func(key string, mv any) error {
		r, ok := p.rule(key)
		if !ok {
			if r.owner != nil {
				return collisionReject(c.row, o, key, p.from.name+"."+key, mv, r.owner)
			}
			return nil
		}
		w.KeyString(r.key) // r is a copy: its key cannot be kept
		if err := writeValue(w, mv, r.typ, r.ts); err != nil {
			return fieldError(c.row, objectNames[o]+"."+r.key, p.from.name+"."+key, mv, sink.ReasonInvalidValue,
				fmt.Errorf("declared %s: %w", r.typ, err))
		}
		return nil
	})
	if err != nil {
		return err
	}
	if !isObj {
		return fieldError(c.row, objectNames[o], p.from.name, v, sink.ReasonInvalidValue, errNotObjectColumn)
	}
	return nil
}

// plainInteger reports whether s is an int64 as strconv.AppendInt writes
// it: an optional minus (not before 0) and 1 to 18 digits, without a
// leading zero.
func plainInteger(s string) bool {
	digits := s
	if len(s) > 0 && s[0] == '-' {
		digits = s[1:]
	}
	if len(digits) == 0 || len(digits) > 18 || digits[0] == '0' && len(s) > 1 {
		return false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return false
		}
	}
	return true
}

// plainDecimal reports whether the float64 that s reads as is written back
// as s itself: an optional minus, an integer part without leading zeros,
// an optional fraction without trailing zeros, no exponent, at most 15
// digits (so that the shortest text that reads back to the same float is
// s) and, below 1, at most five zeros after the point (smaller numbers
// are written with an exponent).
func plainDecimal(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	intStart := i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	intDigits := i - intStart
	if intDigits == 0 || intDigits > 1 && s[intStart] == '0' {
		return false
	}
	if i == len(s) {
		return intDigits <= 15
	}
	if s[i] != '.' {
		return false
	}
	i++
	fracStart := i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	fracDigits := i - fracStart
	if i != len(s) || fracDigits == 0 || s[len(s)-1] == '0' || intDigits+fracDigits > 15 {
		return false
	}
	if s[intStart] == '0' {
		zeros := 0
		for zeros < fracDigits && s[fracStart+zeros] == '0' {
			zeros++
		}
		if zeros > 5 {
			return false
		}
	}
	return true
}

// rowShape is the rule of each column of rows whose columns are names,
// for schemaless rows: NDJSON rows mostly have the same keys in the same
// order, and comparing them with the last row's is cheaper than a map
// lookup per column. Rows of the same keys mostly share one slice of
// names (see readers.Row), which is then the same slice as names: a
// row's storage is never modified, so a shape may keep the slice it was
// made from, and compare the slices before their strings.
type rowShape struct {
	names []string        // the names of the row the shape was made from
	rules []remainingRule // skip for a column that is not among the remaining ones
	order []int           // the indices of rules, in the order of the keys they write
}

// shapeOf returns the rules for the columns names, from the last shape
// seen when the names are the same.
func (p *objectPlan) shapeOf(names []string) *rowShape {
	if sh := p.shape.Load(); sh != nil && (sameSlice(sh.names, names) || slices.Equal(sh.names, names)) {
		return sh
	}
	sh := &rowShape{names: names, rules: make([]remainingRule, len(names))}
	for i, name := range names {
		r, ok := p.rule(name)
		switch {
		case !ok:
			r = remainingRule{skip: true, owner: r.owner}
		case !r.keyed:
			r.wkey, r.keyed = sink.NewKey(r.key), true
		}
		sh.rules[i] = r
	}
	sh.order = make([]int, len(names))
	for i := range sh.order {
		sh.order[i] = i
	}
	sortByKey(sh.order, func(i int) string { return sh.rules[i].key })
	p.shape.Store(sh)
	return sh
}

// sameSlice reports whether a and b are the same slice: the same
// length, over the same array.
func sameSlice(a, b []string) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// sortByKey puts the remaining members of an object in the order of
// their keys, by bytes, as the canonical form of a message orders them:
// a message whose object holds only such members is its own canonical
// form, and its content-derived id is a hash of the bytes written, with
// no copy in key order. The order of an object's members means nothing
// in JSON, and the explicit members of a mapping keep the order it gives.
func sortByKey[T any](s []T, key func(T) string) {
	slices.SortStableFunc(s, func(a, b T) int { return strings.Compare(key(a), key(b)) })
}
