package readers

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/backfillhq/backfill/internal/poison"
)

// Sizes of the chunks a rowArena hands out memory from.
const (
	arenaBytes  = 32 << 10 // bytes of row text per chunk
	arenaValues = 512      // values per chunk
	// arenaSmall is the largest request served from a chunk; larger ones
	// get memory of their own so a chunk is never mostly wasted.
	arenaSmall = arenaBytes / 8
)

// rowArena hands out the memory of rows in chunks rather than row by row:
// the bytes of Row.Raw, the strings of CSV fields and the rows' values,
// texts, raws and spans slices. Every piece is capped at its length, so
// that appending to it copies instead of overwriting the next row's.
//
// A chunk is only ever appended to while its rows are in use. Until the
// reader's caller first cuts the rows (Recycler), chunks are never handed
// back: once the rows cut from them are dropped they are garbage like any
// row. From the first cut on, the arena keeps account of the chunks it
// hands out, and each cut gives the chunks of the rows returned since the
// one before to a RowMemory, whose Release puts them on the free lists
// for later rows; the rows after a cut start chunks of their own. The
// strings of text are never handed back: a Go string is taken to never
// change, and a mapping may keep one (a pattern, a key of a cache).
// Column names never come from an arena: they outlive the rows.
type rowArena struct {
	bytes  []byte
	text   strings.Builder
	values []any
	texts  []string
	json   []json.RawMessage
	spans  []uint32
	// held are the chunks handed out since the last cut, kept account of
	// once keep is set, by the first cut.
	held chunks
	keep bool
}

// byteChunk and valueChunk are the chunks of a rowArena.
type (
	byteChunk         = [arenaBytes]byte
	valueChunk[T any] = [arenaValues]T
)

// copyBytes returns a copy of b that the arena owns; nil for an empty b.
func (a *rowArena) copyBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	if len(b) > cap(a.bytes)-len(a.bytes) {
		if len(b) > arenaSmall {
			return bytes.Clone(b)
		}
		c := freeBytes.get()
		if a.keep {
			a.held.bytes = append(a.held.bytes, c)
		}
		a.bytes = c[:0]
	}
	n := len(a.bytes)
	a.bytes = append(a.bytes, b...)
	return a.bytes[n:len(a.bytes):len(a.bytes)]
}

// reserveText makes room for n bytes of strings in the current chunk; it
// returns false when n is too large for a chunk.
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
func (a *rowArena) newValues(n int) []any {
	return carve(&a.values, n, a.keep, &a.held.values, &freeValues)
}

// newTexts returns a slice of n empty strings, for Row.Texts.
func (a *rowArena) newTexts(n int) []string {
	return carve(&a.texts, n, a.keep, &a.held.texts, &freeTexts)
}

// newJSON returns a slice of n nil JSON texts, for Row.JSON.
func (a *rowArena) newJSON(n int) []json.RawMessage {
	return carve(&a.json, n, a.keep, &a.held.json, &freeJSON)
}

// newSpans returns a slice of n zero offsets, for Row.spans.
func (a *rowArena) newSpans(n int) []uint32 {
	return carve(&a.spans, n, a.keep, &a.held.spans, &freeSpans)
}

// carve returns the next n zero elements of the chunk *b, starting a new
// chunk from free when it has too few left, noted in *held if keep.
func carve[T any](b *[]T, n int, keep bool, held *[]*valueChunk[T], free *freeList[valueChunk[T]]) []T {
	if n > cap(*b)-len(*b) {
		if n > arenaValues/8 {
			return make([]T, n)
		}
		c := free.get()
		if keep {
			*held = append(*held, c)
		}
		*b = c[:0]
	}
	k := len(*b)
	*b = (*b)[:k+n]
	return (*b)[k : k+n : k+n] // zero: new, or cleared by Release
}

// cut ends the run of rows that the chunks handed out since the last cut
// hold, returning them, and starts keeping account of chunks if it did
// not: the rows after it are made in other chunks. See Recycler.
func (a *rowArena) cut() *RowMemory {
	m := &RowMemory{chunks: a.held}
	a.held = chunks{}
	a.keep = true
	a.bytes, a.values, a.texts, a.json, a.spans = nil, nil, nil, nil, nil
	return m
}

// chunks are the chunks of a run of rows, of each kind.
type chunks struct {
	bytes  []*byteChunk
	values []*valueChunk[any]
	texts  []*valueChunk[string]
	json   []*valueChunk[json.RawMessage]
	spans  []*valueChunk[uint32]
}

// Recycler is a Reader whose rows' memory can serve later rows once the
// caller is done with them. The readers of this package are Recyclers.
type Recycler interface {
	// CutRows ends a run of rows: it returns the memory of the rows
	// returned since the previous call, and the rows returned after it
	// use other memory. The first call returns memory that holds no row
	// and starts the accounting: the memory of the rows before it is
	// never reused. A caller that never calls CutRows, or never releases
	// what it returns, gets rows that keep their memory as long as it
	// holds them.
	CutRows() *RowMemory
}

var (
	_ Recycler = (*ndjsonReader)(nil)
	_ Recycler = (*csvReader)(nil)
	_ Recycler = (*parquetReader)(nil)
)

// RowMemory is the memory of a run of rows that a Recycler returned:
// their Raw bytes, their JSON texts and the slices behind their values.
// Release hands it back, to be overwritten by rows read later; whoever
// keeps anything of those rows past that must copy it first. The strings
// of a row's texts (Text) and its names stay as they are.
type RowMemory struct {
	chunks
	released atomic.Bool
}

// Release hands the memory back for rows read later. Every row of the run
// must be done with by then: reading one after Release reads whatever
// later rows wrote there. It may be called from any goroutine, once; a
// second call panics, for it would hand the memory out twice. Release of
// a nil RowMemory does nothing.
func (m *RowMemory) Release() {
	if m == nil {
		return
	}
	if m.released.Swap(true) {
		panic("readers: RowMemory released twice")
	}
	if poison.Enabled() {
		m.poison()
		return
	}
	freeBytes.put(m.bytes, nil)
	freeValues.put(m.values, clearChunk[any])
	freeTexts.put(m.texts, clearChunk[string])
	freeJSON.put(m.json, clearChunk[json.RawMessage])
	freeSpans.put(m.spans, clearChunk[uint32])
	m.chunks = chunks{}
}

// clearChunk zeroes c, so that a chunk on a free list keeps no memory of
// earlier rows alive and carve hands out zero elements.
func clearChunk[T any](c *valueChunk[T]) { clear(c[:]) }

// The patterns poison writes over released memory: what a row read after
// Release shows in tests (internal/poison).
var (
	poisonByte  = byte('~')
	poisonValue = any("~released~")
	poisonText  = "~released~"
	poisonJSON  = json.RawMessage(`"~released~"`)
	poisonSpan  = uint32(0)
)

// poison overwrites the memory with patterns and drops it, never to be
// handed out again, so that any read of it after Release reads the
// patterns.
func (m *RowMemory) poison() {
	for _, c := range m.bytes {
		for i := range c {
			c[i] = poisonByte
		}
	}
	fill(m.values, poisonValue)
	fill(m.texts, poisonText)
	fill(m.json, poisonJSON)
	fill(m.spans, poisonSpan)
}

// fill sets every element of the chunks cs to v.
func fill[T any](cs []*valueChunk[T], v T) {
	for _, c := range cs {
		for i := range c {
			c[i] = v
		}
	}
}

// The free lists of released chunks, shared by every reader. Each keeps
// at most as many as several blocks of rows in flight use, which bounds
// what they hold alive once reading is done.
var (
	freeBytes  = freeList[byteChunk]{max: 512}                   // 16 MiB
	freeValues = freeList[valueChunk[any]]{max: 1024}            // 8 MiB
	freeTexts  = freeList[valueChunk[string]]{max: 1024}         // 8 MiB
	freeJSON   = freeList[valueChunk[json.RawMessage]]{max: 256} // 3 MiB
	freeSpans  = freeList[valueChunk[uint32]]{max: 2048}         // 4 MiB
)

// freeList holds released chunks of one kind for reuse. Safe for
// concurrent use. Unlike a sync.Pool, which a collection may empty at any
// time, it hands a released chunk out again for certain, which its tests
// count on, and its bound is explicit.
type freeList[C any] struct {
	mu   sync.Mutex
	free []*C
	max  int
}

// get returns a released chunk, or a new one.
func (f *freeList[C]) get() *C {
	f.mu.Lock()
	if n := len(f.free); n > 0 {
		c := f.free[n-1]
		f.free[n-1] = nil
		f.free = f.free[:n-1]
		f.mu.Unlock()
		return c
	}
	f.mu.Unlock()
	return new(C)
}

// put adds released chunks, each first passed to prepare unless it is
// nil, up to the list's bound; the rest are left to the garbage
// collector.
func (f *freeList[C]) put(cs []*C, prepare func(*C)) {
	if len(cs) == 0 {
		return
	}
	f.mu.Lock()
	room := max(0, f.max-len(f.free))
	f.mu.Unlock()
	cs = cs[:min(len(cs), room)]
	if prepare != nil {
		for _, c := range cs {
			prepare(c)
		}
	}
	f.mu.Lock()
	f.free = append(f.free, cs[:min(len(cs), max(0, f.max-len(f.free)))]...)
	f.mu.Unlock()
}
