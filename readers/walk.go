package readers

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// walker lists the entries under a folder in lexical order, following
// symbolic links to folders as well as to files. A link that leads back to
// a folder of the path that reached it, or to a folder that holds the
// root (a loop either way), is not followed; a
// folder reached through two links is walked under each, and expand keeps
// each file once. A link whose target does not exist, or that cannot be
// resolved (a loop of links), is reported once to broken and skipped.
type walker struct {
	broken   func(path string, err error)
	reported map[string]bool // links reported, by canonical path
}

// newWalker returns a walker that reports broken links to broken (nil:
// none are reported).
func newWalker(broken func(path string, err error)) *walker {
	return &walker{broken: broken, reported: make(map[string]bool)}
}

// choose is what a walk asks of each entry below its root: elems are the
// elements of its path relative to the root (through the links that
// reached it), dir whether it is (or links to) a folder. For a
// folder it says whether to walk into it, for a file whether to list it.
// A broken link is asked about as a file: it is reported if it would be
// listed.
type choose func(elems []string, dir bool) bool

// walk lists the files under root (a folder, or a link to one) that choose
// takes, in lexical order, depth first, as filepath.WalkDir does, but
// through symbolic links. Only folders and regular files, or links to
// them, are considered.
func (w *walker) walk(root string, choose choose) ([]string, error) {
	fi, err := os.Stat(root)
	if err != nil {
		return nil, err
	}
	var files []string
	err = w.dir(root, nil, append(aboveRoot(root), fi), choose, &files)
	return files, err
}

// aboveRoot returns the folders that hold root on disk, from the top: a
// link to one of them would lead the walk out of root and back into it.
func aboveRoot(root string) []fs.FileInfo {
	real, err := filepath.EvalSymlinks(root)
	if err == nil {
		real, err = filepath.Abs(real)
	}
	if err != nil {
		return nil
	}
	var above []fs.FileInfo
	for dir := filepath.Dir(real); ; dir = filepath.Dir(dir) {
		if fi, err := os.Stat(dir); err == nil {
			above = append([]fs.FileInfo{fi}, above...)
		}
		if filepath.Dir(dir) == dir {
			return above
		}
	}
}

// dir walks the folder at path; ancestors are the folders that hold the
// root, then those of the path that reached it, itself last.
func (w *walker) dir(path string, elems []string, ancestors []fs.FileInfo, choose choose, files *[]string) error {
	entries, err := os.ReadDir(path)
	if err != nil {
		return err
	}
	for _, e := range entries {
		p := filepath.Join(path, e.Name())
		sub := append(elems[:len(elems):len(elems)], e.Name())
		t := e.Type()
		if t.IsRegular() {
			if choose(sub, false) {
				*files = append(*files, p)
			}
			continue
		}
		var fi fs.FileInfo
		switch {
		case t&fs.ModeSymlink != 0:
			if fi, err = os.Stat(p); err != nil {
				// Its target is missing, out of reach, or a loop of links.
				if choose(sub, false) {
					w.report(p, err)
				}
				continue
			}
			if fi.Mode().IsRegular() {
				if choose(sub, false) {
					*files = append(*files, p)
				}
				continue
			}
		case t.IsDir():
			if !choose(sub, true) {
				continue
			}
			if fi, err = e.Info(); err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					continue // removed while listed
				}
				return err
			}
		}
		if fi == nil || !fi.IsDir() || loops(fi, ancestors) {
			continue // sockets, devices, pipes; a folder that leads back
		}
		if t.IsDir() || choose(sub, true) {
			if err := w.dir(p, sub, append(ancestors, fi), choose, files); err != nil {
				return err
			}
		}
	}
	return nil
}

// loops reports whether the folder fi is one of the folders that led to
// it.
func loops(fi fs.FileInfo, ancestors []fs.FileInfo) bool {
	for _, a := range ancestors {
		if os.SameFile(fi, a) {
			return true
		}
	}
	return false
}

// report tells broken about a link that leads nowhere, once per link
// however many paths reach it.
func (w *walker) report(path string, err error) {
	if w.broken == nil {
		return
	}
	key := filepath.Join(canonicalPath(filepath.Dir(path)), filepath.Base(path))
	if w.reported[key] {
		return
	}
	w.reported[key] = true
	w.broken(path, err)
}
