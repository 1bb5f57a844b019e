package main

import (
	"fmt"
	"os"
	"testing"
)

// pkgDir is the package's source folder, the working directory the tests
// were started in.
var pkgDir string

// testDir is the temporary working directory of the tests, removed when
// they end.
var testDir string

// TestMain runs the tests in a temporary working directory, so that the
// checkpoints and rejects files that commands keep there by default do not
// land in the source tree.
func TestMain(m *testing.M) {
	var err error
	if pkgDir, err = os.Getwd(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	dir, err := os.MkdirTemp("", "backfill-cmd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testDir = dir
	if err := os.Chdir(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
