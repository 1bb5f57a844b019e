package jsontext

import (
	"encoding/json"
	"testing"
)

func TestUnquote(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{`"plain"`, "plain", true},
		{`""`, "", true},
		{`"é"`, "é", true},
		{`"a\"b\\c\/d\b\f\n\r\t"`, "a\"b\\c/d\b\f\n\r\t", true},
		{`"\u00e9\u20AC"`, "é€", true},
		{`"\ud83d\ude00"`, "😀", true},
		{`"\ud83d"`, "\ufffd", true},
		{`"\ud83dx"`, "\ufffdx", true},
		{`"\ude00\ud83d"`, "\ufffd\ufffd", true},
		{"\"\xff\"", "\ufffd", true},
		{`"a`, "", false},
		{`"a" `, "", false},
		{`"a"b"`, "", false},
		{`"\q"`, "", false},
		{"\"a\nb\"", "", false},
		{`1`, "", false},
		{``, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := Unquote([]byte(tt.in))
			if got != tt.want || ok != tt.ok {
				t.Errorf("Unquote = %q, %v; want %q, %v", got, ok, tt.want, tt.ok)
			}
			if tt.ok {
				var std string
				if err := json.Unmarshal([]byte(tt.in), &std); err != nil || std != got {
					t.Errorf("encoding/json gives %q (%v)", std, err)
				}
			}
		})
	}
}

// TestUnquoteBodyTruncated checks that text cut inside an escape, which
// UnquoteBody's callers never pass, does not make it panic.
func TestUnquoteBodyTruncated(t *testing.T) {
	for _, body := range []string{`\`, `a\`, `\u`, `\u12`, `\ud83d\u`, `\ud83d\ude`} {
		UnquoteBody([]byte(body))
	}
}
