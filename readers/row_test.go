package readers

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
)

// TestRowUnboxedValues checks that the text readers hand values on in
// Texts and JSON, marked in Values, and that Value, Text, RawJSON, Get and
// AllValues read them back, with nulls left nil.
func TestRowUnboxedValues(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, data string
		want       []any
		texts      bool
	}{
		{"a.csv", "id,note,empty\nx-1,\"a, \"\"b\"\"\",\n", []any{"x-1", `a, "b"`, nil}, true},
		{"a.ndjson", `{"id":"x-1","note":{"a":[1]},"empty":null}` + "\n",
			[]any{json.RawMessage(`"x-1"`), json.RawMessage(`{"a":[1]}`), json.RawMessage(`null`)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := openT(t, writeFile(t, dir, tt.name, []byte(tt.data)), Options{}, nil)
			defer r.Close()
			row, err := r.Next(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if got := row.AllValues(); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("AllValues %#v, want %#v", got, tt.want)
			}
			for i, want := range tt.want {
				if got := row.Value(i); !reflect.DeepEqual(got, want) {
					t.Errorf("Value(%d) = %#v, want %#v", i, got, want)
				}
				s, isText := row.Text(i)
				raw, isJSON := row.RawJSON(i)
				switch {
				case want == nil:
					if row.Values[i] != nil || isText || isJSON {
						t.Errorf("column %d: null held as %#v", i, row.Values[i])
					}
				case tt.texts:
					if _, marked := row.Values[i].(InTexts); !marked || !isText || s != want || isJSON {
						t.Errorf("column %d: Values %#v, Text %q %v, RawJSON %v", i, row.Values[i], s, isText, isJSON)
					}
				default:
					if _, marked := row.Values[i].(InJSON); !marked || !isJSON || !reflect.DeepEqual(raw, want) || isText {
						t.Errorf("column %d: Values %#v, RawJSON %s %v, Text %v", i, row.Values[i], raw, isJSON, isText)
					}
				}
			}
			if v, ok := row.Get("note"); !ok || !reflect.DeepEqual(v, tt.want[1]) {
				t.Errorf("Get(note) = %#v, %v", v, ok)
			}
		})
	}
}
