package readers

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// ErrChanged is what every *ChangedError is (errors.Is).
var ErrChanged = errors.New("file changed while being read")

// ChangedError is the error of a file whose size or modification time
// changed while it was read: a file still being written, or rewritten. The
// rows before it are whole; the reader stops instead of reading a last line
// the writer may not have finished. Once the file no longer changes, an
// import resumes it from its checkpoint.
type ChangedError struct {
	Path string
	// Size and ModTime are the file's when it was opened; NowSize and
	// NowModTime when its end was reached.
	Size, NowSize       int64
	ModTime, NowModTime time.Time
	// Version is, for an object in a bucket, the version read (its ETag
	// or generation); NowSize is then -1 when the size the store has now
	// is not known. Empty for a file.
	Version string
}

// Error says what changed; the reader's error that wraps it names the
// file, as it does for every error of reading.
func (e *ChangedError) Error() string {
	if e.Version != "" {
		what := fmt.Sprintf("it was replaced or deleted after it was listed (the %s of %d bytes is no longer there)", e.Version, e.Size)
		if e.NowSize >= 0 && e.NowSize != e.Size {
			what = fmt.Sprintf("its size was %d bytes when it was listed, is now %d", e.Size, e.NowSize)
		}
		return fmt.Sprintf("%v: %s", ErrChanged, what)
	}
	what := fmt.Sprintf("its size was %d bytes when it was opened, is now %d", e.Size, e.NowSize)
	if e.Size == e.NowSize {
		what = fmt.Sprintf("it was modified at %s after it was opened", e.NowModTime.UTC().Format(time.RFC3339Nano))
	}
	return fmt.Sprintf("%v: %s", ErrChanged, what)
}

// Is reports whether target is ErrChanged.
func (e *ChangedError) Is(target error) bool { return target == ErrChanged }

// atFileEnd, if set, is called when a stableFile reaches the end it had
// when it was opened, before it checks that the file is unchanged: a seam
// for tests that change the file at that point.
var atFileEnd func(path string)

// stableFile reads a regular file up to the size it had when it was
// opened; there, it checks that the size and modification time are still
// those, and ends with a *ChangedError if not, or io.EOF. A file that grew
// while it was read thus never yields the bytes a writer appended, nor a
// last line cut short; one that shrank or was rewritten in place is an
// error, not a clean end.
type stableFile struct {
	f    *os.File
	path string
	size int64
	mod  time.Time
	pos  int64 // offset of the next byte
	end  error // io.EOF or a *ChangedError, once the end is reached
}

func newStableFile(f *os.File, path string, fi os.FileInfo) *stableFile {
	return &stableFile{f: f, path: path, size: fi.Size(), mod: fi.ModTime()}
}

func (s *stableFile) Read(p []byte) (int, error) {
	if s.pos >= s.size {
		return 0, s.atEnd()
	}
	if rest := s.size - s.pos; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := s.f.Read(p)
	s.pos += int64(n)
	if err == io.EOF {
		return n, s.atEnd() // it shrank
	}
	return n, err
}

// seeked records that the file was moved to offset off.
func (s *stableFile) seeked(off int64) { s.pos, s.end = off, nil }

func (s *stableFile) atEnd() error {
	if s.end != nil {
		return s.end
	}
	if atFileEnd != nil {
		atFileEnd(s.path)
	}
	fi, err := s.f.Stat()
	if err != nil {
		return fmt.Errorf("%s: %w", s.path, err)
	}
	s.end = io.EOF
	if fi.Size() != s.size || s.pos < s.size || !fi.ModTime().Equal(s.mod) {
		s.end = &ChangedError{Path: s.path, Size: s.size, NowSize: fi.Size(), ModTime: s.mod, NowModTime: fi.ModTime()}
	}
	return s.end
}
