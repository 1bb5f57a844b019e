package importer

import (
	"os"
	"path/filepath"
)

// LocateCheckpoint returns the default checkpoint of an import
// (DefaultCheckpointPath) from whichever folder the command runs in: the
// first that exists of .backfill/NAME in the working folder, in each folder
// above it, in the folder of each source and in each folder above that;
// if none exists, .backfill/NAME in the working folder. NAME is computed
// from absolute paths, so that an import run again from the folder above
// (work/big.csv), or with the source spelled another way (./big.csv),
// finds and resumes the checkpoint of the first run.
func LocateCheckpoint(sources []string, mapping, destination string) string {
	return locate(sources, DefaultCheckpointPath(sources, mapping, destination))
}

// LocateShardCheckpoint is LocateCheckpoint for shard s of an import: it
// finds the shard's checkpoint (ShardCheckpointPath) wherever
// LocateCheckpoint would find the import's. Without shards, it is
// LocateCheckpoint.
func LocateShardCheckpoint(sources []string, mapping, destination string, s Shard) string {
	return locate(sources, ShardCheckpointPath(DefaultCheckpointPath(sources, mapping, destination), s))
}

// locate returns the checkpoint named as path is, in .backfill/ of the
// first folder LocateCheckpoint looks in where it exists, else path.
func locate(sources []string, path string) string {
	if exists(path) {
		return path
	}
	name := filepath.Base(path)
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	for _, s := range sources {
		if s == "-" || IsBucketURL(s) {
			continue
		}
		starts = append(starts, absPath(s))
	}
	seen := map[string]bool{}
	for _, dir := range starts {
		for {
			if seen[dir] {
				break
			}
			seen[dir] = true
			if p := filepath.Join(dir, DefaultCheckpointDir, name); exists(p) {
				return p
			}
			up := filepath.Dir(dir)
			if up == dir {
				break
			}
			dir = up
		}
	}
	return path
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
