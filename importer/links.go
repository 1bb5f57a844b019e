package importer

import "github.com/backfillhq/backfill/readers"

// recordBrokenLink returns the readers.Options.BrokenLink of the run: it
// keeps each broken link for the report, then calls next, the caller's
// own, if any.
func (r *run) recordBrokenLink(next func(path string, err error)) func(path string, err error) {
	return func(path string, err error) {
		r.brokenLinks = append(r.brokenLinks, path)
		if next != nil {
			next(path, err)
		}
	}
}

// recordArchiveDay returns the readers.Options.ArchiveSkipped of the run:
// it keeps each day folder of Segment's archive that the time window
// skipped for the report, then calls next, the caller's own, if any.
func (r *run) recordArchiveDay(next func(readers.ArchiveDay)) func(readers.ArchiveDay) {
	return func(d readers.ArchiveDay) {
		r.archiveDays = append(r.archiveDays, d.Folder)
		if next != nil {
			next(d)
		}
	}
}
