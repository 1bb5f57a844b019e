package importer

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/backfillhq/backfill/readers"
)

// DefaultSplitBytes is the default of Shard.SplitBytes: a plain NDJSON
// file of this size or more is cut into byte ranges, one for each shard.
const DefaultSplitBytes = 64 << 20

// Shard makes a run one of Count shards of an import, each a process of
// its own (a task of a Kubernetes Indexed Job, an AWS Batch array job or
// a Cloud Run job), that together read every row of the sources once:
// shard Index reads only the parts of the sources that fall to it (see
// Parts). The zero value, like a Count of 1, is the whole import.
type Shard struct {
	// Index is this shard's number, from 0 to Count-1, as the job runners
	// number their tasks.
	Index int
	// Count is the number of shards. Default (0): 1, no shards.
	Count int
	// SplitBytes is the size from which a plain NDJSON file is cut into
	// Count byte ranges rather than read whole by one shard. Default:
	// DefaultSplitBytes.
	SplitBytes int64
}

// String formats s as "INDEX/COUNT", as --shard takes it.
func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }

// Validate reports an index outside the count, or a negative size.
func (s Shard) Validate() error {
	if s.Count < 0 || (s.Count > 0 && (s.Index < 0 || s.Index >= s.Count)) {
		return fmt.Errorf("shard %d of %d: want an index from 0 to the count less one", s.Index, s.Count)
	}
	if s.SplitBytes < 0 {
		return fmt.Errorf("shard: SplitBytes is %d, want 0 (the default) or more", s.SplitBytes)
	}
	return nil
}

// active reports whether s splits the import.
func (s Shard) active() bool { return s.Count > 1 }

// ShardOf returns the shard, from 0 to count-1, that the source named key
// falls to: the FNV-1a 64-bit hash of key, modulo count. It depends on key
// alone, so that a source added to an import moves no other, and every
// machine that runs a shard assigns the sources alike.
func ShardOf(key string, count int) int {
	if count <= 1 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(key))
	return int(h.Sum64() % uint64(count))
}

// SourceKey is the name of a source that ShardOf hashes: its path relative
// to the argument that found it (the folder, or the part of a glob before
// its first wildcard), in slash form, so that machines that mount the
// same data at different places split it alike; the base name of a file
// named itself; for a member of a zip archive, the archive's name so made,
// "!" and the member's name; for an object of a bucket URL
// (s3://bucket/prefix/), its key below the URL's prefix. args are the
// import's sources as given.
func SourceKey(args []string, p string) string {
	slash := filepath.ToSlash(p)
	for _, arg := range args {
		root := filepath.ToSlash(filepath.Clean(globRoot(arg)))
		if IsBucketURL(arg) {
			root = urlRoot(arg)
		}
		switch {
		case slash == root:
			return path.Base(slash)
		case strings.HasPrefix(slash, root+"!"):
			return path.Base(root) + slash[len(root):]
		case root == ".":
			if !strings.HasPrefix(slash, "/") && !strings.HasPrefix(slash, "../") {
				return slash
			}
		case strings.HasPrefix(slash, root+"/"):
			return slash[len(root)+1:]
		case root == "/" && strings.HasPrefix(slash, "/"):
			return slash[1:]
		}
	}
	return path.Base(slash)
}

// urlRoot is the part of a bucket URL argument (s3://bucket/prefix/) that
// the keys of its objects are relative to: up to the last slash before
// its first wildcard, without the slashes that end it.
func urlRoot(arg string) string {
	if i := strings.IndexAny(arg, `*?[\`); i >= 0 {
		arg = arg[:strings.LastIndex(arg[:i], "/")+1]
	}
	return strings.TrimRight(arg, "/")
}

// globRoot is the part of a source argument before its first element
// with a wildcard: the argument itself when it has none.
func globRoot(arg string) string {
	if !strings.ContainsAny(arg, `*?[\`) {
		return arg
	}
	elems := strings.Split(filepath.Clean(arg), string(filepath.Separator))
	var root []string
	for _, e := range elems {
		if strings.ContainsAny(e, `*?[\`) {
			break
		}
		root = append(root, e)
	}
	switch {
	case len(root) == 0:
		return "."
	case len(root) == 1 && root[0] == "":
		return string(filepath.Separator)
	}
	return strings.Join(root, string(filepath.Separator))
}

// Parts returns the parts of sources that shard s reads, in the order of
// the sources: each source is cut by readers.Split into at most s.Count
// parts (Parquet files by row groups, plain NDJSON files of
// s.SplitBytes or more by byte ranges, every other file whole), and part
// j of the source named key (SourceKey) falls to shard
// (ShardOf(key, s.Count) + j) mod s.Count. So every part falls to one
// shard, the parts of one file to different shards, and the shards of a
// file named alike on every machine are the same.
func Parts(args []string, sources []readers.Source, opts readers.Options, s Shard) ([]readers.Source, error) {
	if !s.active() {
		return sources, nil
	}
	split := s.SplitBytes
	if split == 0 {
		split = DefaultSplitBytes
	}
	var mine []readers.Source
	for _, src := range sources {
		if src.Path == "-" {
			return nil, errors.New("standard input cannot be split into shards: save it to a file and import that")
		}
		parts, err := readers.Split(src, opts, s.Count, split)
		if err != nil {
			return nil, err
		}
		first := ShardOf(SourceKey(args, src.Path), s.Count)
		for j, p := range parts {
			if (first+j)%s.Count == s.Index {
				mine = append(mine, p)
			}
		}
	}
	return mine, nil
}

// ShardCheckpointPath is the checkpoint of shard s of the import whose
// checkpoint is path: its name with ".shard-INDEX-of-COUNT" before the
// extension (".backfill/1a2b.json" is ".backfill/1a2b.shard-0-of-3.json"
// for shard 0 of 3), so that every shard keeps its own. The query of a
// checkpoint in a bucket (s3://BUCKET/KEY?QUERY) is kept as it is.
// Without shards, it is path.
func ShardCheckpointPath(path string, s Shard) string {
	if !s.active() || path == "" {
		return path
	}
	name, query := cutQuery(path)
	ext := filepath.Ext(name)
	return fmt.Sprintf("%s.shard-%d-of-%d%s%s", strings.TrimSuffix(name, ext), s.Index, s.Count, ext, query)
}

// ParseShardCheckpointPath returns the checkpoint path of the whole
// import and the shard, if path is named as ShardCheckpointPath names it.
// The shard's SplitBytes is 0.
func ParseShardCheckpointPath(path string) (base string, s Shard, ok bool) {
	name, query := cutQuery(path)
	ext := filepath.Ext(name)
	stem := strings.TrimSuffix(name, ext)
	i := strings.LastIndex(stem, ".shard-")
	if i < 0 {
		return "", Shard{}, false
	}
	k, n, found := strings.Cut(stem[i+len(".shard-"):], "-of-")
	if !found {
		return "", Shard{}, false
	}
	index, err1 := strconv.Atoi(k)
	count, err2 := strconv.Atoi(n)
	if err1 != nil || err2 != nil || count < 2 || index < 0 || index >= count {
		return "", Shard{}, false
	}
	return stem[:i] + ext + query, Shard{Index: index, Count: count}, true
}

// ShardCountError is the error of a shard whose import has checkpoints of
// shards of another count: the sources would be split otherwise, and rows
// would move from one shard to another, to be sent twice or never. Run
// returns it before anything is read or sent. It is an
// ErrCheckpointMismatch (errors.Is).
type ShardCountError struct {
	// Shard is this run's shard, and Count the count of the checkpoints
	// found, at Paths.
	Shard Shard
	Count int
	Paths []string
}

// Error names the checkpoints found and the ways forward.
func (e *ShardCountError) Error() string {
	return fmt.Sprintf("this import is split into %d shards (checkpoints %s), not %d: a changed shard count would move rows between shards; run each shard with --shard K/%d to finish it, or delete those checkpoints (and their rejects files) to split the import anew",
		e.Count, strings.Join(e.Paths, ", "), e.Shard.Count, e.Count)
}

// Is reports whether target is ErrCheckpointMismatch.
func (e *ShardCountError) Is(target error) bool { return target == ErrCheckpointMismatch }

// checkShardCount refuses a shard whose checkpoint path has siblings of
// another shard count (ShardCheckpointPath names them all alike): files
// in the same folder, or objects under the same prefix of a bucket.
func checkShardCount(ctx context.Context, path string, s Shard) error {
	if !s.active() || path == "" {
		return nil
	}
	base, own, ok := ParseShardCheckpointPath(path)
	if !ok || own != (Shard{Index: s.Index, Count: s.Count}) {
		return nil // a checkpoint named by the caller
	}
	base, _ = cutQuery(base)
	ext := filepath.Ext(base)
	stem := strings.TrimSuffix(base, ext)
	var matches []string
	if IsBucketURL(path) {
		var err error
		if matches, err = shardObjects(ctx, path, stem+".shard-"); err != nil {
			return err
		}
	} else {
		// A pattern that cannot be matched finds nothing.
		matches, _ = filepath.Glob(globEscape(stem) + ".shard-*-of-*" + globEscape(ext))
	}
	var other []string
	count := 0
	for _, m := range matches {
		b, sh, ok := ParseShardCheckpointPath(m)
		if !ok || b != base || sh.Count == s.Count {
			continue
		}
		if count == 0 {
			count = sh.Count
		}
		if sh.Count == count {
			other = append(other, m)
		}
	}
	if len(other) == 0 {
		return nil
	}
	return &ShardCountError{Shard: s, Count: count, Paths: other}
}

// globEscape escapes the characters filepath.Match gives a meaning.
func globEscape(s string) string {
	var b strings.Builder
	for _, c := range s {
		if strings.ContainsRune(`*?[\`, c) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// sameRange reports whether two parts are the same part of a file.
func sameRange(a, b *readers.Range) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// rangeText words the part of a file a checkpoint entry is.
func rangeText(f CheckpointFile) string {
	if f.Range == nil {
		return "the whole file"
	}
	return f.Range.String(f.Format)
}

// partBytes is what a source adds to the bytes an import reads, as the
// readers count them: the file's size, or up to the end of a byte range,
// whose reader counts the bytes before it as read.
func partBytes(src readers.Source) int64 {
	if r := src.Range; r != nil && src.Format == readers.FormatNDJSON {
		return r.End
	}
	return src.Size
}
