package sink

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"
)

// encodeBenchMessages returns track messages as a mapping makes them:
// properties as Fields, or as JSON text with a context that has its
// library member.
func encodeBenchMessages(raw bool) []Message {
	msgs := make([]Message, 256)
	for i := range msgs {
		m := Message{
			Type:      TypeTrack,
			MessageID: "bf-0123456789abcdef0123456789abcdef-" + strconv.Itoa(i),
			Timestamp: time.Date(2024, 3, 1, 10, 0, 0, 123e6, time.UTC).Add(time.Duration(i) * time.Second),
			UserID:    "user-" + strconv.Itoa(i*7919%100_003),
			Event:     "Order Completed",
		}
		if raw {
			m.Properties = json.RawMessage(`{"revenue":19.99,"quantity":3,"plan":"pro","currency":"EUR","referrer":"https://example.com/p/` + strconv.Itoa(i) + `"}`)
			m.Context = json.RawMessage(`{"ip":"10.0.0.1","library":{"name":"backfill","version":"0.1.0"}}`)
		} else {
			m.Properties = Fields{
				{"revenue", 19.99}, {"quantity", int64(3)}, {"plan", "pro"}, {"currency", "EUR"},
				{"referrer", "https://example.com/p/" + strconv.Itoa(i)},
			}
			m.Context = Fields{{"ip", "10.0.0.1"}}
		}
		msgs[i] = m
	}
	return msgs
}

// BenchmarkEncodeMessage is what a map worker does per message after
// mapping it: validate and encode into a reused buffer.
func BenchmarkEncodeMessage(b *testing.B) {
	for _, c := range []struct {
		name string
		raw  bool
	}{{"Fields", false}, {"RawJSON", true}} {
		b.Run(c.name, func(b *testing.B) {
			msgs := encodeBenchMessages(c.raw)
			b.ReportAllocs()
			var buf []byte
			for i := 0; b.Loop(); i++ {
				var err error
				if buf, err = encodeMessage(buf[:0], &msgs[i%len(msgs)], Limits{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
