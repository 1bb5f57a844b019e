package readers

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// prefixSamples are the samples of the prefix hash tests: the small ones
// and, to cross many refills of the stream's buffer, a large CSV file.
func prefixSamples(t *testing.T) map[string][]byte {
	t.Helper()
	samples := map[string][]byte{}
	for _, name := range []string{"quoted.csv", "mixed.ndjson", "array.json"} {
		data, err := os.ReadFile(filepath.Join("..", "testdata", "readers", name))
		if err != nil {
			t.Fatal(err)
		}
		samples[name] = data
	}
	var big bytes.Buffer
	big.WriteString("\xef\xbb\xbfid,text\n")
	for i := range 20000 {
		fmt.Fprintf(&big, "%d,\"line %d\n%s\"\r\n\n", i, i, strings.Repeat("x", i%300))
	}
	samples["big.csv"] = big.Bytes()
	return samples
}

// digestAt is the digest PrefixHasher must return for the first n bytes
// of data.
func digestAt(data []byte, n int64) PrefixDigest {
	return PrefixDigest{Offset: n, CRC32C: crc32.Checksum(data[:n], crc32.MakeTable(crc32.Castagnoli)), CRC32: crc32.ChecksumIEEE(data[:n])}
}

// TestPrefixDigestHex checks the digest of the standard check input of
// both CRCs, "123456789" (CRC-32C e3069283, CRC-32 cbf43926), its hex
// form and its parse, and that a parse refuses what is not 16 hex digits.
func TestPrefixDigestHex(t *testing.T) {
	d := digestAt([]byte("123456789"), 9)
	if d != (PrefixDigest{Offset: 9, CRC32C: 0xe3069283, CRC32: 0xcbf43926}) {
		t.Fatalf("digest of 123456789 = %+v", d)
	}
	if got := d.Hex(); got != "e3069283cbf43926" {
		t.Fatalf("Hex = %q, want e3069283cbf43926", got)
	}
	if got, ok := ParsePrefixDigest(9, "e3069283cbf43926"); !ok || got != d {
		t.Fatalf("ParsePrefixDigest = %+v, %v; want %+v", got, ok, d)
	}
	if got, ok := ParsePrefixDigest(9, "E3069283CBF43926"); !ok || got != d {
		t.Fatalf("ParsePrefixDigest of upper-case hex = %+v, %v; want %+v", got, ok, d)
	}
	for _, s := range []string{"", "e3069283", "e3069283cbf4392", "e3069283cbf439260", "e3069283cbf4392g", "15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225"} {
		if got, ok := ParsePrefixDigest(9, s); ok {
			t.Fatalf("ParsePrefixDigest(%q) = %+v, want none", s, got)
		}
	}
}

// TestPrefixDigestCatchesEveryShortChange flips bursts of 1 to 64 bits
// (the first and the last flipped, any between) at pseudo-random places
// of a sample and checks that every one changes the digest: the pair of
// CRCs is a remainder modulo a product of degree 64 with a constant term.
func TestPrefixDigestCatchesEveryShortChange(t *testing.T) {
	data := prefixSamples(t)["big.csv"][:8<<10]
	orig := digestAt(data, int64(len(data)))
	rng := rand.New(rand.NewPCG(1, 2))
	for range 5000 {
		n := 1 + rng.IntN(64)               // burst length in bits
		at := rng.IntN(len(data)*8 - n + 1) // first bit
		burst := uint64(1) | 1<<(n-1) | rng.Uint64()&(1<<n-1)
		changed := bytes.Clone(data)
		for k := range n {
			if burst>>k&1 != 0 {
				changed[(at+k)/8] ^= 1 << ((at + k) % 8)
			}
		}
		if d := digestAt(changed, int64(len(changed))); d == orig {
			t.Fatalf("a burst of %d bits (%x) at bit %d leaves the digest %s", n, burst, at, d.Hex())
		}
	}
}

// readDigests reads r to the end and returns, for each row or row error,
// the offset of the row, checking that the digest PrefixDigest gives
// after it lies between the row's offset and the next one's; last is the
// digest after io.EOF. r was opened at offset from.
func readDigests(t *testing.T, r Reader, data []byte, from int64) (offsets []int64, last PrefixDigest) {
	t.Helper()
	ph, ok := r.(PrefixHasher)
	if !ok {
		t.Fatalf("%T is not a PrefixHasher", r)
	}
	// want hashes data as far as the digests go, which only move on.
	castagnoli := crc32.MakeTable(crc32.Castagnoli)
	c, i, hashed := crc32.Checksum(data[:from], castagnoli), crc32.ChecksumIEEE(data[:from]), from
	want := func(n int64) PrefixDigest {
		if n < hashed {
			t.Fatalf("digest of %d bytes after one of %d", n, hashed)
		}
		c = crc32.Update(c, castagnoli, data[hashed:n])
		i = crc32.Update(i, crc32.IEEETable, data[hashed:n])
		hashed = n
		return PrefixDigest{Offset: n, CRC32C: c, CRC32: i}
	}
	var prev PrefixDigest
	for {
		row, err := r.Next(context.Background())
		var re *RowError
		switch {
		case err == io.EOF:
			d, ok := ph.PrefixDigest()
			if !ok {
				t.Fatal("no digest at the end")
			}
			if d != digestAt(data, int64(len(data))) {
				t.Fatalf("digest at the end covers %d bytes (%s), want the whole %d (%s)", d.Offset, d.Hex(), len(data), digestAt(data, int64(len(data))).Hex())
			}
			return offsets, d
		case errors.As(err, &re):
			row.Pos = re.Pos
		case err != nil:
			t.Fatal(err)
		}
		if row.Pos.Offset < prev.Offset {
			t.Fatalf("row at offset %d starts before the digest of the row before, at %d", row.Pos.Offset, prev.Offset)
		}
		d, ok := ph.PrefixDigest()
		if !ok {
			t.Fatalf("no digest after the row at %v", row.Pos)
		}
		if d.Offset <= row.Pos.Offset || d != want(d.Offset) {
			t.Fatalf("digest after the row at offset %d covers %d bytes and is %s, want a digest past the row of the bytes it covers", row.Pos.Offset, d.Offset, d.Hex())
		}
		offsets = append(offsets, row.Pos.Offset)
		prev = d
	}
}

// TestPrefixDigestWhileReading checks that the readers of CSV and NDJSON,
// plain and compressed, hash exactly the bytes before the end of each row
// they return, and the whole (decompressed) file at its end.
func TestPrefixDigestWhileReading(t *testing.T) {
	for name, data := range prefixSamples(t) {
		for _, c := range compressions {
			t.Run(name+"/"+c.name, func(t *testing.T) {
				path := writeFile(t, t.TempDir(), name+c.ext, c.pack(t, data))
				readDigests(t, openT(t, path, Options{MaxLineBytes: 400}, nil), data, 0)
			})
		}
	}
}

// TestPrefixDigestAfterResume opens each sample at a number of rows, hands
// the reader the hash of the bytes before, as a resume does, and checks
// the digests from there on and at the end.
func TestPrefixDigestAfterResume(t *testing.T) {
	ctx := context.Background()
	for name, data := range prefixSamples(t) {
		for _, c := range compressions {
			t.Run(name+"/"+c.name, func(t *testing.T) {
				path := writeFile(t, t.TempDir(), name+c.ext, c.pack(t, data))
				full := mustReadAll(t, path, Options{MaxLineBytes: 400}, nil)
				for i := 0; i < len(full); i += max(1, len(full)/7) {
					at := full[i].Pos
					r := openT(t, path, Options{MaxLineBytes: 400}, &at)
					p, err := OpenPrefix(Source{Path: path})
					if err != nil {
						t.Fatal(err)
					}
					if err := p.Advance(ctx, at.Offset); err != nil {
						t.Fatal(err)
					}
					p.Close()
					if d := p.Digest(); d != digestAt(data, at.Offset) {
						t.Fatalf("Prefix digest at %d is %s, want %s", at.Offset, d.Hex(), digestAt(data, at.Offset).Hex())
					}
					if err := r.(PrefixHasher).ContinuePrefix(p); err != nil {
						t.Fatal(err)
					}
					if d, ok := r.(PrefixHasher).PrefixDigest(); !ok || d != digestAt(data, at.Offset) {
						t.Fatalf("resumed at %d: digest %d bytes %s (ok %v), want %s", at.Offset, d.Offset, d.Hex(), ok, digestAt(data, at.Offset).Hex())
					}
					offsets, _ := readDigests(t, r, data, at.Offset)
					if len(offsets) != len(full)-i {
						t.Fatalf("resumed at %v: %d rows, want %d", at, len(offsets), len(full)-i)
					}
				}
			})
		}
	}
}

// TestPrefixDigestWithoutTheBytesBefore checks that a reader first asked
// for a digest after its buffer moved on has none, that a plain file
// opened at a position, which seeks past the bytes before it, has none
// until it is handed their hash, and that it refuses a hash that ends
// elsewhere.
func TestPrefixDigestWithoutTheBytesBefore(t *testing.T) {
	data := prefixSamples(t)["big.csv"]
	path := writeFile(t, t.TempDir(), "big.csv", data)
	full := mustReadAll(t, path, Options{}, nil)
	late := openT(t, path, Options{}, nil)
	for range len(full) / 2 {
		if _, err := late.Next(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if d, ok := late.(PrefixHasher).PrefixDigest(); ok {
		t.Fatalf("a reader first asked half way through has a digest of %d bytes", d.Offset)
	}
	at := full[len(full)/2].Pos
	r := openT(t, path, Options{}, &at)
	ph := r.(PrefixHasher)
	if d, ok := ph.PrefixDigest(); ok {
		t.Fatalf("a reader that seeked to %d has a digest of %d bytes", at.Offset, d.Offset)
	}
	p, err := OpenPrefix(Source{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Advance(context.Background(), at.Offset-1); err != nil {
		t.Fatal(err)
	}
	err = ph.ContinuePrefix(p)
	want := fmt.Sprintf("%s: resume: the prefix hash covers %d bytes, the reader is at offset %d", path, at.Offset-1, at.Offset)
	if err == nil || err.Error() != want {
		t.Fatalf("ContinuePrefix with a hash that ends early: %v, want %s", err, want)
	}
}

// TestPrefixAdvance checks Prefix on a gzip file: digests of the
// decompressed bytes, the end, and a source shorter than asked.
func TestPrefixAdvance(t *testing.T) {
	data := []byte("id,name\n1,a\n2,b\n")
	path := writeFile(t, t.TempDir(), "a.csv.gz", gzipped(t, data[:5], data[5:]))
	ctx := context.Background()
	p, err := OpenPrefix(Source{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, n := range []int64{0, 8, 12, int64(len(data))} {
		if err := p.Advance(ctx, n); err != nil {
			t.Fatal(err)
		}
		if d := p.Digest(); d != digestAt(data, n) {
			t.Fatalf("digest at %d: %d bytes %s, want %s", n, d.Offset, d.Hex(), digestAt(data, n).Hex())
		}
	}
	if end, err := p.AtEnd(); err != nil || !end {
		t.Fatalf("AtEnd after the whole file: %v, %v; want true", end, err)
	}
	q, err := OpenPrefix(Source{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if err := q.Advance(ctx, 5); err != nil {
		t.Fatal(err)
	}
	if end, err := q.AtEnd(); err != nil || end {
		t.Fatalf("AtEnd after 5 bytes: %v, %v; want false", end, err)
	}
	r, _ := OpenPrefix(Source{Path: path})
	defer r.Close()
	if err := r.Advance(ctx, int64(len(data))+1); err != io.ErrUnexpectedEOF {
		t.Fatalf("Advance past the end: %v, want io.ErrUnexpectedEOF", err)
	}
	if _, err := OpenPrefix(Source{Path: "-"}); err == nil || err.Error() != "standard input cannot be read again" {
		t.Fatalf("OpenPrefix(-): %v", err)
	}
}

// TestFooterDigest checks that the digest of a Parquet file's footer is
// that of its metadata and length, changes with the metadata, and is
// empty for a file that does not end like Parquet.
func TestFooterDigest(t *testing.T) {
	path := eventsFile(t, 50, 20)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := int(uint32(data[len(data)-8]) | uint32(data[len(data)-7])<<8 | uint32(data[len(data)-6])<<16 | uint32(data[len(data)-5])<<24)
	footer := data[len(data)-8-n : len(data)-4]
	sum := sha256.Sum256(footer)
	got, err := FooterDigest(path)
	if err != nil || got != hex.EncodeToString(sum[:]) {
		t.Fatalf("FooterDigest = %q, %v; want %x", got, err, sum)
	}
	changed := bytes.Clone(data)
	changed[len(data)-8-n+n/2] ^= 1
	other := writeFile(t, t.TempDir(), "changed.parquet", changed)
	if got2, err := FooterDigest(other); err != nil || got2 == got || got2 == "" {
		t.Fatalf("FooterDigest of a changed footer = %q, %v; want another digest than %s", got2, err, got)
	}
	csv := writeFile(t, t.TempDir(), "a.csv", []byte("id\n1\n2\n3\n4\n5\n6\n"))
	if got, err := FooterDigest(csv); err != nil || got != "" {
		t.Fatalf("FooterDigest of a CSV file = %q, %v; want none", got, err)
	}
}
