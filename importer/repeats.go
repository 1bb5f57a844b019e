package importer

import (
	"slices"
	"sync"
	"sync/atomic"
)

// DefaultRepeatedIDLimit is how many messages with content-derived
// messageIds a run counts the repeated ones over (Config.RepeatedIDLimit):
// the first 524,288, in 4 MiB.
const DefaultRepeatedIDLimit = 1 << 19

// repeats counts the messages whose content-derived messageId an earlier
// message of the run has: rows identical in every field the id covers,
// of which Segment keeps only the first. It keeps the first 64 bits of
// the ids of the run's first limit such messages in a list, in the order
// they come (8 bytes an id, written one after another), and counts the
// repeats when the run is summed up, by sorting the list: the set that
// finding them as they come needs is read at random, and its cache
// misses cost the assemble stage more than one sort costs at the end.
// The list is kept in chunks of idChunk ids, each allocated once and
// filled: a list grown by append would copy its ids again at every
// growth, into fresh memory, which costs more than keeping them.
// Two distinct ids share their first 64 bits by chance about once in
// 10^7 runs of a million messages. One goroutine (the assembler) adds to
// it; counts may be called at any time.
type repeats struct {
	limit   int
	derived atomic.Int64 // the messages with a content-derived id

	mu     sync.Mutex
	chunks [][]uint64 // the first 64 bits of the first limit ids; all full but the last
	n      int        // the ids in chunks
}

// idChunk is how many ids a chunk of repeats holds: 64 KiB.
const idChunk = 1 << 13

func newRepeats(limit int) *repeats {
	if limit == 0 {
		limit = DefaultRepeatedIDLimit
	}
	return &repeats{limit: max(limit, 0)}
}

// add adds the derived ids of the rows of a block, in order.
func (s *repeats) add(ids []uint64) {
	s.derived.Add(int64(len(ids)))
	s.mu.Lock()
	ids = ids[:min(s.limit-s.n, len(ids))]
	s.n += len(ids)
	for len(ids) > 0 {
		last := len(s.chunks) - 1
		if last < 0 || len(s.chunks[last]) == cap(s.chunks[last]) {
			s.chunks = append(s.chunks, make([]uint64, 0, min(idChunk, s.limit)))
			last++
		}
		c := s.chunks[last]
		k := min(cap(c)-len(c), len(ids))
		s.chunks[last] = append(c, ids[:k]...)
		ids = ids[k:]
	}
	s.mu.Unlock()
}

// counts returns how many of the messages with derived ids were checked
// for repeats (the first limit of them), how many of those repeat an
// earlier one's id, and how many messages had derived ids.
func (s *repeats) counts() (repeated, checked, derived int64) {
	derived = s.derived.Load()
	s.mu.Lock()
	ids := make([]uint64, 0, s.n)
	for _, c := range s.chunks {
		ids = append(ids, c...)
	}
	s.mu.Unlock()
	sortIDs(ids)
	for i := 1; i < len(ids); i++ {
		if ids[i] == ids[i-1] {
			repeated++
		}
	}
	return repeated, int64(len(ids)), derived
}

// sortIDs sorts ids in place: a radix sort, 16 bits a pass, for long
// lists, which it sorts several times faster than a comparison sort.
func sortIDs(ids []uint64) {
	if len(ids) < 1<<12 {
		slices.Sort(ids)
		return
	}
	tmp := make([]uint64, len(ids))
	var count [1 << 16]int
	a, b := ids, tmp
	for shift := uint(0); shift < 64; shift += 16 {
		clear(count[:])
		for _, v := range a {
			count[v>>shift&0xffff]++
		}
		sum := 0
		for d, c := range count {
			count[d] = sum
			sum += c
		}
		for _, v := range a {
			d := v >> shift & 0xffff
			b[count[d]] = v
			count[d]++
		}
		a, b = b, a
	}
	// Four passes: the sorted list is back in ids.
}
