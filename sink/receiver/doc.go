// Package receiver is a local stand-in for Segment's HTTP Tracking API,
// the server behind "backfill serve": it authenticates, decompresses and
// checks requests as Segment does, writes the messages it keeps as NDJSON,
// and counts the messages Segment would accept and then drop.
//
// It reads messages as raw JSON and applies the sink package's rules
// (sink.Head.Check, the size caps of sink.Limits); it must not know how
// messages are written, how batches are sent, source files or the
// importer.
package receiver
