package mappings

import (
	"fmt"
	"slices"
)

// fnSortedKeys returns the keys of an object in byte order: expr's own
// keys() is left out because its order is random, and an id or a choice
// made from it would differ from one run to the next. sortedKeys(groups)[0]
// is the first group type of an Amplitude event. Null stays null.
func fnSortedKeys(args ...any) (any, error) {
	if len(args) != 1 {
		return nil, fmt.Errorf("sortedKeys: want 1 argument, not %d", len(args))
	}
	if args[0] == nil {
		return nil, nil
	}
	m, ok := args[0].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("sortedKeys: want an object, not %s", typeName(args[0]))
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]any, len(keys))
	for i, k := range keys {
		out[i] = k
	}
	return out, nil
}
