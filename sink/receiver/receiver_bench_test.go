package receiver

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/backfillhq/backfill/internal/sinktest"
	"github.com/backfillhq/backfill/sink"
	"github.com/klauspost/compress/gzip"
)

// BenchmarkReceiver measures the local receiver on full, gzipped batches of
// typical track messages: what "backfill serve" costs an import beside it.
func BenchmarkReceiver(b *testing.B) {
	bt := sink.NewBatcher(sink.Limits{})
	var batch *sink.Batch
	for i := 0; batch == nil; i++ {
		m := &sink.Message{Type: sink.TypeTrack, MessageID: fmt.Sprintf("m-%d", i), UserID: fmt.Sprintf("user-%d", i%1000),
			Event: "Order Completed", Timestamp: time.Date(2024, 1, 1, 0, 0, i%60, 0, time.UTC),
			Properties: sink.Fields{{Key: "amount", Value: 12.5}, {Key: "quantity", Value: 3}, {Key: "plan", Value: "pro"}, {Key: "country", Value: "DE"},
				{Key: "campaign", Value: "spring-7"}, {Key: "referrer", Value: "https://example.com/p/42"}, {Key: "sku", Value: "SKU-1234"}}}
		full, err := sinktest.Add(bt, m)
		if err != nil {
			b.Fatal(err)
		}
		batch = full
	}
	var body bytes.Buffer
	zw := gzip.NewWriter(&body)
	zw.Write(batch.Body(time.Now()))
	zw.Close()
	rcv := New(Config{Out: io.Discard})
	b.SetBytes(int64(len(batch.Body(time.Now()))))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		req := httptest.NewRequest(http.MethodPost, "/v1/batch", bytes.NewReader(body.Bytes()))
		req.Header.Set("Content-Encoding", "gzip")
		w := httptest.NewRecorder()
		rcv.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
	b.ReportMetric(float64(batch.Len())*float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
