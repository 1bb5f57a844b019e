package jsontext

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"
)

// encodingJSON is what an encoding/json Encoder with SetEscapeHTML(false)
// writes for v, without the newline.
func encodingJSON(t testing.TB, v any) []byte {
	t.Helper()
	var std bytes.Buffer
	enc := json.NewEncoder(&std)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(std.Bytes(), []byte("\n"))
}

// TestAppendStringEveryPosition puts each kind of byte that needs care at
// every position of plain strings of 1 to 24 bytes, so that both the
// eight-byte skip and the byte loop meet it, and compares with
// encoding/json (told not to escape HTML).
func TestAppendStringEveryPosition(t *testing.T) {
	specials := []string{"\"", "\\", "\n", "\r", "\t", "\b", "\f", "\x00", "\x1f", "\x7f", " ", "é", "\u2028", "\u2029", "\xff", "\xe2\x80", "日", "<", ">", "&", "~"}
	for n := 1; n <= 24; n++ {
		for _, sp := range specials {
			for pos := 0; pos < n; pos++ {
				s := strings.Repeat("a", pos) + sp + strings.Repeat("b", n-pos-1)
				want := encodingJSON(t, s)
				if got := AppendString(nil, s); !bytes.Equal(got, want) {
					t.Errorf("AppendString(%q) = %s, want %s", s, got, want)
				}
				got, ok := AppendValidString([]byte("x"), s)
				switch valid := !strings.Contains(sp, "\xff") && sp != "\xe2\x80"; {
				case valid && (!ok || !bytes.Equal(got[1:], want)):
					t.Errorf("AppendValidString(%q) = %s, %v; want %s", s, got[1:], ok, want)
				case !valid && (ok || string(got) != "x"):
					t.Errorf("AppendValidString(%q) = %s, %v; want x unchanged, false", s, got, ok)
				}
			}
		}
	}
}

func TestAppendStringKeepsPrefix(t *testing.T) {
	got := AppendString([]byte("pre:"), "a\"b")
	if string(got) != `pre:"a\"b"` {
		t.Errorf("got %s", got)
	}
}

func TestAppendFloatLikeEncodingJSON(t *testing.T) {
	f64 := []float64{
		0, math.Copysign(0, -1), 1, -1, 0.1, 1.5, 100, 1e6, 1e20, 1e21, 1.2345e21, 1e-6, 9.99e-7, 1e-7, 1.5e-9,
		123456789.123456789, math.MaxFloat64, -math.MaxFloat64, math.SmallestNonzeroFloat64, 1e100, 1e-100,
		float64(1 << 53), 0.30000000000000004, -1e-7, -1e21,
	}
	for _, f := range f64 {
		want := encodingJSON(t, f)
		got, ok := AppendFloat(nil, f, 64)
		if !ok || string(got) != string(want) {
			t.Errorf("AppendFloat(float64 %v) = %s, %v; want %s", f, got, ok, want)
		}
	}
	f32 := []float32{0, 0.1, 1.5, 1e20, 1e21, 1e-6, 1e-7, 3.4028235e38, 1.4e-45, 16777216, -0.1}
	for _, f := range f32 {
		want := encodingJSON(t, f)
		got, ok := AppendFloat(nil, float64(f), 32)
		if !ok || string(got) != string(want) {
			t.Errorf("AppendFloat(float32 %v) = %s, %v; want %s", f, got, ok, want)
		}
	}
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if got, ok := AppendFloat([]byte("x"), f, 64); ok || string(got) != "x" {
			t.Errorf("AppendFloat(%v) = %s, %v; want x unchanged, false", f, got, ok)
		}
	}
}

func TestAppendDoesNotAllocate(t *testing.T) {
	buf := make([]byte, 0, 256)
	allocs := testing.AllocsPerRun(100, func() {
		b := AppendString(buf[:0], "Order \"Completed\" — 日本\n")
		b, _ = AppendFloat(b, 12.5, 64)
		_ = b
	})
	if allocs != 0 {
		t.Errorf("%v allocations, want 0", allocs)
	}
}

// BenchmarkAppendString writes strings of the lengths ids and names have,
// plain and with characters to escape.
func BenchmarkAppendString(b *testing.B) {
	for _, s := range []string{
		"pro",
		"Order Completed",
		"bf-0123456789abcdef0123456789abcdef-42",
		"https://example.com/products/shoes?utm_source=newsletter&utm_medium=email",
		"a \"quoted\"\tand\nbroken line",
		"Größe: 42 — 日本語",
	} {
		b.Run(strconv.Itoa(len(s)), func(b *testing.B) {
			b.SetBytes(int64(len(s)))
			var buf []byte
			for b.Loop() {
				buf = AppendString(buf[:0], s)
			}
		})
	}
}
