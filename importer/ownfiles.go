package importer

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/backfillhq/backfill/readers"
)

// ownFile is a file a run writes, with what it is compared by.
type ownFile struct {
	path, abs string
	st        os.FileInfo // nil when it does not exist (yet)
}

// ownFiles are the files a run writes: its checkpoint, its rejects file,
// the caller's Outputs and their lock files.
func (c *Config) ownFiles() []ownFile {
	var paths []string
	for _, p := range []string{c.CheckpointPath, c.RejectsPath} {
		if p != "" && !IsBucketURL(p) {
			paths = append(paths, p, LockPath(p))
		}
	}
	for _, p := range c.Outputs {
		if p != "" && p != "-" {
			paths = append(paths, p)
		}
	}
	own := make([]ownFile, len(paths))
	for i, p := range paths {
		own[i].path = p
		own[i].abs, _ = filepath.Abs(p)
		own[i].st, _ = os.Stat(p)
	}
	return own
}

// isOwnFile returns which of the files the run writes (own) the source at
// path is, whatever its name, if any: a rejects file that a run moved
// aside from the run's rejects file counts as the rejects file.
func (c *Config) isOwnFile(path string, own []ownFile) (string, bool) {
	if IsBucketURL(path) {
		return c.isOwnObject(path)
	}
	abs, _ := filepath.Abs(path)
	st, _ := os.Stat(path)
	for _, o := range own {
		if (abs != "" && abs == o.abs) || (st != nil && o.st != nil && os.SameFile(st, o.st)) {
			return o.path, true
		}
	}
	if c.RejectsPath != "" {
		dir, base := filepath.Split(c.RejectsPath)
		if isAsideOf(filepath.Base(path), base) && samePath(filepath.Dir(path), filepath.Clean(dir+".")) {
			return c.RejectsPath, true
		}
	}
	return "", false
}

// withoutOwnFiles drops from the sources that folders and globs expanded
// to the files the run writes (see Config.Outputs), so that an import
// never reads its own rejects, checkpoint or report back as input. A
// source named on its own that is one of them is an error.
func (r *run) withoutOwnFiles(sources []readers.Source) ([]readers.Source, error) {
	own := r.cfg.ownFiles()
	named := map[string]bool{}
	for _, arg := range r.cfg.Sources {
		named[filepath.Clean(arg)] = true
	}
	kept := sources[:0:0]
	for _, s := range sources {
		if s.Path == "-" {
			kept = append(kept, s)
			continue
		}
		p, ok := r.cfg.isOwnFile(s.Path, own)
		if !ok {
			kept = append(kept, s)
			continue
		}
		if named[filepath.Clean(s.Path)] {
			return nil, fmt.Errorf("%s is a file this import writes (%s), not one it can read: name another source", s.Path, p)
		}
	}
	if len(kept) == 0 {
		return nil, fmt.Errorf("no files to import in %s: it holds only files this import writes (its rejects, checkpoint or report)", strings.Join(r.cfg.Sources, ", "))
	}
	return kept, nil
}
