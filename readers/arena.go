package readers

import (
	"bytes"
	"encoding/json"
	"strings"
)

// Sizes of the blocks a rowArena hands out memory from.
const (
	arenaBytes  = 32 << 10 // bytes of row text per block
	arenaValues = 512      // values per block
	// arenaSmall is the largest request served from a block; larger ones
	// get memory of their own so a block is never mostly wasted.
	arenaSmall = arenaBytes / 8
)

// rowArena hands out the memory of rows in blocks rather than row by row:
// the bytes of Row.Raw, the strings of CSV fields and the rows' values,
// texts and raws slices.
// A block is only ever appended to, never written again where it was
// handed out, and never reused: once the rows cut from it are released it
// is garbage like any row. Every piece is capped at its length, so that
// appending to it copies instead of overwriting the next row's.
type rowArena struct {
	bytes  []byte
	text   strings.Builder
	values []any
	texts  []string
	json   []json.RawMessage
	spans  []uint32
}

// copyBytes returns a copy of b that the arena owns; nil for an empty b.
func (a *rowArena) copyBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	if len(b) > cap(a.bytes)-len(a.bytes) {
		if len(b) > arenaSmall {
			return bytes.Clone(b)
		}
		a.bytes = make([]byte, 0, arenaBytes)
	}
	n := len(a.bytes)
	a.bytes = append(a.bytes, b...)
	return a.bytes[n:len(a.bytes):len(a.bytes)]
}

// reserveText makes room for n bytes of strings in the current block; it
// returns false when n is too large for a block.
func (a *rowArena) reserveText(n int) bool {
	if n > arenaSmall {
		return false
	}
	if n > a.text.Cap()-a.text.Len() {
		a.text = strings.Builder{}
		a.text.Grow(arenaBytes)
	}
	return true
}

// string returns b as a string that shares its memory with the strings
// made since the last reserveText, which must have made room for it.
func (a *rowArena) string(b []byte) string {
	n := a.text.Len()
	a.text.Write(b)
	return a.text.String()[n:]
}

// unquotedCSV returns the text of a quoted CSV field, b, with its doubled
// quotes made single, sharing its memory with the strings made since the
// last reserveText, which must have made room for it.
func (a *rowArena) unquotedCSV(b []byte) string {
	n := a.text.Len()
	for {
		i := bytes.IndexByte(b, '"')
		if i < 0 || i+1 >= len(b) {
			a.text.Write(b)
			break
		}
		a.text.Write(b[:i+1])
		b = b[i+2:]
	}
	return a.text.String()[n:]
}

// newValues returns a slice of n nil values.
func (a *rowArena) newValues(n int) []any { return carve(&a.values, n) }

// newTexts returns a slice of n empty strings, for Row.Texts.
func (a *rowArena) newTexts(n int) []string { return carve(&a.texts, n) }

// newJSON returns a slice of n nil JSON texts, for Row.JSON.
func (a *rowArena) newJSON(n int) []json.RawMessage { return carve(&a.json, n) }

// newSpans returns a slice of n zero offsets, for Row.spans.
func (a *rowArena) newSpans(n int) []uint32 { return carve(&a.spans, n) }

// carve returns the next n zero elements of the block *b, starting a new
// block when it has too few left.
func carve[T any](b *[]T, n int) []T {
	if n > cap(*b)-len(*b) {
		if n > arenaValues/8 {
			return make([]T, n)
		}
		*b = make([]T, 0, arenaValues)
	}
	k := len(*b)
	*b = (*b)[:k+n]
	return (*b)[k : k+n : k+n]
}
