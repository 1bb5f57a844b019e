// Package mappings turns source rows into Segment messages: the YAML mapping
// spec, presets, type coercion, timestamp parsing, and building and
// validating messages. It does no I/O.
package mappings

import (
	"errors"

	"github.com/backfillhq/backfill/readers"
	"github.com/backfillhq/backfill/sink"
)

// Mapper turns one row into one message. It is pure: it does no I/O and
// never uses the current time as a stand-in for a missing timestamp. Map
// fills *msg (which the caller may reuse, so Map must set every field) or
// returns an error that implements RejectReason() string, naming the field,
// the column and the cause. A Mapper is safe for concurrent use.
type Mapper interface {
	Map(row *readers.Row, msg *sink.Message) error
}

// ErrFiltered is returned by Map for a row that a rule of the run (such as a
// time window) leaves out on purpose. Such a row is counted as filtered, not
// rejected.
var ErrFiltered = errors.New("filtered")
