package readers

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/klauspost/compress/gzip"
)

// pieces returns data in pieces of random sizes, then err.
type pieces struct {
	data []byte
	rng  *rand.Rand
	err  error
}

func (p *pieces) Read(b []byte) (int, error) {
	if len(p.data) == 0 {
		return 0, p.err
	}
	n := min(len(b), len(p.data), 1+p.rng.IntN(70_000))
	copy(b, p.data[:n])
	p.data = p.data[n:]
	return n, nil
}

// TestReadAhead checks that a read-ahead reader returns its source's bytes
// in order and then its error, whatever the sizes of the reads on both
// sides, and that Close stops it with the source not read to the end.
func TestReadAhead(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 3*readAheadChunk+12345)
	for i := range data {
		data[i] = byte(rng.IntN(256))
	}
	broken := errors.New("broken")
	for _, srcErr := range []error{io.EOF, broken} {
		for _, readSize := range []int{1, 1000, readAheadChunk, 5 * readAheadChunk} {
			r := newReadAhead(&pieces{data: bytes.Clone(data), rng: rand.New(rand.NewPCG(3, uint64(readSize))), err: srcErr})
			var got []byte
			buf := make([]byte, readSize)
			var err error
			for {
				var n int
				n, err = r.Read(buf[:1+rng.IntN(readSize)])
				got = append(got, buf[:n]...)
				if err != nil {
					break
				}
			}
			r.Close()
			if err != srcErr || !bytes.Equal(got, data) {
				t.Fatalf("reads of up to %d bytes: %d bytes (equal %v), error %v; want %d bytes and %v",
					readSize, len(got), bytes.Equal(got, data), err, len(data), srcErr)
			}
		}
	}
	// Closed after one read, with the goroutine blocked on full chunks.
	r := newReadAhead(&pieces{data: bytes.Clone(data), rng: rand.New(rand.NewPCG(5, 6)), err: io.EOF})
	if _, err := r.Read(make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	r.Close()
	r.Close()
}

// TestGzipFileReadsAhead checks that a gzip file is decompressed ahead of
// its reader, and that Close stops the read-ahead.
func TestGzipFileReadsAhead(t *testing.T) {
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	zw.Write(bytes.Repeat([]byte("{\"a\":1}\n"), 100_000))
	zw.Close()
	path := writeFile(t, t.TempDir(), "a.ndjson.gz", zb.Bytes())
	in, err := openInput(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if in.ra == nil {
		t.Fatal("a gzip file is read without read-ahead")
	}
	if _, err := io.ReadFull(in.r, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	if err := in.Close(); err != nil || in.ra != nil {
		t.Fatalf("Close: %v; read-ahead %v", err, in.ra)
	}
}
