package readers

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math"
	"math/big"
	"strconv"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/decimal128"
	"github.com/apache/arrow/go/v15/arrow/memory"
)

// fuzzElem is the element type of the fuzzed nested column: a struct of
// most scalar types and a map.
var fuzzElem = arrow.StructOf(
	arrow.Field{Name: "f", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	arrow.Field{Name: "g", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
	arrow.Field{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	arrow.Field{Name: "d", Type: &arrow.Decimal128Type{Precision: 38, Scale: 3}, Nullable: true},
	arrow.Field{Name: "m", Type: arrow.MapOf(arrow.BinaryTypes.String, arrow.PrimitiveTypes.Int64), Nullable: true},
	arrow.Field{Name: "t", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}, Nullable: true},
	arrow.Field{Name: "b", Type: arrow.BinaryTypes.Binary, Nullable: true},
	arrow.Field{Name: "u", Type: arrow.PrimitiveTypes.Uint64, Nullable: true},
	arrow.Field{Name: "day", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
	arrow.Field{Name: "tod", Type: arrow.FixedWidthTypes.Time64us, Nullable: true},
)

// fuzzBytes hands out the fuzzer's bytes, then zeros.
type fuzzBytes struct{ b []byte }

func (f *fuzzBytes) byte() byte {
	if len(f.b) == 0 {
		return 0
	}
	c := f.b[0]
	f.b = f.b[1:]
	return c
}

func (f *fuzzBytes) uint64() uint64 {
	var buf [8]byte
	for i := range buf {
		buf[i] = f.byte()
	}
	return binary.LittleEndian.Uint64(buf[:])
}

func (f *fuzzBytes) text() string {
	n := int(f.byte() % 12)
	n = min(n, len(f.b))
	s := string(f.b[:n])
	f.b = f.b[n:]
	return s
}

// fuzzCase builds the rows of a list<fuzzElem> column from the fuzzer's
// bytes, and for each row the JSON text encoding/json gives its value (or
// the reason it has none) from Go values built alongside.
type fuzzCase struct {
	want    []string // expected JSON per row, "" for null
	reasons []string // the reason of the first bad value per row, if any
}

func buildFuzzColumn(data []byte) (arrow.Array, fuzzCase) {
	in := &fuzzBytes{b: data}
	lb := array.NewListBuilder(memory.DefaultAllocator, fuzzElem)
	defer lb.Release()
	sb := lb.ValueBuilder().(*array.StructBuilder)
	var fc fuzzCase
	for row := 0; len(in.b) > 0 && row < 64; row++ {
		op := in.byte()
		if op%7 == 0 {
			lb.AppendNull()
			fc.want, fc.reasons = append(fc.want, ""), append(fc.reasons, "")
			continue
		}
		lb.Append(true)
		var (
			text   bytes.Buffer
			reason string
		)
		bad := func(r string) {
			if reason == "" {
				reason = r
			}
		}
		text.WriteByte('[')
		for k := range int(op % 4) {
			if k > 0 {
				text.WriteByte(',')
			}
			mask := in.byte()
			if mask == 0xff {
				sb.AppendNull() // and a null to each field
				text.WriteString("null")
				continue
			}
			sb.Append(true)
			text.WriteByte('{')
			for i := range sb.NumField() {
				if i > 0 {
					text.WriteByte(',')
				}
				text.WriteString(strconv.Quote(fuzzElem.Field(i).Name) + ":")
				fb := sb.FieldBuilder(i)
				if mask&(1<<(i%8)) != 0 && i != 4 {
					fb.AppendNull()
					text.WriteString("null")
					continue
				}
				switch i {
				case 0:
					f := math.Float64frombits(in.uint64())
					if in.byte()%2 == 0 {
						f = float64(int64(in.uint64()>>40)) / 64 // a plain value more often
					}
					fb.(*array.Float64Builder).Append(f)
					if math.IsNaN(f) || math.IsInf(f, 0) {
						bad(ReasonInvalidValue)
						text.WriteString("0")
					} else {
						writeJSON(&text, f)
					}
				case 1:
					f := math.Float32frombits(uint32(in.uint64()))
					fb.(*array.Float32Builder).Append(f)
					if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
						bad(ReasonInvalidValue)
						text.WriteString("0")
					} else {
						writeJSON(&text, f)
					}
				case 2:
					s := in.text()
					fb.(*array.StringBuilder).Append(s)
					if !utf8.ValidString(s) {
						bad(ReasonInvalidUTF8)
					}
					writeJSON(&text, s)
				case 3:
					n := new(big.Int).SetUint64(in.uint64())
					n.Lsh(n, 64).Add(n, new(big.Int).SetUint64(in.uint64()))
					n.Mod(n, new(big.Int).Exp(big.NewInt(10), big.NewInt(38), nil))
					if in.byte()%2 == 1 {
						n.Neg(n)
					}
					fb.(*array.Decimal128Builder).Append(decimal128.FromBigInt(n))
					text.WriteString(new(big.Rat).SetFrac(n, big.NewInt(1000)).FloatString(3))
				case 4:
					if mask&0x10 != 0 {
						fb.AppendNull()
						text.WriteString("null")
						continue
					}
					mb := fb.(*array.MapBuilder)
					mb.Append(true)
					text.WriteByte('{')
					for e := range int(in.byte() % 3) {
						if e > 0 {
							text.WriteByte(',')
						}
						key, v := in.text(), int64(in.uint64())
						mb.KeyBuilder().(*array.StringBuilder).Append(key)
						mb.ItemBuilder().(*array.Int64Builder).Append(v)
						if !utf8.ValidString(key) {
							bad(ReasonInvalidUTF8)
						}
						writeJSON(&text, key)
						text.WriteString(":" + strconv.FormatInt(v, 10))
					}
					text.WriteByte('}')
				case 5:
					ms := int64(in.uint64()) % (200_000 * 365 * 86_400_000)
					fb.(*array.TimestampBuilder).Append(arrow.Timestamp(ms))
					writeJSON(&text, time.UnixMilli(ms).UTC().Format(time.RFC3339Nano))
				case 6:
					// A byte array without a logical type: text.
					b := []byte(in.text())
					fb.(*array.BinaryBuilder).Append(b)
					if !utf8.Valid(b) {
						bad(ReasonInvalidUTF8)
					}
					writeJSON(&text, string(b))
				case 7:
					u := in.uint64()
					fb.(*array.Uint64Builder).Append(u)
					text.WriteString(strconv.FormatUint(u, 10))
				case 8:
					days := int32(in.uint64() % 2_000_000)
					fb.(*array.Date32Builder).Append(arrow.Date32(days))
					writeJSON(&text, time.Unix(int64(days)*86_400, 0).UTC().Format(time.DateOnly))
				case 9:
					us := in.uint64() % 90_000_000_000 // past 24:00 at times
					fb.(*array.Time64Builder).Append(arrow.Time64(us))
					if us >= 86_400_000_000 {
						bad(ReasonInvalidValue)
					}
					writeJSON(&text, time.UnixMicro(int64(us)).UTC().Format("15:04:05.000000"))
				}
			}
			text.WriteByte('}')
		}
		text.WriteByte(']')
		fc.want, fc.reasons = append(fc.want, text.String()), append(fc.reasons, reason)
	}
	return lb.NewArray(), fc
}

func writeJSON(w *bytes.Buffer, v any) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err)
	}
	w.Truncate(w.Len() - 1) // the newline
}

// FuzzParquetValue converts random nested Arrow values, as the Parquet
// reader gets them, and checks the JSON against encoding/json's rendering
// of the same values token by token (so struct and map order count), and
// that values JSON cannot hold are refused with the right reason.
func FuzzParquetValue(f *testing.F) {
	f.Add([]byte{1, 0, 0})
	f.Add([]byte("\x03\x00\x00\x00\x00\x00\x00\xf0\x7f\x01"))                           // +Inf
	f.Add([]byte("\x02\x1e\x05\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0bhi\xff\"\\")) // bad UTF-8
	f.Add([]byte("\x05\xff\x06\x00\x07\x00"))
	f.Add(bytes.Repeat([]byte("\x0b\x0d\x42\x09\x00\x01\x7f<&>\u2028"), 8))
	f.Fuzz(func(t *testing.T, data []byte) {
		arr, fc := buildFuzzColumn(data)
		defer arr.Release()
		conv, err := newConverter(arr.DataType(), nil, false, typeHints{})
		if err != nil {
			t.Fatal(err)
		}
		values := conv(arr)
		for i := range arr.Len() {
			var text string
			v, err := values(i, &text)
			if _, ok := v.(inTexts); ok {
				v = text
			}
			if fc.reasons[i] != "" {
				var ve *valueError
				if !errors.As(err, &ve) || ve.reason != fc.reasons[i] {
					t.Fatalf("row %d: %v (%T), want a value error %s", i, err, err, fc.reasons[i])
				}
				continue
			}
			if err != nil {
				t.Fatalf("row %d: %v", i, err)
			}
			if fc.want[i] == "" {
				if v != nil {
					t.Fatalf("row %d: %s, want nil", i, v)
				}
				continue
			}
			got, ok := v.(json.RawMessage)
			if !ok || !json.Valid(got) {
				t.Fatalf("row %d: %#v is not JSON text", i, v)
			}
			if err := sameTokens(got, []byte(fc.want[i])); err != nil {
				t.Fatalf("row %d: %v\n got %s\nwant %s", i, err, got, fc.want[i])
			}
		}
	})
}

// sameTokens compares two JSON texts token by token: strings by their
// value, numbers by their text.
func sameTokens(a, b []byte) error {
	da, db := json.NewDecoder(bytes.NewReader(a)), json.NewDecoder(bytes.NewReader(b))
	da.UseNumber()
	db.UseNumber()
	for {
		ta, erra := da.Token()
		tb, errb := db.Token()
		if erra == io.EOF && errb == io.EOF {
			return nil
		}
		if erra != nil || errb != nil {
			return errors.Join(erra, errb)
		}
		if ta != tb {
			return errors.New("token " + tokenText(ta) + " differs from " + tokenText(tb))
		}
	}
}

func tokenText(t json.Token) string {
	b, _ := json.Marshal(t)
	return string(b)
}

// TestFloat32Value checks that FLOAT values become the float64 of their
// shortest decimal.
func TestFloat32Value(t *testing.T) {
	for _, f := range []float32{0.1, 1.1, -3.4028235e38, 1e-45, 16777217, 0, float32(math.Copysign(0, -1))} {
		v, err := float32Value(f)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := strconv.FormatFloat(v.(float64), 'g', -1, 64), strconv.FormatFloat(float64(f), 'g', -1, 32); got != want {
			t.Errorf("float32 %v: %s, want %s", f, got, want)
		}
	}
	for _, f := range []float32{float32(math.NaN()), float32(math.Inf(1))} {
		if _, err := float32Value(f); err == nil {
			t.Errorf("float32 %v: no error", f)
		}
	}
}

func TestAppendScaled(t *testing.T) {
	tests := []struct {
		v     string
		scale int32
		want  string
	}{
		{"0", 2, "0.00"},
		{"5", 2, "0.05"},
		{"-5", 2, "-0.05"},
		{"12345", 2, "123.45"},
		{"-12345", 0, "-12345"},
		{"12", -3, "12000"},
		{"0", -3, "0"},
		{"99999999999999999999999999999999999999", 38, "0.99999999999999999999999999999999999999"},
		{"-170141183460469231731687303715884105728", 5, "-1701411834604692317316873037158841.05728"},
	}
	for _, tt := range tests {
		n := mustBig(tt.v)
		if got := string(appendDecimalBig(nil, new(big.Int).Set(n), tt.scale)); got != tt.want {
			t.Errorf("%s scale %d: %s, want %s", tt.v, tt.scale, got, tt.want)
		}
		if n.BitLen() < 127 {
			if got := string(appendDecimal128(nil, decimal128.FromBigInt(n), tt.scale)); got != tt.want {
				t.Errorf("decimal128 %s scale %d: %s, want %s", tt.v, tt.scale, got, tt.want)
			}
		}
	}
}

func TestInt96Time(t *testing.T) {
	enc := func(day int32, nanos int64) []byte {
		b := make([]byte, 12)
		binary.LittleEndian.PutUint64(b, uint64(nanos))
		binary.LittleEndian.PutUint32(b[8:], uint32(day))
		return b
	}
	tests := []struct {
		name string
		b    []byte
		want time.Time
	}{
		{"epoch", enc(2_440_588, 0), time.Unix(0, 0).UTC()},
		{"nanoseconds kept", enc(2_440_588, 1_000_000_123), time.Unix(1, 123).UTC()},
		{"before 1970", enc(2_440_587, 86_399_999_999_999), time.Unix(-1, 999_999_999).UTC()},
		{"year 1", enc(1_721_426, 0), time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		if got := int96Time(tt.b); !got.Equal(tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestTimeOfDay(t *testing.T) {
	tests := []struct {
		v    int64
		unit arrow.TimeUnit
		want string
	}{
		{0, arrow.Second, "00:00:00"},
		{86_399, arrow.Second, "23:59:59"},
		{45_296_789, arrow.Millisecond, "12:34:56.789"},
		{45_296_000_001, arrow.Microsecond, "12:34:56.000001"},
		{45_296_000_000_001, arrow.Nanosecond, "12:34:56.000000001"},
	}
	for _, tt := range tests {
		got, err := appendTimeOfDay(nil, tt.v, tt.unit)
		if err != nil || string(got) != tt.want {
			t.Errorf("%d%s: %s (%v), want %s", tt.v, tt.unit, got, err, tt.want)
		}
	}
	for _, v := range []int64{-1, 86_400_000} {
		if _, err := appendTimeOfDay(nil, v, arrow.Millisecond); err == nil {
			t.Errorf("%dms: no error", v)
		}
	}
}
