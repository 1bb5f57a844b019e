package main

import (
	"github.com/backfillhq/backfill/importer"
)

// validateBucketFiles checks a --checkpoint in a bucket, and refuses a
// --rejects in one: the rejects file is appended to as rows are rejected,
// which an object cannot be.
func (f *importFlags) validateBucketFiles() error {
	if importer.IsBucketURL(f.rejects) {
		return usagef("--rejects %s: the rejects file is appended to as rows are rejected, which an object in a bucket cannot be: name a local file (with a --checkpoint in a bucket, the default is .backfill/<store>-<bucket>/<key>.rejects.ndjson in the working folder)", f.rejects)
	}
	if importer.IsBucketURL(f.checkpoint) {
		if err := importer.CheckBucketURL(f.checkpoint); err != nil {
			return usagef("--checkpoint: %v", err)
		}
	}
	return nil
}
