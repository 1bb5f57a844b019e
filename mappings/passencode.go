package mappings

import (
	"github.com/backfillhq/backfill/readers"
	"github.com/backfillhq/backfill/sink"
)

var _ RowEncoder = (*passthrough)(nil)

// The string fields of a passed-through message, in the order
// sink.AppendMessage writes them after the timestamp.
const (
	passUserID = iota
	passAnonymousID
	passEvent
	passName
	passCategory
	passGroupID
	passPreviousID
	passMessageID // written before the timestamp
	numPassText
)

var passTextKeys = [numPassText]string{
	`,"userId":`, `,"anonymousId":`, `,"event":`, `,"name":`,
	`,"category":`, `,"groupId":`, `,"previousId":`, `,"messageId":`,
}

// EncodeRow implements RowEncoder for rows whose values are JSON held in
// Row.JSON (as the NDJSON reader hands them on) and that are plain: a
// known type, ids and names that are JSON strings without escapes or
// non-ASCII characters, objects or nulls where objects go, a context with
// a "library" member, and a timestamp inside the time window.
func (p *passthrough) EncodeRow(buf []byte, row *readers.Row) ([]byte, bool) {
	if row.JSON == nil {
		return buf, false
	}
	var (
		typ           = -1
		ts, orig      = -1, -1
		texts         [numPassText][]byte // the JSON literals, nil if absent or empty
		objects       [numObjects][]byte
		extraBuf      [8]int
		extras        = extraBuf[:0] // the indexes of the fields Map puts in Extra
		contextAbsent = true
	)
	for i, name := range row.Names {
		if i >= len(row.Values) {
			break
		}
		raw, ok := row.RawJSON(i)
		if !ok {
			return buf, false
		}
		field := -1
		switch name {
		case "type":
			if typ = quotedType(raw); typ < 0 {
				return buf, false
			}
			continue
		case "timestamp":
			ts = i
			continue
		case "originalTimestamp":
			orig = i
			continue
		case "messageId":
			field = passMessageID
		case "userId":
			field = passUserID
		case "anonymousId":
			field = passAnonymousID
		case "event":
			field = passEvent
		case "name":
			field = passName
		case "category":
			field = passCategory
		case "groupId":
			field = passGroupID
		case "previousId":
			field = passPreviousID
		case "properties", "traits", "context", "integrations":
			o := objectIndex(name)
			switch rawKind(raw) {
			case 'n':
				objects[o] = nil
			case '{':
				if o == objContext && !hasMember(raw, "library") {
					return buf, false // Map adds context.library among the members
				}
				objects[o] = raw
			default:
				return buf, false
			}
			if o == objContext {
				contextAbsent = objects[o] == nil
			}
			continue
		default:
			if !droppedFields[name] {
				extras = append(extras, i)
			}
			continue
		}
		switch {
		case rawNull(raw):
			texts[field] = nil
		case plainLiteral(raw):
			texts[field] = raw
			if len(raw) == 2 {
				texts[field] = nil // "" is no value
			}
		default:
			return buf, false
		}
	}
	if typ < 0 {
		return buf, false
	}
	present := func(f int) bool { return texts[f] != nil }
	switch {
	case !present(passUserID) && !present(passAnonymousID),
		messageTypes[typ] == sink.TypeTrack && !present(passEvent),
		messageTypes[typ] == sink.TypeGroup && !present(passGroupID),
		messageTypes[typ] == sink.TypeAlias && (!present(passUserID) || !present(passPreviousID)),
		present(passMessageID) && len(texts[passMessageID])-2 > maxMessageID:
		return buf, false
	}
	i := ts
	if absent(row, i) {
		i = orig
	}
	if absent(row, i) {
		return buf, false
	}
	t, parsed, err := rfc3339.parseAt(row, i)
	if !parsed || err != nil || p.win.filter(t) != nil || p.win.futureError(t) != nil {
		return buf, false
	}

	start := len(buf)
	buf = append(buf, `{"type":"`...)
	buf = append(buf, messageTypes[typ]...)
	buf = append(buf, `","messageId":`...)
	if id := texts[passMessageID]; id != nil {
		buf = append(buf, id...)
	} else {
		buf = sink.AppendString(buf, RowMessageID(row))
	}
	buf = append(buf, `,"timestamp":"`...)
	buf = sink.AppendTime(buf, t)
	buf = append(buf, '"')
	for f := range passMessageID {
		if texts[f] != nil {
			buf = append(buf, passTextKeys[f]...)
			buf = append(buf, texts[f]...)
		}
	}
	for o, raw := range objects {
		switch {
		case raw != nil:
			buf = append(buf, objectKeys[o]...)
			if buf, err = sink.AppendRaw(buf, raw); err != nil {
				return buf[:start], false
			}
		case o == objContext && contextAbsent:
			buf = append(buf, `,"context":{`...)
			buf = sink.AppendLibrary(buf)
			buf = append(buf, '}')
		}
	}
	for _, i := range extras {
		buf = append(buf, ',')
		buf = sink.AppendString(buf, row.Names[i])
		buf = append(buf, ':')
		if buf, err = sink.AppendRaw(buf, row.JSON[i]); err != nil {
			return buf[:start], false
		}
	}
	return append(buf, '}'), true
}

// objectIndex returns the index of an object field among objectNames.
func objectIndex(name string) int {
	switch name {
	case "properties":
		return objProperties
	case "traits":
		return objTraits
	case "context":
		return objContext
	}
	return objIntegrations
}

// plainLiteral reports whether raw is a JSON string literal whose text is
// the bytes between its quotes: printable ASCII without escapes, which
// sink.AppendString writes back as the same literal.
func plainLiteral(raw []byte) bool {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return false
	}
	for _, c := range raw[1 : len(raw)-1] {
		if c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			return false
		}
	}
	return true
}
