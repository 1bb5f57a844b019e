package mappings

import (
	"github.com/backfillhq/backfill/readers"
	"github.com/backfillhq/backfill/sink"
)

// A RowEncoder is a Mapper that can also encode the message of a row
// straight from the row, without building a sink.Message: the bytes are
// those sink.AppendMessage writes for what Map makes of the row. EncodeRow
// appends them to buf and reports true, or reports false, with buf as it
// was, for a row it leaves to Map: one that Map refuses, filters or builds
// in a way EncodeRow does not. The caller then maps and encodes the row as
// usual. EncodeRow does not check the size of the message (see
// sink.CheckEncoded).
type RowEncoder interface {
	Mapper
	EncodeRow(buf []byte, row *readers.Row) ([]byte, bool)
}

// objectKeys are the keys of the objects, in the order of objProperties
// and the others, which is sink.AppendMessage's order.
var objectKeys = [numObjects]string{`,"properties":`, `,"traits":`, `,"context":`, `,"integrations":`}

var _ RowEncoder = (*specMapper)(nil)

// EncodeRow implements RowEncoder: the header of the message as Map makes
// it, then the objects written as JSON straight into buf rather than into
// a buffer of their own and copied. A row Map refuses or filters, and one
// with an object that must be built as sink.Fields, are left to Map.
func (m *specMapper) EncodeRow(buf []byte, row *readers.Row) ([]byte, bool) {
	if m.fieldsOnly {
		return buf, false
	}
	var c rowCtx
	c.init(row, m.slots)
	var msg sink.Message
	ti, err := m.header(&c, &msg)
	if err != nil || sink.Validate(&msg) != nil {
		return buf, false
	}
	start := len(buf)
	buf = sink.AppendMessageHead(buf, &msg)
	for o := range m.objects {
		mark := len(buf)
		has := false
		if m.objectOn[ti][o] {
			buf = append(buf, objectKeys[o]...)
			var fallback bool
			if buf, has, fallback, err = m.objectJSON(&c, o, m.target[ti] == o, buf); err != nil || fallback {
				return buf[:start], false
			}
		}
		if !has {
			buf = buf[:mark]
			if o == objContext {
				// A message always has a context with a library.
				buf = append(buf, `,"context":{`...)
				buf = sink.AppendLibrary(buf)
				buf = append(buf, '}')
			}
		}
	}
	return append(buf, '}'), true
}
