package main

import (
	"fmt"
	"os"
	"strings"
)

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

// checkWriteKey refuses a write key that cannot go into an Authorization
// header, without quoting it. keyFile is where it came from ("" for
// $SEGMENT_WRITE_KEY).
func checkWriteKey(key, keyFile string) error {
	from := "$SEGMENT_WRITE_KEY"
	if keyFile != "" {
		from = "--write-key-file " + keyFile
	}
	for _, r := range key {
		if r <= ' ' || r == 0x7f || r == ':' {
			return fmt.Errorf("the write key in %s contains whitespace, a control character or a colon; copy it again from the source's settings", from)
		}
	}
	return nil
}

// syncFile flushes f to its disk. A file that is not a regular one
// (/dev/null, a pipe, a terminal) has nothing to flush, and some refuse
// to be asked: it is left alone.
func syncFile(f *os.File) error {
	info, err := f.Stat()
	if err != nil {
		return err
	}
	if !info.Mode().IsRegular() {
		return nil
	}
	return f.Sync()
}
