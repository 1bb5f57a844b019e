package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// parseInterleaved parses flags that may come before, between or after the
// positional arguments, and returns the positional ones. "--" ends flags.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if rest[0] == "--" {
			return append(pos, rest[1:]...), nil
		}
		// flag stops at the first non-flag; "--" before it was consumed.
		consumed := len(args) - len(rest)
		if consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// command is a subcommand's flag set with its synopsis and description.
type command struct {
	fs       *flag.FlagSet
	name     string // "import"
	synopsis string // "backfill import [flags] SOURCE..."
	about    string
}

func newCommand(name, synopsis, about string, stderr io.Writer) *command {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = usageFunc(fs, stderr, synopsis, about)
	return &command{fs: fs, name: name, synopsis: synopsis, about: about}
}

// parse parses args. When done is set, the command must return code at
// once: --help was asked for (printed to stdout) or the flags were wrong
// (said on stderr). With needSources, at least one positional argument is
// required.
func (c *command) parse(args []string, needSources bool, stdout, stderr io.Writer) (pos []string, code int, done bool) {
	pos, err := parseInterleaved(c.fs, args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		usageFunc(c.fs, stdout, c.synopsis, c.about)()
		return nil, exitOK, true
	case err != nil:
		return nil, exitUsage, true
	case needSources && len(pos) == 0:
		fmt.Fprintf(stderr, "backfill %s: name at least one SOURCE (a file, folder, glob or -); see --help\n", c.name)
		return nil, exitUsage, true
	case !needSources && len(pos) > 0:
		fmt.Fprintf(stderr, "backfill %s: unexpected argument %q; see --help\n", c.name, pos[0])
		return nil, exitUsage, true
	}
	return pos, exitOK, false
}

// usageFunc prints a command's synopsis, its description and every flag.
func usageFunc(fs *flag.FlagSet, w io.Writer, synopsis, about string) func() {
	return func() {
		fmt.Fprintf(w, "Usage: %s\n\n%s\nFlags:\n", synopsis, strings.TrimSpace(about)+"\n")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
}

// readWriteKey returns the write key from a file (trailing newline removed)
// or from $SEGMENT_WRITE_KEY. It never prints the key.
func readWriteKey(path string) (string, error) {
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("write key file: %w", err)
		}
		key := strings.TrimSpace(string(b))
		if key == "" {
			return "", fmt.Errorf("write key file %s is empty", path)
		}
		return key, nil
	}
	return strings.TrimSpace(os.Getenv("SEGMENT_WRITE_KEY")), nil
}

// shellQuote renders a command line so that it can be pasted into a shell.
func shellQuote(args []string) string {
	var b strings.Builder
	for i, a := range args {
		if i > 0 {
			b.WriteByte(' ')
		}
		if a != "" && strings.IndexFunc(a, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=,@+%", r))
		}) < 0 {
			b.WriteString(a)
			continue
		}
		b.WriteString("'" + strings.ReplaceAll(a, "'", `'\''`) + "'")
	}
	return b.String()
}
