package importer

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
