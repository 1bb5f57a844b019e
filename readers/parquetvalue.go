package readers

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/decimal128"
	"github.com/apache/arrow/go/v15/parquet/pqarrow"
	"github.com/apache/arrow/go/v15/parquet/schema"
	"github.com/backfillhq/backfill/internal/jsontext"
)

// The values of Arrow arrays read from Parquet become the values of a Row
// (see Open for the table): scalars become Go values, nested values JSON
// text (json.RawMessage) written by a small encoder that keeps the order of
// struct fields and map entries and builds no map per row.

// valueFunc returns the value at row i of the array it is bound to. A
// string it returns as inTexts{}, with the string in *text, so that it
// is not boxed.
type valueFunc func(i int, text *string) (any, error)

// converter binds an array of the column's type to a valueFunc.
type converter func(arr arrow.Array) valueFunc

// appender appends the JSON text of the value at row i of arr to dst.
type appender func(dst []byte, arr arrow.Array, i int) ([]byte, error)

// valueError is a value a Row cannot carry. text stands for the value in
// the reject's raw row.
type valueError struct {
	reason string
	text   string
	err    error
}

func (e *valueError) Error() string { return e.err.Error() }

func (e *valueError) Unwrap() error { return e.err }

var errNullMapKey = errors.New("a map key is null")

// nonFinite is the error for NaN and ±Inf.
func nonFinite(f float64) *valueError {
	text := "NaN"
	switch {
	case math.IsInf(f, 1):
		text = "+Inf"
	case math.IsInf(f, -1):
		text = "-Inf"
	}
	return &valueError{reason: ReasonInvalidValue, text: text,
		err: fmt.Errorf("%s is not a number JSON can hold", text)}
}

func invalidUTF8(s string) *valueError {
	return &valueError{reason: ReasonInvalidUTF8, text: strings.ToValidUTF8(s, "\uFFFD"),
		err: fmt.Errorf("invalid UTF-8 at byte %d", invalidUTF8At([]byte(s)))}
}

// errBinaryNotText is the cause of a byte array without a logical type
// that is not valid UTF-8: it is read as text unless the column is read
// as bytes (Options.Bytes).
var errBinaryNotText = errors.New("a byte array without a logical type is read as text; if the column holds binary data, declare it bytes (it is then sent as base64)")

// binaryNotUTF8 is the error of a byte array without a logical type that
// is not valid UTF-8.
func binaryNotUTF8(s string) *valueError {
	ve := invalidUTF8(s)
	ve.err = fmt.Errorf("%w: %w", ve.err, errBinaryNotText)
	return ve
}

// int96Type marks a column of raw INT96 values (12 bytes each), read
// outside Arrow so that timestamps beyond the range of int64 nanoseconds
// keep their value.
var int96Type = &arrow.FixedSizeBinaryType{ByteWidth: 12}

// typeHints says what the Arrow types of a schema do not: the structs that
// stand for a legacy two-level list element (a repeated group named
// "array" or "<list>_tuple" that is itself annotated LIST), which are
// written as their single field.
// It also marks the timestamp types of columns that are not UTC-adjusted
// (local, naive times): Arrow's own time zone on them is not to be
// trusted, as it reads timestamps without isAdjustedToUTC as UTC and
// legacy TIMESTAMP_MILLIS and _MICROS (UTC by the format's rules) as
// naive.
//
// The Parquet schema (descr) says what the byte arrays of a column hold:
// text unless their logical type says binary data (see binaryData); and
// bytes marks a column whose byte arrays are all binary data
// (Options.Bytes).
type typeHints struct {
	unwrap map[arrow.DataType]bool
	naive  map[arrow.DataType]bool
	descr  *schema.Schema
	bytes  bool
}

// byteArrays is how the byte arrays of a leaf column are read.
type byteArrays uint8

const (
	// bytesText: text, checked for UTF-8. A byte array without a logical
	// type is text, as Impala, Hive and Spark without binaryAsString write
	// strings, and so are ENUM and JSON.
	bytesText byteArrays = iota
	// bytesBase64: binary data, sent as standard base64: BSON, UUID and
	// INTERVAL, and every byte array of a column read as bytes.
	bytesBase64
)

// byteArraysOf says how the byte arrays of the leaf column sf are read.
// A field the schema does not describe (nil) is text.
func byteArraysOf(sf *pqarrow.SchemaField, hints typeHints) byteArrays {
	if hints.bytes {
		return bytesBase64
	}
	if sf == nil || hints.descr == nil || len(sf.Children) > 0 || sf.ColIndex < 0 || sf.ColIndex >= hints.descr.NumColumns() {
		return bytesText
	}
	if binaryData(hints.descr.Column(sf.ColIndex)) {
		return bytesBase64
	}
	return bytesText
}

// binaryData reports whether a column's logical (or converted) type says
// that its byte arrays are binary data rather than text.
func binaryData(col *schema.Column) bool {
	switch col.LogicalType().(type) {
	case schema.BSONLogicalType, schema.UUIDLogicalType, schema.IntervalLogicalType:
		return true
	}
	switch col.ConvertedType() {
	case schema.ConvertedTypes.BSON, schema.ConvertedTypes.Interval:
		return true
	}
	return false
}

// child returns child k of sf, or nil where sf has no such child.
func child(sf *pqarrow.SchemaField, k int) *pqarrow.SchemaField {
	if sf == nil || k >= len(sf.Children) {
		return nil
	}
	return &sf.Children[k]
}

// newConverter returns the converter of a top-level column of type dt,
// which sf describes in the Parquet schema (nil: not described; its byte
// arrays are text). int96 marks a column of raw INT96 values.
func newConverter(dt arrow.DataType, sf *pqarrow.SchemaField, int96 bool, hints typeHints) (converter, error) {
	if int96 {
		return func(arr arrow.Array) valueFunc {
			a := arr.(*array.FixedSizeBinary)
			return func(i int, text *string) (any, error) {
				if a.IsNull(i) {
					return nil, nil
				}
				return int96Time(a.Value(i)), nil
			}
		}, nil
	}
	switch t := dt.(type) {
	case *arrow.NullType:
		return func(arrow.Array) valueFunc {
			return func(int, *string) (any, error) { return nil, nil }
		}, nil
	case *arrow.BooleanType:
		return scalar(func(a *array.Boolean, i int) (any, error) { return a.Value(i), nil }), nil
	case *arrow.Int8Type:
		return scalar(func(a *array.Int8, i int) (any, error) { return int64(a.Value(i)), nil }), nil
	case *arrow.Int16Type:
		return scalar(func(a *array.Int16, i int) (any, error) { return int64(a.Value(i)), nil }), nil
	case *arrow.Int32Type:
		return scalar(func(a *array.Int32, i int) (any, error) { return int64(a.Value(i)), nil }), nil
	case *arrow.Int64Type:
		return scalar(func(a *array.Int64, i int) (any, error) { return a.Value(i), nil }), nil
	case *arrow.Uint8Type:
		return scalar(func(a *array.Uint8, i int) (any, error) { return int64(a.Value(i)), nil }), nil
	case *arrow.Uint16Type:
		return scalar(func(a *array.Uint16, i int) (any, error) { return int64(a.Value(i)), nil }), nil
	case *arrow.Uint32Type:
		return scalar(func(a *array.Uint32, i int) (any, error) { return int64(a.Value(i)), nil }), nil
	case *arrow.Uint64Type:
		return scalar(func(a *array.Uint64, i int) (any, error) {
			if v := a.Value(i); v > math.MaxInt64 {
				return json.Number(strconv.FormatUint(v, 10)), nil
			}
			return int64(a.Value(i)), nil
		}), nil
	case *arrow.Float16Type:
		return scalar(func(a *array.Float16, i int) (any, error) { return float32Value(a.Value(i).Float32()) }), nil
	case *arrow.Float32Type:
		return scalar(func(a *array.Float32, i int) (any, error) { return float32Value(a.Value(i)) }), nil
	case *arrow.Float64Type:
		return scalar(func(a *array.Float64, i int) (any, error) {
			f := a.Value(i)
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return nil, nonFinite(f)
			}
			return f, nil
		}), nil
	case *arrow.StringType, *arrow.LargeStringType:
		return stringConverter, nil
	case *arrow.BinaryType, *arrow.LargeBinaryType, *arrow.FixedSizeBinaryType:
		switch {
		case hints.bytes:
			return func(arr arrow.Array) valueFunc {
				b := arr.(binaryArray)
				return func(i int, text *string) (any, error) {
					if arr.IsNull(i) {
						return nil, nil
					}
					// A copy: rows outlive the batch's buffers.
					return append([]byte{}, b.Value(i)...), nil
				}
			}, nil
		case byteArraysOf(sf, hints) == bytesBase64:
			return func(arr arrow.Array) valueFunc {
				b := arr.(binaryArray)
				return func(i int, text *string) (any, error) {
					if arr.IsNull(i) {
						return nil, nil
					}
					return base64.StdEncoding.EncodeToString(b.Value(i)), nil
				}
			}, nil
		}
		return stringConverter, nil
	case *arrow.Decimal128Type:
		scale := t.Scale
		return scalar(func(a *array.Decimal128, i int) (any, error) {
			return json.Number(appendDecimal128(nil, a.Value(i), scale)), nil
		}), nil
	case *arrow.Decimal256Type:
		scale := t.Scale
		return scalar(func(a *array.Decimal256, i int) (any, error) {
			return json.Number(appendDecimalBig(nil, a.Value(i).BigInt(), scale)), nil
		}), nil
	case *arrow.Date32Type:
		return scalar(func(a *array.Date32, i int) (any, error) {
			return string(appendDate(nil, int64(a.Value(i)))), nil
		}), nil
	case *arrow.Date64Type:
		return scalar(func(a *array.Date64, i int) (any, error) {
			return string(appendDate(nil, floorDiv(int64(a.Value(i)), 86_400_000))), nil
		}), nil
	case *arrow.Time32Type:
		unit := t.Unit
		return scalar(func(a *array.Time32, i int) (any, error) {
			b, err := appendTimeOfDay(nil, int64(a.Value(i)), unit)
			return string(b), err
		}), nil
	case *arrow.Time64Type:
		unit := t.Unit
		return scalar(func(a *array.Time64, i int) (any, error) {
			b, err := appendTimeOfDay(nil, int64(a.Value(i)), unit)
			return string(b), err
		}), nil
	case *arrow.TimestampType:
		unit, utc := t.Unit, !hints.naive[t]
		return scalar(func(a *array.Timestamp, i int) (any, error) {
			ts := timestampTime(int64(a.Value(i)), unit)
			if utc {
				return ts, nil
			}
			return string(appendNaive(nil, ts)), nil
		}), nil
	case *arrow.DictionaryType:
		inner, err := newConverter(t.ValueType, sf, false, hints)
		if err != nil {
			return nil, err
		}
		return func(arr arrow.Array) valueFunc {
			d := arr.(*array.Dictionary)
			values := inner(d.Dictionary())
			return func(i int, text *string) (any, error) {
				if d.IsNull(i) {
					return nil, nil
				}
				return values(d.GetValueIndex(i), text)
			}
		}, nil
	}
	app, err := newAppender(dt, sf, hints)
	if err != nil {
		return nil, err
	}
	return func(arr arrow.Array) valueFunc {
		return func(i int, text *string) (any, error) {
			if arr.IsNull(i) {
				return nil, nil
			}
			b, err := app(nil, arr, i)
			if err != nil {
				return nil, err
			}
			return json.RawMessage(b), nil
		}
	}, nil
}

// scalar makes the converter of an array type whose values get checks
// for null first.
func scalar[A arrow.Array](get func(a A, i int) (any, error)) converter {
	return func(arr arrow.Array) valueFunc {
		a := arr.(A)
		nulls := a.NullN() > 0
		return func(i int, text *string) (any, error) {
			if nulls && a.IsNull(i) {
				return nil, nil
			}
			return get(a, i)
		}
	}
}

// binaryArray is an array of byte strings.
type binaryArray interface {
	arrow.Array
	Value(i int) []byte
}

// stringConverter copies the text of a batch once into one string that
// its values share, so that rows outlive the batch's buffers, and checks
// the whole batch for valid UTF-8 in one pass. It reads strings, and byte
// arrays read as text.
func stringConverter(arr arrow.Array) valueFunc {
	switch a := arr.(type) {
	case *array.String:
		return stringValues(arr, string(a.ValueBytes()), a.ValueOffsets(), invalidUTF8)
	case *array.LargeString:
		return stringValues(arr, string(a.ValueBytes()), a.ValueOffsets(), invalidUTF8)
	case *array.Binary:
		return stringValues(arr, string(a.ValueBytes()), a.ValueOffsets(), binaryNotUTF8)
	case *array.LargeBinary:
		return stringValues(arr, string(a.ValueBytes()), a.ValueOffsets(), binaryNotUTF8)
	case *array.FixedSizeBinary:
		width := int64(a.DataType().(*arrow.FixedSizeBinaryType).ByteWidth)
		offsets := make([]int64, a.Len()+1)
		var b strings.Builder
		b.Grow(a.Len() * int(width))
		for k := range a.Len() {
			// A null holds width bytes too: they are copied, and
			// never read.
			b.Write(a.Value(k))
			offsets[k+1] = int64(k+1) * width
		}
		return stringValues(arr, b.String(), offsets, binaryNotUTF8)
	}
	return stringValues[int64](arr, "", nil, invalidUTF8)
}

// stringValues reads the values of arr from all, a copy of its text,
// value i being all[offsets[i]-offsets[0]:offsets[i+1]-offsets[0]]: the
// array's own offsets, so that a batch costs one copy of its text and no
// other allocation.
func stringValues[O int32 | int64](arr arrow.Array, all string, offsets []O, notUTF8 func(string) *valueError) valueFunc {
	var base O
	if len(offsets) > 0 {
		base = offsets[0]
	}
	valid := utf8.ValidString(all)
	for k := 0; valid && k < len(offsets)-1; k++ {
		// A value boundary inside a character would join two invalid
		// values into valid text.
		if o := offsets[k] - base; int64(o) < int64(len(all)) && !utf8.RuneStart(all[o]) {
			valid = false
		}
	}
	nulls := arr.NullN() > 0
	return func(i int, text *string) (any, error) {
		if nulls && arr.IsNull(i) {
			return nil, nil
		}
		s := all[offsets[i]-base : offsets[i+1]-base]
		if !valid && !utf8.ValidString(s) {
			return nil, notUTF8(s)
		}
		*text = s
		return inTexts{}, nil
	}
}

// float32Value is the float64 of the shortest decimal that reads back as
// f: a FLOAT 0.1 is 0.1, not 0.10000000149011612.
func float32Value(f float32) (any, error) {
	if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
		return nil, nonFinite(float64(f))
	}
	var buf [32]byte
	v, err := strconv.ParseFloat(string(strconv.AppendFloat(buf[:0], float64(f), 'g', -1, 32)), 64)
	if err != nil {
		return float64(f), nil
	}
	return v, nil
}

// int96Time decodes a legacy INT96 timestamp: nanoseconds of the day (an
// int64), then the Julian day (an int32), both little-endian. The instant
// is computed as Spark, the main writer of INT96, computes it: in int64
// microseconds that wrap around, which undoes the wrap-around of Spark's
// writing of instants far from 1970 (the year 290000 is stored with a
// negative day).
func int96Time(b []byte) time.Time {
	const (
		unixEpochJulianDay = 2_440_588
		microsPerDay       = 86_400_000_000
	)
	nanos := int64(binary.LittleEndian.Uint64(b[:8]))
	day := int64(int32(binary.LittleEndian.Uint32(b[8:12])))
	micros := (day-unixEpochJulianDay)*microsPerDay + nanos/1000
	return time.UnixMicro(micros).Add(time.Duration(nanos % 1000)).UTC()
}

// timestampTime is the instant of v units after the Unix epoch.
func timestampTime(v int64, unit arrow.TimeUnit) time.Time {
	switch unit {
	case arrow.Second:
		return time.Unix(v, 0).UTC()
	case arrow.Millisecond:
		return time.UnixMilli(v).UTC()
	case arrow.Microsecond:
		return time.UnixMicro(v).UTC()
	}
	return time.Unix(0, v).UTC()
}

// naiveLayout formats a timestamp without a zone, with the fraction
// digits it needs.
const naiveLayout = "2006-01-02T15:04:05.999999999"

func appendNaive(dst []byte, t time.Time) []byte { return t.AppendFormat(dst, naiveLayout) }

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// appendDate appends the date days after 1970-01-01.
func appendDate(dst []byte, days int64) []byte {
	return time.Unix(days*86_400, 0).UTC().AppendFormat(dst, time.DateOnly)
}

// appendTimeOfDay appends a time of day given in unit since midnight, with
// the fraction digits of the unit.
func appendTimeOfDay(dst []byte, v int64, unit arrow.TimeUnit) ([]byte, error) {
	perSecond, digits := int64(1), 0
	switch unit {
	case arrow.Millisecond:
		perSecond, digits = 1e3, 3
	case arrow.Microsecond:
		perSecond, digits = 1e6, 6
	case arrow.Nanosecond:
		perSecond, digits = 1e9, 9
	}
	if v < 0 || v >= 86_400*perSecond {
		return dst, &valueError{reason: ReasonInvalidValue, text: strconv.FormatInt(v, 10),
			err: fmt.Errorf("time of day %d%s is outside 00:00 to 24:00", v, unit)}
	}
	sec, frac := v/perSecond, v%perSecond
	dst = append(dst, two(sec/3600)...)
	dst = append(dst, ':')
	dst = append(dst, two(sec/60%60)...)
	dst = append(dst, ':')
	dst = append(dst, two(sec%60)...)
	if digits > 0 {
		dst = append(dst, '.')
		f := strconv.FormatInt(frac, 10)
		for range digits - len(f) {
			dst = append(dst, '0')
		}
		dst = append(dst, f...)
	}
	return dst, nil
}

func two(n int64) string { return string([]byte{byte('0' + n/10), byte('0' + n%10)}) }

// appendDecimal128 appends the exact decimal text of n with scale digits
// after the point.
func appendDecimal128(dst []byte, n decimal128.Num, scale int32) []byte {
	hi, lo := n.HighBits(), n.LowBits()
	if (hi == 0 && lo <= math.MaxInt64) || (hi == -1 && lo > math.MaxInt64) {
		v := int64(lo)
		var buf [24]byte
		digits := strconv.AppendUint(buf[:0], absInt64(v), 10)
		return appendScaled(dst, v < 0, digits, scale)
	}
	return appendDecimalBig(dst, n.BigInt(), scale)
}

func absInt64(v int64) uint64 {
	if v < 0 {
		return uint64(-(v + 1)) + 1
	}
	return uint64(v)
}

// appendDecimalBig appends the exact decimal text of the unscaled n.
func appendDecimalBig(dst []byte, n *big.Int, scale int32) []byte {
	neg := n.Sign() < 0
	digits := n.Abs(n).Append(nil, 10)
	return appendScaled(dst, neg, digits, scale)
}

// appendScaled places the decimal point scale digits from the right of
// the unscaled digits.
func appendScaled(dst []byte, neg bool, digits []byte, scale int32) []byte {
	if neg && !(len(digits) == 1 && digits[0] == '0') {
		dst = append(dst, '-')
	}
	switch s := int(scale); {
	case s <= 0:
		dst = append(dst, digits...)
		if !(len(digits) == 1 && digits[0] == '0') {
			for range -s {
				dst = append(dst, '0')
			}
		}
	case len(digits) <= s:
		dst = append(dst, '0', '.')
		for range s - len(digits) {
			dst = append(dst, '0')
		}
		dst = append(dst, digits...)
	default:
		dst = append(dst, digits[:len(digits)-s]...)
		dst = append(dst, '.')
		dst = append(dst, digits[len(digits)-s:]...)
	}
	return dst
}

// newAppender returns the JSON appender of values of type dt, which sf
// describes in the Parquet schema (or nil).
func newAppender(dt arrow.DataType, sf *pqarrow.SchemaField, hints typeHints) (appender, error) {
	app, err := newValueAppender(dt, sf, hints)
	if err != nil {
		return nil, err
	}
	return func(dst []byte, arr arrow.Array, i int) ([]byte, error) {
		if arr.IsNull(i) {
			return append(dst, "null"...), nil
		}
		return app(dst, arr, i)
	}, nil
}

// newValueAppender returns the appender of non-null values of type dt,
// which sf describes in the Parquet schema (or nil).
func newValueAppender(dt arrow.DataType, sf *pqarrow.SchemaField, hints typeHints) (appender, error) {
	switch t := dt.(type) {
	case *arrow.NullType:
		return func(dst []byte, _ arrow.Array, _ int) ([]byte, error) { return append(dst, "null"...), nil }, nil
	case *arrow.BooleanType:
		return func(dst []byte, arr arrow.Array, i int) ([]byte, error) {
			return strconv.AppendBool(dst, arr.(*array.Boolean).Value(i)), nil
		}, nil
	case *arrow.Int8Type:
		return intAppender(func(a *array.Int8, i int) int64 { return int64(a.Value(i)) }), nil
	case *arrow.Int16Type:
		return intAppender(func(a *array.Int16, i int) int64 { return int64(a.Value(i)) }), nil
	case *arrow.Int32Type:
		return intAppender(func(a *array.Int32, i int) int64 { return int64(a.Value(i)) }), nil
	case *arrow.Int64Type:
		return intAppender(func(a *array.Int64, i int) int64 { return a.Value(i) }), nil
	case *arrow.Uint8Type:
		return intAppender(func(a *array.Uint8, i int) int64 { return int64(a.Value(i)) }), nil
	case *arrow.Uint16Type:
		return intAppender(func(a *array.Uint16, i int) int64 { return int64(a.Value(i)) }), nil
	case *arrow.Uint32Type:
		return intAppender(func(a *array.Uint32, i int) int64 { return int64(a.Value(i)) }), nil
	case *arrow.Uint64Type:
		return func(dst []byte, arr arrow.Array, i int) ([]byte, error) {
			return strconv.AppendUint(dst, arr.(*array.Uint64).Value(i), 10), nil
		}, nil
	case *arrow.Float16Type:
		return func(dst []byte, arr arrow.Array, i int) ([]byte, error) {
			return appendFloat(dst, float64(arr.(*array.Float16).Value(i).Float32()), 32)
		}, nil
	case *arrow.Float32Type:
		return func(dst []byte, arr arrow.Array, i int) ([]byte, error) {
			return appendFloat(dst, float64(arr.(*array.Float32).Value(i)), 32)
		}, nil
	case *arrow.Float64Type:
		return func(dst []byte, arr arrow.Array, i int) ([]byte, error) {
			return appendFloat(dst, arr.(*array.Float64).Value(i), 64)
		}, nil
	case *arrow.StringType:
		return func(dst []byte, arr arrow.Array, i int) ([]byte, error) {
			return appendJSONString(dst, arr.(*array.String).Value(i))
		}, nil
	case *arrow.LargeStringType:
		return func(dst []byte, arr arrow.Array, i int) ([]byte, error) {
			return appendJSONString(dst, arr.(*array.LargeString).Value(i))
		}, nil
	case *arrow.BinaryType, *arrow.LargeBinaryType, *arrow.FixedSizeBinaryType:
		if byteArraysOf(sf, hints) == bytesText {
			return func(dst []byte, arr arrow.Array, i int) ([]byte, error) {
				b := arr.(binaryArray).Value(i)
				// AppendValidString keeps nothing of the string: it
				// may share b's bytes.
				dst, ok := jsontext.AppendValidString(dst, unsafe.String(unsafe.SliceData(b), len(b)))
				if !ok {
					return dst, binaryNotUTF8(string(b))
				}
				return dst, nil
			}, nil
		}
		return func(dst []byte, arr arrow.Array, i int) ([]byte, error) {
			dst = append(dst, '"')
			dst = base64.StdEncoding.AppendEncode(dst, arr.(binaryArray).Value(i))
			return append(dst, '"'), nil
		}, nil
	case *arrow.Decimal128Type:
		scale := t.Scale
		return func(dst []byte, arr arrow.Array, i int) ([]byte, error) {
			return appendDecimal128(dst, arr.(*array.Decimal128).Value(i), scale), nil
		}, nil
	case *arrow.Decimal256Type:
		scale := t.Scale
		return func(dst []byte, arr arrow.Array, i int) ([]byte, error) {
			return appendDecimalBig(dst, arr.(*array.Decimal256).Value(i).BigInt(), scale), nil
		}, nil
	case *arrow.Date32Type:
		return func(dst []byte, arr arrow.Array, i int) ([]byte, error) {
			dst = append(dst, '"')
			dst = appendDate(dst, int64(arr.(*array.Date32).Value(i)))
			return append(dst, '"'), nil
		}, nil
	case *arrow.Date64Type:
		return func(dst []byte, arr arrow.Array, i int) ([]byte, error) {
			dst = append(dst, '"')
			dst = appendDate(dst, floorDiv(int64(arr.(*array.Date64).Value(i)), 86_400_000))
			return append(dst, '"'), nil
		}, nil
	case *arrow.Time32Type:
		unit := t.Unit
		return func(dst []byte, arr arrow.Array, i int) ([]byte, error) {
			return quoted(dst, func(dst []byte) ([]byte, error) {
				return appendTimeOfDay(dst, int64(arr.(*array.Time32).Value(i)), unit)
			})
		}, nil
	case *arrow.Time64Type:
		unit := t.Unit
		return func(dst []byte, arr arrow.Array, i int) ([]byte, error) {
			return quoted(dst, func(dst []byte) ([]byte, error) {
				return appendTimeOfDay(dst, int64(arr.(*array.Time64).Value(i)), unit)
			})
		}, nil
	case *arrow.TimestampType:
		unit, utc := t.Unit, !hints.naive[t]
		return func(dst []byte, arr arrow.Array, i int) ([]byte, error) {
			ts := timestampTime(int64(arr.(*array.Timestamp).Value(i)), unit)
			dst = append(dst, '"')
			if utc {
				dst = ts.AppendFormat(dst, time.RFC3339Nano)
			} else {
				dst = appendNaive(dst, ts)
			}
			return append(dst, '"'), nil
		}, nil
	case *arrow.DictionaryType:
		inner, err := newAppender(t.ValueType, sf, hints)
		if err != nil {
			return nil, err
		}
		return func(dst []byte, arr arrow.Array, i int) ([]byte, error) {
			d := arr.(*array.Dictionary)
			return inner(dst, d.Dictionary(), d.GetValueIndex(i))
		}, nil
	case *arrow.MapType:
		return newMapAppender(t, sf, hints)
	case *arrow.ListType:
		return newListAppender(t.Elem(), child(sf, 0), hints)
	case *arrow.LargeListType:
		return newListAppender(t.Elem(), child(sf, 0), hints)
	case *arrow.FixedSizeListType:
		return newListAppender(t.Elem(), child(sf, 0), hints)
	case *arrow.StructType:
		if hints.unwrap[t] && t.NumFields() == 1 {
			inner, err := newAppender(t.Field(0).Type, child(sf, 0), hints)
			if err != nil {
				return nil, err
			}
			return func(dst []byte, arr arrow.Array, i int) ([]byte, error) {
				return inner(dst, arr.(*array.Struct).Field(0), i)
			}, nil
		}
		return newStructAppender(t, sf, hints)
	}
	return nil, fmt.Errorf("unsupported type %s", dt)
}

func intAppender[A arrow.Array](get func(a A, i int) int64) appender {
	return func(dst []byte, arr arrow.Array, i int) ([]byte, error) {
		return strconv.AppendInt(dst, get(arr.(A), i), 10), nil
	}
}

// quoted appends the text fn appends as a JSON string; the text needs no
// escaping.
func quoted(dst []byte, fn func(dst []byte) ([]byte, error)) ([]byte, error) {
	dst = append(dst, '"')
	dst, err := fn(dst)
	if err != nil {
		return dst, err
	}
	return append(dst, '"'), nil
}

func newListAppender(elem arrow.DataType, sf *pqarrow.SchemaField, hints typeHints) (appender, error) {
	app, err := newAppender(elem, sf, hints)
	if err != nil {
		return nil, err
	}
	return func(dst []byte, arr arrow.Array, i int) ([]byte, error) {
		l := arr.(array.ListLike)
		start, end := l.ValueOffsets(i)
		values := l.ListValues()
		dst = append(dst, '[')
		for j := start; j < end; j++ {
			if j > start {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = app(dst, values, int(j)); err != nil {
				return dst, err
			}
		}
		return append(dst, ']'), nil
	}, nil
}

func newStructAppender(t *arrow.StructType, sf *pqarrow.SchemaField, hints typeHints) (appender, error) {
	fields := t.Fields()
	keys := make([][]byte, len(fields))
	apps := make([]appender, len(fields))
	for k, f := range fields {
		key, err := appendJSONString(nil, strings.ToValidUTF8(f.Name, "\uFFFD"))
		if err != nil {
			return nil, err
		}
		keys[k] = append(key, ':')
		if apps[k], err = newAppender(f.Type, child(sf, k), hints); err != nil {
			return nil, fmt.Errorf("field %s: %w", f.Name, err)
		}
	}
	return func(dst []byte, arr arrow.Array, i int) ([]byte, error) {
		s := arr.(*array.Struct)
		dst = append(dst, '{')
		for k, app := range apps {
			if k > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, keys[k]...)
			var err error
			if dst, err = app(dst, s.Field(k), i); err != nil {
				return dst, err
			}
		}
		return append(dst, '}'), nil
	}, nil
}

// newMapAppender writes a map as an object in entry order. Keys that are
// not strings become the string of their JSON text (5 becomes "5").
func newMapAppender(t *arrow.MapType, sf *pqarrow.SchemaField, hints typeHints) (appender, error) {
	entries := child(sf, 0)
	key, err := newValueAppender(t.KeyType(), child(entries, 0), hints)
	if err != nil {
		return nil, fmt.Errorf("map key: %w", err)
	}
	item, err := newAppender(t.ItemType(), child(entries, 1), hints)
	if err != nil {
		return nil, fmt.Errorf("map value: %w", err)
	}
	var scratch []byte
	return func(dst []byte, arr arrow.Array, i int) ([]byte, error) {
		m := arr.(*array.Map)
		start, end := m.ValueOffsets(i)
		keys, items := m.Keys(), m.Items()
		dst = append(dst, '{')
		for j := start; j < end; j++ {
			if j > start {
				dst = append(dst, ',')
			}
			if keys.IsNull(int(j)) {
				return dst, &valueError{reason: ReasonInvalidValue, text: "null", err: errNullMapKey}
			}
			var err error
			if scratch, err = key(scratch[:0], keys, int(j)); err != nil {
				return dst, err
			}
			if len(scratch) > 0 && scratch[0] == '"' {
				dst = append(dst, scratch...)
			} else {
				dst = append(dst, '"')
				dst = append(dst, scratch...)
				dst = append(dst, '"')
			}
			dst = append(dst, ':')
			if dst, err = item(dst, items, int(j)); err != nil {
				return dst, err
			}
		}
		return append(dst, '}'), nil
	}, nil
}

// appendFloat appends f as a JSON number, as encoding/json writes a float
// of the given bit size. NaN and infinities are a valueError.
func appendFloat(dst []byte, f float64, bits int) ([]byte, error) {
	dst, ok := jsontext.AppendFloat(dst, f, bits)
	if !ok {
		return dst, nonFinite(f)
	}
	return dst, nil
}

// appendJSONString appends s as a JSON string. Invalid UTF-8 is a
// valueError.
func appendJSONString(dst []byte, s string) ([]byte, error) {
	dst, ok := jsontext.AppendValidString(dst, s)
	if !ok {
		return dst, invalidUTF8(s)
	}
	return dst, nil
}

// appendRowJSON writes the values of a row as one JSON object, for the raw
// bytes of a reject. Values a row cannot carry are given as the text in
// their valueError.
func appendRowJSON(dst []byte, names []string, values []any) []byte {
	dst = append(dst, '{')
	for k, name := range names {
		if k > 0 {
			dst = append(dst, ',')
		}
		dst, _ = appendJSONString(dst, strings.ToValidUTF8(name, "\uFFFD"))
		dst = append(dst, ':')
		dst = appendAnyJSON(dst, values[k])
	}
	return append(dst, '}')
}

// appendAnyJSON writes one value of a Row as JSON.
func appendAnyJSON(dst []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(dst, "null"...)
	case bool:
		return strconv.AppendBool(dst, x)
	case int64:
		return strconv.AppendInt(dst, x, 10)
	case float64:
		if b, err := appendFloat(dst, x, 64); err == nil {
			return b
		}
		return jsontext.AppendString(dst, strconv.FormatFloat(x, 'g', -1, 64))
	case json.Number:
		return append(dst, x...)
	case json.RawMessage:
		return append(dst, x...)
	case []byte:
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, x)
		return append(dst, '"')
	case time.Time:
		dst = append(dst, '"')
		dst = x.AppendFormat(dst, time.RFC3339Nano)
		return append(dst, '"')
	case string:
		b, err := appendJSONString(dst, x)
		if err != nil {
			b, _ = appendJSONString(dst, strings.ToValidUTF8(x, "\uFFFD"))
		}
		return b
	}
	b, err := json.Marshal(v)
	if err != nil {
		return append(dst, "null"...)
	}
	return append(dst, b...)
}
