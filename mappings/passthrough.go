package mappings

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

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

// dropped reports whether name is one of the top-level fields of a
// passed-through message that are not sent on. Segment sets receivedAt on arrival and the sink sets
// sentAt on every attempt; originalTimestamp is the client's own clock,
// from which Segment derives timestamp (it is read as a fallback for a
// missing timestamp, then dropped); writeKey travels in the request's
// authentication, and projectId is the source that first received the
// message: the receiving source is the one of the write key, and a stale
// id in the body would name another.
func dropped(name string) bool {
	switch name {
	case "sentAt", "receivedAt", "originalTimestamp", "writeKey", "projectId":
		return true
	}
	return false
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
// the row is rejected with sink.ReasonMissingTimestamp (the current time is
// never used). properties, traits, context and integrations must be
// objects (or null) and are copied verbatim, except a context without a
// "library" member, which is written member by member so that the writer
// adds context.library.
// sentAt, receivedAt, originalTimestamp, writeKey and projectId are
// dropped; every other top-level field (channel, version, _metadata…) is
// kept, verbatim, after the objects. A message without a messageId gets
// one derived from its content (sink.ContentIDs), in the namespace of
// opts.IDNamespace. A message without both userId and anonymousId is
// rejected with sink.ReasonMissingID.
//
// The timestamp is read first: a row outside the time window of opts is
// filtered (its error wraps ErrFiltered) whatever else is wrong with it,
// and one later than the current time by more than opts.FutureTolerance is
// rejected with ReasonFutureTimestamp. The Mapper is safe for concurrent
// use.
func Passthrough(opts Options) Mapper {
	ids, _ := newIDScheme(idSpec{}, opts)
	return &passthrough{win: newWindow(opts), ids: ids}
}

type passthrough struct {
	win window
	ids idScheme // how a message without a messageId gets one
}

var _ Mapper = (*passthrough)(nil)

var errNoType = errors.New("no message type")

// rfc3339 reads the timestamps of passed-through messages.
var rfc3339 = &timeParser{kind: formatRFC3339, format: "rfc3339"}

// Map implements Mapper: the fields are read in one pass over the row,
// then written in the writer's order. Objects and other top-level fields
// held as JSON are copied as they are.
func (p *passthrough) Map(row *readers.Row, w *sink.MessageWriter) error {
	var (
		typ      string
		ts, orig = -1, -1
		texts    [numFields]fieldText
		objects  [numObjects]json.RawMessage // the objects held as JSON text
		objCols  [numObjects]int             // 1 + the columns of objects held as Go values
		extraBuf [8]int
		extras   = extraBuf[:0] // the columns of the other top-level fields
		first    error          // the first bad field, reported after the time window
	)
	for i, name := range row.Names() {
		raw, isJSON := row.RawJSON(i)
		var err error
		reason := sink.ReasonInvalidField
		field := -1
		switch name {
		case "type":
			if isJSON {
				if ti := quotedType(raw); ti >= 0 {
					typ = messageTypes[ti]
					break
				}
			}
			var s string
			s, _, err = toText(row.Value(i))
			if err == nil && s != "" && typeIndex(s) < 0 {
				err, reason = unknownTypeError(s), sink.ReasonInvalidType
			}
			typ = s
		case "messageId":
			field = int(sink.FieldMessageID)
		case "userId":
			field = int(sink.FieldUserID)
		case "anonymousId":
			field = int(sink.FieldAnonymousID)
		case "event":
			field = int(sink.FieldEvent)
		case "name":
			field = int(sink.FieldName)
		case "category":
			field = int(sink.FieldCategory)
		case "groupId":
			field = int(sink.FieldGroupID)
		case "previousId":
			field = int(sink.FieldPreviousID)
		case "timestamp":
			ts = i
		case "originalTimestamp":
			orig = i
		case "properties", "traits", "context", "integrations":
			o := objectIndex(name)
			objects[o], objCols[o] = nil, 0
			if isJSON && rawKind(raw) == '{' {
				objects[o] = raw // the common case, without a call
				break
			}
			var present bool
			if present, err = passObject(row, i); present {
				if raw, ok := jsonAt(row, i); ok {
					objects[o] = raw
				} else {
					objCols[o] = i + 1
				}
			}
		default:
			if !dropped(name) {
				extras = append(extras, i)
			}
		}
		if field >= 0 {
			if isJSON && plainLiteral(raw) {
				texts[field].lit, texts[field].text = raw, "" // the common case, without a call
			} else {
				err = readPassText(row, i, &texts[field])
			}
		}
		if err != nil && first == nil {
			first = fieldError(row, name, "", row.Value(i), reason, err)
		}
	}
	t, err := p.timestamp(row, ts, orig)
	if err != nil {
		return err
	}
	if first != nil {
		return first
	}
	if typ == "" {
		return fieldError(row, "type", "", nil, sink.ReasonInvalidType, errNoType)
	}
	if texts[sink.FieldUserID].empty() && texts[sink.FieldAnonymousID].empty() {
		return fieldError(row, "userId", "", nil, sink.ReasonMissingID, errors.New("no userId and no anonymousId"))
	}
	if id := &texts[sink.FieldMessageID]; id.writtenLen() > maxMessageID {
		return fieldError(row, "messageId", "", id.String(), sink.ReasonInvalidMessageID, errMessageIDLength)
	}

	w.Begin(typ, t)
	if texts[sink.FieldMessageID].empty() {
		p.ids.derive(row, w)
	}
	for f := range texts {
		texts[f].write(w, textFields[f])
	}
	for o, raw := range objects {
		switch {
		case raw == nil:
			if objCols[o] > 0 {
				w.WriteObject(sink.ObjectField(o), row.Value(objCols[o]-1))
			}
		case o == objContext && !jsontext.HasMember(raw, "library"):
			// Written member by member, so that the writer adds
			// context.library.
			w.BeginObject(sink.FieldContext)
			err := jsontext.ObjectMembers(raw, func(key string, value json.RawMessage) bool {
				w.KeyString(key)
				w.Raw(value)
				return true
			})
			if err != nil {
				return fieldError(row, "context", "", raw, sink.ReasonInvalidField, err)
			}
			w.EndObject()
		default:
			w.RawObject(sink.ObjectField(o), raw)
		}
	}
	for _, i := range extras {
		w.KeyString(row.Name(i))
		if raw, ok := jsonAt(row, i); ok {
			w.Raw(raw)
		} else {
			w.Value(row.Value(i))
		}
	}
	return endMessage(row, w)
}

// readPassText reads a string field of a passed-through message, column i
// of row: a JSON string, or a number kept as its text.
func readPassText(row *readers.Row, i int, t *fieldText) error {
	var err error
	if raw, ok := row.RawJSON(i); ok {
		if plainLiteral(raw) {
			t.lit, t.text = raw, ""
			return nil
		}
		t.lit = nil
		t.text, _, err = rawToText(raw)
		return err
	}
	t.lit = nil
	t.text, _, err = toText(row.Value(i))
	return err
}

var errMessageIDLength = fmt.Errorf("longer than %d bytes", maxMessageID)

// timestamp returns the time of the row's column ts (timestamp), else
// orig (originalTimestamp), after the time window. A column index below
// zero is a field the message lacks.
func (p *passthrough) timestamp(row *readers.Row, ts, orig int) (time.Time, error) {
	col, i := "", ts // the column is named only when it is not the field
	if absent(row, i) {
		col, i = "originalTimestamp", orig
	}
	if absent(row, i) {
		return time.Time{}, fieldError(row, "timestamp", "", nil, sink.ReasonMissingTimestamp, errors.New("no timestamp and no originalTimestamp"))
	}
	t, parsed, err := rfc3339.parseAt(row, i)
	if !parsed {
		t, err = rfc3339.parse(row.Value(i))
	}
	if errors.Is(err, ErrNoZone) {
		err = errPassNoZone{}
	}
	if err != nil {
		return time.Time{}, fieldError(row, "timestamp", col, row.Value(i), sink.ReasonBadTimestamp, err)
	}
	if err := p.win.filter(t); err != nil {
		return time.Time{}, err
	}
	if err := p.win.futureError(t); err != nil {
		return time.Time{}, fieldError(row, "timestamp", col, row.Value(i), ReasonFutureTimestamp, err)
	}
	return t, nil
}

// errPassNoZone is the error of a passed-through timestamp without a
// zone. Passthrough takes no timezone:, so it says what does work.
type errPassNoZone struct{}

func (errPassNoZone) Error() string {
	return "no zone in value: a Segment message passed through must carry its zone (2023-11-14T22:13:20Z, or an offset such as +01:00); " +
		"add it to the value, or import these rows with a mapping whose timestamp: gives timezone:"
}

// Is makes the error match ErrNoZone.
func (errPassNoZone) Is(target error) bool { return target == ErrNoZone }

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

var errNotObject = errors.New("not an object")

// passObject checks an object field of a passed-through message, column i
// of row, and reports whether it has a value (null has none).
func passObject(row *readers.Row, i int) (bool, error) {
	if raw, ok := jsonAt(row, i); ok {
		switch rawKind(raw) {
		case 'n':
			return false, nil
		case '{':
			return true, nil
		}
		return false, errNotObject
	}
	switch row.Value(i).(type) {
	case nil:
		return false, nil
	case map[string]any, map[string]string:
		return true, nil
	}
	return false, errNotObject
}

// jsonAt returns column i of row when it is JSON text, held by the row
// as JSON or as a json.RawMessage value.
func jsonAt(row *readers.Row, i int) (json.RawMessage, bool) {
	if raw, ok := row.RawJSON(i); ok {
		return raw, true
	}
	raw, ok := row.Value(i).(json.RawMessage)
	return raw, ok
}

// objectIndex returns the index of an object field among objectNames.
func objectIndex(name string) int {
	switch name {
	case "properties":
		return objProperties
	case "traits":
		return objTraits
	case "context":
		return objContext
	}
	return objIntegrations
}

// plainLiteral reports whether raw is a JSON string literal whose text is
// the bytes between its quotes: printable ASCII without escapes, which the
// writer would write back as the same literal.
func plainLiteral(raw []byte) bool {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return false
	}
	for _, c := range raw[1 : len(raw)-1] {
		if c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			return false
		}
	}
	return true
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
