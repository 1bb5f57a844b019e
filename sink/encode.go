package sink

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/backfillhq/backfill/internal/jsontext"
	"github.com/backfillhq/backfill/internal/version"
)

// Version is the library version reported in context.library: backfill's
// module version as the build records it (v1.2.3 for go install …@v1.2.3,
// a pseudo-version for a build from a checkout, the version a release
// build stamps, or (devel)), read once when the program starts. See
// backfill version.
var Version = version.Get().Version

// MaxMessageIDBytes is the longest messageId Segment keeps; it drops
// messages with longer ones without saying so.
const MaxMessageIDBytes = 100

// ValidationError is a message that breaks Segment's spec, naming the field.
type ValidationError struct {
	Field  string // the message field at fault, such as "userId"
	Reason string // stable identifier, such as "missing_id"
	Detail string // a sentence for people
}

// Error names the field and says what is wrong.
func (e *ValidationError) Error() string {
	if e.Field == "" {
		return e.Detail
	}
	return e.Field + ": " + e.Detail
}

// RejectReason returns the stable reason identifier.
func (e *ValidationError) RejectReason() string { return e.Reason }

// knownKeys are the top-level keys the MessageWriter writes from a
// message's own fields; an extra member may not repeat them.
var knownKeys = [...]string{
	"type", "messageId", "timestamp", "userId", "anonymousId", "event", "name",
	"category", "groupId", "previousId", "properties", "traits", "context", "integrations",
}

// specFields are the string fields the spec rules look at, shared by the
// MessageWriter and the Receiver so that both apply the same rules.
type specFields struct {
	typ, messageID, userID, anonymousID, event, groupID, previousID string
}

// check applies the rules on type, ids, event and messageId.
func (f *specFields) check() *ValidationError {
	switch f.typ {
	case TypeIdentify, TypeTrack, TypePage, TypeScreen, TypeGroup, TypeAlias:
	case "":
		return &ValidationError{Field: "type", Reason: ReasonInvalidType, Detail: "type is required"}
	default:
		return &ValidationError{Field: "type", Reason: ReasonInvalidType,
			Detail: strconv.Quote(f.typ) + " is not one of identify, track, page, screen, group, alias"}
	}
	if f.typ == TypeAlias {
		if f.userID == "" {
			return &ValidationError{Field: "userId", Reason: ReasonMissingID, Detail: "an alias needs a userId"}
		}
		if f.previousID == "" {
			return &ValidationError{Field: "previousId", Reason: ReasonMissingID, Detail: "an alias needs a previousId"}
		}
	}
	if f.userID == "" && f.anonymousID == "" {
		return &ValidationError{Field: "userId", Reason: ReasonMissingID, Detail: "a userId or an anonymousId is required"}
	}
	if f.typ == TypeTrack && f.event == "" {
		return &ValidationError{Field: "event", Reason: ReasonMissingEvent, Detail: "a track needs an event name"}
	}
	if f.typ == TypeGroup && f.groupID == "" {
		return &ValidationError{Field: "groupId", Reason: ReasonMissingID, Detail: "a group needs a groupId"}
	}
	if len(f.messageID) > MaxMessageIDBytes {
		return &ValidationError{Field: "messageId", Reason: ReasonInvalidMessageID,
			Detail: "messageId is " + strconv.Itoa(len(f.messageID)) + " bytes long, the limit is " + strconv.Itoa(MaxMessageIDBytes)}
	}
	return nil
}

// Head holds the string fields of a message that Segment's rules look at:
// its type, ids, event and messageId. An empty field is a missing one.
// The MessageWriter applies the same rules to every message it writes;
// Head lets code that holds a message as raw JSON, such as a receiver,
// apply them too.
type Head struct {
	Type, MessageID, UserID, AnonymousID, Event, GroupID, PreviousID string
}

// Check returns the first rule h breaks, or nil: a type that is not one of
// the six, a message with neither userId nor anonymousId, an alias without
// userId or previousId, a track without event, a group without groupId, a
// messageId over MaxMessageIDBytes.
func (h Head) Check() *ValidationError {
	f := specFields{typ: h.Type, messageID: h.MessageID, userID: h.UserID, anonymousID: h.AnonymousID,
		event: h.Event, groupID: h.GroupID, previousID: h.PreviousID}
	return f.check()
}

// The instants RFC 3339 can write in UTC, from 0000-01-01T00:00:00Z up to
// 10000-01-01T00:00:00Z, in Unix seconds.
const (
	minRFC3339Unix = -62167219200
	endRFC3339Unix = 253402300800
)

// checkObject reports an object field holding anything but an object.
func checkObject(name string, v any) *ValidationError {
	switch v := v.(type) {
	case nil, map[string]any, map[string]string, Fields:
		return nil
	case json.RawMessage:
		if len(v) == 0 || firstNonSpace(v) == '{' {
			return nil
		}
		return &ValidationError{Field: name, Reason: ReasonInvalidField, Detail: name + " must be a JSON object"}
	default:
		return &ValidationError{Field: name, Reason: ReasonInvalidField,
			Detail: name + " must be a JSON object, not " + typeName(v)}
	}
}

func firstNonSpace(b []byte) byte {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\n', '\r':
		default:
			return c
		}
	}
	return 0
}

func typeName(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64, json.Number:
		return "a number"
	case []any, []string:
		return "an array"
	}
	return "a value of another type"
}

// appendLibrary writes the "library" member of the context.
func appendLibrary(buf []byte) []byte {
	buf = append(buf, `"library":{"name":"backfill","version":`...)
	buf = appendString(buf, Version)
	return append(buf, '}')
}

// prefixField puts name in front of the field a *ValidationError names, on
// the way out of nested objects and arrays. Other errors pass unchanged.
func prefixField(err error, name string) error {
	ve, ok := err.(*ValidationError)
	if !ok {
		return err
	}
	switch {
	case ve.Field == "":
		ve.Field = name
	case ve.Field[0] == '[':
		ve.Field = name + ve.Field
	default:
		ve.Field = name + "." + ve.Field
	}
	return ve
}

// AppendValue appends the JSON encoding of v to buf. It writes directly,
// without reflection, for nil, string, bool, the integer and float kinds,
// json.Number (checked to be a number), json.RawMessage (trusted to be valid
// JSON and copied as it is, compacted if it spans lines), time.Time (as
// TimeLayout in UTC), Fields (members in order), map[string]any and
// map[string]string (keys sorted), []any and []string; anything else goes
// through encoding/json.
//
// Strings are escaped as encoding/json does, except that <, > and & are left
// as they are; each byte of invalid UTF-8 becomes U+FFFD. NaN and infinite
// floats, malformed json.Number values and values encoding/json refuses are
// errors that implement RejectReason() string ("invalid_value") and name
// where in v they are. On error the contents appended to buf are undefined.
func AppendValue(buf []byte, v any) ([]byte, error) {
	return appendValue(buf, v)
}

func appendValue(buf []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(buf, "null"...), nil
	case string:
		return appendString(buf, v), nil
	case bool:
		return strconv.AppendBool(buf, v), nil
	case int:
		return strconv.AppendInt(buf, int64(v), 10), nil
	case int64:
		return strconv.AppendInt(buf, v, 10), nil
	case int32:
		return strconv.AppendInt(buf, int64(v), 10), nil
	case int16:
		return strconv.AppendInt(buf, int64(v), 10), nil
	case int8:
		return strconv.AppendInt(buf, int64(v), 10), nil
	case uint:
		return strconv.AppendUint(buf, uint64(v), 10), nil
	case uint64:
		return strconv.AppendUint(buf, v, 10), nil
	case uint32:
		return strconv.AppendUint(buf, uint64(v), 10), nil
	case uint16:
		return strconv.AppendUint(buf, uint64(v), 10), nil
	case uint8:
		return strconv.AppendUint(buf, uint64(v), 10), nil
	case uintptr:
		return strconv.AppendUint(buf, uint64(v), 10), nil
	case float64:
		return appendFloat(buf, v, 64)
	case float32:
		return appendFloat(buf, float64(v), 32)
	case json.Number:
		return appendNumber(buf, v)
	case json.RawMessage:
		if v == nil {
			return append(buf, "null"...), nil
		}
		return appendRaw(buf, v)
	case time.Time:
		buf = append(buf, '"')
		buf = appendTime(buf, v)
		return append(buf, '"'), nil
	case Fields:
		return appendFields(buf, v, false)
	case map[string]any:
		if v == nil {
			return append(buf, "null"...), nil
		}
		return appendMap(buf, v, false)
	case map[string]string:
		if v == nil {
			return append(buf, "null"...), nil
		}
		return appendStringMap(buf, v, false), nil
	case []any:
		if v == nil {
			return append(buf, "null"...), nil
		}
		buf = append(buf, '[')
		var err error
		for i, e := range v {
			if i > 0 {
				buf = append(buf, ',')
			}
			if buf, err = appendValue(buf, e); err != nil {
				return buf, prefixField(err, "["+strconv.Itoa(i)+"]")
			}
		}
		return append(buf, ']'), nil
	case []string:
		if v == nil {
			return append(buf, "null"...), nil
		}
		buf = append(buf, '[')
		for i, s := range v {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendString(buf, s)
		}
		return append(buf, ']'), nil
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return buf, &ValidationError{Reason: ReasonInvalidValue, Detail: err.Error()}
		}
		return append(buf, b...), nil
	}
}

// appendTime writes t in UTC with TimeLayout, truncated to the millisecond.
// It is the same as t.UTC().AppendFormat(buf, TimeLayout), several times
// faster, for the years RFC 3339 can write.
func appendTime(buf []byte, t time.Time) []byte {
	sec := t.Unix()
	if sec < minRFC3339Unix || sec >= endRFC3339Unix {
		return t.UTC().AppendFormat(buf, TimeLayout)
	}
	// Days since 0000-03-01, so that leap days end the year; the civil
	// date follows from the 400-year cycles of the Gregorian calendar.
	days := (sec - minRFC3339Unix) / 86400
	rem := int(sec - minRFC3339Unix - days*86400)
	hour, minute, second := rem/3600, rem/60%60, rem%60
	z := int(days) - 60
	era := z / 146097
	if z < 0 {
		era = (z - 146096) / 146097
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	day := doy - (153*mp+2)/5 + 1
	month := mp + 3
	year := yoe + era*400
	if month > 12 {
		month -= 12
		year++
	}
	ms := t.Nanosecond() / 1e6
	return append(buf,
		byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), '-',
		byte('0'+month/10), byte('0'+month%10), '-',
		byte('0'+day/10), byte('0'+day%10), 'T',
		byte('0'+hour/10), byte('0'+hour%10), ':',
		byte('0'+minute/10), byte('0'+minute%10), ':',
		byte('0'+second/10), byte('0'+second%10), '.',
		byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), 'Z')
}

// appendFields writes an ordered object, with the context's library member
// last when library is set.
func appendFields(buf []byte, f Fields, library bool) ([]byte, error) {
	buf = append(buf, '{')
	var err error
	for i, m := range f {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendString(buf, m.Key)
		buf = append(buf, ':')
		if buf, err = appendValue(buf, m.Value); err != nil {
			return buf, prefixField(err, m.Key)
		}
	}
	if library {
		if len(f) > 0 {
			buf = append(buf, ',')
		}
		buf = appendLibrary(buf)
	}
	return append(buf, '}'), nil
}

// appendMap writes a map with its keys sorted, so that the output does not
// depend on map order.
func appendMap(buf []byte, m map[string]any, library bool) ([]byte, error) {
	var stack [16]string
	keys := stack[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	buf = append(buf, '{')
	var err error
	for i, k := range keys {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendString(buf, k)
		buf = append(buf, ':')
		if buf, err = appendValue(buf, m[k]); err != nil {
			return buf, prefixField(err, k)
		}
	}
	if library {
		if len(keys) > 0 {
			buf = append(buf, ',')
		}
		buf = appendLibrary(buf)
	}
	return append(buf, '}'), nil
}

func appendStringMap(buf []byte, m map[string]string, library bool) []byte {
	var stack [16]string
	keys := stack[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	buf = append(buf, '{')
	for i, k := range keys {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendString(buf, k)
		buf = append(buf, ':')
		buf = appendString(buf, m[k])
	}
	if library {
		if len(keys) > 0 {
			buf = append(buf, ',')
		}
		buf = appendLibrary(buf)
	}
	return append(buf, '}')
}

// appendRaw copies trusted JSON text. Text with line breaks (which valid JSON
// holds only as white space) is compacted, so that an encoded message is
// always one line.
func appendRaw(buf []byte, raw json.RawMessage) ([]byte, error) {
	if bytes.IndexByte(raw, '\n') < 0 && bytes.IndexByte(raw, '\r') < 0 {
		return append(buf, raw...), nil
	}
	var out bytes.Buffer
	if err := json.Compact(&out, raw); err != nil {
		return buf, &ValidationError{Reason: ReasonInvalidValue, Detail: "invalid JSON: " + err.Error()}
	}
	return append(buf, out.Bytes()...), nil
}

// scalarText reports whether raw is a JSON string, number or literal with
// no white space around it, which holds no line break if it is valid.
func scalarText(raw []byte) bool {
	if len(raw) == 0 {
		return false
	}
	first, last := raw[0], raw[len(raw)-1]
	return first != '{' && first != '[' && first > ' ' && last > ' '
}

// appendFloat writes f as encoding/json does (see jsontext.AppendFloat).
// NaN and infinities are a *ValidationError.
func appendFloat(buf []byte, f float64, bits int) ([]byte, error) {
	out, ok := jsontext.AppendFloat(buf, f, bits)
	if !ok {
		return buf, nonFiniteError(f)
	}
	return out, nil
}

func nonFiniteError(f float64) *ValidationError {
	s := "NaN"
	if math.IsInf(f, 1) {
		s = "+Inf"
	} else if math.IsInf(f, -1) {
		s = "-Inf"
	}
	return &ValidationError{Reason: ReasonInvalidValue, Detail: s + " is not valid JSON"}
}

// appendNumber writes a json.Number after checking that it is a JSON number.
// The empty number is written as 0, as encoding/json does.
func appendNumber(buf []byte, n json.Number) ([]byte, error) {
	if n == "" {
		return append(buf, '0'), nil
	}
	if !isJSONNumber(string(n)) {
		return buf, &ValidationError{Reason: ReasonInvalidValue, Detail: strconv.Quote(string(n)) + " is not a JSON number"}
	}
	return append(buf, n...), nil
}

// isJSONNumber reports whether s follows the grammar of a JSON number.
func isJSONNumber(s string) bool { return jsontext.IsNumber(s) }

// appendString writes s as a JSON string (see jsontext.AppendString).
// Control characters, quotes and backslashes are escaped, as are U+2028
// and U+2029 (for JavaScript readers); each byte of invalid UTF-8 becomes
// \ufffd.
func appendString(buf []byte, s string) []byte { return jsontext.AppendString(buf, s) }
