package segment

import (
	"time"

	"github.com/backfillhq/backfill/sink"
)

// Request is what a sender tells its RequestObserver about one request.
type Request struct {
	// Status is the HTTP status of the response, or 0 when none came
	// (the connection failed, the attempt timed out, the run ended).
	Status int
	// Messages is the number of messages in the request's batch.
	Messages int
	// BatchBytes is the size of the request body before compression
	// (sink.Batch.Size), and BytesSent its size on the wire.
	BatchBytes, BytesSent int
	// Duration is the time from sending the request to reading its
	// response's head, or to the failure.
	Duration time.Duration
}

// RequestObserver is told about every request a Segment sender makes,
// retries and the halves of split batches included, once its outcome is
// known: once per request, never per message. Implementations must be safe
// for concurrent use and must not block, as the sender waits for them.
type RequestObserver interface {
	ObserveRequest(Request)
}

// observe tells o, if any, about a request of b that began at start.
func observe(o RequestObserver, b *sink.Batch, status, sent int, start, end time.Time) {
	if o == nil {
		return
	}
	o.ObserveRequest(Request{Status: status, Messages: b.Len(), BatchBytes: b.Size(), BytesSent: sent, Duration: end.Sub(start)})
}
