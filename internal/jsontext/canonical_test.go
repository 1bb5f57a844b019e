package jsontext

import (
	"strings"
	"testing"
)

func TestAppendCanonical(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`0`, `0`}, {`-0`, `0`}, {`-0.0e5`, `0`}, {`1.50`, `1.5`}, {`15e-1`, `1.5`}, {`1.5E0`, `1.5`},
		{`150`, `150`}, {`1.5e2`, `150`}, {`9007199254740993`, `9007199254740993`},
		{`0.000001`, `0.000001`}, {`0.0000001`, `1e-7`}, {`1.5e-7`, `1.5e-7`},
		{`100000000000000000000`, `100000000000000000000`}, {`1000000000000000000000`, `1e+21`},
		{`12.5e22`, `1.25e+23`}, {`-0.010`, `-0.01`}, {`1e999999999999999999999`, `1e+1000000000000000`},
		{`"\u00fc\/\u0041"`, `"ü/A"`}, {`"a\u2028"`, `"a\u2028"`}, {`"\ud83d\ude00"`, `"😀"`}, {`"tab\t"`, `"tab\t"`},
		{` { "b" : [ 1.0 , {"y":true,"x":null} ] , "a":"\u00e9" , "\u0061a": false } `, `{"a":"é","aa":false,"b":[1,{"x":null,"y":true}]}`},
		{`{"a":2,"a":1}`, `{"a":2,"a":1}`},
		{`[]`, `[]`}, {`{}`, `{}`},
	} {
		if got := string(AppendCanonical([]byte("x"), []byte(c.in))); got != "x"+c.want {
			t.Errorf("AppendCanonical(%s) = %s, want %s", c.in, got[1:], c.want)
		}
	}
}

func TestCanonicalNumberMatchesAppendFloat(t *testing.T) {
	for _, f := range []float64{0, 1, -1, 1.5, 19.99, 1e-6, 1e-7, 1.234e20, 1e21, 1.5e300, 5e-324, 123456789012345678} {
		b, _ := AppendFloat(nil, f, 64)
		if !CanonicalNumber(b) && string(AppendCanonicalNumber(nil, b)) != string(b) {
			t.Errorf("AppendFloat(%v) = %s, which is not canonical (%s)", f, b, AppendCanonicalNumber(nil, b))
		}
	}
}

// TestCanonicalStringAtEveryOffset puts each kind of byte that may make a
// string literal not canonical at every offset of strings longer than a
// word, where the check goes eight bytes at a time. CanonicalString is
// true exactly for the literals with no escape that AppendString writes
// as they are: an escape is always rewritten, to the same text when it
// was canonical already.
func TestCanonicalStringAtEveryOffset(t *testing.T) {
	for _, odd := range []string{`\/`, `\u0041`, `\n`, `\"`, "\x01", "\xff", "\u2028", "é", `\u00e9`, "<", "~"} {
		for n := 0; n <= 20; n++ {
			for at := 0; at <= n; at++ {
				body := strings.Repeat("a", at) + odd + strings.Repeat("b", n-at)
				lit := []byte(`"` + body + `"`)
				value, ok := Unquote(lit)
				if !ok && odd != "\x01" {
					t.Fatalf("Unquote(%q) failed", lit)
				}
				want := ok && !strings.Contains(body, `\`) && string(AppendString(nil, value)) == string(lit)
				if odd == "\x01" || odd == "\xff" {
					want = false // a raw control byte or invalid UTF-8 is never canonical
				}
				if got := CanonicalString(lit); got != want {
					t.Fatalf("CanonicalString(%q) = %v, want %v", lit, got, want)
				}
			}
		}
	}
}
