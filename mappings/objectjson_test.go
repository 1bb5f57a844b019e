package mappings

import (
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/backfillhq/backfill/readers"
	"github.com/backfillhq/backfill/sink"
)

// TestPlainInteger checks that plainInteger accepts a text exactly when
// it is what strconv.AppendInt writes for the int64 it reads as (up to 18
// digits), on chosen and random texts.
func TestPlainInteger(t *testing.T) {
	check := func(s string) {
		t.Helper()
		want := false
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			want = strconv.FormatInt(i, 10) == s && len(strings.TrimPrefix(s, "-")) <= 18
		}
		if got := plainInteger(s); got != want {
			t.Errorf("plainInteger(%q) = %v, want %v", s, got, want)
		}
	}
	for _, s := range []string{"0", "-0", "7", "-7", "10", "01", "-01", "00", "+1", "", "-", "1.0", "1e3", " 1",
		"123456789012345678", "-123456789012345678", "1234567890123456789", "9223372036854775807", "1x", "x1"} {
		check(s)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	const chars = "0123456789-+.e "
	for range 100000 {
		b := make([]byte, rng.IntN(21))
		for i := range b {
			if rng.IntN(4) == 0 {
				b[i] = chars[rng.IntN(len(chars))]
			} else {
				b[i] = chars[rng.IntN(10)]
			}
		}
		check(string(b))
	}
}

// TestPlainDecimal checks that every text plainDecimal accepts is what
// the sink writes for the float64 it reads as, on chosen and random
// decimals.
func TestPlainDecimal(t *testing.T) {
	check := func(s string) {
		t.Helper()
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			if plainDecimal(s) {
				t.Errorf("plainDecimal(%q) = true for a text that does not parse", s)
			}
			return
		}
		// The writer writes a float as encoding/json does.
		b, err := json.Marshal(f)
		if err != nil {
			return // NaN or infinite: not a text plainDecimal takes
		}
		if plainDecimal(s) && string(b) != s {
			t.Errorf("plainDecimal(%q) = true, but the float is written %s", s, b)
		}
	}
	for _, tt := range []struct {
		s    string
		want bool
	}{
		{"0", true}, {"-0", true}, {"19.99", true}, {"-3.5", true}, {"123456789012345", true},
		{"0.000001", true}, {"0.0000001", false}, {"1.10", false}, {"01", false}, {"+1", false},
		{"1e3", false}, {".5", false}, {"5.", false}, {"1234567890123456", false},
		{"0.30000000000000004", false}, {"", false}, {"-", false}, {"1.2.3", false}, {"0x10", false},
		{"999999999999999", true}, {"9007199254740993", false}, {"100000000000000000000000", false},
	} {
		t.Run(tt.s, func(t *testing.T) {
			if got := plainDecimal(tt.s); got != tt.want {
				t.Errorf("plainDecimal(%q) = %v, want %v", tt.s, got, tt.want)
			}
			check(tt.s)
		})
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		var b strings.Builder
		if rng.IntN(3) == 0 {
			b.WriteByte('-')
		}
		for range 1 + rng.IntN(9) {
			b.WriteByte(byte('0' + rng.IntN(10)))
		}
		if rng.IntN(4) > 0 {
			b.WriteByte('.')
			for range 1 + rng.IntN(12) {
				b.WriteByte(byte('0' + rng.IntN(10)))
			}
		}
		check(b.String())
	}
}

// TestSchemalessShapesConcurrently maps NDJSON rows of several key sets
// and orders on four goroutines at once with one Mapper, whose cache of
// the last row's columns the goroutines share and replace: every message
// must come out as the same mapper building sink.Fields makes it.
func TestSchemalessShapesConcurrently(t *testing.T) {
	const spec = `
type: track
userId: uid
event: ev
timestamp: ts
columns: {n: int, f: float}
properties:
  exclude: [secret]
  rename: {f: price}
context: {include: [ip]}
`
	m := mustCompile(t, spec, nil, Options{})
	// The messages of a mapper that sees the rows one at a time.
	alone := mustCompile(t, spec, nil, Options{})
	lines := []string{
		`{"uid":"u1","ev":"E","ts":"2024-01-01T00:00:00Z","n":"7","f":"1.50","plan":"pro","secret":1,"ip":"1.2.3.4"}`,
		`{"ts":"2024-01-01T00:00:00Z","uid":"u2","ev":"E","plan":"free","n":8,"ip":"5.6.7.8"}`,
		`{"uid":"u3","ev":"E","ts":"2024-01-01T00:00:00Z","library":{"x":1},"f":2,"tags":["a"]}`,
		`{"uid":"u4","ev":"E","ts":"2024-01-01T00:00:00Z","n":"7","f":"1.50","plan":"pro","secret":1,"ip":"1.2.3.4","extra":"\u00e9\n"}`,
	}
	var rows []*readers.Row
	var want []string
	for i := range 64 {
		row := ndjsonRow(t, int64(i+1), lines[i%len(lines)])
		var w sink.MessageWriter
		if err := alone.Map(row, &w); err != nil {
			t.Fatal(err)
		}
		rows, want = append(rows, row), append(want, string(w.Bytes()))
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			w := sink.NewMessageWriter(sink.Limits{})
			for k := range 50 * len(rows) {
				i := (k*(2*g+1) + g) % len(rows)
				w.Reset(w.Bytes())
				if err := m.Map(rows[i], w); err != nil {
					t.Error(err)
					return
				}
				if string(w.Bytes()) != want[i] {
					t.Errorf("row %d: %s\nwant %s", i, w.Bytes(), want[i])
					return
				}
			}
		})
	}
	wg.Wait()
}
