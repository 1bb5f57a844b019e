package readers

import (
	"math/bits"
	"sync"
	"unsafe"

	"github.com/apache/arrow/go/v15/arrow/memory"
)

// Sizes of the buffers a columnMemory keeps.
const (
	// columnMemoryMin is the smallest buffer handed out: a builder that
	// grows by doubling starts here rather than at a few bytes.
	columnMemoryMin = 4 << 10
	// columnMemoryMax is the largest buffer kept for reuse; larger ones
	// are left to the garbage collector.
	columnMemoryMax = 4 << 20
	// columnMemoryKeep is how many bytes of free buffers are kept.
	columnMemoryKeep = 16 << 20
	// columnMemoryAlign is the alignment Arrow expects of its buffers.
	columnMemoryAlign = 64
)

// columnMemory is the memory.Allocator of the Arrow arrays of one Parquet
// reader. Each batch builds its columns' arrays from empty buffers that
// grow by doubling, and releases them when the next batch is read: the
// buffers released are kept, by power-of-two size, and handed out again,
// so that a batch costs neither fresh memory for the garbage collector
// nor the copies of growing from a few bytes. Buffers up to
// columnMemoryMax are kept, columnMemoryKeep bytes of them at most: the
// memory a reader holds stays bounded by its batches, not by the file.
//
// Every buffer handed out reads as zeros, as Go's allocator's do. It is
// safe for concurrent use: Arrow decodes the children of a struct on
// goroutines of their own.
type columnMemory struct {
	mu   sync.Mutex
	free [bits.UintSize][][]byte // by log2 of capacity
	kept int                     // bytes in free
}

var _ memory.Allocator = (*columnMemory)(nil)

// sizeClass returns the log2 of the capacity of the buffer for size
// bytes.
func sizeClass(size int) int {
	if size <= columnMemoryMin {
		return bits.Len(columnMemoryMin - 1)
	}
	return bits.Len(uint(size - 1))
}

// Allocate returns size zeroed bytes, aligned to 64 bytes, whose capacity
// is the next power of two.
func (m *columnMemory) Allocate(size int) []byte {
	c := sizeClass(size)
	if b := m.take(c); b != nil {
		clear(b[:size])
		return b[:size]
	}
	n := 1 << c
	buf := make([]byte, n+columnMemoryAlign)
	shift := 0
	if r := int(uintptr(unsafe.Pointer(unsafe.SliceData(buf))) % columnMemoryAlign); r != 0 {
		shift = columnMemoryAlign - r
	}
	return buf[shift : shift+size : shift+n]
}

// Reallocate grows or shrinks b to size bytes, in place where its
// capacity allows; bytes past b's length read as zeros.
func (m *columnMemory) Reallocate(size int, b []byte) []byte {
	if size <= cap(b) {
		if size > len(b) {
			clear(b[len(b):size])
		}
		return b[:size]
	}
	nb := m.Allocate(size)
	copy(nb, b)
	m.Free(b)
	return nb
}

// Free keeps b for reuse if it is one of the sizes kept.
func (m *columnMemory) Free(b []byte) {
	n := cap(b)
	if n < columnMemoryMin || n > columnMemoryMax || n&(n-1) != 0 {
		return
	}
	c := bits.Len(uint(n - 1))
	m.mu.Lock()
	if m.kept+n <= columnMemoryKeep {
		m.free[c] = append(m.free[c], b[:0])
		m.kept += n
	}
	m.mu.Unlock()
}

// take returns a kept buffer of class c at its full capacity, or nil.
func (m *columnMemory) take(c int) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	free := m.free[c]
	if len(free) == 0 {
		return nil
	}
	b := free[len(free)-1]
	free[len(free)-1] = nil
	m.free[c] = free[:len(free)-1]
	m.kept -= cap(b)
	return b[:cap(b)]
}
