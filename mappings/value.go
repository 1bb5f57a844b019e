package mappings

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/backfillhq/backfill/internal/jsontext"
)

// colType is the declared type of a source column.
type colType uint8

const (
	typeAsRead colType = iota // not declared: the value is kept as read
	typeString
	typeInt
	typeFloat
	typeBool
	typeJSON
	typeTimestamp
	typeBytes
)

// colTypes are the names of the declarable column types.
var colTypes = map[string]colType{
	"string":    typeString,
	"int":       typeInt,
	"float":     typeFloat,
	"bool":      typeBool,
	"json":      typeJSON,
	"timestamp": typeTimestamp,
	"bytes":     typeBytes,
}

// colTypeList names the declarable column types, for errors.
const colTypeList = "string, int, float, bool, json, timestamp or bytes"

func (t colType) String() string {
	for name, ct := range colTypes {
		if ct == t {
			return name
		}
	}
	return "as read"
}

// rawKind returns the first byte of a JSON text, which tells its kind:
// '"', '{', '[', 't', 'f', 'n', or a number's first byte. It is 0 for an
// empty text.
func rawKind(raw []byte) byte {
	for _, c := range raw {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return c
	}
	return 0
}

// isNull reports whether v is an absent value: nil or JSON null.
func isNull(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case json.RawMessage:
		return rawNull(x)
	}
	return false
}

// rawNull reports whether JSON text is null, or empty (no value).
func rawNull(raw []byte) bool {
	k := rawKind(raw)
	return k == 'n' || k == 0
}

// unquote returns the string a JSON string literal stands for.
func unquote(raw json.RawMessage) (string, error) {
	if s, ok := plainString(raw); ok {
		return s, nil
	}
	if s, ok := jsontext.Unquote(bytes.TrimSpace(raw)); ok {
		return s, nil
	}
	return "", fmt.Errorf("invalid JSON string")
}

// plainString returns the string a JSON string literal stands for when it
// is the literal's text between its quotes: printable ASCII without
// escapes, as most ids and names are. It reports false for any other text.
func plainString(raw []byte) (string, bool) {
	if !plainLiteral(raw) {
		return "", false
	}
	return string(raw[1 : len(raw)-1]), true
}

var (
	errNotBytes  = errors.New("want a string or a byte array")
	errNotInt    = errors.New("not an integer")
	errNotNumber = errors.New("not a number")
	errNotBool   = errors.New("not a bool (want true, false, 1, 0, yes or no)")
	errNotText   = errors.New("want a string or a number")
)

// coerceTo converts v to a column's declared type, parsing declared
// timestamps with their format.
func coerceTo(v any, t colType, tp *timeParser) (any, bool, error) {
	if t != typeTimestamp {
		return coerce(v, t)
	}
	if isNull(v) || blank(v) {
		return nil, false, nil
	}
	ts, err := tp.parse(v)
	if err != nil {
		return nil, false, err
	}
	return ts, true, nil
}

// blank reports whether v is an empty or all-blank string (a Go string or
// a JSON one).
func blank(v any) bool {
	switch x := v.(type) {
	case string:
		return strings.TrimSpace(x) == ""
	case json.RawMessage:
		return blankRaw(x)
	}
	return false
}

// blankRaw reports whether x is a JSON string that is empty or all blank.
func blankRaw(x json.RawMessage) bool {
	raw := trimSpace(x)
	if len(raw) < 2 || raw[0] != '"' {
		return false
	}
	body := raw[1 : len(raw)-1]
	if len(body) > 0 && body[0] > ' ' && body[0] < 0x80 && body[0] != '\\' {
		return false // starts with a printable ASCII character: the common case
	}
	if containsByte(body, '\\') {
		s, err := unquote(raw)
		return err == nil && strings.TrimSpace(s) == ""
	}
	return len(trimSpace(body)) == 0
}

// coerce converts v to the declared type t. It returns the converted value
// and whether there is one: nil and JSON null are absent, and so is an empty
// or blank string for every declared type but string. Undeclared values are
// kept as they are. JSON numbers stay exact: a JSON integer declared int and
// any JSON number declared float keep their text.
func coerce(v any, t colType) (any, bool, error) {
	switch t {
	case typeAsRead:
		return v, !isNull(v), nil
	case typeBytes:
		return coerceBytes(v)
	}
	switch x := v.(type) {
	case nil:
		return nil, false, nil
	case string:
		return coerceString(x, t)
	case []byte:
		// A Parquet byte array read as bytes (readers.Options.Bytes).
		if t == typeJSON {
			return base64.StdEncoding.EncodeToString(x), true, nil
		}
		return nil, false, fmt.Errorf("want a %s, not a byte array (the column is read as bytes: declare it bytes)", t)
	case json.RawMessage:
		switch k := rawKind(x); k {
		case 0, 'n':
			return nil, false, nil
		case '"':
			s, err := unquote(x)
			if err != nil {
				return nil, false, err
			}
			// Declared json, a string is JSON text (as exports often
			// write nested data) and is parsed.
			return coerceString(s, t)
		case 't', 'f':
			b := k == 't'
			switch t {
			case typeBool:
				return b, true, nil
			case typeString:
				return strconv.FormatBool(b), true, nil
			case typeJSON:
				return x, true, nil
			}
			return nil, false, errNotNumber
		case '{', '[':
			switch t {
			case typeJSON:
				return x, true, nil
			case typeString:
				return string(bytes.TrimSpace(x)), true, nil
			}
			return nil, false, fmt.Errorf("want a %s, not a JSON %s", t, kindName(k))
		default:
			return coerceNumber(string(bytes.TrimSpace(x)), x, t)
		}
	case json.Number:
		return coerceNumber(string(x), json.RawMessage(x), t)
	case int64:
		switch t {
		case typeInt, typeFloat, typeJSON:
			return x, true, nil
		case typeString:
			return strconv.FormatInt(x, 10), true, nil
		case typeBool:
			if x == 0 || x == 1 {
				return x == 1, true, nil
			}
			return nil, false, errNotBool
		}
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, false, errNotNumber
		}
		switch t {
		case typeFloat, typeJSON:
			return x, true, nil
		case typeInt:
			if i, ok := floatToInt(x); ok {
				return i, true, nil
			}
			return nil, false, errNotInt
		case typeString:
			return strconv.FormatFloat(x, 'f', -1, 64), true, nil
		case typeBool:
			if x == 0 || x == 1 {
				return x == 1, true, nil
			}
			return nil, false, errNotBool
		}
	case bool:
		switch t {
		case typeBool, typeJSON:
			return x, true, nil
		case typeString:
			return strconv.FormatBool(x), true, nil
		}
		return nil, false, errNotNumber
	case time.Time:
		switch t {
		case typeString:
			return x.Format(time.RFC3339Nano), true, nil
		case typeJSON:
			return x, true, nil
		}
		return nil, false, fmt.Errorf("want a %s, not a time", t)
	case []any, map[string]any:
		switch t {
		case typeJSON:
			return x, true, nil
		case typeString:
			b, err := json.Marshal(x)
			if err != nil {
				return nil, false, err
			}
			return string(b), true, nil
		}
		return nil, false, fmt.Errorf("want a %s, not a list or an object", t)
	}
	return nil, false, fmt.Errorf("unsupported value of type %T", v)
}

// coerceBytes converts v to bytes: the standard base64 (RFC 4648, with
// padding) of a byte array read as bytes, or of a string's UTF-8 bytes (a
// CSV field, a JSON string). A JSON list or object is kept as it is: the
// Parquet reader writes the byte arrays inside a column read as bytes as
// base64 already. Numbers and bools are an error.
func coerceBytes(v any) (any, bool, error) {
	switch x := v.(type) {
	case nil:
		return nil, false, nil
	case []byte:
		return base64.StdEncoding.EncodeToString(x), true, nil
	case string:
		return coerceString(x, typeBytes)
	case json.RawMessage:
		switch rawKind(x) {
		case 0, 'n':
			return nil, false, nil
		case '"':
			s, err := unquote(x)
			if err != nil {
				return nil, false, err
			}
			return coerceString(s, typeBytes)
		case '{', '[':
			return x, true, nil
		}
	}
	return nil, false, errNotBytes
}

func kindName(k byte) string {
	if k == '[' {
		return "array"
	}
	return "object"
}

// coerceString converts a string (a CSV field, or the content of a JSON
// string) to t. Surrounding blanks are ignored for every type but string
// and bytes. Declared bytes, a string is the standard base64 of its UTF-8
// bytes.
func coerceString(s string, t colType) (any, bool, error) {
	switch t {
	case typeString:
		return s, true, nil
	case typeBytes:
		return base64.StdEncoding.EncodeToString([]byte(s)), true, nil
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, false, nil
	}
	switch t {
	case typeInt:
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i, true, nil
		}
		if isDecimal(s) {
			if f, err := strconv.ParseFloat(s, 64); err == nil {
				if i, ok := floatToInt(f); ok {
					return i, true, nil
				}
			}
		}
		return nil, false, errNotInt
	case typeFloat:
		if !isDecimal(s) {
			return nil, false, errNotNumber
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, false, errNotNumber
		}
		return f, true, nil
	case typeBool:
		switch {
		case s == "1" || strings.EqualFold(s, "true") || strings.EqualFold(s, "yes"):
			return true, true, nil
		case s == "0" || strings.EqualFold(s, "false") || strings.EqualFold(s, "no"):
			return false, true, nil
		}
		return nil, false, errNotBool
	case typeJSON:
		var buf bytes.Buffer
		buf.Grow(len(s))
		if err := json.Compact(&buf, []byte(s)); err != nil {
			return nil, false, fmt.Errorf("not JSON: %w", err)
		}
		if buf.String() == "null" {
			return nil, false, nil
		}
		return json.RawMessage(buf.Bytes()), true, nil
	}
	return nil, false, fmt.Errorf("unknown type %d", t)
}

// coerceNumber converts the text of a JSON number to t, keeping raw (the
// number's JSON text) where the type allows, so that numbers stay exact.
func coerceNumber(s string, raw json.RawMessage, t colType) (any, bool, error) {
	switch t {
	case typeFloat, typeJSON:
		return raw, true, nil
	case typeString:
		return s, true, nil
	case typeInt:
		if strings.ContainsAny(s, ".eE") {
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return nil, false, errNotInt
			}
			if i, ok := floatToInt(f); ok {
				return i, true, nil
			}
			return nil, false, errNotInt
		}
		return raw, true, nil
	case typeBool:
		switch s {
		case "1":
			return true, true, nil
		case "0":
			return false, true, nil
		}
		return nil, false, errNotBool
	}
	return nil, false, fmt.Errorf("unknown type %d", t)
}

// floatToInt returns f as an int64 if it is a whole number in range.
func floatToInt(f float64) (int64, bool) {
	if f != math.Trunc(f) || f < -(1<<63) || f >= 1<<63 {
		return 0, false
	}
	return int64(f), true
}

// isDecimal reports whether s is a decimal number: an optional sign, digits
// with an optional fraction, and an optional exponent. It refuses what
// strconv.ParseFloat accepts beyond that (hex, underscores, "Inf", "NaN").
func isDecimal(s string) bool {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		digits++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			digits++
		}
	}
	if digits == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		exp := 0
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			exp++
		}
		if exp == 0 {
			return false
		}
	}
	return i == len(s)
}

// toText returns a value as text for a message field that is a string (ids,
// event names, the type): strings as they are, numbers as their decimal
// text. Empty strings, nil and JSON null are absent. Other values are an
// error.
func toText(v any) (string, bool, error) {
	switch x := v.(type) {
	case nil:
		return "", false, nil
	case string:
		return x, x != "", nil
	case json.RawMessage:
		return rawToText(x)
	case json.Number:
		return string(x), x != "", nil
	case int64:
		return strconv.FormatInt(x, 10), true, nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return "", false, errNotNumber
		}
		return strconv.FormatFloat(x, 'f', -1, 64), true, nil
	case time.Time:
		return x.UTC().Format("2006-01-02T15:04:05.000Z"), true, nil
	case []byte:
		return base64.StdEncoding.EncodeToString(x), len(x) > 0, nil
	}
	return "", false, errNotText
}

// rawToText is toText for JSON text.
func rawToText(x json.RawMessage) (string, bool, error) {
	switch rawKind(x) {
	case 0, 'n':
		return "", false, nil
	case '"':
		s, err := unquote(x)
		return s, s != "", err
	case 't', 'f', '{', '[':
		return "", false, errNotText
	}
	return string(bytes.TrimSpace(x)), true, nil
}
