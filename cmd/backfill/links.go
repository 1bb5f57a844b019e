package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// warnBrokenLink returns the readers.Options.BrokenLink of a command: it
// says on stderr, once for each symbolic link inside a folder or glob
// that leads nowhere, that the link was skipped and why.
func warnBrokenLink(command string, stderr io.Writer) func(path string, err error) {
	return func(path string, err error) {
		cause := err
		if pe, ok := errors.AsType[*fs.PathError](err); ok {
			cause = pe.Err
		}
		target := ""
		if t, lerr := os.Readlink(path); lerr == nil {
			target = " to " + t
		}
		fmt.Fprintf(stderr, "backfill %s: warning: skipped %s, a symbolic link%s that leads to no file: %v\n", command, path, target, cause)
	}
}
