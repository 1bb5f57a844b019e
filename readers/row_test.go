package readers

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// TestRowUnboxedValues checks that the text readers hand values on
// unboxed, as text or JSON text, and that Kind, Value, Text, RawJSON, Get
// and AllValues read them back, with nulls left nil.
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
				kind := row.Kind(i)
				switch {
				case want == nil && tt.texts:
					if kind != KindNull {
						t.Errorf("column %d: Kind %d, want KindNull", i, kind)
					}
				case tt.texts && kind != KindText, !tt.texts && kind != KindJSON:
					t.Errorf("column %d: Kind %d", i, kind)
				}
				switch {
				case want == nil:
					if row.values[i] != nil || isText || isJSON {
						t.Errorf("column %d: null held as %#v", i, row.values[i])
					}
				case tt.texts:
					if _, marked := row.values[i].(inTexts); !marked || !isText || s != want || isJSON {
						t.Errorf("column %d: Values %#v, Text %q %v, RawJSON %v", i, row.values[i], s, isText, isJSON)
					}
				default:
					if _, marked := row.values[i].(inJSON); !marked || !isJSON || !reflect.DeepEqual(raw, want) || isText {
						t.Errorf("column %d: Values %#v, RawJSON %s %v, Text %v", i, row.values[i], raw, isJSON, isText)
					}
				}
			}
			if v, ok := row.Get("note"); !ok || !reflect.DeepEqual(v, tt.want[1]) {
				t.Errorf("Get(note) = %#v, %v", v, ok)
			}
		})
	}
}

// TestNewRow checks that rows built outside the package read back as the
// readers' own rows do: strings as text, json.RawMessage as JSON text,
// other values as given, with their kinds.
func TestNewRow(t *testing.T) {
	pos := Position{File: "x", Row: 3}
	ts := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	names := []string{"s", "j", "i", "f", "t", "n"}
	values := []any{"a", json.RawMessage(`{"b":1}`), int64(7), 1.5, ts, nil}
	kinds := []Kind{KindText, KindJSON, KindValue, KindValue, KindValue, KindNull}
	rows := map[string]Row{
		"NewRow":      NewRow(pos, names, values),
		"NewTextRow":  NewTextRow(pos, []string{"s", "e"}, []string{"a", ""}),
		"NewJSONRow":  NewJSONRow(pos, []string{"j", "n"}, []json.RawMessage{json.RawMessage(`{"b":1}`), json.RawMessage("null")}),
		"NewRow none": NewRow(pos, nil, nil),
		"NewRow text": NewRow(pos, []string{"s", "e"}, []any{"a", ""}),
		"NewRow JSON": NewRow(pos, []string{"j", "n"}, []any{json.RawMessage(`{"b":1}`), json.RawMessage("null")}),
	}
	wantValues := map[string][]any{
		"NewRow":      values,
		"NewTextRow":  {"a", ""},
		"NewJSONRow":  {json.RawMessage(`{"b":1}`), json.RawMessage("null")},
		"NewRow none": {},
		"NewRow text": {"a", ""},
		"NewRow JSON": {json.RawMessage(`{"b":1}`), json.RawMessage("null")},
	}
	wantKinds := map[string][]Kind{
		"NewRow":      kinds,
		"NewTextRow":  {KindText, KindText},
		"NewJSONRow":  {KindJSON, KindJSON},
		"NewRow none": {},
		"NewRow text": {KindText, KindText},
		"NewRow JSON": {KindJSON, KindJSON},
	}
	for name, row := range rows {
		t.Run(name, func(t *testing.T) {
			if row.Pos != pos || row.Len() != len(wantValues[name]) || len(row.Names()) != row.Len() {
				t.Fatalf("Pos %v, Len %d, Names %q", row.Pos, row.Len(), row.Names())
			}
			for i, want := range wantValues[name] {
				if got := row.Value(i); !reflect.DeepEqual(got, want) {
					t.Errorf("Value(%d) = %#v, want %#v", i, got, want)
				}
				if got := row.Kind(i); got != wantKinds[name][i] {
					t.Errorf("Kind(%d) = %d, want %d", i, got, wantKinds[name][i])
				}
				if s, ok := row.Text(i); ok != (row.Kind(i) == KindText) || ok && s != want {
					t.Errorf("Text(%d) = %q, %v", i, s, ok)
				}
				if raw, ok := row.RawJSON(i); ok != (row.Kind(i) == KindJSON) || ok && !reflect.DeepEqual(raw, want) {
					t.Errorf("RawJSON(%d) = %s, %v", i, raw, ok)
				}
				if row.Index(row.Name(i)) != i {
					t.Errorf("Index(%q) = %d, want %d", row.Name(i), row.Index(row.Name(i)), i)
				}
			}
		})
	}
	for _, f := range []func(){
		func() { NewRow(pos, names, values[:1]) },
		func() { NewTextRow(pos, names, []string{"a"}) },
		func() { NewJSONRow(pos, names, nil) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("a row with more names than values was built")
				}
			}()
			f()
		}()
	}
}

// TestRowAccessorsAllocateNothing checks that reading a row's columns
// through the accessors allocates nothing, whichever way they are held.
func TestRowAccessorsAllocateNothing(t *testing.T) {
	rows := []Row{
		NewTextRow(Position{}, []string{"a", "b"}, []string{"x", "y"}),
		NewJSONRow(Position{}, []string{"a", "b"}, []json.RawMessage{json.RawMessage("1"), json.RawMessage(`"y"`)}),
		NewRow(Position{}, []string{"a", "b"}, []any{int64(1), nil}),
	}
	var sink int
	allocs := testing.AllocsPerRun(100, func() {
		for k := range rows {
			row := &rows[k]
			for i := range row.Len() {
				switch row.Kind(i) {
				case KindText:
					s, _ := row.Text(i)
					sink += len(s)
				case KindJSON:
					raw, _ := row.RawJSON(i)
					sink += len(raw)
				case KindValue:
					if row.Value(i) != nil {
						sink++
					}
				}
				sink += len(row.Name(i)) + row.Index("b")
			}
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per pass over the rows, want 0", allocs)
	}
	if sink == 0 {
		t.Fatal("no column was read")
	}
}
