package readers

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"syscall"
	"testing"
)

// linkTree writes a tree whose folders are reached through symbolic links
// into the current directory:
//
//	data/a.csv
//	data/sub -> ../shared          a linked sub-folder
//	data/sub2 -> ../shared         a second link to the same folder
//	data/loop -> ..                a link to the folder that holds data
//	data/self -> .                 a link to data itself
//	data/gone.csv -> missing.csv   a dangling link
//	data/ring1 -> ring2 -> ring1   a loop of links
//	shared/b.csv
//	shared/deep/c.csv
//	shared/dead.csv -> nowhere.csv a dangling link reached twice
//	shared/deep/up -> ..           a link to a folder of the path
//	datalink -> data               a link to the folder
func linkTree(t *testing.T) {
	t.Helper()
	writeFile(t, ".", "data/a.csv", []byte("a\n1\n"))
	writeFile(t, ".", "shared/b.csv", []byte("a\n2\n"))
	writeFile(t, ".", "shared/deep/c.csv", []byte("a\n3\n"))
	links := [][2]string{
		{"../shared", "data/sub"},
		{"../shared", "data/sub2"},
		{"..", "data/loop"},
		{".", "data/self"},
		{"missing.csv", "data/gone.csv"},
		{"ring2", "data/ring1"},
		{"ring1", "data/ring2"},
		{"nowhere.csv", "shared/dead.csv"},
		{"..", "shared/deep/up"},
		{"data", "datalink"},
	}
	for _, l := range links {
		if err := os.Symlink(l[0], l[1]); err != nil {
			t.Skip("no symbolic links:", err)
		}
	}
}

// TestCase16SymlinkedFolders: symbolic links to folders inside a folder
// source are followed, loops are not walked twice, each file is read once,
// a folder given as a link works with or without a trailing slash, and
// each dangling link is reported once.
func TestCase16SymlinkedFolders(t *testing.T) {
	t.Chdir(t.TempDir())
	linkTree(t)
	// data/loop (..) leads to the folder that holds data, out of it and
	// back: a loop, not followed. data/self is data itself, and
	// data/sub2 the folder data/sub reached: each file is listed once,
	// under the first path in lexical order.
	folder := []string{"data/a.csv", "data/sub/b.csv", "data/sub/deep/c.csv"}
	tests := []struct {
		name   string
		args   []string
		paths  []string
		broken []string
	}{
		{name: "folder", args: []string{"data"}, paths: folder,
			broken: []string{"data/gone.csv", "data/ring1", "data/ring2", "data/sub/dead.csv"}},
		{name: "linked folder without a slash", args: []string{"datalink"},
			paths:  []string{"datalink/a.csv", "datalink/sub/b.csv", "datalink/sub/deep/c.csv"},
			broken: []string{"datalink/gone.csv", "datalink/ring1", "datalink/ring2", "datalink/sub/dead.csv"}},
		{name: "linked folder with a slash", args: []string{"datalink/"},
			paths:  []string{"datalink/a.csv", "datalink/sub/b.csv", "datalink/sub/deep/c.csv"},
			broken: []string{"datalink/gone.csv", "datalink/ring1", "datalink/ring2", "datalink/sub/dead.csv"}},
		{name: "linked sub-folder", args: []string{"data/sub"},
			paths:  []string{"data/sub/b.csv", "data/sub/deep/c.csv"},
			broken: []string{"data/sub/dead.csv"}},
		{name: "glob through links", args: []string{"data/**/c.csv"},
			paths: []string{"data/sub/deep/c.csv"}},
		// data/self is data, where the glob starts: a loop, not read.
		{name: "glob naming linked folders", args: []string{"data/s*"},
			paths:  []string{"data/sub/b.csv", "data/sub/deep/c.csv"},
			broken: []string{"data/sub/dead.csv"}},
		{name: "glob of a dangling link", args: []string{"data/*.csv"}, paths: []string{"data/a.csv"},
			broken: []string{"data/gone.csv"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var broken []string
			opts := Options{BrokenLink: func(path string, err error) {
				if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ELOOP) {
					t.Errorf("broken link %s: %v, want a missing target or a loop", path, err)
				}
				broken = append(broken, filepath.ToSlash(path))
			}}
			sources, err := Expand(tt.args, opts)
			if err != nil {
				t.Fatal(err)
			}
			var paths []string
			for _, s := range sources {
				paths = append(paths, filepath.ToSlash(s.Path))
			}
			if !reflect.DeepEqual(paths, tt.paths) {
				t.Errorf("paths\n got %q\nwant %q", paths, tt.paths)
			}
			if !reflect.DeepEqual(broken, tt.broken) {
				t.Errorf("broken links\n got %q\nwant %q", broken, tt.broken)
			}
		})
	}
}

// TestCase16DanglingLinkGiven: a dangling link named on the command line is
// an error naming it, like any missing file.
func TestCase16DanglingLinkGiven(t *testing.T) {
	t.Chdir(t.TempDir())
	linkTree(t)
	_, err := Expand([]string{"data/gone.csv"}, Options{})
	if !errors.Is(err, fs.ErrNotExist) || err.Error() != "stat data/gone.csv: no such file or directory" {
		t.Fatalf("Expand: %v, want stat data/gone.csv: no such file or directory", err)
	}
}
