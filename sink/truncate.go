package sink

// Truncate drops what w holds after the first n bytes of Bytes: the
// messages ended after them and any message begun. It is how a mapper
// that writes several messages for a row takes them all back when one of
// them fails. n must be at most Len.
func (w *MessageWriter) Truncate(n int) {
	w.buf = w.buf[:n]
	w.start = -1
	w.cs.derived = false
}
