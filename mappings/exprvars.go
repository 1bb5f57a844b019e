package mappings

import (
	"reflect"
	"slices"
	"sync"

	"github.com/expr-lang/expr/vm"
)

// columnsAsVariables returns a copy of prog in which the read of each
// column of names, compiled as a lookup in a map env (OpLoadFast), reads
// the machine's variable base+j instead, j being the column's index in
// names; base is the number of variables of prog's own (let). A row's
// values are then set in the machine by index, once each, with no map to
// fill per row and no lookup by name per read.
//
// ok is false, and prog is to be run with a map env, when prog reads the
// env in any other way ($env["name"]) or a name that is not in names.
func columnsAsVariables(prog *vm.Program, names []string) (fast *vm.Program, base int, ok bool) {
	// The count of prog's own variables, which a machine must hold
	// before the columns' (vm.Run makes room for them, dropping what
	// the machine held, when it holds fewer).
	f := reflect.ValueOf(prog).Elem().FieldByName("variables")
	if !f.IsValid() || f.Kind() != reflect.Int {
		return nil, 0, false
	}
	base = int(f.Int())
	code, args := slices.Clone(prog.Bytecode), slices.Clone(prog.Arguments)
	if len(args) != len(code) {
		return nil, 0, false
	}
	for i, op := range code {
		switch op {
		case vm.OpLoadFast:
			name, isName := prog.Constants[args[i]].(string)
			j := indexOf(names, name)
			if !isName || j < 0 {
				return nil, 0, false
			}
			code[i], args[i] = vm.OpLoadVar, base+j
		case vm.OpLoadEnv, vm.OpLoadConst, vm.OpLoadField, vm.OpLoadMethod:
			return nil, 0, false
		}
	}
	p := *prog
	p.Bytecode, p.Arguments = code, args
	return &p, base, true
}

// exprMachine runs expressions: a machine whose variables hold, besides
// a program's own, the values of the columns the program reads
// (columnsAsVariables), or, for a program that reads $env, a map env of
// them. Machines go from one run to the next through a pool, so that a
// run allocates none of its own; one machine serves every program, each
// run setting every column its program reads. A machine keeps the values
// of its last run until the next.
type exprMachine struct {
	vm  vm.VM
	env map[string]any
}

var exprMachines = sync.Pool{New: func() any { return new(exprMachine) }}

// variables returns the machine's variables, at least n of them.
func (m *exprMachine) variables(n int) []any {
	if len(m.vm.Variables) < n {
		m.vm.Variables = append(m.vm.Variables, make([]any, n-len(m.vm.Variables))...)
	}
	return m.vm.Variables
}
