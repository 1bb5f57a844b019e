package importer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/gofrs/flock"
)

// ErrLocked is wrapped by the error of a run that finds its checkpoint or
// its rejects file in use by another run; the error is a *LockedError.
var ErrLocked = errors.New("in use by another run")

// LockHolder is the record of the run that holds a lock: its process id,
// the host it runs on and when it took the lock. The lock of a checkpoint
// in a bucket also records the run's id and its last heartbeat.
type LockHolder struct {
	PID   int       `json:"pid"`
	Host  string    `json:"host"`
	Since time.Time `json:"since"`
	// Run is the id of the run (Report.RunID); set in the lock of a
	// checkpoint in a bucket.
	Run string `json:"run,omitempty"`
	// Heartbeat is when the run last refreshed the lock of its
	// checkpoint in a bucket (see LockStaleAfter).
	Heartbeat time.Time `json:"heartbeat,omitzero"`
}

// LockedError is the error of a run whose checkpoint or rejects file is in
// use by another run. It matches ErrLocked.
type LockedError struct {
	// What is "checkpoint" or "rejects file".
	What string
	// Path is the checkpoint or the rejects file, as given.
	Path string
	// Holder is the record of the run that holds the lock; nil when its
	// lock file holds none that can be read (it may be writing it).
	Holder *LockHolder
}

// Error names the file, and the process and host of the run that holds it.
func (e *LockedError) Error() string {
	if e.Holder == nil {
		return fmt.Sprintf("%s %s is in use by another run; wait for it to end, or stop it", e.What, e.Path)
	}
	if !e.Holder.Heartbeat.IsZero() {
		return fmt.Sprintf("%s %s is in use by another run (pid %d on host %s, since %s, last heartbeat %s); wait for it to end, or stop it: its lock is taken over once its heartbeat is %s old",
			e.What, e.Path, e.Holder.PID, e.Holder.Host, e.Holder.Since.UTC().Format(time.RFC3339), e.Holder.Heartbeat.UTC().Format(time.RFC3339), LockStaleAfter)
	}
	return fmt.Sprintf("%s %s is in use by another run (pid %d on host %s, since %s); wait for it to end, or stop it",
		e.What, e.Path, e.Holder.PID, e.Holder.Host, e.Holder.Since.UTC().Format(time.RFC3339))
}

// Is reports whether target is ErrLocked.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// LockPath returns the lock file of the checkpoint or rejects file at path:
// a hidden file beside it, ".NAME.lock", which folders and globs given as
// sources skip. While a run holds the lock (an advisory lock on the whole
// file, which the system releases when the process ends), the file holds,
// from its second byte on, the run's LockHolder as JSON; the first byte is
// left alone, as Windows locks it.
func LockPath(path string) string {
	return filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".lock")
}

// holderOffset is where the holder record starts in a lock file: Windows
// locks the first byte, which no other handle may read or write.
const holderOffset = 1

// maxHolderBytes bounds the holder record read back.
const maxHolderBytes = 4 << 10

// fileLock is an exclusive lock held on a checkpoint or a rejects file.
type fileLock struct {
	lock *flock.Flock
}

// lockFile takes, without waiting, the exclusive lock of the checkpoint or
// rejects file at path (what says which) and records this process in it.
// It returns a *LockedError if another run holds it.
func lockFile(what, path string, started time.Time) (*fileLock, error) {
	lp := LockPath(path)
	l := flock.New(lp, flock.SetPermissions(0o600))
	ok, err := l.TryLock()
	if err != nil {
		return nil, fmt.Errorf("%s %s: lock %s: %w", what, path, lp, err)
	}
	if !ok {
		return nil, &LockedError{What: what, Path: path, Holder: readHolder(lp)}
	}
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	if err := writeHolder(lp, LockHolder{PID: os.Getpid(), Host: host, Since: started.UTC().Truncate(time.Second)}); err != nil {
		l.Unlock()
		return nil, fmt.Errorf("%s %s: lock %s: %w", what, path, lp, err)
	}
	return &fileLock{lock: l}, nil
}

// unlock releases the lock. The lock file stays: removing it would let a
// run that opened it before the removal lock a file no other run sees.
func (l *fileLock) unlock() error {
	if l == nil {
		return nil
	}
	return l.lock.Unlock()
}

// writeHolder writes h into the lock file at path, from holderOffset on,
// and cuts off what an earlier, longer record left after it.
func writeHolder(path string, h LockHolder) error {
	b, err := json.Marshal(h)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(b, holderOffset); err != nil {
		f.Close()
		return err
	}
	if err := f.Truncate(holderOffset + int64(len(b))); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// readHolder reads the holder record of the lock file at path; nil if there
// is none that can be read.
func readHolder(path string) *LockHolder {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var h LockHolder
	if err := json.NewDecoder(io.NewSectionReader(f, holderOffset, maxHolderBytes)).Decode(&h); err != nil || h.PID == 0 {
		return nil
	}
	return &h
}

// IsDevice reports whether path exists and is not a regular file, as
// /dev/null is: writes to it do not mix in a file, and its folder is not
// the run's to write a lock file into.
func IsDevice(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.Mode().IsRegular()
}

// lockFiles takes the locks of the run's checkpoint and rejects file, those
// it has (a rejects file that is a device, as /dev/null, takes none), and
// returns the function that releases them. A checkpoint in a bucket is
// opened, and returned, with its lock taken for the run runID.
func (c *Config) lockFiles(ctx context.Context, started time.Time, runID string) (func(), *bucketCheckpoint, error) {
	var held []*fileLock
	var bucket *bucketCheckpoint
	release := func() {
		for _, l := range held {
			l.unlock()
		}
		if bucket != nil {
			bucket.unlock()
		}
	}
	if IsBucketURL(c.CheckpointPath) {
		var err error
		if bucket, err = lockBucketCheckpoint(ctx, c.CheckpointPath, started, runID); err != nil {
			return nil, nil, err
		}
	} else if c.CheckpointPath != "" {
		if err := os.MkdirAll(filepath.Dir(c.CheckpointPath), 0o700); err != nil {
			return nil, nil, fmt.Errorf("checkpoint %s: %w", c.CheckpointPath, err)
		}
		l, err := lockFile("checkpoint", c.CheckpointPath, started)
		if err != nil {
			return nil, nil, err
		}
		held = append(held, l)
	}
	if c.RejectsPath != "" && !IsDevice(c.RejectsPath) {
		// Its folder is made if missing; one that cannot be is named by
		// the lock's error below.
		os.MkdirAll(filepath.Dir(c.RejectsPath), 0o700)
		l, err := lockFile("rejects file", c.RejectsPath, started)
		if err != nil {
			release()
			return nil, nil, err
		}
		held = append(held, l)
	}
	return release, bucket, nil
}
