package importer

// Crash points are the places where a process that dies leaves state on
// disk that the next run must repair: the rejects file, the checkpoint and
// what was sent. A run calls its crash hook at each of them, so that tests
// can stop it there, as a kill would, and check that resuming repairs
// everything; the hook is nil in every ordinary build.
const (
	// crashBeforeFirstCheckpoint: the rejects file is open, no checkpoint
	// of this run is written yet and no row is read.
	crashBeforeFirstCheckpoint = "before-first-checkpoint"
	// crashRejectsFlushed: the rejects a checkpoint will cover are on disk,
	// the checkpoint is not yet written.
	crashRejectsFlushed = "rejects-flushed"
	// crashCheckpointWritten: the new checkpoint is in its temporary file,
	// synced, not yet renamed over the old one.
	crashCheckpointWritten = "checkpoint-written"
	// crashCheckpointRenamed: the new checkpoint replaced the old one.
	crashCheckpointRenamed = "checkpoint-renamed"
	// crashBatchAcked: the sink acknowledged a batch that the watermark
	// does not cover yet.
	crashBatchAcked = "batch-acked"
	// crashRejectsTornLine: the head of a reject's line reached the
	// rejects file, its tail is still buffered.
	crashRejectsTornLine = "rejects-torn-line"
	// crashRejectsMerging: a checkpoint in a bucket is about to be
	// written, and the copy of the rejects file there is about to be
	// written as one object that replaces its last parts: nothing of it
	// is written yet.
	crashRejectsMerging = "rejects-merging"
	// crashRejectsMerged: the object that replaces the last parts of the
	// copy of the rejects file is written over the first of them, the
	// others are not deleted yet, the checkpoint is not written.
	crashRejectsMerged = "rejects-merged"
	// crashRejectsPartDeleted: one more of the parts that the merged
	// object replaces is deleted.
	crashRejectsPartDeleted = "rejects-part-deleted"
	// crashRunEnded: the final checkpoint is written, Run has not returned.
	crashRunEnded = "run-ended"
)

// crashHook is called at each crash point by every run whose Config has no
// hook of its own. It is nil except in builds with the tag crashpoints,
// which the command's crash tests make (see crashpoint_hook.go).
var crashHook func(point string)

// crash calls the run's crash hook, if any, at a crash point.
func (r *run) crash(point string) {
	if h := r.cfg.crashHook; h != nil {
		h(point)
	} else if crashHook != nil {
		crashHook(point)
	}
}
