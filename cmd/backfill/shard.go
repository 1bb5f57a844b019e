package main

import (
	"os"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/backfillhq/backfill/importer"
)

// shardFlags are the flags that make an import one shard of several,
// which the job runners' own variables stand in for.
type shardFlags struct {
	shard      string
	shards     int
	concurrent int
	splitBytes int64

	// resolved is the shard the flags and the environment name, once
	// validated; its Count is 0 without shards.
	resolved importer.Shard
	// lookupEnv reads the environment; os.LookupEnv.
	lookupEnv func(string) (string, bool)
}

func (f *shardFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.shard, "shard", "", "import only shard `K/N` of the sources: K from 0 to N-1, as the job runners number their tasks (default: from $JOB_COMPLETION_INDEX with --shards, $AWS_BATCH_JOB_ARRAY_INDEX and _SIZE, or $CLOUD_RUN_TASK_INDEX and _COUNT)")
	fs.IntVar(&f.shards, "shards", 0, "split the import into `N` shards, this one's index from $JOB_COMPLETION_INDEX (a Kubernetes Indexed Job), $AWS_BATCH_JOB_ARRAY_INDEX or $CLOUD_RUN_TASK_INDEX")
	fs.IntVar(&f.concurrent, "concurrent-shards", 0, "`M` shards run at once, which share --rate and --events-rate: each takes 1/M of them (default: the shard count)")
	fs.Int64Var(&f.splitBytes, "shard-split-bytes", importer.DefaultSplitBytes, "cut plain NDJSON files of `BYTES` or more into a byte range for each shard; smaller ones, and CSV and compressed files, go whole to one shard (the same on every shard)")
}

// runnerVars are the variables of the job runners that number the tasks
// of a job: the index's and the count's, if the runner sets one.
var runnerVars = []struct{ index, count string }{
	{"JOB_COMPLETION_INDEX", ""},
	{"AWS_BATCH_JOB_ARRAY_INDEX", "AWS_BATCH_JOB_ARRAY_SIZE"},
	{"CLOUD_RUN_TASK_INDEX", "CLOUD_RUN_TASK_COUNT"},
}

// validateShard resolves the shard from --shard, --shards and the job
// runners' variables. The flags win over the variables: --shard K/N sets
// both, --shards N the count. Values that contradict each other are a
// usage error: --shard with another --shards, two runners' variables
// that differ, an index without a count, an index outside the count.
func (f *shardFlags) validateShard(fs *pflag.FlagSet) error {
	lookup := f.lookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	f.resolved = importer.Shard{}
	if f.splitBytes < 1 {
		return usagef("--shard-split-bytes is %d, want a size in bytes above 0 (default: %d)", f.splitBytes, importer.DefaultSplitBytes)
	}
	if fs.Changed("shards") && f.shards < 1 {
		return usagef("--shards is %d, want the number of shards, 1 or more", f.shards)
	}
	var s importer.Shard
	switch {
	case fs.Changed("shard"):
		k, n, ok := strings.Cut(f.shard, "/")
		index, err1 := strconv.Atoi(k)
		count, err2 := strconv.Atoi(n)
		if !ok || err1 != nil || err2 != nil || count < 1 || index < 0 || index >= count {
			return usagef("--shard %q: want K/N, N shards and K this one's index from 0 to N-1, such as 0/3", f.shard)
		}
		if fs.Changed("shards") && f.shards != count {
			return usagef("--shard %s and --shards %d contradict each other: give one of them", f.shard, f.shards)
		}
		s = importer.Shard{Index: index, Count: count}
	default:
		index, count, from, err := shardFromEnv(lookup)
		if err != nil {
			return err
		}
		if fs.Changed("shards") {
			count = f.shards
		}
		switch {
		case from == "" && !fs.Changed("shards"):
			if fs.Changed("concurrent-shards") {
				return usagef("--concurrent-shards is given, but the import is not split into shards: add --shard K/N or --shards N")
			}
			return nil
		case from == "" && f.shards > 1:
			return usagef("--shards %d without the index of this shard: give --shard K/%d, or run it as a task of a Kubernetes Indexed Job ($JOB_COMPLETION_INDEX), an AWS Batch array job ($AWS_BATCH_JOB_ARRAY_INDEX) or a Cloud Run job ($CLOUD_RUN_TASK_INDEX)", f.shards, f.shards)
		case from == "":
			count = 1
		case count == 0:
			return usagef("$%s is %d, but the number of shards is not set: add --shards N (the Job's completions)", from, index)
		case index >= count:
			return usagef("$%s is %d, outside the %d shards: want an index from 0 to %d", from, index, count, count-1)
		}
		s = importer.Shard{Index: index, Count: count}
	}
	if s.Count <= 1 {
		if fs.Changed("concurrent-shards") && f.concurrent != 1 {
			return usagef("--concurrent-shards is %d, but the import is one shard: want 1, or leave it out", f.concurrent)
		}
		return nil
	}
	if fs.Changed("concurrent-shards") && (f.concurrent < 1 || f.concurrent > s.Count) {
		return usagef("--concurrent-shards is %d, want from 1 to the %d shards", f.concurrent, s.Count)
	}
	s.SplitBytes = f.splitBytes
	f.resolved = s
	return nil
}

// shardFromEnv reads the job runners' variables: the shard index, the
// count if the runner states it (0 if not), and the variable the index
// came from ("" if none is set). Two runners' variables that differ are a
// usage error, and so is a variable that is not a number.
func shardFromEnv(lookup func(string) (string, bool)) (index, count int, from string, err error) {
	number := func(name string) (int, bool, error) {
		v, ok := lookup(name)
		if !ok || strings.TrimSpace(v) == "" {
			return 0, false, nil
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 0 {
			return 0, false, usagef("$%s is %q, want a number from 0", name, v)
		}
		return n, true, nil
	}
	var fromCount string
	for _, rv := range runnerVars {
		i, ok, err := number(rv.index)
		if err != nil {
			return 0, 0, "", err
		}
		if !ok {
			continue
		}
		if from != "" && i != index {
			return 0, 0, "", usagef("$%s is %d and $%s is %d: the shard's index is unclear; give --shard K/N", from, index, rv.index, i)
		}
		if from == "" {
			index, from = i, rv.index
		}
		if rv.count == "" {
			continue
		}
		n, ok, err := number(rv.count)
		if err != nil {
			return 0, 0, "", err
		}
		if !ok {
			continue
		}
		if n < 1 {
			return 0, 0, "", usagef("$%s is %d, want 1 or more", rv.count, n)
		}
		if fromCount != "" && n != count {
			return 0, 0, "", usagef("$%s is %d and $%s is %d: the number of shards is unclear; give --shards N", fromCount, count, rv.count, n)
		}
		count, fromCount = n, rv.count
	}
	return index, count, from, nil
}

// concurrentShards is how many shards share the rates: --concurrent-shards,
// else the shard count.
func (f *shardFlags) concurrentShards() int {
	if f.concurrent > 0 {
		return f.concurrent
	}
	return f.resolved.Count
}

// shardRate is a rate of the whole import (--rate, --events-rate) as one
// shard takes it: divided among the shards that run at once. No limit
// (zero or negative) stays no limit.
func (f *shardFlags) shardRate(rate float64) float64 {
	if f.resolved.Count <= 1 || rate <= 0 {
		return rate
	}
	return rate / float64(f.concurrentShards())
}

// shardFile names a file of one shard that the flags name for the whole
// import (--checkpoint, --rejects, --output, --report), so that shards
// that run with the same flags, in one folder, keep their own:
// "out.ndjson" is "out.shard-0-of-3.ndjson" for shard 0 of 3. "-"
// (stdout), "" and a device (/dev/null, /dev/stdout) stay as they are.
func (f *shardFlags) shardFile(path string) string {
	if path == "-" || importer.IsDevice(path) {
		return path
	}
	return importer.ShardCheckpointPath(path, f.resolved)
}
