package sink

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

var (
	batchSentAt  = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	batchSentAt2 = time.Date(2024, 3, 2, 13, 30, 15, 250_000_000, time.UTC)
)

// sizedMessage returns message number i, padded so that its encoding is
// exactly size bytes. Its messageId is "m" and i in six digits.
func sizedMessage(t testing.TB, i, size int) *Message {
	t.Helper()
	m := &Message{
		Type: TypeTrack, MessageID: fmt.Sprintf("m%06d", i), UserID: "u", Event: "e",
		Timestamp:  time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		Properties: Fields{{"pad", ""}},
	}
	b, err := appendMessage(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	if size < len(b) {
		t.Fatalf("sizedMessage: %d bytes is below the smallest message of %d", size, len(b))
	}
	m.Properties = Fields{{"pad", strings.Repeat("x", size-len(b))}}
	if b, _ = appendMessage(nil, m); len(b) != size {
		t.Fatalf("sizedMessage: made %d bytes, want %d", len(b), size)
	}
	return m
}

// messageIDs returns the messageIds of a batch, checking that its body is
// valid JSON that holds exactly its messages and sentAt.
func messageIDs(t testing.TB, b *Batch, sentAt time.Time) []string {
	t.Helper()
	body := b.Body(sentAt)
	if len(body) != b.Size() {
		t.Errorf("len(Body) = %d, Size() = %d", len(body), b.Size())
	}
	var env struct {
		Batch  []json.RawMessage `json:"batch"`
		SentAt string            `json:"sentAt"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatalf("body is not valid JSON: %v\n%s", err, body)
	}
	if want := sentAt.UTC().Format(TimeLayout); env.SentAt != want {
		t.Errorf("sentAt = %q, want %q", env.SentAt, want)
	}
	if len(env.Batch) != b.Len() {
		t.Fatalf("body holds %d messages, Len() = %d", len(env.Batch), b.Len())
	}
	ids := make([]string, len(env.Batch))
	for i, raw := range env.Batch {
		if string(raw) != string(b.Message(i)) {
			t.Errorf("message %d in the body is %s, Message(%d) is %s", i, raw, i, b.Message(i))
		}
		var m struct {
			MessageID string `json:"messageId"`
		}
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		ids[i] = m.MessageID
	}
	return ids
}

// runBatcher adds msgs and returns the batches, the messages that were
// refused (by index), and checks every batch against the limits.
func runBatcher(t testing.TB, l Limits, msgs []*Message) (batches []*Batch, refused map[int]error) {
	t.Helper()
	lim := l.withDefaults()
	bt := NewBatcher(l)
	refused = map[int]error{}
	for i, m := range msgs {
		full, err := add(bt, m)
		if err != nil {
			if full != nil {
				t.Fatalf("Add returned a batch with an error")
			}
			refused[i] = err
			continue
		}
		if full != nil {
			batches = append(batches, full)
		}
	}
	if b := bt.Flush(); b != nil {
		batches = append(batches, b)
	}
	if bt.Flush() != nil {
		t.Fatal("second Flush returned a batch")
	}
	for i, b := range batches {
		if b.Len() == 0 {
			t.Errorf("batch %d is empty", i)
		}
		if b.Len() > lim.MaxMessages {
			t.Errorf("batch %d has %d messages, the cap is %d", i, b.Len(), lim.MaxMessages)
		}
		if n := len(b.Body(batchSentAt)); n > lim.MaxBatchBytes {
			t.Errorf("batch %d body is %d bytes, the cap is %d", i, n, lim.MaxBatchBytes)
		}
		for j := range b.Len() {
			if n := len(b.Message(j)); n > lim.MaxMessageBytes {
				t.Errorf("batch %d message %d is %d bytes, the cap is %d", i, j, n, lim.MaxMessageBytes)
			}
		}
	}
	return batches, refused
}

// allIDs returns the messageIds of the batches, in order.
func allIDs(t testing.TB, batches []*Batch) []string {
	var ids []string
	for _, b := range batches {
		ids = append(ids, messageIDs(t, b, batchSentAt)...)
	}
	return ids
}

func lens(batches []*Batch) []int {
	n := make([]int, len(batches))
	for i, b := range batches {
		n[i] = b.Len()
	}
	return n
}

func TestBatcherMessageCap(t *testing.T) {
	const limit = 1000
	tests := []struct {
		name    string
		size    int
		wantErr bool
	}{
		{"well under", 500, false},
		{"one under", limit - 1, false},
		{"exactly the cap", limit, false},
		{"one over", limit + 1, true},
		{"far over", 5 * limit, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msgs := []*Message{sizedMessage(t, 0, 300), sizedMessage(t, 1, tt.size), sizedMessage(t, 2, 300)}
			batches, refused := runBatcher(t, Limits{MaxMessageBytes: limit}, msgs)
			ids := allIDs(t, batches)
			if !tt.wantErr {
				if len(refused) != 0 {
					t.Fatalf("refused %v", refused)
				}
				if strings.Join(ids, ",") != "m000000,m000001,m000002" {
					t.Errorf("batched %v", ids)
				}
				return
			}
			if strings.Join(ids, ",") != "m000000,m000002" {
				t.Errorf("batched %v, want the over-large message left out", ids)
			}
			err := refused[1]
			var tl *TooLargeError
			if !errors.As(err, &tl) {
				t.Fatalf("error %v, want a *TooLargeError", err)
			}
			if !errors.Is(err, ErrMessageTooLarge) {
				t.Errorf("error %v does not wrap ErrMessageTooLarge", err)
			}
			if tl.RejectReason() != "message_too_large" {
				t.Errorf("RejectReason = %q", tl.RejectReason())
			}
			if tl.Size != tt.size || tl.Limit != limit {
				t.Errorf("TooLargeError{%d, %d}, want {%d, %d}", tl.Size, tl.Limit, tt.size, limit)
			}
			if !strings.Contains(err.Error(), fmt.Sprint(tt.size)) {
				t.Errorf("error %q does not give the size", err)
			}
		})
	}
}

func TestBatcherMaxMessages(t *testing.T) {
	tests := []struct {
		name  string
		max   int
		n     int
		wantN []int
	}{
		{"under the cap", 3, 2, []int{2}},
		{"exactly the cap", 3, 3, []int{3}},
		{"one over", 3, 4, []int{3, 1}},
		{"several batches", 3, 10, []int{3, 3, 3, 1}},
		{"one per batch", 1, 3, []int{1, 1, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var msgs []*Message
			for i := range tt.n {
				msgs = append(msgs, sizedMessage(t, i, 250))
			}
			batches, refused := runBatcher(t, Limits{MaxMessages: tt.max}, msgs)
			if len(refused) != 0 {
				t.Fatalf("refused %v", refused)
			}
			if got := fmt.Sprint(lens(batches)); got != fmt.Sprint(tt.wantN) {
				t.Errorf("batch sizes %s, want %v", got, tt.wantN)
			}
			checkOrder(t, allIDs(t, batches), tt.n)
		})
	}
}

func checkOrder(t *testing.T, ids []string, n int) {
	t.Helper()
	if len(ids) != n {
		t.Fatalf("%d messages came out, want %d", len(ids), n)
	}
	for i, id := range ids {
		if want := fmt.Sprintf("m%06d", i); id != want {
			t.Fatalf("message %d is %s, want %s", i, id, want)
		}
	}
}

func TestBatcherBatchBytes(t *testing.T) {
	const size = 400
	// A body of n messages of size bytes: the envelope, the messages, and
	// the commas between them.
	body := func(n int) int { return envelopeBytes + n*size + n - 1 }
	tests := []struct {
		name  string
		max   int
		n     int
		wantN []int
	}{
		{"three fit exactly", body(3), 7, []int{3, 3, 1}},
		{"one byte short of three", body(3) - 1, 7, []int{2, 2, 2, 1}},
		{"one byte over three", body(3) + 1, 7, []int{3, 3, 1}},
		{"one per batch", body(1), 3, []int{1, 1, 1}},
		{"one byte short of two", body(2) - 1, 3, []int{1, 1, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var msgs []*Message
			for i := range tt.n {
				msgs = append(msgs, sizedMessage(t, i, size))
			}
			l := Limits{MaxBatchBytes: tt.max, MaxMessageBytes: size}
			if err := l.Validate(); err != nil {
				t.Fatal(err)
			}
			batches, refused := runBatcher(t, l, msgs)
			if len(refused) != 0 {
				t.Fatalf("refused %v", refused)
			}
			if got := fmt.Sprint(lens(batches)); got != fmt.Sprint(tt.wantN) {
				t.Errorf("batch sizes %s, want %v", got, tt.wantN)
			}
			for i, b := range batches {
				if got, want := len(b.Body(batchSentAt)), body(b.Len()); got != want {
					t.Errorf("batch %d body is %d bytes, want %d", i, got, want)
				}
			}
			checkOrder(t, allIDs(t, batches), tt.n)
		})
	}
}

func TestBatcherDefaultBatchBytes(t *testing.T) {
	// Messages near the per-message cap fill the default 500,000-byte body
	// long before 2,500 messages.
	const size = DefaultMaxMessageBytes
	perBatch := (DefaultMaxBatchBytes - envelopeBytes + 1) / (size + 1)
	var msgs []*Message
	for i := range 2*perBatch + 1 {
		msgs = append(msgs, sizedMessage(t, i, size))
	}
	batches, refused := runBatcher(t, Limits{}, msgs)
	if len(refused) != 0 {
		t.Fatalf("refused %v", refused)
	}
	if got := fmt.Sprint(lens(batches)); got != fmt.Sprint([]int{perBatch, perBatch, 1}) {
		t.Errorf("batch sizes %s, want [%d %d 1]", got, perBatch, perBatch)
	}
	checkOrder(t, allIDs(t, batches), len(msgs))
}

// TestBatcherRandom adds messages of random sizes under random limits and
// checks that every message comes out exactly once, in order, within the
// caps, and that no batch was closed while the next message would have fit.
func TestBatcherRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 30 {
		l := Limits{
			MaxMessageBytes: 300 + rng.IntN(600),
			MaxMessages:     1 + rng.IntN(8),
		}
		l.MaxBatchBytes = l.MaxMessageBytes + envelopeBytes + rng.IntN(3000)
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			if err := l.Validate(); err != nil {
				t.Fatal(err)
			}
			n := 1 + rng.IntN(60)
			var msgs []*Message
			sizes := make([]int, n)
			for i := range n {
				sizes[i] = 250 + rng.IntN(l.MaxMessageBytes+40-250)
				msgs = append(msgs, sizedMessage(t, i, sizes[i]))
			}
			batches, refused := runBatcher(t, l, msgs)
			var want []string
			for i := range n {
				if sizes[i] > l.MaxMessageBytes {
					if !errors.Is(refused[i], ErrMessageTooLarge) {
						t.Errorf("message %d of %d bytes: error %v", i, sizes[i], refused[i])
					}
					continue
				}
				if refused[i] != nil {
					t.Errorf("message %d of %d bytes refused: %v", i, sizes[i], refused[i])
				}
				want = append(want, fmt.Sprintf("m%06d", i))
			}
			got := allIDs(t, batches)
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Fatalf("messages out %v, want %v", got, want)
			}
			for i := 0; i+1 < len(batches); i++ {
				b, next := batches[i], batches[i+1]
				if b.Len() < l.MaxMessages && b.Size()+1+len(next.Message(0)) <= l.MaxBatchBytes {
					t.Errorf("batch %d (%d messages, %d bytes) was closed though the next message of %d bytes fits",
						i, b.Len(), b.Size(), len(next.Message(0)))
				}
			}
		})
	}
}

func TestBatcherInvalidMessage(t *testing.T) {
	bt := NewBatcher(Limits{})
	good := sizedMessage(t, 0, 250)
	if full, err := add(bt, good); full != nil || err != nil {
		t.Fatalf("Add = %v, %v", full, err)
	}
	tests := []struct {
		name       string
		m          *Message
		wantReason string
	}{
		{"no user", &Message{Type: TypeTrack, Event: "e", Timestamp: batchSentAt}, "missing_id"},
		{"NaN", &Message{Type: TypeTrack, UserID: "u", Event: "e", Timestamp: batchSentAt,
			Properties: map[string]any{"x": []any{1.0, 2.0 / zero()}}}, "invalid_value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			full, err := add(bt, tt.m)
			if full != nil {
				t.Errorf("Add returned a batch")
			}
			var rr interface{ RejectReason() string }
			if !errors.As(err, &rr) || rr.RejectReason() != tt.wantReason {
				t.Errorf("Add error %v, want reason %s", err, tt.wantReason)
			}
		})
	}
	b := bt.Flush()
	if ids := messageIDs(t, b, batchSentAt); strings.Join(ids, ",") != "m000000" {
		t.Errorf("batch holds %v, want only the valid message", ids)
	}
	if want, _ := appendMessage(nil, good); string(b.Message(0)) != string(want) {
		t.Errorf("message after refused ones is %s, want %s", b.Message(0), want)
	}
}

func zero() float64 { return 0 }

func TestBatcherClampsMessageCapToBatchCap(t *testing.T) {
	// Limits that Validate refuses still never make a body over MaxBatchBytes.
	l := Limits{MaxBatchBytes: 500}
	if err := l.Validate(); err == nil {
		t.Fatal("Validate accepted a MaxBatchBytes below MaxMessageBytes")
	}
	fits := 500 - envelopeBytes
	batches, refused := runBatcher(t, l, []*Message{sizedMessage(t, 0, fits), sizedMessage(t, 1, fits+1)})
	if ids := allIDs(t, batches); strings.Join(ids, ",") != "m000000" {
		t.Errorf("batched %v", ids)
	}
	var tl *TooLargeError
	if !errors.As(refused[1], &tl) || tl.Limit != fits {
		t.Errorf("error %v, want a TooLargeError with limit %d", refused[1], fits)
	}
}

func TestBatchBody(t *testing.T) {
	bt := NewBatcher(Limits{})
	for i := range 3 {
		if _, err := add(bt, sizedMessage(t, i, 250)); err != nil {
			t.Fatal(err)
		}
	}
	b := bt.Flush()
	first := string(b.Body(batchSentAt))
	ids1 := messageIDs(t, b, batchSentAt)
	ids2 := messageIDs(t, b, batchSentAt2)
	if strings.Join(ids1, ",") != strings.Join(ids2, ",") || len(ids1) != 3 {
		t.Errorf("messages differ between bodies: %v and %v", ids1, ids2)
	}
	second := string(b.Body(batchSentAt2))
	if first == second {
		t.Error("bodies with different sentAt are equal")
	}
	if !strings.HasSuffix(first, `],"sentAt":"2024-03-01T12:00:00.000Z"}`) ||
		!strings.HasSuffix(second, `],"sentAt":"2024-03-02T13:30:15.250Z"}`) {
		t.Errorf("bodies end wrong:\n%s\n%s", first[len(first)-40:], second[len(second)-40:])
	}
	if first[:len(first)-26] != second[:len(second)-26] {
		t.Error("bodies differ before sentAt")
	}
	// sentAt in another zone is written in UTC.
	local := batchSentAt.In(time.FixedZone("Y", 7*3600))
	if body := string(b.Body(local)); body != first {
		t.Errorf("Body in another zone = ...%s", body[len(body)-40:])
	}
}

func TestEmptyBatchBody(t *testing.T) {
	b := newBatch(0)
	if got, want := string(b.Body(batchSentAt)), `{"batch":[],"sentAt":"2024-03-01T12:00:00.000Z"}`; got != want {
		t.Errorf("Body = %s, want %s", got, want)
	}
	if b.Size() != envelopeBytes {
		t.Errorf("Size = %d, want %d", b.Size(), envelopeBytes)
	}
}

func TestBatchSplitAndSlice(t *testing.T) {
	for _, n := range []int{2, 3, 7, 10} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			bt := NewBatcher(Limits{})
			for i := range n {
				if _, err := add(bt, sizedMessage(t, i, 250+i*13)); err != nil {
					t.Fatal(err)
				}
			}
			b := bt.Flush()
			before := string(b.Body(batchSentAt))

			first, second := b.Split()
			if first.Len()+second.Len() != n || first.Len() != n/2 {
				t.Fatalf("Split into %d and %d", first.Len(), second.Len())
			}
			checkOrder(t, append(messageIDs(t, first, batchSentAt), messageIDs(t, second, batchSentAt)...), n)

			// Splitting all the way down keeps every message once, in order.
			var leaves []*Batch
			var split func(*Batch)
			split = func(b *Batch) {
				if b.Len() < 2 {
					leaves = append(leaves, b)
					return
				}
				l, r := b.Split()
				split(l)
				split(r)
			}
			split(b)
			checkOrder(t, allIDs(t, leaves), n)
			for i, leaf := range leaves {
				if string(leaf.Message(0)) != string(b.Message(i)) {
					t.Errorf("leaf %d holds %s, want %s", i, leaf.Message(0), b.Message(i))
				}
			}

			for i := 0; i <= n; i++ {
				for j := i; j <= n; j++ {
					s := b.Slice(i, j)
					ids := messageIDs(t, s, batchSentAt2)
					if len(ids) != j-i {
						t.Fatalf("Slice(%d, %d) has %d messages", i, j, len(ids))
					}
					for k, id := range ids {
						if want := fmt.Sprintf("m%06d", i+k); id != want {
							t.Fatalf("Slice(%d, %d) message %d is %s, want %s", i, j, k, id, want)
						}
					}
				}
			}
			// A slice of a slice.
			s := b.Slice(1, n).Slice(0, 1)
			if ids := messageIDs(t, s, batchSentAt); ids[0] != "m000001" {
				t.Errorf("Slice of Slice holds %v", ids)
			}
			if after := string(b.Body(batchSentAt)); after != before {
				t.Error("Split or Slice changed the original batch")
			}
		})
	}
}

func TestBatchSplitPanics(t *testing.T) {
	bt := NewBatcher(Limits{})
	if _, err := add(bt, sizedMessage(t, 0, 250)); err != nil {
		t.Fatal(err)
	}
	b := bt.Flush()
	tests := []struct {
		name string
		f    func()
	}{
		{"Split of one", func() { b.Split() }},
		{"Slice past the end", func() { b.Slice(0, 2) }},
		{"Slice backwards", func() { b.Slice(1, 0) }},
		{"Slice negative", func() { b.Slice(-1, 1) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			tt.f()
		})
	}
}

func TestBatchesDoNotAlias(t *testing.T) {
	// A full batch handed out stays intact while the batcher goes on, and
	// after its Body is taken.
	bt := NewBatcher(Limits{MaxMessages: 2})
	var batches []*Batch
	var bodies []string
	for i := range 9 {
		full, err := add(bt, sizedMessage(t, i, 250))
		if err != nil {
			t.Fatal(err)
		}
		if full != nil {
			batches = append(batches, full)
			bodies = append(bodies, string(full.Body(batchSentAt)))
		}
	}
	batches = append(batches, bt.Flush())
	bodies = append(bodies, string(batches[len(batches)-1].Body(batchSentAt)))
	for i, b := range batches {
		if got := string(b.Body(batchSentAt)); got != bodies[i] {
			t.Errorf("batch %d changed after it was handed out", i)
		}
	}
	checkOrder(t, allIDs(t, batches), 9)
}

// TestReleasedBatchesStartClean releases every batch as soon as it is
// full, so that the batcher reuses their memory, and checks that each
// batch holds exactly its own messages, the same as without releasing.
func TestReleasedBatchesStartClean(t *testing.T) {
	for _, encoded := range []bool{false, true} {
		var want, got []string
		for _, release := range []bool{false, true} {
			bt := NewBatcher(Limits{MaxMessages: 3})
			var bodies []string
			keep := func(b *Batch) {
				bodies = append(bodies, string(b.Body(batchSentAt)))
				if release {
					b.Release()
				}
			}
			for i := range 20 {
				m := sizedMessage(t, i, 200+40*(i%5))
				var full *Batch
				var err error
				if encoded {
					var enc []byte
					if enc, err = encodeMessage(nil, m, Limits{}); err == nil {
						full, err = bt.AddEncoded(enc)
					}
				} else {
					full, err = add(bt, m)
				}
				if err != nil {
					t.Fatal(err)
				}
				if full != nil {
					keep(full)
				}
			}
			keep(bt.Flush())
			if release {
				got = bodies
			} else {
				want = bodies
			}
		}
		if len(want) != 7 || !slices.Equal(got, want) {
			t.Errorf("encoded %v: with Release the batches are\n%s\nwant\n%s", encoded,
				strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	var nilBatch *Batch
	nilBatch.Release() // does nothing
}

func TestLimitsValidate(t *testing.T) {
	tests := []struct {
		name      string
		l         Limits
		wantField string // "" means valid
	}{
		{"defaults", Limits{}, ""},
		{"maxima", Limits{MaxBatchBytes: DefaultMaxBatchBytes, MaxMessageBytes: DefaultMaxMessageBytes, MaxMessages: DefaultMaxMessages}, ""},
		{"small", Limits{MaxBatchBytes: 1000, MaxMessageBytes: 1000 - envelopeBytes, MaxMessages: 1}, ""},
		{"negative batch bytes", Limits{MaxBatchBytes: -1}, "MaxBatchBytes"},
		{"batch bytes over the maximum", Limits{MaxBatchBytes: DefaultMaxBatchBytes + 1}, "MaxBatchBytes"},
		{"negative message bytes", Limits{MaxMessageBytes: -5}, "MaxMessageBytes"},
		{"message bytes over the maximum", Limits{MaxMessageBytes: DefaultMaxMessageBytes + 1}, "MaxMessageBytes"},
		{"negative messages", Limits{MaxMessages: -1}, "MaxMessages"},
		{"messages over the maximum", Limits{MaxMessages: DefaultMaxMessages + 1}, "MaxMessages"},
		{"batch cannot hold a message", Limits{MaxBatchBytes: 1000, MaxMessageBytes: 1000 - envelopeBytes + 1}, "MaxBatchBytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.l.Validate()
			if tt.wantField == "" {
				if err != nil {
					t.Errorf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate accepted the limits")
			}
			if !strings.Contains(err.Error(), tt.wantField+" ") {
				t.Errorf("error %q does not name %s", err, tt.wantField)
			}
		})
	}
}

// add writes m with a MessageWriter of bt's limits and adds its bytes to bt,
// as the importer and the Client do.
func add(bt *Batcher, m *Message) (*Batch, error) {
	msg, err := NewMessageWriter(bt.limits).WriteMessage(m)
	if err != nil {
		return nil, err
	}
	return bt.AddEncoded(msg)
}
