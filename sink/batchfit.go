package sink

// Fits reports whether n messages of size bytes in all, each at most
// MaxMessageBytes, fit in the current batch without closing it, and
// whether they fit in an empty one. It lets the messages of one row go
// in one batch: when they do not fit in the current one, the caller
// flushes it first.
func (bt *Batcher) Fits(n, size int) (inCurrent, inEmpty bool) {
	l := bt.limits
	body := size + n - 1 + envelopeBytes // the messages, their commas, the envelope
	inEmpty = n <= l.MaxMessages && body <= l.MaxBatchBytes
	b := bt.cur
	if b == nil || len(b.ends) == 0 {
		return inEmpty, inEmpty
	}
	inCurrent = len(b.ends)+n <= l.MaxMessages && len(b.buf)-len(bodyPrefix)+1+body <= l.MaxBatchBytes
	return inCurrent, inEmpty
}
