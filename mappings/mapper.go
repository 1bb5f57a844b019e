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

// A ScratchMapper is a Mapper that can build the JSON of a message's
// objects in memory the caller provides instead of memory of its own for
// every row. MapScratch does what Map does, writing from the start of
// scratch, and returns scratch, grown if it had to be (also with an
// error). The message then refers to that memory: the caller must be done
// with it before it hands the memory to MapScratch again.
type ScratchMapper interface {
	Mapper
	MapScratch(row *readers.Row, msg *sink.Message, scratch []byte) ([]byte, error)
}

// ErrFiltered is returned by Map for a row that a rule of the run (such as a
// time window) leaves out on purpose. Such a row is counted as filtered, not
// rejected.
var ErrFiltered = errors.New("filtered")
