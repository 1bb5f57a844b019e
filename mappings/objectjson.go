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

// The objects of a mapped message are written straight as JSON text, into
// one buffer per row, and handed to the sink as json.RawMessage, which it
// copies as it is: the bytes are those sink.AppendMessage writes for the
// sink.Fields that object builds (the context with its "library" member),
// without a boxed value per member. A value the sink's encoder refuses
// (such as a NaN read from Parquet) makes the object fall back to
// sink.Fields, so that the refusal comes from the encoder as before.

// quotedKey returns key as a JSON string followed by a colon.
func quotedKey(key string) string {
	return string(append(sink.AppendString(nil, key), ':'))
}

// prepareJSON fills in the quoted keys and constant values of the
// compiled objects, once per Compile.
func (m *specMapper) prepareJSON() error {
	var prepare func(nodes []*keyNode) error
	prepare = func(nodes []*keyNode) error {
		for _, nd := range nodes {
			nd.qkey = quotedKey(nd.key)
			if nd.col == nil && nd.children == nil {
				b, err := sink.AppendValue(nil, nd.value)
				if err != nil {
					return fmt.Errorf("%s: %w", nd.path, err)
				}
				nd.valueJSON = b
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
			p.remaining[i].qkey = quotedKey(p.remaining[i].key)
		}
		for name, r := range p.rules {
			if !r.skip {
				r.qkey = quotedKey(r.key)
				p.rules[name] = r
			}
		}
	}
	return nil
}

// objectWriter appends one object's JSON text to buf.
type objectWriter struct {
	buf []byte
	// fallback is set when the sink's encoder refuses a value: the object
	// is then built as sink.Fields instead.
	fallback bool
	// library is set when a top-level member is named "library".
	library bool
}

// open starts a member: a comma after the n members before it, and the
// quoted key. It returns the mark to roll back to if the value is absent.
func (w *objectWriter) open(n int, qkey string) int {
	mark := len(w.buf)
	if n > 0 {
		w.buf = append(w.buf, ',')
	}
	w.buf = append(w.buf, qkey...)
	return mark
}

// openKey is open for a key that is not quoted in advance.
func (w *objectWriter) openKey(n int, key string) int {
	mark := len(w.buf)
	if n > 0 {
		w.buf = append(w.buf, ',')
	}
	w.buf = sink.AppendString(w.buf, key)
	w.buf = append(w.buf, ':')
	return mark
}

// value appends v after the declared type t, as the sink encodes what
// coerceTo returns for it. It reports whether v has a value; an error is
// the cause of a value that does not convert. When the encoder refuses
// the converted value, it sets fallback.
func (w *objectWriter) value(v any, t colType, ts *timeParser) (bool, error) {
	switch x := v.(type) {
	case nil:
		return false, nil
	case string:
		return w.text(x, t, ts)
	case json.RawMessage:
		return w.raw(x, t, ts)
	case int64:
		if t == typeAsRead || t == typeInt || t == typeFloat || t == typeJSON {
			w.buf = strconv.AppendInt(w.buf, x, 10)
			return true, nil
		}
	case float64:
		if t == typeAsRead || t == typeFloat || t == typeJSON {
			return w.float(x), nil
		}
	}
	return w.coerced(v, t, ts)
}

// valueAt appends the value of column i of row as value does, without
// boxing a value the row holds in Texts or JSON.
func (w *objectWriter) valueAt(row *readers.Row, i int, t colType, ts *timeParser) (bool, error) {
	switch row.Values[i].(type) {
	case readers.InTexts:
		return w.text(row.Texts[i], t, ts)
	case readers.InJSON:
		return w.raw(row.JSON[i], t, ts)
	}
	return w.value(row.Values[i], t, ts)
}

// coerced appends v converted with coerceTo.
func (w *objectWriter) coerced(v any, t colType, ts *timeParser) (bool, error) {
	cv, ok, err := coerceTo(v, t, ts)
	if err != nil || !ok {
		return false, err
	}
	return w.any(cv), nil
}

// text appends a string value, as value does.
func (w *objectWriter) text(x string, t colType, ts *timeParser) (bool, error) {
	switch t {
	case typeAsRead, typeString:
		w.buf = sink.AppendString(w.buf, x)
		return true, nil
	case typeInt:
		s := strings.TrimSpace(x)
		if s == "" {
			return false, nil
		}
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			w.buf = strconv.AppendInt(w.buf, i, 10)
			return true, nil
		}
	case typeFloat:
		s := strings.TrimSpace(x)
		if s == "" {
			return false, nil
		}
		if plainDecimal(s) {
			w.buf = append(w.buf, s...)
			return true, nil
		}
		if isDecimal(s) {
			if f, err := strconv.ParseFloat(s, 64); err == nil {
				return w.float(f), nil
			}
		}
	case typeBool:
		cv, ok, err := coerceString(x, t)
		if err != nil || !ok {
			return false, err
		}
		w.buf = strconv.AppendBool(w.buf, cv.(bool))
		return true, nil
	}
	return w.coerced(x, t, ts)
}

// raw appends a JSON value, as value does.
func (w *objectWriter) raw(x json.RawMessage, t colType, ts *timeParser) (bool, error) {
	if t == typeAsRead {
		if rawNull(x) {
			return false, nil
		}
		return w.rawText(x), nil
	}
	// A JSON number declared float or json, or an integer declared
	// int, keeps its text.
	if k := rawKind(x); isNumberKind(k) && (t == typeFloat || t == typeJSON ||
		t == typeInt && bytes.IndexAny(x, ".eE") < 0) {
		return w.rawText(x), nil
	}
	return w.coerced(x, t, ts)
}

// rawText appends JSON text with sink.AppendRaw.
func (w *objectWriter) rawText(x json.RawMessage) bool {
	return w.keep(sink.AppendRaw(w.buf, x))
}

// float appends a float64 as the sink writes it; a NaN or an infinity is
// left to the sink.
func (w *objectWriter) float(f float64) bool {
	return w.keep(sink.AppendFloat(w.buf, f))
}

// any appends a value with sink.AppendValue.
func (w *objectWriter) any(v any) bool {
	return w.keep(sink.AppendValue(w.buf, v))
}

// keep takes what a sink encoder appended to w.buf, or, when it refused
// the value, sets fallback so that the object is built as sink.Fields and
// the sink names the cause. It reports that the value is present.
func (w *objectWriter) keep(b []byte, err error) bool {
	if err != nil {
		w.fallback = true
		return true
	}
	w.buf = b
	return true
}

// isNumberKind reports whether a JSON text starting with k is a number.
func isNumberKind(k byte) bool {
	return k == '-' || k >= '0' && k <= '9'
}

// objectJSON appends object o of the message as JSON text to buf; it is
// object written as the sink encodes it. It reports whether the object has
// members, and fallback when it must be built with object instead.
func (m *specMapper) objectJSON(c *rowCtx, o int, rowRest bool, buf []byte) (out []byte, has, fallback bool, err error) {
	p := &m.objects[o]
	if len(p.nodes) == 0 && p.from == nil && !rowRest {
		return buf, false, false, nil
	}
	row := c.row
	start := len(buf)
	w := objectWriter{buf: append(buf, '{')}
	n := 0
	for _, nd := range p.nodes {
		if !nd.fromValues {
			if n, err = m.nodeJSON(c, o, &w, nd, n, true); err != nil || w.fallback {
				return buf[:start], false, w.fallback, err
			}
		}
	}
	switch {
	case p.from != nil:
		if n, err = m.membersJSON(c, o, &w, n); err != nil || w.fallback {
			return buf[:start], false, w.fallback, err
		}
	case rowRest && m.schemaless:
		shape := p.shapeOf(row.Names)
		for i, name := range row.Names {
			r := &shape.rules[i]
			if r.skip || i >= len(row.Values) {
				continue
			}
			var mark int
			if r.qkey != "" {
				mark = w.open(n, r.qkey)
			} else {
				mark = w.openKey(n, r.key)
			}
			present, err := w.valueAt(row, i, r.typ, r.ts)
			if err != nil {
				return buf[:start], false, false, fieldError(row, objectNames[o]+"."+r.key, name, row.Value(i), sink.ReasonInvalidValue,
					fmt.Errorf("declared %s: %w", r.typ, err))
			}
			if w.fallback {
				return buf[:start], false, true, nil
			}
			if !present {
				w.buf = w.buf[:mark]
				continue
			}
			n++
			w.library = w.library || r.key == "library"
		}
	case rowRest:
		for i := range p.remaining {
			mb := &p.remaining[i]
			if mb.idx >= len(row.Values) {
				continue
			}
			mark := w.open(n, mb.qkey)
			present, err := w.valueAt(row, mb.idx, mb.typ, mb.ts)
			if err != nil {
				return buf[:start], false, false, fieldError(row, objectNames[o]+"."+mb.key, row.Names[mb.idx], row.Value(mb.idx), sink.ReasonInvalidValue,
					fmt.Errorf("declared %s: %w", mb.typ, err))
			}
			if w.fallback {
				return buf[:start], false, true, nil
			}
			if !present {
				w.buf = w.buf[:mark]
				continue
			}
			n++
			w.library = w.library || mb.key == "library"
		}
	}
	for _, nd := range p.nodes {
		if nd.fromValues {
			if n, err = m.nodeJSON(c, o, &w, nd, n, true); err != nil || w.fallback {
				return buf[:start], false, w.fallback, err
			}
		}
	}
	if n == 0 {
		return buf[:start], false, false, nil
	}
	if o == objContext && !w.library {
		w.buf = append(w.buf, ',')
		w.buf = sink.AppendLibrary(w.buf)
	}
	return append(w.buf, '}'), true, false, nil
}

// nodeJSON appends an explicit member after the n members before it, as
// appendNode does, and returns the count with it.
func (m *specMapper) nodeJSON(c *rowCtx, o int, w *objectWriter, nd *keyNode, n int, top bool) (int, error) {
	mark := w.open(n, nd.qkey)
	switch {
	case nd.col != nil:
		var present bool
		var err error
		if i := c.index(nd.col); i >= 0 {
			present, err = w.valueAt(c.row, i, nd.col.typ, nd.col.ts)
		} else {
			present, err = w.value(c.get(nd.col), nd.col.typ, nd.col.ts)
		}
		if err != nil {
			return n, fieldError(c.row, objectNames[o]+"."+nd.path, nd.col.name, c.get(nd.col), sink.ReasonInvalidValue,
				fmt.Errorf("declared %s: %w", nd.col.typ, err))
		}
		if !present || w.fallback {
			w.buf = w.buf[:mark]
			return n, nil
		}
	case nd.children == nil:
		w.buf = append(w.buf, nd.valueJSON...)
	default:
		w.buf = append(w.buf, '{')
		k := 0
		for _, ch := range nd.children {
			var err error
			if k, err = m.nodeJSON(c, o, w, ch, k, false); err != nil || w.fallback {
				return n, err
			}
		}
		if k == 0 {
			w.buf = w.buf[:mark]
			return n, nil
		}
		w.buf = append(w.buf, '}')
	}
	if top && nd.key == "library" {
		w.library = true
	}
	return n + 1, nil
}

// membersJSON appends the remaining members of the object's from column,
// as appendMembers does.
func (m *specMapper) membersJSON(c *rowCtx, o int, w *objectWriter, n int) (int, error) {
	p := &m.objects[o]
	v := c.get(p.from)
	if isNull(v) || blank(v) {
		return n, nil
	}
	isObj, err := eachMember(c, p.from, v, func(key string, mv any) error {
		r, ok := p.rule(key)
		if !ok {
			return nil
		}
		var mark int
		if r.qkey != "" {
			mark = w.open(n, r.qkey)
		} else {
			mark = w.openKey(n, r.key)
		}
		present, err := w.value(mv, r.typ, r.ts)
		if err != nil {
			return fieldError(c.row, objectNames[o]+"."+r.key, p.from.name+"."+key, mv, sink.ReasonInvalidValue,
				fmt.Errorf("declared %s: %w", r.typ, err))
		}
		if w.fallback {
			return errFallback
		}
		if !present {
			w.buf = w.buf[:mark]
			return nil
		}
		n++
		w.library = w.library || r.key == "library"
		return nil
	})
	if err == errFallback {
		return n, nil
	}
	if err != nil {
		return n, err
	}
	if !isObj {
		return n, fieldError(c.row, objectNames[o], p.from.name, v, sink.ReasonInvalidValue, errNotObjectColumn)
	}
	return n, nil
}

// errFallback stops eachMember when the object falls back to sink.Fields.
var errFallback = errors.New("fall back to sink.Fields")

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
// lookup per column.
type rowShape struct {
	names []string
	rules []remainingRule // skip for a column that is not among the remaining ones
}

// shapeOf returns the rules for the columns names, from the last shape
// seen when the names are the same.
func (p *objectPlan) shapeOf(names []string) *rowShape {
	if sh := p.shape.Load(); sh != nil && slices.Equal(sh.names, names) {
		return sh
	}
	sh := &rowShape{names: slices.Clone(names), rules: make([]remainingRule, len(names))}
	for i, name := range names {
		r, ok := p.rule(name)
		switch {
		case !ok:
			r = remainingRule{skip: true}
		case r.qkey == "":
			r.qkey = quotedKey(r.key)
		}
		sh.rules[i] = r
	}
	p.shape.Store(sh)
	return sh
}
