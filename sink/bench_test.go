package sink

import (
	"bytes"
	stdgzip "compress/gzip"
	"encoding/json"
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
)

var benchPlans = []string{"free", "pro", "team", "enterprise"}

// benchMessage returns message i of a realistic stream of track events
// with ten properties of mixed types, as a mapping makes them.
func benchMessage(i int) Message {
	return Message{
		Type:      TypeTrack,
		MessageID: "evt-" + strconv.Itoa(i),
		Timestamp: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * 1537 * time.Millisecond),
		UserID:    "user-" + strconv.Itoa(i*7919%100_003),
		Event:     "Order Completed",
		Properties: Fields{
			{"amount", float64(i%100_000) / 100},
			{"quantity", int64(i%9 + 1)},
			{"active", i%3 != 0},
			{"page_views", int64(i * 31 % 1000)},
			{"plan", benchPlans[i%len(benchPlans)]},
			{"country", "DE"},
			{"browser", "Firefox"},
			{"campaign", "spring-" + strconv.Itoa(i%40)},
			{"referrer", "https://example.com/p/" + strconv.Itoa(i%1000)},
			{"sku", "SKU-" + strconv.Itoa(i%5000)},
		},
	}
}

// benchMessages returns n messages and their mean encoded size.
func benchMessages(tb testing.TB, n int) ([]Message, int64) {
	tb.Helper()
	msgs := make([]Message, n)
	var size int
	var buf []byte
	for i := range msgs {
		msgs[i] = benchMessage(i)
		var err error
		if buf, err = appendMessage(buf[:0], &msgs[i]); err != nil {
			tb.Fatal(err)
		}
		size += len(buf)
	}
	return msgs, int64(size / n)
}

// BenchmarkBatcherAdd measures validating and encoding messages into
// size-capped batches, closing a batch whenever it is full.
func BenchmarkBatcherAdd(b *testing.B) {
	msgs, size := benchMessages(b, 4096)
	bt := NewBatcher(Limits{})
	w := NewMessageWriter(Limits{})
	b.SetBytes(size)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		w.Reset(w.Bytes())
		msg, err := w.WriteMessage(&msgs[n%len(msgs)])
		if err == nil {
			_, err = bt.AddEncoded(msg)
		}
		if err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
}

// fullBatchBody returns the request body of the first batch the Batcher
// closes on benchMessages: a body close to the 500,000-byte cap.
func fullBatchBody(tb testing.TB) []byte {
	tb.Helper()
	msgs, _ := benchMessages(tb, DefaultMaxMessages+1)
	bt := NewBatcher(Limits{})
	for i := range msgs {
		full, err := add(bt, &msgs[i])
		if err != nil {
			tb.Fatal(err)
		}
		if full != nil {
			return bytes.Clone(full.Body(time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)))
		}
	}
	tb.Fatal("no batch was closed")
	return nil
}

func TestFullBatchBody(t *testing.T) {
	body := fullBatchBody(t)
	if len(body) > DefaultMaxBatchBytes || len(body) < DefaultMaxBatchBytes*8/10 {
		t.Errorf("body is %d bytes, want most of %d", len(body), DefaultMaxBatchBytes)
	}
	var env struct {
		Batch  []map[string]any `json:"batch"`
		SentAt string           `json:"sentAt"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatalf("body is not JSON: %v", err)
	}
	if len(env.Batch) < 1000 || env.SentAt != "2024-06-01T00:00:00.000Z" {
		t.Errorf("body has %d messages and sentAt %q", len(env.Batch), env.SentAt)
	}
	if props, _ := env.Batch[1]["properties"].(map[string]any); len(props) != 10 {
		t.Errorf("message 1 has properties %v, want ten", env.Batch[1]["properties"])
	}
}

// BenchmarkGzipBody compresses a full batch body (about 500 KB) with the
// klauspost/compress and standard library gzip writers at BestSpeed and at
// the default level, reusing the writer as the HTTP sink does. The
// out/in metric is the compressed size over the body's.
func BenchmarkGzipBody(b *testing.B) {
	body := fullBatchBody(b)
	type gzipWriter interface {
		io.WriteCloser
		Reset(io.Writer)
	}
	newKlauspost := func(level int) gzipWriter {
		w, err := gzip.NewWriterLevel(io.Discard, level)
		if err != nil {
			b.Fatal(err)
		}
		return w
	}
	newStd := func(level int) gzipWriter {
		w, err := stdgzip.NewWriterLevel(io.Discard, level)
		if err != nil {
			b.Fatal(err)
		}
		return w
	}
	for _, c := range []struct {
		name string
		w    gzipWriter
	}{
		{"klauspost-BestSpeed", newKlauspost(gzip.BestSpeed)},
		{"klauspost-Default", newKlauspost(gzip.DefaultCompression)},
		{"stdlib-BestSpeed", newStd(stdgzip.BestSpeed)},
		{"stdlib-Default", newStd(stdgzip.DefaultCompression)},
	} {
		b.Run(c.name, func(b *testing.B) {
			var out bytes.Buffer
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				out.Reset()
				c.w.Reset(&out)
				if _, err := c.w.Write(body); err != nil {
					b.Fatal(err)
				}
				if err := c.w.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(out.Len())/float64(len(body)), "out/in")
		})
	}
}
