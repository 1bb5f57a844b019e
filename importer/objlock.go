package importer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
)

// The lock of a checkpoint kept in a bucket is an object beside it,
// created only if absent, that holds its run's LockHolder. The run
// rewrites it with a fresh heartbeat every LockRefreshInterval while it
// lives and deletes it when it ends. Another run takes it over only when
// it is stale: its heartbeat is more than LockStaleAfter older than the
// clock of the run that finds it, or its holder ran on the same host
// under a process id that no longer exists (a run that was killed).
//
// A takeover, and each refresh, replaces the lock object only on
// condition that it is still the version that was read (If-Match on S3
// and Azure, a generation match on Google Cloud Storage): of two runs
// that find the same stale lock, one replaces it and the other's write is
// refused, so that it finds the lock held; a run whose lock was taken over
// between the read and the write of its refresh finds it lost.
const (
	// LockRefreshInterval is how often a run refreshes the heartbeat of
	// the lock of its checkpoint in a bucket.
	LockRefreshInterval = 30 * time.Second
	// LockStaleAfter is how long the lock of a checkpoint in a bucket
	// may go without a heartbeat before another run takes it over; a run
	// that could not refresh its own for as long stops at its next
	// checkpoint write, since another run may have taken it over.
	LockStaleAfter = 2 * time.Minute
)

// ErrLockLost is wrapped by the error of a run whose lock on its
// checkpoint in a bucket was taken over by another run, or could not be
// refreshed for LockStaleAfter: the run stops rather than overwrite the
// checkpoint of the run that holds the lock now.
var ErrLockLost = errors.New("lock lost")

// objectLock is the lock a run holds on its checkpoint in a bucket.
type objectLock struct {
	bucket *blob.Bucket
	key    string // the lock object's key
	name   string // the checkpoint, for messages
	what   string // "checkpoint"

	// now and alive are seams for tests: the clock, and whether a
	// process of this host with a given id exists.
	now   func() time.Time
	alive func(pid int) bool
	// replacing, if set, is called once the lock object is read and
	// before it is replaced (taken over or refreshed): a seam for tests,
	// where another run acts between the two.
	replacing func()

	mu        sync.Mutex
	holder    LockHolder // this run's record, its heartbeat the last written
	refreshed time.Time  // when the last refresh succeeded, by now
	lost      error      // set once the lock is found lost

	stop chan struct{}
	done chan struct{}
}

// newObjectLock returns the lock, not yet taken, of the checkpoint c for
// the run runID started at started.
func newObjectLock(c *bucketCheckpoint, runID string, started time.Time) *objectLock {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	return &objectLock{
		bucket: c.bucket, key: c.url.lockKey(), name: c.url.name, what: "checkpoint",
		now: time.Now, alive: processAlive,
		holder: LockHolder{PID: os.Getpid(), Host: host, Since: started.UTC().Truncate(time.Second), Run: runID},
	}
}

// stale reports whether the lock record h may be taken over now.
func (l *objectLock) stale(h LockHolder) bool {
	if l.now().Sub(h.Heartbeat) > LockStaleAfter {
		return true
	}
	return h.Host == l.holder.Host && h.PID != l.holder.PID && !l.alive(h.PID)
}

// record returns this run's lock record with a heartbeat of now.
func (l *objectLock) record(now time.Time) ([]byte, LockHolder, error) {
	h := l.holder
	h.Heartbeat = now.UTC()
	b, err := json.Marshal(h)
	return b, h, err
}

// acquire takes the lock: it creates the lock object if it is absent, or
// replaces it if it is stale (see LockStaleAfter), on condition that it
// is still the version found stale. It returns a *LockedError if another
// run holds it.
func (l *objectLock) acquire(ctx context.Context) error {
	for attempt := 0; attempt < 3; attempt++ {
		now := l.now()
		b, h, err := l.record(now)
		if err != nil {
			return err
		}
		err = l.bucket.WriteAll(ctx, l.key, b, &blob.WriterOptions{IfNotExist: true, ContentType: "application/json"})
		if err == nil {
			l.took(h, now)
			return nil
		}
		if gcerrors.Code(err) != gcerrors.FailedPrecondition {
			return fmt.Errorf("%s %s: lock %s: %w", l.what, l.name, l.key, err)
		}
		other, version, err := l.read(ctx)
		if errors.Is(err, os.ErrNotExist) {
			continue // released meanwhile
		}
		if err != nil {
			return err
		}
		if other == nil {
			return fmt.Errorf("%s %s: its lock object %s holds no record that can be read; if no run uses the checkpoint, delete that object", l.what, l.name, l.key)
		}
		if !l.stale(*other) {
			return &LockedError{What: l.what, Path: l.name, Holder: other}
		}
		if l.replacing != nil {
			l.replacing()
		}
		now = l.now()
		if b, h, err = l.record(now); err != nil {
			return err
		}
		err = l.bucket.WriteAll(ctx, l.key, b, &blob.WriterOptions{ContentType: "application/json", BeforeWrite: version.ifUnchanged})
		switch {
		case err == nil:
			l.took(h, now)
			return nil
		case changedSince(err):
			continue // another run took it over, or released it, since it was read
		case errors.Is(err, errNoConditionalWrite):
			return fmt.Errorf("%s %s: take over the stale lock %s: %w, which keeps two runs from both taking it over; if no run uses the checkpoint, delete that object", l.what, l.name, l.key, errNoConditionalWrite)
		}
		return fmt.Errorf("%s %s: take over the stale lock %s: %w", l.what, l.name, l.key, err)
	}
	return &LockedError{What: l.what, Path: l.name}
}

// took records that this run wrote the lock record h at now.
func (l *objectLock) took(h LockHolder, now time.Time) {
	l.mu.Lock()
	l.holder, l.refreshed = h, now
	l.mu.Unlock()
}

// read returns the record in the lock object and the version of the
// object read; nil if it holds none that can be read, and an error
// wrapping os.ErrNotExist if there is none.
func (l *objectLock) read(ctx context.Context) (*LockHolder, objectVersion, error) {
	b, version, err := readVersion(ctx, l.bucket, l.key)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return nil, version, fmt.Errorf("%s %s: lock %s: %w", l.what, l.name, l.key, os.ErrNotExist)
	}
	if err != nil {
		return nil, version, fmt.Errorf("%s %s: read lock %s: %w", l.what, l.name, l.key, err)
	}
	var h LockHolder
	if json.Unmarshal(b, &h) != nil || h.PID == 0 {
		return nil, version, nil
	}
	return &h, version, nil
}

// verify returns an error wrapping ErrLockLost if the lock object no
// longer holds this run's record, or if the run could not refresh it for
// LockStaleAfter; once lost, the lock stays lost. Other errors of the
// store are returned as they are.
func (l *objectLock) verify(ctx context.Context) error {
	_, err := l.check(ctx)
	return err
}

// check is verify, and returns the version of the lock object that holds
// this run's record.
func (l *objectLock) check(ctx context.Context) (objectVersion, error) {
	l.mu.Lock()
	lost, refreshed, run := l.lost, l.refreshed, l.holder.Run
	l.mu.Unlock()
	if lost != nil {
		return objectVersion{}, lost
	}
	if d := l.now().Sub(refreshed); d > LockStaleAfter {
		return objectVersion{}, l.setLost(fmt.Errorf("%s %s: %w: its heartbeat could not be written for %s, and another run may have taken the checkpoint over; this run stops so as not to overwrite it",
			l.what, l.name, ErrLockLost, d.Truncate(time.Second)))
	}
	h, version, err := l.read(ctx)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return objectVersion{}, l.setLost(fmt.Errorf("%s %s: %w: its lock object %s was deleted; this run stops so as not to overwrite the checkpoint of another run", l.what, l.name, ErrLockLost, l.key))
	case err != nil:
		return objectVersion{}, err
	case h == nil || h.Run != run:
		who := "another run"
		if h != nil {
			who = fmt.Sprintf("another run (pid %d on host %s, since %s)", h.PID, h.Host, h.Since.UTC().Format(time.RFC3339))
		}
		return objectVersion{}, l.setLost(fmt.Errorf("%s %s: %w: %s took it over, finding its heartbeat more than %s old; this run stops so as not to overwrite that run's checkpoint",
			l.what, l.name, ErrLockLost, who, LockStaleAfter))
	}
	return version, nil
}

// setLost records that the lock is lost, and returns err.
func (l *objectLock) setLost(err error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lost == nil {
		l.lost = err
	}
	return l.lost
}

// refresh writes a fresh heartbeat into the lock object, once it is found
// to be still this run's, on condition that it is still the version so
// found: a run that took the lock over in between makes the refresh find
// the lock lost.
func (l *objectLock) refresh(ctx context.Context) error {
	version, err := l.check(ctx)
	if err != nil {
		return err
	}
	if l.replacing != nil {
		l.replacing()
	}
	now := l.now()
	b, h, err := l.record(now)
	if err != nil {
		return err
	}
	err = l.bucket.WriteAll(ctx, l.key, b, &blob.WriterOptions{ContentType: "application/json", BeforeWrite: version.ifUnchanged})
	if changedSince(err) {
		if lost := l.verify(ctx); lost != nil {
			return lost
		}
	}
	if err != nil {
		return fmt.Errorf("%s %s: refresh lock %s: %w", l.what, l.name, l.key, err)
	}
	l.took(h, now)
	return nil
}

// keepAlive refreshes the lock every interval until release stops it.
// A refresh that fails is tried again at the next tick; a lock found
// lost is not refreshed again, and the next checkpoint write fails.
func (l *objectLock) keepAlive(interval time.Duration) {
	l.stop, l.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(l.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-l.stop:
				return
			case <-t.C:
				ctx, cancel := context.WithTimeout(context.Background(), interval)
				err := l.refresh(ctx)
				cancel()
				if errors.Is(err, ErrLockLost) {
					return
				}
			}
		}
	}()
}

// release stops the heartbeat and deletes the lock object, if it is still
// this run's.
func (l *objectLock) release(ctx context.Context) error {
	if l.stop != nil {
		close(l.stop)
		<-l.done
		l.stop = nil
	}
	if l.verify(ctx) != nil {
		return nil // another's now, or unknown: not this run's to delete
	}
	if err := l.bucket.Delete(ctx, l.key); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return fmt.Errorf("%s %s: release lock %s: %w", l.what, l.name, l.key, err)
	}
	return nil
}
