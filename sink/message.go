// Package sink is the core of delivery: the message model (Message), the
// MessageWriter (the only code that knows Segment's wire format: the
// field order, the context's library, escaping and the 32,000-byte
// per-message cap), size-capped batches (Limits, Batch, Batcher), the Sink
// interface every destination implements, the errors a sink returns, the
// one list of reasons a message is refused, and two local sinks
// (WriterSink, StubSink).
//
// It must not read source files or know mappings, HTTP or the importer:
// delivery to Segment is in sink/segment, the local receiver behind
// "backfill serve" in sink/receiver, and the programmatic Client in
// sink/client.
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

// Message returns m itself, so that a *Message can be given wherever a
// value that returns its Message is wanted, such as the Client's Enqueue.
func (m *Message) Message() *Message { return m }

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
