package sink

import (
	"bytes"
	"testing"
)

// Fits says what AddEncoded does: messages that fit go in the current
// batch, to the byte and to the message.
func TestBatcherFits(t *testing.T) {
	msg := bytes.Repeat([]byte("x"), 100)
	// Room for a body of 10+ (100+1)×4 - 1 + the rest of the envelope.
	limits := Limits{MaxBatchBytes: envelopeBytes + 4*100 + 3, MaxMessageBytes: 100, MaxMessages: 5}
	tests := []struct {
		name               string
		have, n            int
		inCurrent, inEmpty bool
	}{
		{"empty batch, four", 0, 4, true, true},
		{"empty batch, five", 0, 5, false, false},
		{"one in, three more", 1, 3, true, true},
		{"one in, four more", 1, 4, false, true},
		{"four in, one more", 4, 1, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bt := NewBatcher(limits)
			for range tt.have {
				if full, err := bt.AddEncoded(msg); full != nil || err != nil {
					t.Fatalf("AddEncoded = %v, %v", full, err)
				}
			}
			in, empty := bt.Fits(tt.n, tt.n*len(msg))
			if in != tt.inCurrent || empty != tt.inEmpty {
				t.Errorf("Fits(%d, %d) = %v, %v; want %v, %v", tt.n, tt.n*len(msg), in, empty, tt.inCurrent, tt.inEmpty)
			}
			// AddEncoded agrees: the messages go in without closing the
			// batch exactly when Fits says so.
			closed := false
			for range tt.n {
				full, err := bt.AddEncoded(msg)
				if err != nil {
					t.Fatal(err)
				}
				closed = closed || full != nil
			}
			if closed == (tt.inCurrent || tt.have == 0 && tt.inEmpty) {
				t.Errorf("AddEncoded closed a batch: %v, Fits said %v, %v", closed, in, empty)
			}
		})
	}
}

// Truncate takes back the messages written after a point.
func TestMessageWriterTruncate(t *testing.T) {
	w := NewMessageWriter(Limits{})
	write := func(user string) {
		w.Begin(TypeIdentify, batchSentAt)
		w.SetText(FieldMessageID, "m-"+user)
		w.SetText(FieldUserID, user)
		if _, err := w.End(); err != nil {
			t.Fatal(err)
		}
	}
	write("a")
	keep := string(w.Bytes())
	mark := w.Len()
	write("b")
	w.Begin(TypeIdentify, batchSentAt) // begun, not ended
	w.Truncate(mark)
	if got := string(w.Bytes()); got != keep {
		t.Errorf("after Truncate: %s, want %s", got, keep)
	}
	write("c")
	want := keep + `{"type":"identify","messageId":"m-c","timestamp":"2024-03-01T12:00:00.000Z","userId":"c","context":{"library":{"name":"backfill","version":"0.1.0"}}}`
	if got := string(w.Bytes()); got != want {
		t.Errorf("after Truncate and a message:\n%s\nwant\n%s", got, want)
	}
}
