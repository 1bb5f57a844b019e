package main

import (
	"github.com/backfillhq/backfill/importer"
)

// rejectsConfig sets where the import writes its rejects, and the files
// it writes that folders and globs given as sources must skip. By default
// an import keeps its rejects beside its checkpoint, named after it; with
// --no-checkpoint, where the checkpoint would be; a preview writes none
// unless --rejects names a file, but still counts them.
func (f *importFlags) rejectsConfig(cfg *importer.Config, sources []string, destination string) {
	switch {
	case f.rejects != "":
		cfg.RejectsPath = f.rejects
	case f.preview():
		cfg.DiscardRejects = true
	case cfg.CheckpointPath != "":
		cfg.RejectsPath = importer.RejectsPathFor(cfg.CheckpointPath)
	default:
		cfg.RejectsPath = importer.RejectsPathFor(f.shardFile(importer.DefaultCheckpointPath(sources, f.mapping, destination)))
	}
	cfg.Outputs = append(cfg.Outputs, f.report, f.output, f.cpuProfile, f.memProfile)
}
