package sink

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// localBatch returns a batch of n messages whose ids start with prefix.
func localBatch(t testing.TB, prefix string, n int) *Batch {
	t.Helper()
	bt := NewBatcher(Limits{})
	for i := range n {
		m := sizedMessage(t, i, 250+i)
		m.MessageID = fmt.Sprintf("%s-%06d", prefix, i)
		m.Properties = Fields{{"text", "line\nbreak \u2028 \"quoted\""}, {"i", i}}
		if full, err := add(bt, m); err != nil || full != nil {
			t.Fatalf("Add = %v, %v", full, err)
		}
	}
	return bt.Flush()
}

func TestWriterSinkWritesNDJSON(t *testing.T) {
	var out bytes.Buffer
	s := NewWriterSink(&out)
	b1, b2 := localBatch(t, "a", 3), localBatch(t, "b", 2)
	for _, b := range []*Batch{b1, b2} {
		if err := s.Send(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	var want []string
	for _, b := range []*Batch{b1, b2} {
		for i := range b.Len() {
			want = append(want, string(b.Message(i)))
		}
	}
	got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("wrote\n%s\nwant\n%s", out.String(), strings.Join(want, "\n"))
	}
	if !strings.HasSuffix(out.String(), "\n") {
		t.Error("the last line has no newline")
	}
	for i, line := range got {
		if m := decodeNumbers(t, []byte(line)).(map[string]any); m["properties"].(map[string]any)["text"] != "line\nbreak \u2028 \"quoted\"" {
			t.Errorf("line %d decodes to %v", i, m)
		}
	}
}

type failingWriter struct {
	n   int // bytes to accept
	err error
}

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		return w.n, w.err
	}
	return len(p), nil
}

var errDiskFull = errors.New("disk full")

func TestWriterSinkWriteErrors(t *testing.T) {
	tests := []struct {
		name string
		w    *failingWriter
		want error
	}{
		{"write error", &failingWriter{n: 10, err: errDiskFull}, errDiskFull},
		{"short write without error", &failingWriter{n: 10}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := NewWriterSink(tt.w).Send(context.Background(), localBatch(t, "x", 2))
			if err == nil {
				t.Fatal("no error")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("error %v does not wrap %v", err, tt.want)
			}
			if tt.want == nil && !strings.Contains(err.Error(), "short write") {
				t.Errorf("error %v does not say the write was short", err)
			}
			if !strings.Contains(err.Error(), "2 messages") {
				t.Errorf("error %q does not say what was being written", err)
			}
		})
	}
}

func TestLocalSinksCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out bytes.Buffer
	ws := NewWriterSink(&out)
	if err := ws.Send(ctx, localBatch(t, "x", 1)); !errors.Is(err, context.Canceled) {
		t.Errorf("WriterSink.Send = %v, want context.Canceled", err)
	}
	if out.Len() != 0 {
		t.Errorf("WriterSink wrote %q with a cancelled context", out.String())
	}
	ss := NewStubSink()
	if err := ss.Send(ctx, localBatch(t, "x", 1)); !errors.Is(err, context.Canceled) {
		t.Errorf("StubSink.Send = %v, want context.Canceled", err)
	}
	if ss.Batches() != 0 || ss.Messages() != 0 {
		t.Errorf("StubSink counted a cancelled batch: %d, %d", ss.Batches(), ss.Messages())
	}
}

func TestLocalSinksConcurrent(t *testing.T) {
	const senders, perSender = 8, 20
	var out bytes.Buffer
	ws := NewWriterSink(&out)
	ss := NewStubSink()
	var wg sync.WaitGroup
	var want []string
	batches := make([][]*Batch, senders)
	for g := range senders {
		for k := range perSender {
			b := localBatch(t, fmt.Sprintf("g%d-k%d", g, k), 1+k%4)
			batches[g] = append(batches[g], b)
			for i := range b.Len() {
				want = append(want, string(b.Message(i)))
			}
		}
	}
	for g := range senders {
		wg.Go(func() {
			for _, b := range batches[g] {
				if err := ws.Send(context.Background(), b); err != nil {
					t.Error(err)
				}
				if err := ss.Send(context.Background(), b); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()

	seen := map[string]int{}
	at := map[string]int{}
	sc := bufio.NewScanner(&out)
	sc.Buffer(nil, 1<<20)
	for n := 0; sc.Scan(); n++ {
		seen[sc.Text()]++
		at[sc.Text()] = n
	}
	// The lines of a batch are written together, in order.
	for _, bs := range batches {
		for _, b := range bs {
			first := at[string(b.Message(0))]
			for i := range b.Len() {
				if at[string(b.Message(i))] != first+i {
					t.Errorf("message %d of a batch is on line %d, want %d", i, at[string(b.Message(i))], first+i)
				}
			}
		}
	}
	if len(seen) != len(want) {
		t.Errorf("%d distinct lines, want %d", len(seen), len(want))
	}
	for _, line := range want {
		if seen[line] != 1 {
			t.Errorf("line written %d times: %s", seen[line], line)
		}
	}
	if got := ss.Batches(); got != senders*perSender {
		t.Errorf("StubSink.Batches = %d, want %d", got, senders*perSender)
	}
	if got := ss.Messages(); got != int64(len(want)) {
		t.Errorf("StubSink.Messages = %d, want %d", got, len(want))
	}
}
