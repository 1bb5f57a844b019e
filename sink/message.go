// Package sink holds Segment's message model and wire format: the
// MessageWriter (the only code that knows the field order, the context's
// library, escaping and the per-message cap), size-capped batches, the
// HTTP sink with retry and rate limiting, the file, stdout and discard
// sinks, a Segment-compatible receiver, and the programmatic Client. It
// reads no source files and knows nothing of mappings.
package sink

import (
	"time"
)

// Message types of the Segment spec.
const (
	TypeIdentify = "identify"
	TypeTrack    = "track"
	TypePage     = "page"
	TypeScreen   = "screen"
	TypeGroup    = "group"
	TypeAlias    = "alias"
)

// Message is one Segment message of any type. Empty strings are left out of
// the JSON. Timestamp is required and is encoded as RFC 3339 in UTC with
// millisecond precision.
//
// Properties, Traits, Context and Integrations each hold a JSON object, as one
// of: nil (left out), map[string]any, Fields (an ordered object), or
// json.RawMessage holding a JSON object (copied verbatim). Values inside them
// may be anything AppendValue accepts. A MessageWriter writes a Message with
// WriteMessage.
//
// Context gets "library": {"name": "backfill", "version": Version} unless it
// already has a "library" key (a json.RawMessage context is copied as it
// is: the caller writes the member).
//
// Extra holds any other top-level fields (for example "channel" or "version"
// of passed-through messages), written after the known ones.
type Message struct {
	Type        string
	MessageID   string
	Timestamp   time.Time
	UserID      string
	AnonymousID string
	Event       string // track
	Name        string // page, screen
	Category    string // page
	GroupID     string // group
	PreviousID  string // alias

	Properties   any
	Traits       any
	Context      any
	Integrations any

	Extra Fields
}

// Field is one member of an ordered JSON object.
type Field struct {
	Key   string
	Value any
}

// Fields is a JSON object whose members keep their order.
type Fields []Field

// Get returns the value of the first member named key.
func (f Fields) Get(key string) (any, bool) {
	for _, m := range f {
		if m.Key == key {
			return m.Value, true
		}
	}
	return nil, false
}
