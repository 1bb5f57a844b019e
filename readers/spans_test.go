package readers

import (
	"context"
	"encoding/json"
	"testing"
)

// TestNDJSONValuesHeldAsSpans checks that an NDJSON row holds its values
// as offsets into its line, not as slices of their own, and that every
// accessor gives each value's exact text, the last of duplicate keys.
func TestNDJSONValuesHeldAsSpans(t *testing.T) {
	line := `{"a": 1 ,"b":"x\"y","c":{"d":[1, 2]},"e":null,"f":true,"a": [3] }`
	path := writeFile(t, t.TempDir(), "e.ndjson", []byte(line+"\n"+line+"\r\n"))
	r := openT(t, path, Options{}, nil)
	defer r.Close()
	want := []string{`[3]`, `"x\"y"`, `{"d":[1, 2]}`, `null`, `true`}
	for n := range 2 {
		row, err := r.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if row.raws != nil || len(row.spans) != 2*len(want) {
			t.Fatalf("row %d: raws %q, spans %v; want only spans", n+1, row.raws, row.spans)
		}
		for i, w := range want {
			got, ok := row.RawJSON(i)
			if !ok || string(got) != w {
				t.Errorf("row %d: RawJSON(%d) = %q, %v; want %q", n+1, i, got, ok, w)
			}
			if v, ok := row.Value(i).(json.RawMessage); !ok || string(v) != w {
				t.Errorf("row %d: Value(%d) = %#v; want %q", n+1, i, row.Value(i), w)
			}
		}
	}
}
