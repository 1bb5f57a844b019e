package mappings

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"github.com/backfillhq/backfill/internal/jsontext"
	"github.com/backfillhq/backfill/readers"
)

// colRef is a column the spec names, or a path into one, as the compiled
// mapper reads it.
type colRef struct {
	name string // as the spec writes it
	// splits are the ways to read name, tried in turn: a top-level column
	// and the path inside its value. With a schema there is exactly one,
	// resolved by Compile; without, the longest top-level name first.
	splits []colSplit
	typ    colType
	ts     *timeParser // typeTimestamp
}

// colSplit is one reading of a column path.
type colSplit struct {
	top  string
	idx  int      // index in the schema; -1 when found by name in each row
	path []string // members inside the top-level value; empty for a plain column
	slot int      // per-row cache of the top-level value's members, or -1
}

// rawMember is a member of a JSON object: its key and its exact text.
type rawMember struct {
	key   string
	value json.RawMessage
}

// splitSlot caches the members of one top-level value for one row.
type splitSlot struct {
	done    bool
	object  bool // the value is an object and members are its members
	members []rawMember
}

// rowCtx is the state of mapping one row: the row, and the members of the
// top-level values that several paths look into, split once.
type rowCtx struct {
	row   *readers.Row
	buf   [2]splitSlot
	extra []splitSlot
}

func (c *rowCtx) init(row *readers.Row, slots int) {
	c.row = row
	if slots > len(c.buf) {
		c.extra = make([]splitSlot, slots-len(c.buf))
	}
}

func (c *rowCtx) slot(i int) *splitSlot {
	if i < len(c.buf) {
		return &c.buf[i]
	}
	return &c.extra[i-len(c.buf)]
}

// members returns the members of v (the row's top-level value cached in
// slot) if it is an object, splitting it the first time.
func (c *rowCtx) members(slot int, v any) ([]rawMember, bool) {
	s := c.slot(slot)
	if !s.done {
		s.done = true
		if raw := objectText(v); raw != nil {
			s.members, s.object = splitMembers(raw)
		}
	}
	return s.members, s.object
}

// splitMembers returns the members of a JSON object, and false if raw is
// not a valid one.
func splitMembers(raw []byte) ([]rawMember, bool) {
	ms := make([]rawMember, 0, 16)
	err := jsontext.ObjectMembers(raw, func(k string, v json.RawMessage) bool {
		ms = append(ms, rawMember{key: k, value: v})
		return true
	})
	return ms, err == nil
}

// objectText returns the JSON text of an object value: a JSON object, a
// JSON string holding one, or a Go string (a CSV field) holding one. It
// returns nil for anything else.
func objectText(v any) []byte {
	raw := containerText(v)
	if rawKind(raw) != '{' {
		return nil
	}
	return raw
}

// containerText returns the JSON text of an object or array value (see
// objectText), or nil.
func containerText(v any) []byte {
	switch x := v.(type) {
	case json.RawMessage:
		switch rawKind(x) {
		case '{', '[':
			return x
		case '"':
			if s, err := unquote(x); err == nil {
				if k := rawKind([]byte(s)); k == '{' || k == '[' {
					return []byte(s)
				}
			}
		}
	case string:
		if k := firstByte(x); k == '{' || k == '[' {
			return []byte(x)
		}
	}
	return nil
}

func firstByte(s string) byte {
	for i := 0; i < len(s); i++ {
		if !isBlank(s[i]) {
			return s[i]
		}
	}
	return 0
}

// locate returns the split of ref that the row has and the index of its
// top column, or nil if the row has none of them.
func (c *rowCtx) locate(ref *colRef) (*colSplit, int) {
	row := c.row
	for i := range ref.splits {
		sp := &ref.splits[i]
		j := sp.idx
		if j < 0 {
			if j = row.Index(sp.top); j < 0 {
				continue
			}
		}
		return sp, j
	}
	return nil, -1
}

// index returns the index of the row's column that ref reads, when ref
// is a column present in the row rather than a path into one; else -1.
func (c *rowCtx) index(ref *colRef) int {
	sp, j := c.locate(ref)
	if sp == nil || j >= c.row.Len() || len(sp.path) != 0 {
		return -1
	}
	return j
}

// get returns the value of a column or path in the row; nil if the row
// has none.
func (c *rowCtx) get(ref *colRef) any {
	sp, j := c.locate(ref)
	if sp == nil || j >= c.row.Len() {
		return nil
	}
	v := c.row.Value(j)
	if len(sp.path) == 0 {
		return v
	}
	return c.descend(sp, v)
}

// descend looks up a split's path inside v, the value of its top column.
func (c *rowCtx) descend(sp *colSplit, v any) any {
	if sp.slot >= 0 {
		if ms, ok := c.members(sp.slot, v); ok {
			var found json.RawMessage
			for k := range ms {
				if ms[k].key == sp.path[0] {
					found = ms[k].value // the last of duplicate keys counts
				}
			}
			if found == nil {
				return nil
			}
			return lookupPath(found, sp.path[1:])
		}
	}
	return lookupPath(v, sp.path)
}

// lookupPath returns the value at path inside v: members of objects (JSON,
// JSON text or maps) and decimal indexes of arrays. It returns nil where
// the path leads nowhere.
func lookupPath(v any, path []string) any {
	for len(path) > 0 {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[path[0]]; !ok {
				return nil
			}
			path = path[1:]
		case []any:
			n, err := strconv.Atoi(path[0])
			if err != nil || n < 0 || n >= len(x) {
				return nil
			}
			v, path = x[n], path[1:]
		default:
			raw := containerText(v)
			if raw == nil {
				return nil
			}
			r, ok := jsontext.Lookup(raw, path...)
			if !ok {
				return nil
			}
			return r
		}
	}
	return v
}

// eachMember calls fn with the members of an object value, in order (a
// map's in the order of its keys). It reports whether v is an object.
func eachMember(c *rowCtx, ref *colRef, v any, fn func(key string, v any) error) (bool, error) {
	if m, ok := v.(map[string]any); ok {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if err := fn(k, m[k]); err != nil {
				return true, err
			}
		}
		return true, nil
	}
	var (
		ms []rawMember
		ok bool
	)
	if len(ref.splits) == 1 && len(ref.splits[0].path) == 0 && ref.splits[0].slot >= 0 {
		ms, ok = c.members(ref.splits[0].slot, v)
	} else if raw := objectText(v); raw != nil {
		ms, ok = splitMembers(raw)
	}
	if !ok {
		return false, nil
	}
	for i := range ms {
		if err := fn(ms[i].key, ms[i].value); err != nil {
			return true, err
		}
	}
	return true, nil
}

// refCompiler makes colRefs for one schema (or none).
type refCompiler struct {
	index   map[string]int // nil without a schema
	slots   map[string]int // top-level columns whose members are cached
	columns map[string]colDecl
}

// newRefCompiler decides which top-level columns get a per-row cache of
// their members: those that two or more paths look into, and the from
// columns of objects.
func newRefCompiler(s *Spec, index map[string]int) *refCompiler {
	rc := &refCompiler{index: index, slots: map[string]int{}, columns: s.columns}
	count := map[string]int{}
	for _, u := range s.uses {
		parts := strings.Split(u.column, ".")
		for k := 1; k < len(parts); k++ {
			count[strings.Join(parts[:k], ".")]++
		}
	}
	for _, o := range s.objects {
		if o != nil && o.from != "" {
			count[o.from] += 2
		}
	}
	names := make([]string, 0, len(count))
	for name, n := range count {
		if n >= 2 {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for i, name := range names {
		rc.slots[name] = i
	}
	return rc
}

// resolve returns the top-level column and the path inside it that a
// column name stands for in the schema, and false if none does.
func (rc *refCompiler) resolve(name string) (colSplit, bool) {
	if i, ok := rc.index[name]; ok {
		return rc.withSlot(colSplit{top: name, idx: i}), true
	}
	parts := strings.Split(name, ".")
	for k := len(parts) - 1; k >= 1; k-- {
		top := strings.Join(parts[:k], ".")
		if i, ok := rc.index[top]; ok {
			return rc.withSlot(colSplit{top: top, idx: i, path: parts[k:]}), true
		}
	}
	return colSplit{}, false
}

func (rc *refCompiler) withSlot(sp colSplit) colSplit {
	sp.slot = -1
	if i, ok := rc.slots[sp.top]; ok {
		sp.slot = i
	}
	return sp
}

// ref returns the compiled reference to a column name the spec uses.
// With a schema the name resolves (Compile checks every use first) unless
// the spec lists it as optional: a column the schema lacks then has no
// split and no value in any row.
func (rc *refCompiler) ref(name string) colRef {
	d := rc.columns[name]
	r := colRef{name: name, typ: d.typ, ts: d.ts}
	if rc.index != nil {
		if sp, ok := rc.resolve(name); ok {
			r.splits = []colSplit{sp}
		}
		return r
	}
	parts := strings.Split(name, ".")
	r.splits = make([]colSplit, 0, len(parts))
	r.splits = append(r.splits, rc.withSlot(colSplit{top: name, idx: -1}))
	for k := len(parts) - 1; k >= 1; k-- {
		r.splits = append(r.splits, rc.withSlot(colSplit{top: strings.Join(parts[:k], "."), idx: -1, path: parts[k:]}))
	}
	return r
}
