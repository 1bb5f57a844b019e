package sink

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// TextField names a string field of a message. The fields are written in
// the order of these constants, after the type (messageId first, then the
// timestamp, then the others).
type TextField int

// The string fields of a message.
const (
	FieldMessageID TextField = iota
	FieldUserID
	FieldAnonymousID
	FieldEvent    // track
	FieldName     // page, screen
	FieldCategory // page
	FieldGroupID  // group
	FieldPreviousID
	numTextFields
)

// textKeys are the keys of the string fields, as JSON, with the comma
// before them.
var textKeys = [numTextFields]string{
	`,"messageId":`, `,"userId":`, `,"anonymousId":`, `,"event":`,
	`,"name":`, `,"category":`, `,"groupId":`, `,"previousId":`,
}

// ObjectField names an object field of a message. Objects are written in
// the order of these constants; a message always has a context.
type ObjectField int

// The object fields of a message.
const (
	FieldProperties ObjectField = iota
	FieldTraits
	FieldContext
	FieldIntegrations
	numObjectFields
)

var objectNames = [numObjectFields]string{"properties", "traits", "context", "integrations"}

// objectOpens open the objects, with the comma before them.
var objectOpens = [numObjectFields]string{`,"properties":{`, `,"traits":{`, `,"context":{`, `,"integrations":{`}

// Key is a member name with its JSON form, quoted once (NewKey) for keys
// that are written for many messages.
type Key struct {
	name    string
	quoted  string // name as a JSON string, with its colon
	library bool   // the name is "library"
}

// NewKey returns the Key of a member name.
func NewKey(name string) Key {
	return Key{name: name, quoted: string(append(appendString(nil, name), ':')), library: name == "library"}
}

// level is an object or array being written: where it starts (before the
// comma and key that open it), how many members it has, and the key that
// opened it, for the paths of errors.
type level struct {
	mark  int
	n     int
	key   string
	array bool
}

// MessageWriter writes Segment messages as JSON, one after another, into
// one buffer. It is the only code that knows Segment's wire format: the
// order of the fields (type, messageId, timestamp, userId, anonymousId,
// event, name, category, groupId, previousId, properties, traits,
// context, integrations, then any other top-level members), the
// context's "library" member, the escaping of strings, and the
// per-message size cap.
//
// A message is written in order, straight into the buffer: Begin (type
// and timestamp); SetText or SetQuoted for the string fields, in the
// order of the TextField constants; the objects, each with BeginObject,
// then Key and a value per member (String, Int, Float, Bool, Null, Raw,
// Literal, Time, Value, or BeginNested/BeginArray with their End), then
// EndObject (or RawObject, or WriteObject for a Go value); then Key and
// a value for each extra top-level member; finally End, which returns
// the message's bytes or a typed error. A messageId computed from the
// message itself is written by End (DeriveMessageID).
//
// A member whose key is given but no value is left out. An object (or a
// nested object) without members is left out, key and all; a message
// without a context gets one holding only "library", and a context
// without a "library" member gets one, last.
//
// A value the JSON format cannot hold (a NaN or infinite float, a
// malformed number) is an error of the message, naming the field's path,
// such as "properties.amount"; writing goes on, so that a caller may
// report an error of its own first, and End returns it. End also checks
// the rules of Segment's spec (see End) and the size cap, which Err
// reports as soon as the message crosses it.
//
// The zero MessageWriter writes into a buffer of its own with the default
// limits. A MessageWriter is reusable (Reset) and, once its buffer has
// grown, writes without allocating. It is not safe for concurrent use.
type MessageWriter struct {
	buf   []byte
	start int // start of the message in progress, or -1
	limit int // per-message cap; 0 means DefaultMaxMessageBytes

	typ      string
	ts       time.Time
	set      uint16    // bit f: string field f has a value
	idLen    int       // the length of the messageId
	nextText TextField // string fields before nextText are written or passed
	stamped  bool      // the timestamp is written
	derive   func(msg []byte) string
	slot     int // where a derived messageId goes, or -1

	head    bool    // the head (type to previousId) is written
	context bool    // the context is written
	library bool    // the context being written has a "library" member
	levels  []level // levels[depth-1] is the object or array being written
	depth   int     // 0 at the top level of the message
	key     *Key    // the key of the next member
	own     Key     // the key set by KeyString
	err     error   // the first value the message cannot hold

	date  [len(TimeLayout)]byte // the last timestamp written in full, whose date appendStamp reuses
	day   int64                 // the day of date, counted as appendTime counts them
	dated bool                  // date holds a timestamp

	cs contentState // for an id derived from the content
}

// NewMessageWriter returns a MessageWriter with the per-message cap of l
// (MaxMessageBytes; zero: the default, lowered to fit MaxBatchBytes as the
// Batcher does).
func NewMessageWriter(l Limits) *MessageWriter {
	return &MessageWriter{limit: l.effective().MaxMessageBytes, start: -1}
}

// Reset drops what w holds and makes it write into buf[:0].
func (w *MessageWriter) Reset(buf []byte) {
	w.buf = buf[:0]
	w.start = -1
}

// Bytes returns the messages ended so far, one after another, without
// separators. It is the buffer given to Reset, grown as needed.
func (w *MessageWriter) Bytes() []byte {
	if w.start >= 0 {
		return w.buf[:w.start]
	}
	return w.buf
}

// Len returns the length of Bytes: where the next message will start.
func (w *MessageWriter) Len() int { return len(w.Bytes()) }

// Begin starts a message of type typ (one of the Type constants) at
// timestamp ts. A message begun and not ended is dropped.
func (w *MessageWriter) Begin(typ string, ts time.Time) {
	if w.start >= 0 {
		w.buf = w.buf[:w.start]
	}
	w.start = len(w.buf)
	w.typ, w.ts = typ, ts
	w.set, w.idLen, w.nextText, w.stamped = 0, 0, 0, false
	switch typ {
	case TypeTrack:
		w.buf = append(w.buf, `{"type":"track"`...)
	case TypeIdentify:
		w.buf = append(w.buf, `{"type":"identify"`...)
	case TypePage:
		w.buf = append(w.buf, `{"type":"page"`...)
	default:
		w.buf = append(w.buf, `{"type":`...)
		w.buf = appendString(w.buf, typ)
	}
	w.derive, w.slot = nil, -1
	w.cs.ids, w.cs.hashing, w.cs.nobj, w.cs.members, w.cs.derived = nil, false, 0, w.cs.members[:0], false
	w.own, w.key = Key{}, &w.own
	w.head, w.context, w.library = false, false, false
	w.depth = 0
	w.err = nil
}

// SetText sets a string field; the empty string leaves it out. The
// fields are set in the order of the TextField constants, before the
// objects; one set out of order is an error of the message.
func (w *MessageWriter) SetText(f TextField, s string) {
	if s == "" {
		return
	}
	if w.head || f < w.nextText || f >= numTextFields {
		w.outOfOrder(f)
		return
	}
	w.field(f, len(s))
	w.nextText = f + 1
	w.set |= 1 << f
	w.buf = appendString(append(w.buf, textKeys[f]...), s)
}

// SetQuoted sets a string field, as SetText does, to a JSON string
// literal, quotes included, that the caller vouches is written back as
// itself: printable ASCII without escapes. The literal "" leaves the
// field out.
func (w *MessageWriter) SetQuoted(f TextField, lit []byte) {
	if len(lit) <= 2 {
		return
	}
	if w.head || f < w.nextText || f >= numTextFields {
		w.outOfOrder(f)
		return
	}
	w.field(f, len(lit)-2)
	w.nextText = f + 1
	w.set |= 1 << f
	w.buf = append(append(w.buf, textKeys[f]...), lit...)
}

// field writes what comes before the key of string field f, whose text
// is n bytes long: the timestamp, after the messageId or its slot.
func (w *MessageWriter) field(f TextField, n int) {
	if f == FieldMessageID {
		w.idLen = n
	} else if !w.stamped {
		w.stamp()
	}
}

// outOfOrder records string field f, set after a field that comes
// after it, as an error of the message. It is kept out of line, off
// the path of the fields set in order.
//
//go:noinline
func (w *MessageWriter) outOfOrder(f TextField) {
	if w.err == nil {
		w.err = &ValidationError{Field: strings.Trim(textKeys[f], `,":`), Reason: ReasonInvalidField,
			Detail: "set out of order"}
	}
}

// stamp writes the timestamp, after the messageId or its slot.
func (w *MessageWriter) stamp() {
	w.stamped = true
	if w.set&(1<<FieldMessageID) == 0 {
		if w.cs.ids != nil {
			w.reserveContentID()
		} else if w.derive != nil {
			w.slot = len(w.buf)
		}
	}
	w.buf = append(w.buf, `,"timestamp":"`...)
	w.buf = w.appendStamp(w.buf, w.ts)
	w.buf = append(w.buf, '"')
}

// appendStamp writes t as appendTime does, taking the date from the
// last timestamp written when it falls on the same day, as the
// timestamps of an import mostly do.
func (w *MessageWriter) appendStamp(buf []byte, t time.Time) []byte {
	sec := t.Unix()
	if sec < minRFC3339Unix || sec >= endRFC3339Unix {
		return appendTime(buf, t)
	}
	day := (sec - minRFC3339Unix) / 86400
	if !w.dated || day != w.day {
		d := appendTime(w.date[:0], t)
		w.day, w.dated = day, len(d) == len(w.date) && &d[0] == &w.date[0]
		if !w.dated {
			return append(buf, d...)
		}
	}
	rem := int(sec - minRFC3339Unix - day*86400)
	hour, minute, second := rem/3600, rem/60%60, rem%60
	ms := t.Nanosecond() / 1e6
	return append(append(buf, w.date[:11]...),
		byte('0'+hour/10), byte('0'+hour%10), ':',
		byte('0'+minute/10), byte('0'+minute%10), ':',
		byte('0'+second/10), byte('0'+second%10), '.',
		byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), 'Z')
}

// textLen returns the length of string field f, 0 when it has no value.
func (w *MessageWriter) textLen(f TextField) int {
	switch {
	case w.set&(1<<f) == 0:
		return 0
	case f == FieldMessageID:
		return w.idLen
	}
	return 1
}

// DeriveMessageID makes a message without a messageId get one computed,
// when it ends, from the message's bytes as written without it; id must
// return at most MaxMessageIDBytes bytes. The id is written in its place
// after the type without another pass over the source. It is called
// after Begin, before the string fields.
func (w *MessageWriter) DeriveMessageID(id func(msg []byte) string) {
	w.derive = id
}

// writeHead ends the string fields, once.
func (w *MessageWriter) writeHead() {
	if w.head {
		return
	}
	if !w.stamped {
		w.stamp()
	}
	w.head = true
	w.cs.hashEnd = len(w.buf)
}

// skipTo writes the head and, when the objects pass the context without
// one, the default context.
func (w *MessageWriter) skipTo(o ObjectField) {
	w.writeHead()
	if o > FieldContext && !w.context {
		w.context = true
		w.buf = append(w.buf, `,"context":{`...)
		w.buf = appendLibrary(w.buf)
		w.buf = append(w.buf, '}')
	}
}

// BeginObject starts object field o. Objects come in the order of the
// ObjectField constants, each at most once, before any extra member.
func (w *MessageWriter) BeginObject(o ObjectField) {
	if !w.head || o > FieldContext && !w.context {
		w.skipTo(o)
	}
	w.library = false
	mark := len(w.buf)
	w.buf = append(w.buf, objectOpens[o]...)
	w.push(mark, objectNames[o], false)
	if w.cs.ids != nil && o <= FieldTraits {
		w.beginHashed(o, mark, false)
	}
}

// push starts a nested level.
func (w *MessageWriter) push(mark int, key string, array bool) {
	if w.depth == len(w.levels) {
		w.levels = append(w.levels, level{})
	}
	lv := &w.levels[w.depth]
	lv.mark, lv.n, lv.key, lv.array = mark, 0, key, array
	w.depth++
}

// pop ends the current level and returns it.
func (w *MessageWriter) pop() *level {
	w.depth--
	return &w.levels[w.depth]
}

// EndObject ends the object or nested object begun last. One without
// members is left out, with its key.
func (w *MessageWriter) EndObject() {
	lv := w.pop()
	top := w.depth == 0
	if lv.n == 0 {
		w.buf = w.buf[:lv.mark]
		if w.cs.hashing {
			if top {
				w.endHashed()
			} else {
				w.dropMembers(lv.mark)
			}
		}
		if !top {
			w.levels[w.depth-1].n--
			if w.depth == 1 && lv.key == "library" {
				w.library = false
			}
		}
		return
	}
	if top && lv.key == "context" {
		w.context = true
		if !w.library {
			w.buf = append(w.buf, ',')
			w.buf = appendLibrary(w.buf)
		}
	}
	w.buf = append(w.buf, '}')
	if top && w.cs.hashing {
		w.endHashed()
	}
}

// BeginNested starts an object as the value of the current member; it
// ends with EndObject.
func (w *MessageWriter) BeginNested() {
	mark := len(w.buf)
	key := w.key.name
	w.member()
	if w.cs.hashing {
		w.notCanonical()
	}
	w.buf = append(w.buf, '{')
	w.push(mark, key, false)
}

// BeginArray starts an array as the value of the current member; its
// elements are values written without keys; it ends with EndArray. An
// empty array is written as [].
func (w *MessageWriter) BeginArray() {
	mark := len(w.buf)
	key := w.key.name
	w.member()
	if w.cs.hashing {
		w.notCanonical()
	}
	w.buf = append(w.buf, '[')
	w.push(mark, key, true)
}

// EndArray ends the array begun last.
func (w *MessageWriter) EndArray() {
	w.pop()
	w.buf = append(w.buf, ']')
}

// Key sets the key of the next member, a constant one (see NewKey),
// which must stay unchanged until the member's value is written. At the
// top level, after the objects, it is an extra member of the message,
// which may not repeat a field the writer writes itself.
func (w *MessageWriter) Key(k *Key) {
	w.key = k
}

// KeyString sets the key of the next member from its name.
func (w *MessageWriter) KeyString(name string) {
	w.own = Key{name: name, library: name == "library"}
	w.key = &w.own
}

// member writes what comes before a value: the comma, and the key of an
// object member; at the top level, the objects not written and the
// extra member's key.
func (w *MessageWriter) member() {
	if w.depth == 0 || w.key.quoted == "" {
		w.memberSlow()
		return
	}
	lv := &w.levels[w.depth-1]
	if lv.array {
		w.memberSlow()
		return
	}
	if lv.n > 0 {
		w.buf = append(w.buf, ',')
	}
	lv.n++
	k := len(w.buf)
	w.buf = append(w.buf, w.key.quoted...)
	if w.depth == 1 {
		if w.cs.hashing {
			w.hashMember(k)
		}
		if w.key.library {
			w.library = true
		}
	}
}

// memberSlow is member for an extra member, an array element or a key
// not quoted in advance.
func (w *MessageWriter) memberSlow() {
	if w.depth == 0 {
		w.extra()
		return
	}
	lv := &w.levels[w.depth-1]
	if lv.n > 0 {
		w.buf = append(w.buf, ',')
	}
	lv.n++
	if lv.array {
		return
	}
	k := len(w.buf)
	w.appendKey()
	if w.depth == 1 {
		if w.cs.hashing {
			w.hashMember(k)
		}
		if w.key.library {
			w.library = true
		}
	}
}

// extra writes the key of an extra top-level member, after the objects.
func (w *MessageWriter) extra() {
	if !w.head || !w.context {
		w.skipTo(numObjectFields)
	}
	w.buf = append(w.buf, ',')
	w.appendKey()
	if w.err == nil && isKnownKey(w.key.name) {
		w.err = &ValidationError{Field: "extra." + w.key.name, Reason: ReasonInvalidField,
			Detail: "Extra repeats the field " + strconv.Quote(w.key.name) + " of the message"}
	}
}

// isKnownKey reports whether name is one of knownKeys.
func isKnownKey(name string) bool {
	switch name {
	case "type", "messageId", "timestamp", "userId", "anonymousId", "event", "name",
		"category", "groupId", "previousId", "properties", "traits", "context", "integrations":
		return true
	}
	return false
}

func (w *MessageWriter) appendKey() {
	if w.key.quoted != "" {
		w.buf = append(w.buf, w.key.quoted...)
	} else {
		w.buf = appendString(w.buf, w.key.name)
		w.buf = append(w.buf, ':')
	}
}

// path returns the field the current member is, such as
// "properties.items[2]": called after member has counted it.
func (w *MessageWriter) path() string {
	if w.depth == 0 {
		return w.key.name
	}
	levels := w.levels[:w.depth]
	cur := &levels[w.depth-1]
	var b []byte
	for i, lv := range levels {
		switch {
		case i == 0:
			b = append(b, lv.key...)
		case levels[i-1].array:
			b = appendIndex(b, levels[i-1].n-1)
		default:
			b = append(b, '.')
			b = append(b, lv.key...)
		}
	}
	if cur.array {
		b = appendIndex(b, cur.n-1)
	} else {
		b = append(b, '.')
		b = append(b, w.key.name...)
	}
	return string(b)
}

func appendIndex(b []byte, i int) []byte {
	b = append(b, '[')
	b = strconv.AppendInt(b, int64(i), 10)
	return append(b, ']')
}

// fail records the first error of a value, naming the current member,
// and takes back the member written for it.
func (w *MessageWriter) fail(mark int, err error) {
	if w.err == nil {
		if ve, ok := err.(*ValidationError); ok {
			w.err = prefixField(ve, w.path())
		} else {
			w.err = err
		}
	}
	w.buf = w.buf[:mark]
	if w.depth > 0 {
		w.levels[w.depth-1].n--
	}
	if w.cs.hashing {
		w.dropMembers(mark)
	}
}

// String writes a string value.
func (w *MessageWriter) String(s string) {
	w.member()
	w.buf = appendString(w.buf, s)
}

// Int writes an integer value.
func (w *MessageWriter) Int(i int64) {
	w.member()
	w.buf = strconv.AppendInt(w.buf, i, 10)
}

// Float writes a float value as encoding/json does; NaN and infinities
// are errors ("invalid_value").
func (w *MessageWriter) Float(f float64) {
	mark := len(w.buf)
	w.member()
	var err error
	if w.buf, err = appendFloat(w.buf, f, 64); err != nil {
		w.fail(mark, err)
	} else if w.cs.hashing && f == 0 && math.Signbit(f) {
		w.notCanonical() // -0 is 0
	}
}

// Bool writes true or false.
func (w *MessageWriter) Bool(b bool) {
	w.member()
	w.buf = strconv.AppendBool(w.buf, b)
}

// Null writes null.
func (w *MessageWriter) Null() {
	w.member()
	w.buf = append(w.buf, "null"...)
}

// Time writes t as a string in TimeLayout, in UTC.
func (w *MessageWriter) Time(t time.Time) {
	w.member()
	w.buf = append(w.buf, '"')
	w.buf = w.appendStamp(w.buf, t)
	w.buf = append(w.buf, '"')
}

// Raw writes JSON text that the caller vouches is valid, as it is (nil is
// null); text with line breaks is compacted onto one line.
func (w *MessageWriter) Raw(raw []byte) {
	mark := len(w.buf)
	w.member()
	switch {
	case raw == nil:
		w.buf = append(w.buf, "null"...)
	case scalarText(raw):
		w.buf = append(w.buf, raw...)
		if w.cs.hashing {
			w.checkScalar(raw)
		}
	default:
		var err error
		if w.buf, err = appendRaw(w.buf, raw); err != nil {
			w.fail(mark, err)
		} else if w.cs.hashing {
			w.notCanonical()
		}
	}
}

// RawPlainStrings writes raw as Raw does, for a caller that vouches that
// no string in raw holds an escape sequence, U+2028 or U+2029 and that
// raw is valid UTF-8 (readers.Row.PlainJSONStrings): such strings are in
// canonical form already, and only raw's numbers are checked for a
// content-derived id.
func (w *MessageWriter) RawPlainStrings(raw []byte) {
	if w.cs.hashing && scalarText(raw) && raw[0] == '"' {
		w.member()
		w.buf = append(w.buf, raw...)
		return
	}
	w.Raw(raw)
}

// Literal writes JSON text that the caller vouches is a valid JSON
// number or literal with no white space, such as 12.5.
func (w *MessageWriter) Literal(s string) {
	w.member()
	w.buf = append(w.buf, s...)
	if w.cs.hashing && s != "" {
		w.checkScalar(w.buf[len(w.buf)-len(s):])
	}
}

// Value writes a Go value as AppendValue encodes it: maps with their keys
// sorted, json.RawMessage as it is. A value that cannot be encoded is an
// error of the message.
func (w *MessageWriter) Value(v any) {
	mark := len(w.buf)
	w.member()
	var err error
	if w.buf, err = appendValue(w.buf, v); err != nil {
		w.fail(mark, err)
	} else if w.cs.hashing {
		w.notCanonical()
	}
}

// RawObject writes object field o as JSON text that the caller vouches is
// a valid JSON object, as it is (compacted if it spans lines). A context
// written so is not given a "library" member: the caller writes its own.
func (w *MessageWriter) RawObject(o ObjectField, raw []byte) {
	if !w.head || o > FieldContext && !w.context {
		w.skipTo(o)
	}
	if o == FieldContext {
		w.context = true
	}
	mark := len(w.buf)
	hashed := w.cs.ids != nil && o <= FieldTraits
	if hashed {
		w.beginHashed(o, mark, true)
	}
	w.buf = append(w.buf, objectOpens[o][:len(objectOpens[o])-1]...)
	var err error
	if w.buf, err = appendRaw(w.buf, raw); err != nil {
		w.buf = w.buf[:mark]
		if w.err == nil {
			w.err = prefixField(err.(*ValidationError), objectNames[o])
		}
	}
	if hashed {
		w.endHashed()
	}
}

// WriteObject writes object field o from a Go value, as Message holds it:
// nil (left out), map[string]any, map[string]string, Fields, or a
// json.RawMessage holding an object ("invalid_field" otherwise).
func (w *MessageWriter) WriteObject(o ObjectField, v any) {
	switch x := v.(type) {
	case nil:
		return
	case map[string]any:
		if x == nil {
			return
		}
	case map[string]string:
		if x == nil {
			return
		}
	case Fields:
		if x == nil {
			return
		}
	case json.RawMessage:
		if len(x) == 0 {
			return
		}
		if firstNonSpace(x) != '{' {
			if w.err == nil {
				w.err = &ValidationError{Field: objectNames[o], Reason: ReasonInvalidField, Detail: objectNames[o] + " must be a JSON object"}
			}
			return
		}
		w.RawObject(o, x)
		return
	}
	w.skipTo(o)
	key := `,"` + objectNames[o] + `":`
	isContext := o == FieldContext
	if isContext {
		w.context = true
	}
	if w.cs.ids != nil && o <= FieldTraits {
		w.beginHashed(o, len(w.buf), true)
		defer w.endHashed()
	}
	var err error
	switch x := v.(type) {
	case map[string]any:
		_, has := x["library"]
		w.buf = append(w.buf, key...)
		w.buf, err = appendMap(w.buf, x, isContext && !has)
	case map[string]string:
		_, has := x["library"]
		w.buf = append(w.buf, key...)
		w.buf = appendStringMap(w.buf, x, isContext && !has)
	case Fields:
		_, has := x.Get("library")
		w.buf = append(w.buf, key...)
		w.buf, err = appendFields(w.buf, x, isContext && !has)
	default:
		err = checkObject(objectNames[o], v)
	}
	if err != nil && w.err == nil {
		if ve, ok := err.(*ValidationError); ok && ve.Reason == ReasonInvalidValue {
			err = prefixField(ve, objectNames[o])
		}
		w.err = err
	}
}

// Err returns the first error of the message in progress that End would
// return for a value or for the size, or nil. A caller may stop writing
// a message once Err is not nil.
func (w *MessageWriter) Err() error {
	if w.err != nil {
		return w.err
	}
	if w.start >= 0 {
		if size, limit := len(w.buf)-w.start, w.maxBytes(); size > limit {
			return &TooLargeError{Size: size, Limit: limit}
		}
	}
	return nil
}

func (w *MessageWriter) maxBytes() int {
	if w.limit == 0 {
		return DefaultMaxMessageBytes
	}
	return w.limit
}

// End ends the message and returns its bytes, which stay valid until w
// is reset or written past them, or an error that implements
// RejectReason() string, after which the message is dropped. The errors,
// in the order they are looked for:
//
//   - The type is one of the six message types ("invalid_type").
//   - userId or anonymousId is set; an alias needs userId and previousId;
//     a group needs groupId ("missing_id"). A track needs event
//     ("missing_event").
//   - messageId is at most MaxMessageIDBytes long ("invalid_message_id").
//   - The timestamp is set ("missing_timestamp") and its year in UTC is
//     between 0000 and 9999 ("invalid_timestamp").
//   - Every value could be written ("invalid_value", naming the field),
//     no extra member repeats a field of the message ("invalid_field").
//   - The message is at most the per-message cap (*TooLargeError).
func (w *MessageWriter) End() ([]byte, error) {
	if w.start < 0 {
		return nil, &ValidationError{Field: "type", Reason: ReasonInvalidType, Detail: "no message begun"}
	}
	for w.depth > 0 {
		if w.levels[w.depth-1].array {
			w.EndArray()
		} else {
			w.EndObject()
		}
	}
	if !w.head || !w.context {
		w.skipTo(numObjectFields)
	}
	w.buf = append(w.buf, '}')
	err := w.check()
	if err == nil && w.slot >= 0 {
		if w.cs.ids != nil {
			w.insertContentID()
		} else {
			err = w.insertID()
		}
	}
	if err == nil {
		if size, limit := len(w.buf)-w.start, w.maxBytes(); size > limit {
			err = &TooLargeError{Size: size, Limit: limit}
		}
	}
	start := w.start
	w.start = -1
	if err != nil {
		w.buf = w.buf[:start]
		return nil, err
	}
	return w.buf[start:], nil
}

// check applies the spec's rules to the message written.
func (w *MessageWriter) check() error {
	// The common messages pass at a glance.
	const ids = 1<<FieldUserID | 1<<FieldAnonymousID
	if sec := w.ts.Unix(); w.set&ids != 0 && w.idLen <= MaxMessageIDBytes && !w.ts.IsZero() &&
		sec >= minRFC3339Unix && sec < endRFC3339Unix {
		switch w.typ {
		case TypeIdentify, TypePage, TypeScreen:
			return w.err
		case TypeTrack:
			if w.set&(1<<FieldEvent) != 0 {
				return w.err
			}
		case TypeGroup:
			if w.set&(1<<FieldGroupID) != 0 {
				return w.err
			}
		}
	}
	// The rules look only at whether the ids are empty and at the length
	// of the messageId.
	var f specFields
	f.typ = w.typ
	if w.textLen(FieldUserID) > 0 {
		f.userID = "x"
	}
	if w.textLen(FieldAnonymousID) > 0 {
		f.anonymousID = "x"
	}
	if w.textLen(FieldEvent) > 0 {
		f.event = "x"
	}
	if w.textLen(FieldGroupID) > 0 {
		f.groupID = "x"
	}
	if w.textLen(FieldPreviousID) > 0 {
		f.previousID = "x"
	}
	if err := f.check(); err != nil {
		return err
	}
	if n := w.textLen(FieldMessageID); n > MaxMessageIDBytes {
		return &ValidationError{Field: "messageId", Reason: ReasonInvalidMessageID,
			Detail: "messageId is " + strconv.Itoa(n) + " bytes long, the limit is " + strconv.Itoa(MaxMessageIDBytes)}
	}
	if w.ts.IsZero() {
		return &ValidationError{Field: "timestamp", Reason: ReasonMissingTimestamp, Detail: "timestamp is required"}
	}
	if sec := w.ts.Unix(); sec < minRFC3339Unix || sec >= endRFC3339Unix {
		return &ValidationError{Field: "timestamp", Reason: ReasonBadTimestamp,
			Detail: "year " + strconv.Itoa(w.ts.UTC().Year()) + " cannot be written in RFC 3339"}
	}
	return w.err
}

// insertID writes the derived messageId into its slot.
func (w *MessageWriter) insertID() error {
	id := w.derive(w.buf[w.start:])
	if len(id) > MaxMessageIDBytes {
		return &ValidationError{Field: "messageId", Reason: ReasonInvalidMessageID,
			Detail: "messageId is " + strconv.Itoa(len(id)) + " bytes long, the limit is " + strconv.Itoa(MaxMessageIDBytes)}
	}
	if id == "" {
		return nil
	}
	tail := len(w.buf)
	w.buf = append(w.buf, textKeys[FieldMessageID]...)
	w.buf = appendString(w.buf, id)
	n := len(w.buf) - tail
	w.buf = slices.Insert(w.buf[:tail], w.slot, w.buf[tail:tail+n]...)
	return nil
}

// WriteMessage writes m, a message made of Go values, as a whole: Begin,
// its fields, objects and Extra, and End. The objects of m are each nil,
// map[string]any, map[string]string, Fields or a json.RawMessage holding
// an object ("invalid_field" otherwise).
func (w *MessageWriter) WriteMessage(m *Message) ([]byte, error) {
	w.Begin(m.Type, m.Timestamp)
	w.SetText(FieldMessageID, m.MessageID)
	w.SetText(FieldUserID, m.UserID)
	w.SetText(FieldAnonymousID, m.AnonymousID)
	w.SetText(FieldEvent, m.Event)
	w.SetText(FieldName, m.Name)
	w.SetText(FieldCategory, m.Category)
	w.SetText(FieldGroupID, m.GroupID)
	w.SetText(FieldPreviousID, m.PreviousID)
	// The kinds of the objects and the keys of Extra are checked before
	// the values in them.
	for o, v := range [...]any{m.Properties, m.Traits, m.Context, m.Integrations} {
		if err := checkObject(objectNames[o], v); err != nil {
			w.err = err
			break
		}
	}
	for _, x := range m.Extra {
		if w.err == nil && slices.Contains(knownKeys[:], x.Key) {
			w.err = &ValidationError{Field: "extra." + x.Key, Reason: ReasonInvalidField,
				Detail: "Extra repeats the field " + strconv.Quote(x.Key) + " of the message"}
		}
	}
	w.WriteObject(FieldProperties, m.Properties)
	w.WriteObject(FieldTraits, m.Traits)
	w.WriteObject(FieldContext, m.Context)
	w.WriteObject(FieldIntegrations, m.Integrations)
	for _, x := range m.Extra {
		w.KeyString(x.Key)
		w.Value(x.Value)
	}
	return w.End()
}
