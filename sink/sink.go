package sink

import (
	"context"
	"errors"
	"fmt"
)

// Sink delivers batches. Send blocks until the batch is acknowledged, has
// failed for good, or ctx ends. A nil error means every message of the batch
// was accepted. A *RejectedError means the batch was delivered except for the
// messages it lists, which the destination refused for good and which must
// not be sent again. Any other error means the batch was not (known to be)
// delivered; it wraps ErrUnauthorized when the write key was refused.
// Send does not keep b, or any part of it, once it returns: the caller may
// then Release it. Implementations are safe for concurrent use.
type Sink interface {
	Send(ctx context.Context, b *Batch) error
}

// ErrUnauthorized is wrapped by errors of a sink whose write key was
// refused (HTTP 401 or 403). The run must stop.
var ErrUnauthorized = errors.New("write key rejected")

// RejectedMessage is one message of a batch that the destination refused.
type RejectedMessage struct {
	Index  int    // index of the message in the batch that was sent
	Reason string // ReasonServerRejected or ReasonMessageTooLarge
	Detail string // the destination's own words, if any
}

// RejectedError reports the messages of a batch that were refused for good;
// every other message of the batch was delivered.
type RejectedError struct {
	Messages []RejectedMessage
}

// Error says how many messages were refused, with the destination's
// words when there is one.
func (e *RejectedError) Error() string {
	if len(e.Messages) == 1 {
		return fmt.Sprintf("1 message rejected: %s", e.Messages[0].Detail)
	}
	return fmt.Sprintf("%d messages rejected", len(e.Messages))
}
