package mappings

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/backfillhq/backfill/readers"
	"github.com/backfillhq/backfill/sink"
	"github.com/zeebo/xxh3"
	"go.yaml.in/yaml/v3"
)

// maxMessageID is Segment's limit on the length of a messageId.
const maxMessageID = sink.MaxMessageIDBytes

// writtenLen returns the length in bytes of s as the message writer
// writes it: each byte that is not valid UTF-8 becomes U+FFFD, three
// bytes long.
func writtenLen(s string) int {
	n := len(s)
	if utf8.ValidString(s) {
		return n
	}
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			n += 2
		}
		i += size
	}
	return n
}

// DeriveMessageID returns the messageId of the row with ordinal row of the
// file whose content fingerprint is fingerprint: "bf-", the first 32
// characters of the fingerprint, "-" and the ordinal. It is at most 56
// characters long and the same on every run over the same file, so a row
// sent again after a crash repeats its id and Segment de-duplicates it.
func DeriveMessageID(fingerprint string, row int64) string {
	if len(fingerprint) > 32 {
		fingerprint = fingerprint[:32]
	}
	b := make([]byte, 0, 3+len(fingerprint)+1+20)
	b = append(b, "bf-"...)
	b = append(b, fingerprint...)
	b = append(b, '-')
	b = strconv.AppendInt(b, row, 10)
	return string(b)
}

// RowMessageID returns the messageId of a row derived from its position
// (messageId: {derive: position}), outside any namespace. For a row of a file
// it is DeriveMessageID(row.Source.Fingerprint, row.Pos.Row). A source
// without a fingerprint (standard input) has no content identity to bind
// to, so the id is "bf-r" followed by a SHA-256 of the row's ordinal and raw
// bytes (or, for rows without raw bytes, their column names and values):
// re-reading the same input gives the same ids.
func RowMessageID(row *readers.Row) string {
	if row.Source != nil && row.Source.Fingerprint != "" {
		return DeriveMessageID(row.Source.Fingerprint, row.Pos.Row)
	}
	h := sha256.New()
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(row.Pos.Row))
	h.Write(n[:])
	if row.Raw != nil {
		h.Write(row.Raw)
	} else {
		for i, name := range row.Names() {
			v := row.Value(i)
			fmt.Fprintf(h, "%q=%T:%v\x00", name, v, v)
		}
	}
	var sum [sha256.Size]byte
	return DeriveMessageID("r"+hex.EncodeToString(h.Sum(sum[:0])), row.Pos.Row)
}

// idSpec is how a spec's messages without a messageId get one:
//
//	messageId: {derive: content}      # the default: a hash of the message's content (sink.ContentIDs)
//	messageId: {derive: position}     # the source file's fingerprint and the row's ordinal (RowMessageID)
//	messageId: {namespace: trial-2026}           # a salt mixed into every derived id
//	messageId: {column: event_id, derive: position}   # a column, and for rows without a value, derived
//
// With passthrough: true, messageId may hold derive and namespace (the
// messages' own messageIds win).
type idSpec struct {
	position  bool
	namespace string
}

// deriveOnly reports whether n, the value of messageId, names no column:
// a mapping of derive and namespace only.
func deriveOnly(n *yaml.Node) bool {
	if n.Kind != yaml.MappingNode || len(n.Content) == 0 {
		return false
	}
	for i := 0; i < len(n.Content); i += 2 {
		if k := n.Content[i].Value; k != "derive" && k != "namespace" {
			return false
		}
	}
	return true
}

// parseMessageID parses messageId: a field (see parseText), or a mapping
// with derive, namespace and (optionally) column.
func (p *specParser) parseMessageID(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return p.parseText(n, fieldMessageID)
	}
	ms, err := p.members(n, "messageId")
	if err != nil {
		return err
	}
	var rest []*yaml.Node
	ids := &p.spec.ids
	for _, m := range ms {
		k, v := m[0], resolve(m[1])
		switch k.Value {
		case "derive":
			s, err := p.scalar(v, "messageId.derive")
			if err != nil {
				return err
			}
			switch s {
			case "content":
			case "position":
				ids.position = true
			default:
				return p.errorf(v, "messageId.derive", "%q: want content (a hash of the message's fields, the default) or position (the file and the row)", s)
			}
		case "namespace":
			s, err := p.scalar(v, "messageId.namespace")
			if err != nil {
				return err
			}
			if s == "" {
				return p.errorf(v, "messageId.namespace", "empty: leave it out for no namespace")
			}
			ids.namespace = s
		default:
			rest = append(rest, k, m[1])
		}
	}
	if len(rest) == 0 {
		return nil
	}
	return p.parseText(&yaml.Node{Kind: yaml.MappingNode, Line: n.Line, Column: n.Column, Content: rest}, fieldMessageID)
}

// idScheme is how a compiled mapper derives the messageId of a message
// without one: from its content (ids), or from its position (position,
// salted with namespace).
type idScheme struct {
	ids       *sink.ContentIDs
	position  bool
	namespace string
}

// newIDScheme returns the scheme of a spec's ids under opts: the
// namespace is the spec's or opts.IDNamespace; both, unless equal, are an
// error.
func newIDScheme(spec idSpec, opts Options) (idScheme, error) {
	ns := spec.namespace
	if opts.IDNamespace != "" {
		if ns != "" && ns != opts.IDNamespace {
			return idScheme{}, fmt.Errorf("the id namespace is %q in the mapping and %q in the options: give one", ns, opts.IDNamespace)
		}
		ns = opts.IDNamespace
	}
	if spec.position {
		return idScheme{position: true, namespace: ns}, nil
	}
	return idScheme{ids: sink.NewContentIDs(ns)}, nil
}

// derive gives the message begun in w its derived messageId: it sets
// the position id, or makes w derive the content id when the message
// ends. It is called after Begin, before the string fields.
func (s *idScheme) derive(row *readers.Row, w *sink.MessageWriter) {
	if s.position {
		w.SetText(sink.FieldMessageID, positionID(row, s.namespace))
		return
	}
	w.DeriveContentID(s.ids)
}

// positionID returns RowMessageID(row) or, in a namespace, the same
// shape of id with the fingerprint replaced by the first 32 hex digits
// of an XXH3-128 hash of the namespace and the fingerprint.
func positionID(row *readers.Row, namespace string) string {
	id := RowMessageID(row)
	if namespace == "" {
		return id
	}
	body, ordinal, _ := strings.Cut(strings.TrimPrefix(id, "bf-"), "-")
	b := append([]byte("ns"), binary.AppendUvarint(nil, uint64(len(namespace)))...)
	b = append(append(b, namespace...), body...)
	sum := xxh3.Hash128(b).Bytes()
	return "bf-" + hex.EncodeToString(sum[:]) + "-" + ordinal
}
