package sink

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
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
			clk := newFakeClock()
			f := newFakeSegment(t, clk.Now, rejectMarked(tc.status))
			s, stats := newTestSender(t, f, clk.Now, nil)
			chain := NewSplitter(newTestRetrier(NewRateLimiter(s, 0, 0), RetryPolicy{}, stats, clk))
			err := chain.Send(context.Background(), buildBatch(t, "m", tc.n, tc.bad...))

			var re *RejectedError
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
			delivered := f.delivered()
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
	f := newFakeSegment(t, nil, rejectMarked(400))
	s, _ := newTestSender(t, f, nil, nil)
	if err := NewSplitter(s).Send(context.Background(), buildBatch(t, "m", 20)); err != nil {
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
			next := sendFunc(func(ctx context.Context, b *Batch) error {
				return &StatusError{Status: 400, Body: tc.body}
			})
			err := NewSplitter(next).Send(context.Background(), buildBatch(t, "m", 1))
			var re *RejectedError
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
		{"unauthorized", unauthorized, ErrUnauthorized, 2},
		{"other status", &StatusError{Status: 404}, nil, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sends atomic.Int32
			next := sendFunc(func(ctx context.Context, b *Batch) error {
				sends.Add(1)
				if b.Len() == 8 {
					return &StatusError{Status: 400}
				}
				return tc.fail
			})
			err := NewSplitter(next).Send(context.Background(), buildBatch(t, "m", 8))
			var re *RejectedError
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
	next := sendFunc(func(ctx context.Context, b *Batch) error {
		if b.Len() == 10 {
			return &StatusError{Status: 400}
		}
		if strings.Contains(string(b.Message(0)), `"m-5"`) {
			return &RejectedError{Messages: []RejectedMessage{{Index: 2, Reason: "server_rejected", Detail: "inner"}}}
		}
		return nil
	})
	err := NewSplitter(next).Send(context.Background(), buildBatch(t, "m", 10))
	var re *RejectedError
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
	next := sendFunc(func(ctx context.Context, b *Batch) error {
		if b.Len() == 6 {
			return &StatusError{Status: 400}
		}
		cancel()
		<-ctx.Done()
		return fmt.Errorf("segment request: %w", ctx.Err())
	})
	err := NewSplitter(next).Send(ctx, buildBatch(t, "m", 6))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Send: %v, want context.Canceled", err)
	}
	var re *RejectedError
	if errors.As(err, &re) {
		t.Errorf("a cancelled send reported rejections: %v", re)
	}
}
