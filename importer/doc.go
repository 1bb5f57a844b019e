// Package importer runs an import: it reads rows from sources, maps them to
// Segment messages, packs them into batches and sends them through a sink,
// writing rejects and counting every row as delivered, rejected or filtered.
// It owns the pipeline, the checkpoint and its identity, the rejects file,
// the error budget and the counts. It knows neither file formats nor HTTP,
// and does no disk I/O under the tracker's lock.
//
// An import is a pipeline of stages, one file each, that hand each other
// blocks of rows and batches of messages, never one row at a time:
//
//	read.go      reads the sources from where the last run stopped, in blocks of rows
//	map.go       maps each block's rows into the sink's message writer (several workers)
//	assemble.go  puts the blocks back in order, packs batches and cuts the rows into
//	             jobs: contiguous ranges of rows that settle as one
//	send.go      sends each job's batch and settles its rows
//	track.go     decides, under its lock and without I/O, which jobs are settled, in
//	             order; caps the jobs in flight
//	commit.go    the one place that writes meanwhile, in order: each settled job's
//	             rejects, then the checkpoint that covers them
//	run.go       Run, and the errgroup that runs the stages
//
// Beside them: checkpoint.go (the checkpoint's format, checksum, identity
// and resuming), locate.go (finding an import's default checkpoint from
// any folder), writable.go (checking outputs before anything is sent),
// rejects.go (the rejects file), budget.go (the error budget),
// report.go (the Report and progress), config.go and crashpoint.go (the
// points where a crash leaves state to repair, for tests).
package importer
