package importer

import (
	"bufio"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// moduleRoot and modulePath locate the module's sources from this package.
const (
	moduleRoot = ".."
	modulePath = "github.com/backfillhq/backfill"
	// sharedReasons is the package that holds the reasons both readers and
	// sink detect; every exported constant in it is a reason.
	sharedReasons = modulePath + "/internal/reason"
)

// reasonConst is an exported reject-reason constant of some package.
type reasonConst struct {
	pkg, name string // import path and constant name
	where     string // file:line
	spelling  string // the literal, if the constant defines it
	// ref is the package and name of the constant this one repeats, if its
	// value is another constant rather than a literal.
	ref [2]string
}

// TestRejectReasons checks that every reject reason is defined once: each
// spelling is written as a literal in exactly one constant of the module's
// code, a constant that repeats a reason of another package refers to it
// instead of spelling it again, every reason constant has a doc comment,
// and the README's table of reasons lists exactly the spellings the code
// defines.
func TestRejectReasons(t *testing.T) {
	consts, literals := scanReasons(t)
	byKey := make(map[[2]string]*reasonConst)
	for _, c := range consts {
		byKey[[2]string{c.pkg, c.name}] = c
	}
	defined := make(map[string]*reasonConst) // spelling → its one definition
	for _, c := range consts {
		if c.spelling == "" {
			continue
		}
		if d, dup := defined[c.spelling]; dup {
			t.Errorf("%q is defined twice: %s.%s (%s) and %s.%s (%s)", c.spelling, d.pkg, d.name, d.where, c.pkg, c.name, c.where)
			continue
		}
		defined[c.spelling] = c
	}
	if len(defined) < 10 {
		t.Fatalf("found %d reasons in the sources, want them all: is moduleRoot right?", len(defined))
	}
	for _, c := range consts {
		if c.spelling != "" {
			continue
		}
		d := c
		for hops := 0; d != nil && d.spelling == "" && hops < 5; hops++ {
			d = byKey[d.ref]
		}
		if d == nil || d.spelling == "" {
			t.Errorf("%s.%s (%s) refers to %s.%s, which defines no reason", c.pkg, c.name, c.where, c.ref[0], c.ref[1])
		}
	}
	for spelling, where := range literals {
		if len(where) != 1 {
			t.Errorf("the reason %q is written %d times (%s); write it once, in its constant, and refer to that", spelling, len(where), strings.Join(where, ", "))
		}
	}

	table := readmeReasons(t, filepath.Join(moduleRoot, "README.md"))
	for _, s := range table {
		if defined[s] == nil {
			t.Errorf("the README lists %q, which no constant defines", s)
		}
	}
	for s, c := range defined {
		if !slices.Contains(table, s) {
			t.Errorf("the README's table of reject reasons lacks %q (%s.%s)", s, c.pkg, c.name)
		}
	}
}

// scanReasons parses the module's non-test Go files and returns its
// reason constants and, for each reason spelling, where it is written as
// a string literal.
func scanReasons(t *testing.T) ([]*reasonConst, map[string][]string) {
	t.Helper()
	fset := token.NewFileSet()
	var files []*ast.File
	pkgOf := make(map[*ast.File]string)
	err := filepath.WalkDir(moduleRoot, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != moduleRoot && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(moduleRoot, filepath.Dir(p))
		if err != nil {
			return err
		}
		pkgOf[f] = path.Join(modulePath, filepath.ToSlash(rel))
		files = append(files, f)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	var consts []*reasonConst
	for _, f := range files {
		pkg := pkgOf[f]
		imports := make(map[string]string) // name in the file → import path
		for _, im := range f.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			name := path.Base(p)
			if im.Name != nil {
				name = im.Name.Name
			}
			imports[name] = p
		}
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				doc := vs.Doc
				if doc == nil && !gd.Lparen.IsValid() {
					doc = gd.Doc
				}
				for i, id := range vs.Names {
					if !id.IsExported() || !strings.HasPrefix(id.Name, "Reason") && pkg != sharedReasons {
						continue
					}
					c := &reasonConst{pkg: pkg, name: id.Name, where: fset.Position(id.Pos()).String()}
					if doc == nil || !strings.HasPrefix(doc.Text(), id.Name+" ") {
						t.Errorf("%s.%s (%s) has no doc comment starting with its name", pkg, id.Name, c.where)
					}
					if i >= len(vs.Values) {
						t.Errorf("%s.%s (%s) has no value of its own", pkg, id.Name, c.where)
						continue
					}
					switch v := vs.Values[i].(type) {
					case *ast.BasicLit:
						if v.Kind == token.STRING {
							c.spelling, _ = strconv.Unquote(v.Value)
						}
					case *ast.Ident:
						c.ref = [2]string{pkg, v.Name}
					case *ast.SelectorExpr:
						if x, ok := v.X.(*ast.Ident); ok {
							c.ref = [2]string{imports[x.Name], v.Sel.Name}
						}
					}
					if c.spelling == "" && c.ref == ([2]string{}) {
						t.Errorf("%s.%s (%s) is neither a string literal nor another reason constant", pkg, id.Name, c.where)
						continue
					}
					consts = append(consts, c)
				}
			}
		}
	}

	spellings := make(map[string]bool)
	for _, c := range consts {
		if c.spelling != "" {
			spellings[c.spelling] = true
		}
	}
	literals := make(map[string][]string)
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil && spellings[s] {
					literals[s] = append(literals[s], fset.Position(lit.Pos()).String())
				}
			}
			return true
		})
	}
	return consts, literals
}

// readmeReasons returns the first column of the README's table of reject
// reasons, in its order.
func readmeReasons(t *testing.T, readme string) []string {
	t.Helper()
	f, err := os.Open(readme)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	row := regexp.MustCompile("^\\| `([a-z0-9_]+)` \\|(.*)\\|(.*)\\|$")
	var out []string
	in, header := false, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "### Reject reasons":
			in = true
		case !in:
		case strings.HasPrefix(line, "#"):
			in = false
		case line == "| reason | what it means | how to fix the row |":
			header = true
		case header && strings.HasPrefix(line, "|") && !strings.HasPrefix(line, "|---"):
			m := row.FindStringSubmatch(line)
			if m == nil || strings.TrimSpace(m[2]) == "" || strings.TrimSpace(m[3]) == "" {
				t.Errorf("README: reject reasons row %q: want | `reason` | what it means | how to fix the row |", line)
				continue
			}
			if slices.Contains(out, m[1]) {
				t.Errorf("README lists %q twice", m[1])
			}
			out = append(out, m[1])
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if !header {
		t.Fatal(`README has no "### Reject reasons" section with a table "| reason | what it means | how to fix the row |"`)
	}
	return out
}
