package sink

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// TestAddEncodedBatchesAsAddDoes feeds the same messages to one Batcher
// through Add and to another through EncodeMessage and AddEncoded: the
// batches, the refusals and the request bodies must be identical.
func TestAddEncodedBatchesAsAddDoes(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for round := range 30 {
		l := Limits{MaxMessageBytes: 300 + rng.IntN(600), MaxMessages: 1 + rng.IntN(8)}
		l.MaxBatchBytes = l.MaxMessageBytes + envelopeBytes + rng.IntN(3000)
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			direct, encoded := NewBatcher(l), NewBatcher(l)
			var a, b []*Batch
			for i := range 1 + rng.IntN(60) {
				m := sizedMessage(t, i, 250+rng.IntN(l.MaxMessageBytes+40-250))
				if i%17 == 5 {
					m.UserID = "" // invalid: refused by both
				}
				fullA, errA := direct.Add(m)
				buf, errB := encodeMessage(nil, m, l)
				var fullB *Batch
				if errB == nil {
					fullB, errB = encoded.AddEncoded(buf)
				}
				if (errA == nil) != (errB == nil) || (errA != nil && reasonOf(errA) != reasonOf(errB)) {
					t.Fatalf("message %d: Add says %v, EncodeMessage+AddEncoded say %v", i, errA, errB)
				}
				if fullA != nil {
					a = append(a, fullA)
				}
				if fullB != nil {
					b = append(b, fullB)
				}
			}
			if f := direct.Flush(); f != nil {
				a = append(a, f)
			}
			if f := encoded.Flush(); f != nil {
				b = append(b, f)
			}
			if len(a) != len(b) {
				t.Fatalf("%d batches through Add, %d through AddEncoded", len(a), len(b))
			}
			for i := range a {
				if !bytes.Equal(a[i].Body(encodedSentAt), b[i].Body(encodedSentAt)) {
					t.Fatalf("batch %d differs", i)
				}
			}
		})
	}
}

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

func reasonOf(err error) string {
	var r interface{ RejectReason() string }
	if errors.As(err, &r) {
		return r.RejectReason()
	}
	return err.Error()
}

var encodedSentAt = time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
