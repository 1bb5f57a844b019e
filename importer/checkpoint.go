package importer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/backfillhq/backfill/readers"
)

// CheckpointVersion is the version of the checkpoint file format. Version
// 2 added Checksum; a checkpoint of version 1, which has none, is still
// read, and the next save writes it as version 2.
const CheckpointVersion = 2

// DefaultCheckpointDir is the folder, under the working directory, that
// holds checkpoints named after the import they belong to.
const DefaultCheckpointDir = ".backfill"

// Status of a source file in a checkpoint.
const (
	StatusPending = "pending"
	StatusPartial = "partial"
	StatusDone    = "done"
)

// Checkpoint is the durable state of an import: for every source file what
// is settled, and where to resume. It is JSON, written atomically, and never
// holds the write key.
type Checkpoint struct {
	Version int `json:"version"`
	// Command is the command line that resumes the import, for people.
	Command []string `json:"command,omitempty"`
	// Dir is the working folder of the run that wrote the checkpoint, where
	// Command's relative paths start.
	Dir string `json:"dir,omitempty"`
	// Preview is set for the checkpoint of a run that sent nothing
	// (Config.Preview): an import that sends refuses to resume it.
	Preview bool `json:"preview,omitempty"`
	// Options are what changes the messages sent (the mapping's
	// fingerprint, reader options, limits, the destination). A run with
	// other options may not continue this one.
	Options       map[string]string `json:"options"`
	Files         []CheckpointFile  `json:"files"`
	Totals        CheckpointTotals  `json:"totals"`
	RejectsFile   string            `json:"rejects_file"`
	RejectsOffset int64             `json:"rejects_offset"`
	Complete      bool              `json:"complete"`
	Started       time.Time         `json:"started"`
	Updated       time.Time         `json:"updated"`

	// Runs are the ids of the runs of the import, in order, so that a
	// resumed run knows its rejects file from another import's.
	Runs []string `json:"runs,omitempty"`
	// Checksum is "sha256:" and the hex of the SHA-256 of the file as
	// written, with this field's value empty. It is the last field, so
	// that the file ends with it. A checkpoint whose content does not
	// match it was modified outside backfill, and is refused
	// (ErrCheckpointModified).
	Checksum string `json:"checksum"`
}

// CheckpointFile is the state of one source file. Resume is the position of
// the first row that is not settled, set while the file is partial.
//
// A file is recognised by its content: ContentCRC is the CRC-32C and then
// the CRC-32 (IEEE) of its first Hashed bytes, 16 hex digits in all
// (readers.PrefixDigest.Hex), the bytes counted as readers.Position.Offset
// counts them (decompressed for gzip and zstd): at most 16 KiB short of
// Resume while the file is partial, the whole file once it is done; both
// are empty while it is pending. FooterSHA256 is the SHA-256 of a Parquet
// file's footer, its metadata, instead. Checkpoints of older versions hold
// neither: their files are recognised by size, Fingerprint and ModTime,
// which a file with a digest is not compared by. A member of a zip archive
// (readers.Source.Archive) has the path of the archive made absolute, "!"
// and its name, its Fingerprint from the archive's directory (CRC-32 and
// sizes) and no ModTime: an archive downloaded again with the same members
// resumes. An object in a bucket has its URL without the query as Path
// ("s3://bucket/key"), its size, "object:" and its ETag or generation as
// Fingerprint, and no ModTime: a changed object has another ETag or
// generation and is refused as a changed file is, without being read
// again.
type CheckpointFile struct {
	Path        string            `json:"path"`
	Size        int64             `json:"size"`
	ModTime     time.Time         `json:"mod_time"`
	Fingerprint string            `json:"fingerprint"`
	Format      string            `json:"format"`
	Status      string            `json:"status"`
	Resume      *readers.Position `json:"resume,omitempty"`
	Read        int64             `json:"read"`
	Delivered   int64             `json:"delivered"`
	Rejected    int64             `json:"rejected"`
	Filtered    int64             `json:"filtered"`

	Hashed       int64  `json:"hashed,omitempty"`
	ContentCRC   string `json:"content_crc,omitempty"`
	FooterSHA256 string `json:"footer_sha256,omitempty"`

	// Range is the part of the file that a shard reads (readers.Range:
	// bytes of a plain NDJSON file, row groups of a Parquet file), when
	// the import is split into shards and the file is cut; nil for a
	// whole file. Such a part is an entry of its own. The digest of a
	// byte range that starts mid-file (Hashed, ContentCRC) covers the
	// bytes from the one before its start, where its reader starts, up
	// to Hashed, and Status done means done up to the range's end. Its
	// file's Size may not change: the ranges were cut from it.
	Range *readers.Range `json:"range,omitempty"`
}

// CheckpointTotals are the counts of the rows below the watermark.
type CheckpointTotals struct {
	Read             int64            `json:"read"`
	Delivered        int64            `json:"delivered"`
	Rejected         int64            `json:"rejected"`
	RejectedByReason map[string]int64 `json:"rejected_by_reason"`
	Filtered         int64            `json:"filtered"`
	// FilteredByRule counts the filtered rows by the mapping's drop rule
	// that filtered them (rows outside the time window are not in it).
	FilteredByRule map[string]int64 `json:"filtered_by_rule,omitempty"`
	// FilteredNoMessage and Messages are Report's, with a mapping of
	// several messages per row.
	FilteredNoMessage int64          `json:"filtered_no_message,omitempty"`
	Messages          *MessageCounts `json:"messages,omitempty"`
}

// DefaultCheckpointPath names the checkpoint of an import from its sources,
// its mapping and its destination, so that the same command finds its own
// checkpoint and different imports never share one. The mapping's name, not
// its content, takes part, so that a changed mapping finds the old
// checkpoint and is refused rather than silently starting over.
func DefaultCheckpointPath(sources []string, mapping, destination string) string {
	h := sha256.New()
	for _, s := range sources {
		if s != "-" && !readers.IsObjectURL(s) {
			if abs, err := filepath.Abs(s); err == nil {
				s = abs
			}
		}
		fmt.Fprintf(h, "source %q\n", s)
	}
	if mapping != "" && !strings.HasPrefix(mapping, "preset:") {
		if abs, err := filepath.Abs(mapping); err == nil {
			mapping = abs
		}
	}
	fmt.Fprintf(h, "mapping %q\n", mapping)
	fmt.Fprintf(h, "destination %q\n", destination)
	return filepath.Join(DefaultCheckpointDir, hex.EncodeToString(h.Sum(nil))[:16]+".json")
}

// absPath is path made absolute and clean, as a checkpoint records the
// sources: the same file has the same path from any working folder, however
// the command spelled it. A path that cannot be made absolute is kept.
func absPath(path string) string {
	if path == "-" || readers.IsObjectURL(path) {
		return path
	}
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return filepath.Clean(path)
}

// ErrCheckpointMismatch is what every CheckpointMismatchError is (errors.Is).
var ErrCheckpointMismatch = errors.New("checkpoint does not match this import")

// CheckpointMismatchError is the error of a run whose checkpoint belongs to
// another import: its sources, mapping, time window, destination or
// another option that changes what is sent differ, or a source
// changed: it grew, or the content the checkpoint hashed (see
// CheckpointFile) differs. Run returns it
// before anything is read or sent, and leaves the checkpoint as it was. To
// go on, run the import as the checkpoint records it, or set
// Config.Restart (the command's --restart) to discard the checkpoint and
// import everything again.
type CheckpointMismatchError struct {
	// Path is the checkpoint file.
	Path string
	// Changed names what differs: an option's key ("mapping", "since",
	// "until", "destination", "limits", …) or "sources".
	Changed []string
	// Details say each difference, with what it was and what it is now.
	Details []string
}

// Error names the checkpoint, every difference and the way forward.
func (e *CheckpointMismatchError) Error() string {
	return fmt.Sprintf("%s: %v: %s; run the import as the checkpoint records it to resume, or with --restart (Config.Restart) to discard the checkpoint and import everything again",
		e.Path, ErrCheckpointMismatch, strings.Join(e.Details, "; "))
}

// Is reports whether target is ErrCheckpointMismatch.
func (e *CheckpointMismatchError) Is(target error) bool { return target == ErrCheckpointMismatch }

// ErrCheckpointModified is the error of a checkpoint whose content does not
// match its checksum: it was edited, or damaged, outside backfill. Such a
// checkpoint is never trusted: a run refuses it before anything is read or
// sent, and Config.Restart (the command's --restart) discards it.
var ErrCheckpointModified = errors.New("modified outside backfill")

// LoadCheckpoint reads a checkpoint file. A missing file is an error
// wrapping os.ErrNotExist; a corrupt one names the file and the cause; one
// whose content does not match its checksum is an error wrapping
// ErrCheckpointModified. A checkpoint of version 1, written before
// checkpoints had a checksum, is read without one.
//
// A path that is a bucket URL (IsBucketURL: s3://, gs://, azblob://) is
// read from the bucket; see ReadCheckpoint for a read that a context can
// stop.
func LoadCheckpoint(path string) (*Checkpoint, error) {
	return ReadCheckpoint(context.Background(), path)
}

// ReadCheckpoint is LoadCheckpoint, with ctx for a checkpoint kept in a
// bucket: the read stops when ctx ends.
func ReadCheckpoint(ctx context.Context, path string) (*Checkpoint, error) {
	if IsBucketURL(path) {
		return loadBucketCheckpoint(ctx, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	return decodeCheckpoint(path, b)
}

// decodeCheckpoint decodes and checks the checkpoint b, read from path.
func decodeCheckpoint(path string, b []byte) (*Checkpoint, error) {
	var cp Checkpoint
	if err := json.Unmarshal(b, &cp); err != nil {
		return nil, fmt.Errorf("checkpoint %s is corrupt (%v); run with --restart to discard it and start over", path, err)
	}
	switch cp.Version {
	case 1:
		// Older than checksums: trusted as it is, once; the run that
		// resumes it writes it with a checksum.
	case CheckpointVersion:
		if !checksumMatches(b, cp.Checksum) {
			return nil, fmt.Errorf("checkpoint %s was %w (its content does not match its checksum); it cannot be trusted: run with --restart to discard it and import everything again", path, ErrCheckpointModified)
		}
	default:
		return nil, fmt.Errorf("checkpoint %s has version %d, this backfill reads versions 1 and %d", path, cp.Version, CheckpointVersion)
	}
	if len(cp.Files) == 0 || cp.Options == nil {
		return nil, fmt.Errorf("checkpoint %s is corrupt (no files or no options); run with --restart to discard it and start over", path)
	}
	for i, f := range cp.Files {
		switch f.Status {
		case StatusDone, StatusPending:
		case StatusPartial:
			if f.Resume == nil {
				return nil, fmt.Errorf("checkpoint %s is corrupt (file %d is partial without a resume position); run with --restart to discard it", path, i+1)
			}
		default:
			return nil, fmt.Errorf("checkpoint %s is corrupt (file %d has status %q); run with --restart to discard it", path, i+1, f.Status)
		}
	}
	return &cp, nil
}

// save writes the checkpoint atomically: a temporary file in the same
// folder, fsync, rename over the old one, fsync of the folder. Mode 0600.
// crash is called at the crash points on the way.
func (cp *Checkpoint) save(path string, crash func(point string)) error {
	b, err := cp.encode()
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename, there is nothing to remove
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("checkpoint: %w", err)
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("checkpoint: write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("checkpoint: sync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("checkpoint: close %s: %w", tmp.Name(), err)
	}
	crash(crashCheckpointWritten)
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	crash(crashCheckpointRenamed)
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("checkpoint: sync %s: %w", dir, err)
	}
	return nil
}

// encode returns the checkpoint as it is written, sealed with its
// checksum.
func (cp *Checkpoint) encode() ([]byte, error) {
	cp.Version, cp.Checksum = CheckpointVersion, ""
	b, err := json.MarshalIndent(cp, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("checkpoint: encode: %w", err)
	}
	return sealCheckpoint(append(b, '\n')), nil
}

// checksumField is how the encoded checkpoint holds an empty Checksum,
// its last field.
var checksumField = []byte(`"checksum": ""`)

// sealCheckpoint fills in the empty checksum of an encoded checkpoint, b:
// the SHA-256 of b as it is.
func sealCheckpoint(b []byte) []byte {
	i := bytes.LastIndex(b, checksumField)
	if i < 0 {
		panic("importer: an encoded checkpoint without its checksum field")
	}
	sum := sha256.Sum256(b)
	sealed := make([]byte, 0, len(b)+80)
	sealed = append(sealed, b[:i]...)
	sealed = append(sealed, `"checksum": "sha256:`...)
	sealed = hex.AppendEncode(sealed, sum[:])
	sealed = append(sealed, '"')
	return append(sealed, b[i+len(checksumField):]...)
}

// checksumMatches reports whether the checkpoint file b, whose checksum
// field holds sum, is what sealCheckpoint wrote: its SHA-256 with the
// field's value empty is sum.
func checksumMatches(b []byte, sum string) bool {
	digest, ok := strings.CutPrefix(sum, "sha256:")
	if !ok || len(digest) != 2*sha256.Size {
		return false
	}
	quoted := []byte(`"` + sum + `"`)
	i := bytes.LastIndex(b, quoted)
	if i < 0 {
		return false
	}
	h := sha256.New()
	h.Write(b[:i])
	h.Write([]byte(`""`))
	h.Write(b[i+len(quoted):])
	return hex.EncodeToString(h.Sum(nil)) == digest
}

// fileOf returns the checkpoint entry of a source as it is now.
func fileOf(src readers.Source) (CheckpointFile, error) {
	f := CheckpointFile{Path: absPath(src.Path), Size: src.Size, Fingerprint: src.Fingerprint, Format: src.Format, Status: StatusPending, Range: src.Range}
	if src.Archive != "" {
		return memberOf(src)
	}
	if src.IsObject() {
		// Recognised by its key (Path), size and ETag or generation
		// (Fingerprint): the version the store gave, which reads ask for.
		return f, nil
	}
	st, err := os.Stat(src.Path)
	if err != nil {
		return f, err
	}
	f.ModTime = st.ModTime().UTC()
	if src.Format == readers.FormatParquet {
		if f.FooterSHA256, err = readers.FooterDigest(src.Path); err != nil {
			return f, err
		}
	}
	return f, nil
}

// match checks that the checkpoint at path belongs to an import of these
// sources with these options, and returns a
// *CheckpointMismatchError that says every difference.
func (cp *Checkpoint) match(path string, files []CheckpointFile, options map[string]string, preview bool) error {
	e := &CheckpointMismatchError{Path: path}
	changed := func(what, detail string) {
		if !slices.Contains(e.Changed, what) {
			e.Changed = append(e.Changed, what)
		}
		e.Details = append(e.Details, detail)
	}
	keys := make([]string, 0, len(options)+len(cp.Options))
	seen := map[string]bool{}
	for k := range options {
		keys, seen[k] = append(keys, k), true
	}
	for k := range cp.Options {
		if !seen[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		was, now := cp.Options[k], options[k]
		if was == now {
			continue
		}
		switch k {
		case "mapping":
			changed(k, fmt.Sprintf("the mapping changed: option mapping was %q, is now %q", was, now))
		case "since", "until":
			changed(k, fmt.Sprintf("the time window changed: option %s was %q, is now %q", k, was, now))
		case "destination":
			changed(k, fmt.Sprintf("the destination changed: option destination was %q, is now %q", was, now))
		case "shard":
			changed(k, fmt.Sprintf("the shard changed: the checkpoint is of shard %q, this run is shard %q (each shard keeps its own checkpoint)", was, now))
		default:
			changed(k, fmt.Sprintf("option %s was %q, is now %q", k, was, now))
		}
	}
	if len(files) != len(cp.Files) {
		changed("sources", fmt.Sprintf("the sources are %d files, the checkpoint has %d", len(files), len(cp.Files)))
	}
	for i := 0; i < len(files) && i < len(cp.Files); i++ {
		was, now := cp.Files[i], files[i]
		switch {
		case (readers.IsObjectURL(was.Path) || readers.IsObjectURL(now.Path)) && was.Path != now.Path:
			changed("sources", fmt.Sprintf("file %d was %s, is now %s", i+1, was.Path, now.Path))
		case !filepath.IsAbs(was.Path) && absPath(was.Path) != now.Path:
			// A checkpoint of an older backfill records paths as the
			// command named them, relative to the folder it ran in.
			changed("sources", fmt.Sprintf("file %d was %s, relative to the folder that import ran in (a checkpoint of an older backfill), is now %s; run the import from that folder",
				i+1, was.Path, now.Path))
		case filepath.IsAbs(was.Path) && was.Path != now.Path:
			changed("sources", fmt.Sprintf("file %d was %s, is now %s", i+1, was.Path, now.Path))
		case !sameRange(was.Range, now.Range) || (was.Range != nil && was.Size != now.Size):
			changed("sources", fmt.Sprintf("%s: the part this shard reads was %s of %d bytes, is now %s of %d bytes: the file changed, or the shards were split otherwise",
				now.Path, rangeText(was), was.Size, rangeText(now), now.Size))
		case was.Status == StatusPending:
			// Nothing of it was read: it is read as it is now.
		case readers.IsObjectFingerprint(now.Fingerprint) && (was.Fingerprint != now.Fingerprint || was.Size != now.Size):
			changed("sources", fmt.Sprintf("%s changed: it was %d bytes with %s when the checkpoint was written, is now %d bytes with %s",
				now.Path, was.Size, strings.TrimPrefix(was.Fingerprint, "object:"), now.Size, strings.TrimPrefix(now.Fingerprint, "object:")))
		case readers.IsObjectFingerprint(now.Fingerprint):
			// The same version of the object: the store's ETag or
			// generation changes with its content.
		case isMemberFingerprint(now.Fingerprint) && was.Fingerprint != now.Fingerprint:
			changed("sources", fmt.Sprintf("%s changed: the zip archive's directory records another CRC-32 or size for it than the checkpoint saw", now.Path))
		case now.Size > was.Size && was.Status == StatusPartial && was.ContentCRC != "":
			// A file that grew while it was read, or since: the rows
			// up to the resume position are those the checkpoint saw
			// if the prefix it hashed is the same (verifyContent).
		case now.Size > was.Size:
			changed("sources", fmt.Sprintf("%s grew from %d to %d bytes since the checkpoint", now.Path, was.Size, now.Size))
		case was.Size != now.Size:
			changed("sources", fmt.Sprintf("%s changed: size was %d bytes, is now %d", now.Path, was.Size, now.Size))
		case was.FooterSHA256 != "" || was.ContentCRC != "":
			// Recognised by content: a prefix is read again and compared
			// once everything else matches (verifyContent).
			if was.FooterSHA256 != now.FooterSHA256 {
				changed("sources", fmt.Sprintf("%s changed: its footer (the Parquet file's metadata) differs from what the checkpoint saw", now.Path))
			}
		case was.Fingerprint != now.Fingerprint:
			changed("sources", fmt.Sprintf("%s changed: its content differs (same size)", now.Path))
		case !was.ModTime.Equal(now.ModTime):
			changed("sources", fmt.Sprintf("%s changed: modified %s, the checkpoint saw %s", now.Path,
				now.ModTime.Format(time.RFC3339), was.ModTime.Format(time.RFC3339)))
		}
	}
	if cp.Preview != preview {
		if cp.Preview {
			changed("preview", "the checkpoint is of a preview (--dry-run, --output or --stub), which sent nothing; an import that sends does not resume it: give it another --checkpoint, or run with --restart")
		} else {
			changed("preview", "the checkpoint is of an import that sends; a preview (--dry-run, --output or --stub) does not resume it: give the preview another --checkpoint")
		}
	}
	if len(e.Details) == 0 {
		return nil
	}
	return e
}

// optionSet returns the options a checkpoint must match: the caller's,
// then the identity of the import that Run computes itself, which no
// caller's option overrides: the mapping, the time window, the
// destination, and the options of reading and batching. The keys and
// values are those the command recorded before Run computed them, so that
// older checkpoints still match.
func (r *run) optionSet() map[string]string {
	o := map[string]string{}
	for k, v := range r.cfg.Options {
		o[k] = v
	}
	o["mapping"] = "passthrough"
	if r.cfg.Spec != nil {
		o["mapping"] = r.cfg.Spec.Fingerprint()
	}
	delete(o, "since")
	delete(o, "until")
	delete(o, "future_tolerance")
	if m := r.cfg.Mapping; !m.Since.IsZero() {
		o["since"] = m.Since.UTC().Format(time.RFC3339Nano)
	}
	if m := r.cfg.Mapping; !m.Until.IsZero() {
		o["until"] = m.Until.UTC().Format(time.RFC3339Nano)
	}
	if ft := r.cfg.Mapping.FutureTolerance; ft != 0 {
		o["future_tolerance"] = ft.String()
	}
	o["destination"] = r.cfg.Destination
	delete(o, "id_namespace")
	if ns := r.cfg.Mapping.IDNamespace; ns != "" {
		o["id_namespace"] = ns
	}
	ro := r.cfg.Reader
	o["format"] = ro.Format
	o["max_line_bytes"] = strconv.Itoa(ro.MaxLineBytes)
	if ro.Delimiter != 0 {
		o["delimiter"] = string(ro.Delimiter)
	}
	if len(ro.Columns) > 0 {
		b, _ := json.Marshal(ro.Columns)
		o["columns"] = string(b)
	}
	if ro.Null != nil {
		b, _ := json.Marshal(ro.Null)
		o["null"] = string(b)
	}
	if ro.Select != nil {
		b, _ := json.Marshal(ro.Select)
		o["select"] = string(b)
	}
	if ro.Encoding != "" {
		// Offsets are the same bytes in any encoding; the text is not.
		o["encoding"] = strings.ToLower(ro.Encoding)
	}
	delete(o, "shard")
	if sh := r.cfg.Shard; sh.active() {
		o["shard"] = sh.String()
	}
	l := r.cfg.Limits
	o["limits"] = fmt.Sprintf("%d/%d/%d", l.MaxBatchBytes, l.MaxMessageBytes, l.MaxMessages)
	return o
}

// resume loads the checkpoint, if the run keeps one, and returns it with the
// mark to start reading from. A checkpoint of another import, or of
// sources whose content changed, is an error.
func (r *run) resume(ctx context.Context) (*Checkpoint, mark, error) {
	path := r.cfg.CheckpointPath
	if path == "" {
		return nil, mark{}, nil
	}
	for _, s := range r.sources {
		if s.Path == "-" {
			return nil, mark{}, nil // stdin cannot be read again: no checkpoint
		}
	}
	r.files = make([]CheckpointFile, len(r.sources))
	for i, s := range r.sources {
		f, err := fileOf(s)
		if err != nil {
			return nil, mark{}, err
		}
		r.files[i] = f
	}
	if r.cfg.Restart {
		if r.bucket != nil {
			if err := r.bucket.removeRejectsCopy(ctx); err != nil {
				return nil, mark{}, err
			}
			return nil, mark{}, r.bucket.remove(ctx)
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, mark{}, fmt.Errorf("checkpoint: %w", err)
		}
		return nil, mark{}, nil
	}
	cp, err := r.loadCheckpoint(ctx)
	if errors.Is(err, os.ErrNotExist) {
		return nil, mark{}, nil
	}
	if err != nil {
		return nil, mark{}, err
	}
	if err := cp.match(path, r.files, r.options, r.cfg.Preview); err != nil {
		return nil, mark{}, err
	}
	if err := r.verifyContent(ctx, path, cp); err != nil {
		return nil, mark{}, err
	}
	r.started = cp.Started
	for i, f := range cp.Files {
		switch f.Status {
		case StatusPartial:
			return cp, mark{File: i, Pos: *f.Resume}, nil
		case StatusPending:
			return cp, mark{File: i}, nil
		}
	}
	return cp, mark{File: len(r.sources)}, nil
}

// loadCheckpoint reads the run's checkpoint, from its bucket if it is
// kept in one.
func (r *run) loadCheckpoint(ctx context.Context) (*Checkpoint, error) {
	if r.bucket == nil {
		return LoadCheckpoint(r.cfg.CheckpointPath)
	}
	return r.bucket.load(ctx)
}

// saveCheckpoint writes cp, to its bucket if it is kept in one.
func (r *run) saveCheckpoint(cp *Checkpoint) error {
	if r.bucket != nil {
		return r.bucket.save(cp, r.crash)
	}
	return cp.save(r.cfg.CheckpointPath, r.crash)
}

// restore sets the run's state where cp, the checkpoint resumed from (nil
// on a fresh run), leaves it: the counts below its watermark, the rejects
// file cut back to the offset it records, and the tracker's watermark at
// from.
func (r *run) restore(cp *Checkpoint, from mark) error {
	var offset int64
	var total0 tally
	var byReason map[string]int64
	var fileTallies []tally
	if cp != nil {
		offset = cp.RejectsOffset
		total0 = tally{Read: cp.Totals.Read, Delivered: cp.Totals.Delivered, Rejected: cp.Totals.Rejected, Filtered: cp.Totals.Filtered,
			NoMessage: cp.Totals.FilteredNoMessage}
		if cp.Totals.Messages != nil {
			total0.Messages = *cp.Totals.Messages
		}
		byReason = cp.Totals.RejectedByReason
		fileTallies = make([]tally, len(r.sources))
		for i, f := range cp.Files {
			fileTallies[i] = tally{Read: f.Read, Delivered: f.Delivered, Rejected: f.Rejected, Filtered: f.Filtered}
			if i < from.File {
				r.cfg.Reader.Progress.Add(partBytes(r.sources[i]))
			}
		}
		r.startDelivered = total0.Delivered
		r.read.Store(total0.Read)
		r.rejectsSeen.Store(total0.Rejected)
	}
	restored, err := r.prepareBucketRejects(cp)
	if err != nil {
		return err
	}
	if err := r.openRejectsFile(cp, offset); err != nil {
		return err
	}
	if restored != "" {
		r.rejectsCopied = restored
	}
	r.tracker = newTracker(r.cfg.MaxInFlight, len(r.sources), r.files != nil, from, total0, byReason, fileTallies, r.rejects.size())
	if cp != nil {
		maps.Copy(r.tracker.filteredBy, cp.Totals.FilteredByRule)
	}
	if r.files != nil {
		r.tracker.prefixes = r.prefixes
		if r.tracker.prefixes == nil {
			r.tracker.prefixes = make([]prefixTrack, len(r.sources))
		}
	}
	return nil
}
