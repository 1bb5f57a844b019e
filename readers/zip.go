package readers

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// memberSep joins a zip archive's path and a member's name in Source.Path
// and so in every Position and error of the member: "export.zip!1234/x.json.gz".
const memberSep = "!"

var (
	zipMagic      = []byte("PK\x03\x04")
	zipEmptyMagic = []byte("PK\x05\x06") // an archive with no members
)

// errZipStream is the error of a zip archive read from standard input or
// a pipe: zip keeps its directory at its end, so it needs a file.
var errZipStream = errors.New("a zip archive cannot be read from a stream (its directory is at its end): save it to a file and give the file's path")

// isZipHead reports whether head starts like a zip archive.
func isZipHead(head []byte) bool {
	return bytes.HasPrefix(head, zipMagic) || bytes.HasPrefix(head, zipEmptyMagic)
}

// isZipFile reports whether the file at p is a zip archive that Expand
// lists the members of: a regular file named .zip or starting like one.
// A pipe or device is not read here (that would consume it): one holding
// a zip archive is refused when it is opened.
func isZipFile(p string) (bool, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return false, err
	}
	if !fi.Mode().IsRegular() {
		return false, nil
	}
	if strings.EqualFold(filepath.Ext(p), ".zip") {
		return true, nil
	}
	f, err := os.Open(p)
	if err != nil {
		return false, err
	}
	defer f.Close()
	var head [4]byte
	n, err := io.ReadFull(f, head[:])
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return false, fileError(p, err)
	}
	return isZipHead(head[:n]), nil
}

// skipMember reports the members of an archive that hold no rows: folders,
// hidden files and folders (a name element starting with '.'), macOS's
// resource forks (__MACOSX/) and this tool's own files.
func skipMember(name string) bool {
	if strings.HasSuffix(name, "/") {
		return true
	}
	for _, elem := range strings.Split(name, "/") {
		if isHidden(elem) || elem == "__MACOSX" {
			return true
		}
	}
	return isOwnFile(path.Base(name))
}

// memberFingerprint identifies a member's content by what the archive's
// directory records of it: its CRC-32 and its sizes.
func memberFingerprint(f *zip.File) string {
	return fmt.Sprintf("zip:%08x:%d:%d", f.CRC32, f.CompressedSize64, f.UncompressedSize64)
}

// expandZip lists the members of the zip archive at p as sources, sorted
// by name. Each member's format is detected as a file's is, after its own
// compression; a zip inside a zip and Parquet are refused, since neither
// can be read from a stream.
func expandZip(p string, opts Options) ([]Source, error) {
	zr, err := zip.OpenReader(p)
	if err != nil {
		return nil, zipError(p, err)
	}
	defer zr.Close()
	files := slices.Clone(zr.File)
	slices.SortStableFunc(files, func(a, b *zip.File) int { return strings.Compare(a.Name, b.Name) })
	var sources []Source
	for i, f := range files {
		if skipMember(f.Name) {
			continue
		}
		if i > 0 && files[i-1].Name == f.Name {
			return nil, fmt.Errorf("%s: zip: the archive holds two members named %s", p, f.Name)
		}
		switch {
		case f.Flags&0x1 != 0:
			return nil, fmt.Errorf("%s%s%s: zip: the member is encrypted: extract the archive with its password first", p, memberSep, f.Name)
		case f.Method != zip.Store && f.Method != zip.Deflate:
			return nil, fmt.Errorf("%s%s%s: zip: the member is compressed with method %d, which is not read (stored and deflated members are): extract the archive first", p, memberSep, f.Name, f.Method)
		}
		src := Source{
			Path:        p + memberSep + f.Name,
			Archive:     p,
			Member:      f.Name,
			Format:      opts.Format,
			Size:        int64(f.UncompressedSize64),
			Fingerprint: memberFingerprint(f),
		}
		if src.Format == "" {
			src.Format = formatByName(f.Name).format
		}
		if src.Format == "" || src.Format == FormatParquet {
			format, err := detectMember(src, f)
			if err != nil {
				return nil, err
			}
			src.Format = format
		}
		sources = append(sources, src)
	}
	if len(sources) == 0 {
		return nil, fmt.Errorf("%s: zip: no files found in the archive", p)
	}
	return sources, nil
}

// detectMember detects the format of a member from its content, and
// refuses what cannot be read from a stream.
func detectMember(src Source, f *zip.File) (string, error) {
	rc, err := f.Open()
	if err != nil {
		return "", zipError(src.Path, err)
	}
	in, err := newInput(src.Path, rc, rc, nil)
	if err != nil {
		return "", err
	}
	defer in.Close()
	s := newStream(in.r, 0, 0)
	head, err := s.peek(context.Background(), sniffHeadSize)
	if err != nil {
		return "", fileError(src.Path, err)
	}
	if isZipHead(head) {
		return "", fmt.Errorf("%s: zip: a zip archive inside a zip archive is not read: extract the inner archive first", src.Path)
	}
	format, err := sniff(head)
	if err != nil {
		return "", fmt.Errorf("%s: %w", src.Path, err)
	}
	if format == FormatParquet {
		return "", fmt.Errorf("%s: zip: Parquet inside a zip archive is not read (Parquet needs a file it can seek in): extract it first", src.Path)
	}
	return format, nil
}

// memberReader is an open member of a zip archive: closing it closes the
// archive too. Its errors (a CRC-32 that does not match, a method the
// archive/zip package lacks, data that does not inflate) are damaged data
// (ErrDamaged): reading the member again gives the same error.
type memberReader struct {
	rc io.ReadCloser
	zr *zip.ReadCloser
}

func (m *memberReader) Read(p []byte) (int, error) {
	n, err := m.rc.Read(p)
	if err != nil && err != io.EOF {
		err = &codecError{codec: "zip", err: err}
	}
	return n, err
}

func (m *memberReader) Close() error {
	m.rc.Close()
	return m.zr.Close()
}

// openMember opens the member of src's archive that src names, checking
// that the archive's directory still describes it as Expand saw it.
func openMember(src Source) (*memberReader, error) {
	zr, err := zip.OpenReader(src.Archive)
	if err != nil {
		return nil, zipError(src.Path, err)
	}
	for _, f := range zr.File {
		if f.Name != src.Member {
			continue
		}
		if src.Fingerprint != "" && memberFingerprint(f) != src.Fingerprint {
			zr.Close()
			return nil, fmt.Errorf("%s: %w: the archive's directory describes another member than when it was listed", src.Path, ErrChanged)
		}
		rc, err := f.Open()
		if err != nil {
			zr.Close()
			return nil, zipError(src.Path, err)
		}
		return &memberReader{rc: rc, zr: zr}, nil
	}
	zr.Close()
	return nil, fmt.Errorf("%s: zip: the archive has no member %s", src.Path, src.Member)
}

// zipError names the archive or member at path in an error of the
// archive/zip package, whose own errors start with "zip: ".
func zipError(path string, err error) error {
	if strings.HasPrefix(err.Error(), "zip: ") {
		return fileError(path, err)
	}
	return fmt.Errorf("%s: zip: %w", path, err)
}
