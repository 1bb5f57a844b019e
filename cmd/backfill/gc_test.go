package main

import (
	"runtime"
	"testing"
)

func TestHeapLimit(t *testing.T) {
	for _, c := range []struct {
		live uint64
		want int64
	}{
		{0, gcLimitFloor},
		{10 << 20, gcLimitFloor},
		{gcLimitFloor / gcLiveFactor, gcLimitFloor},
		{40 << 20, 120 << 20},
		{gcLimitCeiling / gcLiveFactor, gcLimitCeiling},
		{100 << 20, gcLimitCeiling},
		{1 << 40, gcLimitCeiling},
	} {
		if got := heapLimit(c.live); got != c.want {
			t.Errorf("heapLimit(%d) = %d, want %d", c.live, got, c.want)
		}
	}
}

func TestAfterEachGC(t *testing.T) {
	lives := make(chan uint64, 1)
	afterEachGC(func(live uint64) {
		select {
		case lives <- live:
		default: // a collection the test did not start
		}
	})
	keep := make([]byte, 4<<20)
	for range 3 {
		// Each collection frees the object armed after the last one, so
		// f is called once after each.
		runtime.GC()
		if live := <-lives; live < uint64(len(keep)) {
			t.Fatalf("live heap %d bytes after a collection, want at least the %d bytes kept", live, len(keep))
		}
	}
	runtime.KeepAlive(keep)
}
