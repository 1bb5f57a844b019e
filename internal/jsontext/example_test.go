package jsontext_test

import (
	"encoding/json"
	"fmt"

	"github.com/backfillhq/backfill/internal/jsontext"
)

func ExampleLookup() {
	props := json.RawMessage(`{"order": {"total": 12.50, "items": [{"sku": "A-1"}]}}`)
	total, _ := jsontext.Lookup(props, "order", "total")
	sku, _ := jsontext.Lookup(props, "order", "items", "0", "sku")
	s, _ := jsontext.Unquote(sku)
	fmt.Println(string(total), s)
	// Output: 12.50 A-1
}

func ExampleAppendString() {
	buf := jsontext.AppendString(nil, "Größe <42>\n")
	buf, _ = jsontext.AppendFloat(append(buf, ' '), 1e-7, 64)
	fmt.Println(string(buf))
	// Output: "Größe <42>\n" 1e-7
}
