package readers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"cloud.google.com/go/storage"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	azblobblob "github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/backfillhq/backfill/internal/retry"
	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
	"google.golang.org/api/googleapi"

	// The drivers of the stores a source URL may name.
	_ "gocloud.dev/blob/azureblob"
	_ "gocloud.dev/blob/gcsblob"
	_ "gocloud.dev/blob/s3blob"
)

// objectSchemes are the URL schemes of sources in object storage.
var objectSchemes = []string{"s3", "gs", "azblob"}

// IsObjectURL reports whether a source argument names objects in a
// bucket: s3://, gs:// or azblob://.
func IsObjectURL(arg string) bool {
	scheme, _, ok := strings.Cut(arg, "://")
	return ok && slices.Contains(objectSchemes, scheme)
}

// object is where a Source that is an object in a bucket lives, and the
// version of it that Expand listed: reads ask the store for that version
// and fail, rather than mix versions, if it was replaced.
type object struct {
	bucket     *bucketRef
	key        string
	size       int64
	etag       string // S3 and Azure; "" if the store gives none
	generation int64  // Google Cloud Storage; 0 elsewhere

	mu     sync.Mutex
	pre    chan openedRange   // a first read opened ahead of time; nil if none
	footer chan fetchedFooter // a Parquet footer read ahead of time; nil if none
}

// name is how errors and positions name the object: "s3://bucket/key".
func (o *object) name() string { return o.bucket.name + "/" + o.key }

// version is what identifies the object's content: its generation or its
// ETag.
func (o *object) version() string {
	if o.generation != 0 {
		return "generation " + strconv.FormatInt(o.generation, 10)
	}
	return "etag " + o.etag
}

// objectFingerprintPrefix starts the Fingerprint of an object.
const objectFingerprintPrefix = "object:"

// IsObjectFingerprint reports whether fp is the Fingerprint of an object
// in a bucket ("object:etag …" or "object:generation …"), which names the
// version of its content the store gave, not a hash of bytes read.
func IsObjectFingerprint(fp string) bool { return strings.HasPrefix(fp, objectFingerprintPrefix) }

// bucketRef is a bucket that the sources of one Expand name, opened once,
// on first use, and shared by them.
type bucketRef struct {
	url  string // opens it: scheme://bucket?query
	name string // names it: scheme://bucket

	once sync.Once
	b    *blob.Bucket
	err  error

	// reached is set once a request to the store has succeeded; until
	// then, a request refused on every attempt for retry.RefusedTime
	// fails, as an HTTP send does: a store that never answered is most
	// likely named wrong.
	reached atomic.Bool
}

// sdkOnce is the policy of the SDKs' own retries for sources: none, as
// retrying tries their requests again.
var sdkOnce = ObjectRetry{MaxRetries: -1}

// bucketSet holds the buckets of one Expand, so that its sources in one
// bucket share a client.
type bucketSet map[string]*bucketRef

// bucketOf returns the shared reference of the bucket at u (scheme, host and
// query of a source URL).
func (set bucketSet) bucketOf(u *url.URL) *bucketRef {
	open := url.URL{Scheme: u.Scheme, Host: u.Host, RawQuery: u.RawQuery}
	key := open.String()
	if b, ok := set[key]; ok {
		return b
	}
	b := &bucketRef{url: key, name: u.Scheme + "://" + u.Host}
	set[key] = b
	return b
}

// open opens the bucket, once.
func (r *bucketRef) open(ctx context.Context) (*blob.Bucket, error) {
	r.once.Do(func() {
		// The reads of sources are tried again above the SDK (see
		// retrying), as Options.ObjectRetry says: the SDK tries once.
		r.b, r.err = OpenBucket(context.WithoutCancel(ctx), r.url, sdkOnce)
		if r.err != nil {
			r.err = fmt.Errorf("%s: open the bucket: %w", r.name, r.err)
		}
	})
	return r.b, r.err
}

// parseObjectURL splits a source URL into its bucket and its key, prefix or
// pattern (without a leading slash).
func parseObjectURL(set bucketSet, arg string) (*bucketRef, string, error) {
	u, err := url.Parse(arg)
	if err != nil {
		return nil, "", fmt.Errorf("source %s: %w", redactURL(arg), err)
	}
	if u.Host == "" {
		return nil, "", fmt.Errorf("source %s: the URL names no bucket (want %s://BUCKET/PREFIX)", redactURL(arg), u.Scheme)
	}
	key := strings.TrimPrefix(u.Path, "/")
	return set.bucketOf(u), key, nil
}

// redactURL is a source URL without its query, which may hold a token.
func redactURL(arg string) string {
	if i := strings.IndexByte(arg, '?'); i >= 0 {
		return arg[:i]
	}
	return arg
}

// mightPass reports the errors that another attempt may not meet: the
// store's 5xx, 429 and 408 answers, and network errors. Others (bad
// requests, missing credentials, a misconfigured client) fail at once.
func mightPass(err error) bool {
	switch gcerrors.Code(err) {
	case gcerrors.Internal, gcerrors.ResourceExhausted, gcerrors.DeadlineExceeded:
		return true
	}
	retryable := func(code int) bool { return code >= 500 || code == 429 || code == 408 }
	var smithyStatus interface{ HTTPStatusCode() int }
	if errors.As(err, &smithyStatus) && smithyStatus.HTTPStatusCode() != 0 {
		// 0: no response came; the network error is below.
		return retryable(smithyStatus.HTTPStatusCode())
	}
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		return retryable(ge.Code)
	}
	var ae *azcore.ResponseError
	if errors.As(err, &ae) {
		return retryable(ae.StatusCode)
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE)
}

// cannotRetry reports the errors that trying again cannot fix, as for
// HTTP sends (see retry.Unreachable): an unknown host, a certificate that
// is not trusted, and credentials that cannot be found.
func cannotRetry(err error) bool {
	var signing *v4.SigningError
	return retry.Unreachable(err) != "" || errors.As(err, &signing)
}

// objectErrorKind classifies an error of object storage.
type objectErrorKind int

const (
	objectTransient objectErrorKind = iota // worth another attempt
	objectPermanent                        // permission, bad request, …: stop
	objectMissing                          // not found
	objectReplaced                         // the version read is no longer there
)

// classify says what an error of the store means.
func classify(err error) objectErrorKind {
	if errors.Is(err, ErrChanged) {
		return objectReplaced
	}
	switch gcerrors.Code(err) {
	case gcerrors.NotFound:
		return objectMissing
	case gcerrors.FailedPrecondition:
		return objectReplaced
	case gcerrors.PermissionDenied, gcerrors.InvalidArgument, gcerrors.Unimplemented, gcerrors.AlreadyExists, gcerrors.Canceled:
		return objectPermanent
	}
	if errors.Is(err, context.Canceled) || cannotRetry(err) || !mightPass(err) {
		return objectPermanent
	}
	return objectTransient
}

// objectNamedError is an error of the store that names the object or
// prefix it is about.
type objectNamedError struct {
	name string
	err  error
}

func (e *objectNamedError) Error() string {
	switch gcerrors.Code(e.err) {
	case gcerrors.PermissionDenied:
		return e.name + ": permission denied (check the credentials and that they may list and read the bucket): " + e.err.Error()
	case gcerrors.NotFound:
		return e.name + ": not found: " + e.err.Error()
	}
	return e.name + ": " + e.err.Error()
}

func (e *objectNamedError) Unwrap() error { return e.err }

// objectError words an error of the store about the object or prefix
// named name.
func objectError(name string, err error) error {
	return &objectNamedError{name: name, err: err}
}

// ObjectRetry says how often and how patiently a read from object storage
// is tried again after an error that might pass (a network error, a 5xx,
// throttling), with the same fields, defaults and rule as the HTTP sends'
// policy (segment.RetryPolicy). These are the only retries of a source's
// requests: the SDKs make none of their own (see OpenBucket).
// Permission and not-found errors are never retried. A zero field means
// its default. Its fields:
//
//   - MaxRetries is how many times a request is tried again. Negative: no
//     retries. Default: 1,000.
//   - MaxRetryTime is how long a request may go on failing, from its first
//     failed attempt, before the read gives up (the back-off before the
//     last attempt is shortened to end at this limit), and how long the
//     listing of a source may take. Negative: no limit. Default: 10
//     minutes.
//   - MinBackoff is the wait before the first retry; it doubles with every
//     further one. Default: 100ms.
//   - MaxBackoff caps the wait (raised to MinBackoff if below it).
//     Default: 30s.
type ObjectRetry retry.Policy

func (p ObjectRetry) withDefaults() ObjectRetry { return ObjectRetry(retry.Policy(p).WithDefaults()) }

// objectSleep waits d or until ctx ends; a seam for tests.
var objectSleep = func(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// objectNow reads the clock of the retries; a seam for tests.
var objectNow = time.Now

// retrying runs op, a request to the store of ref, until it succeeds,
// fails for good (see classify), or the policy gives up (see
// retry.Attempts), or every attempt was refused for retry.RefusedTime
// before any request reached the store; it returns op's last error,
// wrapped in a *retriedError if op was tried more than once and the last
// error might have passed.
func retrying(ctx context.Context, p ObjectRetry, ref *bucketRef, op func() error) error {
	tries := retry.Start(retry.Policy(p.withDefaults()), nil)
	for {
		err := op()
		if err == nil {
			ref.reached.Store(true)
			return nil
		}
		if classify(err) != objectTransient || ctx.Err() != nil {
			return err
		}
		now := objectNow()
		wait, limit := tries.Failed(now, err, ref.reached.Load())
		switch {
		case limit == retry.Refused:
			return &retriedError{attempts: tries.Count(), failing: tries.Failing(now), refused: true, err: err}
		case limit != retry.Again || objectSleep(ctx, wait) != nil:
			if tries.Count() == 1 {
				return err
			}
			return &retriedError{attempts: tries.Count(), failing: tries.Failing(objectNow()), err: err}
		}
	}
}

// retriedError is the last error of a request to a store that was tried
// again until the policy gave up, or until retry.RefusedTime of refusals.
type retriedError struct {
	attempts int
	failing  time.Duration
	refused  bool // every attempt was refused for retry.RefusedTime
	err      error
}

func (e *retriedError) Error() string {
	if e.refused {
		return fmt.Sprintf("cannot reach the store: connection refused on every attempt for %s (%d attempts; check the endpoint), the last: %v",
			e.failing.Round(time.Second), e.attempts, e.err)
	}
	return fmt.Sprintf("%d attempts failed in %s, the last: %v", e.attempts, e.failing.Round(time.Millisecond), e.err)
}

func (e *retriedError) Unwrap() error { return e.err }

// beforeRead asks the store for the version of o that Expand listed: an
// If-Match of its ETag (S3, Azure), or its generation (Google Cloud
// Storage), so that a read of an object replaced since fails instead of
// returning bytes of another version.
func (o *object) beforeRead(as func(any) bool) error {
	var s3in *s3.GetObjectInput
	if as(&s3in) {
		if o.etag != "" {
			s3in.IfMatch = aws.String(o.etag)
		}
		var s3opts *[]func(*s3.Options)
		if as(&s3opts) {
			// A range read carries no checksum of its own: the SDK
			// would log that on every read.
			*s3opts = append(*s3opts, func(o *s3.Options) { o.DisableLogOutputChecksumValidationSkipped = true })
		}
		return nil
	}
	var oh **storage.ObjectHandle
	if as(&oh) {
		if o.generation != 0 {
			*oh = (*oh).Generation(o.generation)
		}
		return nil
	}
	var az *azblobblob.DownloadStreamOptions
	if as(&az) {
		if o.etag != "" {
			etag := azcore.ETag(o.etag)
			az.AccessConditions = &azblobblob.AccessConditions{ModifiedAccessConditions: &azblobblob.ModifiedAccessConditions{IfMatch: &etag}}
		}
	}
	return nil
}

// changedError is the error of a read of o that found another version.
func (o *object) changedError(nowSize int64) error {
	return &ChangedError{Path: o.name(), Size: o.size, NowSize: nowSize, Version: o.version()}
}

// openedRange is a range reader opened, or the error of opening it.
type openedRange struct {
	r   *blob.Reader
	err error
}

// openRange opens a read of o from offset off, length n (-1: to the end),
// retried as p says. A store that no longer has the listed version gives
// a *ChangedError; other errors name the object.
func (o *object) openRange(ctx context.Context, p ObjectRetry, off, n int64) (*blob.Reader, error) {
	var r *blob.Reader
	err := retrying(ctx, p, o.bucket, func() error {
		var err error
		r, err = o.openRangeOnce(ctx, off, n)
		return err
	})
	if err != nil {
		return nil, o.readError(ctx, err)
	}
	return r, nil
}

// openRangeOnce is one attempt of openRange; its errors do not name the
// object (see readError), except a *ChangedError.
func (o *object) openRangeOnce(ctx context.Context, off, n int64) (*blob.Reader, error) {
	b, err := o.bucket.open(ctx)
	if err != nil {
		return nil, err
	}
	r, err := b.NewRangeReader(StoreContext(ctx, sdkOnce), o.key, off, n, &blob.ReaderOptions{BeforeRead: o.beforeRead})
	if err != nil {
		switch classify(err) {
		case objectReplaced, objectMissing:
			// Listed a moment ago: it was replaced or deleted since.
			return nil, o.changedError(-1)
		}
		return nil, err
	}
	if r.Size() != o.size {
		r.Close()
		return nil, o.changedError(r.Size())
	}
	return r, nil
}

// readError is the error of a read of o that failed with err, as the
// reader returns it: the context's error if ctx ended, a *ChangedError as
// it is, and any other error naming the object.
func (o *object) readError(ctx context.Context, err error) error {
	switch {
	case isContextError(ctx, err):
		return ctx.Err()
	case errors.Is(err, ErrChanged):
		return err
	}
	return objectError(o.name(), err)
}

// prefetch opens the first read of o ahead of time, on a goroutine of its
// own, so that the latency of the request passes while the sources before
// it are read. The read is handed to the next open of o from its start;
// one not taken is closed when ctx ends.
func (o *object) prefetch(ctx context.Context, p ObjectRetry) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.pre != nil {
		return
	}
	ch := make(chan openedRange)
	o.pre = ch
	go func() {
		r, err := o.openRange(ctx, p, 0, -1)
		select {
		case ch <- openedRange{r: r, err: err}:
		case <-ctx.Done():
			if r != nil {
				r.Close()
			}
		}
	}()
}

// takePrefetched returns the read of o opened ahead of time, waiting for
// it, if there is one.
func (o *object) takePrefetched(ctx context.Context) (openedRange, bool) {
	return takeAhead(ctx, &o.mu, &o.pre, func(err error) openedRange { return openedRange{err: err} })
}

// takeAhead empties *slot, where a result is made ahead of time, under mu,
// and waits for the result if there was one; ctx ending gives
// cancelled(ctx.Err()) instead.
func takeAhead[T any](ctx context.Context, mu *sync.Mutex, slot *chan T, cancelled func(error) T) (T, bool) {
	mu.Lock()
	ch := *slot
	*slot = nil
	mu.Unlock()
	if ch == nil {
		var none T
		return none, false
	}
	select {
	case got := <-ch:
		return got, true
	case <-ctx.Done():
		return cancelled(ctx.Err()), true
	}
}

// Prefetch opens the first read of each source in object storage among
// srcs ahead of time, on goroutines of their own, so that the latency of
// the requests passes while earlier sources are read; Open of such a
// source from its start then uses that read. For a Parquet object that
// read is of its footer (and its first bytes), which Open of it at any
// position then uses. Reads not used are closed when ctx ends. Other
// sources are ignored. It does not block. Callers bound how many sources
// they prefetch: each holds one open response, or a Parquet footer.
func Prefetch(ctx context.Context, opts Options, srcs ...Source) {
	for _, s := range srcs {
		switch {
		case s.obj == nil:
		case s.Format == FormatParquet:
			s.obj.prefetchFooter(ctx, opts.ObjectRetry)
		default:
			s.obj.prefetch(ctx, opts.ObjectRetry)
		}
	}
}

// objectStream reads an object from an offset on, as the file of an
// input: a read that fails in a way that might pass is opened again
// where it stopped, asking for the same version, and a seek opens the
// next read at its offset.
type objectStream struct {
	obj *object
	// ctx is the context of Open, cancelled by Close: io.Reader's Read
	// has none of its own, and a read of a stalled connection must end
	// when the import does.
	ctx    context.Context
	cancel context.CancelFunc
	retry  ObjectRetry
	r      *blob.Reader
	pos    int64
	err    error // sticky
}

func newObjectStream(ctx context.Context, obj *object, retry ObjectRetry) *objectStream {
	ctx, cancel := context.WithCancel(ctx)
	return &objectStream{obj: obj, ctx: ctx, cancel: cancel, retry: retry}
}

// Read reads on from where the last read stopped. A read that fails in a
// way that might pass is tried again from there, as s.retry says, the
// same as any request to the store (see retrying); one that got some
// bytes before it failed returns them, and the next Read asks for the
// rest.
func (s *objectStream) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if s.pos >= s.obj.size {
		return 0, io.EOF
	}
	if s.r == nil && s.pos == 0 {
		if got, ok := s.obj.takePrefetched(s.ctx); ok {
			if got.err != nil {
				// Opened ahead, with the same retries.
				s.err = got.err
				return 0, s.err
			}
			s.r = got.r
		}
	}
	var n int
	var end error
	err := retrying(s.ctx, s.retry, s.obj.bucket, func() error {
		if s.r == nil {
			r, err := s.obj.openRangeOnce(s.ctx, s.pos, -1)
			if err != nil {
				return err
			}
			s.r = r
		}
		var err error
		n, err = s.r.Read(p)
		s.pos += int64(n)
		switch {
		case err == nil:
			return nil
		case err == io.EOF && s.pos == s.obj.size:
			end = io.EOF
			return nil
		case err == io.EOF:
			// The read asked for the listed version, so a body that ends
			// short was cut off: the rest is asked for again.
			err = io.ErrUnexpectedEOF
		}
		s.r.Close()
		s.r = nil
		if n > 0 && classify(err) == objectTransient && s.ctx.Err() == nil {
			return nil // the next Read opens the rest
		}
		return err
	})
	if err != nil {
		s.err = s.obj.readError(s.ctx, err)
		return n, s.err
	}
	return n, end
}

// Seek moves the next read to offset off (whence io.SeekStart only).
func (s *objectStream) Seek(off int64, whence int) (int64, error) {
	if whence != io.SeekStart {
		return s.pos, errors.New("objectStream: only io.SeekStart is supported")
	}
	if off != s.pos && s.r != nil {
		s.r.Close()
		s.r = nil
	}
	s.pos = off
	return off, nil
}

// Close ends the read. It is safe to call more than once.
func (s *objectStream) Close() error {
	s.cancel()
	if s.r != nil {
		s.r.Close()
		s.r = nil
	}
	return nil
}

// listed is an object that a listing found.
type listed struct {
	key        string
	size       int64
	etag       string
	generation int64
}

// versionOf reads the version of an object from what its listing's
// driver gives.
func versionOf(o *blob.ListObject) (etag string, generation int64) {
	var s3o s3types.Object
	if o.As(&s3o) {
		return aws.ToString(s3o.ETag), 0
	}
	var gcs storage.ObjectAttrs
	if o.As(&gcs) {
		return gcs.Etag, gcs.Generation
	}
	var az container.BlobItem
	if o.As(&az) && az.Properties != nil && az.Properties.ETag != nil {
		return string(*az.Properties.ETag), 0
	}
	return "", 0
}

// attributesOf reads the version of the single object key.
func attributesOf(ctx context.Context, b *blob.Bucket, key string) (listed, error) {
	a, err := b.Attributes(ctx, key)
	if err != nil {
		return listed{}, err
	}
	l := listed{key: key, size: a.Size, etag: a.ETag}
	var gcs storage.ObjectAttrs
	if a.As(&gcs) {
		l.generation = gcs.Generation
	}
	return l, nil
}

// ArchiveDay is a day folder of Segment's S3 destination
// (segment-logs/SOURCE-ID/DAY/, DAY the Unix time in milliseconds of the
// start of the UTC day on which Segment received the events in it) that
// Expand skipped because Options.ArchiveSince is more than a day past its
// end.
type ArchiveDay struct {
	// Folder names it: "s3://bucket/segment-logs/SOURCE-ID/1704067200000/".
	Folder string
	// Day is the start of its day.
	Day time.Time
}

// archiveSkew is how much earlier than the day it was received an
// event's timestamp may be kept for: a day, for clients' clocks.
const archiveSkew = 24 * time.Hour

// archiveDay returns the day of a folder key ("…/segment-logs/ID/DAY/")
// of Segment's archive layout.
func archiveDay(dirKey string) (time.Time, bool) {
	elems := strings.Split(strings.TrimSuffix(dirKey, "/"), "/")
	n := len(elems)
	if n < 3 || elems[n-3] != "segment-logs" || elems[n-2] == "" {
		return time.Time{}, false
	}
	day := elems[n-1]
	if len(day) < 10 || len(day) > 14 {
		return time.Time{}, false
	}
	ms, err := strconv.ParseInt(day, 10, 64)
	if err != nil || ms < 0 {
		return time.Time{}, false
	}
	return time.UnixMilli(ms).UTC(), true
}

// skipArchiveDay reports whether the folder at dirKey is a day folder of
// Segment's archive whose events all lie before since: its day ended more
// than archiveSkew before since. Folders after any end of a window are
// kept: events that arrive late land in later folders.
func skipArchiveDay(dirKey string, since time.Time) (time.Time, bool) {
	if since.IsZero() {
		return time.Time{}, false
	}
	day, ok := archiveDay(dirKey)
	if !ok {
		return time.Time{}, false
	}
	end := day.Add(24 * time.Hour)
	return day, !end.Add(archiveSkew).After(since)
}

// expandObjects lists the objects a source URL names, in key order: the
// object itself, the objects under it as under a folder, or the objects
// its pattern matches (path elements matched as a glob's, "**" any number
// of them). Hidden objects and folders and this tool's own files are
// skipped inside folders and patterns, as on disk.
func expandObjects(ctx context.Context, set bucketSet, arg string, opts Options) ([]Source, error) {
	ref, key, err := parseObjectURL(set, arg)
	if err != nil {
		return nil, err
	}
	b, err := ref.open(ctx)
	if err != nil {
		return nil, err
	}
	shown := ref.name + "/" + key
	var found []listed
	var skipped []ArchiveDay
	listOpts := opts
	listOpts.ArchiveSkipped = func(d ArchiveDay) { skipped = append(skipped, d) }
	// The listing takes MaxRetryTime at most, however many requests it
	// makes, and a request that stalls ends with it.
	lctx, cancel := context.WithCancel(ctx)
	if d := opts.ObjectRetry.withDefaults().MaxRetryTime; d > 0 {
		lctx, cancel = context.WithTimeout(ctx, d)
	}
	defer cancel()
	rctx := StoreContext(lctx, sdkOnce)
	failed := shown // what the last attempt's error is about
	err = retrying(lctx, opts.ObjectRetry, ref, func() error {
		skipped = skipped[:0]
		var err error
		found, err = findObjects(rctx, b, ref, key, listOpts)
		failed = shown
		var pe *listError
		if errors.As(err, &pe) {
			// The name goes before the count of attempts (see
			// retriedError), not after it with the last cause.
			failed, err = ref.name+"/"+pe.prefix, pe.err
		}
		return err
	})
	if err != nil {
		if isContextError(ctx, err) {
			return nil, err
		}
		return nil, objectError(failed, err)
	}
	if opts.ArchiveSkipped != nil {
		for _, d := range skipped {
			opts.ArchiveSkipped(d)
		}
	}
	if len(found) == 0 {
		if hasMeta(key) {
			return nil, fmt.Errorf("glob %s: no objects match", shown)
		}
		return nil, fmt.Errorf("%s: no objects found", shown)
	}
	sources := make([]Source, 0, len(found))
	for _, l := range found {
		obj := &object{bucket: ref, key: l.key, size: l.size, etag: l.etag, generation: l.generation}
		src := Source{Path: obj.name(), Format: opts.Format, Size: l.size, obj: obj}
		src.Fingerprint = objectFingerprintPrefix + obj.version()
		if src.Format == "" {
			if src.Format, err = detectObject(ctx, src, opts); err != nil {
				return nil, err
			}
		}
		sources = append(sources, src)
	}
	return sources, nil
}

// listError is an error of listing under prefix.
type listError struct {
	prefix string
	err    error
}

func (e *listError) Error() string { return e.prefix + ": " + e.err.Error() }
func (e *listError) Unwrap() error { return e.err }

// findObjects lists what key names in b: see expandObjects. Unless
// Options.ArchiveSince asks for day folders to be skipped unlisted, it
// first lists the whole tree flat, in one request (see flatListing);
// where that does not tell what key names, it asks as it would without
// it: for the key as a single object (Attributes), then for the tree
// folder by folder (listTree).
func findObjects(ctx context.Context, b *blob.Bucket, ref *bucketRef, key string, opts Options) ([]listed, error) {
	// tree is the prefix of the folder to list, and choose what to take
	// under it; single is the key that names a single object, if it may.
	tree, choose, single := key, chooseInFolder, ""
	flat := flatListing{prefix: key, name: key}
	switch {
	case hasMeta(key):
		root, parts, err := splitPattern(strings.Split(path.Clean(key), "/"), path.Match)
		if err != nil {
			return nil, fmt.Errorf("glob %s/%s: %w", ref.name, key, err)
		}
		tree = strings.Join(root, "/")
		if tree != "" {
			tree += "/"
		}
		choose = chooseGlob(parts)
		// Only keys that start as the pattern's first element does can
		// match it.
		flat = flatListing{prefix: tree + literalStart(parts[0]), name: tree}
	case key != "" && !strings.HasSuffix(key, "/"):
		tree, single = key+"/", key
	}
	if opts.ArchiveSince.IsZero() {
		found, answered, err := flat.list(ctx, b, single, tree, choose)
		if err != nil || answered {
			return found, err
		}
		if flat.notObject {
			single = ""
		}
	}
	if single != "" {
		l, err := attributesOf(ctx, b, single)
		if err == nil {
			return []listed{l}, nil
		}
		if gcerrors.Code(err) != gcerrors.NotFound {
			return nil, err
		}
	}
	return listTree(ctx, b, ref, tree, opts, choose)
}

// literalStart is the start of a glob's path element before its first
// wildcard or escape.
func literalStart(elem string) string {
	if i := strings.IndexAny(elem, `*?[\`); i >= 0 {
		return elem[:i]
	}
	return elem
}

// flatListPage is how many keys the flat listing of a source asks for: the
// most that S3 and Google Cloud Storage give a request. A seam for tests.
var flatListPage = 1000

// flatListing is the listing of every key under prefix in one request,
// without a delimiter: one request where a folder by folder walk makes
// one per level of folders (and one per folder), so that the first read
// of a source's tree of up to flatListPage keys waits for one round trip
// to the store, not one per level.
type flatListing struct {
	prefix string // the keys listed start with it
	name   string // names the prefix in errors: what the walk would list

	// notObject is set when the listing shows that no object has the
	// key single it was asked about: the store lists keys in order, and
	// that key, the least with the prefix, was not among them.
	notObject bool
}

// list lists f.prefix's first flatListPage keys and returns, if they
// tell, what findObjects would have found: the object single ("" for
// none) if it is the first of them, else the objects under tree that
// choose takes, with each folder on their way, in key order. They do not
// tell when more keys follow the page and may still be under tree: a
// tree larger than a page, or more than a page of keys that only start
// as single does ("key-old", "key.bak/…") before it. Then the walk
// follows, as without the flat listing: paging on would be one request
// after another, through keys that choose may refuse, where the walk
// lists folders side by side and skips those refused.
//
// Nor do they tell when the store refuses the listing for good (a grant
// to read objects, or to list folder by folder, but not to list a whole
// tree; a store that lists whole folders only; a missing bucket): the
// requests that follow then meet what the store permits, and word its
// errors, as without the flat listing. Other errors are returned, for
// the retries to judge, as a *listError of f.name.
func (f *flatListing) list(ctx context.Context, b *blob.Bucket, single, tree string, choose choose) (found []listed, answered bool, err error) {
	objs, next, err := b.ListPage(ctx, blob.FirstPageToken, flatListPage, &blob.ListOptions{Prefix: f.prefix})
	if err != nil {
		switch gcerrors.Code(err) {
		case gcerrors.PermissionDenied, gcerrors.NotFound, gcerrors.InvalidArgument, gcerrors.Unimplemented:
			if ctx.Err() == nil {
				return nil, false, nil
			}
		}
		return nil, false, &listError{prefix: f.name, err: err}
	}
	slices.SortFunc(objs, func(a, b *blob.ListObject) int { return strings.Compare(a.Key, b.Key) })
	if single != "" && len(objs) > 0 {
		if o := objs[0]; o.Key == single && !o.IsDir {
			return []listed{singleListed(o)}, true, nil
		}
		f.notObject = true
	}
	if len(next) > 0 {
		if len(objs) == 0 {
			return nil, false, nil
		}
		last := objs[len(objs)-1].Key
		if last <= tree || strings.HasPrefix(last, tree) {
			return nil, false, nil // the page ends before the tree does
		}
	}
	for _, o := range objs {
		rest, ok := strings.CutPrefix(o.Key, tree)
		if !ok || o.IsDir || !takenInTree(strings.Split(rest, "/"), choose) {
			continue
		}
		etag, gen := versionOf(o)
		found = append(found, listed{key: o.Key, size: o.Size, etag: etag, generation: gen})
	}
	return found, true, nil
}

// takenInTree reports whether the walk of a tree takes the object at the
// path elems below its root: choose takes each folder on the way and the
// object. A path with an empty element (a key with "//", or a folder's
// marker object ending in "/") is never taken, as the walk, which lists
// the folder "a//" as one named "", does not.
func takenInTree(elems []string, choose choose) bool {
	if slices.Contains(elems, "") {
		return false
	}
	for i := 1; i < len(elems); i++ {
		if !choose(elems[:i], true) {
			return false
		}
	}
	return choose(elems, false)
}

// singleListed is the version of the object o, listed, as attributesOf
// gives it: the listings of Google Cloud Storage and Azure give an ETag
// without the quotes that their Attributes keep, and a checkpoint of the
// single object recorded the latter.
func singleListed(o *blob.ListObject) listed {
	etag, gen := versionOf(o)
	if etag != "" && !strings.HasPrefix(etag, `"`) {
		etag = `"` + etag + `"`
	}
	return listed{key: o.Key, size: o.Size, etag: etag, generation: gen}
}

// listConcurrency is how many folders listTree lists at once, so that
// the latency of a store far away is not waited for folder by folder.
const listConcurrency = 8

// listTree lists the objects under prefix that choose takes, in key
// order, one folder (delimiter "/") at a time so that choose prunes
// folders without listing them; up to listConcurrency folders are listed
// at once. A day folder of Segment's archive before Options.ArchiveSince
// is skipped and reported to Options.ArchiveSkipped, in key order.
func listTree(ctx context.Context, b *blob.Bucket, ref *bucketRef, prefix string, opts Options, choose choose) ([]listed, error) {
	sem := make(chan struct{}, listConcurrency)
	// found is what a folder holds, in key order: objects, and the day
	// folders skipped.
	type found struct {
		objects []listed
		skipped []ArchiveDay
	}
	var walk func(prefix string, elems []string) (found, error)
	walk = func(prefix string, elems []string) (found, error) {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return found{}, ctx.Err()
		}
		var entries []*blob.ListObject
		it := b.List(&blob.ListOptions{Prefix: prefix, Delimiter: "/"})
		for {
			o, err := it.Next(ctx)
			if err == io.EOF {
				break
			}
			if err != nil {
				<-sem
				return found{}, &listError{prefix: prefix, err: err}
			}
			entries = append(entries, o)
		}
		<-sem // not held while the folders below are listed
		slices.SortFunc(entries, func(a, b *blob.ListObject) int { return strings.Compare(a.Key, b.Key) })
		parts := make([]found, len(entries))
		errs := make([]error, len(entries))
		var wg sync.WaitGroup
		for i, o := range entries {
			name := strings.TrimSuffix(strings.TrimPrefix(o.Key, prefix), "/")
			if name == "" || !o.IsDir && strings.HasSuffix(o.Key, "/") {
				// The folder's own marker object, or that of a folder in
				// it, which the stores list as a folder only, but some
				// emulators (gofakes3, Azurite) as an object too.
				continue
			}
			sub := append(elems[:len(elems):len(elems)], name)
			if o.IsDir {
				if !choose(sub, true) {
					continue
				}
				if day, skip := skipArchiveDay(o.Key, opts.ArchiveSince); skip {
					parts[i].skipped = []ArchiveDay{{Folder: ref.name + "/" + o.Key, Day: day}}
					continue
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					parts[i], errs[i] = walk(o.Key, sub)
				}()
				continue
			}
			if !choose(sub, false) {
				continue
			}
			etag, gen := versionOf(o)
			parts[i].objects = []listed{{key: o.Key, size: o.Size, etag: etag, generation: gen}}
		}
		wg.Wait()
		var all found
		for i := range parts {
			if errs[i] != nil {
				return found{}, errs[i]
			}
			all.objects = append(all.objects, parts[i].objects...)
			all.skipped = append(all.skipped, parts[i].skipped...)
		}
		return all, nil
	}
	all, err := walk(prefix, nil)
	if err != nil {
		return nil, err
	}
	if opts.ArchiveSkipped != nil {
		for _, d := range all.skipped {
			opts.ArchiveSkipped(d)
		}
	}
	return all.objects, nil
}

// detectObject detects the format of an object from its name, else its
// first bytes.
func detectObject(ctx context.Context, src Source, opts Options) (string, error) {
	if f := formatByName(src.Path).format; f != "" {
		return f, nil
	}
	in, err := openObjectInput(ctx, src, opts, nil)
	if err != nil {
		return "", err
	}
	defer in.Close()
	s := newStream(in.r, 0, in.size)
	head, err := s.peek(ctx, sniffHeadSize)
	if err != nil {
		return "", fileError(src.Path, err)
	}
	f, err := sniff(head)
	if err != nil {
		return "", fmt.Errorf("%s: %w", src.Path, err)
	}
	return f, nil
}

// openObjectInput opens an object as the input of a reader: streamed
// from the store, its compression detected from its first bytes, a
// plain one seekable by range reads.
func openObjectInput(ctx context.Context, src Source, opts Options, progress *atomic.Int64) (*input, error) {
	st := newObjectStream(ctx, src.obj, opts.ObjectRetry)
	in := &input{path: src.Path, member: st, fileBacked: true, seekable: true, size: src.obj.size, seeker: st, object: true}
	in.count = countingReader{r: st, progress: progress}
	return in, in.decompress()
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }
