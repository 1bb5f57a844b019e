package importer

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSortIDs sorts long lists, where the radix sort is used, and short
// ones, as slices.Sort does.
func TestSortIDs(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 5, 1<<12 - 1, 1 << 12, 100_003} {
		ids := make([]uint64, n)
		for i := range ids {
			switch i % 3 {
			case 0:
				ids[i] = rng.Uint64()
			case 1:
				ids[i] = rng.Uint64() >> 40 // high digits zero
			default:
				ids[i] = ids[rng.IntN(i)] // a repeat
			}
		}
		want := slices.Clone(ids)
		slices.Sort(want)
		sortIDs(ids)
		if !slices.Equal(ids, want) {
			t.Fatalf("n=%d: not sorted as slices.Sort sorts", n)
		}
	}
}

// TestRepeatsCountsOverTheFirstLimit counts the repeats among the first
// limit ids only, and every derived id.
func TestRepeatsCountsOverTheFirstLimit(t *testing.T) {
	s := newRepeats(5)
	s.add([]uint64{7, 8, 7})
	s.add([]uint64{9, 8, 7, 7}) // the last two are past the limit
	if r, c, d := s.counts(); r != 2 || c != 5 || d != 7 {
		t.Fatalf("counts: repeated %d, checked %d, derived %d; want 2, 5, 7", r, c, d)
	}
	if r, c, d := newRepeats(-1).counts(); r != 0 || c != 0 || d != 0 {
		t.Fatalf("no limit: counts %d, %d, %d; want zeros", r, c, d)
	}
}

// TestRepeatsAcrossChunks counts repeats among ids kept in several
// chunks, added in blocks that cross the chunks' bounds, and stops at a
// limit that falls inside a block, as a map of the first limit ids does.
func TestRepeatsAcrossChunks(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const limit = 2*idChunk + 777
	s := newRepeats(limit)
	seen := map[uint64]bool{}
	var want, total int64
	for total < limit+5000 {
		block := make([]uint64, rng.IntN(1500))
		for i := range block {
			block[i] = rng.Uint64N(30000) // about one in three repeats
		}
		for i, id := range block {
			if total+int64(i) < limit {
				if seen[id] {
					want++
				}
				seen[id] = true
			}
		}
		s.add(block)
		total += int64(len(block))
	}
	if r, c, d := s.counts(); r != want || c != limit || d != total {
		t.Fatalf("counts: repeated %d, checked %d, derived %d; want %d, %d, %d", r, c, d, want, limit, total)
	}
}

// BenchmarkRepeatsAdd adds the ids of a million messages, a block of
// 1,024 at a time, to the list of the default limit.
func BenchmarkRepeatsAdd(b *testing.B) {
	ids := make([]uint64, 1024)
	for i := range ids {
		ids[i] = uint64(i) * 0x9e3779b97f4a7c15
	}
	for b.Loop() {
		s := newRepeats(0)
		for range 1000 {
			s.add(ids)
		}
	}
}
