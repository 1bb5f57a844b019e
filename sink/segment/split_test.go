package segment

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backfillhq/backfill/internal/sinktest"
	"github.com/backfillhq/backfill/sink"
	"github.com/backfillhq/backfill/sink/receiver"
)

// TestSplitterIsolatesBadMessages sends a batch through the whole chain to a
// server that refuses any batch holding a marked message.
func TestSplitterIsolatesBadMessages(t *testing.T) {
	for _, tc := range []struct {
		name       string
		n          int
		bad        []int
		status     int
		wantReason string
	}{
		{"one in 100", 100, []int{37}, 400, "server_rejected"},
		{"first of 100", 100, []int{0}, 400, "server_rejected"},
		{"last of 100", 100, []int{99}, 400, "server_rejected"},
		{"two in 100", 100, []int{3, 64}, 400, "server_rejected"},
		{"neighbours", 10, []int{4, 5}, 400, "server_rejected"},
		{"all of 3", 3, []int{0, 1, 2}, 400, "server_rejected"},
		{"alone", 1, []int{0}, 400, "server_rejected"},
		{"too large", 100, []int{51}, 413, "message_too_large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := sinktest.NewClock()
			f := sinktest.NewServer(t, clk.Now, sinktest.RejectMarked(tc.status))
			s, stats := newTestSender(t, f, clk.Now, nil)
			chain := NewSplitter(newTestRetrier(NewRateLimiter(s, 0, 0), RetryPolicy{}, stats, clk))
			err := chain.Send(context.Background(), sinktest.BuildBatch(t, "m", tc.n, tc.bad...))

			var re *sink.RejectedError
			if !errors.As(err, &re) {
				t.Fatalf("Send: %v, want a *RejectedError", err)
			}
			var got []int
			for _, m := range re.Messages {
				got = append(got, m.Index)
				if m.Reason != tc.wantReason || m.Detail != "bad property in batch" {
					t.Errorf("message %d: reason %q detail %q, want %q and the server's message", m.Index, m.Reason, m.Detail, tc.wantReason)
				}
			}
			if !slices.Equal(got, tc.bad) {
				t.Errorf("rejected indexes %v, want %v", got, tc.bad)
			}
			delivered := f.Delivered()
			for i := range tc.n {
				id := fmt.Sprintf("m-%d", i)
				want := 1
				if slices.Contains(tc.bad, i) {
					want = 0
				}
				if delivered[id] != want {
					t.Errorf("%s delivered %d times, want %d", id, delivered[id], want)
				}
			}
			if n := stats.Messages.Load(); n != int64(tc.n-len(tc.bad)) {
				t.Errorf("Messages = %d, want %d", n, tc.n-len(tc.bad))
			}
			if stats.Retries.Load() != 0 {
				t.Errorf("a refused batch was retried")
			}
		})
	}
}

func TestSplitterDeliversGoodBatch(t *testing.T) {
	f := sinktest.NewServer(t, nil, sinktest.RejectMarked(400))
	s, _ := newTestSender(t, f, nil, nil)
	if err := NewSplitter(s).Send(context.Background(), sinktest.BuildBatch(t, "m", 20)); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if n := len(f.Requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestSplitterDetail(t *testing.T) {
	for _, tc := range []struct {
		name, body, want string
	}{
		{"json message", `{"code":"invalid","message":"userId too long"}`, "userId too long"},
		{"json error", `{"error":"bad batch"}`, "bad batch"},
		{"text", "Bad Request", "Bad Request"},
		{"empty", "", "http 400"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next := sinktest.SendFunc(func(ctx context.Context, b *sink.Batch) error {
				return &StatusError{Status: 400, Body: tc.body}
			})
			err := NewSplitter(next).Send(context.Background(), sinktest.BuildBatch(t, "m", 1))
			var re *sink.RejectedError
			if !errors.As(err, &re) || len(re.Messages) != 1 {
				t.Fatalf("Send: %v, want one rejected message", err)
			}
			if got := re.Messages[0]; got.Detail != tc.want || got.Index != 0 {
				t.Errorf("rejected %+v, want index 0, detail %q", got, tc.want)
			}
		})
	}
}

// TestSplitterOtherErrors: an error other than a refusal, from the whole
// batch or from a half, ends Send and is returned as it is.
func TestSplitterOtherErrors(t *testing.T) {
	boom := errors.New("batch not delivered: 11 attempts failed")
	unauthorized := &unauthorizedError{status: &StatusError{Status: 401}}
	for _, tc := range []struct {
		name    string
		fail    error // what a half of fewer than 8 messages gets
		wantIs  error
		wantLen int // sends
	}{
		{"exhausted", boom, boom, 2},
		{"unauthorized", unauthorized, sink.ErrUnauthorized, 2},
		{"other status", &StatusError{Status: 404}, nil, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sends atomic.Int32
			next := sinktest.SendFunc(func(ctx context.Context, b *sink.Batch) error {
				sends.Add(1)
				if b.Len() == 8 {
					return &StatusError{Status: 400}
				}
				return tc.fail
			})
			err := NewSplitter(next).Send(context.Background(), sinktest.BuildBatch(t, "m", 8))
			var re *sink.RejectedError
			if err == nil || errors.As(err, &re) {
				t.Fatalf("Send: %v, want the half's error", err)
			}
			if err != tc.fail {
				t.Errorf("Send: %v, want %v as it is", err, tc.fail)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("errors.Is(%v, %v) = false", err, tc.wantIs)
			}
			if got := int(sends.Load()); got != tc.wantLen {
				t.Errorf("%d sends, want %d: the second half went out after the first failed", got, tc.wantLen)
			}
		})
	}
}

// TestSplitterNestedRejections: a *RejectedError from the wrapped sink for
// a half is taken over with its indexes moved to the original batch.
func TestSplitterNestedRejections(t *testing.T) {
	next := sinktest.SendFunc(func(ctx context.Context, b *sink.Batch) error {
		if b.Len() == 10 {
			return &StatusError{Status: 400}
		}
		if strings.Contains(string(b.Message(0)), `"m-5"`) {
			return &sink.RejectedError{Messages: []sink.RejectedMessage{{Index: 2, Reason: "server_rejected", Detail: "inner"}}}
		}
		return nil
	})
	err := NewSplitter(next).Send(context.Background(), sinktest.BuildBatch(t, "m", 10))
	var re *sink.RejectedError
	if !errors.As(err, &re) {
		t.Fatalf("Send: %v, want a *RejectedError", err)
	}
	if len(re.Messages) != 1 || re.Messages[0].Index != 7 || re.Messages[0].Detail != "inner" {
		t.Errorf("rejected %+v, want message 7 (5 + 2)", re.Messages)
	}
}

func TestSplitterCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	next := sinktest.SendFunc(func(ctx context.Context, b *sink.Batch) error {
		if b.Len() == 6 {
			return &StatusError{Status: 400}
		}
		cancel()
		<-ctx.Done()
		return fmt.Errorf("segment request: %w", ctx.Err())
	})
	err := NewSplitter(next).Send(ctx, sinktest.BuildBatch(t, "m", 6))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Send: %v, want context.Canceled", err)
	}
	var re *sink.RejectedError
	if errors.As(err, &re) {
		t.Errorf("a cancelled send reported rejections: %v", re)
	}
}

// TestSplitterAgainstReceiver: the Segment sink posting to a Receiver, which
// answers as Segment does. A malformed batch (one message over the
// receiver's per-message cap) is answered 400; the splitter isolates that
// message as a reject and delivers the others once. A message Segment would
// drop is answered 200, as by Segment: it is not a reject of the sink.
func TestSplitterAgainstReceiver(t *testing.T) {
	var out bytes.Buffer
	rcv := receiver.New(receiver.Config{WriteKey: sinktest.WriteKey, Out: &out, Limits: sink.Limits{MaxMessageBytes: 600}})
	srv := httptest.NewServer(rcv)
	t.Cleanup(srv.Close)
	snk, _, err := New(Config{WriteKey: sinktest.WriteKey, Endpoint: srv.URL, Rate: -1, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	bt := sink.NewBatcher(sink.Limits{})
	var msgs []*sink.Message
	for i := range 10 {
		size := 300
		if i == 6 {
			size = 700
		}
		msgs = append(msgs, sinktest.SizedMessage(t, i, size))
	}
	for _, m := range msgs {
		if full, err := sinktest.Add(bt, m); err != nil || full != nil {
			t.Fatalf("Add: %v, %v", full, err)
		}
	}
	err = snk.Send(context.Background(), bt.Flush())
	var re *sink.RejectedError
	if !errors.As(err, &re) || len(re.Messages) != 1 || re.Messages[0].Index != 6 {
		t.Fatalf("Send: %v, want message 6 rejected", err)
	}
	if m := re.Messages[0]; m.Reason != "server_rejected" || !strings.Contains(m.Detail, "message_too_large") {
		t.Errorf("reject %+v, want the receiver's words on the size", m)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 9 || strings.Contains(out.String(), `"m000006"`) {
		t.Errorf("the receiver kept %d messages, want the 9 others once", len(lines))
	}
	if st := rcv.Stats(); st.Messages != 9 || st.Rejected == 0 || st.Dropped != 0 {
		t.Errorf("receiver stats %+v", st)
	}

	// A message Segment would drop: 200, no reject.
	bad := &sink.Message{Type: sink.TypeTrack, MessageID: "no-event", Timestamp: time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC), UserID: "u"}
	body := []byte(`{"type":"track","messageId":"no-event","userId":"u","timestamp":"2024-05-06T07:08:09.000Z"}`)
	if _, err := sink.NewMessageWriter(sink.Limits{}).WriteMessage(bad); err == nil {
		t.Fatal("a track without event is valid")
	}
	bt = sink.NewBatcher(sink.Limits{})
	if _, err := bt.AddEncoded(body); err != nil {
		t.Fatal(err)
	}
	b := bt.Flush()
	if err := snk.Send(context.Background(), b); err != nil {
		t.Errorf("Send of a message Segment would drop: %v, want nil (a 200)", err)
	}
	if got := rcv.DroppedByReason(); got[sink.ReasonMissingEvent] != 1 {
		t.Errorf("dropped by reason %v", got)
	}
}
