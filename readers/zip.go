package readers

import (
	"archive/zip"
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// memberSep joins a zip archive's path and a member's name in Source.Path
// and so in every Position and error of the member: "export.zip!1234/x.json.gz".
const memberSep = "!"

var (
	zipMagic      = []byte("PK\x03\x04")
	zipEmptyMagic = []byte("PK\x05\x06") // an archive with no members
)

// ErrNeedsFile is what the error of data that can only be read from a
// regular file, and came from standard input or a pipe, is (errors.Is):
// a zip archive, or Parquet. Reading it again the same way gives the same
// error; saved to a file, it can be read.
var ErrNeedsFile = errors.New("needs a regular file")

// needsFile is an error that is ErrNeedsFile.
type needsFile struct{ msg string }

func (e *needsFile) Error() string        { return e.msg }
func (e *needsFile) Is(target error) bool { return target == ErrNeedsFile }

// errZipStream is the error of a zip archive read from standard input or
// a pipe: zip keeps its directory at its end, so it needs a file.
var errZipStream error = &needsFile{"a zip archive cannot be read from a stream (its directory is at its end): save it to a file and give the file's path"}

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
	af, fi, zr, err := openZip(p, p)
	if err != nil {
		return nil, err
	}
	defer af.Close()
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
			return nil, zipMethodError(p+memberSep+f.Name, f.Method)
		}
		src := Source{
			Path:        p + memberSep + f.Name,
			Archive:     p,
			Member:      f.Name,
			Format:      opts.Format,
			Size:        int64(f.UncompressedSize64),
			Fingerprint: memberFingerprint(f),
		}
		if src.zip, err = entryOf(f, fi); err != nil {
			return nil, zipError(src.Path, err)
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
		return "", zipInZipError(src.Path)
	}
	format, err := sniff(head)
	if err != nil {
		return "", fmt.Errorf("%s: %w", src.Path, err)
	}
	if format == FormatParquet {
		return "", parquetInZipError(src.Path)
	}
	return format, nil
}

// zipEntry is where a member's data lies in its archive, as Expand found
// it, so that opening the member reads its bytes without parsing the
// archive's directory again (an export of a year holds thousands of
// members).
type zipEntry struct {
	offset       int64  // of the member's data in the archive
	compressed   int64  // bytes of data
	uncompressed int64  // bytes once inflated
	crc          uint32 // CRC-32 of the uncompressed bytes
	method       uint16 // zip.Store or zip.Deflate
	// archive is the archive's size and modification time when it was
	// listed: another archive in its place is an error, not a member
	// read at the wrong offset.
	archiveSize int64
	archiveMod  time.Time
}

// entryOf returns where the member f lies in the archive, whose file
// information is fi.
func entryOf(f *zip.File, fi os.FileInfo) (*zipEntry, error) {
	off, err := f.DataOffset()
	if err != nil {
		return nil, err
	}
	return &zipEntry{
		offset:       off,
		compressed:   int64(f.CompressedSize64),
		uncompressed: int64(f.UncompressedSize64),
		crc:          f.CRC32,
		method:       f.Method,
		archiveSize:  fi.Size(),
		archiveMod:   fi.ModTime(),
	}, nil
}

// memberReader reads the bytes of a member of a zip archive, inflating a
// deflated one, and checks its size and CRC-32 at its end, as archive/zip
// does. Its errors (a CRC-32 that does not match, data that does not
// inflate) are damaged data (ErrDamaged): reading the member again gives
// the same error.
type memberReader struct {
	f     *os.File
	r     io.Reader
	fl    io.ReadCloser // the inflater of a deflated member
	e     *zipEntry
	crc   hash.Hash32
	n     int64
	err   error // sticky
	close sync.Once
}

func (m *memberReader) Read(p []byte) (int, error) {
	if m.err != nil {
		return 0, m.err
	}
	n, err := m.r.Read(p)
	m.crc.Write(p[:n])
	m.n += int64(n)
	switch {
	case m.n > m.e.uncompressed:
		err = zip.ErrFormat
	case err == io.EOF && (m.n != m.e.uncompressed || m.crc.Sum32() != m.e.crc):
		err = zip.ErrChecksum
	case err == io.ErrUnexpectedEOF:
		err = zip.ErrFormat
	}
	if err != nil && err != io.EOF {
		err = &codecError{codec: "zip", err: err}
	}
	m.err = err
	return n, err
}

func (m *memberReader) Close() error {
	var err error
	m.close.Do(func() {
		if m.fl != nil {
			m.fl.Close()
		}
		err = m.f.Close()
	})
	return err
}

// openMember opens the member of src's archive that src names: where
// Expand found it, or, for a Source made elsewhere, where the archive's
// directory says it is, checking that the directory still describes it as
// src's Fingerprint does.
func openMember(src Source) (*memberReader, error) {
	e := src.zip
	if e == nil {
		var err error
		if e, err = findMember(src); err != nil {
			return nil, err
		}
	}
	f, err := os.Open(src.Archive)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if fi.Size() != e.archiveSize || !fi.ModTime().Equal(e.archiveMod) {
		f.Close()
		return nil, fmt.Errorf("%s: %w: the archive was replaced since its members were listed", src.Path, ErrChanged)
	}
	m := &memberReader{f: f, e: e, crc: crc32.NewIEEE()}
	data := io.NewSectionReader(f, e.offset, e.compressed)
	switch e.method {
	case zip.Store:
		m.r = data
	case zip.Deflate:
		m.fl = flate.NewReader(bufio.NewReaderSize(data, fileBufferSize))
		m.r = m.fl
	default:
		f.Close()
		return nil, zipMethodError(src.Path, e.method)
	}
	return m, nil
}

// openZip opens the zip archive at path, with what it was measured from,
// and reads its directory; name is what its errors call it. The caller
// closes the file.
func openZip(path, name string) (*os.File, os.FileInfo, *zip.Reader, error) {
	af, err := os.Open(path)
	if err != nil {
		return nil, nil, nil, err
	}
	fi, err := af.Stat()
	if err == nil {
		var zr *zip.Reader
		if zr, err = zip.NewReader(af, fi.Size()); err == nil {
			return af, fi, zr, nil
		}
		err = zipError(name, err)
	}
	af.Close()
	return nil, nil, nil, err
}

// findMember reads the archive's directory for the member src names.
func findMember(src Source) (*zipEntry, error) {
	af, fi, zr, err := openZip(src.Archive, src.Path)
	if err != nil {
		return nil, err
	}
	defer af.Close()
	for _, f := range zr.File {
		if f.Name != src.Member {
			continue
		}
		if src.Fingerprint != "" && memberFingerprint(f) != src.Fingerprint {
			return nil, fmt.Errorf("%s: %w: the archive's directory describes another member than when it was listed", src.Path, ErrChanged)
		}
		e, err := entryOf(f, fi)
		if err != nil {
			return nil, zipError(src.Path, err)
		}
		return e, nil
	}
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

// parquetInZipError is the error of a Parquet member of a zip archive.
func parquetInZipError(path string) error {
	return fmt.Errorf("%s: zip: Parquet inside a zip archive is not read (Parquet needs a file it can seek in): extract it first", path)
}

// zipInZipError is the error of a zip archive that is a member of one.
func zipInZipError(path string) error {
	return fmt.Errorf("%s: zip: a zip archive inside a zip archive is not read: extract the inner archive first", path)
}

// zipMethodError is the error of a member compressed with a method that
// is not read.
func zipMethodError(path string, method uint16) error {
	return fmt.Errorf("%s: zip: the member is compressed with method %d, which is not read (stored and deflated members are): extract the archive first", path, method)
}
