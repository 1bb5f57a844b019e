package importer

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// RejectsPathFor returns the rejects file of the import whose checkpoint
// is at checkpointPath: beside it, named after it, ".rejects.ndjson" in
// place of its extension (".backfill/3f2a….json" keeps its rejects in
// ".backfill/3f2a….rejects.ndjson"), so that two imports never share one.
// The rejects file of a checkpoint in a bucket, which is appended to, is a
// local file: under .backfill in the working folder, in a folder named
// after the store and the bucket, named after the checkpoint's key
// ("s3://logs/jobs/may.json" keeps its rejects in
// ".backfill/s3-logs/jobs/may.rejects.ndjson").
func RejectsPathFor(checkpointPath string) string {
	if IsBucketURL(checkpointPath) {
		if o, err := parseObjectURL(checkpointPath); err == nil {
			scheme, rest, _ := strings.Cut(o.name, "://")
			bucket, _, _ := strings.Cut(rest, "/")
			key := strings.TrimPrefix(path.Clean("/"+o.key), "/")
			key = strings.TrimSuffix(key, path.Ext(key))
			return filepath.Join(DefaultCheckpointDir, scheme+"-"+bucket, filepath.FromSlash(key)) + ".rejects.ndjson"
		}
	}
	return strings.TrimSuffix(checkpointPath, filepath.Ext(checkpointPath)) + ".rejects.ndjson"
}

// asideName returns the name STEM.N.EXT of the n-th rejects file moved
// aside from the one at path (STEM.EXT).
func asideName(path string, n int) string {
	ext := filepath.Ext(path)
	return strings.TrimSuffix(path, ext) + "." + strconv.Itoa(n) + ext
}

// asidePath returns the first name of the form STEM.N.EXT, N from 1 on,
// beside the rejects file at path (STEM.EXT) that names no file.
func asidePath(path string) (string, error) {
	for n := 1; ; n++ {
		p := asideName(path, n)
		if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
			return p, nil
		} else if err != nil {
			return "", err
		}
	}
}

// isAsideOf reports whether name, a file's base name, is that of a rejects
// file that a run moved aside from base (STEM.N.EXT of STEM.EXT).
func isAsideOf(name, base string) bool {
	ext := filepath.Ext(base)
	stem := strings.TrimSuffix(base, ext)
	mid, ok := strings.CutPrefix(name, stem+".")
	if !ok {
		return false
	}
	mid, ok = strings.CutSuffix(mid, ext)
	if !ok || mid == "" {
		return false
	}
	n, err := strconv.Atoi(mid)
	return err == nil && n > 0 && strconv.Itoa(n) == mid
}

// prepareRejects readies the rejects file at path before openRejects
// appends to it. A run that does not resume a checkpoint (the first run, a
// restart, a run whose checkpoint was deleted or that keeps none) starts
// an empty file: one that holds rejects is moved aside, and its new name
// returned as moved. A resumed run whose checkpoint names another rejects
// file, prev, continues in path: the rejects of the earlier runs, the
// first offset bytes of prev, are copied into it (a file at path that
// holds anything is moved aside first), and prev is returned as copied;
// prev itself is left as it is.
func prepareRejects(path string, resume bool, prev string, offset int64) (moved, copied string, err error) {
	if path == "" || IsDevice(path) {
		return "", "", nil
	}
	if resume && (prev == "" || samePath(prev, path)) {
		return "", "", nil
	}
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return "", "", fmt.Errorf("rejects: %w", err)
	case st.Size() > 0:
		if moved, err = asidePath(path); err != nil {
			return "", "", fmt.Errorf("rejects: %w", err)
		}
		if err := os.Rename(path, moved); err != nil {
			return "", "", fmt.Errorf("rejects: move %s aside: %w", path, err)
		}
	}
	if !resume {
		return moved, "", nil
	}
	if err := copyPrefix(prev, path, offset); err != nil {
		return moved, "", fmt.Errorf("rejects: continue %s in %s: %w", prev, path, err)
	}
	return moved, prev, nil
}

// copyPrefix writes the first n bytes of the file at from to a new file
// at to, and syncs it.
func copyPrefix(from, to string, n int64) error {
	in, err := os.Open(from)
	if errors.Is(err, os.ErrNotExist) && n == 0 {
		return nil
	}
	if err != nil {
		return fmt.Errorf("the checkpoint records %d bytes of rejects in it: %w", n, err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	got, err := io.Copy(out, io.LimitReader(in, n))
	if err == nil && got < n {
		err = fmt.Errorf("it has %d bytes, but the checkpoint records %d: it was changed or replaced", got, n)
	}
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(to)
	}
	return err
}

// samePath reports whether a and b name the same file: the same absolute,
// cleaned path, or, for files that exist, the same file.
func samePath(a, b string) bool {
	if a == b {
		return true
	}
	aa, errA := filepath.Abs(a)
	ab, errB := filepath.Abs(b)
	if errA == nil && errB == nil && aa == ab {
		return true
	}
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(sa, sb)
}

// newRunID returns a random id for a run: 16 hex digits.
func newRunID() string {
	var b [8]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// rejectsSummary is what the report's summary says of the rejects file.
func (r *Report) rejectsSummary() string {
	var b strings.Builder
	if r.RejectsCopiedFrom != "" {
		fmt.Fprintf(&b, "  rejects of the earlier runs copied from %s\n", r.RejectsCopiedFrom)
	}
	if r.RejectsFile != "" && r.Rejected > 0 {
		run := ""
		if r.RunID != "" {
			run = " (run " + r.RunID + ")"
		}
		fmt.Fprintf(&b, "  rejects written to %s%s; see them with: backfill rejects %s\n", r.RejectsFile, run, r.RejectsFile)
	}
	if r.RejectsMovedTo != "" {
		fmt.Fprintf(&b, "  an earlier rejects file was moved aside to %s\n", r.RejectsMovedTo)
	}
	return b.String()
}

// openRejectsFile opens the run's rejects file for the checkpoint it
// resumes, cp (nil for a fresh run), which records offset bytes of
// rejects: it is cut back to them, or, given another file, continued in
// it (prepareRejects). When the earlier runs wrote their rejects nowhere
// (a preview, or a device such as /dev/null), there is nothing to keep,
// and the file starts as a fresh run's does. The earlier runs' rejects
// are found by the run ids of their lines (see earlierRejects), so that
// an import given the --rejects file of another, which moved this one's
// aside, neither cuts the other's rejects nor loses its own.
func (r *run) openRejectsFile(cp *Checkpoint, offset int64) error {
	resume := cp != nil
	var prev string
	if resume {
		r.runs = append(r.runs, cp.Runs...)
		var err error
		if prev, err = earlierRejects(cp, offset); err != nil {
			return err
		}
		if prev == "" {
			resume, offset = false, 0
		}
	}
	r.runs = append(r.runs, r.id)
	var err error
	r.rejectsMoved, r.rejectsCopied, err = prepareRejects(r.cfg.RejectsPath, resume, prev, offset)
	if err != nil {
		return err
	}
	if r.rejects, err = openRejects(r.cfg.RejectsPath, resume, offset); err != nil {
		return err
	}
	r.rejects.crash = r.crash
	r.rejects.run, r.rejects.now = r.id, time.Now
	return nil
}

// earlierRejects returns the file that holds the rejects of the earlier
// runs of the import whose checkpoint is cp, offset bytes of them: the
// rejects file it records, unless that file's first line is of a run of
// another import, which then moved this import's file aside: then the
// file moved aside (NAME.N.EXT) whose first line is of one of cp's runs.
// It returns "" when the earlier runs kept no rejects (none written, a
// preview, a device), and an error when offset bytes of them cannot be
// found. A first line without a run id (of an older backfill) or torn is
// taken for the import's own.
func earlierRejects(cp *Checkpoint, offset int64) (string, error) {
	prev := cp.RejectsFile
	if prev == "" || IsDevice(prev) {
		return "", nil
	}
	ours := func(path string) bool {
		run, ok := firstRun(path)
		return !ok || run == "" || slices.Contains(cp.Runs, run)
	}
	if len(cp.Runs) == 0 || ours(prev) {
		return prev, nil
	}
	for n := 1; ; n++ {
		p := asideName(prev, n)
		st, err := os.Stat(p)
		if err != nil {
			break
		}
		if st.Size() >= offset && ours(p) {
			return p, nil
		}
	}
	if offset == 0 {
		// Nothing of this import's to keep: the file is another's, and
		// moved aside as a fresh run's would be.
		return "", nil
	}
	return "", fmt.Errorf("rejects: %s holds the rejects of another import, and none of the files moved aside beside it the %d bytes of rejects the checkpoint records: give this import its own --rejects, or run it with --restart to import everything again", prev, offset)
}

// firstRun returns the run id of the first line of the rejects file at
// path; ok is false when there is no complete first line to read.
func firstRun(path string) (run string, ok bool) {
	f, err := os.Open(path)
	if err != nil {
		return "", false
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadBytes('\n')
	if err != nil {
		return "", false
	}
	var rej struct {
		Run string `json:"run"`
	}
	if json.Unmarshal(line, &rej) != nil {
		return "", false
	}
	return rej.Run, true
}
