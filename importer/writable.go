package importer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// checkWritable checks, before anything is sent, that the rejects file can
// be written: a run that cannot record a reject would stop at the first
// one, with messages already sent. The checkpoint is checked by its first
// write, which comes next; the command checks its own files (the report,
// --output).
func (r *run) checkWritable() error {
	if r.cfg.RejectsPath == "" {
		return nil
	}
	if err := CheckWritable(r.cfg.RejectsPath); err != nil {
		return fmt.Errorf("rejects: %w; nothing was sent", err)
	}
	return nil
}

// CheckWritable reports whether the file at path can be written, without
// changing it: an existing file is opened for appending and written
// nothing, which a device that refuses every write (/dev/full) refuses
// too; for a file that does not exist, a file is created in its folder (or
// in the nearest folder above that exists, where the run makes the rest)
// and removed.
func CheckWritable(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	switch {
	case err == nil:
		_, werr := f.Write(nil)
		cerr := f.Close()
		if werr != nil {
			return fmt.Errorf("%s cannot be written: %w", path, werr)
		}
		if cerr != nil {
			return fmt.Errorf("%s cannot be written: %w", path, cerr)
		}
		return nil
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%s cannot be written: %w", path, err)
	}
	// A folder that does not exist yet is made by the run: its nearest
	// existing parent must take files.
	dir := filepath.Dir(path)
	for {
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			break
		}
		up := filepath.Dir(dir)
		if up == dir {
			break
		}
		dir = up
	}
	probe, err := os.CreateTemp(dir, "."+filepath.Base(path)+".probe-*")
	if err != nil {
		return fmt.Errorf("%s cannot be created: %w", path, unwrapPath(err))
	}
	name := probe.Name()
	probe.Close()
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// unwrapPath returns the cause of a *os.PathError, whose own message names
// a temporary file the user never asked for.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("folder %s: %w", filepath.Dir(pe.Path), pe.Err)
	}
	return err
}
