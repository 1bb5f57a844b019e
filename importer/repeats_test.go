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
