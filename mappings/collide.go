package mappings

import (
	"fmt"

	"github.com/backfillhq/backfill/readers"
)

// ReasonKeyCollision is the reason of a row with a column (or a member of
// a from column) among the remaining ones whose name is a key the mapping
// writes in the same object (a rename target, a constant in values, or
// the first part of a dotted one): one of the two values would be lost.
// With a schema (CSV, Parquet) such a mapping is refused by Compile
// instead.
const ReasonKeyCollision = "key_collision"

// ownerText says who writes an output key, for errors.
func ownerText(k *keyOwner) string {
	if k.what == "values" {
		return "a constant in values"
	}
	return k.what
}

// collisionError refuses, for a schema, a column among the remaining
// ones of object o that collides with a key the object sets.
func collisionError(s *Spec, o int, column string, k *keyOwner) error {
	return fmt.Errorf("%s:%d: %s: %s is written to the key %q of %s, which also takes the file's remaining columns, so the file's column %q would be lost; exclude that column, or choose another key",
		s.name, k.line, k.path, ownerText(k), k.full, objectNames[o], column)
}

// collisionReject is the reject of a row whose column (or member) column,
// among the remaining ones of object o, would go under key, which the
// object sets itself; nil when the column has no value, so nothing is
// lost.
func collisionReject(row *readers.Row, o int, key, column string, v any, k *keyOwner) error {
	if isNull(v) {
		return nil
	}
	return fieldError(row, objectNames[o]+"."+key, column, v, ReasonKeyCollision,
		fmt.Errorf("the mapping writes %s to the key %q (line %d), so this column's value would be lost; exclude the column, or choose another key", ownerText(k), k.full, k.line))
}
