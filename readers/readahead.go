package readers

import (
	"io"
	"sync"
)

// Sizes of the read-ahead of decompressed input.
const (
	readAheadChunk  = 256 << 10 // bytes a chunk
	readAheadChunks = 4         // chunks decompressed ahead at most
)

// readAhead reads src on a goroutine of its own, a few chunks ahead of its
// reader, so that decompressing a file and parsing its rows run at the
// same time. Its Read returns src's bytes and then src's error, in order.
// Close stops the goroutine and waits for it; src must not be used or
// closed before.
type readAhead struct {
	chunks chan readChunk // filled chunks, in order
	free   chan []byte    // buffers to fill
	done   chan struct{}  // closed by Close
	wg     sync.WaitGroup

	cur  []byte // what is left of the chunk being read
	buf  []byte // the buffer of that chunk, to hand back when it is read
	err  error  // src's error, once the chunks before it are read
	once sync.Once
}

type readChunk struct {
	b   []byte
	err error
}

func newReadAhead(src io.Reader) *readAhead {
	r := &readAhead{
		chunks: make(chan readChunk, readAheadChunks),
		free:   make(chan []byte, readAheadChunks),
		done:   make(chan struct{}),
	}
	for range readAheadChunks {
		r.free <- make([]byte, readAheadChunk)
	}
	r.wg.Add(1)
	go r.fill(src)
	return r
}

// fill reads src into free buffers until src fails or ends, or Close.
func (r *readAhead) fill(src io.Reader) {
	defer r.wg.Done()
	for {
		var buf []byte
		select {
		case buf = <-r.free:
		case <-r.done:
			return
		}
		n, err := 0, error(nil)
		for n < len(buf) && err == nil {
			var k int
			k, err = src.Read(buf[n:])
			n += k
		}
		select {
		case r.chunks <- readChunk{b: buf[:n], err: err}:
		case <-r.done:
			return
		}
		if err != nil {
			return
		}
	}
}

func (r *readAhead) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for len(r.cur) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.buf != nil {
			r.free <- r.buf[:cap(r.buf)]
			r.buf = nil
		}
		c := <-r.chunks
		r.cur, r.buf, r.err = c.b, c.b, c.err
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

// Close stops reading ahead and waits until src is no longer read.
func (r *readAhead) Close() {
	r.once.Do(func() {
		close(r.done)
		r.wg.Wait()
	})
}
