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

// ReasonFutureTimestamp is the reason of a row whose timestamp is later
// than the current time by more than Options.FutureTolerance. The other
// reasons a Mapper refuses a row with are those of the message it would
// write, defined once in sink (sink.ReasonMissingTimestamp,
// sink.ReasonBadTimestamp, sink.ReasonMissingID, sink.ReasonMissingEvent,
// sink.ReasonInvalidMessageID, sink.ReasonInvalidValue,
// sink.ReasonInvalidType, sink.ReasonInvalidField).
const ReasonFutureTimestamp = "future_timestamp"

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
	Reason string // ReasonFutureTimestamp or one of sink's Reason constants
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
