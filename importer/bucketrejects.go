package importer

import (
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
)

// The rejects file of an import whose checkpoint is in a bucket is a local
// file, appended to as rows are rejected, and copied into the bucket as
// the checkpoint advances: before each checkpoint write, the bytes of the
// rejects file that it covers and the bucket does not hold yet become one
// object, named by the offset it starts at, under a hidden prefix beside
// the checkpoint (".NAME.rejects/"). The objects thus always hold at least
// what the checkpoint covers, so a run resumed on a machine without the
// local file (another machine, a new container) restores it from them.

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

// rejectsPart is one object of the rejects file's copy.
type rejectsPart struct {
	key   string
	start int64
}

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
		parts = append(parts, rejectsPart{key: o.Key, start: start})
	}
	slices.SortFunc(parts, func(a, b rejectsPart) int { return int(min(max(a.start-b.start, -1), 1)) })
	return parts, nil
}

// prepareRejectsCopy readies the copy of the rejects file in the bucket
// for a run that resumes cp (nil for a fresh run), whose rejects file is
// local: the parts past what cp covers (copied by a run that stopped
// before its next checkpoint write) are deleted, all of them for a fresh
// run. When cp covers rejects that the file it records does not hold on
// this machine (missing, or shorter), they are restored from the copy
// into local, which cp is then made to record, and the copy's name is
// returned.
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
	var kept []rejectsPart
	for _, p := range parts {
		if p.start < offset {
			kept = append(kept, p)
			continue
		}
		if err := c.bucket.Delete(ctx, p.key); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
			return "", fmt.Errorf("rejects: delete %s: %w", p.key, err)
		}
	}
	c.copied = offset
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

// restoreRejects writes the first offset bytes of the rejects file, from
// the parts of its copy, to a new file at local.
func (c *bucketCheckpoint) restoreRejects(ctx context.Context, parts []rejectsPart, offset int64, local string) error {
	if err := os.MkdirAll(filepath.Dir(local), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(local, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	var n int64
	for _, p := range parts {
		if p.start != n {
			break
		}
		b, err := c.bucket.ReadAll(ctx, p.key)
		if err != nil {
			f.Close()
			os.Remove(local)
			return fmt.Errorf("read %s: %w", p.key, err)
		}
		b = b[:min(int64(len(b)), offset-n)]
		if _, err := f.Write(b); err != nil {
			f.Close()
			os.Remove(local)
			return err
		}
		n += int64(len(b))
	}
	if n < offset {
		f.Close()
		os.Remove(local)
		return fmt.Errorf("its objects hold %d bytes", n)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// copyRejects copies the bytes of the local rejects file up to offset
// that the bucket does not hold yet into a new part of its copy.
func (c *bucketCheckpoint) copyRejects(ctx context.Context, local string, offset int64) error {
	if local == "" || offset <= c.copied || IsDevice(local) {
		return nil
	}
	f, err := os.Open(local)
	if err != nil {
		return fmt.Errorf("rejects: %w", err)
	}
	defer f.Close()
	b := make([]byte, offset-c.copied)
	if _, err := f.ReadAt(b, c.copied); err != nil {
		return fmt.Errorf("rejects: read %s: %w", local, err)
	}
	key := c.url.rejectsPartKey(c.copied)
	if err := c.bucket.WriteAll(ctx, key, b, &blob.WriterOptions{ContentType: "application/x-ndjson"}); err != nil {
		return fmt.Errorf("rejects: copy %s into %s: %w", local, key, err)
	}
	c.copied = offset
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
		if err := c.bucket.Delete(ctx, p.key); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
			return fmt.Errorf("rejects: delete %s: %w", p.key, err)
		}
	}
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
