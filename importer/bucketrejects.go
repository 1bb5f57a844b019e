package importer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
	"golang.org/x/sync/errgroup"
)

// The rejects file of an import whose checkpoint is in a bucket is a local
// file, appended to as rows are rejected, and copied into the bucket as
// the checkpoint advances: before each checkpoint write, the bytes of the
// rejects file that it covers and the bucket does not hold yet become one
// object, named by the offset it starts at, under a hidden prefix beside
// the checkpoint (".NAME.rejects/"). The objects thus always hold at least
// what the checkpoint covers, so a run resumed on a machine without the
// local file (another machine, a new container) restores it from them.
//
// The copy is kept to a few objects: a copy that would make more than
// maxRejectsParts of them is instead written as one object that also holds
// the bytes of the last parts, from the start of the first of them, and
// those parts are then deleted. The new object is written over the first
// part it replaces (same start, same key), whole or not at all, and the
// others are deleted only once it is written, so a run killed at any step
// leaves objects that hold every byte the checkpoint covers: some may
// overlap, a part that starts inside an earlier, longer one holding the
// same bytes. A restore reads the parts in the order of their offsets and
// skips what the earlier ones hold, and the next run deletes such parts.
//
// Every part holds the bytes of the run that wrote it, which past what the
// checkpoint covers may differ from those of a run resumed from it (a run
// cuts the rejects file back to the checkpoint's offset and appends its
// own). A resumed run therefore deletes the parts that start past the
// checkpoint's offset, and the first copy it makes rewrites any part that
// reaches past that offset (written by a run killed before the checkpoint
// that would cover it), from its own file, so no part ever holds bytes of
// a run that the checkpoint does not lead back to.

// maxRejectsParts bounds the number of objects of the rejects file's copy:
// a restore reads at most 16, in two rounds of rejectsReads at once. A
// merge replaces the last parts from the first one that is no larger than
// the bytes after it, so each part it leaves holds more than all those
// after it, and the bytes of the first part it replaces land in a part at
// least twice as large: a byte is rewritten a few times over an import
// (log2 of the copy's size over its first part's), not once per merge,
// and a short import (16 checkpoint writes with rejects, or fewer) merges
// nothing.
const maxRejectsParts = 16

// rejectsReads bounds the parts of the rejects file's copy that a restore
// reads at once.
const rejectsReads = 8

// rejectsPrefix is the prefix of the objects that hold the copy of the
// rejects file: ".NAME.rejects/" beside the checkpoint.
func (o objectURL) rejectsPrefix() string {
	dir, base := path.Split(o.key)
	return dir + "." + base + ".rejects/"
}

// rejectsPartKey is the key of the part of the rejects file's copy that
// starts at offset start.
func (o objectURL) rejectsPartKey(start int64) string {
	return fmt.Sprintf("%s%020d.ndjson", o.rejectsPrefix(), start)
}

// rejectsPart is one object of the rejects file's copy: bytes start to
// start+size of the rejects file.
type rejectsPart struct {
	key   string
	start int64
	size  int64
}

// end is the offset of the rejects file just past the part's bytes.
func (p rejectsPart) end() int64 { return p.start + p.size }

// rejectsParts lists the objects of the rejects file's copy, by offset.
func (c *bucketCheckpoint) rejectsParts(ctx context.Context) ([]rejectsPart, error) {
	var parts []rejectsPart
	it := c.bucket.List(&blob.ListOptions{Prefix: c.url.rejectsPrefix()})
	for {
		o, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("rejects: list %s: %w", c.url.rejectsPrefix(), err)
		}
		name := strings.TrimSuffix(strings.TrimPrefix(o.Key, c.url.rejectsPrefix()), ".ndjson")
		start, err := strconv.ParseInt(name, 10, 64)
		if err != nil || start < 0 {
			continue // not one of the copy's
		}
		parts = append(parts, rejectsPart{key: o.Key, start: start, size: o.Size})
	}
	slices.SortFunc(parts, func(a, b rejectsPart) int { return cmp.Compare(a.start, b.start) })
	return parts, nil
}

// settleParts splits parts, the copy's objects by offset, into those a run
// that resumes at offset keeps and those it deletes: the parts that start
// at or past offset (copied by a run killed before the checkpoint that
// would have covered them), and those whose bytes the earlier parts hold
// (left by a run killed between writing a merged part and deleting the
// parts it replaced).
func settleParts(parts []rejectsPart, offset int64) (kept, stale []rejectsPart) {
	var reach int64
	for _, p := range parts {
		if p.start >= offset || (len(kept) > 0 && p.end() <= reach) {
			stale = append(stale, p)
			continue
		}
		kept = append(kept, p)
		reach = max(reach, p.end())
	}
	return kept, stale
}

// prepareRejectsCopy readies the copy of the rejects file in the bucket
// for a run that resumes cp (nil for a fresh run), whose rejects file is
// local: the parts past what cp covers (copied by a run that stopped
// before its next checkpoint write) are deleted, all of them for a fresh
// run, and so are those that the parts before them cover. When cp covers
// rejects that the file it records does not hold on this machine
// (missing, or shorter), they are restored from the copy into local,
// which cp is then made to record, and the copy's name is returned.
func (c *bucketCheckpoint) prepareRejectsCopy(ctx context.Context, cp *Checkpoint, local string) (restoredFrom string, err error) {
	if local == "" || IsDevice(local) {
		return "", nil
	}
	var offset int64
	if cp != nil {
		offset = cp.RejectsOffset
	}
	parts, err := c.rejectsParts(ctx)
	if err != nil {
		return "", err
	}
	kept, stale := settleParts(parts, offset)
	for _, p := range stale {
		if err := c.deletePart(ctx, p); err != nil {
			return "", err
		}
	}
	c.copied, c.parts = offset, kept
	if offset == 0 || cp.RejectsFile == "" || IsDevice(cp.RejectsFile) {
		return "", nil
	}
	if st, err := os.Stat(cp.RejectsFile); err == nil && st.Size() >= offset {
		return "", nil // the earlier runs' rejects are here
	}
	if st, err := os.Stat(local); err == nil && st.Size() > 0 {
		aside, err := asidePath(local)
		if err != nil {
			return "", fmt.Errorf("rejects: %w", err)
		}
		if err := os.Rename(local, aside); err != nil {
			return "", fmt.Errorf("rejects: move %s aside: %w", local, err)
		}
	}
	if err := c.restoreRejects(ctx, kept, offset, local); err != nil {
		return "", fmt.Errorf("rejects: the checkpoint records %d bytes of rejects in %s, which this machine does not have, and they cannot be restored from %s: %w",
			offset, cp.RejectsFile, c.rejectsName(), err)
	}
	cp.RejectsFile = local
	return c.rejectsName(), nil
}

// rejectsName names the copy of the rejects file, for messages.
func (c *bucketCheckpoint) rejectsName() string {
	return strings.TrimSuffix(c.url.name, c.url.key) + c.url.rejectsPrefix()
}

// partRead is a range of the rejects file, from to to, that a restore
// reads from part.
type partRead struct {
	part     rejectsPart
	from, to int64
}

// restorePlan returns the ranges of parts, the copy's objects by offset,
// that make up the first offset bytes of the rejects file: each part in
// turn gives the bytes past those the parts before it gave, so a part that
// an earlier one covers gives none. Bytes that no part holds are an error.
func restorePlan(parts []rejectsPart, offset int64) ([]partRead, error) {
	var plan []partRead
	var n int64
	for _, p := range parts {
		if n >= offset {
			break
		}
		if p.start > n {
			return nil, fmt.Errorf("no object holds bytes %d to %d (the next, %s, starts at %d)", n, p.start, path.Base(p.key), p.start)
		}
		if p.end() <= n {
			continue
		}
		to := min(p.end(), offset)
		plan = append(plan, partRead{part: p, from: n, to: to})
		n = to
	}
	if n < offset {
		return nil, fmt.Errorf("its objects hold %d bytes", n)
	}
	return plan, nil
}

// restoreRejects writes the first offset bytes of the rejects file, from
// the parts of its copy, to a new file at local, reading up to
// rejectsReads parts at once, each into its place in the file.
func (c *bucketCheckpoint) restoreRejects(ctx context.Context, parts []rejectsPart, offset int64, local string) error {
	plan, err := restorePlan(parts, offset)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(local), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(local, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(rejectsReads)
	for _, r := range plan {
		g.Go(func() error { return c.readPart(gctx, r, f) })
	}
	err = g.Wait()
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(local)
	}
	return err
}

// readPart copies the range r of the rejects file from its part into f,
// at its offset.
func (c *bucketCheckpoint) readPart(ctx context.Context, r partRead, f *os.File) error {
	rd, err := c.bucket.NewRangeReader(ctx, r.part.key, r.from-r.part.start, r.to-r.from, nil)
	if err != nil {
		return fmt.Errorf("read %s: %w", r.part.key, err)
	}
	defer rd.Close()
	n, err := io.Copy(io.NewOffsetWriter(f, r.from), rd)
	if err != nil {
		return fmt.Errorf("read %s: %w", r.part.key, err)
	}
	if n != r.to-r.from {
		return fmt.Errorf("read %s: it holds %d bytes past offset %d, want %d: it changed since it was listed", r.part.key, n, r.from-r.part.start, r.to-r.from)
	}
	return nil
}

// mergeFrom returns the index of the first of the copy's parts that the
// copy of the rejects file up to offset replaces, len(c.parts) if it
// replaces none and is a part of its own. It replaces every part that
// reaches past what this run copied (see above), and, when a part of
// its own would make more than maxRejectsParts, the last parts from the
// first one that is no larger than the bytes after it; at least the last
// one.
func (c *bucketCheckpoint) mergeFrom(offset int64) int {
	i := len(c.parts)
	for j, p := range c.parts {
		if p.end() > c.copied {
			i = j
			break
		}
	}
	if i+1 <= maxRejectsParts {
		return i
	}
	for j, p := range c.parts[:i] {
		if p.size <= offset-p.end() {
			return j
		}
	}
	return max(i-1, 0)
}

// copyRejects copies the bytes of the local rejects file up to offset
// that the bucket does not hold yet into a new part of its copy, or, to
// keep the copy to maxRejectsParts, into a part that replaces the last
// ones (see mergeFrom), which it deletes once that part is written. crash
// is called at the crash points on the way.
func (c *bucketCheckpoint) copyRejects(ctx context.Context, local string, offset int64, crash func(point string)) error {
	if local == "" || offset <= c.copied || IsDevice(local) {
		return nil
	}
	i := c.mergeFrom(offset)
	start := c.copied
	replaced := slices.Clone(c.parts[i:])
	if len(replaced) > 0 {
		start = replaced[0].start
		crash(crashRejectsMerging)
	}
	if err := c.writePart(ctx, local, start, offset); err != nil {
		return err
	}
	c.parts = append(c.parts[:i], rejectsPart{key: c.url.rejectsPartKey(start), start: start, size: offset - start})
	c.copied = offset
	if len(replaced) == 0 {
		return nil
	}
	crash(crashRejectsMerged)
	for _, p := range replaced[1:] { // the first one was written over
		if err := c.deletePart(ctx, p); err != nil {
			return err
		}
		crash(crashRejectsPartDeleted)
	}
	return nil
}

// writePart writes bytes start to end of the local rejects file to the
// part of the copy that starts at start, streamed from the file.
func (c *bucketCheckpoint) writePart(ctx context.Context, local string, start, end int64) error {
	key := c.url.rejectsPartKey(start)
	f, err := os.Open(local)
	if err != nil {
		return fmt.Errorf("rejects: %w", err)
	}
	defer f.Close()
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := c.bucket.NewWriter(wctx, key, &blob.WriterOptions{ContentType: "application/x-ndjson"})
	if err != nil {
		return fmt.Errorf("rejects: copy %s into %s: %w", local, key, err)
	}
	n, err := io.Copy(w, io.NewSectionReader(f, start, end-start))
	if err == nil && n < end-start {
		err = fmt.Errorf("it holds %d bytes, fewer than the %d the checkpoint covers", start+n, end)
	}
	if err != nil {
		cancel() // the object is not written
		w.Close()
		return fmt.Errorf("rejects: copy %s into %s: %w", local, key, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("rejects: copy %s into %s: %w", local, key, err)
	}
	return nil
}

// deletePart deletes a part of the rejects file's copy; one already gone
// is no error.
func (c *bucketCheckpoint) deletePart(ctx context.Context, p rejectsPart) error {
	if err := c.bucket.Delete(ctx, p.key); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return fmt.Errorf("rejects: delete %s: %w", p.key, err)
	}
	return nil
}

// removeRejectsCopy deletes every part of the rejects file's copy, for a
// run that starts over.
func (c *bucketCheckpoint) removeRejectsCopy(ctx context.Context) error {
	parts, err := c.rejectsParts(ctx)
	if err != nil {
		return err
	}
	for _, p := range parts {
		if err := c.deletePart(ctx, p); err != nil {
			return err
		}
	}
	c.parts = nil
	return nil
}

// prepareBucketRejects readies the copy of the rejects file in the bucket
// of a run whose checkpoint is kept in one (see prepareRejectsCopy), and
// returns the copy's name if it restored the rejects of the earlier runs
// from it.
func (r *run) prepareBucketRejects(cp *Checkpoint) (string, error) {
	if r.bucket == nil {
		return "", nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), bucketTimeout)
	defer cancel()
	return r.bucket.prepareRejectsCopy(ctx, cp, r.cfg.RejectsPath)
}
