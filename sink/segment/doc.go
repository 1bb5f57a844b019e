// Package segment delivers batches to Segment's HTTP Tracking API. It owns
// the HTTP sender (Basic auth, gzip, sentAt set fresh on every attempt,
// the status of each answer), the wrappers around it that retry with
// jittered exponential back-off and honour Retry-After (Retrier), cap and
// adapt the request rate (RateLimiter), and split a refused batch to
// isolate its bad messages (Splitter), the Stats of that work, and New,
// which stacks them into the sink the importer and the Client use.
//
// It takes batches as the sink package makes them and never looks inside
// a message: it must not know the message format (that is the sink
// package's MessageWriter), source files, mappings or the importer.
package segment
