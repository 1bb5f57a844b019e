package segment

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/backfillhq/backfill/internal/sinktest"
)

// recorder is a RequestObserver that keeps what it is told.
type recorder struct {
	mu   sync.Mutex
	reqs []Request
}

func (r *recorder) ObserveRequest(q Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, q)
}

func (r *recorder) requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Request(nil), r.reqs...)
}

// TestObserverSeesEveryRequest checks that the observer of a sink is told
// each request once, retries included, with its status (0 for one without a
// response), its batch's messages and sizes, and that the sizes on the wire
// add up to the Stats' BytesSent.
func TestObserverSeesEveryRequest(t *testing.T) {
	f := sinktest.NewServer(t, nil, sinktest.Replies(
		sinktest.Reply{Status: 500},
		sinktest.Reply{Status: 429},
		sinktest.Reply{Hangup: true},
		sinktest.OK,
	))
	var rec recorder
	snk, stats, err := New(Config{WriteKey: sinktest.WriteKey, Endpoint: f.URL(), MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond, Observer: &rec})
	if err != nil {
		t.Fatal(err)
	}
	b := sinktest.BuildBatch(t, "m", 4)
	size := b.Size()
	if err := snk.Send(context.Background(), b); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := rec.requests()
	wantStatus := []int{500, 429, 0, 200}
	if len(got) != len(wantStatus) {
		t.Fatalf("observed %d requests %+v, want %d", len(got), got, len(wantStatus))
	}
	var sent int64
	for i, q := range got {
		if q.Status != wantStatus[i] || q.Messages != 4 || q.BatchBytes != size || q.BytesSent <= 0 || q.Duration < 0 {
			t.Errorf("request %d: %+v, want status %d, 4 messages, %d bytes before compression", i, q, wantStatus[i], size)
		}
		sent += int64(q.BytesSent)
	}
	if snap := stats.Snapshot(); snap.BytesSent != sent || snap.Requests != int64(len(got)) {
		t.Errorf("stats: %d requests, %d bytes sent; the observer saw %d and %d", snap.Requests, snap.BytesSent, len(got), sent)
	}
}

// TestObserverOfStub checks that the stub sender tells the observer of each
// request as a 200 with its sizes.
func TestObserverOfStub(t *testing.T) {
	var rec recorder
	snk, stats, err := New(Config{Stub: true, Rate: -1, NoGzip: true, Observer: &rec})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := snk.Send(context.Background(), sinktest.BuildBatch(t, "m", 3)); err != nil {
			t.Fatal(err)
		}
	}
	got := rec.requests()
	if len(got) != 2 {
		t.Fatalf("observed %d requests, want 2", len(got))
	}
	size := sinktest.BuildBatch(t, "m", 3).Size()
	for i, q := range got {
		// Without gzip the body on the wire is the batch's body.
		if q.Status != http.StatusOK || q.Messages != 3 || q.BatchBytes != size || q.BytesSent != size {
			t.Errorf("request %d: %+v, want a 200 of 3 messages, %d bytes", i, q, size)
		}
	}
	if snap := stats.Snapshot(); snap.BytesSent != int64(2*size) {
		t.Errorf("stats: %d bytes sent, want %d", snap.BytesSent, 2*size)
	}
}
