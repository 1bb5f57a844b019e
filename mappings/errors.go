package mappings

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/backfillhq/backfill/readers"
)

// Reasons a row can be refused by a Mapper. They are stable, short
// identifiers that reports count rejects by.
const (
	// ReasonMissingTimestamp: the row has no value for the timestamp.
	ReasonMissingTimestamp = "missing_timestamp"
	// ReasonBadTimestamp: the timestamp value does not parse in its
	// format, has no zone and the spec gives no timezone, or is a local
	// time that does not exist (skipped when the clocks spring forward).
	ReasonBadTimestamp = "bad_timestamp"
	// ReasonFutureTimestamp: the timestamp is later than the current time
	// by more than Options.FutureTolerance.
	ReasonFutureTimestamp = "future_timestamp"
	// ReasonMissingID: the message has neither a userId nor an anonymousId,
	// or a group has no groupId, or an alias no userId or previousId.
	ReasonMissingID = "missing_id"
	// ReasonMissingEvent: a track message has no event name.
	ReasonMissingEvent = "missing_event"
	// ReasonInvalidMessageID: a messageId is longer than 100 bytes.
	ReasonInvalidMessageID = "invalid_message_id"
	// ReasonInvalidValue: a value does not convert to its declared type or
	// cannot be used where the spec puts it.
	ReasonInvalidValue = "invalid_value"
	// ReasonInvalidType: the message type is missing or not one of
	// Segment's six types.
	ReasonInvalidType = "invalid_type"
	// ReasonInvalidField: a field of a passed-through message has the
	// wrong JSON type (an object field that is not an object, an id that
	// is neither a string nor a number).
	ReasonInvalidField = "invalid_field"
)

// maxValueText is how much of a value a FieldError quotes.
const maxValueText = 80

// errNoValue is the cause of errors about values that are absent.
var errNoValue = errors.New("no value")

// FieldError is a row that cannot become a message: where the row is, the
// message field at fault, the source column and value it came from, and why.
type FieldError struct {
	Pos    readers.Position
	Field  string // message field, such as "timestamp" or "properties.revenue"
	Column string // source column, if the field came from one
	Value  string // the offending value as text, truncated to about 80 characters
	Reason string // one of the Reason constants
	Err    error
}

// Error formats the error as
// `events.csv:1042: timestamp: column "ts": value "2024-13-01": cause`.
func (e *FieldError) Error() string {
	var b strings.Builder
	if e.Pos != (readers.Position{}) {
		b.WriteString(e.Pos.String())
		b.WriteString(": ")
	}
	b.WriteString(e.Field)
	if e.Column != "" {
		b.WriteString(": column ")
		b.WriteString(strconv.Quote(e.Column))
	}
	if e.Value != "" {
		b.WriteString(": value ")
		b.WriteString(strconv.Quote(e.Value))
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *FieldError) Unwrap() error { return e.Err }

// RejectReason returns the stable reason identifier reports count by.
func (e *FieldError) RejectReason() string { return e.Reason }

// fieldError builds a FieldError for a row, quoting v (which may be nil).
func fieldError(row *readers.Row, field, column string, v any, reason string, err error) *FieldError {
	return &FieldError{
		Pos:    row.Pos,
		Field:  field,
		Column: column,
		Value:  valueText(v),
		Reason: reason,
		Err:    err,
	}
}

// valueText renders a value for an error message, truncated on a rune
// boundary.
func valueText(v any) string {
	var s string
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		s = x
	case json.RawMessage:
		// A JSON string reads better without its quotes and escapes.
		if u, err := unquote(x); err == nil {
			s = u
		} else {
			s = string(x)
		}
	case []byte:
		s = string(x)
	default:
		s = fmt.Sprint(x)
	}
	if len(s) <= maxValueText {
		return s
	}
	cut := maxValueText
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
