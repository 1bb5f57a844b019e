package main

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
)

// The memory limit of an import, which alone starts its garbage
// collections unless GOGC or GOMEMLIMIT in the environment say otherwise.
//
// An import's live heap is a few tens of megabytes (batches in flight,
// blocks of rows, pooled buffers; a Parquet row group) and most of what
// it allocates beyond that (batches, the strings of CSV fields and of
// Parquet values) is garbage soon after; the memory of the rows' bytes
// and values is reused. Collecting only at a limit,
// rather than each time the heap doubles, keeps the collections few. But
// every megabyte the heap grows to is memory the kernel hands the process
// page by page, a cost each process pays again, each shard of an import
// too: a limit of 192 MiB made a shard of a third of a file cost more than
// half of the whole file's import. So the limit is gcLimitFloor, raised to
// gcLiveFactor times the live heap after each collection when that is
// more, up to gcLimitCeiling: a larger live heap (a Parquet row group,
// very wide rows) does not make the collector run back to back. With
// twice the live heap, the Parquet path spent 15 % more CPU time than with
// the fixed 192 MiB; with three times, as much.
const (
	gcLimitFloor   = 64 << 20
	gcLimitCeiling = 192 << 20
	gcLiveFactor   = 3
)

// heapLimit returns the memory limit for a live heap of live bytes.
func heapLimit(live uint64) int64 {
	return int64(min(max(gcLiveFactor*live, gcLimitFloor), gcLimitCeiling))
}

// tuneGC turns the garbage collector's target off and sets the memory
// limit to heapLimit of the live heap, again after each collection. With
// GOMEMLIMIT in the environment it changes nothing; with GOGC alone, it
// sets the memory limit to gcLimitCeiling.
func tuneGC() {
	switch {
	case os.Getenv("GOMEMLIMIT") != "":
	case os.Getenv("GOGC") != "":
		debug.SetMemoryLimit(gcLimitCeiling)
	default:
		debug.SetMemoryLimit(gcLimitFloor)
		debug.SetGCPercent(-1)
		afterEachGC(func(live uint64) { debug.SetMemoryLimit(heapLimit(live)) })
	}
}

// afterEachGC calls f with the live heap, in bytes, after each garbage
// collection from now on, for as long as the process runs. The calls come
// one at a time from a goroutine of the runtime, some time after the
// collection; f must not block.
func afterEachGC(f func(live uint64)) {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	var arm func()
	arm = func() {
		// An object nothing refers to: the next collection frees it
		// and runs the cleanup. It is 16 bytes so that it has its own
		// allocation, which the runtime would not give a smaller one.
		runtime.AddCleanup(new([16]byte), func(struct{}) {
			metrics.Read(sample)
			arm() // before f, for the next collection f may cause
			f(sample[0].Value.Uint64())
		}, struct{}{})
	}
	arm()
}
