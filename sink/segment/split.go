package segment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/backfillhq/backfill/sink"
)

// Splitter is a Sink that isolates the messages a destination refuses. When
// the wrapped sink answers a batch of several messages with a 400 Bad
// Request or a 413 Content Too Large, the Splitter splits the batch in
// halves and sends each half through the wrapped sink, recursively; a single
// message that is still refused is rejected for good.
//
// Send returns nil when every message was delivered, or a *sink.RejectedError
// listing the refused messages by their index in the batch given to Send,
// with Reason sink.ReasonServerRejected (400) or sink.ReasonMessageTooLarge (413) and the
// server's message as Detail; every other message was then delivered. Any
// other error, from any half, is returned as it is and means the batch is
// not known to be delivered: halves sent before the error may have been
// delivered, and sending the whole batch again is safe because its messages
// keep their messageIds, which Segment de-duplicates.
//
// Halves are sent one after the other. Send blocks like the wrapped sink's.
// Safe for concurrent use if the wrapped sink is.
type Splitter struct {
	next sink.Sink
}

var _ sink.Sink = (*Splitter)(nil)

// NewSplitter returns a Splitter sending through next.
func NewSplitter(next sink.Sink) *Splitter {
	return &Splitter{next: next}
}

// Send sends b, splitting it as the Splitter's doc describes.
func (s *Splitter) Send(ctx context.Context, b *sink.Batch) error {
	var rejected []sink.RejectedMessage
	if err := s.send(ctx, b, 0, &rejected); err != nil {
		return err
	}
	if len(rejected) > 0 {
		return &sink.RejectedError{Messages: rejected}
	}
	return nil
}

// send sends b, whose first message is message base of the original batch,
// and appends what is refused to rejected.
func (s *Splitter) send(ctx context.Context, b *sink.Batch, base int, rejected *[]sink.RejectedMessage) error {
	err := s.next.Send(ctx, b)
	if err == nil {
		return nil
	}
	var re *sink.RejectedError
	if errors.As(err, &re) {
		for _, m := range re.Messages {
			m.Index += base
			*rejected = append(*rejected, m)
		}
		return nil
	}
	se, ok := refusal(err)
	if !ok {
		return err
	}
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("%w (while isolating refused messages: %v)", cerr, err)
	}
	if b.Len() == 1 {
		reason := sink.ReasonServerRejected
		if se.Status == http.StatusRequestEntityTooLarge {
			reason = sink.ReasonMessageTooLarge
		}
		*rejected = append(*rejected, sink.RejectedMessage{Index: base, Reason: reason, Detail: serverMessage(se)})
		return nil
	}
	first, second := b.Split()
	if err := s.send(ctx, first, base, rejected); err != nil {
		return err
	}
	return s.send(ctx, second, base+first.Len(), rejected)
}

// refusal reports whether err is a 400 or 413 response, which a smaller
// batch may avoid.
func refusal(err error) (*StatusError, bool) {
	var se *StatusError
	if errors.Is(err, sink.ErrUnauthorized) || !errors.As(err, &se) {
		return nil, false
	}
	return se, se.Status == http.StatusBadRequest || se.Status == http.StatusRequestEntityTooLarge
}

// serverMessage returns what the server said about a refusal: the "message"
// or "error" of a JSON body, else the body, else the status.
func serverMessage(se *StatusError) string {
	var body struct {
		Message string `json:"message"`
		Error   string `json:"error"`
	}
	if json.Unmarshal([]byte(se.Body), &body) == nil {
		if body.Message != "" {
			return body.Message
		}
		if body.Error != "" {
			return body.Error
		}
	}
	if se.Body != "" {
		return se.Body
	}
	return fmt.Sprintf("http %d", se.Status)
}
