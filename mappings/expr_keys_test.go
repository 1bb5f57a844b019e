package mappings

import (
	"reflect"
	"testing"
)

// TestSortedKeys calls sortedKeys with exact inputs.
func TestSortedKeys(t *testing.T) {
	got, err := fnSortedKeys(map[string]any{"b": 1, "a": nil, "B": true})
	if err != nil || !reflect.DeepEqual(got, []any{"B", "a", "b"}) {
		t.Errorf("sortedKeys = %#v, %v", got, err)
	}
	if got, err := fnSortedKeys(nil); got != nil || err != nil {
		t.Errorf("sortedKeys(nil) = %#v, %v", got, err)
	}
	if _, err := fnSortedKeys("x"); err == nil || err.Error() != "sortedKeys: want an object, not a text" {
		t.Errorf("sortedKeys(text): %v", err)
	}
	if _, err := fnSortedKeys(); err == nil || err.Error() != "sortedKeys: want 1 argument, not 0" {
		t.Errorf("sortedKeys(): %v", err)
	}
}
