package sink

import "github.com/backfillhq/backfill/internal/reason"

// Reasons a message is refused, as a *ValidationError, a *TooLargeError or
// a RejectedMessage carries them. They are stable, short identifiers that
// reports and the rejects file count rejects by; the README lists every
// reason of every package, with how to fix the row.
const (
	// ReasonInvalidType is a message whose type is missing or not one of
	// Segment's six types.
	ReasonInvalidType = "invalid_type"
	// ReasonMissingID is a message with neither a userId nor an
	// anonymousId, a group without a groupId, or an alias without a userId
	// or previousId.
	ReasonMissingID = "missing_id"
	// ReasonMissingEvent is a track message without an event name.
	ReasonMissingEvent = "missing_event"
	// ReasonMissingTimestamp is a message without a timestamp. An import
	// never puts the current time in its place.
	ReasonMissingTimestamp = "missing_timestamp"
	// ReasonBadTimestamp is a timestamp that cannot be read or written: its
	// value does not parse in its format, has no zone where none is
	// given, is a local time that does not exist, is not an RFC 3339
	// string (to the receiver), or has a year outside 0000–9999.
	ReasonBadTimestamp = "bad_timestamp"
	// ReasonInvalidMessageID is a messageId longer than MaxMessageIDBytes,
	// which Segment would drop without saying so.
	ReasonInvalidMessageID = "invalid_message_id"
	// ReasonInvalidField is a field with the wrong JSON type (an object
	// field that is not an object, an id that is neither a string nor a
	// number) or a key the message writes itself given again.
	ReasonInvalidField = "invalid_field"
	// ReasonInvalidValue is a value that JSON cannot hold (NaN, ±Inf, a Go
	// type with no JSON form) or raw JSON that does not parse. It is the
	// same reason as readers.ReasonInvalidValue.
	ReasonInvalidValue = reason.InvalidValue
	// ReasonMessageTooLarge is a message over the per-message cap
	// (Limits.MaxMessageBytes, 32,000 bytes by default), or one the
	// destination answered with 413 Content Too Large.
	ReasonMessageTooLarge = "message_too_large"
	// ReasonServerRejected is a message the destination refused with 400
	// Bad Request on its own, after the Splitter isolated it.
	ReasonServerRejected = "server_rejected"
)
