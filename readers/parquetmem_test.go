package readers

import (
	"sync"
	"testing"
	"unsafe"
)

func TestColumnMemoryReusesZeroedAlignedBuffers(t *testing.T) {
	var m columnMemory
	aligned := func(b []byte) bool {
		return uintptr(unsafe.Pointer(unsafe.SliceData(b)))%columnMemoryAlign == 0
	}
	b := m.Allocate(5000)
	if len(b) != 5000 || cap(b) != 8<<10 || !aligned(b) {
		t.Fatalf("Allocate(5000): len %d cap %d aligned %t, want 5000, 8192, true", len(b), cap(b), aligned(b))
	}
	for i := range b {
		b[i] = 0xff
	}
	m.Free(b)
	again := m.Allocate(6000)
	if unsafe.SliceData(again) != unsafe.SliceData(b) {
		t.Fatal("a freed buffer of the same size was not handed out again")
	}
	for i, c := range again {
		if c != 0 {
			t.Fatalf("reused buffer: byte %d is %#x, want 0", i, c)
		}
	}
	// Growing in place exposes bytes the last user wrote: zeroed too.
	for i := range again {
		again[i] = 0xff
	}
	grown := m.Reallocate(8<<10, again[:100])
	if unsafe.SliceData(grown) != unsafe.SliceData(again) {
		t.Fatal("Reallocate within the capacity moved the buffer")
	}
	for i, c := range grown[100:] {
		if c != 0 {
			t.Fatalf("grown in place: byte %d is %#x, want 0", 100+i, c)
		}
	}
	moved := m.Reallocate(20<<10, grown)
	if len(moved) != 20<<10 || cap(moved) != 32<<10 || !aligned(moved) {
		t.Fatalf("Reallocate(20 KiB): len %d cap %d aligned %t", len(moved), cap(moved), aligned(moved))
	}
	if moved[0] != 0xff || moved[99] != 0xff || moved[100] != 0 {
		t.Fatal("Reallocate did not keep the buffer's bytes")
	}
}

func TestColumnMemoryKeepsABoundedAmount(t *testing.T) {
	var m columnMemory
	var bufs [][]byte
	for range 2 * columnMemoryKeep / columnMemoryMax {
		bufs = append(bufs, m.Allocate(columnMemoryMax))
	}
	bufs = append(bufs, m.Allocate(2*columnMemoryMax), m.Allocate(10))
	for _, b := range bufs {
		m.Free(b)
	}
	if m.kept > columnMemoryKeep {
		t.Fatalf("kept %d bytes, over the bound of %d", m.kept, columnMemoryKeep)
	}
	if m.kept != columnMemoryKeep {
		t.Fatalf("kept %d bytes, want the %d the bound allows", m.kept, columnMemoryKeep)
	}
	if got := len(m.free[sizeClass(2*columnMemoryMax)]); got != 0 {
		t.Fatalf("%d buffers over columnMemoryMax kept", got)
	}
}

func TestColumnMemoryConcurrent(t *testing.T) {
	var m columnMemory
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				b := m.Allocate(1000 * (i%7 + 1))
				for k := range b {
					if b[k] != 0 {
						t.Errorf("goroutine %d: byte %d of a new buffer is not zero", g, k)
						return
					}
					b[k] = byte(g + 1)
				}
				m.Free(b)
			}
		}()
	}
	wg.Wait()
}
