package mappings

import (
	"strings"
	"testing"

	"github.com/backfillhq/backfill/sink"
)

// TestStringFieldsFromJSONText maps NDJSON rows whose string fields are
// copied as the literals they were read as, when those are printable
// ASCII without escapes, or made into strings otherwise, and checks that
// each message is, byte for byte, the message of a CSV row holding the
// same strings: the same fields, the same content-derived id, the same
// errors.
func TestStringFieldsFromJSONText(t *testing.T) {
	const spec = `type: track
messageId: {column: mid, derive: content}
userId: {column: [uid, alt]}
event: ev
timestamp: ts
properties: {include: [p]}
`
	long := strings.Repeat("m", maxMessageID+1)
	cases := []struct {
		name      string
		json      string   // mid, uid, alt, ev as JSON text
		csv       []string // the same values as CSV text
		wantError string   // the reject reason, if refused
	}{
		{"plain", `"m-1","user-1","x","Order Completed"`, []string{"m-1", "user-1", "x", "Order Completed"}, ""},
		{"no messageId", `null,"user-1","x","Signed Up"`, []string{"", "user-1", "x", "Signed Up"}, ""},
		{"empty messageId", `"","user-1","x","Signed Up"`, []string{"", "user-1", "x", "Signed Up"}, ""},
		{"escapes", `"m\"2","us\\er","x","tab\there"`, []string{`m"2`, `us\er`, "x", "tab\there"}, ""},
		{"unicode", `"m-\u00fc","ünïcode","x","\u2028 ev"`, []string{"m-ü", "ünïcode", "x", "\u2028 ev"}, ""},
		{"html and del", `"<m>&","u\u007f","x","a<b>c&d"`, []string{"<m>&", "u\x7f", "x", "a<b>c&d"}, ""},
		{"number", `7,42,"x",3.5`, []string{"7", "42", "x", "3.5"}, ""},
		{"fallback column", `"m-3","","alt-1","e"`, []string{"m-3", "", "alt-1", "e"}, ""},
		{"no id", `"m-4","",null,"e"`, []string{"m-4", "", "", "e"}, sink.ReasonMissingID},
		{"no event", `"m-5","u",null,""`, []string{"m-5", "u", "", ""}, sink.ReasonMissingEvent},
		{"long messageId", `"` + long + `","u","x","e"`, []string{long, "u", "x", "e"}, sink.ReasonInvalidMessageID},
	}
	schema := []string{"mid", "uid", "alt", "ev", "ts", "p"}
	m := mustCompile(t, spec, nil, Options{})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			vals := strings.Split(tc.json, ",")
			obj := `{"mid":` + vals[0] + `,"uid":` + vals[1] + `,"alt":` + vals[2] + `,"ev":` + vals[3] +
				`,"ts":"2024-01-01T00:00:00Z","p":"1"}`
			nd := ndjsonRow(t, 2, obj)
			cv := csvRow(2, schema, append(tc.csv, "2024-01-01T00:00:00Z", "1")...)
			var wn, wc sink.MessageWriter
			errN, errC := m.Map(nd, &wn), m.Map(cv, &wc)
			if tc.wantError != "" {
				if reasonOf(errN) != tc.wantError || reasonOf(errC) != tc.wantError {
					t.Fatalf("NDJSON: %v; CSV: %v; want %s for both", errN, errC, tc.wantError)
				}
				if fe, ok := errN.(*FieldError); !ok || fe.Value != errC.(*FieldError).Value {
					t.Fatalf("NDJSON error %#v, CSV error %#v: want the same value", errN, errC)
				}
				return
			}
			if errN != nil || errC != nil {
				t.Fatalf("NDJSON: %v; CSV: %v", errN, errC)
			}
			if string(wn.Bytes()) != string(wc.Bytes()) {
				t.Fatalf("NDJSON row written as\n%s\nCSV row as\n%s", wn.Bytes(), wc.Bytes())
			}
		})
	}
}
