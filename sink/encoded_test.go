package sink

import (
	"errors"
	"testing"
)

func TestEncodeMessageLeavesBufferOnError(t *testing.T) {
	buf := []byte("prefix")
	out, err := encodeMessage(buf, &Message{Type: TypeTrack, Event: "E"}, Limits{})
	var ve *ValidationError
	if !errors.As(err, &ve) || string(out) != "prefix" {
		t.Fatalf("EncodeMessage of an invalid message: %q, %v", out, err)
	}
	big := sizedMessage(t, 1, 2000)
	out, err = encodeMessage(buf, big, Limits{MaxMessageBytes: 1000})
	if !errors.Is(err, ErrMessageTooLarge) || string(out) != "prefix" {
		t.Fatalf("EncodeMessage of a large message: %q, %v", out, err)
	}
}
