package importer

import "sync/atomic"

// DefaultRepeatedIDLimit is how many distinct content-derived messageIds
// a run remembers to count the repeated ones (Config.RepeatedIDLimit):
// 524,288, in at most 8 MiB.
const DefaultRepeatedIDLimit = 1 << 19

// repeats counts the messages whose content-derived messageId an earlier
// message of the run has: rows identical in every field the id covers,
// of which Segment keeps only the first. It remembers the first 64 bits
// of each id in an open-addressing set of twice its limit in slots (16
// bytes an id, the memory touched as ids come); once limit distinct ids
// are in it, it stops counting, and the report says how many messages
// the count covers. Two distinct
// ids share their first 64 bits by chance about once in 10^7 runs of a
// million messages. One goroutine (the assembler) adds to it; the counts
// are read at any time.
type repeats struct {
	limit int
	slots []uint64 // 0 is an empty slot
	n     int      // distinct ids held
	// derived counts the messages with a content-derived id, checked
	// those counted (all of them until the set is full), repeated those
	// whose id was held already.
	derived, checked, repeated atomic.Int64
	touched                    uint64 // what addBlock read ahead, kept so that it is read
}

func newRepeats(limit int) *repeats {
	if limit == 0 {
		limit = DefaultRepeatedIDLimit
	}
	return &repeats{limit: max(limit, 0)}
}

// addBlock counts the messages of a mapped block that have derived ids,
// in order. The set's slots for a run of ids are read before any is
// added, so that the cache misses of a run overlap rather than follow
// one another: a set of 8 MiB mostly misses. The counts are added to
// once a block, not once an id.
func (s *repeats) addBlock(m *mapped) {
	const run = 32
	var checked, repeated int64
	for ids := m.ids; len(ids) > 0 && s.n < s.limit; {
		hs := ids[:min(run, len(ids))]
		ids = ids[len(hs):]
		if s.slots == nil {
			s.makeSlots()
		}
		var touch uint64
		mask := uint64(len(s.slots) - 1)
		for _, h := range hs {
			touch += s.slots[h&mask]
		}
		s.touched = touch
		for _, h := range hs {
			if s.n >= s.limit {
				break
			}
			checked++
			if s.add(h) {
				repeated++
			}
		}
	}
	s.derived.Add(int64(len(m.ids)))
	s.checked.Add(checked)
	s.repeated.Add(repeated)
}

// add adds an id that starts with the 64 bits h to the set, which has
// room for it, and reports whether the set held it already.
func (s *repeats) add(h uint64) bool {
	if h == 0 {
		h = 1
	}
	mask := uint64(len(s.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch s.slots[i] {
		case h:
			return true
		case 0:
			s.slots[i] = h
			s.n++
			return false
		}
	}
}

// makeSlots makes the set's slots, once: twice its limit, rounded up to a
// power of two. Memory the set has not touched yet costs no RAM, and
// having them all from the start spares the rehashing of growth.
func (s *repeats) makeSlots() {
	n := 1
	for n < 2*s.limit {
		n *= 2
	}
	s.slots = make([]uint64, n)
}
