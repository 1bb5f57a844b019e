package importer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/backfillhq/backfill/mappings"
	"github.com/backfillhq/backfill/readers"
	"github.com/backfillhq/backfill/sink"
)

func TestSourceKey(t *testing.T) {
	sep := string(filepath.Separator)
	for _, c := range []struct {
		args []string
		path string
		want string
	}{
		{[]string{"data"}, filepath.Join("data", "2024", "a.ndjson"), "2024/a.ndjson"},
		{[]string{"/mnt/x/data/"}, "/mnt/x/data/2024/a.ndjson", "2024/a.ndjson"},
		{[]string{"/srv/data"}, "/srv/data/2024/a.ndjson", "2024/a.ndjson"},
		{[]string{"data/**/*.ndjson"}, filepath.Join("data", "2024", "a.ndjson"), "2024/a.ndjson"},
		{[]string{"*.csv"}, "b.csv", "b.csv"},
		{[]string{"/mnt/x/export.ndjson"}, "/mnt/x/export.ndjson", "export.ndjson"},
		{[]string{"other", "/mnt/x/export.zip"}, "/mnt/x/export.zip!1/a.json.gz", "export.zip!1/a.json.gz"},
		{[]string{"in"}, filepath.Join("in", "e.zip") + "!a.json", "e.zip!a.json"},
		{[]string{sep}, sep + filepath.Join("a", "b.csv"), "a/b.csv"},
		{[]string{"s3://bucket/exports/"}, "s3://bucket/exports/2024/a.json.gz", "2024/a.json.gz"},
		{[]string{"gs://bucket/exports/2024-*/*.json"}, "gs://bucket/exports/2024-05/a.json", "2024-05/a.json"},
		{[]string{"s3://bucket/exports/a.json"}, "s3://bucket/exports/a.json", "a.json"},
	} {
		if got := SourceKey(c.args, c.path); got != c.want {
			t.Errorf("SourceKey(%q, %q) = %q, want %q", c.args, c.path, got, c.want)
		}
	}
}

// TestShardOfIsStable pins the hash, which every machine that runs a
// shard, of any version, must compute alike.
func TestShardOfIsStable(t *testing.T) {
	got := []int{ShardOf("a.ndjson", 3), ShardOf("2024/a.ndjson", 3), ShardOf("export.zip!1/a.json.gz", 7), ShardOf("x", 1)}
	want := []int{shardOfFNV("a.ndjson", 3), shardOfFNV("2024/a.ndjson", 3), shardOfFNV("export.zip!1/a.json.gz", 7), 0}
	if !slices.Equal(got, want) {
		t.Fatalf("ShardOf: %v, want %v", got, want)
	}
}

// shardOfFNV is FNV-1a 64 written out, as the README states it.
func shardOfFNV(key string, n int) int {
	h := uint64(14695981039346656037)
	for i := range len(key) {
		h ^= uint64(key[i])
		h *= 1099511628211
	}
	return int(h % uint64(n))
}

// shardInput writes six small NDJSON files and one of 300 rows that the
// shards cut into byte ranges, some rows of each malformed. It returns the
// folder and the ids of the good rows and the bad lines.
func shardInput(t *testing.T) (dir string, good, bad []string) {
	dir = filepath.Join(t.TempDir(), "in")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for f, n := range []int{10, 20, 5, 1, 40, 17, 300} {
		name := fmt.Sprintf("f%d.ndjson", f)
		badRows := map[int]string{}
		for i := 7; i <= n; i += 13 {
			line := fmt.Sprintf(`{"broken":"%s-%d"`, name, i)
			badRows[i] = line
			bad = append(bad, line)
		}
		writeNDJSON(t, dir, name, n, badRows)
		for i := 1; i <= n; i++ {
			if _, ok := badRows[i]; !ok {
				good = append(good, fmt.Sprintf("%s-%d", name, i))
			}
		}
	}
	return dir, good, bad
}

func shardConfig(dir, in string, s Shard, snk sink.Sink) Config {
	cp := ShardCheckpointPath(filepath.Join(dir, "cp.json"), s)
	return Config{
		Sources:            []string{in},
		Sink:               snk,
		Limits:             sink.Limits{MaxMessages: 10},
		Concurrency:        1,
		CheckpointPath:     cp,
		RejectsPath:        RejectsPathFor(cp),
		CheckpointInterval: -1,
		Shard:              s,
	}
}

// TestShardsReadEveryRowOnce imports one folder as 3 shards and checks
// that together they deliver every good row and reject every bad one
// once, that the large file was cut into a range for each shard, and
// that a shard run again has nothing left to do.
func TestShardsReadEveryRowOnce(t *testing.T) {
	in, good, bad := shardInput(t)
	dir := t.TempDir()
	var ids, rejected []string
	ranges, byOffset := 0, 0
	for k := range 3 {
		s := Shard{Index: k, Count: 3, SplitBytes: 10000}
		snk := &fakeSink{send: accept}
		cfg := shardConfig(dir, in, s, snk)
		rep, err := Run(context.Background(), cfg)
		if !errors.Is(err, nil) || !rep.Complete || rep.Shard != s.String() {
			t.Fatalf("shard %s: %v, %+v", s, err, rep)
		}
		for _, m := range snk.messages {
			ids = append(ids, m["messageId"].(string))
		}
		for _, r := range readRejectsFile(t, cfg.RejectsPath) {
			rejected = append(rejected, string(r.Raw))
			data, err := os.ReadFile(r.File)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(string(data[r.Offset:]), string(r.Raw)+"\n") {
				t.Fatalf("shard %s: reject %+v: the file does not hold its row at its offset", s, r)
			}
			if r.Line == 0 {
				byOffset++
			}
		}
		cp, err := LoadCheckpoint(cfg.CheckpointPath)
		if err != nil {
			t.Fatal(err)
		}
		if cp.Options["shard"] != s.String() {
			t.Fatalf("shard %s: the checkpoint records shard %q", s, cp.Options["shard"])
		}
		for _, f := range cp.Files {
			if f.Range != nil {
				ranges++
				if !strings.HasSuffix(f.Path, "f6.ndjson") || f.Status != StatusDone || f.ContentCRC == "" {
					t.Fatalf("shard %s: range entry %+v", s, f)
				}
			}
		}
		again, err := Run(context.Background(), shardConfig(dir, in, s, &fakeSink{send: accept}))
		if err != nil || !again.AlreadyComplete {
			t.Fatalf("shard %s again: %v, %+v; want nothing to do", s, err, again)
		}
	}
	if ranges != 3 {
		t.Fatalf("the large file was cut into %d ranges, want 3", ranges)
	}
	if byOffset == 0 {
		t.Fatal("no reject is named by its offset alone, as those of the ranges that start mid-file are")
	}
	slices.Sort(ids)
	slices.Sort(good)
	if !slices.Equal(ids, good) {
		t.Fatalf("the shards delivered %d messages, want the %d good rows once each", len(ids), len(good))
	}
	slices.Sort(rejected)
	slices.Sort(bad)
	if !slices.Equal(rejected, bad) {
		t.Fatalf("the shards rejected\n%q\nwant\n%q", rejected, bad)
	}
}

// TestShardResumesInARange stops a shard inside its byte range of the
// large file and checks that the resumed run delivers the rest of the
// shard's rows, after the acknowledged ones.
func TestShardResumesInARange(t *testing.T) {
	in, _, _ := shardInput(t)
	dir := t.TempDir()
	want := map[string]bool{}
	for k := range 3 {
		s := Shard{Index: k, Count: 3, SplitBytes: 10000}
		snk := &fakeSink{send: accept}
		if _, err := Run(context.Background(), shardConfig(t.TempDir(), in, s, snk)); err != nil {
			t.Fatal(err)
		}
		if k == 1 {
			for _, m := range snk.messages {
				want[m["messageId"].(string)] = true
			}
		}
	}
	s := Shard{Index: 1, Count: 3, SplitBytes: 10000}
	first := &fakeSink{send: failAfter(len(want) / 10 / 2)}
	if _, err := Run(context.Background(), shardConfig(dir, in, s, first)); err == nil {
		t.Fatal("the first run did not stop")
	}
	cp, err := LoadCheckpoint(ShardCheckpointPath(filepath.Join(dir, "cp.json"), s))
	if err != nil {
		t.Fatal(err)
	}
	partial := slices.IndexFunc(cp.Files, func(f CheckpointFile) bool { return f.Status == StatusPartial })
	if partial < 0 || cp.Files[partial].Range == nil || cp.Files[partial].Resume.Line != 0 || cp.Files[partial].ContentCRC == "" {
		t.Fatalf("checkpoint files %+v: want the shard stopped inside its range, with a digest", cp.Files)
	}
	second := &fakeSink{send: accept}
	rep, err := Run(context.Background(), shardConfig(dir, in, s, second))
	if err != nil || !rep.Resumed || !rep.Complete {
		t.Fatalf("resumed: %v, %+v", err, rep)
	}
	got := map[string]bool{}
	for _, m := range append(first.messages, second.messages...) {
		got[m["messageId"].(string)] = true
	}
	if len(got) != len(want) {
		t.Fatalf("the two runs delivered %d distinct rows, want the shard's %d", len(got), len(want))
	}
	for id := range got {
		if !want[id] {
			t.Fatalf("the resumed shard delivered %s, which is another shard's", id)
		}
	}
}

// TestShardCountChangeIsRefused runs shard 0 of 3 and then shard 0 of
// 4 of the same import.
func TestShardCountChangeIsRefused(t *testing.T) {
	in, _, _ := shardInput(t)
	dir := t.TempDir()
	if _, err := Run(context.Background(), shardConfig(dir, in, Shard{Index: 0, Count: 3}, &fakeSink{send: accept})); err != nil {
		t.Fatal(err)
	}
	for _, restart := range []bool{false, true} {
		cfg := shardConfig(dir, in, Shard{Index: 0, Count: 4}, &fakeSink{send: accept})
		cfg.Restart = restart
		_, err := Run(context.Background(), cfg)
		want := fmt.Sprintf("this import is split into 3 shards (checkpoints %s), not 4: a changed shard count would move rows between shards; run each shard with --shard K/3 to finish it, or delete those checkpoints (and their rejects files) to split the import anew",
			filepath.Join(dir, "cp.shard-0-of-3.json"))
		var sce *ShardCountError
		if !errors.As(err, &sce) || !errors.Is(err, ErrCheckpointMismatch) || err.Error() != want {
			t.Fatalf("restart %v: %v, want\n%s", restart, err, want)
		}
	}
	// A checkpoint of one shard given to another is refused.
	cfg := shardConfig(dir, in, Shard{Index: 1, Count: 3}, &fakeSink{send: accept})
	cfg.CheckpointPath = filepath.Join(dir, "cp.shard-0-of-3.json")
	cfg.RejectsPath = filepath.Join(dir, "other.rejects.ndjson")
	_, err := Run(context.Background(), cfg)
	var mm *CheckpointMismatchError
	if !errors.As(err, &mm) || !slices.Contains(mm.Changed, "shard") || !strings.Contains(err.Error(), `the shard changed: the checkpoint is of shard "0/3", this run is shard "1/3"`) {
		t.Fatalf("shard 1 on shard 0's checkpoint: %v", err)
	}
}

// TestShardRefusesAChangedRange resumes a shard whose byte range of the
// large file moved because the file grew.
func TestShardRefusesAChangedRange(t *testing.T) {
	in, _, _ := shardInput(t)
	dir := t.TempDir()
	big := filepath.Join(in, "f6.ndjson")
	var s Shard
	var rangePart readers.Source
	for k := range 3 {
		s = Shard{Index: k, Count: 3, SplitBytes: 10000}
		srcs, err := readers.Expand([]string{in}, readers.Options{})
		if err != nil {
			t.Fatal(err)
		}
		parts, err := Parts([]string{in}, srcs, readers.Options{}, s)
		if err != nil {
			t.Fatal(err)
		}
		if i := slices.IndexFunc(parts, func(p readers.Source) bool { return p.Range != nil && p.Range.Start > 0 }); i >= 0 {
			rangePart = parts[i]
			break
		}
	}
	if _, err := Run(context.Background(), shardConfig(dir, in, s, &fakeSink{send: failAfter(1)})); err == nil {
		t.Fatal("the first run did not stop")
	}
	f, err := os.OpenFile(big, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"type":"track","messageId":"late","userId":"u","event":"E","timestamp":"2024-03-01T12:00:00Z"}` + "\n")
	f.Close()
	_, err = Run(context.Background(), shardConfig(dir, in, s, &fakeSink{send: accept}))
	want := fmt.Sprintf("%s: the part this shard reads was %s of %d bytes, is now ", big, rangePart.Range.String(readers.FormatNDJSON), rangePart.Size)
	if !errors.Is(err, ErrCheckpointMismatch) || !strings.Contains(err.Error(), want) {
		t.Fatalf("resume after the file grew: %v, want it to say %q", err, want)
	}
}

// TestPartsKeepTheirShardWhenAFileIsAdded checks that adding a file to
// an import moves no other file from its shard.
func TestPartsKeepTheirShardWhenAFileIsAdded(t *testing.T) {
	in, _, _ := shardInput(t)
	before := map[int][]string{}
	for k := range 4 {
		s := Shard{Index: k, Count: 4}
		srcs, _ := readers.Expand([]string{in}, readers.Options{})
		parts, err := Parts([]string{in}, srcs, readers.Options{}, s)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range parts {
			before[k] = append(before[k], p.Path)
		}
	}
	writeNDJSON(t, in, "added.ndjson", 3, nil)
	for k := range 4 {
		s := Shard{Index: k, Count: 4}
		srcs, _ := readers.Expand([]string{in}, readers.Options{})
		parts, _ := Parts([]string{in}, srcs, readers.Options{}, s)
		var now []string
		for _, p := range parts {
			if filepath.Base(p.Path) != "added.ndjson" {
				now = append(now, p.Path)
			}
		}
		if !slices.Equal(now, before[k]) {
			t.Fatalf("shard %d held %q, holds %q once a file is added", k, before[k], now)
		}
	}
}

// TestShardsKeepPositionIDs imports with messageIds derived from the
// rows' positions, as 3 shards and whole: the large NDJSON file is not
// cut into byte ranges, whose readers would not know the rows' ordinals,
// and every message has the id the whole import gives it.
func TestShardsKeepPositionIDs(t *testing.T) {
	in, _, _ := shardInput(t)
	spec, err := mappings.ParseSpec([]byte("passthrough: true\nmessageId: {derive: position}\n"), "m.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ids := func(s Shard) []string {
		snk := &fakeSink{send: accept}
		cfg := shardConfig(t.TempDir(), in, s, snk)
		cfg.Spec = spec
		if _, err := Run(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
		if s.Count > 1 {
			cp, err := LoadCheckpoint(cfg.CheckpointPath)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range cp.Files {
				if f.Range != nil {
					t.Fatalf("shard %s: %s was cut into %s", s, f.Path, rangeText(f))
				}
			}
		}
		var out []string
		for _, m := range snk.messages {
			out = append(out, fmt.Sprint(m["messageId"], " ", m["properties"]))
		}
		return out
	}
	whole := ids(Shard{})
	var sharded []string
	for k := range 3 {
		sharded = append(sharded, ids(Shard{Index: k, Count: 3, SplitBytes: 10000})...)
	}
	slices.Sort(whole)
	slices.Sort(sharded)
	if !slices.Equal(whole, sharded) {
		t.Fatalf("the shards' messageIds differ from the whole import's")
	}
}

// TestPartsCoverEveryRowOnce is a property test: for random sets of
// NDJSON and CSV files of random sizes, random shard counts and split
// sizes, the rows that the shards' parts hold are the rows of the files,
// each in exactly one shard.
func TestPartsCoverEveryRowOnce(t *testing.T) {
	for seed := range uint64(25) {
		rng := rand.New(rand.NewPCG(seed, 3))
		in := filepath.Join(t.TempDir(), "in")
		os.Mkdir(in, 0o755)
		for f := range 1 + rng.IntN(8) {
			var b strings.Builder
			csv := rng.IntN(4) == 0
			if csv {
				b.WriteString("a,b\n")
			}
			for i := range rng.IntN(200) {
				if csv {
					fmt.Fprintf(&b, "%d,%q\n", i, strings.Repeat("x", rng.IntN(40)))
					continue
				}
				if rng.IntN(10) == 0 {
					b.WriteString("\n")
				}
				fmt.Fprintf(&b, `{"f":%d,"i":%d,"pad":%q}`+"\n", f, i, strings.Repeat("x", rng.IntN(80)))
			}
			ext := ".ndjson"
			if csv {
				ext = ".csv"
			}
			sub := filepath.Join(in, fmt.Sprintf("d%d", rng.IntN(3)))
			os.MkdirAll(sub, 0o755)
			if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%d%s", f, ext)), []byte(b.String()), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		srcs, err := readers.Expand([]string{in}, readers.Options{})
		if err != nil {
			t.Fatal(err)
		}
		rowsOf := func(src readers.Source) []string {
			rd, err := readers.Open(context.Background(), src, readers.Options{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer rd.Close()
			var keys []string
			for {
				row, err := rd.Next(context.Background())
				if err == io.EOF {
					return keys
				}
				if err != nil {
					t.Fatal(err)
				}
				keys = append(keys, fmt.Sprintf("%s@%d %s", row.Pos.File, row.Pos.Offset, row.Raw))
			}
		}
		var want []string
		for _, src := range srcs {
			want = append(want, rowsOf(src)...)
		}
		n := 1 + rng.IntN(8)
		split := int64(1 + rng.IntN(4000))
		shardOf := map[string]int{}
		for k := range n {
			parts, err := Parts([]string{in}, srcs, readers.Options{}, Shard{Index: k, Count: n, SplitBytes: split})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range parts {
				for _, key := range rowsOf(p) {
					if other, ok := shardOf[key]; ok {
						t.Fatalf("seed %d, %d shards, split %d: row %s is in shards %d and %d", seed, n, split, key, other, k)
					}
					shardOf[key] = k
				}
			}
		}
		if len(shardOf) != len(want) {
			t.Fatalf("seed %d, %d shards, split %d: the shards hold %d rows, the files %d", seed, n, split, len(shardOf), len(want))
		}
		for _, key := range want {
			if _, ok := shardOf[key]; !ok {
				t.Fatalf("seed %d, %d shards, split %d: row %s is in no shard", seed, n, split, key)
			}
		}
	}
}

// TestLocateShardCheckpoint finds a shard's checkpoint in .backfill/ of
// the sources' folder, from another working folder.
func TestLocateShardCheckpoint(t *testing.T) {
	root := t.TempDir()
	data := filepath.Join(root, "data")
	other := filepath.Join(root, "other")
	for _, d := range []string{filepath.Join(data, DefaultCheckpointDir), other} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	src := []string{filepath.Join(data, "a.ndjson")}
	s := Shard{Index: 1, Count: 3}
	name := filepath.Base(ShardCheckpointPath(DefaultCheckpointPath(src, "", "stub"), s))
	if !strings.HasSuffix(name, ".shard-1-of-3.json") {
		t.Fatalf("shard checkpoint %s", name)
	}
	writeNDJSON(t, filepath.Join(data, DefaultCheckpointDir), name, 1, nil)
	t.Chdir(other)
	if got, want := LocateShardCheckpoint(src, "", "stub", s), filepath.Join(data, DefaultCheckpointDir, name); got != want {
		t.Fatalf("LocateShardCheckpoint: %s, want %s", got, want)
	}
	if got, want := LocateShardCheckpoint(src, "", "stub", Shard{Index: 0, Count: 3}), ShardCheckpointPath(DefaultCheckpointPath(src, "", "stub"), Shard{Index: 0, Count: 3}); got != want {
		t.Fatalf("LocateShardCheckpoint of a shard without one: %s, want %s", got, want)
	}
	if got, want := LocateShardCheckpoint(src, "", "stub", Shard{}), LocateCheckpoint(src, "", "stub"); got != want {
		t.Fatalf("without shards: %s, want %s", got, want)
	}
}
