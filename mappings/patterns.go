package mappings

import (
	"fmt"
	"path"
	"strings"

	"go.yaml.in/yaml/v3"
)

// A name in include, exclude or a key of rename that holds *, ? or [ is a
// pattern (a glob: * is any run of characters, ? one, [a-z] one of a
// class) that stands for every column whose name it matches: "utm_*",
// "$mp_*". With a header (CSV, Parquet) a pattern that matches none of
// its columns is an error of Compile, as a column the file lacks is.

// globPattern is a pattern of include, exclude or rename, with the line
// of the spec that gives it.
type globPattern struct {
	pattern string
	line    int
	path    string // the spec key: "properties.exclude"
	// to is, for rename, the key a matching column gets: its * stands for
	// what the pattern's one * matched.
	to string
}

// match reports whether name matches the pattern.
func (g *globPattern) match(name string) bool {
	ok, err := path.Match(g.pattern, name)
	return err == nil && ok
}

// renamed returns the key a column that matches a rename pattern gets.
func (g *globPattern) renamed(name string) string {
	star := strings.IndexByte(g.pattern, '*')
	prefix, suffix := g.pattern[:star], g.pattern[star+1:]
	return strings.Replace(g.to, "*", name[len(prefix):len(name)-len(suffix)], 1)
}

// isGlob reports whether a name in include, exclude or rename is a
// pattern.
func isGlob(s string) bool { return strings.ContainsAny(s, "*?[") }

// globEntry parses a pattern of include or exclude.
func (p *specParser) globEntry(n *yaml.Node, path, s string) (globPattern, error) {
	if err := checkGlob(s); err != nil {
		return globPattern{}, p.errorf(n, path, "pattern %q: %v", s, err)
	}
	return globPattern{pattern: s, line: n.Line, path: path}, nil
}

// globRename parses a rename whose key is a pattern: it has one * and no
// other pattern characters, and its target is a flat key with one *.
func (p *specParser) globRename(k, v *yaml.Node, path, to string) (globPattern, error) {
	from := k.Value
	if strings.Count(from, "*") != 1 || strings.ContainsAny(from, "?[") {
		return globPattern{}, p.errorf(k, path, "pattern %q: a rename pattern has exactly one * (and no ? or [)", from)
	}
	if strings.Count(to, "*") != 1 {
		return globPattern{}, p.errorf(v, path, "pattern %q is renamed to %q: the new key needs one * for the part the pattern's * matched", from, to)
	}
	if strings.Contains(to, ".") {
		return globPattern{}, p.errorf(v, path, "pattern %q is renamed to %q: a pattern renames to a flat key, without dots", from, to)
	}
	g, err := p.globEntry(k, path, from)
	g.to = to
	return g, err
}

// checkGlob reports a malformed pattern (a parameter named path hides the
// package where patterns are parsed).
func checkGlob(pattern string) error {
	_, err := path.Match(pattern, "")
	return err
}

// objectGlobs are the patterns that apply to the remaining columns an
// object takes: the exclude patterns of every object, and the object's
// rename patterns.
type objectGlobs struct {
	exclude []globPattern
	rename  []globPattern
}

// rule applies the patterns to a remaining column whose rule (r, found in
// the object's rules if had) does not skip it.
func (g *objectGlobs) rule(name string, r remainingRule, had bool) (remainingRule, bool) {
	for i := range g.exclude {
		if g.exclude[i].match(name) {
			return remainingRule{skip: true}, false
		}
	}
	if !had {
		r = remainingRule{key: name}
	}
	if r.key == name {
		for i := range g.rename {
			if g.rename[i].match(name) {
				r.key, r.keyed = g.rename[i].renamed(name), false
				break
			}
		}
	}
	return r, true
}

// checkGlobs refuses, against a header, a pattern that matches none of
// its columns; the patterns of an object with from match the members of
// that column, which a header does not show.
func checkGlobs(s *Spec, schema []string) error {
	for _, obj := range s.objects {
		if obj == nil || obj.from != "" || obj.fromExpr != nil {
			continue // its patterns match the members of its from column
		}
		for _, list := range [][]globPattern{obj.includeGlobs, obj.excludeGlobs, obj.renameGlobs} {
			for _, g := range list {
				if !matchesAny(&g, schema) {
					return fmt.Errorf("%s:%d: %s: pattern %q matches no column of the file (columns: %s)",
						s.name, g.line, g.path, g.pattern, columnList(schema))
				}
			}
		}
	}
	return nil
}

func matchesAny(g *globPattern, names []string) bool {
	for _, n := range names {
		if g.match(n) {
			return true
		}
	}
	return false
}

// expandInclude returns the columns of the header that the include
// patterns of obj add to its include list, in the header's order: not
// those the list names already, nor those excluded.
func expandInclude(s *Spec, obj *objectSpec, schema []string) []string {
	var out []string
	for _, name := range schema {
		if indexOf(obj.include, name) >= 0 || indexOf(out, name) >= 0 {
			continue
		}
		in := false
		for i := range obj.includeGlobs {
			if obj.includeGlobs[i].match(name) {
				in = true
				break
			}
		}
		if in && !excludedByGlob(s, name) {
			out = append(out, name)
		}
	}
	return out
}

// excludedByGlob reports whether an exclude pattern of an object that
// takes the row's columns (not the members of a from column) matches the
// column name.
func excludedByGlob(s *Spec, name string) bool {
	for _, g := range allExcludeGlobs(s, "") {
		if g.match(name) {
			return true
		}
	}
	return false
}

// allExcludeGlobs returns the exclude patterns of the objects whose
// remaining members come from the column from ("": the row's columns),
// or nil: a pattern applies where a plain exclude of its object does, not
// to the members of another container.
func allExcludeGlobs(s *Spec, from string) []globPattern {
	var out []globPattern
	for _, o := range s.objects {
		if o != nil && o.from == from && o.fromExpr == nil {
			out = append(out, o.excludeGlobs...)
		}
	}
	return out
}

// includeByGlob adds to the explicit members of object o the columns of
// the header its include patterns match, each under its name or the key
// a rename pattern gives it. A key that a member of the object has
// already is an error: one of the two values would be lost.
func includeByGlob(s *Spec, o int, obj *objectSpec, schema []string, rc *refCompiler, nodes []*keyNode, claimed map[string]bool) ([]*keyNode, error) {
	keys := map[string]string{}
	for _, nd := range nodes {
		keys[nd.key] = nd.path
	}
	for _, c := range expandInclude(s, obj, schema) {
		key := c
		for i := range obj.renameGlobs {
			if obj.renameGlobs[i].match(c) {
				key = obj.renameGlobs[i].renamed(c)
				break
			}
		}
		if prev, ok := keys[key]; ok {
			g := obj.includeGlobs[0]
			return nil, fmt.Errorf("%s:%d: %s.include: column %q, which a pattern includes, goes under the key %q, which %q has already",
				s.name, g.line, objectNames[o], c, key, prev)
		}
		keys[key] = c
		ref := rc.ref(c)
		nodes = addNode(nodes, []string{key}, &keyNode{col: &ref}, false)
		claimed[c] = true
	}
	return nodes, nil
}
