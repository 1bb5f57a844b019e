// Package client is the programmatic Client: what Segment's server
// libraries offer (Enqueue of typed messages, a background queue flushed
// by size and by interval, callbacks for every message delivered or
// failed, Close that reports what was lost), on the importer's own sending
// engine: sink.MessageWriter and sink.Batcher, and the
// sink/segment delivery.
//
// It owns the queue, the typed messages (Identify, Track, Page, Screen,
// Group, Alias), the callbacks and the Client's log; it must not know the
// wire format, the HTTP protocol (both belong to the packages it uses),
// source files or the importer.
package client
