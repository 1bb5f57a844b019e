package mappings

import (
	"errors"
	"fmt"
	"slices"

	"go.yaml.in/yaml/v3"

	"github.com/backfillhq/backfill/sink"
)

// An object's from may be an expression instead of a column:
//
//	properties:
//	  from: {expr: 'object(event_params, "key", ["value.string_value", "value.int_value"])'}
//
// The object takes the members of the object the expression gives for
// each row, in the order of their keys (null members are left out, as
// are the members an explicit key of the object sets, which collide with
// them); a row for which it gives null has none, and one for which it
// gives anything but an object is a reject (ReasonExpression). The
// columns it reads are used, as a from column is. Exclude and rename
// patterns of the object apply to the keys of the members; plain names in
// exclude are refused, since they name columns.

// exprContainer stands, in remainingRules, for the object an expression
// gives: no column's name starts with it.
const exprContainer = "\x00expr"

// fromExpr parses from: {expr: …}.
func (p *specParser) fromExpr(n *yaml.Node, path string) (*exprSpec, error) {
	if len(n.Content) != 2 || n.Content[0].Value != "expr" {
		return nil, p.errorf(n, path, "want a column, or {expr: …} for an object computed from the row")
	}
	return p.parseExpr(resolve(n.Content[1]), path)
}

var errNotObjectResult = errors.New("gives no object, so from: cannot take its members")

// writeExprMembers writes the members of the object that the object's
// from expression gives for the row.
func (m *specMapper) writeExprMembers(c *rowCtx, o int, w *sink.MessageWriter) error {
	p := &m.objects[o]
	v, err := p.fromExpr.eval(c)
	if err != nil {
		return p.fromExpr.fail(c.row, err)
	}
	if v == nil {
		return nil
	}
	obj, ok := stringKeys(v).(map[string]any)
	if !ok {
		return p.fromExpr.fail(c.row, fmt.Errorf("%w (it gives %s)", errNotObjectResult, typeName(v)))
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, key := range keys {
		text, present, err := resultJSON(obj[key])
		if err != nil {
			return p.fromExpr.fail(c.row, fmt.Errorf("member %q: %w", key, err))
		}
		if !present {
			continue
		}
		r, ok := p.rule(key)
		if !ok {
			if r.owner != nil {
				return collisionReject(c.row, o, key, key, obj[key], r.owner)
			}
			continue
		}
		w.KeyString(r.key)
		w.Literal(text)
	}
	return nil
}

// stringKeys returns v with the objects that expr's fromPairs makes
// (map[any]any) as objects with text keys, at any depth; a key that is
// not a text is its decimal text. Other values are returned as they are.
func stringKeys(v any) any {
	switch x := v.(type) {
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			s, ok := k.(string)
			if !ok {
				s = fmt.Sprint(k)
			}
			out[s] = stringKeys(e)
		}
		return out
	case map[string]any:
		for k, e := range x {
			if n := stringKeys(e); replaced(e) {
				x[k] = n
			}
		}
	case []any:
		for i, e := range x {
			if n := stringKeys(e); replaced(e) {
				x[i] = n
			}
		}
	}
	return v
}

// replaced reports whether stringKeys returns another value than v, which
// it changes in place otherwise: only maps of any keys are replaced.
func replaced(v any) bool {
	_, ok := v.(map[any]any)
	return ok
}
