package mappings

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/zeebo/xxh3"
	"go.yaml.in/yaml/v3"

	"github.com/backfillhq/backfill/readers"
	"github.com/backfillhq/backfill/sink"
)

// Several messages per row. A spec with a list under messages: makes, of
// each row, one message per entry whose condition (when:) holds:
//
//	timestamp: {column: time, format: unix}   # shared by every message
//	anonymousId: device_id
//	messages:
//	  - type: track
//	    event: event_type
//	  - when: 'user_properties != nil && len(user_properties) > 0'
//	    type: identify
//	    traits: {from: user_properties}
//
// Each entry takes any key a mapping of one message has; a key of the
// entry replaces the top-level key of that name for its message (an
// object given in an entry replaces the top-level object whole). drop:,
// columns: and optional: are of the row, at the top level only. Each
// message's spec (the top-level keys with the entry's) is checked as a
// mapping of its own, and its errors name the entry: "events.yaml:7:
// messages[1]: traits: …".
//
// Map runs the drop rules, then each entry in order: an entry whose when
// is false (or null) makes no message, and neither does one whose
// timestamp is outside the time window. A row that makes no message is
// filtered: by the time window when an entry's timestamp was outside it,
// else as a NoMessageError. An entry that fails (an expression, a value,
// a required field, the size cap) rejects the whole row: no message of
// it is sent, so that the row, fixed and imported again, makes all its
// messages at once (EntryError names the entry).
//
// Each message of a row gets its own messageId: a column, or derived as
// for a single message (from its content, which differs with its type
// and fields). A message whose id is the same as that of an earlier
// message of its row (the same column value, identical content, or an id
// derived from the row's position) gets EntryMessageID(id, entry) instead.

// messageEntry is an entry of messages: the spec of one message a row
// may make (the top-level keys and the entry's own), and its condition.
type messageEntry struct {
	index int
	when  *exprSpec
	spec  *Spec
}

// at names the entry in errors: "messages[1]".
func (e *messageEntry) at() string { return entryName(e.index) }

func entryName(i int) string { return "messages[" + strconv.Itoa(i) + "]" }

// Entries returns the number of entries of the spec's messages: list, the
// most messages a row can make; 0 for a spec of one message per row.
func (s *Spec) Entries() int { return len(s.messages) }

// parseMessages parses a spec with messages:, whose top-level members
// are ms.
func (p *specParser) parseMessages(ms [][2]*yaml.Node) error {
	s := p.spec
	var list *yaml.Node
	var shared [][2]*yaml.Node
	for _, m := range ms {
		k, v := m[0], resolve(m[1])
		switch k.Value {
		case "messages":
			list = v
		case "passthrough":
			return p.errorf(k, "passthrough", "cannot go with messages: passthrough takes each row as one Segment message as it is")
		case "drop":
			if err := p.parseDrop(v); err != nil {
				return err
			}
		case "optional":
			if err := p.parseOptional(v); err != nil {
				return err
			}
		case "columns":
			// The declared types are the row's; each message's spec
			// reads them too.
			if err := p.parseColumns(v); err != nil {
				return err
			}
			shared = append(shared, m)
		default:
			shared = append(shared, m)
		}
	}
	if list.Kind != yaml.SequenceNode || len(list.Content) == 0 {
		return p.errorf(list, "messages", "want a list of messages, each a mapping (type, ids, event, …), not %s", nodeKind(list))
	}
	var entryUses []columnUse
	for i, en := range list.Content {
		en = resolve(en)
		e := &messageEntry{index: i}
		at := e.at()
		ems, err := p.members(en, at)
		if err != nil {
			return err
		}
		var own [][2]*yaml.Node
		for _, m := range ems {
			k, v := m[0], resolve(m[1])
			switch k.Value {
			case "when":
				if e.when, err = p.parseExpr(v, at+".when"); err != nil {
					return err
				}
			case "drop", "columns", "optional":
				return p.errorf(k, at, "%s stays at the top level of the mapping: it is of the row, not of one of its messages", k.Value)
			case "messages", "passthrough":
				return p.errorf(k, at, "%s cannot go inside messages", k.Value)
			default:
				own = append(own, m)
			}
		}
		merged := &yaml.Node{Kind: yaml.MappingNode, Line: en.Line, Column: en.Column}
		for _, m := range shared {
			if !hasKey(own, m[0].Value) {
				merged.Content = append(merged.Content, m[0], m[1])
			}
		}
		for _, m := range own {
			merged.Content = append(merged.Content, m[0], m[1])
		}
		sp := &specParser{spec: &Spec{name: s.name, remaining: -1}}
		if err := sp.parse(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{merged}}); err != nil {
			return inEntry(s.name, at, err)
		}
		e.spec = sp.spec
		first, last := en.Line, lastLine(en)
		for _, u := range sp.spec.uses {
			if u.line >= first && u.line <= last {
				u.path = at + "." + u.path
			}
			entryUses = append(entryUses, u)
		}
		for c, line := range sp.spec.optional {
			p.markOptional([]string{c}, line)
		}
		s.messages = append(s.messages, e)
	}
	s.ownUses = len(s.uses)
	s.uses = append(s.uses, entryUses...)
	for _, e := range s.messages {
		e.spec.optional = s.optional
	}
	return nil
}

// hasKey reports whether the members ms have the key k.
func hasKey(ms [][2]*yaml.Node, k string) bool {
	for _, m := range ms {
		if m[0].Value == k {
			return true
		}
	}
	return false
}

// lastLine returns the last line of the text of n.
func lastLine(n *yaml.Node) int {
	line := n.Line
	for _, c := range n.Content {
		line = max(line, lastLine(c))
	}
	return line
}

// entryError is an error of the spec of an entry of messages, naming the
// entry after the file and the line.
type entryError struct {
	msg string
	err error
}

func (e *entryError) Error() string { return e.msg }
func (e *entryError) Unwrap() error { return e.err }

// inEntry names the entry at in err, an error of its spec that starts
// with the spec's name: "events.yaml:7: userId: …" becomes
// "events.yaml:7: messages[1]: userId: …".
func inEntry(name, at string, err error) error {
	msg := err.Error()
	rest, ok := strings.CutPrefix(msg, name+":")
	if !ok {
		return &entryError{msg: name + ": " + at + ": " + msg, err: err}
	}
	i := 0
	for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == ':') {
		i++
	}
	if i > 0 && i < len(rest) && rest[i] == ' ' {
		msg = name + ":" + rest[:i] + " " + at + ":" + rest[i:]
	} else {
		msg = name + ": " + at + ":" + rest
	}
	return &entryError{msg: msg, err: err}
}

// multiMapper is a spec with messages: compiled for one schema.
type multiMapper struct {
	slots   int // per-row member caches of the drop rules and conditions
	drops   []dropPlan
	entries []entryPlan
}

// entryPlan is an entry of messages compiled for a schema.
type entryPlan struct {
	index int
	when  *exprPlan
	m     *specMapper
}

var _ MultiMapper = (*multiMapper)(nil)

// MultiMapper is the Mapper of a spec with messages: (see Spec.Entries):
// Map writes every message of a row, one after another, and MapMessages
// says where each ends. A MultiMapper is safe for concurrent use, each
// goroutine with its own writer.
type MultiMapper interface {
	Mapper
	// MapMessages writes the messages of row into w, appends one
	// RowMessage for each to msgs and returns it, with the number of
	// entries that made no message on purpose (their when was false, or
	// their timestamp outside the time window). On error nothing of the
	// row is left in w and msgs is returned as it was given; a row that
	// makes no message is an error that is ErrFiltered.
	MapMessages(row *readers.Row, w *sink.MessageWriter, msgs []RowMessage) (out []RowMessage, skipped int, err error)
}

// RowMessage is one of the messages MapMessages wrote for a row.
type RowMessage struct {
	// End is where the message ends in the writer's Bytes; it starts
	// where the one before it ends (the first, where Bytes ended before
	// the row).
	End int
	// Entry is the index of the entry of messages it comes from.
	Entry int
	// Hash is the first 64 bits of its content-derived messageId when
	// Derived is set (see sink.MessageWriter.ContentHash).
	Hash    uint64
	Derived bool

	idStart, idEnd int // its messageId's JSON text (no quotes) in the writer's Bytes
}

// compileMulti compiles a spec with messages: for schema.
func (s *Spec) compileMulti(schema []string, opts Options) (Mapper, error) {
	mm := &multiMapper{}
	for _, e := range s.messages {
		m, err := e.spec.Compile(schema, opts)
		if err != nil {
			return nil, inEntry(s.name, e.at(), err)
		}
		mm.entries = append(mm.entries, entryPlan{index: e.index, m: m.(*specMapper)})
	}
	index := schemaIndex(schema)
	rc := newRefCompiler(s, index)
	if schema != nil {
		if err := s.checkUses(s.uses[:s.ownUses], rc, schema); err != nil {
			return nil, err
		}
	}
	for _, d := range s.drops {
		mm.drops = append(mm.drops, dropPlan{name: d.name, ex: d.ex.plan(rc)})
	}
	for i, e := range s.messages {
		mm.entries[i].when = e.when.plan(rc)
	}
	mm.slots = len(rc.slots)
	return mm, nil
}

// Map implements Mapper: it writes every message of the row.
func (mm *multiMapper) Map(row *readers.Row, w *sink.MessageWriter) error {
	var buf [8]RowMessage
	_, _, err := mm.MapMessages(row, w, buf[:0])
	return err
}

// NoMessageError is the error of a row of a spec with messages: for which
// the when of every entry is false. It is ErrFiltered (errors.Is).
type NoMessageError struct {
	Pos readers.Position
}

// Error reads "events.csv:12: no message: the when of every entry of
// messages is false".
func (e *NoMessageError) Error() string {
	const s = "no message: the when of every entry of messages is false"
	if e.Pos != (readers.Position{}) {
		return e.Pos.String() + ": " + s
	}
	return s
}

// Is reports whether target is ErrFiltered.
func (e *NoMessageError) Is(target error) bool { return target == ErrFiltered }

// IsNoMessage reports whether err filtered a row because no entry of
// messages made a message of it.
func IsNoMessage(err error) bool {
	var nm *NoMessageError
	return errors.As(err, &nm)
}

// MapMessages implements MultiMapper.
func (mm *multiMapper) MapMessages(row *readers.Row, w *sink.MessageWriter, msgs []RowMessage) ([]RowMessage, int, error) {
	var c rowCtx
	c.init(row, mm.slots)
	if mm.drops != nil {
		if err := runDrops(&c, mm.drops); err != nil {
			return msgs, 0, err
		}
	}
	base, start := len(msgs), w.Len()
	skipped := 0
	var windowed error // the time window's verdict on an entry
	for i := range mm.entries {
		e := &mm.entries[i]
		if e.when != nil {
			ok, err := e.cond(&c)
			if err != nil {
				w.Truncate(start)
				return msgs[:base], 0, &EntryError{Entry: e.index, Err: err}
			}
			if !ok {
				skipped++
				continue
			}
		}
		at := w.Len()
		err := e.m.mapRow(row, w, "")
		if err == nil {
			rm := RowMessage{End: w.Len(), Entry: e.index}
			rm.idStart, rm.idEnd = messageIDText(w.Bytes(), at)
			if first := repeatedID(w.Bytes(), msgs[base:], rm); first >= 0 {
				// The same id as an earlier message of the row: one of
				// them would be dropped as a repeat.
				id := EntryMessageID(string(w.Bytes()[msgs[base+first].idStart:msgs[base+first].idEnd]), e.index)
				w.Truncate(at)
				if err = e.m.mapRow(row, w, id); err == nil {
					rm.End = w.Len()
					rm.idStart, rm.idEnd = messageIDText(w.Bytes(), at)
				}
			}
			if err == nil {
				rm.Hash, rm.Derived = w.ContentHash()
				msgs = append(msgs, rm)
				continue
			}
		}
		if errors.Is(err, ErrFiltered) {
			skipped++
			windowed = err
			continue
		}
		w.Truncate(start)
		return msgs[:base], 0, entryRowError(e.index, err)
	}
	if len(msgs) == base {
		if windowed != nil {
			return msgs, skipped, windowed
		}
		return msgs, skipped, &NoMessageError{Pos: row.Pos}
	}
	return msgs, skipped, nil
}

// cond runs the entry's when: true makes the message; false and null do
// not; anything else is an error of the row.
func (e *entryPlan) cond(c *rowCtx) (bool, error) {
	v, err := e.when.eval(c)
	if err != nil {
		return false, e.when.fail(c.row, err)
	}
	switch b := v.(type) {
	case bool:
		return b, nil
	case nil:
		return false, nil
	}
	return false, e.when.fail(c.row, fmt.Errorf("gives %s, not true or false", typeName(v)))
}

// entryRowError names the entry in the error of a row's message.
func entryRowError(entry int, err error) error {
	at := entryName(entry)
	var fe *FieldError
	var we *writeError
	switch {
	case errors.As(err, &fe):
		fe.Field = at + "." + fe.Field
	case errors.As(err, &we):
		we.entry = at
	default:
		return &EntryError{Entry: entry, Err: err, text: at + ": " + err.Error()}
	}
	return &EntryError{Entry: entry, Err: err}
}

// EntryError is the error of a row of a spec with messages: for which an
// entry failed (its when, or its message): the row is rejected whole.
// Its text names the entry ("events.csv:12: messages[1].traits.plan: …");
// Unwrap gives the cause, whose reason it has.
type EntryError struct {
	Entry int // the index of the entry in messages:
	Err   error
	text  string // when the cause does not name the entry itself
}

// Error returns the error's text, which names the entry.
func (e *EntryError) Error() string {
	if e.text != "" {
		return e.text
	}
	return e.Err.Error()
}

// Unwrap returns the cause.
func (e *EntryError) Unwrap() error { return e.Err }

// RejectReason returns the reason of the cause.
func (e *EntryError) RejectReason() string {
	var rr interface{ RejectReason() string }
	if errors.As(e.Err, &rr) {
		return rr.RejectReason()
	}
	return sink.ReasonInvalidValue
}

// messageIDText returns where the messageId's text (between its quotes)
// is in the message that starts at start of buf; the writer writes it
// right after the type.
func messageIDText(buf []byte, start int) (int, int) {
	const key = `,"messageId":"`
	msg := buf[start:]
	i := bytes.Index(msg[:min(len(msg), 64+len(key))], []byte(key))
	if i < 0 {
		return start, start
	}
	from := i + len(key)
	for j := from; j < len(msg); j++ {
		switch msg[j] {
		case '\\':
			j++
		case '"':
			return start + from, start + j
		}
	}
	return start, start
}

// repeatedID returns the index among earlier of the message whose
// messageId is the same as rm's, or -1.
func repeatedID(buf []byte, earlier []RowMessage, rm RowMessage) int {
	if rm.idStart == rm.idEnd {
		return -1
	}
	id := buf[rm.idStart:rm.idEnd]
	for i := range earlier {
		if bytes.Equal(buf[earlier[i].idStart:earlier[i].idEnd], id) {
			return i
		}
	}
	return -1
}

// EntryMessageID returns the messageId of the message of entry (its index
// in messages:) whose own id would be id, the same as that of an earlier
// message of its row: "bfm-" and, in 32 hex digits, the XXH3-128 hash
// of id (as JSON text, without quotes), a zero byte and the entry's index
// in decimal. It is the same on every run.
func EntryMessageID(id string, entry int) string {
	b := make([]byte, 0, len(id)+1+20)
	b = append(append(b, id...), 0)
	b = strconv.AppendInt(b, int64(entry), 10)
	sum := xxh3.Hash128(b).Bytes()
	return "bfm-" + hex.EncodeToString(sum[:])
}

// schemaIndex maps the columns of a schema to their positions; nil for a
// nil schema. Compile has refused a schema with a column twice.
func schemaIndex(schema []string) map[string]int {
	if schema == nil {
		return nil
	}
	index := make(map[string]int, len(schema))
	for i, name := range schema {
		index[name] = i
	}
	return index
}

// multiColumns is Columns for a spec with messages:.
func (s *Spec) multiColumns() (cols []string, all bool) {
	seen := map[string]bool{}
	cols = []string{}
	add := func(name string) {
		for {
			if !seen[name] {
				seen[name] = true
				cols = append(cols, name)
			}
			i := strings.LastIndexByte(name, '.')
			if i < 0 {
				return
			}
			name = name[:i]
		}
	}
	for _, e := range s.messages {
		ec, all := e.spec.Columns()
		if all {
			return nil, true
		}
		for _, c := range ec {
			add(c)
		}
	}
	for _, u := range s.uses[:s.ownUses] {
		add(u.column)
	}
	return cols, false
}
