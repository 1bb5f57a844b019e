package sink

import (
	"encoding/binary"
	"slices"
	"unsafe"

	"github.com/backfillhq/backfill/internal/jsontext"
	"github.com/zeebo/xxh3"
)

// ContentIDPrefix starts every messageId derived from a message's content.
const ContentIDPrefix = "bfc-"

// ContentIDs derives the messageId of a message from its content: the
// same event gets the same id in any export of it (rows in another order,
// gzipped, CRLF line ends, keys in another order, strings escaped
// otherwise), so that Segment drops a message sent again; messages that
// differ in any of the fields it covers get different ids.
//
// The id is ContentIDPrefix and 26 characters of lowercase base32 (a-z,
// 2-7; RFC 4648's alphabet, without padding): the 128-bit XXH3 hash of the namespace (when set) and the message's canonical form.
// The canonical form is the message as the MessageWriter writes it, from
// the type up to the end of its properties and traits: the type, the
// timestamp (to the millisecond, in UTC), userId, anonymousId, event,
// name, category, groupId and previousId, then properties and traits in
// the canonical form of JSON (see jsontext.AppendCanonical): keys sorted
// at every level, strings compared by their value and not their escaping,
// numbers by their exact decimal value (1.50 is 1.5). The messageId
// itself, context, integrations and extra top-level members are left
// out: they say how and where the event was collected or sent, which
// differs between the exports of one event (context.library names the
// tool that sent it).
//
// Rows that are identical in every field covered share an id, and
// Segment keeps only the first of them (MessageWriter.ContentHash lets a
// caller count them).
//
// XXH3 is not a cryptographic hash: two different messages with the same
// id can be made on purpose, not by chance (about 2^-128 for a pair). It
// is ten times as fast as SHA-256 on a message, which keeps deriving ids
// off the import's critical path.
//
// A ContentIDs is made once (NewContentIDs) and is safe for concurrent use.
type ContentIDs struct {
	frame []byte // hashed before the canonical form: the namespace, framed
}

// NewContentIDs returns the ContentIDs of namespace: a salt mixed into
// every id, so that imports in different namespaces never share ids. The
// empty namespace mixes in nothing.
func NewContentIDs(namespace string) *ContentIDs {
	c := &ContentIDs{}
	if namespace != "" {
		// "ns", the length, the namespace: no canonical form starts so,
		// and no namespace is a prefix of another's frame.
		c.frame = append([]byte("ns"), binary.AppendUvarint(nil, uint64(len(namespace)))...)
		c.frame = append(c.frame, namespace...)
	}
	return c
}

// idAlphabet is the alphabet of the hash of an id: base32, lowercase,
// without padding: 26 characters for 128 bits (hex would take 32, which
// a gzipped batch pays for in every message, random as they are).
const idAlphabet = "abcdefghijklmnopqrstuvwxyz234567"

// contentIDMember is the messageId member of a message whose id is
// derived from its content, as the writer reserves its room when it
// writes the timestamp (dots stand for the hash, written by End).
const contentIDMember = `,"messageId":"` + ContentIDPrefix + "..........................\""

// contentIDHash is where the hash's characters start in contentIDMember.
const contentIDHash = len(contentIDMember) - 27

// putContentHash writes the hash's 16 bytes (Hi, then Lo, big-endian)
// into e in base32 with idAlphabet, as encoding/base32 writes them, five
// bits a character, the last character holding the last three bits and
// two zero bits.
func putContentHash(e *[26]byte, h xxh3.Uint128) {
	// Characters 0 to 11: the top 60 bits of Hi, two at a time; 12: its
	// last 4 bits and the top bit of Lo; 13 to 24: the next 60 bits of
	// Lo; 25: its last 3 bits, shifted up by two.
	for i := range 6 {
		p := &idPairs[h.Hi>>(54-10*i)&1023]
		e[2*i], e[2*i+1] = p[0], p[1]
	}
	e[12] = idAlphabet[(h.Hi&15)<<1|h.Lo>>63]
	for i := range 6 {
		p := &idPairs[h.Lo>>(53-10*i)&1023]
		e[13+2*i], e[14+2*i] = p[0], p[1]
	}
	e[25] = idAlphabet[(h.Lo&7)<<2]
}

// idPairs holds the two characters of every 10 bits.
var idPairs = func() (t [1024][2]byte) {
	for i := range t {
		t[i] = [2]byte{idAlphabet[i>>5], idAlphabet[i&31]}
	}
	return t
}()

// hashedMember is a member of properties or traits as it is written: its
// key at key (the quoted key, then a colon, then the value at val), the
// constant key it was written with, and whether its value is in
// canonical form already.
type hashedMember struct {
	key, val int
	id       unsafe.Pointer // the quoted text of a constant Key, or nil
	canon    bool
}

// hashedObject is properties or traits as written: from mark (its comma)
// to end, member by member (members[from:to]) or as a whole.
type hashedObject struct {
	o        ObjectField
	mark     int
	end      int
	from, to int
	whole    bool
}

// contentState is what a MessageWriter records of a message whose id it
// derives from the content.
type contentState struct {
	ids     *ContentIDs
	hashing bool // the object being written is properties or traits
	hashEnd int  // the end of the part of the message hashed
	objs    [2]hashedObject
	nobj    int
	members []hashedMember
	canon   []byte // the canonical form, when it is not the message's bytes
	framed  []byte // the namespace's frame and the canonical form
	cz      jsontext.Canonicalizer
	// order holds, for properties and traits, the order of the keys of
	// the last such object sorted, and keys its constant keys: the rows of
	// a file mostly have the same keys in the same order, and then the
	// order is not sorted again.
	order [2][]int
	keys  [2][]unsafe.Pointer
	hash  uint64 // the first 64 bits of the last derived id
	// derived is set when the last message ended has a content-derived id.
	derived bool
}

// DeriveContentID makes a message without a messageId get the id that ids
// derives from its content (see ContentIDs), when it ends. It is called
// after Begin, before the string fields; a messageId set with SetText
// or SetQuoted wins.
func (w *MessageWriter) DeriveContentID(ids *ContentIDs) {
	w.cs.ids = ids
}

// ContentHash returns the first 64 bits of the content-derived messageId
// of the message ended last, and false if that message has no such id
// (it has a messageId of its own, or another scheme derived it).
func (w *MessageWriter) ContentHash() (uint64, bool) {
	return w.cs.hash, w.cs.derived
}

// beginHashed starts recording properties or traits, whose opening
// (comma included) starts at mark.
func (w *MessageWriter) beginHashed(o ObjectField, mark int, whole bool) {
	cs := &w.cs
	cs.objs[cs.nobj] = hashedObject{o: o, mark: mark, from: len(cs.members), whole: whole}
	cs.nobj++
	cs.hashing = !whole
}

// endHashed ends the object begun by beginHashed; an object left out
// (without members) is forgotten.
func (w *MessageWriter) endHashed() {
	cs := &w.cs
	ob := &cs.objs[cs.nobj-1]
	cs.hashing = false
	if len(w.buf) <= ob.mark {
		cs.members = cs.members[:ob.from]
		cs.nobj--
	} else {
		ob.end, ob.to = len(w.buf), len(cs.members)
	}
	cs.hashEnd = len(w.buf)
}

// hashMember records a member of properties or traits whose key starts
// at mark (after its comma) and whose value starts at the end of w.buf.
func (w *MessageWriter) hashMember(mark int) {
	var id unsafe.Pointer
	if w.key.quoted != "" {
		id = unsafe.Pointer(unsafe.StringData(w.key.quoted))
	}
	w.cs.members = append(w.cs.members, hashedMember{key: mark, val: len(w.buf), id: id, canon: true})
}

// notCanonical marks the member of properties or traits being written as
// one whose value needs putting in canonical form.
func (w *MessageWriter) notCanonical() {
	if n := len(w.cs.members); n > 0 {
		w.cs.members[n-1].canon = false
	}
}

// dropMembers forgets the members recorded at or after mark, a point the
// message was cut back to.
func (w *MessageWriter) dropMembers(mark int) {
	cs := &w.cs
	for n := len(cs.members); n > 0 && cs.members[n-1].key >= mark; n-- {
		cs.members = cs.members[:n-1]
	}
}

// checkScalar marks the member being written when the scalar JSON text
// lit is not in canonical form.
func (w *MessageWriter) checkScalar(lit []byte) {
	switch lit[0] {
	case '"':
		if !jsontext.CanonicalString(lit) {
			w.notCanonical()
		}
	case 't', 'f', 'n':
	default:
		if !jsontext.CanonicalNumber(lit) {
			w.notCanonical()
		}
	}
}

// reserveContentID makes room for the content-derived id at the end of
// w.buf, its slot: contentIDMember, whose hash End writes
// (insertContentID), so that the message is not moved to make room for
// it then.
func (w *MessageWriter) reserveContentID() {
	w.slot = len(w.buf)
	w.buf = append(w.buf, contentIDMember...)
}

// insertContentID derives the message's id and writes it into its slot.
func (w *MessageWriter) insertContentID() {
	cs := &w.cs
	canonical := w.canonicalForm()
	if frame := cs.ids.frame; len(frame) > 0 {
		cs.framed = append(append(cs.framed[:0], frame...), canonical...)
		canonical = cs.framed
	}
	h := xxh3.Hash128(canonical)
	cs.hash, cs.derived = h.Hi, true
	slot := w.buf[w.slot : w.slot+len(contentIDMember)]
	copy(slot, contentIDMember) // over what canonicalForm copied into it
	putContentHash((*[26]byte)(slot[contentIDHash:]), h)
}

// canonicalForm returns the canonical form of the message ended: its
// bytes from the type to the end of properties and traits, without the
// slot of its id, when they are in canonical form; else that part
// rewritten into cs.canon.
//
// The bytes before the slot (the message's type: {"type":"track" and
// the like) are then copied to the end of the slot, next to the bytes
// after it, for the hash to read them as one; the id is written over
// them.
func (w *MessageWriter) canonicalForm() []byte {
	cs := &w.cs
	plain := true
	for i := range cs.nobj {
		ob := &cs.objs[i]
		if ob.whole {
			plain = false
			continue
		}
		members := cs.members[ob.from:ob.to]
		for k, j := range w.memberOrder(ob, members) {
			if k != j || !members[j].canon {
				plain = false
				break
			}
		}
	}
	head, rest := w.buf[w.start:w.slot], w.slot+len(contentIDMember)
	if plain {
		// The head of every message type is shorter than the slot.
		copy(w.buf[rest-len(head):rest], head)
		return w.buf[rest-len(head) : cs.hashEnd]
	}
	c := append(cs.canon[:0], head...)
	c = append(c, w.buf[rest:cs.objs[0].mark]...)
	for i := range cs.nobj {
		ob := &cs.objs[i]
		open := objectOpens[ob.o]
		if ob.whole {
			c = append(c, open[:len(open)-1]...)
			c = cs.cz.Append(c, w.buf[ob.mark+len(open)-1:ob.end])
			continue
		}
		c = append(c, open...)
		members := cs.members[ob.from:ob.to]
		for k, j := range cs.order[ob.o] {
			m := &members[j]
			end := ob.end - 1 // before the closing brace
			if j+1 < len(members) {
				end = members[j+1].key - 1 // before the comma
			}
			if k > 0 {
				c = append(c, ',')
			}
			if m.canon {
				c = append(c, w.buf[m.key:end]...)
			} else {
				c = append(c, w.buf[m.key:m.val]...)
				c = cs.cz.Append(c, w.buf[m.val:end])
			}
		}
		c = append(c, '}')
	}
	cs.canon = c
	return c
}

// memberOrder returns the indices of the members of ob in the order of
// their keys (in cs.order), reusing the order of the last such object
// when its members had the same constant keys in the same order.
func (w *MessageWriter) memberOrder(ob *hashedObject, members []hashedMember) []int {
	cs := &w.cs
	order, ids := cs.order[ob.o], cs.keys[ob.o]
	if len(ids) == len(members) {
		same := true
		for j := range members {
			if members[j].id == nil || members[j].id != ids[j] {
				same = false
				break
			}
		}
		if same {
			return order
		}
	}
	order, ids = order[:0], ids[:0]
	for j := range members {
		order = append(order, j)
		ids = append(ids, members[j].id)
	}
	buf := w.buf
	slices.SortStableFunc(order, func(a, b int) int {
		ma, mb := &members[a], &members[b]
		return jsontext.CompareKeys(buf[ma.key:ma.val-1], buf[mb.key:mb.val-1])
	})
	cs.order[ob.o], cs.keys[ob.o] = order, ids
	return order
}
