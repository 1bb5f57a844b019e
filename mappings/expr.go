package mappings

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"
	"github.com/zeebo/xxh3"
	"go.yaml.in/yaml/v3"

	"github.com/backfillhq/backfill/readers"
	"github.com/backfillhq/backfill/sink"
)

// ReasonExpression is the reason of a row for which an expression of the
// mapping fails: a function given a value it cannot take, a drop rule
// that gives no bool, a type that is not a message type.
const ReasonExpression = "expression_failed"

// exprSpec is an expression as the spec writes it, compiled to bytecode
// when the spec is parsed.
type exprSpec struct {
	src   string
	line  int    // of the expression's first character in the spec
	col   int    // of the expression's first character in the spec
	path  string // the spec key, such as "userId" or "drop.internal"
	prog  *vm.Program
	names []string // the columns it reads, in order of appearance
	// byIndex is prog reading column names[j] from the machine's
	// variable base+j (columnsAsVariables); nil when prog runs with a
	// map env.
	byIndex *vm.Program
	base    int
}

// exprPlan is an expression compiled for one schema: the columns it reads,
// resolved once.
type exprPlan struct {
	spec *exprSpec
	cols []colRef
}

// dropRule is a named condition: a row it matches is filtered.
type dropRule struct {
	name string
	ex   *exprSpec
}

// dropPlan is a dropRule compiled for a schema.
type dropPlan struct {
	name string
	ex   *exprPlan
}

// FilterError is returned by Map for a row that a drop rule of the spec
// matched. It is ErrFiltered (errors.Is), and names the rule.
type FilterError struct {
	Pos  readers.Position
	Rule string
}

// Error reads "events.csv:12: filtered by drop rule \"internal\"".
func (e *FilterError) Error() string {
	s := "filtered by drop rule " + strconv.Quote(e.Rule)
	if e.Pos != (readers.Position{}) {
		return e.Pos.String() + ": " + s
	}
	return s
}

// Is reports whether target is ErrFiltered.
func (e *FilterError) Is(target error) bool { return target == ErrFiltered }

// FilterRule returns the name of the drop rule that filtered a row, or ""
// when err is not a FilterError (a row outside the time window).
func FilterRule(err error) string {
	var fe *FilterError
	if errors.As(err, &fe) {
		return fe.Rule
	}
	return ""
}

// exprOptions are the options every expression is compiled with: the
// columns are variables whose values are known per row only, the
// functions of the mapping are added, and what reads the clock or
// iterates a map in random order is left out, so that a row maps to the
// same message whenever it is imported.
func exprOptions() []expr.Option {
	opts := []expr.Option{
		// A map env makes each column a direct map lookup (no reflection).
		expr.Env(map[string]any{}),
		expr.AllowUndefinedVariables(),
		expr.DisableBuiltin("now"),
		expr.DisableBuiltin("date"),
		expr.DisableBuiltin("duration"),
		expr.DisableBuiltin("timezone"),
		expr.DisableBuiltin("keys"),
		expr.DisableBuiltin("values"),
		expr.DisableBuiltin("toPairs"),
		expr.DisableBuiltin("lower"),
		expr.DisableBuiltin("upper"),
		expr.DisableBuiltin("trim"),
		expr.DisableBuiltin("split"),
	}
	for _, f := range exprFunctions {
		opts = append(opts, expr.Function(f.name, f.fn))
	}
	return opts
}

// exprFunction is a function expressions may call.
type exprFunction struct {
	name string
	fn   func(args ...any) (any, error)
}

// ExprFunctions lists the names of the functions a mapping's expressions
// may call besides expr's own operators and built-ins, in the order the
// README documents them.
func ExprFunctions() []string {
	out := make([]string, len(exprFunctions))
	for i, f := range exprFunctions {
		out[i] = f.name
	}
	return out
}

var exprFunctions = []exprFunction{
	{"lower", textFunc("lower", strings.ToLower)},
	{"upper", textFunc("upper", strings.ToUpper)},
	{"trim", textFunc("trim", strings.TrimSpace)},
	{"coalesce", fnCoalesce},
	{"sha256", fnSHA256},
	{"xxhash", fnXXHash},
	{"split", fnSplit},
	{"match", fnMatch},
	{"replaceRegex", fnReplaceRegex},
	{"object", fnObject},
	{"parseTime", fnParseTime},
	{"sortedKeys", fnSortedKeys},
}

// argText returns an argument as text: a string as it is, a number as its
// decimal text, a bool as true or false; ok is false for null and "".
func argText(fn string, v any) (string, bool, error) {
	switch x := v.(type) {
	case nil:
		return "", false, nil
	case string:
		return x, x != "", nil
	case int:
		return strconv.Itoa(x), true, nil
	case int64:
		return strconv.FormatInt(x, 10), true, nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return "", false, fmt.Errorf("%s: not a number", fn)
		}
		return strconv.FormatFloat(x, 'f', -1, 64), true, nil
	case bool:
		return strconv.FormatBool(x), true, nil
	case time.Time:
		return x.UTC().Format("2006-01-02T15:04:05.000Z"), true, nil
	}
	return "", false, fmt.Errorf("%s: want a string or a number, not %s", fn, typeName(v))
}

// typeName names the kind of a value for errors.
func typeName(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	case string:
		return "a text"
	case int, int64, float64:
		return "a number"
	case bool:
		return "a bool"
	case time.Time:
		return "a time"
	}
	return fmt.Sprintf("a %T", v)
}

// textFunc makes a function of one text argument; null stays null.
func textFunc(name string, f func(string) string) func(args ...any) (any, error) {
	return func(args ...any) (any, error) {
		if len(args) != 1 {
			return nil, fmt.Errorf("%s: want 1 argument, not %d", name, len(args))
		}
		if args[0] == nil {
			return nil, nil
		}
		s, _, err := argText(name, args[0])
		if err != nil {
			return nil, err
		}
		out := f(s)
		if arg, ok := args[0].(string); ok && out == arg {
			// The text as it came, boxed already: lower of a text
			// in lower case allocates nothing.
			return args[0], nil
		}
		return out, nil
	}
}

// fnCoalesce returns the first argument that is neither null nor an empty
// (or all-blank) string, or null.
func fnCoalesce(args ...any) (any, error) {
	for _, a := range args {
		if a == nil {
			continue
		}
		if s, ok := a.(string); ok && strings.TrimSpace(s) == "" {
			continue
		}
		return a, nil
	}
	return nil, nil
}

// hashInput joins the arguments' texts with a unit separator, so that
// ("ab", "c") and ("a", "bc") differ; null is the empty text. Objects and
// lists are their JSON with sorted keys.
func hashInput(fn string, args []any) ([]byte, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("%s: want at least 1 argument", fn)
	}
	var b bytes.Buffer
	for i, a := range args {
		if i > 0 {
			b.WriteByte(0x1f)
		}
		switch a.(type) {
		case map[string]any, []any:
			j, err := json.Marshal(a)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", fn, err)
			}
			b.Write(j)
			continue
		}
		s, _, err := argText(fn, a)
		if err != nil {
			return nil, err
		}
		b.WriteString(s)
	}
	return b.Bytes(), nil
}

// fnSHA256 returns the hex SHA-256 of its arguments (see hashInput).
func fnSHA256(args ...any) (any, error) {
	in, err := hashInput("sha256", args)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(in)
	return hex.EncodeToString(sum[:]), nil
}

// fnXXHash returns the 16 hex digits of the XXH3 64-bit hash of its
// arguments (see hashInput).
func fnXXHash(args ...any) (any, error) {
	in, err := hashInput("xxhash", args)
	if err != nil {
		return nil, err
	}
	return fmt.Sprintf("%016x", xxh3.Hash(in)), nil
}

// fnSplit splits a text at each separator; null stays null.
func fnSplit(args ...any) (any, error) {
	if len(args) != 2 {
		return nil, fmt.Errorf("split: want 2 arguments (text, separator), not %d", len(args))
	}
	if args[0] == nil {
		return nil, nil
	}
	s, _, err := argText("split", args[0])
	if err != nil {
		return nil, err
	}
	sep, ok := args[1].(string)
	if !ok {
		return nil, errors.New("split: the separator must be a string")
	}
	parts := strings.Split(s, sep)
	out := make([]any, len(parts))
	for i, p := range parts {
		out[i] = p
	}
	return out, nil
}

// regexps caches the compiled patterns of match and replaceRegex: the
// pattern is almost always a constant of the expression.
var regexps sync.Map // string → *regexp.Regexp

func regexpOf(fn string, v any) (*regexp.Regexp, error) {
	pat, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("%s: the pattern must be a string", fn)
	}
	if re, ok := regexps.Load(pat); ok {
		return re.(*regexp.Regexp), nil
	}
	re, err := regexp.Compile(pat)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	regexps.Store(pat, re)
	return re, nil
}

// fnMatch reports whether a text matches a regular expression (RE2
// syntax); null matches nothing.
func fnMatch(args ...any) (any, error) {
	if len(args) != 2 {
		return nil, fmt.Errorf("match: want 2 arguments (text, pattern), not %d", len(args))
	}
	re, err := regexpOf("match", args[1])
	if err != nil {
		return nil, err
	}
	if args[0] == nil {
		return false, nil
	}
	s, _, err := argText("match", args[0])
	if err != nil {
		return nil, err
	}
	return re.MatchString(s), nil
}

// fnReplaceRegex replaces every match of a regular expression in a text
// with a replacement in which $1 stands for the first group; null stays
// null.
func fnReplaceRegex(args ...any) (any, error) {
	if len(args) != 3 {
		return nil, fmt.Errorf("replaceRegex: want 3 arguments (text, pattern, replacement), not %d", len(args))
	}
	re, err := regexpOf("replaceRegex", args[1])
	if err != nil {
		return nil, err
	}
	repl, ok := args[2].(string)
	if !ok {
		return nil, errors.New("replaceRegex: the replacement must be a string")
	}
	if args[0] == nil {
		return nil, nil
	}
	s, _, err := argText("replaceRegex", args[0])
	if err != nil {
		return nil, err
	}
	return re.ReplaceAllString(s, repl), nil
}

// fnObject turns a list of records into an object: object(list, keyField,
// valueField) takes each record's keyField as the key and its valueField
// as the value; with valueField a list of names, the first of them that
// the record has with a value that is not null; a name with dots is a
// path into the record (GA4's event_params, whose value is one of
// value.string_value, value.int_value, value.float_value,
// value.double_value).
// A later record with the same key wins. Null stays null.
func fnObject(args ...any) (any, error) {
	if len(args) != 3 {
		return nil, fmt.Errorf("object: want 3 arguments (list, key field, value field or fields), not %d", len(args))
	}
	keyField, ok := args[1].(string)
	if !ok {
		return nil, errors.New("object: the key field must be a string")
	}
	var valueFields []string
	switch x := args[2].(type) {
	case string:
		valueFields = []string{x}
	case []any:
		for _, f := range x {
			s, ok := f.(string)
			if !ok {
				return nil, errors.New("object: the value fields must be strings")
			}
			valueFields = append(valueFields, s)
		}
	default:
		return nil, errors.New("object: the value field must be a string or a list of strings")
	}
	if args[0] == nil {
		return nil, nil
	}
	list, ok := args[0].([]any)
	if !ok {
		return nil, fmt.Errorf("object: want a list of records, not %s", typeName(args[0]))
	}
	out := make(map[string]any, len(list))
	for i, item := range list {
		rec, ok := item.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("object: item %d is %s, not a record", i, typeName(item))
		}
		key, ok, err := argText("object", rec[keyField])
		if err != nil || !ok {
			return nil, fmt.Errorf("object: item %d has no %q", i, keyField)
		}
		var val any
		for _, f := range valueFields {
			if v := recordPath(rec, f); v != nil {
				val = v
				break
			}
		}
		out[key] = val
	}
	return out, nil
}

// recordPath returns the member of rec at a dotted path, or nil.
func recordPath(rec map[string]any, path string) any {
	var v any = rec
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// timeParsers caches the parsers of parseTime by format and timezone.
var timeParsers sync.Map // string → *timeParser

// fnParseTime reads a time with a format (or a list of them) of
// timestamp:, and an optional timezone: parseTime(v, "unix_ms"),
// parseTime(v, "%d/%m/%Y %H:%M", "Europe/Berlin"). Null stays null.
func fnParseTime(args ...any) (any, error) {
	if len(args) != 2 && len(args) != 3 {
		return nil, fmt.Errorf("parseTime: want 2 or 3 arguments (value, format, timezone), not %d", len(args))
	}
	var formats []string
	switch x := args[1].(type) {
	case string:
		formats = []string{x}
	case []any:
		for _, f := range x {
			s, ok := f.(string)
			if !ok {
				return nil, errors.New("parseTime: the formats must be strings")
			}
			formats = append(formats, s)
		}
	default:
		return nil, errors.New("parseTime: the format must be a string or a list of strings")
	}
	tz := ""
	if len(args) == 3 {
		s, ok := args[2].(string)
		if !ok {
			return nil, errors.New("parseTime: the timezone must be a string")
		}
		tz = s
	}
	key := strings.Join(formats, "\x1f") + "\x1e" + tz
	var tp *timeParser
	if v, ok := timeParsers.Load(key); ok {
		tp = v.(*timeParser)
	} else {
		p, err := newTimeFormats(formats, tz, defaultTimeRange())
		if err != nil {
			return nil, fmt.Errorf("parseTime: %w", err)
		}
		timeParsers.Store(key, p)
		tp = p
	}
	if args[0] == nil {
		return nil, nil
	}
	v := args[0]
	switch x := v.(type) {
	case int:
		v = json.RawMessage(strconv.Itoa(x))
	case float64:
		v = json.RawMessage(strconv.FormatFloat(x, 'f', -1, 64))
	}
	t, err := tp.parse(v)
	if err != nil {
		return nil, fmt.Errorf("parseTime: %w", err)
	}
	return t.UTC(), nil
}

// parseExpr compiles the expression of node n (a string) for the spec key
// path. A syntax error names the spec's file, line and column.
func (p *specParser) parseExpr(n *yaml.Node, path string) (*exprSpec, error) {
	src, err := p.scalar(n, path)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(src) == "" {
		return nil, p.errorf(n, path, "the expression is empty")
	}
	e := &exprSpec{src: src, line: n.Line, col: n.Column, path: path}
	if n.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle) != 0 {
		e.col++
	}
	if n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		e.line++
		e.col = n.Column + 2 // a block scalar's text is indented below its key
	}
	opts := exprOptions()
	if tree, err := parser.Parse(src); err == nil {
		// A column named as a function (type, len, lower) is that
		// function unless it is read through $env.
		fv := &functionNameVisitor{callees: map[*ast.IdentifierNode]bool{}}
		ast.Walk(&tree.Node, fv)
		for _, id := range fv.names {
			if !fv.callees[id] {
				return nil, e.errorAt(p.spec.name, id.Location().From, fmt.Sprintf("%s is a function; read a column named %s as $env[%q]", id.Value, id.Value, id.Value))
			}
		}
	}
	if e.prog, err = expr.Compile(src, opts...); err != nil {
		return nil, e.compileError(p.spec.name, err)
	}
	node := e.prog.Node()
	v := &columnVisitor{local: map[string]bool{}}
	ast.Walk(&node, v)
	if v.unknown != "" {
		return nil, e.errorAt(p.spec.name, v.unknownAt, fmt.Sprintf("unknown function %s (the functions are %s, and expr's built-ins but now, date, duration, timezone, keys, values and toPairs)",
			v.unknown, strings.Join(ExprFunctions(), ", ")))
	}
	cv := &constantArgsVisitor{}
	ast.Walk(&node, cv)
	if cv.err != nil {
		return nil, e.errorAt(p.spec.name, cv.at, cv.err.Error())
	}
	e.names = v.names
	if fast, base, ok := columnsAsVariables(e.prog, e.names); ok {
		e.byIndex, e.base = fast, base
	}
	for _, name := range e.names {
		if err := checkPath(name); err != nil || name == "" {
			return nil, p.errorf(n, path, "expression %q: %q is not a column name", src, name)
		}
		p.spec.uses = append(p.spec.uses, columnUse{column: name, line: n.Line, path: path})
	}
	return e, nil
}

// errorAt names the spec, the line and the column of the character at
// offset (in runes) of the expression.
func (e *exprSpec) errorAt(spec string, offset int, msg string) error {
	line, col := e.line, e.col
	for i, r := range []rune(e.src) {
		if i >= offset {
			break
		}
		col++
		if r == '\n' {
			line, col = line+1, e.col
		}
	}
	return fmt.Errorf("%s:%d:%d: %s: expression %q: %s", spec, line, col, e.path, e.src, msg)
}

// compileError names the spec, the line and the column of an error of
// expr in the expression.
func (e *exprSpec) compileError(spec string, err error) error {
	line, col, msg := e.line, e.col, err.Error()
	var fe *file.Error
	if errors.As(err, &fe) {
		msg = fe.Message
		if fe.Line > 1 {
			line += fe.Line - 1
			col = 1
		}
		col += fe.Column
	}
	return fmt.Errorf("%s:%d:%d: %s: expression %q: %s", spec, line, col, e.path, e.src, msg)
}

// constantArgsVisitor checks the constant patterns of match and
// replaceRegex and the constant formats and timezone of parseTime, which
// would otherwise fail on every row, and notes the first error with its
// offset in the expression.
type constantArgsVisitor struct {
	err error
	at  int
}

// Visit implements ast.Visitor.
func (v *constantArgsVisitor) Visit(node *ast.Node) {
	n, ok := (*node).(*ast.CallNode)
	if !ok || v.err != nil {
		return
	}
	id, ok := n.Callee.(*ast.IdentifierNode)
	if !ok || len(n.Arguments) < 2 {
		return
	}
	constant := func(a ast.Node) (any, bool) {
		switch x := a.(type) {
		case *ast.StringNode:
			return x.Value, true
		case *ast.ArrayNode:
			list := make([]any, len(x.Nodes))
			for i, el := range x.Nodes {
				s, ok := el.(*ast.StringNode)
				if !ok {
					return nil, false
				}
				list[i] = s.Value
			}
			return list, true
		}
		return nil, false
	}
	var err error
	switch id.Value {
	case "match", "replaceRegex":
		if pat, ok := constant(n.Arguments[1]); ok {
			_, err = regexpOf(id.Value, pat)
		}
	case "parseTime":
		args := []any{nil}
		for _, a := range n.Arguments[1:] {
			c, ok := constant(a)
			if !ok {
				return
			}
			args = append(args, c)
		}
		_, err = fnParseTime(args...)
	}
	if err != nil {
		v.err, v.at = err, n.Location().From
	}
}

// functionNameVisitor collects the identifiers that are names of
// functions, and which of them are called.
type functionNameVisitor struct {
	names   []*ast.IdentifierNode
	callees map[*ast.IdentifierNode]bool
}

// Visit implements ast.Visitor.
func (v *functionNameVisitor) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.CallNode:
		if id, ok := n.Callee.(*ast.IdentifierNode); ok {
			v.callees[id] = true
		}
	case *ast.IdentifierNode:
		if _, ok := builtin.Index[n.Value]; ok || isExprFunction(n.Value) {
			v.names = append(v.names, n)
		}
	}
}

// columnVisitor collects the columns an expression reads: its variables
// that are not functions or its own names (let), and $env["name"] for a
// column whose name is not a plain word. It notes a call of a function
// that is not defined.
type columnVisitor struct {
	local     map[string]bool
	names     []string
	unknown   string
	unknownAt int // the offset of unknown in the expression
}

func (v *columnVisitor) add(name string) {
	if indexOf(v.names, name) < 0 {
		v.names = append(v.names, name)
	}
}

func (v *columnVisitor) remove(name string) {
	if i := indexOf(v.names, name); i >= 0 {
		v.names = append(v.names[:i], v.names[i+1:]...)
	}
}

// Visit is called for the children of a node before the node: the callee
// of a call and a name that let declares are taken back when their
// parent is visited.
func (v *columnVisitor) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.VariableDeclaratorNode:
		v.local[n.Name] = true
		v.remove(n.Name)
	case *ast.CallNode:
		if id, ok := n.Callee.(*ast.IdentifierNode); ok {
			v.remove(id.Value)
			if !isExprFunction(id.Value) && v.unknown == "" {
				v.unknown, v.unknownAt = id.Value, id.Location().From
			}
		}
	case *ast.MemberNode:
		if id, ok := n.Node.(*ast.IdentifierNode); ok && id.Value == "$env" {
			if s, ok := n.Property.(*ast.StringNode); ok {
				v.add(s.Value)
			}
		}
	case *ast.IdentifierNode:
		if n.Value != "$env" && !v.local[n.Value] {
			v.add(n.Value)
		}
	}
}

func isExprFunction(name string) bool {
	for _, f := range exprFunctions {
		if f.name == name {
			return true
		}
	}
	return false
}

// plan compiles the expression for a schema.
func (e *exprSpec) plan(rc *refCompiler) *exprPlan {
	if e == nil {
		return nil
	}
	pl := &exprPlan{spec: e, cols: make([]colRef, len(e.names))}
	for i, name := range e.names {
		pl.cols[i] = rc.ref(name)
	}
	return pl
}

// eval runs the expression on a row.
func (pl *exprPlan) eval(c *rowCtx) (any, error) {
	e, m := pl.spec, exprMachines.Get().(*exprMachine)
	var vars []any
	if e.byIndex != nil {
		vars = m.variables(e.base + len(pl.cols))[e.base:]
	} else {
		if m.env == nil {
			m.env = make(map[string]any, len(pl.cols))
		}
		clear(m.env)
	}
	for i := range pl.cols {
		col := &pl.cols[i]
		v, err := exprValue(c.get(col), col)
		if err != nil {
			exprMachines.Put(m)
			return nil, fmt.Errorf("column %q: %w", col.name, err)
		}
		if vars != nil {
			vars[i] = v
		} else {
			m.env[col.name] = v
		}
	}
	var out any
	var err error
	if e.byIndex != nil {
		out, err = m.vm.Run(e.byIndex, nil)
	} else {
		out, err = m.vm.Run(e.prog, m.env)
	}
	exprMachines.Put(m)
	return out, err
}

// fail makes the reject of a row for which the expression failed.
func (pl *exprPlan) fail(row *readers.Row, err error) error {
	var fe *file.Error
	if errors.As(err, &fe) {
		err = errors.New(fe.Message)
	}
	return fieldError(row, pl.spec.path, "", nil, ReasonExpression,
		fmt.Errorf("expression %q (line %d): %w", pl.spec.src, pl.spec.line, err))
}

// text runs the expression for a text field: a string, a number as its
// decimal text or a bool as true or false; null and "" are no value.
func (pl *exprPlan) text(c *rowCtx) (string, error) {
	v, err := pl.eval(c)
	if err != nil {
		return "", pl.fail(c.row, err)
	}
	if _, isList := v.([]any); isList {
		return "", pl.fail(c.row, errors.New("gives a list, not a text"))
	}
	s, _, err := argText("the result", v)
	if err != nil {
		return "", pl.fail(c.row, err)
	}
	return s, nil
}

// exprValue converts a row's value to what expressions work with: text,
// int, float64, bool, time, objects and lists; null and absent are nil.
func exprValue(v any, col *colRef) (any, error) {
	if col.typ != typeAsRead {
		cv, ok, err := coerceTo(v, col.typ, col.ts)
		if err != nil {
			return nil, fmt.Errorf("declared %s: %w", col.typ, err)
		}
		if !ok {
			return nil, nil
		}
		v = cv
	}
	switch x := v.(type) {
	case string:
		if x == "" {
			return nil, nil // an empty CSV cell is no value
		}
	case json.RawMessage:
		return jsonValue(x)
	case json.Number:
		return numberValue(string(x)), nil
	case int64:
		return int(x), nil
	case []byte:
		return string(x), nil
	case map[string]any, []any:
		b, err := json.Marshal(x)
		if err != nil {
			return nil, err
		}
		return jsonValue(b)
	}
	return v, nil
}

// jsonValue decodes JSON text, numbers as int where they are whole and
// fit, else float64.
func jsonValue(raw []byte) (any, error) {
	switch rawKind(raw) {
	case 0, 'n':
		return nil, nil
	case '"':
		return unquote(raw)
	case 't':
		return true, nil
	case 'f':
		return false, nil
	case '{', '[':
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			return nil, err
		}
		return numbers(v), nil
	}
	return numberValue(string(bytes.TrimSpace(raw))), nil
}

func numberValue(s string) any {
	if i, err := strconv.ParseInt(s, 10, 64); err == nil && i == int64(int(i)) {
		return int(i)
	}
	f, _ := strconv.ParseFloat(s, 64)
	return f
}

// numbers replaces the json.Numbers of a decoded value.
func numbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		return numberValue(string(x))
	case map[string]any:
		for k, e := range x {
			x[k] = numbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = numbers(e)
		}
	}
	return v
}

// resultJSON returns the JSON of an expression's result for an object's
// member; ok is false for null, which leaves the member out.
func resultJSON(v any) (string, bool, error) {
	v = stringKeys(v)
	switch x := v.(type) {
	case nil:
		return "", false, nil
	case time.Time:
		return strconv.Quote(x.UTC().Format("2006-01-02T15:04:05.000Z")), true, nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return "", false, errNotNumber
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", false, err
	}
	return string(b), true, nil
}

// writeExprNode writes the member of an object that an expression
// computes.
func writeExprNode(c *rowCtx, o int, w *sink.MessageWriter, nd *keyNode) error {
	v, err := nd.ex.eval(c)
	if err == nil {
		var text string
		var ok bool
		if text, ok, err = resultJSON(v); err == nil {
			if ok {
				w.Literal(text)
			}
			return nil
		}
	}
	err = nd.ex.fail(c.row, err)
	if fe, ok := err.(*FieldError); ok {
		fe.Field = objectNames[o] + ".values." + nd.path
	}
	return err
}

// drop runs the drop rules in the spec's order: the first that matches
// filters the row.
func (m *specMapper) drop(c *rowCtx) error {
	return runDrops(c, m.drops)
}

// runDrops runs drop rules on a row, in order.
func runDrops(c *rowCtx, drops []dropPlan) error {
	for i := range drops {
		d := &drops[i]
		v, err := d.ex.eval(c)
		if err != nil {
			return d.ex.fail(c.row, err)
		}
		if b, ok := v.(bool); ok && b {
			return &FilterError{Pos: c.row.Pos, Rule: d.name}
		} else if !ok && v != nil {
			return d.ex.fail(c.row, fmt.Errorf("gives %s, not true or false", typeName(v)))
		}
	}
	return nil
}

// exprType returns the index in messageTypes of the type an expression
// gives.
func (m *specMapper) exprType(c *rowCtx) (int, error) {
	s, err := m.typeExpr.text(c)
	if err != nil {
		return 0, err
	}
	if s == "" {
		if m.typeDefault >= 0 {
			return m.typeDefault, nil
		}
		return 0, fieldError(c.row, "type", "", nil, sink.ReasonInvalidType,
			fmt.Errorf("expression %q gives no value", m.typeExpr.spec.src))
	}
	ti := typeIndex(s)
	if ti < 0 {
		return 0, fieldError(c.row, "type", "", s, sink.ReasonInvalidType,
			fmt.Errorf("expression %q: %w", m.typeExpr.spec.src, unknownTypeError(s)))
	}
	return ti, nil
}

// parseDrop parses drop: a mapping of rule names to conditions, tried in
// order.
func (p *specParser) parseDrop(n *yaml.Node) error {
	ms, err := p.members(n, "drop")
	if err != nil {
		return err
	}
	if len(ms) == 0 {
		return p.errorf(n, "drop", "want at least one rule (name: condition)")
	}
	for _, m := range ms {
		k, v := m[0], resolve(m[1])
		if k.Value == "" {
			return p.errorf(k, "drop", "a rule needs a name")
		}
		e, err := p.parseExpr(v, "drop."+k.Value)
		if err != nil {
			return err
		}
		p.spec.drops = append(p.spec.drops, dropRule{name: k.Value, ex: e})
	}
	return nil
}

// valueExpr parses a member of values that is {expr: …}: a value
// computed per row. ok is false for any other value, a constant.
func (p *specParser) valueExpr(n *yaml.Node, path string) (*exprSpec, bool, error) {
	if n.Kind != yaml.MappingNode || len(n.Content) != 2 || n.Content[0].Value != "expr" {
		return nil, false, nil
	}
	e, err := p.parseExpr(resolve(n.Content[1]), path)
	return e, err == nil, err
}

// droppingPassthrough is Passthrough behind the drop rules of a spec
// that says `passthrough: true`: a row a rule matches is filtered before
// it is read as a message.
type droppingPassthrough struct {
	pt    *passthrough
	slots int
	drops []dropPlan
}

var _ Mapper = (*droppingPassthrough)(nil)

func newDroppingPassthrough(s *Spec, pt *passthrough) *droppingPassthrough {
	rc := newRefCompiler(s, nil)
	d := &droppingPassthrough{pt: pt, slots: len(rc.slots)}
	for _, r := range s.drops {
		d.drops = append(d.drops, dropPlan{name: r.name, ex: r.ex.plan(rc)})
	}
	return d
}

// Map implements Mapper.
func (d *droppingPassthrough) Map(row *readers.Row, w *sink.MessageWriter) error {
	var c rowCtx
	c.init(row, d.slots)
	if err := runDrops(&c, d.drops); err != nil {
		return err
	}
	return d.pt.Map(row, w)
}
