package readers

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// zipMember is one member of a test archive, in the order it is written.
type zipMember struct {
	name   string
	data   []byte
	stored bool // uncompressed by the archive (Amplitude's export stores its gzip files)
}

// writeZip writes an archive of members to name in dir.
func writeZip(t testing.TB, dir, name string, members ...zipMember) string {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, m := range members {
		h := &zip.FileHeader{Name: m.name, Method: zip.Deflate, Modified: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)}
		if m.stored {
			h.Method = zip.Store
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(m.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return writeFile(t, dir, name, buf.Bytes())
}

// amplitudeLines is a day of an Amplitude export: n events, one a line.
func amplitudeLines(day string, n int) []byte {
	var b bytes.Buffer
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, `{"event_type":"E%d","user_id":"u%d","event_time":"%s 10:00:%02d.000000"}`+"\n", i, i, day, i)
	}
	return b.Bytes()
}

// amplitudeExport is an archive as Amplitude's Export API returns it
// (members written out of order), with what a zip tool adds beside them.
func amplitudeExport(t testing.TB, dir string) string {
	return writeZip(t, dir, "export.zip",
		zipMember{name: "1234/", data: nil},
		zipMember{name: "1234/1234_2024-01-02_0#0.json.gz", data: gzipped(t, amplitudeLines("2024-01-02", 2)), stored: true},
		zipMember{name: "1234/1234_2024-01-01_0#0.json.gz", data: gzipped(t, amplitudeLines("2024-01-01", 3)), stored: true},
		zipMember{name: "1234/1234_2024-01-01_1#0.json.gz", data: gzipped(t, amplitudeLines("2024-01-01", 1))},
		zipMember{name: "__MACOSX/1234/._1234_2024-01-01_0#0.json.gz", data: []byte{0, 5, 22, 7}},
		zipMember{name: "1234/.DS_Store", data: []byte{0, 0, 0, 1}},
		zipMember{name: "1234/old.rejects.ndjson", data: []byte("{\"a\":1}\n")},
		zipMember{name: "1234/notes", data: []byte("id,note\n1,first\n")},
		zipMember{name: "1234/old.ndjson.zst", data: zstded(t, []byte("{\"a\":1}\n"))},
	)
}

func TestExpandListsTheMembersOfAZipArchiveInNameOrder(t *testing.T) {
	dir := t.TempDir()
	archive := amplitudeExport(t, dir)
	for _, arg := range []string{archive, dir} {
		t.Run(filepath.Base(arg), func(t *testing.T) {
			sources, err := Expand([]string{arg}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range sources {
				if s.Archive != archive || s.Path != s.Archive+"!"+s.Member || !strings.HasPrefix(s.Fingerprint, "zip:") {
					t.Errorf("source %+v: want Archive %s, Path Archive!Member and a zip: fingerprint", s, archive)
				}
				got = append(got, fmt.Sprintf("%s %s %d", s.Member, s.Format, s.Size))
			}
			want := []string{
				fmt.Sprintf("1234/1234_2024-01-01_0#0.json.gz ndjson %d", len(gzipped(t, amplitudeLines("2024-01-01", 3)))),
				fmt.Sprintf("1234/1234_2024-01-01_1#0.json.gz ndjson %d", len(gzipped(t, amplitudeLines("2024-01-01", 1)))),
				fmt.Sprintf("1234/1234_2024-01-02_0#0.json.gz ndjson %d", len(gzipped(t, amplitudeLines("2024-01-02", 2)))),
				"1234/notes csv 16",
				fmt.Sprintf("1234/old.ndjson.zst ndjson %d", len(zstded(t, []byte("{\"a\":1}\n")))),
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("members:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

func TestZipMembersAreReadWithPositionsNamingTheMember(t *testing.T) {
	archive := amplitudeExport(t, t.TempDir())
	sources, err := Expand([]string{archive}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, src := range sources {
		r, err := Open(context.Background(), src, Options{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		items, err := readItems(t, r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			got = append(got, fmt.Sprintf("%s %s", it.Pos, it.Raw))
		}
	}
	want := []string{
		archive + `!1234/1234_2024-01-01_0#0.json.gz:1 {"event_type":"E1","user_id":"u1","event_time":"2024-01-01 10:00:01.000000"}`,
		archive + `!1234/1234_2024-01-01_0#0.json.gz:2 {"event_type":"E2","user_id":"u2","event_time":"2024-01-01 10:00:02.000000"}`,
		archive + `!1234/1234_2024-01-01_0#0.json.gz:3 {"event_type":"E3","user_id":"u3","event_time":"2024-01-01 10:00:03.000000"}`,
		archive + `!1234/1234_2024-01-01_1#0.json.gz:1 {"event_type":"E1","user_id":"u1","event_time":"2024-01-01 10:00:01.000000"}`,
		archive + `!1234/1234_2024-01-02_0#0.json.gz:1 {"event_type":"E1","user_id":"u1","event_time":"2024-01-02 10:00:01.000000"}`,
		archive + `!1234/1234_2024-01-02_0#0.json.gz:2 {"event_type":"E2","user_id":"u2","event_time":"2024-01-02 10:00:02.000000"}`,
		archive + `!1234/notes:2 1,first`,
		archive + `!1234/old.ndjson.zst:1 {"a":1}`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestZipMemberResumeAtEveryRow opens a member, stored or deflated by the
// archive, at the position of every row of an uninterrupted read.
func TestZipMemberResumeAtEveryRow(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "testdata", "readers", "mixed.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	for _, stored := range []bool{true, false} {
		t.Run(fmt.Sprintf("stored=%v", stored), func(t *testing.T) {
			archive := writeZip(t, t.TempDir(), "export.zip",
				zipMember{name: "p/a.json.gz", data: gzipped(t, data[:100], data[100:]), stored: stored},
				zipMember{name: "p/b.ndjson", data: data, stored: stored})
			sources, err := Expand([]string{archive}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			for _, src := range sources {
				r, err := Open(context.Background(), src, Options{}, nil)
				if err != nil {
					t.Fatal(err)
				}
				full, err := readItems(t, r)
				r.Close()
				if err != nil {
					t.Fatal(err)
				}
				if len(full) != 9 {
					t.Fatalf("%s: %d items, want 9", src.Path, len(full))
				}
				for i := range full {
					at := full[i].Pos
					r, err := Open(context.Background(), src, Options{}, &at)
					if err != nil {
						t.Fatal(err)
					}
					got, err := readItems(t, r)
					r.Close()
					if err != nil {
						t.Fatal(err)
					}
					diffItems(t, got, full[i:])
				}
			}
		})
	}
}

func TestZipRefused(t *testing.T) {
	dir := t.TempDir()
	nd := []byte("{\"a\":1}\n")
	par, err := os.ReadFile(writePlainFixture(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	var inner bytes.Buffer
	zw := zip.NewWriter(&inner)
	w, _ := zw.Create("a.ndjson")
	w.Write(nd)
	zw.Close()
	tests := []struct {
		name    string
		members []zipMember
		want    string
	}{
		{"empty.zip", nil, "empty.zip: zip: no files found in the archive"},
		{"only-hidden.zip", []zipMember{{name: ".a.ndjson", data: nd}, {name: "d/"}}, "only-hidden.zip: zip: no files found in the archive"},
		{"parquet.zip", []zipMember{{name: "x/e.parquet", data: par}}, "parquet.zip!x/e.parquet: zip: Parquet inside a zip archive is not read (Parquet needs a file it can seek in): extract it first"},
		{"parquet-unnamed.zip", []zipMember{{name: "e", data: par, stored: true}}, "parquet-unnamed.zip!e: zip: Parquet inside a zip archive is not read (Parquet needs a file it can seek in): extract it first"},
		{"nested.zip", []zipMember{{name: "in.zip", data: inner.Bytes()}}, "nested.zip!in.zip: zip: a zip archive inside a zip archive is not read: extract the inner archive first"},
		{"binary.zip", []zipMember{{name: "x/logo.png", data: []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")}}, "binary.zip!x/logo.png: cannot detect the format: the content is not CSV, NDJSON or Parquet (name the format)"},
		{"twice.zip", []zipMember{{name: "a.ndjson", data: nd}, {name: "a.ndjson", data: nd}}, "twice.zip: zip: the archive holds two members named a.ndjson"},
	}
	t.Chdir(dir)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			writeZip(t, ".", tt.name, tt.members...)
			_, err := Expand([]string{tt.name}, Options{})
			if err == nil || err.Error() != tt.want {
				t.Fatalf("Expand: %v, want %q", err, tt.want)
			}
		})
	}
	t.Run("not a zip", func(t *testing.T) {
		writeFile(t, ".", "broken.zip", nd)
		_, err := Expand([]string{"broken.zip"}, Options{})
		if err == nil || err.Error() != "broken.zip: zip: not a valid zip file" {
			t.Fatalf("Expand: %v", err)
		}
	})
	t.Run("method", func(t *testing.T) {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		zw.RegisterCompressor(12, func(w io.Writer) (io.WriteCloser, error) { return nopWriteCloser{w}, nil })
		w, err := zw.CreateHeader(&zip.FileHeader{Name: "a.ndjson.bz2", Method: 12})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(nd)
		zw.Close()
		writeFile(t, ".", "bzip2-method.zip", buf.Bytes())
		_, err = Expand([]string{"bzip2-method.zip"}, Options{})
		want := "bzip2-method.zip!a.ndjson.bz2: zip: the member is compressed with method 12, which is not read (stored and deflated members are): extract the archive first"
		if err == nil || err.Error() != want {
			t.Fatalf("Expand: %v, want %q", err, want)
		}
	})
	t.Run("opened as a file", func(t *testing.T) {
		writeZip(t, ".", "direct.zip", zipMember{name: "a.ndjson", data: nd})
		_, err := Open(context.Background(), Source{Path: "direct.zip"}, Options{}, nil)
		if err == nil || err.Error() != "direct.zip: a zip archive: give it as a source (Expand lists its members)" {
			t.Fatalf("Open: %v", err)
		}
	})
}

func TestZipFromStandardInputIsRefused(t *testing.T) {
	path := writeZip(t, t.TempDir(), "export.zip", zipMember{name: "a.json.gz", data: gzipped(t, []byte("{\"a\":1}\n"))})
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	old := os.Stdin
	os.Stdin = f
	defer func() { os.Stdin = old }()
	_, err = Open(context.Background(), Source{Path: "-"}, Options{}, nil)
	want := "standard input: a zip archive cannot be read from a stream (its directory is at its end): save it to a file and give the file's path"
	if !errors.Is(err, ErrNeedsFile) || err.Error() != want {
		t.Fatalf("Open: %v, want %q", err, want)
	}
}

// TestZipMemberChangedSinceListed replaces the archive between Expand and
// Open: a source that Expand listed finds the archive replaced; one made
// by hand, with the fingerprint Expand gave, finds the member changed in
// the archive's directory, or gone.
func TestZipMemberChangedSinceListed(t *testing.T) {
	dir := t.TempDir()
	archive := writeZip(t, dir, "export.zip", zipMember{name: "a.ndjson", data: []byte("{\"a\":1}\n")})
	sources, err := Expand([]string{archive}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	byHand := Source{Path: sources[0].Path, Archive: archive, Member: "a.ndjson", Fingerprint: sources[0].Fingerprint}
	if r, err := Open(context.Background(), byHand, Options{}, nil); err != nil {
		t.Fatalf("Open of a source made by hand: %v", err)
	} else {
		r.Close()
	}
	writeZip(t, dir, "export.zip", zipMember{name: "a.ndjson", data: []byte("{\"a\":22}\n")})
	_, err = Open(context.Background(), sources[0], Options{}, nil)
	if !errors.Is(err, ErrChanged) || err.Error() != archive+"!a.ndjson: file changed while being read: the archive was replaced since its members were listed" {
		t.Fatalf("Open: %v", err)
	}
	_, err = Open(context.Background(), byHand, Options{}, nil)
	if !errors.Is(err, ErrChanged) || err.Error() != archive+"!a.ndjson: file changed while being read: the archive's directory describes another member than when it was listed" {
		t.Fatalf("Open: %v", err)
	}
	writeZip(t, dir, "export.zip", zipMember{name: "b.ndjson", data: []byte("{\"a\":1}\n")})
	_, err = Open(context.Background(), byHand, Options{}, nil)
	if err == nil || err.Error() != archive+"!a.ndjson: zip: the archive has no member a.ndjson" {
		t.Fatalf("Open: %v", err)
	}
}

// TestBzip2ReadsAsThePlainFile reads the committed .bz2 samples (made with
// the bzip2 tool) and resumes them at every row.
func TestBzip2ReadsAsThePlainFile(t *testing.T) {
	for _, sample := range []string{"mixed.ndjson", "quoted.csv", "array.json"} {
		t.Run(sample, func(t *testing.T) {
			dir := t.TempDir()
			read := func(name string) []byte {
				b, err := os.ReadFile(filepath.Join("..", "testdata", "readers", name))
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
			plain := writeFile(t, dir, sample, read(sample))
			// Named for its format only: the compression is found by its
			// magic bytes, and the name after .bz2 gives the format.
			for _, name := range []string{sample + ".bz2", "renamed" + filepath.Ext(sample)} {
				packed := writeFile(t, dir, name, read(sample+".bz2"))
				want := mustReadAll(t, plain, Options{}, nil)
				for i := range want {
					want[i].Pos.File = packed
				}
				full := mustReadAll(t, packed, Options{}, nil)
				diffItems(t, full, want)
				for i := range full {
					diffItems(t, mustReadAll(t, packed, Options{}, &full[i].Pos), full[i:])
				}
			}
		})
	}
}

func TestBzip2Damaged(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "testdata", "readers", "mixed.ndjson.bz2"))
	if err != nil {
		t.Fatal(err)
	}
	path := writeFile(t, t.TempDir(), "cut.ndjson.bz2", data[:len(data)-20])
	r, err := Open(context.Background(), Source{Path: path}, Options{}, nil)
	if err == nil {
		_, err = readItems(t, r)
		r.Close()
	}
	if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "bzip2") {
		t.Fatalf("read a truncated bzip2 file: %v, want a damaged bzip2 error", err)
	}
}

// bzip2ed compresses data with the bzip2 tool, the standard library having
// no bzip2 writer; the test is skipped where the tool is missing.
func bzip2ed(t testing.TB, data []byte) []byte {
	t.Helper()
	tool, err := exec.LookPath("bzip2")
	if err != nil {
		t.Skip("no bzip2 tool to compress with")
	}
	cmd := exec.Command(tool, "-c")
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestZipMemberDamaged flips a byte of a stored member's data, leaving the
// archive's directory as it was: the member's CRC-32 no longer matches
// when it is read to its end (as a gzip file's own CRC-32, it is known only
// there), and the read ends with an error naming it.
func TestZipMemberDamaged(t *testing.T) {
	dir := t.TempDir()
	data := bytes.Repeat([]byte("{\"a\":1}\n"), 100_000)
	archive := writeZip(t, dir, "export.zip", zipMember{name: "a.ndjson", data: data, stored: true})
	b, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, data)
	b[i+len(data)-3] = '3' // in the last row
	writeFile(t, dir, "export.zip", b)
	sources, err := Expand([]string{archive}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := Open(context.Background(), sources[0], Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	items, err := readItems(t, r)
	if !errors.Is(err, zip.ErrChecksum) || !errors.Is(err, ErrDamaged) || err.Error() != archive+"!a.ndjson: zip: checksum error" {
		t.Fatalf("read a damaged member: %d items, %v; want the zip checksum error naming the member", len(items), err)
	}
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// TestZipDeflatedMemberDamaged cuts into the deflated data of a member:
// it no longer inflates, and the read ends with damaged data naming it.
func TestZipDeflatedMemberDamaged(t *testing.T) {
	dir := t.TempDir()
	var data bytes.Buffer
	for i := range 20_000 {
		fmt.Fprintf(&data, "{\"a\":%d}\n", i)
	}
	archive := writeZip(t, dir, "export.zip", zipMember{name: "a.ndjson", data: data.Bytes()})
	sources, err := Expand([]string{archive}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	off := sources[0].zip.offset + sources[0].zip.compressed/2
	for i := off; i < off+64; i++ {
		b[i] ^= 0xff
	}
	if err := os.WriteFile(archive, b, 0o644); err != nil {
		t.Fatal(err)
	}
	sources, err = Expand([]string{archive}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := Open(context.Background(), sources[0], Options{}, nil)
	if err == nil {
		_, err = readItems(t, r)
		r.Close()
	}
	if !errors.Is(err, ErrDamaged) || !strings.HasPrefix(err.Error(), archive+"!a.ndjson: zip: ") {
		t.Fatalf("read a damaged deflated member: %v, want damaged data naming the member", err)
	}
}

// TestBzip2Concatenated reads two bzip2 streams one after the other (as
// pbzip2 and lbzip2 write them) as one file.
func TestBzip2Concatenated(t *testing.T) {
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("..", "testdata", "readers", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	dir := t.TempDir()
	plain := writeFile(t, dir, "twice.ndjson", append(read("mixed.ndjson"), read("mixed.ndjson")...))
	packed := writeFile(t, dir, "twice.ndjson.bz2", append(read("mixed.ndjson.bz2"), read("mixed.ndjson.bz2")...))
	want := mustReadAll(t, plain, Options{}, nil)
	for i := range want {
		want[i].Pos.File = packed
	}
	if len(want) != 17 { // the sample's last line has no newline: it runs into the second copy's first
		t.Fatalf("%d items in the plain file, want 17", len(want))
	}
	diffItems(t, mustReadAll(t, packed, Options{}, nil), want)
}
