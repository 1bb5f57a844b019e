package mappings

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/backfillhq/backfill/internal/jsontext"
	"github.com/backfillhq/backfill/readers"
	"github.com/backfillhq/backfill/sink"
)

// messageTypes are Segment's six message types, in a fixed order.
var messageTypes = [...]string{
	sink.TypeIdentify, sink.TypeTrack, sink.TypePage,
	sink.TypeScreen, sink.TypeGroup, sink.TypeAlias,
}

// typeIndex returns the index of a message type in messageTypes, or -1.
func typeIndex(s string) int {
	for i, t := range messageTypes {
		if t == s {
			return i
		}
	}
	return -1
}

// droppedFields are the top-level fields of a passed-through message that
// are not sent on. Segment sets receivedAt on arrival and the sink sets
// sentAt on every attempt; originalTimestamp is the client's own clock,
// from which Segment derives timestamp (it is read as a fallback for a
// missing timestamp, then dropped); writeKey travels in the request's
// authentication, and projectId is the source that first received the
// message: the receiving source is the one of the write key, and a stale
// id in the body would name another.
var droppedFields = map[string]bool{
	"sentAt":            true,
	"receivedAt":        true,
	"originalTimestamp": true,
	"writeKey":          true,
	"projectId":         true,
}

// Passthrough returns a Mapper for rows that are Segment messages already:
// NDJSON lines such as those of an export, or of Segment's S3 archives
// (gzipped NDJSON of the messages as received, with receivedAt, sentAt,
// projectId and _metadata).
//
// The string fields (type, userId, anonymousId, event, name, category,
// groupId, previousId, messageId) are copied; an id may be a JSON number,
// which is kept as its text. timestamp must be an RFC 3339 string with its
// zone; if it is absent or null, originalTimestamp is used; if both are,
// the row is rejected with ReasonMissingTimestamp (the current time is
// never used). properties, traits, context and integrations must be
// objects (or null) and are copied verbatim, except a context without a
// "library" member, which is split into sink.Fields so that the sink adds
// context.library.
// sentAt, receivedAt, originalTimestamp, writeKey and projectId are
// dropped; every other top-level field (channel, version, _metadata…) is
// kept, verbatim, in Message.Extra. A message without a messageId gets
// RowMessageID(row). A message without both userId and anonymousId is
// rejected with ReasonMissingID.
//
// The timestamp is read first: a row outside the time window of opts is
// filtered (its error wraps ErrFiltered) whatever else is wrong with it,
// and one later than the current time by more than opts.FutureTolerance is
// rejected with ReasonFutureTimestamp. The Mapper is safe for concurrent
// use.
func Passthrough(opts Options) Mapper {
	return &passthrough{win: newWindow(opts)}
}

type passthrough struct {
	win window
}

var _ Mapper = (*passthrough)(nil)

var errNoType = errors.New("no message type")

// rfc3339 reads the timestamps of passed-through messages.
var rfc3339 = &timeParser{kind: formatRFC3339, format: "rfc3339"}

// Map implements Mapper.
func (p *passthrough) Map(row *readers.Row, msg *sink.Message) error {
	*msg = sink.Message{}
	ts, orig := -1, -1
	var first error // the first bad field, reported after the time window
	for i, name := range row.Names {
		if i >= len(row.Values) {
			break
		}
		var err error
		reason := ReasonInvalidField
		switch name {
		case "type":
			if raw, ok := row.RawJSON(i); ok {
				if ti := quotedType(raw); ti >= 0 {
					msg.Type = messageTypes[ti]
					break
				}
			}
			var s string
			s, _, err = toText(row.Value(i))
			if err == nil && s != "" && typeIndex(s) < 0 {
				err, reason = unknownTypeError(s), ReasonInvalidType
			}
			msg.Type = s
		case "messageId":
			msg.MessageID, err = passText(row, i)
		case "userId":
			msg.UserID, err = passText(row, i)
		case "anonymousId":
			msg.AnonymousID, err = passText(row, i)
		case "event":
			msg.Event, err = passText(row, i)
		case "name":
			msg.Name, err = passText(row, i)
		case "category":
			msg.Category, err = passText(row, i)
		case "groupId":
			msg.GroupID, err = passText(row, i)
		case "previousId":
			msg.PreviousID, err = passText(row, i)
		case "timestamp":
			ts = i
		case "originalTimestamp":
			orig = i
		case "properties":
			msg.Properties, err = passObject(row.Value(i))
		case "traits":
			msg.Traits, err = passObject(row.Value(i))
		case "integrations":
			msg.Integrations, err = passObject(row.Value(i))
		case "context":
			msg.Context, err = passContext(row.Value(i))
		default:
			if !droppedFields[name] {
				msg.Extra = append(msg.Extra, sink.Field{Key: name, Value: row.Value(i)})
			}
		}
		if err != nil && first == nil {
			first = fieldError(row, name, "", row.Value(i), reason, err)
		}
	}
	if err := p.timestamp(row, msg, ts, orig); err != nil {
		return err
	}
	if first != nil {
		return first
	}
	if msg.Type == "" {
		return fieldError(row, "type", "", nil, ReasonInvalidType, errNoType)
	}
	if msg.UserID == "" && msg.AnonymousID == "" {
		return fieldError(row, "userId", "", nil, ReasonMissingID, errors.New("no userId and no anonymousId"))
	}
	if msg.MessageID == "" {
		msg.MessageID = RowMessageID(row)
	} else if len(msg.MessageID) > maxMessageID {
		return fieldError(row, "messageId", "", msg.MessageID, ReasonInvalidMessageID, errMessageIDLength)
	}
	return nil
}

var errMessageIDLength = fmt.Errorf("longer than %d bytes", maxMessageID)

// timestamp sets msg.Timestamp from the row's column ts (timestamp), else
// orig (originalTimestamp), and applies the time window. A column index
// below zero is a field the message lacks.
func (p *passthrough) timestamp(row *readers.Row, msg *sink.Message, ts, orig int) error {
	col, i := "", ts // the column is named only when it is not the field
	if absent(row, i) {
		col, i = "originalTimestamp", orig
	}
	if absent(row, i) {
		return fieldError(row, "timestamp", "", nil, ReasonMissingTimestamp, errors.New("no timestamp and no originalTimestamp"))
	}
	t, parsed, err := rfc3339.parseAt(row, i)
	if !parsed {
		t, err = rfc3339.parse(row.Value(i))
	}
	if err != nil {
		return fieldError(row, "timestamp", col, row.Value(i), ReasonBadTimestamp, err)
	}
	if err := p.win.filter(t); err != nil {
		return err
	}
	if err := p.win.futureError(t); err != nil {
		return fieldError(row, "timestamp", col, row.Value(i), ReasonFutureTimestamp, err)
	}
	msg.Timestamp = t
	return nil
}

// absent reports whether column i of row is null or missing (i < 0).
func absent(row *readers.Row, i int) bool {
	if i < 0 {
		return true
	}
	if raw, ok := row.RawJSON(i); ok {
		return rawNull(raw)
	}
	return isNull(row.Value(i))
}

// passText returns a string field of a passed-through message, column i
// of row.
func passText(row *readers.Row, i int) (string, error) {
	if raw, ok := row.RawJSON(i); ok {
		s, _, err := rawToText(raw)
		return s, err
	}
	s, _, err := toText(row.Value(i))
	return s, err
}

var errNotObject = errors.New("not an object")

// passObject returns an object field of a passed-through message as it is
// (v itself, so that the value is not boxed again).
func passObject(v any) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case json.RawMessage:
		switch rawKind(x) {
		case 'n':
			return nil, nil
		case '{':
			return v, nil
		}
	case map[string]any, sink.Fields:
		return v, nil
	}
	return nil, errNotObject
}

// passContext returns the context of a passed-through message. A JSON
// object that has a "library" member is passed on as it is; one without is
// split into its members so that the sink adds context.library.
func passContext(v any) (any, error) {
	raw, ok := v.(json.RawMessage)
	if !ok || rawKind(raw) != '{' {
		return passObject(v)
	}
	if hasMember(raw, "library") {
		return v, nil
	}
	var f sink.Fields
	err := jsontext.ObjectMembers(raw, func(key string, value json.RawMessage) bool {
		f = append(f, sink.Field{Key: key, Value: value})
		return true
	})
	if err != nil {
		return nil, err
	}
	if f == nil {
		f = sink.Fields{}
	}
	return f, nil
}

func unknownTypeError(s string) error {
	return fmt.Errorf("unknown message type %q (want identify, track, page, screen, group or alias)", s)
}

// quotedType returns the index in messageTypes of a JSON string that is
// a message type as it is, without escapes, or -1.
func quotedType(raw json.RawMessage) int {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return -1
	}
	body := raw[1 : len(raw)-1]
	for i, t := range messageTypes {
		if string(body) == t {
			return i
		}
	}
	return -1
}

// hasMember reports whether the JSON object raw has a member named key at
// its top level, without splitting the object or checking the text of
// the values it skips. It reports false for a text that is not an object
// (the caller then splits it, which finds what is wrong with it).
func hasMember(raw []byte, key string) bool {
	i := skipBlank(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return false
	}
	i = skipBlank(raw, i+1)
	if i < len(raw) && raw[i] == '}' {
		return false
	}
	for i < len(raw) && raw[i] == '"' {
		end := stringEnd(raw, i)
		if end < 0 {
			return false
		}
		k := raw[i+1 : end-1]
		if bytes.IndexByte(k, '\\') >= 0 {
			if s, ok := jsontext.Unquote(raw[i:end]); ok && s == key {
				return true
			}
		} else if string(k) == key {
			return true
		}
		i = skipBlank(raw, end)
		if i >= len(raw) || raw[i] != ':' {
			return false
		}
		if i = skipJSONValue(raw, skipBlank(raw, i+1)); i < 0 {
			return false
		}
		i = skipBlank(raw, i)
		if i >= len(raw) || raw[i] != ',' {
			return false
		}
		i = skipBlank(raw, i+1)
	}
	return false
}

func skipBlank(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index after the closing quote of the JSON string
// that starts at b[i], or -1.
func stringEnd(b []byte, i int) int {
	j := i + 1
	for {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			return -1
		}
		q := j + k
		n := 0
		for p := q - 1; p > i && b[p] == '\\'; p-- {
			n++
		}
		if n%2 == 0 {
			return q + 1
		}
		j = q + 1
	}
}

// skipJSONValue returns the index after the JSON value that starts at
// b[i], or -1.
func skipJSONValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				if i = stringEnd(b, i); i < 0 {
					return -1
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return -1
	}
	start := i
	for i < len(b) {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			if i == start {
				return -1
			}
			return i
		}
		i++
	}
	return -1
}
