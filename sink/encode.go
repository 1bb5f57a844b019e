package sink

// Version is the library version reported in context.library.
var Version = "0.1.0"

// ValidationError is a message that breaks Segment's spec, naming the field.
type ValidationError struct {
	Field  string // the message field at fault, such as "userId"
	Reason string // stable identifier, such as "missing_id"
	Detail string // a sentence for people
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Detail }

// RejectReason returns the stable reason identifier.
func (e *ValidationError) RejectReason() string { return e.Reason }

// Validate checks m against Segment's spec.
func Validate(m *Message) error { panic("todo") }

// AppendMessage appends the JSON encoding of m to buf.
func AppendMessage(buf []byte, m *Message) ([]byte, error) { panic("todo") }

// AppendValue appends the JSON encoding of v to buf.
func AppendValue(buf []byte, v any) ([]byte, error) { panic("todo") }
