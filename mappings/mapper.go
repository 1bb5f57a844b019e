// Package mappings turns source rows into Segment messages: the YAML mapping
// spec, presets, type coercion and timestamp parsing. Each mapper has one
// implementation, which writes its messages into the sink's MessageWriter;
// it does no I/O and does not know Segment's field order or escaping.
package mappings

import (
	"errors"

	"github.com/backfillhq/backfill/readers"
	"github.com/backfillhq/backfill/sink"
)

// Mapper turns one row into a message, written into w (Begin to End), or
// into several, one after another, for a spec with messages: (its Mapper
// is a MultiMapper, which says where each ends). It is pure: it does no I/O and never uses the
// current time as a stand-in for a missing timestamp. On error no message
// of the row is left in w, and the error implements RejectReason() string,
// naming the row, the field, the column and the cause (the writer's own
// errors, such as a value JSON cannot hold or a message over the size
// cap, come wrapped with the row's position). A Mapper is safe for
// concurrent use, each goroutine with its own writer.
type Mapper interface {
	Map(row *readers.Row, w *sink.MessageWriter) error
}

// ErrFiltered is returned by Map for a row that a rule of the run (such as a
// time window) leaves out on purpose. Such a row is counted as filtered, not
// rejected.
var ErrFiltered = errors.New("filtered")
