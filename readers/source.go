package readers

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/backfillhq/backfill/internal/jsontext"
)

// fingerprintChunk is how much of each end of a file the fingerprint reads.
const fingerprintChunk = 64 << 10

// rejectsSuffix ends the names of this tool's rejects files, and
// checkpointDir is the folder of its checkpoints: folders and globs skip
// both.
const (
	rejectsSuffix = ".rejects.ndjson"
	checkpointDir = ".backfill"
)

var (
	errClosed = errors.New("readers: reader is closed")
)

// fileError names the file in a read error, unless the error already does.
func fileError(path string, err error) error {
	var pe *fs.PathError
	var oe *objectNamedError
	if errors.As(err, &pe) || errors.As(err, &oe) {
		return err
	}
	return fmt.Errorf("%s: %w", path, err)
}

// nameFormat is what a file name says about its format.
type nameFormat struct {
	format string // "" if the name does not say
	tab    bool   // .tsv: tab-separated
	lines  bool   // .ndjson or .jsonl: one object per line, never an array
}

// TrimCompression returns the file name name without its compression
// extension (.gz, .zst, .zstd or .bz2, in any case), if it has one.
func TrimCompression(name string) string {
	lower := strings.ToLower(name)
	for _, ext := range []string{".gz", ".zst", ".zstd", ".bz2"} {
		if strings.HasSuffix(lower, ext) {
			return name[:len(name)-len(ext)]
		}
	}
	return name
}

// NameFormat returns the format the name of path gives, after any
// compression extension ("" if it gives none), and whether it names a
// tab-separated file (.tsv): what a source is read as unless its content
// or the options say otherwise.
func NameFormat(path string) (format string, tab bool) {
	f := formatByName(path)
	return f.format, f.tab
}

// formatByName reads the format from the extension, after any compression
// extension (.gz, .zst, .zstd, .bz2).
func formatByName(path string) nameFormat {
	name := strings.ToLower(TrimCompression(filepath.Base(path)))
	switch filepath.Ext(name) {
	case ".csv":
		return nameFormat{format: FormatCSV}
	case ".tsv":
		return nameFormat{format: FormatCSV, tab: true}
	case ".ndjson", ".jsonl":
		return nameFormat{format: FormatNDJSON, lines: true}
	case ".json":
		return nameFormat{format: FormatNDJSON}
	case ".parquet":
		return nameFormat{format: FormatParquet}
	}
	return nameFormat{}
}

func isLineJSON(path string) bool { return formatByName(path).lines }

// sniff detects the format from the first bytes of the uncompressed
// content: Parquet's magic, a JSON object or array, or else CSV. Binary
// content is refused.
func sniff(head []byte) (string, error) {
	if len(head) >= len(parquetMagic) && string(head[:len(parquetMagic)]) == string(parquetMagic) {
		return FormatParquet, nil
	}
	text := head
	if t, ok := sniffUTF16(head); ok {
		text = t
	}
	if len(text) >= len(utf8BOM) && string(text[:len(utf8BOM)]) == string(utf8BOM) {
		text = text[len(utf8BOM):]
	}
	if i := jsontext.SkipSpace(text, 0); i < len(text) && (text[i] == '{' || text[i] == '[') {
		return FormatNDJSON, nil
	}
	for _, c := range text {
		if c == 0 {
			return "", errors.New("cannot detect the format: the content is not CSV, NDJSON or Parquet (name the format)")
		}
	}
	return FormatCSV, nil
}

// sniffHeadSize is how much content sniffing looks at.
const sniffHeadSize = 4 << 10

// detectFile detects the format of a file from its name, else its content.
func detectFile(path string) (string, error) {
	if f := formatByName(path).format; f != "" {
		return f, nil
	}
	in, err := openInput(path, nil)
	if err != nil {
		return "", err
	}
	defer in.Close()
	s := newStream(in.r, 0, in.size)
	head, err := s.peek(context.Background(), sniffHeadSize)
	if err != nil {
		return "", fileError(path, err)
	}
	f, err := sniff(head)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// Fingerprint identifies the content of the file at path: the hex of the
// first 16 bytes of a SHA-256 over its size and its first and last 64 KiB.
// It also returns the size. Changing any byte near either end, or the
// length, changes the fingerprint.
func Fingerprint(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", 0, err
	}
	size := fi.Size()
	h := sha256.New()
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(size))
	h.Write(n[:])
	chunk := min(size, fingerprintChunk)
	buf := make([]byte, chunk)
	for _, at := range []int64{0, size - chunk} {
		if _, err := f.ReadAt(buf, at); err != nil && err != io.EOF {
			return "", 0, err
		}
		h.Write(buf)
	}
	return hex.EncodeToString(h.Sum(nil)[:16]), size, nil
}

// expand implements Expand.
func expand(ctx context.Context, args []string, opts Options) ([]Source, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if len(args) == 0 {
		return nil, errors.New("no sources given")
	}
	var (
		sources []Source
		seen    = make(map[string]bool)
		stdin   bool
		w       = newWalker(opts.BrokenLink)
		buckets = bucketSet{}
	)
	for _, arg := range args {
		if arg == "-" {
			if stdin {
				return nil, errors.New(`"-" (standard input) is given more than once`)
			}
			stdin = true
			sources = append(sources, Source{Path: "-", Format: opts.Format})
			continue
		}
		if IsObjectURL(arg) {
			objs, err := expandObjects(ctx, buckets, arg, opts)
			if err != nil {
				return nil, err
			}
			for _, o := range objs {
				if !seen[o.Path] {
					seen[o.Path] = true
					sources = append(sources, o)
				}
			}
			continue
		}
		paths, err := resolve(w, arg)
		if err != nil {
			return nil, err
		}
		for _, p := range paths {
			key := canonicalPath(p)
			if seen[key] {
				continue
			}
			seen[key] = true
			zipped, err := isZipFile(p)
			if err != nil {
				return nil, err
			}
			if zipped {
				members, err := expandZip(p, opts)
				if err != nil {
					return nil, err
				}
				sources = append(sources, members...)
				continue
			}
			src, err := describe(p, opts)
			if err != nil {
				return nil, err
			}
			sources = append(sources, src)
		}
	}
	return sources, nil
}

// canonicalPath is the key under which a file counts once, however it was
// reached.
func canonicalPath(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return filepath.Clean(p)
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		return real
	}
	return abs
}

// describe builds the Source of one file.
func describe(path string, opts Options) (Source, error) {
	src := Source{Path: path, Format: opts.Format}
	fi, err := os.Stat(path)
	if err != nil {
		return src, err
	}
	if !fi.Mode().IsRegular() {
		// A pipe or device: reading it to detect or fingerprint would
		// consume it. Its format is detected when it is opened.
		if src.Format == "" {
			src.Format = formatByName(path).format
		}
		return src, nil
	}
	if src.Fingerprint, src.Size, err = Fingerprint(path); err != nil {
		return src, err
	}
	if src.Format == "" {
		if src.Format, err = detectFile(path); err != nil {
			return src, err
		}
	}
	return src, nil
}

// resolve turns one argument into file paths: the file itself, the files
// of a folder, or the files a glob matches.
func resolve(w *walker, arg string) ([]string, error) {
	fi, err := os.Stat(arg)
	switch {
	case err == nil && fi.IsDir():
		files, err := walkFolder(w, arg)
		if err != nil {
			return nil, err
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("folder %s: no files found", arg)
		}
		return files, nil
	case err == nil:
		return []string{arg}, nil
	case errors.Is(err, fs.ErrNotExist) && hasMeta(arg):
		files, err := glob(w, arg)
		if err != nil {
			return nil, err
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("glob %s: no files match", arg)
		}
		return files, nil
	default:
		return nil, err
	}
}

func hasMeta(p string) bool { return strings.ContainsAny(p, `*?[\`) }

// splitPattern splits the elements of a glob pattern into the leading ones
// without wildcards, the root to list from, and the rest, each of which
// must be a pattern match accepts ("**" stands for any elements).
func splitPattern(parts []string, match func(pattern, name string) (bool, error)) (root, rest []string, err error) {
	for len(parts) > 0 && !hasMeta(parts[0]) {
		root = append(root, parts[0])
		parts = parts[1:]
	}
	for _, seg := range parts {
		if seg == "**" {
			continue
		}
		if _, err := match(seg, ""); err != nil {
			return nil, nil, err
		}
	}
	return root, parts, nil
}

func isHidden(name string) bool { return strings.HasPrefix(name, ".") }

// isOwnFile reports files this tool writes, which folders and globs skip.
func isOwnFile(name string) bool { return strings.HasSuffix(name, rejectsSuffix) }

// walkFolder lists the files under root in lexical order, skipping hidden
// files and folders and this tool's own files, and following symbolic
// links (see walker).
func walkFolder(w *walker, root string) ([]string, error) {
	return w.walk(root, chooseInFolder)
}

// chooseInFolder takes what a folder given as a source holds: every file
// and folder but hidden ones and this tool's own files.
func chooseInFolder(elems []string, dir bool) bool {
	name := elems[len(elems)-1]
	return !isHidden(name) && (dir || !isOwnFile(name))
}

// chooseGlob returns what a pattern takes, parts being its elements from
// the first with a wildcard on (see splitPattern): the files it matches,
// and the whole of each folder it matches; the folders it may match below
// are walked into, but never the checkpoint folder.
func chooseGlob(parts []string) choose {
	return func(elems []string, dir bool) bool {
		name := elems[len(elems)-1]
		if inMatchedFolder(parts, elems) {
			// A folder the pattern matches is read whole, as a folder.
			return chooseInFolder(elems, dir)
		}
		if dir {
			return name != checkpointDir && (matchPath(parts, elems) || matchPrefix(parts, elems))
		}
		return matchPath(parts, elems) && !isOwnFile(name)
	}
}

// glob lists the files matching pattern in lexical order. Each path
// element is matched with filepath.Match, and "**" matches any number of
// elements. Wildcards do not match names starting with a dot, and folders
// matched are read as folders.
func glob(w *walker, pattern string) ([]string, error) {
	pattern = filepath.Clean(pattern)
	root, parts, err := splitPattern(strings.Split(pattern, string(filepath.Separator)), filepath.Match)
	if err != nil {
		return nil, fmt.Errorf("glob %s: %w", pattern, err)
	}
	base := strings.Join(root, string(filepath.Separator))
	switch {
	case len(root) == 1 && root[0] == "":
		base = string(filepath.Separator)
	case base == "":
		base = "."
	}
	if _, err := os.Stat(base); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	return w.walk(base, chooseGlob(parts))
}

// inMatchedFolder reports whether a folder above the path elems matches
// the pattern.
func inMatchedFolder(pattern, elems []string) bool {
	for k := 1; k < len(elems); k++ {
		if matchPath(pattern, elems[:k]) {
			return true
		}
	}
	return false
}

// matchElem matches one path element; wildcards do not match a leading dot.
func matchElem(pattern, name string) bool {
	if isHidden(name) && !isHidden(pattern) {
		return false
	}
	ok, _ := filepath.Match(pattern, name)
	return ok
}

// matchPath reports whether the path elements match the pattern elements.
func matchPath(pattern, elems []string) bool {
	for len(pattern) > 0 {
		if pattern[0] == "**" {
			for k := 0; k <= len(elems); k++ {
				if matchPath(pattern[1:], elems[k:]) {
					return true
				}
				if k < len(elems) && isHidden(elems[k]) {
					return false
				}
			}
			return false
		}
		if len(elems) == 0 || !matchElem(pattern[0], elems[0]) {
			return false
		}
		pattern, elems = pattern[1:], elems[1:]
	}
	return len(elems) == 0
}

// matchPrefix reports whether a path below the folder elems could match.
func matchPrefix(pattern, elems []string) bool {
	for len(elems) > 0 {
		if len(pattern) == 0 {
			return false
		}
		if pattern[0] == "**" {
			if matchPrefix(pattern[1:], elems) {
				return true
			}
			if isHidden(elems[0]) {
				return false
			}
			elems = elems[1:]
			continue
		}
		if !matchElem(pattern[0], elems[0]) {
			return false
		}
		pattern, elems = pattern[1:], elems[1:]
	}
	return true
}
