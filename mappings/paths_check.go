package mappings

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/backfillhq/backfill/internal/textdist"
	"github.com/backfillhq/backfill/readers"
	"go.yaml.in/yaml/v3"
)

// A mapping that names a column the data does not have maps every row
// without it, silently: a typo in `userId: usr_id` loses every userId. The
// paths a spec names are therefore checked against the data before
// anything is sent: against the header or schema by Compile (CSV,
// Parquet), and against the rows read by a PathObserver (NDJSON, whose
// rows carry their own keys). A path that is sparse on purpose is listed
// under the spec's `optional:` key, or marked `optional: true` where a
// field names it (`userId: {column: uid, optional: true}`).

// NamedPath is one place where a spec names a column, or a path into one.
type NamedPath struct {
	Column   string // as the spec writes it: "user_id", "properties.$city"
	Field    string // the spec key that names it: "userId", "properties.include"
	Line     int    // the line of the spec that names it
	Optional bool   // listed under optional: it may occur in no row
}

// Paths returns every place the spec names a column or a path (ids,
// event, type, timestamp, templates, columns:, include, exclude, rename,
// from), in the spec's order, each with whether the spec lists it under
// optional. A passthrough spec names none.
func (s *Spec) Paths() []NamedPath {
	out := make([]NamedPath, 0, len(s.uses))
	for _, u := range s.uses {
		_, opt := s.optional[u.column]
		out = append(out, NamedPath{Column: u.column, Field: u.path, Line: u.line, Optional: opt})
	}
	return out
}

// parseOptional parses the list of columns (and paths) that may occur in
// no row.
func (p *specParser) parseOptional(n *yaml.Node) error {
	if n.Kind != yaml.SequenceNode {
		return p.errorf(n, "optional", "want a list of columns, not %s", nodeKind(n))
	}
	listed := make(map[string]bool, len(n.Content))
	for _, c := range n.Content {
		c = resolve(c)
		name, err := p.column(c, "optional")
		if err != nil {
			return err
		}
		if listed[name] {
			return p.errorf(c, "optional", "column %q is listed twice", name)
		}
		listed[name] = true
		p.markOptional([]string{name}, c.Line)
	}
	return nil
}

// optionalMember takes the member "optional" (true or false) out of the
// members of a field's mapping, as in `userId: {column: uid, optional:
// true}`, and returns the others and, when it is true, its value's node.
func (p *specParser) optionalMember(ms [][2]*yaml.Node, path string) ([][2]*yaml.Node, *yaml.Node, error) {
	for i, m := range ms {
		if m[0].Value != "optional" {
			continue
		}
		v := resolve(m[1])
		if v.Kind != yaml.ScalarNode || (v.Value != "true" && v.Value != "false") {
			return nil, nil, p.errorf(v, path+".optional", "want true or false, not %s", nodeKind(v))
		}
		rest := slices.Delete(slices.Clone(ms), i, i+1)
		if v.Value == "false" {
			return rest, nil, nil
		}
		return rest, v, nil
	}
	return ms, nil, nil
}

// markOptional records columns as ones that may occur in no row, either
// listed under optional: or marked optional: true where a field names
// them; line is where the spec says so.
func (p *specParser) markOptional(columns []string, line int) {
	if p.spec.optional == nil {
		p.spec.optional = make(map[string]int, len(columns))
	}
	for _, c := range columns {
		if _, ok := p.spec.optional[c]; !ok {
			p.spec.optional[c] = line
		}
	}
}

// checkOptional refuses an optional column that the spec names nowhere
// else: a typo there would exempt nothing.
func (p *specParser) checkOptional() error {
	s := p.spec
	if len(s.optional) == 0 {
		return nil
	}
	named := make(map[string]bool, len(s.uses))
	for _, u := range s.uses {
		named[u.column] = true
	}
	names := make([]string, 0, len(s.optional))
	for name := range s.optional {
		names = append(names, name)
	}
	slices.SortFunc(names, func(a, b string) int { return s.optional[a] - s.optional[b] })
	for _, name := range names {
		if !named[name] {
			return fmt.Errorf("%s:%d: optional: column %q is not named anywhere else in the mapping", s.name, s.optional[name], name)
		}
	}
	return nil
}

// MissingPath is a column (or path) the spec names that occurs in none of
// the rows observed.
type MissingPath struct {
	NamedPath
	// Suggestion is the closest column (or path) that does occur, when
	// one is close enough to be a likely meaning; else "".
	Suggestion string
}

// MissingPathsError says which columns (or paths) the spec names occur in
// none of the rows read, each with a suggestion where one is close.
type MissingPathsError struct {
	Spec    string // the spec's name
	Rows    int    // rows observed
	Missing []MissingPath
}

// Error lists each missing column on its own line:
// `events.yaml:2: userId: column "usr_id" occurs in none of the 2 rows read; did you mean "user_id"?`.
func (e *MissingPathsError) Error() string {
	var b strings.Builder
	for i, m := range e.Missing {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%s:%d: %s: column %q occurs in none of the %s read", e.Spec, m.Line, m.Field, m.Column, rowsText(e.Rows))
		if m.Suggestion != "" {
			fmt.Fprintf(&b, "; did you mean %q?", m.Suggestion)
		}
	}
	return b.String()
}

func rowsText(n int) string {
	if n == 1 {
		return "1 row"
	}
	return strconv.Itoa(n) + " rows"
}

// maxCandidates bounds the keys a PathObserver keeps for suggestions, per
// level looked at.
const maxCandidates = 1000

// PathObserver records which of the columns (and paths) a spec names occur
// in the rows it is shown, and the keys that do occur near the ones that
// do not, for suggestions. It looks only at the paths not yet seen, so a
// row costs little once every path has been; it is meant for the first
// rows of an input, not every row. It is not safe for concurrent use.
type PathObserver struct {
	spec  *Spec
	rows  int
	paths []*observedPath
	left  int // paths not seen yet
	// top are the top-level column names seen, for suggestions.
	top       map[string]bool
	lastNames []string
}

// observedPath is one distinct column the spec names, with the first place
// that names it.
type observedPath struct {
	NamedPath
	ref        colRef
	seen       bool
	candidates map[string]bool // paths that occur where this one breaks off
}

// NewPathObserver returns an observer of the columns the spec names that
// are not optional, for rows without a schema (NDJSON).
func (s *Spec) NewPathObserver() *PathObserver {
	o := &PathObserver{spec: s, top: map[string]bool{}}
	rc := newRefCompiler(s, nil)
	done := map[string]bool{}
	for _, np := range s.Paths() {
		if np.Optional || done[np.Column] {
			continue
		}
		done[np.Column] = true
		o.paths = append(o.paths, &observedPath{NamedPath: np, ref: rc.ref(np.Column), candidates: map[string]bool{}})
	}
	o.left = len(o.paths)
	return o
}

// Rows returns the number of rows observed.
func (o *PathObserver) Rows() int { return o.rows }

// Observe records the columns and paths that occur in row.
func (o *PathObserver) Observe(row *readers.Row) {
	o.rows++
	if o.left == 0 {
		return
	}
	names := row.Names()
	if !slices.Equal(names, o.lastNames) {
		o.lastNames = slices.Clone(names)
		for _, n := range names {
			if len(o.top) < maxCandidates {
				o.top[n] = true
			}
		}
	}
	for _, p := range o.paths {
		if p.seen {
			continue
		}
		if occurs(row, p) {
			p.seen = true
			o.left--
		}
	}
}

// occurs reports whether the path occurs in the row (with any value, null
// included), and else notes the keys where it breaks off.
func occurs(row *readers.Row, p *observedPath) bool {
	for i := range p.ref.splits {
		sp := &p.ref.splits[i]
		j := row.Index(sp.top)
		if j < 0 {
			continue
		}
		if len(sp.path) == 0 {
			return true
		}
		v := row.Value(j)
		for k, step := range sp.path {
			next := lookupPath(v, []string{step})
			if next == nil && !hasNullMember(v, step) {
				if len(p.candidates) < maxCandidates {
					prefix := sp.top
					if k > 0 {
						prefix += "." + strings.Join(sp.path[:k], ".")
					}
					rest := ""
					if k+1 < len(sp.path) {
						rest = "." + strings.Join(sp.path[k+1:], ".")
					}
					for _, key := range memberKeys(v) {
						p.candidates[prefix+"."+key+rest] = true
					}
				}
				return false
			}
			v = next
		}
		return true
	}
	return false
}

// hasNullMember reports whether v is an object with a null member key
// (lookupPath reads a Go map's nil value as absent).
func hasNullMember(v any, key string) bool {
	m, ok := v.(map[string]any)
	if !ok {
		return false
	}
	_, has := m[key]
	return has
}

// memberKeys returns the keys of an object value, or none.
func memberKeys(v any) []string {
	if m, ok := v.(map[string]any); ok {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		return keys
	}
	raw := objectText(v)
	if raw == nil {
		return nil
	}
	ms, _ := splitMembers(raw)
	keys := make([]string, len(ms))
	for i := range ms {
		keys[i] = ms[i].key
	}
	return keys
}

// Err returns a *MissingPathsError listing every column (or path) that is
// not optional and occurred in none of the rows observed, or nil if all
// did, or if no row was observed (there is nothing to judge by).
func (o *PathObserver) Err() error {
	if o.left == 0 || o.rows == 0 {
		return nil
	}
	e := &MissingPathsError{Spec: o.spec.name, Rows: o.rows}
	for _, p := range o.paths {
		if p.seen {
			continue
		}
		cands := p.candidates
		if len(cands) == 0 || !strings.Contains(p.Column, ".") {
			cands = o.top
		}
		e.Missing = append(e.Missing, MissingPath{NamedPath: p.NamedPath, Suggestion: closest(p.Column, cands)})
	}
	// Where a path breaks off at the top, the top-level names are the
	// candidates, with the rest of the path after them.
	for i := range e.Missing {
		m := &e.Missing[i]
		if m.Suggestion != "" || !strings.Contains(m.Column, ".") {
			continue
		}
		first, rest, _ := strings.Cut(m.Column, ".")
		if o.top[first] {
			continue
		}
		if s := closest(first, o.top); s != "" {
			m.Suggestion = s + "." + rest
		}
	}
	return e
}

// closest returns the candidate nearest to name by edit distance (ignoring
// case), if it is near enough to be a likely typo: at most a third of the
// length of the part of name that differs, and at most 3 edits. Ties go to
// the first in sorted order.
func closest(name string, candidates map[string]bool) string {
	best, bestD := "", -1
	lname := strings.ToLower(name)
	for c := range candidates {
		if c == name {
			continue
		}
		d := textdist.Distance(lname, strings.ToLower(c))
		if bestD < 0 || d < bestD || d == bestD && c < best {
			best, bestD = c, d
		}
	}
	if bestD < 0 || bestD > maxEdits(name, best) {
		return ""
	}
	return best
}

// maxEdits is how many edits make a near miss: a third of the length of
// the differing part, at least 1, at most 3.
func maxEdits(a, b string) int {
	// Leave out the common prefix and suffix, so that a long shared
	// parent ("properties.") does not allow more edits.
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	// Back up to the start of the step, so the step's whole length counts.
	for i > 0 && a[i-1] != '.' {
		i--
	}
	a, b = a[i:], b[i:]
	j := 0
	for j < len(a) && j < len(b) && a[len(a)-1-j] == b[len(b)-1-j] {
		j++
	}
	for j > 0 && a[len(a)-j] != '.' {
		j--
	}
	n := max(len(a), len(b)) - j
	return min(3, max(1, n/3))
}

// schemaSuggestion returns `; did you mean "x"?` for a column the schema
// lacks when a column of it is close, else "".
func schemaSuggestion(column string, schema []string) string {
	cands := make(map[string]bool, len(schema))
	for _, c := range schema {
		cands[c] = true
	}
	s := closest(column, cands)
	if s == "" && strings.Contains(column, ".") {
		first, rest, _ := strings.Cut(column, ".")
		if f := closest(first, cands); f != "" {
			s = f + "." + rest
		}
	}
	if s == "" {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", s)
}
