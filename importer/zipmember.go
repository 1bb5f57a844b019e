package importer

import (
	"os"
	"strings"

	"github.com/backfillhq/backfill/readers"
)

// memberOf returns the checkpoint entry of a member of a zip archive as it
// is now (see CheckpointFile): the archive must exist; the member is
// recognised by what the archive's directory records of it, which Expand
// read, and by the digest of what was read of it.
func memberOf(src readers.Source) (CheckpointFile, error) {
	f := CheckpointFile{
		Path:        absPath(src.Archive) + "!" + src.Member,
		Size:        src.Size,
		Fingerprint: src.Fingerprint,
		Format:      src.Format,
		Status:      StatusPending,
	}
	if _, err := os.Stat(src.Archive); err != nil {
		return f, err
	}
	return f, nil
}

// isMemberFingerprint reports a fingerprint of a member of a zip archive
// (readers.Source.Fingerprint), which the archive's directory gives.
func isMemberFingerprint(fp string) bool { return strings.HasPrefix(fp, "zip:") }
