package readers

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
)

// A source's content is recognised by two CRCs of its first bytes, in the
// bytes that Position.Offset counts: those of the file, decompressed for
// gzip and zstd. The readers of CSV and NDJSON keep them running as they
// consume their stream, in the large chunks the stream buffers, so that a
// checkpoint can say what the rows before its resume position were read
// from without a second pass; Prefix reads them again on resume.
//
// The pair is CRC-32C (Castagnoli) and CRC-32 (IEEE) of the same bytes:
// 64 bits, in effect the remainder modulo the product of their two
// polynomials, which are coprime. So every change confined to 64
// consecutive bits is caught (by each CRC alone, every change within 32),
// and any other change goes unnoticed with a probability of about 2^-64.
// That is enough to tell whether the user's file changed since the
// checkpoint: one comparison against the one value it holds. It is no
// guard against a change crafted to keep the CRCs; a cryptographic hash
// would be, at a tenth of the speed or less: both CRCs run on the CPU's
// own instructions (SSE4.2 and PCLMULQDQ on amd64, the CRC32 instructions
// on arm64) at tens of GB/s, SHA-256 at one or two.

// castagnoli is the table of CRC-32C, computed with SSE4.2 (or its kin)
// where the CPU has it.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// PrefixDigest is the CRC-32C and the CRC-32 (IEEE) of the first Offset
// bytes of a source, as Position.Offset counts them.
type PrefixDigest struct {
	Offset int64
	CRC32C uint32
	CRC32  uint32
}

// Hex returns CRC32C and then CRC32, each as 8 lower-case hex digits
// (big-endian): 16 digits in all.
func (d PrefixDigest) Hex() string {
	var b [8]byte
	binary.BigEndian.PutUint32(b[:4], d.CRC32C)
	binary.BigEndian.PutUint32(b[4:], d.CRC32)
	return hex.EncodeToString(b[:])
}

// ParsePrefixDigest returns the digest of the first offset bytes whose Hex
// is s, or false if s is not 16 hex digits.
func ParsePrefixDigest(offset int64, s string) (PrefixDigest, bool) {
	var b [8]byte
	if len(s) != 2*len(b) {
		return PrefixDigest{}, false
	}
	if _, err := hex.Decode(b[:], []byte(s)); err != nil {
		return PrefixDigest{}, false
	}
	return PrefixDigest{Offset: offset, CRC32C: binary.BigEndian.Uint32(b[:4]), CRC32: binary.BigEndian.Uint32(b[4:])}, true
}

// prefixCRC is the running pair of CRCs of a prefix.
type prefixCRC struct {
	c, i uint32 // CRC-32C, CRC-32 (IEEE)
}

// Write adds b to both CRCs.
func (h *prefixCRC) Write(b []byte) {
	h.c = crc32.Update(h.c, castagnoli, b)
	h.i = crc32.Update(h.i, crc32.IEEETable, b)
}

// PrefixHasher is implemented by the readers of CSV and NDJSON, which keep
// a running digest of the bytes they consume once asked for a digest:
// call PrefixDigest right after Open (a reader whose digests nobody asks
// for hashes nothing).
type PrefixHasher interface {
	// PrefixDigest returns the digest of the bytes consumed so far: up to
	// the end of the last row Next returned (or of the header before the
	// first), which is at or before the offset of the next row. ok is
	// false when the reader no longer holds every byte before, because
	// the first call came late (after the reader's buffer moved on), or
	// because it was opened at a position in a file it did not read from
	// the start, until ContinuePrefix hands it the bytes before.
	PrefixDigest() (d PrefixDigest, ok bool)
	// ContinuePrefix makes the running hash that of p, which must have
	// read the source up to the position the reader was opened at and
	// nothing since. p's hash is the reader's afterwards: use p no more.
	ContinuePrefix(p *Prefix) error
}

// prefixHash is the running hash of the bytes a stream consumed.
type prefixHash struct {
	h      *prefixCRC // nil until the first digest is asked for
	hashed int        // buf[:hashed] is in h (never past the stream's r)
	ok     bool       // h holds every byte before the stream's buf[hashed]
}

// hashConsumed adds the consumed bytes not yet hashed to the running hash.
func (s *stream) hashConsumed() {
	if s.hash.ok && s.hash.hashed < s.r {
		s.hash.h.Write(s.buf[s.hash.hashed:s.r])
	}
	s.hash.hashed = s.r
}

// prefixDigest implements PrefixHasher.PrefixDigest for a stream. The
// first call starts the running hash, if the buffer still holds every
// byte consumed (its first byte is the source's first): a reader whose
// digests nobody asks for hashes nothing.
func (s *stream) prefixDigest() (PrefixDigest, bool) {
	if s.m != nil {
		// The stream holds UTF-16 decoded to UTF-8, not the source's
		// bytes, which a digest is of.
		return PrefixDigest{}, false
	}
	if s.hash.h == nil && s.off == int64(s.r) {
		s.hash = prefixHash{h: &prefixCRC{}, ok: true}
	}
	if s.hash.h == nil || !s.hash.ok {
		return PrefixDigest{}, false
	}
	s.hashConsumed()
	return PrefixDigest{Offset: s.off, CRC32C: s.hash.h.c, CRC32: s.hash.h.i}, true
}

// continuePrefix implements PrefixHasher.ContinuePrefix for a stream.
func (s *stream) continuePrefix(path string, p *Prefix) error {
	if p.h == nil {
		return fmt.Errorf("%s: resume: the prefix hash was handed on already", path)
	}
	if s.m != nil {
		p.h = nil // a decoded UTF-16 stream has no digest to continue
		return nil
	}
	if p.n != s.off {
		return fmt.Errorf("%s: resume: the prefix hash covers %d bytes, the reader is at offset %d", path, p.n, s.off)
	}
	s.hash = prefixHash{h: p.h, hashed: s.r, ok: true}
	p.h = nil
	return nil
}

// Prefix reads the first bytes of a source (decompressed, as
// Position.Offset counts them) and keeps their running digest: a resume
// reads again what the checkpoint recorded a digest of. Not safe for
// concurrent use.
type Prefix struct {
	path string
	in   *input
	h    *prefixCRC // nil once handed on
	n    int64      // bytes hashed
	buf  []byte
}

// OpenPrefix opens the file src for Prefix.Advance, at its first byte,
// or, for a byte range that starts mid-file (Source.Range), at the byte
// before the range's start, where the range's reader starts its hash:
// the digest of such a range covers the bytes from there. Standard input
// cannot be read again: it is an error.
func OpenPrefix(src Source) (*Prefix, error) {
	if src.Path == "-" {
		return nil, errors.New("standard input cannot be read again")
	}
	in, err := openSourceInput(context.Background(), src, Options{}, nil)
	if err != nil {
		return nil, err
	}
	p := &Prefix{path: src.Path, in: in, h: &prefixCRC{}}
	if rg := src.Range; rg != nil && rg.Start > 0 && src.Format != FormatParquet {
		if in.codec != "" || !in.seekable {
			in.Close()
			return nil, fmt.Errorf("%s: %s: a compressed file or a pipe cannot be read from the middle", src.Path, rg.String(src.Format))
		}
		if err := in.seek(rg.Start - 1); err != nil {
			in.Close()
			return nil, fileError(src.Path, err)
		}
		p.n = rg.Start - 1
	}
	return p, nil
}

// Advance reads and hashes the source up to offset to (not before the
// offset already reached). It returns io.ErrUnexpectedEOF if the source
// ends first, and blocks while it reads.
func (p *Prefix) Advance(ctx context.Context, to int64) error {
	if p.in == nil || p.h == nil {
		return fmt.Errorf("%s: %w", p.path, errClosed)
	}
	if to < p.n {
		return fmt.Errorf("%s: offset %d is behind the %d bytes read", p.path, to, p.n)
	}
	if p.buf == nil && to > p.n {
		p.buf = make([]byte, bufferSize)
	}
	for p.n < to {
		if err := ctx.Err(); err != nil {
			return err
		}
		k, err := p.in.r.Read(p.buf[:min(int64(len(p.buf)), to-p.n)])
		p.h.Write(p.buf[:k])
		p.n += int64(k)
		if err == io.EOF && p.n < to {
			return io.ErrUnexpectedEOF
		}
		if err != nil && err != io.EOF {
			return fileError(p.path, err)
		}
	}
	return nil
}

// AtEnd reports whether the source ends at the offset reached: no byte
// follows. It reads one byte, if there is one, and keeps it out of the
// hash: call it last.
func (p *Prefix) AtEnd() (bool, error) {
	if p.in == nil {
		return false, fmt.Errorf("%s: %w", p.path, errClosed)
	}
	var b [1]byte
	for range 100 {
		k, err := p.in.r.Read(b[:])
		if k > 0 {
			return false, nil
		}
		if err == io.EOF {
			return true, nil
		}
		if err != nil {
			return false, fileError(p.path, err)
		}
	}
	return false, fileError(p.path, io.ErrNoProgress)
}

// Digest returns the digest of the bytes read so far.
func (p *Prefix) Digest() PrefixDigest {
	d := PrefixDigest{Offset: p.n}
	if p.h != nil {
		d.CRC32C, d.CRC32 = p.h.c, p.h.i
	}
	return d
}

// Close closes the source. The hash stays, for Digest and
// PrefixHasher.ContinuePrefix. It is safe to call more than once.
func (p *Prefix) Close() error {
	if p.in == nil {
		return nil
	}
	err := p.in.Close()
	p.in = nil
	return err
}

// FooterDigest returns the SHA-256, in hex, of the footer of the Parquet
// file at path (its metadata, with the length that precedes the closing
// magic): what recognises a Parquet file's content, whose rows a resume
// finds by row group and row rather than by byte offset. It returns "" for
// a file that is not a regular file or does not end like Parquet: opening
// it as Parquet says why.
func FooterDigest(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	size := fi.Size()
	if !fi.Mode().IsRegular() || size < 12 {
		return "", nil
	}
	var tail [8]byte
	if _, err := f.ReadAt(tail[:], size-8); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	n := int64(binary.LittleEndian.Uint32(tail[:4]))
	if string(tail[4:]) != string(parquetMagic) || n > size-12 {
		return "", nil
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, size-8-n, n+4)); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

var (
	_ PrefixHasher = (*csvReader)(nil)
	_ PrefixHasher = (*ndjsonReader)(nil)
)

// PrefixDigest implements PrefixHasher.
func (c *csvReader) PrefixDigest() (PrefixDigest, bool) { return c.s.prefixDigest() }

// ContinuePrefix implements PrefixHasher.
func (c *csvReader) ContinuePrefix(p *Prefix) error { return c.s.continuePrefix(c.src.Path, p) }

// PrefixDigest implements PrefixHasher.
func (r *ndjsonReader) PrefixDigest() (PrefixDigest, bool) { return r.s.prefixDigest() }

// ContinuePrefix implements PrefixHasher.
func (r *ndjsonReader) ContinuePrefix(p *Prefix) error { return r.s.continuePrefix(r.src.Path, p) }
