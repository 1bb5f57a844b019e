package importer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"strings"
	"time"

	"github.com/backfillhq/backfill/readers"
	"gocloud.dev/blob"
	_ "gocloud.dev/blob/azureblob" // azblob:// checkpoints
	_ "gocloud.dev/blob/gcsblob"   // gs:// checkpoints
	_ "gocloud.dev/blob/s3blob"    // s3:// checkpoints
	"gocloud.dev/gcerrors"
)

// IsBucketURL reports whether location names an object in a bucket
// (s3://BUCKET/KEY, gs://BUCKET/KEY, azblob://CONTAINER/KEY) rather than
// a local file, by the rule that tells sources in buckets from files.
func IsBucketURL(location string) bool { return readers.IsObjectURL(location) }

// WithoutQuery returns a checkpoint's location without the query of a
// bucket URL, for messages and names: the query holds the options of the
// store's driver, and may hold a token (an Azure SAS). A local path is
// returned as it is.
func WithoutQuery(location string) string {
	name, _ := cutQuery(location)
	return name
}

// parseError is the error of a checkpoint location that does not parse as
// a URL, without the query that url.Error would quote.
func parseError(location string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("checkpoint %s: %w", WithoutQuery(location), err)
}

// objectURL is a checkpoint's location in a bucket, as parsed from
// SCHEME://BUCKET/KEY?QUERY: the query holds the options of the store's
// driver (endpoint, use_path_style, region, …), which apply to the bucket.
type objectURL struct {
	// scheme is SCHEME, in lower case.
	scheme string
	// bucket is SCHEME://BUCKET?QUERY, for blob.OpenBucket; "" if the URL
	// names no bucket.
	bucket string
	// key is the object's key in the bucket (a folder's, "PATH/", or ""
	// for the bucket's top, where parseBucketURL allows it).
	key string
	// name is SCHEME://BUCKET/KEY, without the query, for messages.
	name string
	// query is "?QUERY", or "" if the URL has none.
	query string
}

// parseBucketURL parses a bucket URL of checkpoints, SCHEME://BUCKET/KEY,
// where KEY may be a folder's or empty. A URL without a bucket gives an
// objectURL whose bucket is "".
func parseBucketURL(location string) (objectURL, error) {
	u, err := url.Parse(location)
	if err != nil {
		return objectURL{}, parseError(location, err)
	}
	scheme := strings.ToLower(u.Scheme)
	if u.Host == "" {
		return objectURL{scheme: scheme}, nil
	}
	key := strings.TrimPrefix(u.Path, "/")
	b := url.URL{Scheme: scheme, Host: u.Host, RawQuery: u.RawQuery}
	o := objectURL{
		scheme: scheme,
		bucket: b.String(),
		key:    key,
		name:   scheme + "://" + u.Host + "/" + key,
	}
	if u.RawQuery != "" {
		o.query = "?" + u.RawQuery
	}
	return o, nil
}

// parseObjectURL parses the bucket URL of a checkpoint, which names an
// object.
func parseObjectURL(location string) (objectURL, error) {
	o, err := parseBucketURL(location)
	if err != nil {
		return objectURL{}, err
	}
	if o.bucket == "" || o.key == "" || strings.HasSuffix(o.key, "/") {
		return objectURL{}, fmt.Errorf("checkpoint %s: want %s://BUCKET/PATH/NAME.json, the object that holds the checkpoint", WithoutQuery(location), o.scheme)
	}
	return o, nil
}

// root is SCHEME://BUCKET/, which name is with key after it.
func (o objectURL) root() string { return o.name[:len(o.name)-len(o.key)] }

// cutQuery splits a bucket URL into the part before its query and the
// query with its "?" ("" if it has none); a local path is returned whole.
func cutQuery(location string) (name, query string) {
	if !IsBucketURL(location) {
		return location, ""
	}
	if i := strings.IndexByte(location, '?'); i >= 0 {
		return location[:i], location[i:]
	}
	return location, ""
}

// lockKey is the key of the lock object of the checkpoint: a hidden object
// beside it, ".NAME.lock", as LockPath names a local checkpoint's.
func (o objectURL) lockKey() string {
	dir, base := path.Split(o.key)
	return dir + "." + base + ".lock"
}

// bucketCheckpoint is a checkpoint kept in a bucket, and the lock the run
// holds on it. Saves are whole-object writes, which object stores make
// atomic: a reader sees the old object or the new one, never a mix.
type bucketCheckpoint struct {
	url    objectURL
	bucket *blob.Bucket
	lock   *objectLock
	// copied is how many bytes of the rejects file the bucket holds, in
	// parts, by offset (see bucketrejects.go).
	copied int64
	parts  []rejectsPart
}

// checkpointRetry is how the store's SDK tries each request of a
// checkpoint in a bucket again: as sends are, by default (bounded, where
// Google's SDK alone would try a store it cannot reach forever). A seam
// for tests.
var checkpointRetry = readers.ObjectRetry{}

// openBucketCheckpoint opens the bucket of the checkpoint at location.
// Credentials come from each store's standard chain (environment,
// profile, workload identity).
func openBucketCheckpoint(ctx context.Context, location string) (*bucketCheckpoint, error) {
	o, err := parseObjectURL(location)
	if err != nil {
		return nil, err
	}
	b, err := readers.OpenBucket(ctx, o.bucket, checkpointRetry)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: open the bucket: %w", o.name, err)
	}
	return &bucketCheckpoint{url: o, bucket: b}, nil
}

// close releases the bucket.
func (c *bucketCheckpoint) close() error {
	return c.bucket.Close()
}

// read returns the checkpoint object's content; an error wrapping
// os.ErrNotExist if there is none.
func (c *bucketCheckpoint) read(ctx context.Context) ([]byte, error) {
	b, err := c.bucket.ReadAll(ctx, c.url.key)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return nil, fmt.Errorf("checkpoint: %s: %w", c.url.name, os.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint: read %s: %w", c.url.name, err)
	}
	return b, nil
}

// write replaces the checkpoint object with b. crash is called at the
// crash points on the way.
func (c *bucketCheckpoint) write(ctx context.Context, b []byte, crash func(point string)) error {
	crash(crashCheckpointWritten)
	err := c.bucket.WriteAll(ctx, c.url.key, b, &blob.WriterOptions{ContentType: "application/json"})
	if err != nil {
		return fmt.Errorf("checkpoint: write %s: %w", c.url.name, err)
	}
	crash(crashCheckpointRenamed)
	return nil
}

// remove deletes the checkpoint object; one that does not exist is no
// error.
func (c *bucketCheckpoint) remove(ctx context.Context) error {
	err := c.bucket.Delete(ctx, c.url.key)
	if err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return fmt.Errorf("checkpoint: delete %s: %w", c.url.name, err)
	}
	return nil
}

// loadBucketCheckpoint reads and checks the checkpoint object at location
// (see LoadCheckpoint).
func loadBucketCheckpoint(ctx context.Context, location string) (*Checkpoint, error) {
	c, err := openBucketCheckpoint(ctx, location)
	if err != nil {
		return nil, err
	}
	defer c.close()
	return c.load(ctx)
}

// load reads and checks the checkpoint object.
func (c *bucketCheckpoint) load(ctx context.Context) (*Checkpoint, error) {
	b, err := c.read(ctx)
	if err != nil {
		return nil, err
	}
	return decodeCheckpoint(c.url.name, b)
}

// CheckpointExists reports whether the checkpoint at location, a local
// file or an object in a bucket, exists. An error of the store other than
// "not found" is returned.
func CheckpointExists(ctx context.Context, location string) (bool, error) {
	if !IsBucketURL(location) {
		_, err := os.Stat(location)
		if errors.Is(err, os.ErrNotExist) {
			return false, nil
		}
		return err == nil, err
	}
	c, err := openBucketCheckpoint(ctx, location)
	if err != nil {
		return false, err
	}
	defer c.close()
	ok, err := c.bucket.Exists(ctx, c.url.key)
	if err != nil {
		return false, fmt.Errorf("checkpoint: %s: %w", c.url.name, err)
	}
	return ok, nil
}

// bucketTimeout bounds each write of a checkpoint in a bucket, and the
// release of its lock, which an interrupted run still makes.
const bucketTimeout = 2 * time.Minute

// lockBucketCheckpoint opens the checkpoint in a bucket at location and
// takes its lock for the run runID, refreshed every LockRefreshInterval
// until unlock.
func lockBucketCheckpoint(ctx context.Context, location string, started time.Time, runID string) (*bucketCheckpoint, error) {
	c, err := openBucketCheckpoint(ctx, location)
	if err != nil {
		return nil, err
	}
	l := newObjectLock(c, runID, started)
	if err := l.acquire(ctx); err != nil {
		c.close()
		return nil, err
	}
	l.keepAlive(LockRefreshInterval)
	c.lock = l
	return c, nil
}

// unlock releases the lock and the bucket.
func (c *bucketCheckpoint) unlock() {
	ctx, cancel := context.WithTimeout(context.Background(), bucketTimeout)
	defer cancel()
	if c.lock != nil {
		c.lock.release(ctx)
	}
	c.close()
}

// save writes cp to the bucket, once the lock is found to be still the
// run's (a run that lost its lock to another stops rather than overwrite
// the other's checkpoint: ErrLockLost), and the rejects it covers are
// copied there too.
func (c *bucketCheckpoint) save(cp *Checkpoint, crash func(point string)) error {
	b, err := cp.encode()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), bucketTimeout)
	defer cancel()
	if c.lock != nil {
		if err := c.lock.verify(ctx); err != nil {
			return err
		}
	}
	if err := c.copyRejects(ctx, cp.RejectsFile, cp.RejectsOffset, crash); err != nil {
		return err
	}
	return c.write(ctx, b, crash)
}

// validateBucketPaths checks the checkpoint's bucket URL, if it is one,
// and refuses a rejects file in a bucket.
func (c *Config) validateBucketPaths() error {
	if IsBucketURL(c.CheckpointPath) {
		if _, err := parseObjectURL(c.CheckpointPath); err != nil {
			return fmt.Errorf("config: CheckpointPath: %w", err)
		}
	}
	if IsBucketURL(c.RejectsPath) {
		return fmt.Errorf("config: RejectsPath %s is in a bucket, but the rejects file is appended to as rows are rejected, which an object cannot be: name a local file", WithoutQuery(c.RejectsPath))
	}
	return nil
}

// isOwnObject returns the checkpoint, if the object at location, a source
// in a bucket, is the run's checkpoint in a bucket or its lock.
func (c *Config) isOwnObject(location string) (string, bool) {
	if !IsBucketURL(c.CheckpointPath) {
		return "", false
	}
	ck, err1 := parseObjectURL(c.CheckpointPath)
	src, err2 := parseObjectURL(location)
	if err1 != nil || err2 != nil {
		return "", false
	}
	lock := ck.root() + ck.lockKey()
	if src.name == ck.name || src.name == lock {
		return c.CheckpointPath, true
	}
	return "", false
}

// CheckBucketURL returns an error that says the form wanted unless
// location, a bucket URL (IsBucketURL), names an object: a bucket and a
// key that does not end in "/".
func CheckBucketURL(location string) error {
	_, err := parseObjectURL(location)
	return err
}

// listJSON returns the keys of the objects of b named *.json whose keys
// start with prefix and hold no "/" after it (the objects directly in a
// folder, not in its subfolders: not the hidden copy of the rejects beside
// a checkpoint), in the order of their keys. Lock objects (.NAME.lock)
// are not *.json.
func listJSON(ctx context.Context, b *blob.Bucket, prefix string) ([]string, error) {
	var keys []string
	it := b.List(&blob.ListOptions{Prefix: prefix, Delimiter: "/"})
	for {
		o, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return keys, nil
		}
		if err != nil {
			return nil, err
		}
		if !o.IsDir && strings.HasSuffix(o.Key, ".json") {
			keys = append(keys, o.Key)
		}
	}
}

// shardObjects returns the names (SCHEME://BUCKET/KEY) of the objects
// beside the checkpoint at location, in its bucket, whose names start with
// stem, a name of the same form.
func shardObjects(ctx context.Context, location, stem string) ([]string, error) {
	c, err := openBucketCheckpoint(ctx, location)
	if err != nil {
		return nil, err
	}
	defer c.close()
	root := c.url.root()
	keys, err := listJSON(ctx, c.bucket, strings.TrimPrefix(stem, root))
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: list the checkpoints of its shards: %w", c.url.name, err)
	}
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = root + k
	}
	return names, nil
}

// CheckpointsIn lists the checkpoints in the folder of a bucket that
// location names, as a local folder's are listed: the objects named
// *.json directly in it (not in its subfolders; lock objects are not
// *.json), in the order of their keys, each as SCHEME://BUCKET/KEY with
// location's query, which ReadCheckpoint reads. The folder is
// SCHEME://BUCKET/PATH/, SCHEME://BUCKET/PATH where no object has the key
// PATH but some are under PATH/, or the whole bucket. folder is false,
// and nothing is listed, when location names an object, or nothing.
func CheckpointsIn(ctx context.Context, location string) (paths []string, folder bool, err error) {
	o, err := parseBucketURL(location)
	if err != nil {
		return nil, false, err
	}
	if o.bucket == "" {
		return nil, false, fmt.Errorf("checkpoint %s: want %s://BUCKET/PATH/, a folder of checkpoints, or %s://BUCKET/PATH/NAME.json, a checkpoint", WithoutQuery(location), o.scheme, o.scheme)
	}
	root := o.root()
	b, err := readers.OpenBucket(ctx, o.bucket, checkpointRetry)
	if err != nil {
		return nil, false, fmt.Errorf("checkpoint %s: open the bucket: %w", WithoutQuery(location), err)
	}
	defer b.Close()
	prefix := o.key
	named := prefix != "" && !strings.HasSuffix(prefix, "/")
	if named {
		ok, err := b.Exists(ctx, prefix)
		if err != nil {
			return nil, false, fmt.Errorf("checkpoint %s: %w", root+prefix, err)
		}
		if ok {
			return nil, false, nil
		}
		prefix += "/"
	}
	keys, err := listJSON(ctx, b, prefix)
	if err != nil {
		return nil, false, fmt.Errorf("list the checkpoints in %s: %w", root+prefix, err)
	}
	if named && len(keys) == 0 {
		return nil, false, nil
	}
	for _, k := range keys {
		// With the query, which ReadCheckpoint needs to reach the store.
		paths = append(paths, root+k+o.query)
	}
	return paths, true, nil
}
