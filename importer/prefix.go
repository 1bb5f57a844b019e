package importer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/backfillhq/backfill/readers"
)

// A checkpoint recognises a source by its content: for a file of CSV or
// NDJSON, the CRC-32C and the CRC-32 of its first bytes
// (readers.PrefixDigest), as readers.Position.Offset counts them, up to at
// most prefixStep bytes before the resume position while the file is
// partial, and of the whole file once it is done; for Parquet, the SHA-256
// of its footer. The read stage records digests of the prefix
// read so far as it reads (the readers hash the bytes they consume), the
// tracker moves each source's digest along with the watermark, and a
// resume reads the prefix again and compares before anything is read or
// sent.

// prefixStep is how many bytes of a source the read stage reads between
// two digests of its prefix: the most a partial file's digest stops short
// of its resume position.
const prefixStep = 16 << 10

// prefixAt is the digest of a source's prefix that a checkpoint records,
// if ok.
type prefixAt struct {
	d  readers.PrefixDigest
	ok bool
}

// prefixTrack is what the tracker knows of one source's prefix: the
// digests the read stage recorded past the watermark, in order, and the
// latest one the watermark passed. lost marks a source whose reader could
// not hash its prefix: its checkpoint entries hold no digest.
type prefixTrack struct {
	recs []readers.PrefixDigest
	prefixAt
	lost bool
}

// recordPrefix keeps d, the digest of the first d.Offset bytes of source
// file, until the watermark passes it. The read stage records each digest
// before it hands on the rows that follow it.
func (t *tracker) recordPrefix(file int, d readers.PrefixDigest) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := &t.prefixes[file]
	if !p.lost {
		p.recs = append(p.recs, d)
	}
}

// losePrefix records that the reader of source file cannot hash its
// prefix, so that no digest of it, earlier or partial, is recorded as its
// content's.
func (t *tracker) losePrefix(file int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.prefixes[file] = prefixTrack{lost: true}
}

// passPrefixes moves the digest of each source from file on to the latest
// one at or below the watermark m: the last recorded of a source m is past
// (the whole source), and of the source m is in, the latest at or below
// its offset. Called with t.mu held.
func (t *tracker) passPrefixes(file int, m mark) {
	for f := file; f <= m.File && f < len(t.prefixes); f++ {
		p := &t.prefixes[f]
		if p.lost {
			continue
		}
		n := len(p.recs)
		if f == m.File {
			if m.Pos.Row == 0 {
				break // none of its rows is settled
			}
			n = 0
			for n < len(p.recs) && p.recs[n].Offset <= m.Pos.Offset {
				n++
			}
		}
		if n > 0 {
			p.prefixAt = prefixAt{d: p.recs[n-1], ok: true}
			p.recs = p.recs[n:]
		}
	}
}

// prefixSnapshot returns the digest of each source a checkpoint records.
// Called with t.mu held.
func (t *tracker) prefixSnapshot() []prefixAt {
	if len(t.prefixes) == 0 {
		return nil
	}
	s := make([]prefixAt, len(t.prefixes))
	for i := range t.prefixes {
		s[i] = t.prefixes[i].prefixAt
	}
	return s
}

// prefixRecorder records digests of one source's prefix with the tracker
// while the read stage reads it: after the header, every prefixStep bytes
// and at the end.
type prefixRecorder struct {
	ph   readers.PrefixHasher // nil: nothing to record
	t    *tracker
	file int
	next int64 // record after the first row at or past this offset
}

// prefixRecorder returns the recorder of the source file that rd reads,
// opened at at (nil: its start). A reader resumed in the source the
// checkpoint's resume position is in continues from the hash of the bytes
// before, which the resume read again. Without a checkpoint, or for a
// format without a prefix (Parquet), it records nothing.
func (r *run) prefixRecorder(rd readers.Reader, file int, at *readers.Position) (prefixRecorder, error) {
	ph, ok := rd.(readers.PrefixHasher)
	if !ok || r.files == nil {
		return prefixRecorder{}, nil
	}
	if at != nil && r.resumePrefix != nil {
		p := r.resumePrefix
		r.resumePrefix = nil
		if err := ph.ContinuePrefix(p); err != nil {
			return prefixRecorder{}, err
		}
	}
	rec := prefixRecorder{ph: ph, t: r.tracker, file: file}
	rec.record()
	return rec, nil
}

// record records the digest of the bytes read so far.
func (p *prefixRecorder) record() {
	if p.ph == nil {
		return
	}
	d, ok := p.ph.PrefixDigest()
	if !ok {
		p.ph = nil // it did not read the bytes before its position
		p.t.losePrefix(p.file)
		return
	}
	p.t.recordPrefix(p.file, d)
	p.next = d.Offset + prefixStep
}

// after is called after each row or row error read, it at the end of the
// block.
func (p *prefixRecorder) after(it *item) {
	if p.ph != nil && it.pos().Offset >= p.next {
		p.record()
	}
}

// verifyContent reads again the prefix of each source that the checkpoint
// at path recorded a digest of, and compares. A difference is a
// *CheckpointMismatchError that names every changed source. It keeps the
// digests for the tracker and, for the source a partial file resumes in,
// the running hash up to its resume position, so that the checkpoints
// this run writes still cover its prefix. A file the checkpoint holds no
// digest of (a checkpoint of an older version, or Parquet, whose footer
// match compares) is recognised by what the checkpoint holds.
func (r *run) verifyContent(ctx context.Context, path string, cp *Checkpoint) error {
	e := &CheckpointMismatchError{Path: path}
	r.prefixes = make([]prefixTrack, len(r.sources))
	for i, was := range cp.Files {
		var resume int64 // a partial file's resume offset, for the running hash
		if was.Status == StatusPartial {
			resume = was.Resume.Offset
		}
		if was.Status == StatusPending || (was.ContentCRC == "" && resume == 0) {
			continue
		}
		var want readers.PrefixDigest
		if was.ContentCRC != "" {
			var ok bool
			want, ok = readers.ParsePrefixDigest(was.Hashed, was.ContentCRC)
			if !ok || was.Hashed < 0 || (resume > 0 && was.Hashed > resume) {
				return fmt.Errorf("checkpoint %s is corrupt (the entry of %s has an invalid content_crc or hashed); run with --restart to discard it", path, was.Path)
			}
		}
		if readers.IsObjectFingerprint(was.Fingerprint) {
			// An object in a bucket: match found its size and ETag or
			// generation unchanged, and every read asks the store for
			// that version; its content is not read again.
			if was.ContentCRC != "" {
				r.prefixes[i].prefixAt = prefixAt{d: want, ok: true}
			}
			continue
		}
		if was.Status == StatusDone && was.ContentCRC != "" && isMemberFingerprint(was.Fingerprint) {
			// A member of a zip archive read to its end: match found its
			// CRC-32 and sizes unchanged, which the archive checks as
			// it is read; its content is not read again.
			r.prefixes[i].prefixAt = prefixAt{d: want, ok: true}
			continue
		}
		p, err := readers.OpenPrefix(r.sources[i])
		if err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
		detail, err := verifyPrefix(ctx, p, was, want, resume)
		p.Close()
		if err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
		if detail != "" {
			if !slices.Contains(e.Changed, "sources") {
				e.Changed = append(e.Changed, "sources")
			}
			e.Details = append(e.Details, detail)
			continue
		}
		if was.ContentCRC != "" {
			r.prefixes[i].prefixAt = prefixAt{d: want, ok: true}
		}
		if resume > 0 {
			r.prefixes[i].prefixAt = prefixAt{d: p.Digest(), ok: true}
			r.resumePrefix = p
		}
	}
	if len(e.Details) > 0 {
		return e
	}
	return nil
}

// verifyPrefix reads the source of p up to the checkpoint's digest want,
// if it has one, and compares; then, for a partial file, on to its resume
// offset. It returns what differs, or "".
func verifyPrefix(ctx context.Context, p *readers.Prefix, was CheckpointFile, want readers.PrefixDigest, resume int64) (string, error) {
	changed := fmt.Sprintf("%s changed: its first %d bytes differ from what the checkpoint saw", was.Path, want.Offset)
	if was.ContentCRC != "" {
		err := p.Advance(ctx, want.Offset)
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return changed, nil
		}
		if err != nil {
			return "", err
		}
		if p.Digest() != want {
			return changed, nil
		}
		if was.Status == StatusDone && was.Range == nil {
			end, err := p.AtEnd()
			if err != nil {
				return "", err
			}
			if !end {
				return fmt.Sprintf("%s grew since the checkpoint: it holds more than the %d bytes the checkpoint saw", was.Path, want.Offset), nil
			}
		}
	}
	if resume > 0 {
		err := p.Advance(ctx, resume)
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Sprintf("%s changed: it ends before the resume position, offset %d", was.Path, resume), nil
		}
		if err != nil {
			return "", err
		}
	}
	return "", nil
}
